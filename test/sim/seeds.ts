// Shared by the seed-range test files: run a range of seeds, fail loudly with
// the replayable report of the first violation, and sum up what happened so
// tests can assert that the faults really were exercised.
import assert from 'node:assert/strict';
import { formatViolation, runSeed, type SimStats } from './simulation.js';

export interface RangeSummary {
  seeds: number;
  nodes: Record<number, number>;
  profiles: Record<string, number>;
  totals: Omit<SimStats, 'faults' | 'livenessTime'> & { faults: Record<string, number> };
  maxLivenessTime: number;
}

export function runSeedRange(first: number, count: number): RangeSummary {
  const sum: RangeSummary = {
    seeds: 0,
    nodes: {},
    profiles: {},
    totals: { events: 0, messages: 0, dropped: 0, elections: 0, faults: {}, snapshotsInstalled: 0, confChanges: 0, transfers: 0, ops: 0, opsOk: 0, opsInfo: 0, readsOk: 0, checks: 0 },
    maxLivenessTime: 0,
  };
  for (let seed = first; seed < first + count; seed++) {
    const r = runSeed(seed);
    if (!r.ok) assert.fail(formatViolation(r));
    sum.seeds++;
    sum.nodes[r.config.nodes] = (sum.nodes[r.config.nodes] ?? 0) + 1;
    sum.profiles[r.config.profile] = (sum.profiles[r.config.profile] ?? 0) + 1;
    const t = sum.totals;
    const s = r.stats;
    t.events += s.events;
    t.messages += s.messages;
    t.dropped += s.dropped;
    t.elections += s.elections;
    t.snapshotsInstalled += s.snapshotsInstalled;
    t.confChanges += s.confChanges;
    t.transfers += s.transfers;
    t.ops += s.ops;
    t.opsOk += s.opsOk;
    t.opsInfo += s.opsInfo;
    t.readsOk += s.readsOk;
    t.checks += s.checks;
    for (const [k, v] of Object.entries(s.faults)) t.faults[k] = (t.faults[k] ?? 0) + v;
    sum.maxLivenessTime = Math.max(sum.maxLivenessTime, s.livenessTime);
  }
  return sum;
}

/** Every node count, both profiles and every kind of fault must have happened, many times. */
export function assertCoverage(s: RangeSummary): void {
  for (const n of [3, 5, 7]) assert.ok((s.nodes[n] ?? 0) >= s.seeds / 4, `too few ${n}-node runs: ${JSON.stringify(s.nodes)}`);
  assert.ok((s.profiles.storm ?? 0) >= s.seeds / 8, `too few storm runs: ${JSON.stringify(s.profiles)}`);
  for (const f of ['partition', 'asymmetric', 'oneway', 'crash', 'crash-leader', 'isolate-leader', 'pause', 'transfer', 'membership']) {
    assert.ok((s.totals.faults[f] ?? 0) >= 20, `fault ${f} happened only ${s.totals.faults[f] ?? 0} times`);
  }
  const t = s.totals;
  assert.ok(t.snapshotsInstalled >= 20, `snapshots installed: ${t.snapshotsInstalled}`);
  assert.ok(t.confChanges >= 20, `membership changes: ${t.confChanges}`);
  assert.ok(t.elections >= s.seeds * 2, `elections: ${t.elections}`);
  assert.ok(t.dropped > 0, 'no message was ever dropped by a partition');
  assert.ok(t.opsInfo > 0, 'no operation ever ended with an unknown outcome');
  assert.ok(t.readsOk >= s.seeds, `reads: ${t.readsOk}`);
  assert.ok(t.opsOk >= s.seeds * 10, `successful ops: ${t.opsOk}`);
}
