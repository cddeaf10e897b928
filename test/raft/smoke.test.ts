import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TestCluster, enc, dec } from './cluster.js';

test('three nodes elect one leader and replicate a proposal to all', () => {
  const c = new TestCluster(['a', 'b', 'c']);
  c.elect('a');
  const pos = c.core('a').propose(enc('hello'));
  c.stabilize();
  c.tickAll(2);
  for (const id of ['a', 'b', 'c']) {
    assert.deepEqual(c.applied.get(id)!.map((e) => dec(e.data)), ['hello'], id);
    assert.equal(c.core(id).log.committed >= pos.index, true);
  }
});
