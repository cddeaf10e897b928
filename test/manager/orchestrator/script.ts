// Script tests for the update and restart decisions, in the style of
// etcd-io/raft's: a test is a table of steps, each an action (a user's write,
// an agent's report, the clock moving) followed by one orchestrator pass, and
// the state asserted after it. Only the fields a step names are compared, so
// a row says what that transition is about.
import assert from 'node:assert/strict';
import { SpecMatcher, isLive } from '../../../src/manager/orchestrator/index.js';
import { TaskState, type CanaryState, type Service, type RestartPolicy, type Task, type UpdateConfig, type UpdateState } from '../../../src/api/objects.js';
import { Harness } from './fixtures.js';
import { serviceSpec } from '../store-fixtures.js';

/** What a step can assert about service s1 (counts are of the service's tasks). */
export interface View {
  /** The stored update status ('none' when there is none). */
  state: UpdateState | 'none';
  message: string;
  canary: CanaryState | 'none';
  /** Live tasks of an older spec than the service's. */
  old: number;
  /** Of those, RUNNING. */
  oldRunning: number;
  /** Live tasks of the service's current spec. */
  new: number;
  /** Of those, RUNNING. */
  newRunning: number;
  /** Tasks asked to stop whose agent has not stopped them yet. */
  stopping: number;
  /** Every task of the service, ended ones included. */
  tasks: number;
  /** Tasks marked as failures of an update. */
  failures: number;
  /** The image of the service's spec, and of its previous spec ('' = none). */
  image: string;
  previous: string;
}

export const NODES = ['n1', 'n2'];

export function view(h: Harness, id = 's1'): View {
  const svc = h.service(id);
  const m = new SpecMatcher(svc);
  const tasks = h.tasks(id);
  const live = tasks.filter(isLive);
  const running = (t: Task): boolean => t.status.state === TaskState.RUNNING;
  const st = svc.updateStatus;
  return {
    state: st?.state ?? 'none',
    message: st?.message ?? '',
    canary: st?.canary ?? 'none',
    old: live.filter((t) => !m.isCurrent(t)).length,
    oldRunning: live.filter((t) => !m.isCurrent(t) && running(t)).length,
    new: live.filter((t) => m.isCurrent(t)).length,
    newRunning: live.filter((t) => m.isCurrent(t) && running(t)).length,
    stopping: tasks.filter((t) => t.desiredState > TaskState.RUNNING && t.status.state <= TaskState.RUNNING && t.status.state >= TaskState.ASSIGNED).length,
    tasks: tasks.length,
    failures: tasks.filter((t) => t.updateFailure).length,
    image: svc.spec.taskTemplate.container.image,
    previous: svc.previousSpec?.taskTemplate.container.image ?? '',
  };
}

export function expectView(h: Harness, want: Partial<View>, what: string, id = 's1'): void {
  const got = view(h, id);
  const picked: Partial<View> = {};
  for (const k of Object.keys(want) as Array<keyof View>) (picked as Record<string, unknown>)[k] = got[k];
  assert.deepEqual(picked, want, `${what} (t=${h.now}): ${JSON.stringify(got)}`);
}

/** A step: what happens, then one pass of the orchestrators, then what must hold. */
export type Step = [what: string, action: (h: Harness) => unknown, want: Partial<View>, check?: (h: Harness) => void];

export async function script(h: Harness, steps: readonly Step[], id = 's1'): Promise<void> {
  for (const [what, action, want, check] of steps) {
    await action(h);
    await h.reconcile();
    expectView(h, want, what, id);
    check?.(h);
  }
}

// Actions.

export const nothing = (): void => undefined;

export const advance =
  (ms: number) =>
  (h: Harness): void => {
    h.advance(ms);
  };

/** The agents stop what they were asked to stop; a pass fills the slots; the scheduler and agents run what is new. */
export async function agents(h: Harness, id = 's1'): Promise<void> {
  h.stopRequested(id);
  await h.reconcile();
  h.converge(id, NODES);
}

/** Schedule and run every pending task. */
export const converge = (h: Harness): void => h.converge('s1', NODES);

export const newImage =
  (image = 'busybox:2') =>
  (h: Harness): Service =>
    h.updateService('s1', (s) => {
      s.taskTemplate.container.image = image;
    });

/** The live tasks of the current spec, oldest first. */
export function newTasks(h: Harness, id = 's1'): Task[] {
  const m = new SpecMatcher(h.service(id));
  return h.live(id).filter((t) => m.isCurrent(t));
}

/** The newest live task of the current spec. */
export function newest(h: Harness, id = 's1'): Task {
  const all = newTasks(h, id).sort((a, b) => a.createdAt - b.createdAt || a.version - b.version);
  const t = all.at(-1);
  assert.ok(t, 'a live task of the current spec');
  return t;
}

/** The agent reports the newest live task of the current spec ended (REJECTED before it ran, FAILED after). */
export const failNewest =
  (state: TaskState = TaskState.FAILED, remember?: (t: Task) => void) =>
  (h: Harness): void => {
    const t = newest(h);
    remember?.(t);
    h.report(t.id, state, { exitCode: state === TaskState.FAILED ? 1 : 0 });
  };

/** A replicated service s1 on n1 and n2, every task RUNNING, with this update (and rollback) config and restart policy. */
export async function runningService(replicas: number, update: Partial<UpdateConfig> = {}, rollback: Partial<UpdateConfig> = {}, restart: Partial<RestartPolicy> = {}): Promise<Harness> {
  const h = new Harness();
  for (const n of NODES) h.addNode(n);
  const spec = serviceSpec('x');
  h.replicated('s1', replicas, {
    updateConfig: { ...spec.updateConfig, ...update },
    rollbackConfig: { ...spec.rollbackConfig, ...rollback },
    taskTemplate: { ...spec.taskTemplate, restartPolicy: { ...spec.taskTemplate.restartPolicy, ...restart } },
  });
  await h.reconcile();
  h.converge('s1', NODES);
  await h.reconcile();
  return h;
}

/** Live tasks that are RUNNING and desired RUNNING: what serves. */
export const serving = (h: Harness, id = 's1'): number => h.live(id).filter((t) => t.status.state === TaskState.RUNNING).length;
