// Raft's safety properties, checked after every simulation step against the
// live cores (Raft paper, figure 3):
//  - election safety: at most one leader per term;
//  - log matching: two logs with an entry of the same index and term are
//    identical up to it (checked inductively: one (index, term) -> one content
//    and one predecessor term);
//  - leader completeness: a new leader holds every entry committed so far;
//  - state machine safety: every node applies the same entry at an index;
//  - a node's commit index never goes back, and a committed entry never changes.
import type { RaftCore } from '../../src/raft/core/raft.js';
import { Role, type Entry, type NodeId } from '../../src/raft/types.js';

export class Violation extends Error {
  override readonly name = 'Violation';
  constructor(
    readonly invariant: string,
    detail: string,
  ) {
    super(`${invariant}: ${detail}`);
  }
}

const hashes = new WeakMap<Entry, number>();

/** FNV-1a over the entry's type and data; cached per entry object. */
export function entryHash(e: Entry): number {
  let h = hashes.get(e);
  if (h !== undefined) return h;
  h = 0x811c9dc5 ^ e.type;
  const d = e.data;
  for (let i = 0; i < d.length; i++) h = Math.imul(h ^ d[i], 0x01000193);
  h >>>= 0;
  hashes.set(e, h);
  return h;
}

interface NodeMarks {
  /** Highest index whose (index, term) this node's log was verified against. */
  verified: number;
  verifiedTerm: number;
  commit: number;
  applied: number;
  role: Role;
  term: number;
}

export class SafetyChecker {
  private leaders = new Map<number, NodeId>();
  /** (index, term) -> content hash and term of the entry before it. */
  private logRecords = new Map<string, { hash: number; prevTerm: number }>();
  /**
   * index -> the committed entry, as first seen committed, with the term in
   * which it was committed (the lowest term of a node seen holding it committed:
   * that of the leader that committed it).
   */
  private committed: { term: number; hash: number; commitTerm: number }[] = [];
  private maxCommitted = 0;
  /** index -> hash of the entry applied there. */
  private appliedAt: number[] = [];
  /** index -> hash of the state machine at a snapshot there. */
  private snapshotAt = new Map<number, string>();
  private marks = new Map<NodeId, NodeMarks>();
  checks = 0;

  /** A node restarted: its volatile marks start over (its durable commit may be below the old in-memory one). */
  restarted(id: NodeId): void {
    this.marks.delete(id);
  }

  /** Check everything about `core` that can have changed since its last check. */
  check(core: RaftCore): void {
    this.checks++;
    const id = core.id;
    let m = this.marks.get(id);
    if (!m) {
      m = { verified: 0, verifiedTerm: 0, commit: core.log.committed, applied: core.log.applied, role: core.role, term: core.term };
      this.marks.set(id, m);
    }
    this.checkLog(core, m);
    this.checkCommit(core, m);
    if (core.role === Role.Leader && (m.role !== Role.Leader || m.term !== core.term)) this.checkNewLeader(core);
    m.role = core.role;
    m.term = core.term;
  }

  private checkNewLeader(core: RaftCore): void {
    const prev = this.leaders.get(core.term);
    if (prev !== undefined && prev !== core.id) {
      throw new Violation('election safety', `${prev} and ${core.id} are both leaders of term ${core.term}`);
    }
    this.leaders.set(core.term, core.id);
    // Leader completeness: an entry committed in an earlier term is in the new
    // leader's log. (A leader of an older term may still be elected, by slow
    // votes, after a newer term committed something: it needs no such entry.)
    const log = core.log;
    for (let i = log.firstIndex(); i <= this.maxCommitted; i++) {
      const c = this.committed[i];
      if (!c || c.commitTerm >= core.term) continue;
      const e = log.entry(i);
      if (!e) {
        throw new Violation('leader completeness', `${core.id} leads term ${core.term} with last index ${log.lastIndex()}, without entry ${i} committed in term ${c.commitTerm}`);
      }
      if (e.term !== c.term || entryHash(e) !== c.hash) {
        throw new Violation('leader completeness', `${core.id} leads term ${core.term} without entry ${i} (term ${c.term}) committed in term ${c.commitTerm}; it holds term ${e.term} there`);
      }
    }
  }

  private checkLog(core: RaftCore, m: NodeMarks): void {
    const log = core.log;
    const last = log.lastIndex();
    const first = log.firstIndex();
    // Walk back from the end to the first entry already verified and unchanged.
    for (let i = last; i >= first; i--) {
      const e = log.entry(i)!;
      const key = i + ':' + e.term;
      const prevTerm = log.term(i - 1);
      const rec = this.logRecords.get(key);
      const hash = entryHash(e);
      if (rec) {
        if (rec.hash !== hash) {
          throw new Violation('log matching', `${core.id} holds a different entry at index ${i} term ${e.term} than another node`);
        }
        if (prevTerm !== -1 && rec.prevTerm !== -1 && rec.prevTerm !== prevTerm) {
          throw new Violation('log matching', `${core.id}: entries at index ${i} term ${e.term} agree but their predecessors' terms differ (${prevTerm} vs ${rec.prevTerm})`);
        }
        if (rec.prevTerm === -1 && prevTerm !== -1) rec.prevTerm = prevTerm;
        // Logs only change by replacing a suffix: below a verified, unchanged entry all was checked before.
        if (i < m.verified || (i === m.verified && e.term === m.verifiedTerm)) break;
      } else {
        this.logRecords.set(key, { hash, prevTerm });
      }
    }
    m.verified = last;
    m.verifiedTerm = log.lastTerm();
  }

  private checkCommit(core: RaftCore, m: NodeMarks): void {
    const log = core.log;
    const c = log.committed;
    if (c < m.commit) throw new Violation('commit monotonicity', `${core.id}'s commit index went back from ${m.commit} to ${c}`);
    for (let i = Math.max(m.commit + 1, log.firstIndex()); i <= c; i++) {
      const e = log.entry(i);
      if (!e) break;
      const rec = this.committed[i];
      const hash = entryHash(e);
      if (!rec) this.committed[i] = { term: e.term, hash, commitTerm: core.term };
      else if (rec.term !== e.term || rec.hash !== hash) {
        throw new Violation('state machine safety', `${core.id} committed index ${i} with term ${e.term}, but term ${rec.term} was committed there before`);
      } else if (core.term < rec.commitTerm) rec.commitTerm = core.term;
    }
    if (c > this.maxCommitted) this.maxCommitted = c;
    m.commit = c;
  }

  /** `id` applied `e` to its state machine. */
  applied(id: NodeId, e: Entry): void {
    const hash = entryHash(e);
    const prev = this.appliedAt[e.index];
    if (prev === undefined) this.appliedAt[e.index] = hash;
    else if (prev !== hash) throw new Violation('state machine safety', `${id} applied a different entry at index ${e.index} than another node`);
  }

  /** `id`'s state machine at `index` serializes to `state`; every node's must be identical there. */
  snapshotState(id: NodeId, index: number, state: string): void {
    const prev = this.snapshotAt.get(index);
    if (prev === undefined) this.snapshotAt.set(index, state);
    else if (prev !== state) throw new Violation('state machine safety', `${id}'s state at index ${index} differs from another node's`);
  }

  leaderOf(term: number): NodeId | undefined {
    return this.leaders.get(term);
  }
}
