// The leadership hand-off of a stopping leader (src/manager/handoff.ts), on a
// stand-in for the Raft node: whom it picks, and that it gives up in time.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { handOffLeadership, successor, type HandOffRaft } from '../../src/manager/handoff.js';
import { Role } from '../../src/raft/types.js';

type St = ReturnType<HandOffRaft['status']>;

function status(over: Partial<St> = {}): St {
  return {
    id: 'a',
    role: Role.Leader,
    term: 4,
    vote: 'a',
    leader: 'a',
    commit: 10,
    applied: 10,
    firstIndex: 1,
    lastIndex: 10,
    conf: { voters: ['a', 'b', 'c'], learners: [] },
    transferee: '',
    progress: {
      a: { match: 10, next: 11, state: 'replicate', recentActive: true },
      b: { match: 7, next: 8, state: 'replicate', recentActive: true },
      c: { match: 9, next: 10, state: 'replicate', recentActive: true },
    },
    addresses: {},
    ...over,
  };
}

test('successor: the recently active voter with the longest log, never itself or a learner', () => {
  assert.equal(successor(status()), 'c');
  const st = status();
  st.progress.c.recentActive = false;
  assert.equal(successor(st), 'b', 'an inactive voter is passed over');
  assert.equal(successor(status({ conf: { voters: ['a'], learners: ['b'] } })), undefined, 'no other voter');
});

test('handOffLeadership: transfers to the successor and resolves once it leads', async () => {
  let to = '';
  const raft: HandOffRaft = {
    status: () => (to ? status({ role: Role.Follower, leader: to, term: 5 }) : status()),
    transferLeadership: (id: string) => void (to = id),
  };
  assert.equal(await handOffLeadership(raft), 'c');
  assert.equal(to, 'c');
});

test('handOffLeadership: nothing to do on a follower; gives up when no one takes over in time', async () => {
  const calls: unknown[] = [];
  const follower: HandOffRaft = { status: () => status({ role: Role.Follower, leader: 'b' }), transferLeadership: (id) => void calls.push(id) };
  assert.equal(await handOffLeadership(follower), '');
  assert.equal(calls.length, 0);
  const stuck: HandOffRaft = { status: () => status(), transferLeadership: (id) => void calls.push(id) };
  assert.equal(await handOffLeadership(stuck, undefined, 100), '');
  assert.deepEqual(calls, ['c']);
});
