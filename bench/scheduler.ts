// Benchmark of the scheduler, in process and without Raft: N hollow nodes
// (plain Node objects in the store, no agent behind them) and M pending tasks
// in a ClusterStore whose write path applies each transaction at the next
// index, as a one-manager Raft would (so the time includes encoding,
// validating and applying the transactions). One pass places every task.
// Prints one JSON line per scenario:
//
//   {"bench":"scheduler-pass","scenario":"spread","nodes":1000,"tasks":50000,"seconds":..,"tasksPerSec":..,"heapMB":..,...}
//
// "seconds" is the wall time of Scheduler.pass(); "cpuSeconds" its CPU time;
// "planSeconds" the scheduler's own work alone (building a view from the
// store and planPass over it, no writes), measured separately on the same state.
//
//   npx tsc -p tsconfig.json && node dist/bench/scheduler.js [--nodes N] [--tasks M] [--services S] [--scenario spread|mixed]
import { newTask } from '../src/manager/orchestrator/task-factory.js';
import type { ControllerContext } from '../src/manager/controller.js';
import { planPass } from '../src/manager/scheduler/planner.js';
import { Scheduler } from '../src/manager/scheduler/scheduler.js';
import { ClusterView } from '../src/manager/scheduler/view.js';
import { ClusterStore, createAction, encodeTx, unwrapTx, type Action } from '../src/manager/store/store.js';
import { TaskState, type Node, type Service, type Task, type TaskTemplate } from '../src/api/objects.js';

type Scenario = 'spread' | 'mixed';

interface Args {
  nodes: number;
  tasks: number;
  services: number;
  scenarios: Scenario[];
}

function parseArgs(argv: string[]): Args {
  const a: Args = { nodes: 1000, tasks: 50_000, services: 50, scenarios: ['spread', 'mixed'] };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    const num = (): number => {
      if (!v || !/^\d+$/.test(v) || Number(v) < 1) throw new Error(`${argv[i]} needs a positive integer`);
      i++;
      return Number(v);
    };
    if (argv[i] === '--nodes') a.nodes = num();
    else if (argv[i] === '--tasks') a.tasks = num();
    else if (argv[i] === '--services') a.services = num();
    else if (argv[i] === '--scenario') {
      if (v !== 'spread' && v !== 'mixed') throw new Error('--scenario is spread or mixed');
      a.scenarios = [v];
      i++;
    } else throw new Error(`unknown option ${argv[i]}`);
  }
  return a;
}

const T0 = 1_700_000_000_000;
const pad = (n: number): string => String(n).padStart(5, '0');

/** A hollow node: a Node object in the store, ready and active, with no agent behind it. */
function hollowNode(i: number): Node {
  const id = `hollow-${pad(i)}`;
  return {
    id,
    version: 0,
    createdAt: T0,
    updatedAt: T0,
    role: i % 100 === 0 ? 'manager' : 'worker',
    availability: 'active',
    labels: { zone: `z${i % 10}`, rack: `r${i % 40}` },
    description: { hostname: id, cpus: 16, memoryBytes: 64 * 2 ** 30, engineVersion: '24.0.7', platform: { os: 'linux', arch: 'x86_64' } },
    status: { state: 'ready', message: '', address: `10.0.${i >> 8}.${i & 255}` },
  };
}

function template(scenario: Scenario, s: number): TaskTemplate {
  const t: TaskTemplate = {
    container: { image: 'busybox:latest', command: ['sleep'], args: ['3600'], env: [], dir: '', user: '', mounts: [], stopGracePeriodMs: 10_000 },
    resources: { limits: { nanoCpus: 0, memoryBytes: 0 }, reservations: { nanoCpus: 0, memoryBytes: 0 } },
    restartPolicy: { condition: 'any', delayMs: 5_000, maxAttempts: 0, windowMs: 0, maxDelayMs: 300_000 },
    placement: { constraints: [], preferences: [] },
    forceUpdate: 0,
  };
  if (scenario === 'mixed') {
    // A mix of what services ask for: reservations, constraints, a zone preference.
    if (s % 2 === 0) t.resources.reservations = { nanoCpus: 100_000_000, memoryBytes: 128 * 2 ** 20 };
    if (s % 3 === 0) t.placement.constraints = ['node.role==worker', 'node.labels.zone!=z0'];
    if (s % 5 === 0) t.placement.preferences = [{ spread: 'node.labels.zone' }];
  }
  return t;
}

