// The web console's model: a snapshot replaces it, patches upsert and remove,
// the task indexes follow tasks between nodes, the timeline deduplicates a
// reconnect's replay.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  applyEvents, applyPatch, applySnapshot, emptyModel, findNode, findService, leaderHostname, MAX_EVENTS, nodeTasks, serviceTasks,
} from '../../../src/console/web/model.js';
import type { ClusterEvent } from '../../../src/console/web/types.js';
import { cluster, iso, node, service, snapshot, T0, task } from './fixtures.js';

const ids = (xs: { id: string }[]): string[] => xs.map((x) => x.id).sort();

test('a snapshot fills the model and its task indexes; a second one replaces everything', () => {
  const m = emptyModel();
  assert.equal(m.loaded, false);
  applySnapshot(m, snapshot({ tasks: [task('t1'), task('t2', { nodeId: 'n2' }), task('t3', { serviceId: 's2', nodeId: 'n2' })] }));
  assert.equal(m.loaded, true);
  assert.equal(m.revision, 10);
  assert.deepEqual(ids(serviceTasks(m, 's1')), ['t1', 't2']);
  assert.deepEqual(ids(nodeTasks(m, 'n2')), ['t2', 't3']);
  applySnapshot(m, snapshot({ revision: 11, tasks: [task('t9')] }));
  assert.deepEqual([...m.tasks.keys()], ['t9']);
  assert.deepEqual(ids(nodeTasks(m, 'n2')), []);
  assert.deepEqual(ids(serviceTasks(m, 's1')), ['t9']);
});

test('a patch upserts and removes nodes, services and tasks, and may replace the cluster', () => {
  const m = emptyModel();
  applySnapshot(m, snapshot());
  const applied = applyPatch(m, {
    revision: 11,
    cluster: cluster({ term: 4 }),
    upsert: { nodes: [node('n2')], services: [service('s1', { running: 0 }), service('s2')], tasks: [task('t2', { serviceId: 's2' })] },
    remove: { tasks: ['t1'] },
  });
  assert.equal(applied, true);
  assert.equal(m.revision, 11);
  assert.equal(m.cluster?.term, 4);
  assert.deepEqual([...m.nodes.keys()].sort(), ['n1', 'n2']);
  assert.equal(m.services.get('s1')?.running, 0);
  assert.deepEqual(ids(serviceTasks(m, 's1')), []);
  assert.deepEqual(ids(serviceTasks(m, 's2')), ['t2']);
  applyPatch(m, { revision: 12, upsert: {}, remove: { nodes: ['n1'], services: ['s2'], tasks: ['t2', 'never-there'] } });
  assert.deepEqual([...m.nodes.keys()], ['n2']);
  assert.deepEqual([...m.services.keys()], ['s1']);
  assert.equal(m.tasks.size, 0);
  assert.equal(m.tasksByService.size, 0, 'an emptied index entry is dropped');
});

test('a task assigned to a node moves in the node index (no stale entry under the old node)', () => {
  const m = emptyModel();
  applySnapshot(m, snapshot({ tasks: [task('t1', { nodeId: '' , state: 'pending' })] }));
  assert.deepEqual(ids(nodeTasks(m, '')), []);
  applyPatch(m, { revision: 11, upsert: { tasks: [task('t1', { nodeId: 'n1', state: 'assigned' })] }, remove: {} });
  assert.deepEqual(ids(nodeTasks(m, 'n1')), ['t1']);
  applyPatch(m, { revision: 12, upsert: { tasks: [task('t1', { nodeId: 'n2' })] }, remove: {} });
  assert.deepEqual(ids(nodeTasks(m, 'n1')), []);
  assert.deepEqual(ids(nodeTasks(m, 'n2')), ['t1']);
  assert.equal(m.tasks.get('t1')?.state, 'running');
});

