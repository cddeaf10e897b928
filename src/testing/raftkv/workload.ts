// Jepsen-style clients for the raftkv fixture: concurrent processes doing
// put/get/append/cas against the cluster while faults happen, recording the
// history in the simulator's JSON-lines format for the linearizability checker.
import * as grpc from '@grpc/grpc-js';
import type { HistoryEvent } from '../history.js';
import { Prng } from '../prng.js';
import { KvTestClient, type KvCallError } from './proto.js';

export interface WorkloadOptions {
  addresses: string[];
  clients: number;
  keys: number;
  durationMs: number;
  seed: number;
  /** How long one operation may keep retrying before its outcome is unknown (info). */
  opDeadlineMs?: number;
  /** Ends the workload before `durationMs`: no operation starts after it fires (those under way finish). */
  signal?: AbortSignal;
  /** Called with the count of acknowledged writes after each one, so a caller can act on progress, not on time. */
  onAcknowledged?: (count: number) => void;
}

export interface WorkloadResult {
  history: HistoryEvent[];
  ok: number;
  info: number;
  fail: number;
  /** Writes acknowledged as applied: key -> values, for durability checks. */
  acknowledged: { key: string; f: 'put' | 'append' | 'cas'; value: string }[];
}

type Outcome = { type: 'ok'; value: string | null } | { type: 'fail' } | { type: 'info' };

/** One client process: its own session, one operation at a time, following the leader. */
class Process {
  seq = 0;
  hint = 0;
  readonly conns: KvTestClient[];

  constructor(
    readonly id: number,
    readonly session: string,
    addresses: string[],
  ) {
    this.conns = addresses.map((a) => new KvTestClient(a));
  }

  private target(): KvTestClient {
    return this.conns[this.hint % this.conns.length];
  }

  private follow(err: KvCallError): void {
    const i = this.conns.findIndex((c) => c.address === err.leaderAddress);
    this.hint = i >= 0 ? i : this.hint + 1;
  }

  /** A write retried (same session and seq: at most once) until it is answered or the deadline passes. */
  async write(op: 'put' | 'append' | 'cas', key: string, value: string, expected: string | null, deadline: number): Promise<Outcome> {
    const seq = ++this.seq;
    while (Date.now() < deadline) {
      try {
        const r = await this.target().write(
          { session: { client: this.session, seq }, op, key, value, hasExpected: expected !== null, expected: expected ?? '' },
          Math.max(50, Math.min(3000, deadline - Date.now())),
        );
        return op === 'cas' && !r.ok ? { type: 'fail' } : { type: 'ok', value };
      } catch (e) {
        const err = e as KvCallError;
        if (err.code === grpc.status.INVALID_ARGUMENT) throw err;
        this.follow(err);
        await sleep(err.code === grpc.status.FAILED_PRECONDITION && err.leaderAddress ? 5 : 50);
      }
    }
    return { type: 'info' };
  }

  /** A read has no effect: when it cannot be answered in time it simply failed. */
  async get(key: string, deadline: number): Promise<Outcome> {
    while (Date.now() < deadline) {
      try {
        const r = await this.target().get(key, Math.max(50, Math.min(3000, deadline - Date.now())));
        return { type: 'ok', value: r.found ? r.value : null };
      } catch (e) {
        const err = e as KvCallError;
        if (err.code === grpc.status.INVALID_ARGUMENT) throw err;
        this.follow(err);
        await sleep(50);
      }
    }
    return { type: 'fail' };
  }

  close(): void {
    for (const c of this.conns) c.close();
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Run `clients` concurrent processes for `durationMs`; resolves with the history once all are done. */
export async function runWorkload(o: WorkloadOptions): Promise<WorkloadResult> {
  const rng = new Prng(o.seed);
  const t0 = performance.now();
  const now = (): number => Math.round((performance.now() - t0) * 1000) / 1000;
  const history: HistoryEvent[] = [];
  const res: WorkloadResult = { history, ok: 0, info: 0, fail: 0, acknowledged: [] };
  const end = Date.now() + o.durationMs;
  const deadlineMs = o.opDeadlineMs ?? 4000;
  let nextProcess = 0;
  let written = 0;
  const lastSeen = new Map<string, string | null>();

  const worker = async (slot: number): Promise<void> => {
    let p = new Process(nextProcess++, `c${o.seed}-${slot}-${Date.now()}`, o.addresses);
    p.hint = slot;
    while (Date.now() < end && !o.signal?.aborted) {
      const f = rng.pick(['put', 'get', 'get', 'append', 'cas'] as const);
      const key = `k${rng.int(o.keys)}`;
      const value = `[${p.id}.${written++}]`;
      const expected = f === 'cas' ? (rng.chance(0.2) ? null : (lastSeen.get(key) ?? null)) : null;
      const base = { process: p.id, key };
      const invokeValue = f === 'get' ? null : f === 'cas' ? ([expected, value] as [string | null, string]) : value;
      history.push(event(base, f, 'invoke', invokeValue, now()));
      const deadline = Date.now() + deadlineMs;
      const out = f === 'get' ? await p.get(key, deadline) : await p.write(f, key, value, expected, deadline);
      if (out.type === 'ok') {
        res.ok++;
        if (f === 'get' || f === 'put') lastSeen.set(key, out.value);
        if (f !== 'get') {
          res.acknowledged.push({ key, f, value });
          o.onAcknowledged?.(res.acknowledged.length);
        }
        history.push(event(base, f, 'ok', f === 'get' ? out.value : invokeValue, now()));
      } else {
        res[out.type]++;
        history.push(event(base, f, out.type, f === 'get' ? null : invokeValue, now()));
        if (out.type === 'info') {
          // Unknown outcome: this process is done (Jepsen's rule); a new one takes the slot.
          p.close();
          p = new Process(nextProcess++, `c${o.seed}-${slot}-${Date.now()}-${nextProcess}`, o.addresses);
          p.hint = slot;
        }
      }
    }
    p.close();
  };
  await Promise.all(Array.from({ length: o.clients }, (_, i) => worker(i)));
  return res;
}

function event(base: { process: number; key: string }, f: 'put' | 'get' | 'append' | 'cas', type: HistoryEvent['type'], value: string | null | [string | null, string], time: number): HistoryEvent {
  if (f === 'cas') return { ...base, f, type, value: value as [string | null, string], time };
  if (f === 'get') return type === 'ok' ? { ...base, f, type: 'ok', value: value as string | null, time } : { ...base, f, type, value: null, time };
  return { ...base, f, type, value: value as string, time };
}
