// The scheduler as a leader controller: passes and transactions, global tasks
// on their preset node, reasons written once, conflicts re-run without double
// assignment, watch-driven passes, stop(), and the incremental view staying
// equal to a view rebuilt from the store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Prng } from '../../src/testing/prng.js';
import { Scheduler } from '../../src/manager/scheduler/scheduler.js';
import { ClusterView } from '../../src/manager/scheduler/view.js';
import { deleteAction, type Action } from '../../src/manager/store/store.js';
import { TaskState, type Service, type StoreObject, type Task } from '../../src/api/objects.js';
import {
  addTasks,
  changeNode,
  changeTask,
  constrained,
  get,
  node,
  nodes,
  pending,
  perNode,
  replicas,
  reserving,
  running,
  service,
  setup,
  sleep,
  waitFor,
} from './scheduler-fixtures.js';
import type { LocalStore } from './local-store.js';

function globalService(id: string, constraints: string[] = []): Service {
  const s = constrained(id, id, constraints);
  s.spec.mode = { global: {} };
  return s;
}

/** Count, per task id, the committed updates that made it ASSIGNED. */
function countAssignments(ls: LocalStore): Map<string, number> {
  const seen = new Map<string, number>();
  ls.store.watch({ kind: 'task', op: 'update' }, (ev) => {
    if (ev.op === 'restored' || ev.kind !== 'task' || ev.old === undefined) return;
    if (ev.old.status.state === TaskState.PENDING && ev.object.status.state === TaskState.ASSIGNED) seen.set(ev.object.id, (seen.get(ev.object.id) ?? 0) + 1);
  });
  return seen;
}

test('a global task is assigned on its preset node only when that node passes the filters', async () => {
  const mon = globalService('mon');
  const mgr = globalService('mgr', ['node.role==manager']);
  const ns = [node('n1'), node('n2', { availability: 'drain' }), node('n3')];
  const tasks = [
    pending('mon-n1', mon, { slot: 0, nodeId: 'n1' }),
    pending('mon-n2', mon, { slot: 0, nodeId: 'n2' }),
    pending('mgr-n3', mgr, { slot: 0, nodeId: 'n3' }),
  ];
  const { ls, sched } = setup(ns, [mon, mgr], tasks);
  assert.equal(await sched.pass(), 1);
  assert.equal(ls.writes, 1);
  assert.equal(get(ls, 'mon-n1').status.state, TaskState.ASSIGNED);
  assert.equal(get(ls, 'mon-n1').nodeId, 'n1');
  assert.equal(get(ls, 'mon-n2').status.state, TaskState.PENDING);
  assert.equal(get(ls, 'mon-n2').nodeId, 'n2');
  assert.equal(get(ls, 'mon-n2').status.err, 'no suitable node (1 node not available for new tasks)');
  assert.equal(get(ls, 'mgr-n3').status.err, 'no suitable node (scheduling constraints not satisfied on 1 node)');
  changeNode(ls, 'n2', (n) => (n.availability = 'active'));
  assert.equal(await sched.pass(), 1);
  assert.equal(get(ls, 'mon-n2').status.state, TaskState.ASSIGNED);
  assert.equal(get(ls, 'mon-n2').status.err, '');
});

test('a global task on a full node waits; its own reservation does not count against it', async () => {
  const mon = globalService('mon');
  mon.spec.taskTemplate.resources.reservations.nanoCpus = 4e9; // the whole node
  const big = reserving('big', 'big', 1);
  const { ls, sched } = setup([node('n1'), node('n2')], [mon, big], [pending('mon-n1', mon, { slot: 0, nodeId: 'n1' }), running('b1', big, 'n2'), pending('mon-n2', mon, { slot: 0, nodeId: 'n2' })]);
  assert.equal(await sched.pass(), 1);
  assert.equal(get(ls, 'mon-n1').status.state, TaskState.ASSIGNED);
  assert.equal(get(ls, 'mon-n2').status.err, 'no suitable node (insufficient resources on 1 node)');
});

