// Waiting for a service to converge after create / update / scale, with
// docker's progress lines:
//   overall progress: 2 out of 3 tasks
//   1/3: running
//   2/3: running
//   3/3: no suitable node (insufficient resources on 2 nodes)
//   verify: Service converged
// A service has converged when every slot it wants (replicated: 1..replicas;
// global: one per node it has tasks for) has a RUNNING task with the current
// spec, and no other task of it still runs. Progress lines are printed when
// they change (plain lines: they read well in a terminal and in a log).
//
// `service update` and `service rollback` also follow the update status the
// leader's updater writes, as docker/cli's service/progress/progress.go:
// paused and rollback_paused fail, rollback_started shows the rollback's
// progress ("rollback: <message>"), a rollback that completes after an update
// fails the command (docker exits 0 there; an operator's script must see that
// its release did not go out), canaries awaiting promotion end the wait (the
// operator promotes them), and completed is "verify: Service converged".
import { performance } from 'node:perf_hooks';
import * as grpc from './grpc-codes.js';
import { TaskState, taskStateName, type Service, type Task, type UpdateState } from '../api/objects.js';
import type { CliIo } from './command.js';
import type { Control } from './connection.js';
import { CliError, RpcError } from './errors.js';
import { findService, listTasks } from './lookup.js';

const POLL_MS = 300;

export interface ConvergeOptions {
  /** Print nothing (for -q); still waits. */
  quiet?: boolean;
  /** Give up after this long (default: wait until converged or interrupted, as docker does). */
  timeoutMs?: number;
}

function sameSpec(t: Task, s: Service): boolean {
  return JSON.stringify(t.spec) === JSON.stringify(s.spec.taskTemplate) && JSON.stringify(t.endpoint) === JSON.stringify(s.spec.endpoint);
}

function live(t: Task): boolean {
  return t.desiredState <= TaskState.RUNNING && t.status.state <= TaskState.RUNNING;
}

export interface Progress {
  converged: boolean;
  running: number;
  wanted: number;
  lines: string[];
}

/** Where a service stands (pure, for tests). */
export function progressOf(service: Service, tasks: readonly Task[]): Progress {
  const mine = tasks.filter((t) => t.serviceId === service.id);
  const replicated = 'replicated' in service.spec.mode;
  const keys = replicated
    ? Array.from({ length: 'replicated' in service.spec.mode ? service.spec.mode.replicated.replicas : 0 }, (_, i) => String(i + 1))
    : [...new Set(mine.filter((t) => t.desiredState <= TaskState.RUNNING).map((t) => t.nodeId))].sort();
  const keyOf = (t: Task): string => (replicated ? String(t.slot) : t.nodeId);
  const lines: string[] = [];
  let running = 0;
  keys.forEach((key, i) => {
    const candidates = mine.filter((t) => keyOf(t) === key && t.desiredState <= TaskState.RUNNING).sort((a, b) => b.createdAt - a.createdAt);
    const t = candidates[0];
    const ok = t !== undefined && t.status.state === TaskState.RUNNING && sameSpec(t, service);
    if (ok) running++;
    const state = t === undefined ? 'new' : t.status.err && t.status.state <= TaskState.PENDING ? t.status.err : taskStateName(t.status.state).toLowerCase();
    lines.push(`${i + 1}/${keys.length}: ${state}`);
  });
  const stray = mine.filter((t) => live(t) && !keys.includes(keyOf(t))).length + mine.filter((t) => t.desiredState > TaskState.RUNNING && t.status.state === TaskState.RUNNING).length;
  return { converged: running === keys.length && stray === 0 && (keys.length > 0 || replicated), running, wanted: keys.length, lines };
}

