// An in-memory "disk" that holds exactly what the Ready contract says to
// persist. Shared by the unit-test cluster, the simulator and the RaftNode
// loop tests, so the rule lives in one place.
import type { Entry, HardState, Snapshot } from '../../src/raft/types.js';

export interface MemDisk {
  hardState: HardState;
  snapshot: Snapshot | null;
  /** Entries after the snapshot, contiguous. */
  entries: Entry[];
}

export function emptyDisk(): MemDisk {
  return { hardState: { term: 0, vote: '', commit: 0 }, snapshot: null, entries: [] };
}

/**
 * Step 1 of the Ready contract: a received snapshot replaces the whole stored
 * log; an entry at index i replaces the stored entry at i and everything
 * after it; then the hard state. A gap, or an entry below the snapshot, is a
 * runtime bug and throws.
 */
export function persistReady(d: MemDisk, rd: { hardState: HardState | null; entries: Entry[]; snapshot: Snapshot | null }): void {
  if (rd.snapshot) {
    d.snapshot = rd.snapshot;
    d.entries = [];
  }
  if (rd.entries.length > 0) {
    const base = (d.snapshot ? d.snapshot.meta.index : 0) + 1;
    const keep = rd.entries[0].index - base;
    if (keep < 0) throw new Error(`persisting entry ${rd.entries[0].index} below the snapshot at ${base - 1}`);
    if (keep > d.entries.length) throw new Error(`persisting entry ${rd.entries[0].index} leaves a gap after ${base + d.entries.length - 1}`);
    d.entries.length = keep;
    for (const e of rd.entries) d.entries.push(e);
  }
  if (rd.hardState) d.hardState = { ...rd.hardState };
}

/** An application snapshot: keep it, drop the entries it covers. */
export function persistSnapshot(d: MemDisk, s: Snapshot): void {
  d.snapshot = s;
  d.entries = d.entries.filter((e) => e.index > s.meta.index);
}
