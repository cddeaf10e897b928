// How the end of a container reads as a task status: the state, and a message a
// person can act on ("out of memory: limit 8 MiB ...", not "exit 137").
import { TaskState } from '../api/objects.js';
import type { ContainerObservation, HealthObservation, ShutdownResult } from './exec/executor.js';

export interface Outcome {
  state: TaskState;
  message: string;
  /** The error, for FAILED and REJECTED; '' otherwise. */
  err: string;
  exitCode: number;
}

const SIGNALS: Record<number, string> = { 1: 'SIGHUP', 2: 'SIGINT', 3: 'SIGQUIT', 4: 'SIGILL', 6: 'SIGABRT', 7: 'SIGBUS', 8: 'SIGFPE', 9: 'SIGKILL', 11: 'SIGSEGV', 13: 'SIGPIPE', 14: 'SIGALRM', 15: 'SIGTERM' };

/** 'SIGKILL' for exit code 137 (128 + 9); undefined when the code is not 128 + a signal. */
export function signalOfExitCode(code: number): string | undefined {
  return code > 128 && code < 160 ? (SIGNALS[code - 128] ?? `signal ${code - 128}`) : undefined;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(1)} ${units[i]}`;
}

function failed(message: string, exitCode: number): Outcome {
  return { state: TaskState.FAILED, message, err: message, exitCode };
}

/** A container that ended by itself (nobody in flotilla asked it to stop). */
export function exitOutcome(c: ContainerObservation): Outcome {
  const code = c.exitCode;
  if (c.oomKilled) {
    const limit = c.memoryLimitBytes > 0 ? ` of ${formatBytes(c.memoryLimitBytes)}` : '';
    return failed(`out of memory: the container hit its memory limit${limit} and was killed by the kernel's OOM killer (exit code ${code}); raise the memory limit or lower the task's memory use`, code);
  }
  if (c.oomSuspected) {
    const limit = c.memoryLimitBytes > 0 ? ` of ${formatBytes(c.memoryLimitBytes)}` : '';
    return failed(`out of memory (most likely): killed by SIGKILL (exit code ${code}) with a memory limit${limit} and not through the engine, which is what the kernel's OOM killer does when the limit is hit; raise the memory limit or lower the task's memory use`, code);
  }
  if (c.error) return failed(`the engine could not run the container: ${c.error} (exit code ${code})`, code);
  if (code === 0) return { state: TaskState.COMPLETE, message: 'finished (exit code 0)', err: '', exitCode: 0 };
  const signal = signalOfExitCode(code);
  if (signal) {
    return failed(`exited with code ${code} (killed by ${signal}) without flotilla asking it to stop: killed from outside (docker kill, the kernel) or crashed`, code);
  }
  return failed(`exited with non-zero code ${code}`, code);
}

/** A container stopped because its desired state is past RUNNING. */
export function shutdownOutcome(r: ShutdownResult, gracePeriodMs: number): Outcome {
  const code = r.container.exitCode;
  const message = r.forced
    ? `shut down: did not stop within its ${gracePeriodMs} ms grace period, killed with SIGKILL (exit code ${code})`
    : `shut down as requested (exit code ${code})`;
  return { state: TaskState.SHUTDOWN, message, err: '', exitCode: code };
}

/** A container stopped because its health check failed. */
export function unhealthyOutcome(h: HealthObservation, r: ShutdownResult | undefined): Outcome {
  const output = h.output ? `; last check output: ${JSON.stringify(h.output)}` : '';
  const streak = h.failingStreak > 0 ? ` ${h.failingStreak} time${h.failingStreak === 1 ? '' : 's'} in a row` : '';
  return failed(`unhealthy: the health check failed${streak}${output}; the container was stopped`, r?.container.exitCode ?? 0);
}