export async function waitConverged(control: Control, io: CliIo, serviceId: string, o: ConvergeOptions = {}): Promise<void> {
  const start = io.now();
  let last = '';
  for (;;) {
    const service = await findService(control, serviceId);
    const p = progressOf(service, await listTasks(control, { serviceIds: [service.id] }));
    const text = [`overall progress: ${p.running} out of ${p.wanted} tasks`, ...p.lines].join('\n');
    if (!o.quiet && text !== last) io.out(text + '\n');
    last = text;
    if (p.converged) {
      if (!o.quiet) io.out('verify: Service converged\n');
      return;
    }
    if (o.timeoutMs !== undefined && io.now() - start > o.timeoutMs) {
      throw new CliError(`service ${service.spec.name} did not converge within ${Math.round(o.timeoutMs / 1000)} s: see \`flotilla service ps ${service.spec.name}\``);
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** Reads tried this many times when the manager is unreachable or has no leader (a leader change). */
const READ_ATTEMPTS = 5;

/** `read()`, tried again a few times (with a growing pause) while the cluster elects a leader or a manager restarts. */
async function readRetrying<T>(read: () => Promise<T>): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await read();
    } catch (err) {
      const transient = err instanceof RpcError && (err.code === grpc.status.UNAVAILABLE || err.code === grpc.status.DEADLINE_EXCEEDED);
      if (!transient || i >= READ_ATTEMPTS) throw err;
      await new Promise((r) => setTimeout(r, POLL_MS * i));
    }
  }
}

const TERMINAL: readonly UpdateState[] = ['completed', 'rollback_completed'];

export interface UpdateWatch {
  /** What the command started: an update (`service update`) or a rollback (`service rollback`, `service update --rollback`). */
  op: 'update' | 'rollback';
  /**
   * The service's version the command sent its change with (or read, when it
   * sent nothing): a completed status of an update that started before it is
   * an earlier update's, not this one's. Statuses under way or paused are
   * the service's present whatever their age.
   */
  since: number;
  quiet?: boolean;
}

/**
 * Follow an update or rollback to its end (bounded only by the update, as
 * docker): resolves when it completed (or canaries await promotion), throws
 * a CliError (exit 1) when it paused, or when an update was rolled back.
 */
export async function waitUpdated(control: Control, io: CliIo, serviceId: string, w: UpdateWatch): Promise<void> {
  const say = (line: string): void => {
    if (!w.quiet) io.out(line + '\n');
  };
  let rollback = false;
  let last = '';
  let lastVerify = '';
  let convergedAt: number | undefined;
  for (;;) {
    const service = await readRetrying(() => findService(control, serviceId));
    const tasks = await readRetrying(() => listTasks(control, { serviceIds: [service.id] }));
    const st = service.updateStatus;
    const current = st !== undefined && (!TERMINAL.includes(st.state) || st.startVersion >= w.since) ? st : undefined;
    if (current?.state === 'updating') rollback = false;
    if (current?.state === 'rollback_started' && !rollback) {
      if (current.message) say(`rollback: ${current.message}`);
      rollback = true;
    }
    const p = progressOf(service, tasks);
    const text = [`overall progress: ${rollback ? 'rolling back update: ' : ''}${p.running} out of ${p.wanted} tasks`, ...p.lines].join('\n');
    if (text !== last) say(text);
    last = text;
    switch (current?.state) {
      case 'paused':
        throw new CliError(`service update paused: ${current.message}`);
      case 'rollback_paused':
        throw new CliError(`service rollback paused: ${current.message}`);
      case 'completed':
        say('verify: Service converged');
        return;
      case 'rollback_completed':
        if (w.op === 'rollback') {
          say('verify: Service converged');
          return;
        }
        say(`rollback: ${current.message}`);
        throw new CliError(`service rolled back: ${current.message}`);
      case 'updating':
        if (current.canary === 'awaiting_promotion') {
          const n = service.spec.updateConfig.canary;
          say(`canary: ${n} of ${n} canaries healthy: promote with \`flotilla service promote ${service.spec.name}\``);
          return;
        }
        break;
      default:
        break;
    }
    // No update of ours under way (nothing to update, a change of labels or
    // replicas): converged and stable for the monitor period, as docker.
    if (p.converged) {
      const now = performance.now();
      convergedAt ??= now;
      const monitor = (rollback ? service.spec.rollbackConfig : service.spec.updateConfig).monitorMs;
      const wait = monitor - (now - convergedAt);
      if (wait >= 0) {
        const verify = `verify: Waiting ${Math.floor(wait / 1000) + 1} seconds to verify that tasks are stable...`;
        if (verify !== lastVerify) say(verify);
        lastVerify = verify;
      } else if (current === undefined) {
        say('verify: Service converged');
        return;
      }
    } else {
      if (convergedAt !== undefined) say('verify: Detected task failure');
      convergedAt = undefined;
      lastVerify = '';
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}
