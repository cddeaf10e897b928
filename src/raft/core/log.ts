// The core's view of the replicated log: the entries after the latest snapshot,
// kept in memory, plus the markers that tie them to durable storage
// (`stable`), to the cluster (`committed`) and to the application (`applied`).
// The runtime keeps the durable copy; the core never reads storage back, which
// keeps it synchronous and pure. Compaction (a snapshot) bounds the memory.
import { CorruptStateError } from '../errors.js';
import type { Entry, Snapshot } from '../types.js';

export class RaftLog {
  /** entries[k] holds index snapIndex + 1 + k. */
  entries: Entry[] = [];
  snapIndex = 0;
  snapTerm = 0;
  /** The latest snapshot, kept to send to followers that fell behind the log. */
  snapshot: Snapshot | null = null;
  /** A snapshot received from the leader and not yet handed to the runtime to persist. */
  unstableSnapshot: Snapshot | null = null;
  /** Highest index known to be durable in the runtime's storage. */
  stable = 0;
  /** Highest index known to be committed. */
  committed = 0;
  /** Highest index handed to the application (in a Ready) for applying. */
  applied = 0;

  firstIndex(): number {
    return this.snapIndex + 1;
  }

  lastIndex(): number {
    return this.snapIndex + this.entries.length;
  }

  lastTerm(): number {
    const n = this.entries.length;
    return n === 0 ? this.snapTerm : this.entries[n - 1].term;
  }

  /** Term of the entry at `i`, or -1 when it is compacted away or beyond the end. */
  term(i: number): number {
    if (i === this.snapIndex) return this.snapTerm;
    if (i < this.snapIndex || i > this.lastIndex()) return -1;
    return this.entries[i - this.snapIndex - 1].term;
  }

  entry(i: number): Entry | undefined {
    if (i <= this.snapIndex || i > this.lastIndex()) return undefined;
    return this.entries[i - this.snapIndex - 1];
  }

  matchTerm(i: number, t: number): boolean {
    return this.term(i) === t;
  }

  /** Raft's "at least as up to date" comparison of a candidate's last entry with ours. */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /**
   * The index of the first entry of `ents` that is not already in the log with
   * the same term, or 0 if all of them are (a stale or duplicate append).
   */
  findConflict(ents: Entry[]): number {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * Fast backtracking: the largest index <= `index` whose term is <= `term`,
   * with that term. Entries in between cannot match the other side's log.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    for (let i = index; i >= this.snapIndex; i--) {
      const t = this.term(i);
      if (t === -1) break;
      if (t <= term) return { index: i, term: t };
    }
    return { index: Math.min(index, this.snapIndex), term: 0 };
  }

  /** Append entries starting at ents[0].index, replacing whatever is there and after it. */
  append(ents: Entry[]): void {
    if (ents.length === 0) return;
    const first = ents[0].index;
    if (first <= this.committed) {
      throw new CorruptStateError(`refusing to overwrite committed entry ${first} (committed ${this.committed})`);
    }
    if (first > this.lastIndex() + 1) {
      throw new CorruptStateError(`gap in log: appending ${first} after ${this.lastIndex()}`);
    }
    const keep = first - this.snapIndex - 1;
    if (keep < this.entries.length) {
      this.entries.length = keep;
      // What was durable past the cut is being replaced: it is unstable again.
      if (this.stable >= first) this.stable = first - 1;
    }
    for (const e of ents) this.entries.push(e);
  }

  /** Entries in [lo, hi), at most `maxCount` of them and `maxBytes` of data (at least one). Null if lo is compacted. */
  slice(lo: number, hi: number, maxCount: number, maxBytes: number): Entry[] | null {
    if (lo <= this.snapIndex) return null;
    hi = Math.min(hi, this.lastIndex() + 1, lo + maxCount);
    if (lo >= hi) return [];
    const base = this.snapIndex + 1;
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i < hi; i++) {
      const e = this.entries[i - base];
      bytes += e.data.byteLength;
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  commitTo(i: number): boolean {
    if (i <= this.committed) return false;
    if (i > this.lastIndex()) {
      throw new CorruptStateError(`commit ${i} is beyond the last index ${this.lastIndex()}`);
    }
    this.committed = i;
    return true;
  }

  /** Mark everything up to (i, t) durable, unless the log changed under that write. */
  stableTo(i: number, t: number): void {
    if (i > this.stable && this.matchTerm(i, t)) this.stable = i;
  }

  /** Replace the whole log by a snapshot received from the leader. */
  restore(s: Snapshot): void {
    this.entries = [];
    this.snapIndex = s.meta.index;
    this.snapTerm = s.meta.term;
    this.snapshot = s;
    this.unstableSnapshot = s;
    this.committed = s.meta.index;
    // The snapshot is not durable until the runtime persists it.
    this.stable = Math.min(this.stable, s.meta.index);
  }

  /** Drop entries up to and including `index`, which the given snapshot covers. */
  compact(s: Snapshot): void {
    const index = s.meta.index;
    if (index <= this.snapIndex) return;
    const drop = index - this.snapIndex;
    this.entries = this.entries.slice(drop);
    this.snapIndex = index;
    this.snapTerm = s.meta.term;
    this.snapshot = s;
  }
}