test('a task that fits nowhere keeps its reason, written once, not on every pass', async () => {
  const web = constrained('web', 'web', ['node.labels.zone==x']);
  const { ls, sched } = setup(nodes(2), [web], replicas(web, 3));
  assert.equal(await sched.pass(), 0);
  assert.equal(ls.writes, 1);
  assert.equal(ls.actions, 3);
  const t = get(ls, 'web-1');
  assert.equal(t.status.state, TaskState.PENDING);
  assert.equal(t.status.err, 'no suitable node (scheduling constraints not satisfied on 2 nodes)');
  await sched.pass();
  await sched.pass();
  assert.equal(ls.writes, 1);
  // The reason changes: written again, once.
  changeNode(ls, 'n1', (n) => (n.availability = 'drain'));
  const before = ls.writes;
  await sched.pass();
  await sched.pass();
  assert.equal(ls.writes, before + 1);
  assert.equal(get(ls, 'web-1').status.err, 'no suitable node (scheduling constraints not satisfied on 1 node; 1 node not available for new tasks)');
});

test('a running scheduler does not loop on unschedulable tasks', async () => {
  const web = constrained('web', 'web', ['node.labels.zone==x']);
  const { ls } = setup(nodes(2), [web], replicas(web, 3));
  const sched = new Scheduler(ls.context(), { debounceMs: 1, intervalMs: 20 });
  sched.start();
  await waitFor(() => get(ls, 'web-1').status.err !== '', 'the reason');
  const writes = ls.writes;
  await sleep(120); // several safety-net passes
  assert.equal(ls.writes, writes);
  await sched.stop();
});

test('one pass commits many tasks in one transaction; larger passes are chunked', async () => {
  const web = service('web', 'web');
  const one = setup(nodes(50), [web], replicas(web, 1_900));
  assert.equal(await one.sched.pass(), 1_900);
  assert.equal(one.ls.writes, 1);
  assert.equal(one.ls.actions, 1_900);
  assert.deepEqual(new Set(Object.values(perNode(one.ls))), new Set([38]));

  const many = setup(nodes(10), [web], replicas(web, 1_000), { maxTasksPerTx: 300 });
  assert.equal(await many.sched.pass(), 1_000);
  assert.equal(many.ls.writes, 4);
  assert.deepEqual(new Set(Object.values(perNode(many.ls))), new Set([100]));
});

test('a version conflict re-runs the pass; nothing is assigned twice, and a task stopped meanwhile is not assigned', async () => {
  const web = service('web', 'web');
  const { ls } = setup(nodes(3), [web], replicas(web, 6));
  const assignedBy = countAssignments(ls);
  let calls = 0;
  const ctx = ls.context();
  const sched = new Scheduler({
    ...ctx,
    write: async (actions: readonly Action[]): Promise<StoreObject[]> => {
      if (++calls === 1) {
        // After the pass read them: the orchestrator stops web-2 and touches web-5.
        changeTask(ls, 'web-2', (t) => (t.desiredState = TaskState.SHUTDOWN));
        changeTask(ls, 'web-5', (t) => (t.status.message = 'touched'));
      }
      return ctx.write(actions);
    },
  });
  assert.equal(await sched.pass(), 5);
  assert.equal(calls, 2);
  assert.equal(get(ls, 'web-2').status.state, TaskState.PENDING);
  assert.equal(get(ls, 'web-2').nodeId, '');
  assert.equal(get(ls, 'web-5').status.state, TaskState.ASSIGNED);
  assert.deepEqual([...assignedBy.values()], [1, 1, 1, 1, 1]);
  assert.equal(assignedBy.has('web-2'), false);
  // Spread still holds for what was assigned (5 over 3 nodes).
  assert.deepEqual(Object.values(perNode(ls)).sort(), [1, 2, 2]);
});