function service(scenario: Scenario, s: number): Service {
  return {
    id: `svc-${pad(s)}`,
    version: 0,
    createdAt: T0,
    updatedAt: T0,
    spec: {
      name: `svc-${pad(s)}`,
      labels: {},
      taskTemplate: template(scenario, s),
      mode: { replicated: { replicas: 1 } },
      updateConfig: { parallelism: 1, delayMs: 0, failureAction: 'pause', monitorMs: 5_000, maxFailureRatio: 0, order: 'stop-first', canary: 0, autoPromote: false, progressDeadlineMs: 0 },
      rollbackConfig: { parallelism: 1, delayMs: 0, failureAction: 'pause', monitorMs: 5_000, maxFailureRatio: 0, order: 'stop-first', canary: 0, autoPromote: false, progressDeadlineMs: 0 },
      endpoint: { ports: [] },
    },
    specVersion: 0,
  };
}

/** The orchestrator's new task, with an id that sorts by slot (the benchmark's runs stay comparable). */
function pendingTask(svc: Service, slot: number): Task {
  return { ...newTask(svc, slot, '', T0), id: `${svc.id}-${pad(slot)}` };
}

async function run(scenario: Scenario, a: Args): Promise<Record<string, unknown>> {
  const store = new ClusterStore();
  let index = 0;
  let transactions = 0;
  const apply = (actions: readonly Action[]): void => {
    unwrapTx(store.apply(encodeTx(actions), ++index));
  };
  const inChunks = (actions: Action[]): void => {
    for (let i = 0; i < actions.length; i += 5_000) apply(actions.slice(i, i + 5_000));
  };
  inChunks(Array.from({ length: a.nodes }, (_, i) => createAction('node', hollowNode(i + 1))));
  const services = Array.from({ length: a.services }, (_, s) => service(scenario, s + 1));
  apply(services.map((s) => createAction('service', s)));
  const tasks: Action[] = [];
  for (let i = 0; i < a.tasks; i++) {
    const svc = services[i % services.length];
    tasks.push(createAction('task', pendingTask(svc, Math.floor(i / services.length) + 1)));
  }
  inChunks(tasks);

  // The decisions alone, on a throw-away view of the same state.
  const planStart = performance.now();
  const plan = planPass(ClusterView.fromStore(store), T0);
  const planSeconds = (performance.now() - planStart) / 1000;
  if (plan.assignments.length !== a.tasks) throw new Error(`planned ${plan.assignments.length} of ${a.tasks} tasks`);

  const ctx: ControllerContext = {
    store,
    now: () => T0,
    write: async (actions) => {
      await Promise.resolve();
      transactions++;
      return unwrapTx(store.apply(encodeTx(actions), ++index));
    },
  };
  const sched = new Scheduler(ctx);
  if (global.gc) global.gc();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const placed = await sched.pass();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  if (placed !== a.tasks) throw new Error(`placed ${placed} of ${a.tasks} tasks`);
  const left = store.list('task', { where: (t) => t.status.state === TaskState.PENDING }).length;
  if (left !== 0) throw new Error(`${left} tasks still pending`);
  return {
    bench: 'scheduler-pass',
    scenario,
    nodes: a.nodes,
    tasks: a.tasks,
    services: a.services,
    seconds: round(seconds),
    tasksPerSec: Math.round(a.tasks / seconds),
    cpuSeconds: round((cpu.user + cpu.system) / 1e6),
    planSeconds: round(planSeconds),
    transactions,
    heapMB: Math.round(process.memoryUsage().heapUsed / 2 ** 20),
  };
}

const round = (x: number): number => Math.round(x * 1000) / 1000;

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  for (const scenario of a.scenarios) process.stdout.write(`${JSON.stringify(await run(scenario, a))}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
