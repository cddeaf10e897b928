// Spread: replicas balance over nodes (service tasks, then all tasks, then
// node id), and placement preferences balance over label values first.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TaskState } from '../../src/api/objects.js';
import { CandidateHeap, SpreadTree } from '../../src/manager/scheduler/spread.js';
import { PASS } from '../../src/manager/scheduler/filters.js';
import { NodeInfo } from '../../src/manager/scheduler/view.js';
import { ASSIGNED_MESSAGE } from '../../src/manager/scheduler/planner.js';
import { addTasks, constrained, get, node, nodes, perNode, replicas, running, service, setup } from './scheduler-fixtures.js';

test('6 replicas over 3 nodes are spread 2/2/2, in one transaction', async () => {
  const web = service('web', 'web');
  const { ls, sched } = setup(nodes(3), [web], replicas(web, 6));
  assert.equal(await sched.pass(), 6);
  assert.deepEqual(perNode(ls, 'web'), { n1: 2, n2: 2, n3: 2 });
  assert.equal(ls.writes, 1);
  const t = get(ls, 'web-1');
  assert.equal(t.status.state, TaskState.ASSIGNED);
  assert.equal(t.status.message, ASSIGNED_MESSAGE);
  assert.equal(t.status.err, '');
  assert.equal(t.status.timestamp, ls.time);
  assert.equal(t.desiredState, TaskState.RUNNING);
  // Deterministic: slot order over node order.
  assert.deepEqual(['web-1', 'web-2', 'web-3', 'web-4'].map((id) => get(ls, id).nodeId), ['n1', 'n2', 'n3', 'n1']);
});

test('a 7th replica goes to the least loaded node (fewest of the service, then fewest in all)', async () => {
  const web = service('web', 'web');
  const other = service('other', 'other');
  const { ls, sched } = setup(nodes(3), [web, other], replicas(web, 6));
  await sched.pass();
  // Other services' tasks load n1 and n3: the 7th web task goes to n2.
  addTasks(ls, [running('o1', other, 'n1', { slot: 1 }), running('o2', other, 'n3', { slot: 2 })]);
  addTasks(ls, replicas(web, 1, 'web-', 7));
  assert.equal(await sched.pass(), 1);
  assert.equal(get(ls, 'web-7').nodeId, 'n2');
  // An 8th: n2 has 3 of web now; n1 and n3 have 2 of web and 3 tasks each: the smaller id wins.
  addTasks(ls, replicas(web, 1, 'web-', 8));
  await sched.pass();
  assert.equal(get(ls, 'web-8').nodeId, 'n1');
});

test('existing tasks count: new replicas fill the emptier nodes first', async () => {
  const web = service('web', 'web');
  const { ls, sched } = setup(nodes(3), [web], [running('r1', web, 'n1', { slot: 1 }), running('r2', web, 'n1', { slot: 2 }), running('r3', web, 'n2', { slot: 3 })]);
  addTasks(ls, replicas(web, 3, 'web-', 4));
  assert.equal(await sched.pass(), 3);
  assert.deepEqual(perNode(ls, 'web'), { n1: 2, n2: 2, n3: 2 });
});

test('finished and stopping tasks do not count for spread', async () => {
  const web = service('web', 'web');
  const { ls, sched } = setup(
    nodes(2),
    [web],
    [
      running('done', web, 'n1', { slot: 1, status: { state: TaskState.COMPLETE, message: '', err: '', timestamp: 0, containerId: '', exitCode: 0, health: 'none' } }),
      running('stopping', web, 'n1', { slot: 2, desiredState: TaskState.SHUTDOWN }),
    ],
  );
  addTasks(ls, replicas(web, 2, 'web-', 3));
  await sched.pass();
  assert.deepEqual(perNode(ls, 'web'), { n1: 1, n2: 1 });
  assert.equal(get(ls, 'web-3').nodeId, 'n1');
  assert.equal(get(ls, 'web-4').nodeId, 'n2');
});

test('100 replicas on 10 nodes: 10 each', async () => {
  const web = service('web', 'web');
  const { ls, sched } = setup(nodes(10), [web], replicas(web, 100));
  assert.equal(await sched.pass(), 100);
  assert.deepEqual(Object.values(perNode(ls, 'web')), new Array(10).fill(10));
});

