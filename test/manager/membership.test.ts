// The leader's membership rules: who gets promoted or removed, and when a
// demotion or removal would cost the quorum.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Role, type Status } from '../../src/raft/types.js';
import { managerCallRefusal } from '../../src/manager/authz.js';
import { nextMembershipChange, quorumRefusal, PROMOTE_MAX_LAG } from '../../src/manager/membership.js';
import type { NodeIdentity } from '../../src/manager/ca/ca.js';
import { cluster, node } from './store-fixtures.js';

function status(over: Partial<Status> & { active?: string[] } = {}): Status {
  const voters = over.conf?.voters ?? ['a', 'b', 'c'];
  const active = over.active ?? voters;
  const progress: Status['progress'] = {};
  for (const v of [...voters, ...(over.conf?.learners ?? [])]) progress[v] = { match: 100, next: 101, state: 'replicate', recentActive: active.includes(v) };
  return { id: 'a', role: Role.Leader, term: 2, vote: 'a', leader: 'a', commit: 100, applied: 100, firstIndex: 1, lastIndex: 100, transferee: '', conf: { voters, learners: [] }, progress, ...over };
}

test('quorum: removing a voter is refused when the managers left could not form a quorum, unless forced', () => {
  assert.equal(quorumRefusal(status(), 'b'), null, '3 healthy voters: one can go');
  const oneDown = status({ active: ['a', 'b'] });
  assert.match(quorumRefusal(oneDown, 'b') ?? '', /quorum needs 2.*--force/);
  assert.equal(quorumRefusal(oneDown, 'c'), null, 'removing the unreachable one is fine');
  assert.equal(quorumRefusal(oneDown, 'b', { force: true }), null);
  assert.match(quorumRefusal(status({ conf: { voters: ['a'], learners: [] } }), 'a', { force: true }) ?? '', /last manager/);
  assert.equal(quorumRefusal(status(), 'zz'), null, 'not a voter: no quorum question');
});

test('membership: demoted or removed members leave, caught-up manager learners are promoted, one change at a time', () => {
  const nodes = new Map([
    ['a', node('a', { role: 'manager' })],
    ['b', node('b', { role: 'manager' })],
    ['c', node('c', { role: 'worker' })],
    ['l', node('l', { role: 'manager' })],
  ]);
  const cl = cluster('cl');
  const st = status({ conf: { voters: ['a', 'b', 'c'], learners: ['l'] } });
  assert.deepEqual(nextMembershipChange(st, (id) => nodes.get(id), cl), { type: 'remove', id: 'c', why: 'demoted' });
  nodes.set('c', node('c', { role: 'manager' }));
  assert.deepEqual(nextMembershipChange(st, (id) => nodes.get(id), cl), { type: 'promote', id: 'l' });
  const lagging = { ...st, lastIndex: 100 + PROMOTE_MAX_LAG + 1 };
  lagging.progress = { ...st.progress, l: { ...st.progress.l, match: 99 } };
  assert.equal(nextMembershipChange(lagging, (id) => nodes.get(id), cl), null, 'a learner far behind waits');
  assert.deepEqual(nextMembershipChange(st, (id) => nodes.get(id), { ...cl, removedNodes: ['b'] }), { type: 'remove', id: 'b', why: 'removed' });
  const unknown = status({ conf: { voters: ['a', 'x'], learners: [] } });
  assert.equal(nextMembershipChange(unknown, (id) => nodes.get(id), cl), null, 'a member the store does not know (yet) is left alone');
  const last = status({ conf: { voters: ['c'], learners: [] } });
  nodes.set('c', node('c', { role: 'worker' }));
  assert.equal(nextMembershipChange(last, (id) => nodes.get(id), cl), null, 'the last voter never leaves');
});

test('authorization: only managers of this cluster that are neither removed nor demoted may call manager services', () => {
  const id = (over: Partial<NodeIdentity>): NodeIdentity => ({
    nodeId: 'n1',
    role: 'manager',
    clusterId: 'cl',
    notBefore: new Date(0),
    notAfter: new Date(1e13),
    serial: '01',
    fingerprint: 'sha256:00',
    ...over,
  });
  const rules = { clusterId: 'cl', isRemoved: (n: string) => n === 'gone', roleOf: (n: string) => (n === 'demoted' ? ('worker' as const) : undefined) };
  assert.equal(managerCallRefusal(id({}), rules), null);
  assert.match(managerCallRefusal(null, rules) ?? '', /certificate/);
  assert.match(managerCallRefusal(id({ role: 'worker' }), rules) ?? '', /worker/);
  assert.match(managerCallRefusal(id({ clusterId: 'other' }), rules) ?? '', /cluster other/);
  assert.match(managerCallRefusal(id({ nodeId: 'gone' }), rules) ?? '', /removed/);
  assert.match(managerCallRefusal(id({ nodeId: 'demoted' }), rules) ?? '', /demoted/);
});
