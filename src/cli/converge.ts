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
import { TaskState, taskStateName, type Service, type Task } from '../api/objects.js';
import type { CliIo } from './command.js';
import type { Control } from './connection.js';
import { CliError } from './errors.js';
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