test('a placement preference spreads over zones first, nodes without the label as their own group', async () => {
  const zone = (z: string) => ({ labels: { zone: z } });
  const ns = [node('a1', zone('a')), node('a2', zone('a')), node('b1', zone('b')), node('c1')];
  const web = constrained('web', 'web', [], ['node.labels.zone']);
  const { ls, sched } = setup(ns, [web], replicas(web, 6));
  assert.equal(await sched.pass(), 6);
  // Zone a (2 nodes), zone b (1 node), no zone (1 node): 2 tasks per group.
  assert.deepEqual(perNode(ls, 'web'), { a1: 1, a2: 1, b1: 2, c1: 2 });
});

test('a preference counts the tasks already in each zone', async () => {
  const zone = (z: string) => ({ labels: { zone: z } });
  const ns = [node('a1', zone('a')), node('a2', zone('a')), node('b1', zone('b')), node('b2', zone('b'))];
  const web = constrained('web', 'web', [], ['node.labels.zone']);
  const { ls, sched } = setup(ns, [web], [running('r1', web, 'a1', { slot: 1 }), running('r2', web, 'a2', { slot: 2 })]);
  addTasks(ls, replicas(web, 4, 'web-', 3));
  await sched.pass();
  assert.deepEqual(perNode(ls, 'web'), { a1: 2, a2: 1, b1: 2, b2: 1 });
});

test('two preferences nest: zone, then rack within the zone', async () => {
  const at = (zone: string, rack: string) => ({ labels: { zone, rack } });
  const ns = [node('a-r1-1', at('a', 'r1')), node('a-r1-2', at('a', 'r1')), node('a-r2-1', at('a', 'r2')), node('b-r1-1', at('b', 'r1'))];
  const web = constrained('web', 'web', [], ['node.labels.zone', 'node.labels.rack']);
  const { ls, sched } = setup(ns, [web], replicas(web, 4));
  await sched.pass();
  // 2 per zone; in zone a, 1 per rack.
  assert.deepEqual(perNode(ls, 'web'), { 'a-r1-1': 1, 'a-r2-1': 1, 'b-r1-1': 2 });
});

test('when a zone is full, the rest go to the other zones', async () => {
  const ns = [node('a1', { labels: { zone: 'a' }, description: { ...node('x').description, cpus: 1 } }), node('b1', { labels: { zone: 'b' } })];
  const web = constrained('web', 'web', [], ['node.labels.zone']);
  web.spec.taskTemplate.resources.reservations.nanoCpus = 1e9;
  const { ls, sched } = setup(ns, [web], replicas(web, 4));
  assert.equal(await sched.pass(), 4);
  assert.deepEqual(perNode(ls, 'web'), { a1: 1, b1: 3 });
});

test('CandidateHeap orders by service tasks, then tasks, then id', () => {
  const mk = (id: string, tasks: number, svc: number) => {
    const info = new NodeInfo(id);
    info.tasks = tasks;
    return { info, svc };
  };
  const heap = new CandidateHeap([mk('c', 0, 1), mk('b', 5, 0), mk('a', 5, 0), mk('d', 1, 0)]);
  const order: string[] = [];
  while (heap.size > 0) {
    order.push((heap.peek() as { info: NodeInfo }).info.id);
    heap.popRoot();
  }
  assert.deepEqual(order, ['d', 'a', 'b', 'c']);
});

test('SpreadTree drops a node that fails a capacity check and reports the filter', () => {
  const infos = ['n1', 'n2', 'n3'].map((id) => {
    const i = new NodeInfo(id);
    i.node = node(id);
    return i;
  });
  const tree = new SpreadTree(infos, 'svc', []);
  const excluded: number[] = [];
  const placed: string[] = [];
  const place = (i: NodeInfo) => {
    i.tasks++;
    placed.push(i.id);
  };
  for (let k = 0; k < 4; k++) tree.take((i) => (i.id === 'n2' ? 1 : PASS), (f) => excluded.push(f), place);
  assert.deepEqual(placed, ['n1', 'n3', 'n1', 'n3']);
  assert.deepEqual(excluded, [1]); // n2 dropped once, then gone
  const none = new SpreadTree(infos, 'svc', []);
  assert.equal(none.take(() => 0, () => undefined, place), undefined);
});