test('a patch before the first snapshot, or older than the model, is ignored; a repeated one is harmless', () => {
  const m = emptyModel();
  assert.equal(applyPatch(m, { revision: 5, upsert: { services: [service('s9')] }, remove: {} }), false);
  assert.equal(m.services.size, 0);
  applySnapshot(m, snapshot({ revision: 20 }));
  assert.equal(applyPatch(m, { revision: 19, upsert: {}, remove: { services: ['s1'] } }), false);
  assert.ok(m.services.has('s1'), 'a stale patch cannot remove what the newer snapshot holds');
  const p = { revision: 21, upsert: { tasks: [task('t5')] }, remove: { tasks: ['t1'] } };
  assert.equal(applyPatch(m, p), true);
  assert.equal(applyPatch(m, p), true);
  assert.deepEqual(ids(serviceTasks(m, 's1')), ['t5']);
});

test('a patch with missing upsert/remove members (or none at all) still applies', () => {
  const m = emptyModel();
  applySnapshot(m, snapshot());
  assert.equal(applyPatch(m, { revision: 11, upsert: { nodes: [node('n3')] }, remove: {} }), true);
  assert.equal(applyPatch(m, { revision: 12 } as never), true);
  assert.ok(m.nodes.has('n3'));
});

function ev(n: number, type: ClusterEvent['type'] = 'service'): ClusterEvent {
  return { type, action: 'update', id: `id${n}`, name: `name${n}`, time: iso(T0 + n * 1000), attributes: {} };
}

test('timeline entries: a replay after a reconnect adds only the new ones, in time order, capped', () => {
  const m = emptyModel();
  assert.equal(applyEvents(m, [ev(1), ev(2), ev(3)]), 3);
  assert.equal(applyEvents(m, [ev(2), ev(3), ev(4)]), 1);
  assert.deepEqual(m.events.map((e) => e.id), ['id1', 'id2', 'id3', 'id4']);
  assert.equal(applyEvents(m, [ev(0)]), 1);
  assert.equal(m.events[0].id, 'id0');
  const many = Array.from({ length: MAX_EVENTS + 50 }, (_, i) => ev(100 + i));
  applyEvents(m, many);
  assert.equal(m.events.length, MAX_EVENTS);
  assert.equal(m.events[MAX_EVENTS - 1].id, `id${100 + MAX_EVENTS + 49}`);
  assert.equal(m.eventKeys.size, MAX_EVENTS, 'dropped entries leave the dedup set too');
  assert.equal(applyEvents(m, [ev(1)]), 1, 'an entry dropped by the cap can come back');
});

test('lookups: the leader hostname, a service by id or name, a node by id or hostname', () => {
  const m = emptyModel();
  applySnapshot(m, snapshot());
  assert.equal(leaderHostname(m.cluster), 'mgr-1');
  assert.equal(leaderHostname(cluster({ managers: [{ id: 'm1', hostname: 'a', addr: '', reachability: 'reachable', leader: false }] })), 'a', 'by leaderId when no manager says leader');
  assert.equal(leaderHostname(cluster({ leaderId: '', managers: [] })), '');
  assert.equal(leaderHostname(null), '');
  assert.equal(findService(m, 's1')?.name, 'svc-s1');
  assert.equal(findService(m, 'svc-s1')?.id, 's1');
  assert.equal(findService(m, 'nope'), undefined);
  assert.equal(findNode(m, 'host-n1')?.id, 'n1');
});

test('1,000 tasks in 50 services: applying a snapshot and 200 patches stays fast (indexes, no rescans)', () => {
  const m = emptyModel();
  const services = Array.from({ length: 50 }, (_, i) => service(`s${i}`));
  const tasks = Array.from({ length: 1000 }, (_, i) => task(`t${i}`, { serviceId: `s${i % 50}`, nodeId: `n${i % 10}`, slot: Math.floor(i / 50) + 1 }));
  const started = performance.now();
  applySnapshot(m, snapshot({ services, tasks }));
  for (let r = 0; r < 200; r++) {
    applyPatch(m, { revision: 11 + r, upsert: { tasks: [task(`t${r}`, { serviceId: `s${r % 50}`, nodeId: `n${(r + 1) % 10}`, state: 'shutdown' })] }, remove: {} });
  }
  const elapsed = performance.now() - started;
  assert.ok(elapsed < 500, `took ${elapsed.toFixed(0)} ms`);
  assert.equal(serviceTasks(m, 's0').length, 20);
  let onNodes = 0;
  for (let n = 0; n < 10; n++) onNodes += nodeTasks(m, `n${n}`).length;
  assert.equal(onNodes, 1000);
});
