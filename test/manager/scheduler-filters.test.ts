// The filter pipeline: availability, resources, constraints, host ports, and
// the "no suitable node (...)" explanation in Docker Swarm's words.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TaskState, type Node } from '../../src/api/objects.js';
import { explainTask, formatNoSuitableNode } from '../../src/manager/scheduler/filters.js';
import { planPass } from '../../src/manager/scheduler/planner.js';
import { ClusterView } from '../../src/manager/scheduler/view.js';
import { constrained, get, hostPort, node, nodes, pending, perNode, replicas, reserving, running, service, setup } from './scheduler-fixtures.js';

const cpus = (n: number, memGiB = 8): Partial<Node> => ({ description: { ...node('x').description, cpus: n, memoryBytes: memGiB * 2 ** 30 } });

test('drained, paused, down and unknown nodes get nothing', async () => {
  const web = service('web', 'web');
  const ns = [
    node('drained', { availability: 'drain' }),
    node('paused', { availability: 'pause' }),
    node('down', { status: { state: 'down', message: '', address: '' } }),
    node('unknown', { status: { state: 'unknown', message: '', address: '' } }),
    node('ok'),
  ];
  const { ls, sched } = setup(ns, [web], replicas(web, 3));
  assert.equal(await sched.pass(), 3);
  assert.deepEqual(perNode(ls), { ok: 3 });
});

test('with no available node, tasks wait and say so', async () => {
  const web = service('web', 'web');
  const { ls, sched } = setup([node('a', { availability: 'drain' }), node('b', { availability: 'pause' })], [web], replicas(web, 2));
  assert.equal(await sched.pass(), 0);
  const t = get(ls, 'web-1');
  assert.equal(t.status.state, TaskState.PENDING);
  assert.equal(t.status.err, 'no suitable node (2 nodes not available for new tasks)');
  assert.equal(t.status.message, 'pending task scheduling');
  const empty = setup([], [web], replicas(web, 1));
  await empty.sched.pass();
  assert.equal(get(empty.ls, 'web-1').status.err, 'no suitable node');
});

test('reservations exclude a full node; the message says insufficient resources', async () => {
  const big = reserving('big', 'big', 0.6);
  const { ls, sched } = setup([node('a', cpus(1)), node('b', cpus(1))], [big], replicas(big, 3));
  assert.equal(await sched.pass(), 2);
  assert.deepEqual(perNode(ls), { a: 1, b: 1 });
  assert.equal(get(ls, 'big-3').status.err, 'no suitable node (insufficient resources on 2 nodes)');
});

test('running tasks reserve; finished or stopping ones do not', async () => {
  const half = reserving('half', 'half', 0.5, 1024);
  const ns = [node('a', cpus(1, 2)), node('b', cpus(1, 2))];
  const { ls, sched } = setup(ns, [half], [
    running('r1', half, 'a', { slot: 1 }),
    running('r2', half, 'a', { slot: 2 }), // a is full (1 CPU)
    running('r3', half, 'b', { slot: 3, desiredState: TaskState.SHUTDOWN }), // being stopped: frees its share
    running('r4', half, 'b', { slot: 4, status: { state: TaskState.FAILED, message: '', err: 'x', timestamp: 0, containerId: '', exitCode: 1, health: 'none' } }),
  ]);
  ls.applyNow(replicas(half, 3, 'half-', 5).map((t) => ({ kind: 'task', op: 'create', object: t })));
  assert.equal(await sched.pass(), 2);
  assert.equal(get(ls, 'half-5').nodeId, 'b');
  assert.equal(get(ls, 'half-6').nodeId, 'b');
  assert.equal(get(ls, 'half-7').status.err, 'no suitable node (insufficient resources on 2 nodes)');
});

test('memory reservations count too', async () => {
  const mem = reserving('mem', 'mem', 0, 3 * 1024);
  const { ls, sched } = setup([node('a', cpus(8, 4)), node('b', cpus(8, 8))], [mem], replicas(mem, 3));
  assert.equal(await sched.pass(), 3);
  assert.deepEqual(perNode(ls), { a: 1, b: 2 });
});

