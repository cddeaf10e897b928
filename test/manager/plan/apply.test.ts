// The plan applier: units go out in transactions of bounded size, several in
// flight at once, in order, never splitting a unit; the first failure stops
// further proposals and is reported; a conflict stops, is skipped or is
// retried from the store, as the caller says; a halted controller proposes
// nothing more; and what was done is counted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { StoreWrite } from '../../../src/manager/controller.js';
import { applyPlan, type Applied, type ApplyOptions } from '../../../src/manager/plan/apply.js';
import { fixedUnits, type Unit, type UnitKind } from '../../../src/manager/plan/unit.js';
import { deleteAction, NotFoundError, VersionConflictError, type Action } from '../../../src/manager/store/store.js';

/** The orchestrators' use: fixed units, a conflict stops the pass (it is planned again). */
function writeUnits(write: StoreWrite, units: readonly Unit[], max: number, halted: () => boolean, inFlight: number): Promise<Applied> {
  return applyPlan(units, fixedUnits, { write, maxPerTx: max, inFlight, onConflict: 'stop', halted });
}

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

// ------------------------------------------------------------ the policies and counts

const conflict = (): Error => new VersionConflictError('version-conflict', 'task t: version 1, not 2');

/** Units that are task ids: each emits one delete, unless listed in `stale` (dropped); `emitted` records every emit. */
function ids(stale = new Set<string>()): { kind: UnitKind<string>; emitted: string[]; committed: string[]; times: number[] } {
  const emitted: string[] = [];
  const committed: string[] = [];
  const times: number[] = [];
  return {
    emitted,
    committed,
    times,
    kind: {
      emit: (id, tx, now) => {
        emitted.push(id);
        times.push(now);
        if (stale.has(id)) return false;
        tx.push(deleteAction('task', id));
        return true;
      },
      committed: (id) => committed.push(id),
    },
  };
}

const names = (n: number): string[] => Array.from({ length: n }, (_, i) => `t${i}`);
const opts = (write: StoreWrite, more: Partial<ApplyOptions> = {}): ApplyOptions => ({ write, maxPerTx: 2, inFlight: 2, onConflict: 'skip', ...more });

test('chunking: at most maxPerTx of room per transaction; a unit of more room goes alone, unsplit', async () => {
  const sizes: number[] = [];
  const write: StoreWrite = async (a) => (sizes.push(a.length), []);
  const us: Unit[] = [1, 5, 1, 1, 2, 1].map((n, i) => ({ actions: Array.from({ length: n }, (_, k) => deleteAction('task', `u${i}-${k}`)) }));
  const r = await applyPlan(us, fixedUnits, opts(write, { maxPerTx: 3, inFlight: 1 }));
  assert.deepEqual(sizes, [1, 5, 2, 3]);
  assert.equal(r.transactions, 4);
  assert.equal(r.proposedActions, 11);
});

test('pipelining: never more transactions in flight than inFlight, and all of them get proposed', async () => {
  let inFlight = 0;
  let most = 0;
  let proposed = 0;
  const write: StoreWrite = async () => {
    inFlight++;
    proposed++;
    most = Math.max(most, inFlight);
    // Settle in a scrambled order: some at once, some a few turns later.
    for (let i = 0; i < proposed % 3; i++) await tick();
    inFlight--;
    return [];
  };
  const r = await applyPlan(names(40), ids().kind, opts(write, { maxPerTx: 1, inFlight: 4 }));
  assert.equal(most, 4);
  assert.equal(r.transactions, 40);
  assert.equal(r.proposed, 40);
});

test("'skip': a conflict is counted and the other transactions go on; committed runs only for units that committed", async () => {
  const u = ids();
  const write: StoreWrite = async (a) => {
    if (a.some((x) => x.object.id === 't2')) throw conflict();
    return [];
  };
  const r = await applyPlan(names(6), u.kind, opts(write));
  assert.equal(r.error, undefined);
  assert.equal(r.conflicts, 1);
  assert.equal(r.retries, 0);
  assert.equal(r.transactions, 2);
  assert.equal(r.proposed, 3);
  assert.deepEqual(u.committed, ['t0', 't1', 't4', 't5']);
});

test("'stop': a conflict stops new proposals and is returned (the caller re-plans)", async () => {
  const seen: string[] = [];
  const write: StoreWrite = async (a) => {
    seen.push(a[0].object.id);
    if (a[0].object.id === 't0') throw new NotFoundError('not-found', 'task t0 is gone');
    return [];
  };
  const r = await applyPlan(names(10), ids().kind, opts(write, { onConflict: 'stop' }));
  assert.ok(r.error instanceof NotFoundError);
  assert.equal(r.conflicts, 1);
  assert.equal(r.failedActions, 2);
  assert.deepEqual(seen, ['t0', 't2'], 'only the transactions already in flight');
});