test('a conflict in one chunk of a large pass: the others commit, the pass re-runs, no double assignment', async () => {
  const web = service('web', 'web');
  const { ls } = setup(nodes(4), [web], replicas(web, 12));
  const assignedBy = countAssignments(ls);
  let calls = 0;
  const ctx = ls.context();
  const sched = new Scheduler(
    {
      ...ctx,
      write: async (actions: readonly Action[]): Promise<StoreObject[]> => {
        if (++calls === 2) {
          const id = (actions[0].object as Task).id;
          changeTask(ls, id, (t) => (t.status.message = 'touched'));
        }
        return ctx.write(actions);
      },
    },
    { maxTasksPerTx: 3 },
  );
  assert.equal(await sched.pass(), 12);
  assert.equal(assignedBy.size, 12);
  assert.deepEqual(new Set(assignedBy.values()), new Set([1]));
  assert.deepEqual(perNode(ls), { n1: 3, n2: 3, n3: 3, n4: 3 });
  assert.equal(ls.store.checkIndexes().length, 0);
});

test('started: new tasks, a node becoming available and freed resources each trigger a pass', async () => {
  const big = reserving('big', 'big', 3);
  const { ls } = setup([node('n1'), node('n2', { status: { state: 'down', message: '', address: '' } })], [big]);
  const sched = new Scheduler(ls.context(), { debounceMs: 2 });
  sched.start();
  addTasks(ls, replicas(big, 3));
  await waitFor(() => get(ls, 'big-1').status.state === TaskState.ASSIGNED && get(ls, 'big-2').status.err !== '', 'first placement');
  assert.equal(get(ls, 'big-1').nodeId, 'n1');
  changeNode(ls, 'n2', (n) => (n.status.state = 'ready'));
  await waitFor(() => get(ls, 'big-2').status.state === TaskState.ASSIGNED, 'big-2 on n2');
  assert.equal(get(ls, 'big-2').nodeId, 'n2');
  assert.equal(get(ls, 'big-3').status.err, 'no suitable node (insufficient resources on 2 nodes)');
  changeTask(ls, 'big-1', (t) => (t.status.state = TaskState.COMPLETE));
  await waitFor(() => get(ls, 'big-3').status.state === TaskState.ASSIGNED, 'big-3 where big-1 was');
  assert.equal(get(ls, 'big-3').nodeId, 'n1');
  // Deleting a task that held a node frees it too.
  addTasks(ls, replicas(big, 1, 'big-', 4));
  await waitFor(() => get(ls, 'big-4').status.err !== '', 'big-4 waits');
  ls.applyNow([deleteAction('task', 'big-2')]);
  await waitFor(() => get(ls, 'big-4').status.state === TaskState.ASSIGNED, 'big-4 on n2');
  await sched.stop();
  addTasks(ls, replicas(big, 1, 'big-', 5));
  await sleep(20);
  assert.equal(get(ls, 'big-5').status.state, TaskState.PENDING);
  assert.equal(get(ls, 'big-5').status.err, '');
});

test('start() places what was already pending; a store restore rebuilds the view', async () => {
  const web = service('web', 'web');
  const { ls } = setup(nodes(2), [web], replicas(web, 2));
  const sched = new Scheduler(ls.context(), { debounceMs: 1 });
  sched.start();
  await waitFor(() => Object.keys(perNode(ls)).length === 2, 'initial placement');
  const image = ls.store.snapshot();
  addTasks(ls, replicas(web, 2, 'web-', 3));
  await waitFor(() => get(ls, 'web-4').status.state === TaskState.ASSIGNED, 'more placements');
  ls.store.restore(image); // back to 2 assigned tasks, 0 pending
  addTasks(ls, replicas(web, 2, 'web-', 3));
  await waitFor(() => get(ls, 'web-4').status.state === TaskState.ASSIGNED, 'placements after restore');
  assert.deepEqual(perNode(ls), { n1: 2, n2: 2 });
  await sched.stop();
});

test('stop() waits for the write in flight', async () => {
  const web = service('web', 'web');
  const { ls } = setup(nodes(2), [web], replicas(web, 2));
  let release = (): void => undefined;
  let written = false;
  const ctx = ls.context();
  const sched = new Scheduler({
    ...ctx,
    write: async (actions) => {
      await new Promise<void>((r) => (release = r));
      const out = await ctx.write(actions);
      written = true;
      return out;
    },
  });
  const p = sched.pass();
  await sleep(5);
  let stopped = false;
  const s = sched.stop().then(() => (stopped = true));
  await sleep(5);
  assert.equal(stopped, false);
  release();
  await s;
  assert.equal(written, true);
  assert.equal(await p, 2);
});

