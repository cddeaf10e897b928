// writeUnits: an orchestrator pass's units go out in transactions of bounded
// size, several in flight at once, in order, never splitting a unit; the
// first failure stops further proposals and is reported.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeUnits } from '../../src/manager/orchestrator/loop.js';
import type { Unit } from '../../src/manager/orchestrator/slots.js';
import { deleteAction, type Action } from '../../src/manager/store/store.js';

function units(n: number, size = 1): Unit[] {
  return Array.from({ length: n }, (_, i) => ({ actions: Array.from({ length: size }, (_, k) => deleteAction('task', `t${i}-${k}`)) }));
}

/** A write whose transactions settle only when the test says so. */
function gate(): { write: (a: readonly Action[]) => Promise<[]>; proposed: Action[][]; settle: (i: number, err?: Error) => void } {
  const proposed: Action[][] = [];
  const pending: Array<{ resolve: (v: []) => void; reject: (e: Error) => void }> = [];
  return {
    proposed,
    write: (a) =>
      new Promise<[]>((resolve, reject) => {
        proposed.push([...a]);
        pending.push({ resolve, reject });
      }),
    settle: (i, err) => (err ? pending[i].reject(err) : pending[i].resolve([])),
  };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

test('transactions are pipelined: several in flight, proposed in order, units never split', async () => {
  const g = gate();
  const committed: number[] = [];
  const us = units(10, 2).map((u, i) => ({ ...u, onCommit: () => committed.push(i) }));
  const done = writeUnits(g.write, us, 4, () => false, 3);
  await tick();
  assert.equal(g.proposed.length, 3, 'three transactions in flight before any commits');
  assert.deepEqual(g.proposed[0].map((a) => a.object.id), ['t0-0', 't0-1', 't1-0', 't1-1']);
  g.settle(1);
  await tick();
  assert.equal(g.proposed.length, 4, 'a commit frees a place for the next transaction');
  assert.deepEqual(committed, [2, 3], 'onCommit runs once the unit\'s own transaction committed');
  for (let i = 0; i < 5; i++) {
    if (i !== 1) g.settle(i);
    await tick();
  }
  const r = await done;
  assert.equal(r.transactions, 5);
  assert.equal(r.error, undefined);
  assert.deepEqual(g.proposed.flat().map((a) => a.object.id), us.flatMap((u) => u.actions.map((a) => a.object.id)));
  assert.deepEqual([...committed].sort((a, b) => a - b), [...us.keys()]);
});

test('the first failure stops new proposals; the error of the earliest failed transaction is returned', async () => {
  const g = gate();
  const done = writeUnits(g.write, units(10), 1, () => false, 3);
  await tick();
  assert.equal(g.proposed.length, 3);
  g.settle(2, new Error('late'));
  g.settle(0, new Error('early'));
  g.settle(1);
  const r = await done;
  assert.equal(g.proposed.length, 3, 'nothing proposed after a failure');
  assert.equal(r.transactions, 1);
  assert.equal((r.error as Error).message, 'early');
});

test('a halted pass proposes nothing more', async () => {
  const g = gate();
  let halted = false;
  const done = writeUnits(g.write, units(10), 1, () => halted, 2);
  await tick();
  halted = true;
  g.settle(0);
  g.settle(1);
  const r = await done;
  assert.equal(g.proposed.length, 2);
  assert.equal(r.transactions, 2);
});