test('{ attempts }: a conflicting transaction is emitted again from the store and retried; dropped units stay dropped', async () => {
  const stale = new Set<string>();
  const u = ids(stale);
  let calls = 0;
  const txs: string[][] = [];
  const write: StoreWrite = async (a) => {
    txs.push(a.map((x) => x.object.id));
    if (++calls <= 2) {
      // The store moved on: t1 is obsolete now, and stays so.
      stale.add('t1');
      throw conflict();
    }
    stale.delete('t1');
    return [];
  };
  let clock = 100;
  const r = await applyPlan(names(3), u.kind, opts(write, { maxPerTx: 3, inFlight: 1, onConflict: { attempts: 5 }, now: () => clock++ }));
  assert.deepEqual(txs, [['t0', 't1', 't2'], ['t0', 't2'], ['t0', 't2']]);
  assert.equal(r.error, undefined);
  assert.equal(r.conflicts, 2);
  assert.equal(r.retries, 2);
  assert.equal(r.proposed, 3);
  assert.equal(r.transactions, 1);
  assert.equal(r.dropped, 1);
  assert.deepEqual(u.committed, ['t0', 't2']);
  assert.deepEqual(u.times, [100, 100, 100, 101, 101, 101, 102, 102], 'one time per transaction built, fresh for each retry');
});

test('{ attempts }: after the last attempt the transaction is left, without an error; the others still go', async () => {
  const u = ids();
  const write: StoreWrite = async (a) => {
    if (a[0].object.id === 't0') throw conflict();
    return [];
  };
  const r = await applyPlan(names(4), u.kind, opts(write, { onConflict: { attempts: 3 } }));
  assert.equal(r.error, undefined);
  assert.equal(r.conflicts, 3);
  assert.equal(r.retries, 2);
  assert.equal(r.proposed, 4);
  assert.deepEqual(u.committed, ['t2', 't3']);
});

test('a failure that is not a conflict stops new proposals whatever the policy, and says how big its transaction was', async () => {
  for (const onConflict of ['skip', { attempts: 5 }] as const) {
    const seen: string[] = [];
    const write: StoreWrite = async (a) => {
      seen.push(a[0].object.id);
      if (a.some((x) => x.object.id === 't2')) throw new Error('no leader');
      return [];
    };
    const r = await applyPlan(names(11), ids().kind, opts(write, { maxPerTx: 3, onConflict }));
    assert.equal((r.error as Error).message, 'no leader');
    assert.equal(r.failedActions, 3);
    assert.equal(r.retries, 0);
    assert.deepEqual(seen, ['t0', 't3'], 'the transaction in flight beside it still goes; none after');
  }
});

test('units dropped as their transaction is built are counted; a transaction left empty is not proposed', async () => {
  const u = ids(new Set(['t0', 't1', 't3']));
  const txs: string[][] = [];
  const write: StoreWrite = async (a) => (txs.push(a.map((x) => x.object.id)), []);
  const r = await applyPlan(names(4), u.kind, opts(write, { inFlight: 1 }));
  assert.deepEqual(txs, [['t2']]);
  assert.equal(r.dropped, 3);
  assert.equal(r.proposed, 1);
  assert.deepEqual(u.committed, ['t2']);
});

test('halted: no retry after a conflict once the controller stopped; halted from the start, nothing is proposed', async () => {
  let halted = false;
  let calls = 0;
  const write: StoreWrite = async () => {
    calls++;
    halted = true;
    throw conflict();
  };
  const r = await applyPlan(names(4), ids().kind, opts(write, { inFlight: 1, onConflict: { attempts: 5 }, halted: () => halted }));
  assert.equal(calls, 1);
  assert.equal(r.retries, 0);
  assert.equal(r.error, undefined);

  const none = await applyPlan(names(4), ids().kind, opts(async () => assert.fail('proposed'), { halted: () => true }));
  assert.equal(none.proposed, 0);
});

test('a committed hook that throws fails its transaction (counted as committed) and stops new proposals', async () => {
  const kind: UnitKind<string> = {
    emit: (id, tx) => (tx.push(deleteAction('task', id)), true),
    committed: (id) => {
      if (id === 't0') throw new Error('hook');
    },
  };
  const r = await applyPlan(names(6), kind, opts(async () => [], { maxPerTx: 1, inFlight: 1 }));
  assert.equal((r.error as Error).message, 'hook');
  assert.equal(r.transactions, 1);
  assert.equal(r.proposed, 1);
});
