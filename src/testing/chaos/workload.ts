// The clients of a chaos scenario: a few processes reading and writing
// registers through the Control API while faults happen, and the history of
// what they saw (history.ts's format, for the linearizability checker).
//
// A register is a service of 0 replicas whose label `chaos.value` holds the
// value (absent at first). A read is GetService. A write is GetService, then
// UpdateService with the version just read and the label set: the version
// check makes it a compare-and-set on the whole object, so an applied write
// changed exactly this label, and a write that lost a race (ABORTED) had no
// effect. Each register is its own service, so writes to different registers
// do not race.
//
// Outcomes: an answer is `ok`; an error the manager gives after deciding
// (version conflict, not found, invalid) is `fail` (nothing happened); a
// deadline, a broken connection or "unavailable" is `info`: the write may
// have happened, now or later. Reads that fail observed nothing.
import * as grpc from '@grpc/grpc-js';
import type { Control } from '../../cli/connection.js';
import { RpcError } from '../../cli/errors.js';
import type { CompletionType, HistoryEvent } from '../history.js';
import type { Prng } from '../prng.js';

export const REGISTER_LABEL = 'chaos.value';

/** gRPC codes a manager answers only after deciding the call changed nothing. */
const DEFINITE_FAILURES = new Set<number>([
  grpc.status.ABORTED,
  grpc.status.NOT_FOUND,
  grpc.status.INVALID_ARGUMENT,
  grpc.status.FAILED_PRECONDITION,
  grpc.status.ALREADY_EXISTS,
  grpc.status.PERMISSION_DENIED,
  grpc.status.UNAUTHENTICATED,
]);

/** How a failed write ended: `fail` when it certainly did not happen, `info` when it may have. */
export function writeOutcome(err: unknown): Exclude<CompletionType, 'ok'> {
  return err instanceof RpcError && DEFINITE_FAILURES.has(err.code) ? 'fail' : 'info';
}

/** Whether the error says the manager could not be reached or did not answer in time: try another one. */
function unreachable(err: unknown): boolean {
  return !(err instanceof RpcError) || err.code === grpc.status.UNAVAILABLE || err.code === grpc.status.DEADLINE_EXCEEDED || err.code === grpc.status.CANCELLED;
}

export interface WorkloadStats {
  reads: Record<CompletionType, number>;
  writes: Record<CompletionType, number>;
  /** ms on the workload's clock of the acknowledged writes, in order. */
  ackedWriteTimes: number[];
}

export interface RegisterWorkloadOptions<M extends string> {
  /** The register services (names). */
  registers: readonly string[];
  /** Client processes (default 4); client i starts with manager targets[i % n]. */
  clients?: number;
  targets: readonly M[];
  /** A fresh Control client of manager m (closed after each use). */
  api: (m: M) => Control;
  rng: Prng;
  /** Pause between a client's operations, ms (default 20..120). */
  thinkMs?: readonly [number, number];
  /** The clock of the history (default Date.now). */
  now?: () => number;
}

export class RegisterWorkload<M extends string> {
  readonly events: HistoryEvent[] = [];
  readonly stats: WorkloadStats = { reads: { ok: 0, fail: 0, info: 0 }, writes: { ok: 0, fail: 0, info: 0 }, ackedWriteTimes: [] };
  private stopped = false;
  private loops: Promise<void>[] = [];
  private readonly now: () => number;

  constructor(private readonly o: RegisterWorkloadOptions<M>) {
    this.now = o.now ?? Date.now;
  }

  start(): void {
    const n = this.o.clients ?? 4;
    for (let i = 0; i < n; i++) this.loops.push(this.client(i, this.o.rng.fork()));
  }

  /** Stops the clients after their current operation (each is bounded by its call deadlines). */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
    this.loops = [];
  }

  /**
   * Reads every register through manager `m` (as client process `process`),
   * retrying for up to `withinMs`; the reads go into the history. Resolves
   * with the values, or rejects with the last error.
   */
  async finalReads(m: M, process: number, withinMs: number): Promise<Map<string, string | null>> {
    const deadline = Date.now() + withinMs;
    const values = new Map<string, string | null>();
    for (const key of this.o.registers) {
      for (;;) {
        const api = this.o.api(m);
        try {
          values.set(key, await this.read(api, process, key));
          break;
        } catch (err) {
          if (Date.now() > deadline) throw err;
          await new Promise((r) => setTimeout(r, 500));
        } finally {
          api.close();
        }
      }
    }
    return values;
  }

  private async client(i: number, rng: Prng): Promise<void> {
    const { targets } = this.o;
    let target = targets[i % targets.length];
    let seq = 0;
    const [lo, hi] = this.o.thinkMs ?? [20, 120];
    while (!this.stopped) {
      const key = rng.pick(this.o.registers);
      const api = this.o.api(target);
      try {
        if (rng.chance(0.5)) await this.read(api, i, key);
        else await this.write(api, i, key, `c${i}-${++seq}`);
      } catch (err) {
        if (unreachable(err)) target = targets[(targets.indexOf(target) + 1) % targets.length];
      } finally {
        api.close();
      }
      await new Promise((r) => setTimeout(r, rng.range(lo, hi)));
    }
  }

  private record(process: number, type: HistoryEvent['type'], f: 'get' | 'put', key: string, value: string | null): void {
    this.events.push({ process, type, f, key, value, time: this.now() } as HistoryEvent);
  }

  /** One read; its completion is recorded; rethrows a failure (after recording it). */
  private async read(api: Control, process: number, key: string): Promise<string | null> {
    this.record(process, 'invoke', 'get', key, null);
    try {
      const res = await api.call('GetService', { serviceIdOrName: key });
      const value = res.service?.spec?.labels?.[REGISTER_LABEL] ?? null;
      this.record(process, 'ok', 'get', key, value);
      this.stats.reads.ok++;
      return value;
    } catch (err) {
      this.record(process, 'fail', 'get', key, null);
      this.stats.reads.fail++;
      throw err;
    }
  }

  private async write(api: Control, process: number, key: string, value: string): Promise<void> {
    this.record(process, 'invoke', 'put', key, value);
    let outcome: CompletionType = 'fail';
    try {
      const got = await api.call('GetService', { serviceIdOrName: key });
      const svc = got.service;
      if (!svc?.meta || !svc.spec) throw new Error(`GetService ${key}: no service in the answer`);
      // Past this point the write may be applied, whatever the answer.
      outcome = 'info';
      await api.call('UpdateService', {
        serviceId: svc.meta.id,
        version: svc.meta.version,
        spec: { ...svc.spec, labels: { ...svc.spec.labels, [REGISTER_LABEL]: value } },
      });
      outcome = 'ok';
      this.stats.ackedWriteTimes.push(this.now());
    } catch (err) {
      if (outcome === 'info') outcome = writeOutcome(err);
      throw err;
    } finally {
      this.record(process, outcome, 'put', key, value);
      this.stats.writes[outcome]++;
    }
  }
}
