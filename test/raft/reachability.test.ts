// What the leader reports of its peers' activity (Status.progress[id].recentActive), which the
// managers show as reachability and check before a demotion or a hand-off: a peer that answers
// every heartbeat is never reported inactive, not even in the moment between a check-quorum
// round's reset and the answer to the next heartbeat (a 3-manager cluster once showed
// "2 reachable managers" that way); a peer gone silent is reported within two election timeouts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_CONFIG } from '../../src/raft/types.js';
import { TestCluster } from './cluster.js';

const E = DEFAULT_CONFIG.electionTicks;

test('a peer that answers every heartbeat stays active across check-quorum resets; a silent one goes inactive within two rounds', () => {
  const c = new TestCluster(['a', 'b', 'c'], { checkQuorum: true }, 3);
  c.elect('a');
  c.tick('a', 2 * E); // every peer has answered a heartbeat in a full round
  const a = c.core('a');
  // Tick the leader alone and look before the heartbeats are answered: across several resets.
  for (let i = 0; i < 3 * E; i++) {
    a.tick();
    const p = a.status().progress;
    assert.ok(p.b.recentActive && p.c.recentActive, `tick ${i}: a peer reported inactive before its answer could arrive: ${JSON.stringify(p)}`);
    c.stabilize();
  }
  c.isolate('c');
  let silentFor = 0;
  for (; silentFor <= 3 * E && a.status().progress.c.recentActive; silentFor++) c.tick('a');
  assert.ok(silentFor <= 2 * E, `c was still reported active ${silentFor} ticks after it went silent`);
  assert.ok(silentFor >= 1, 'c was reported inactive at once');
  assert.equal(a.status().progress.b.recentActive, true, 'b, which still answers, is active');
  assert.equal(a.role, 'leader', 'a keeps its quorum with b');
});