test('a node whose resources are unknown yet (0) only takes tasks that reserve nothing', async () => {
  const free = service('free', 'free');
  const cpu = reserving('cpu', 'cpu', 0.1);
  const { ls, sched } = setup([node('blank', cpus(0, 0))], [free, cpu], [...replicas(free, 1), ...replicas(cpu, 1)]);
  assert.equal(await sched.pass(), 1);
  assert.equal(get(ls, 'free-1').nodeId, 'blank');
  assert.equal(get(ls, 'cpu-1').status.err, 'no suitable node (insufficient resources on 1 node)');
});

test('the message counts each node against the first filter it fails, most frequent first', async () => {
  // down: not available; tiny: short of CPU (and fails the constraint: resources come first); c, d: constraint only.
  const svc = constrained('svc', 'svc', ['node.labels.gpu==yes']);
  svc.spec.taskTemplate.resources.reservations.nanoCpus = 2e9;
  const ns = [node('down', { status: { state: 'down', message: '', address: '' } }), node('tiny', cpus(1)), node('c'), node('d')];
  const { ls, sched } = setup(ns, [svc], replicas(svc, 1));
  await sched.pass();
  assert.equal(get(ls, 'svc-1').status.err, 'no suitable node (scheduling constraints not satisfied on 2 nodes; insufficient resources on 1 node; 1 node not available for new tasks)');
});

test('formatNoSuitableNode: singular and plural, most frequent first, ties later filter first', () => {
  assert.equal(formatNoSuitableNode([0, 0, 0, 0]), 'no suitable node');
  assert.equal(formatNoSuitableNode([1, 1, 0, 2]), 'no suitable node (host-mode port already in use on 2 nodes; insufficient resources on 1 node; 1 node not available for new tasks)');
});

test('host-mode ports: one task per node for a port, and a port in use excludes the node', async () => {
  const web = hostPort('web', 'web', 8080);
  const { ls, sched } = setup(nodes(3), [web], replicas(web, 4));
  assert.equal(await sched.pass(), 3);
  assert.deepEqual(perNode(ls), { n1: 1, n2: 1, n3: 1 });
  assert.equal(get(ls, 'web-4').status.err, 'no suitable node (host-mode port already in use on 3 nodes)');

  // Another service on the same port/protocol in host mode conflicts; udp or ingress on the same number do not.
  const clash = hostPort('clash', 'clash', 9000);
  const udp = hostPort('udp', 'udp', 9000, 'udp');
  const ingress = hostPort('ingress', 'ingress', 9000, 'tcp', 'ingress');
  const two = setup(nodes(2), [clash, udp, ingress], [running('c1', clash, 'n1', { slot: 1 })]);
  two.ls.applyNow([...replicas(clash, 1, 'clash-', 2), ...replicas(udp, 2), ...replicas(ingress, 2)].map((t) => ({ kind: 'task', op: 'create', object: t })));
  assert.equal(await two.sched.pass(), 5);
  assert.equal(get(two.ls, 'clash-2').nodeId, 'n2');
  assert.deepEqual(perNode(two.ls, 'udp'), { n1: 1, n2: 1 });
  assert.deepEqual(perNode(two.ls, 'ingress'), { n1: 1, n2: 1 });
});

test('explainTask is pure and agrees with the scheduler', () => {
  const big = reserving('big', 'big', 3);
  const ns = [node('a', cpus(4)), node('b', cpus(4)), node('c', { availability: 'drain' })];
  const t = pending('t', big);
  assert.equal(explainTask(t, ns, []), '');
  const held = [running('r1', big, 'a'), running('r2', big, 'b')];
  assert.equal(explainTask(t, ns, held), 'no suitable node (insufficient resources on 2 nodes; 1 node not available for new tasks)');
  // A preset node (global service): only that node counts.
  assert.equal(explainTask(pending('g', big, { slot: 0, nodeId: 'c' }), ns, held), 'no suitable node (1 node not available for new tasks)');
  assert.equal(explainTask(pending('g', big, { slot: 0, nodeId: 'gone' }), ns, held), 'no suitable node (1 node not available for new tasks)');
});

test('an invalid constraint (which the store would refuse) is the reason given', () => {
  const svc = constrained('svc', 'svc', ['node.labels.zone=a']);
  const t = pending('t', svc);
  const msg = explainTask(t, [node('a')], []);
  assert.match(msg, /^no suitable node \(invalid placement constraint: .*node\.labels\.zone=a.*\)$/);
  const plan = planPass(ClusterView.of([node('a')], [t]), 1);
  assert.equal(plan.assignments.length, 0);
  assert.equal(plan.unschedulable[0].next.status.err, msg);
});