test('a failed write (not a conflict) is left for a later pass, and the view forgets the placements', async () => {
  const big = reserving('big', 'big', 4);
  const { ls } = setup(nodes(1), [big], replicas(big, 1));
  let fail = true;
  const ctx = ls.context();
  const sched = new Scheduler(
    {
      ...ctx,
      write: async (actions) => {
        if (fail) throw new Error('no leader');
        return ctx.write(actions);
      },
    },
    { debounceMs: 60_000 }, // started (incremental view), but only the passes run here
  );
  sched.start();
  assert.equal(await sched.pass(), 0);
  fail = false;
  assert.equal(await sched.pass(), 1); // the node's CPUs were not kept by the failed placement
  assert.equal(get(ls, 'big-1').nodeId, 'n1');
  await sched.stop();
});

function viewImage(v: ClusterView): unknown {
  return {
    nodes: v.nodes().map((i) => ({
      id: i.id,
      cap: [i.capCpu, i.capMem],
      used: [i.usedCpu, i.usedMem],
      tasks: i.tasks,
      services: [...i.services].sort(),
      ports: [...i.ports].sort(),
    })),
    pending: [...v.pending.keys()].sort(),
  };
}

test('the incremental view always equals one rebuilt from the store (seeded random changes)', async () => {
  const rng = new Prng(42);
  const svcs = [reserving('a', 'a', 0.5, 256), service('b', 'b', { endpoint: { ports: [{ protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'host' }] } }), service('c', 'c')];
  const { ls } = setup(nodes(4, (i) => ({ labels: { zone: `z${i % 2}` } })), svcs);
  const sched = new Scheduler(ls.context(), { debounceMs: 1 });
  sched.start();
  const view = (sched as unknown as { view: ClusterView }).view;
  const states = [TaskState.PENDING, TaskState.ASSIGNED, TaskState.RUNNING, TaskState.COMPLETE, TaskState.FAILED];
  let next = 1;
  for (let step = 0; step < 300; step++) {
    const tasks = ls.store.list('task');
    const r = rng.int(6);
    if (r <= 1 || tasks.length === 0) {
      const svc = svcs[rng.int(svcs.length)];
      addTasks(ls, [pending(`t${next}`, svc, { slot: next++ })]);
    } else if (r === 2) {
      const t = tasks[rng.int(tasks.length)];
      const later = states.filter((s) => s >= t.status.state);
      changeTask(ls, t.id, (x) => {
        x.status.state = later[rng.int(later.length)];
        if (x.nodeId === '' && x.status.state > TaskState.PENDING) x.nodeId = `n${1 + rng.int(4)}`;
      });
    } else if (r === 3) {
      const t = tasks[rng.int(tasks.length)];
      changeTask(ls, t.id, (x) => (x.desiredState = TaskState.SHUTDOWN));
    } else if (r === 4) {
      ls.applyNow([deleteAction('task', tasks[rng.int(tasks.length)].id)]);
    } else {
      const id = `n${1 + rng.int(4)}`;
      changeNode(ls, id, (n) => {
        n.availability = rng.chance(0.7) ? 'active' : 'drain';
        n.description.cpus = 1 + rng.int(4);
      });
    }
    if (rng.chance(0.2)) await sleep(2); // let passes run in between
    if (step % 10 === 0) {
      await sched.pass(); // quiesce, then compare
      assert.deepEqual(viewImage(view), viewImage(ClusterView.fromStore(ls.store)), `step ${step}`);
    }
  }
  await sched.stop();
  assert.deepEqual(viewImage(view), viewImage(ClusterView.fromStore(ls.store)));
  assert.equal(ls.store.list('task').filter((t) => t.status.state === TaskState.ASSIGNED && t.nodeId === '').length, 0);
});
