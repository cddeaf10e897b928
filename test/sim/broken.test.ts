// Proof that the checks can fail: deliberately broken cores (test/sim/broken-cores.ts)
// must be caught by the simulator within a bounded number of seeds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RaftCore } from '../../src/raft/core/raft.js';
import { runSeed } from './simulation.js';
import { BROKEN_CORES } from './broken-cores.js';
import type { CoreFactory } from './node.js';

const SAFETY = ['election safety', 'log matching', 'leader completeness', 'state machine safety', 'commit monotonicity', 'linearizability'];

/** The first seed (of the storm profile) whose run breaks one of `invariants`, or null. */
function firstCaught(factory: CoreFactory, maxSeeds: number, invariants: string[]): { seed: number; invariant: string } | null {
  for (let seed = 1; seed <= maxSeeds; seed++) {
    const r = runSeed(seed, { profile: 'storm' }, { coreFactory: factory });
    if (r.violation && invariants.includes(r.violation.invariant)) return { seed, invariant: r.violation.invariant };
  }
  return null;
}

const EXPECTED: Record<string, string[]> = {
  'commit of a previous-term entry by counting replicas': ['leader completeness', 'state machine safety', 'linearizability'],
  'vote granted without the up-to-date log check': ['leader completeness', 'state machine safety', 'linearizability'],
  'vote not persisted before the reply': ['election safety'],
  'follower truncating its log on a stale append': ['leader completeness', 'state machine safety', 'log matching', 'linearizability'],
};

for (const [name, factory] of Object.entries(BROKEN_CORES)) {
  test(`the simulator catches a core with ${name}`, () => {
    const caught = firstCaught(factory, 1500, EXPECTED[name] ?? SAFETY);
    assert.ok(caught, `${name}: no violation of ${EXPECTED[name].join(' / ')} in 1500 storm seeds`);
  });
}

test('the correct core passes the same storm seeds that catch the broken ones', () => {
  for (let seed = 1; seed <= 150; seed++) {
    const r = runSeed(seed, { profile: 'storm' });
    assert.ok(r.ok, `seed ${seed}: ${r.violation?.message}`);
  }
});

/** A core that never starts an election: nothing can commit, so the liveness check must fire. */
class NeverCampaigns extends RaftCore {
  override tick(): void {}
}

test('the liveness check fails a cluster that cannot elect a leader', () => {
  const r = runSeed(5, {}, { coreFactory: (cfg, init) => new NeverCampaigns(cfg, init) });
  assert.equal(r.violation?.invariant, 'liveness');
});
