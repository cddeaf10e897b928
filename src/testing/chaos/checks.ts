// The checks a chaos scenario makes once the cluster has healed, as pure
// functions of what was observed, so each can be tested on made-up histories:
//   - no acknowledged write lost (from the client history and the final reads);
//   - no slot running twice beyond a bound (from samples of the host's containers);
//   - no two leaders in one term (from what the managers said);
//   - the client history is linearizable (checkLinearizable, here wrapped).
import type { HistoryEvent } from '../history.js';
import { pairOperations } from '../history.js';
import { checkLinearizable } from '../linearizability.js';

/** One named check: what it found, in a line. */
export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
}

export function pass(name: string, detail: string): CheckResult {
  return { name, ok: true, detail };
}

export function fail(name: string, detail: string): CheckResult {
  return { name, ok: false, detail };
}

/**
 * Acknowledged writes that the final state lost. For each key, the final value
 * must come from a write P (values are unique) such that no acknowledged write
 * Q began after P had returned: Q would then be ordered after P, and the final
 * value could not be P's. A key that reads absent loses every acknowledged
 * write of it. `finalValues` holds what the final reads returned, per key.
 */
export function lostWrites(events: readonly HistoryEvent[], finalValues: ReadonlyMap<string, string | null>): string[] {
  const ops = pairOperations(events).filter((o) => o.f === 'put');
  const problems: string[] = [];
  for (const [key, value] of finalValues) {
    const acked = ops.filter((o) => o.key === key && o.result === 'ok');
    if (value === null) {
      if (acked.length) problems.push(`key ${key} reads absent after ${acked.length} acknowledged writes (the last: ${String(acked[acked.length - 1].invokeValue)})`);
      continue;
    }
    const writer = ops.find((o) => o.key === key && o.invokeValue === value);
    if (!writer) {
      problems.push(`key ${key} reads ${JSON.stringify(value)}, which no client wrote`);
      continue;
    }
    if (writer.result === 'fail') {
      problems.push(`key ${key} reads ${JSON.stringify(value)}, whose write was answered as failed`);
      continue;
    }
    const later = acked.filter((q) => q.invokeIndex > writer.returnIndex);
    if (later.length) {
      problems.push(
        `key ${key} reads ${JSON.stringify(value)}, but ${later.length} acknowledged writes began after that write returned (lost, the first: ${String(later[0].invokeValue)})`,
      );
    }
  }
  return problems;
}

/** Running task containers per slot at one moment (only slots with at least one). */
export interface SlotSample {
  /** ms, on the scenario's clock. */
  t: number;
  counts: ReadonlyMap<number, number>;
}

/** A stretch of time during which a slot ran in more than one container. */
export interface DuplicateEpisode {
  slot: number;
  /** First sample that saw it. */
  start: number;
  /** First sample that no longer saw it; Infinity when the last sample still did. */
  end: number;
}

/** The episodes of slots running twice (or more) in a series of samples taken in time order. */
export function duplicateEpisodes(samples: readonly SlotSample[]): DuplicateEpisode[] {
  const open = new Map<number, number>();
  const out: DuplicateEpisode[] = [];
  for (const s of samples) {
    for (const [slot, start] of open) {
      if ((s.counts.get(slot) ?? 0) < 2) {
        out.push({ slot, start, end: s.t });
        open.delete(slot);
      }
    }
    for (const [slot, n] of s.counts) if (n > 1 && !open.has(slot)) open.set(slot, s.t);
  }
  for (const [slot, start] of open) out.push({ slot, start, end: Infinity });
  return out.sort((a, b) => a.start - b.start || a.slot - b.slot);
}

/**
 * Every duplicate must be gone within `boundMs`, counted from its start or,
 * for a fault that keeps a node's containers out of reach (a partitioned
 * worker cannot be told to stop them), from the heal (`allowedUntil`).
 */
export function duplicatesBounded(episodes: readonly DuplicateEpisode[], boundMs: number, allowedUntil = -Infinity): CheckResult {
  const name = 'no slot runs twice beyond a bounded time';
  const late = episodes.filter((e) => e.end > Math.max(e.start, allowedUntil) + boundMs);
  const longest = episodes.reduce((m, e) => Math.max(m, e.end - e.start), 0);
  if (late.length) {
    const e = late[0];
    const how = e.end === Infinity ? 'still running twice at the end' : `ran twice for ${((e.end - e.start) / 1000).toFixed(1)} s`;
    return fail(name, `slot ${e.slot} ${how} (bound ${boundMs / 1000} s${allowedUntil > -Infinity ? ' after the heal' : ''}); ${late.length} such episodes`);
  }
  if (!episodes.length) return pass(name, 'no slot ever ran twice');
  return pass(name, `${episodes.length} episodes of a slot running twice, the longest ${(longest / 1000).toFixed(1)} s, all ended within ${boundMs / 1000} s${allowedUntil > -Infinity ? ' of the heal' : ''}`);
}

/** What one manager said about the leader, at one moment. */
export interface LeaderObservation {
  t: number;
  via: string;
  leaderId: string;
  term: number;
}

/** Raft's election safety: at most one leader per term, among everything any manager answered. */
export function oneLeaderPerTerm(obs: readonly LeaderObservation[]): CheckResult {
  const name = 'at most one leader per term';
  const byTerm = new Map<number, Set<string>>();
  for (const o of obs) {
    if (!o.leaderId) continue;
    const set = byTerm.get(o.term) ?? new Set<string>();
    set.add(o.leaderId);
    byTerm.set(o.term, set);
  }
  for (const [term, leaders] of byTerm) {
    if (leaders.size > 1) return fail(name, `term ${term} had ${leaders.size} leaders: ${[...leaders].join(', ')}`);
  }
  const terms = [...byTerm.keys()].sort((a, b) => a - b);
  return pass(name, `terms seen: ${terms.join(', ') || 'none'}, one leader each`);
}

/** The linearizability check, as a CheckResult. */
export function linearizable(events: HistoryEvent[]): CheckResult {
  const name = 'the client history is linearizable';
  const r = checkLinearizable(events);
  if (r.ok === true) return pass(name, `${r.ops} operations on ${r.keys} keys`);
  if (r.ok === 'unknown') return fail(name, `undecided: ${r.reason}`);
  return fail(name, r.reason);
}
