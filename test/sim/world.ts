// Simulated time and network. One event queue orders everything by (time,
// insertion order), so a run is a pure function of its seed.
import type { Prng } from '../../src/testing/prng.js';
import type { NodeId } from '../../src/raft/types.js';

interface Event {
  time: number;
  seq: number;
  fn: () => void;
}

/** A binary min-heap of events by (time, seq). */
export class EventQueue {
  private heap: Event[] = [];
  private seq = 0;
  now = 0;

  at(time: number, fn: () => void): void {
    const e: Event = { time: Math.max(time, this.now), seq: this.seq++, fn };
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (less(h[p], e)) break;
      h[i] = h[p];
      i = p;
    }
    h[i] = e;
  }

  after(delay: number, fn: () => void): void {
    this.at(this.now + delay, fn);
  }

  get size(): number {
    return this.heap.length;
  }

  /** Run the next event; false when there is none or it is later than `until`. */
  runNext(until: number): boolean {
    const h = this.heap;
    if (h.length === 0 || h[0].time > until) return false;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      let i = 0;
      const n = h.length;
      while (true) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && less(h[r], h[l]) ? r : l;
        if (less(last, h[c])) break;
        h[i] = h[c];
        i = c;
      }
      h[i] = last;
    }
    this.now = top.time;
    top.fn();
    return true;
  }
}

function less(a: Event, b: Event): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq);
}

export interface NetworkQuality {
  /** Probability that a message is lost. */
  drop: number;
  /** Probability that a message is delivered twice. */
  duplicate: number;
  /** Base one-way delay. */
  delay: number;
  /** Extra random delay in [0, jitter]; messages overtake each other (reordering). */
  jitter: number;
}

export const CLEAN_NETWORK: NetworkQuality = { drop: 0, duplicate: 0, delay: 2, jitter: 3 };

/**
 * Which directed links are cut. Symmetric partitions cut both directions;
 * asymmetric ones cut only some; a one-way partition cuts one node's
 * outgoing (or incoming) links only.
 */
export class Partitions {
  private cut = new Set<string>();

  blocked(from: NodeId, to: NodeId): boolean {
    return this.cut.size > 0 && this.cut.has(from + '>' + to);
  }

  block(from: NodeId, to: NodeId): void {
    this.cut.add(from + '>' + to);
  }

  /** Split `side` from `others`, both directions. */
  split(side: NodeId[], others: NodeId[]): void {
    for (const a of side) for (const b of others) {
      this.block(a, b);
      this.block(b, a);
    }
  }

  healAll(): void {
    this.cut.clear();
  }

  get active(): boolean {
    return this.cut.size > 0;
  }

  describe(): string {
    return [...this.cut].sort().join(',');
  }
}

/** How long a message between two nodes takes, or null if it is lost. Duplicates produce two delays. */
export function deliveryDelays(q: NetworkQuality, rng: Prng): number[] {
  if (q.drop > 0 && rng.chance(q.drop)) return [];
  const d = q.delay + rng.int(q.jitter + 1);
  if (q.duplicate > 0 && rng.chance(q.duplicate)) return [d, q.delay + rng.int(q.jitter * 3 + 1)];
  return [d];
}
