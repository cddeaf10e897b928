// One simulated Raft node: the core, a disk that holds only what was synced,
// the KV state machine, and the runtime loop (ready -> sync -> send -> apply
// -> advance) with a disk latency in between, so that a crash can land
// between a Ready and its sync and lose what was not yet written.
import { RaftCore } from '../../src/raft/core/raft.js';
import {
  EntryType,
  type Entry,
  type HardState,
  type InitialState,
  type NodeId,
  type RaftConfig,
  type Ready,
  type Snapshot,
} from '../../src/raft/types.js';
import { decodeConfChange } from '../../src/raft/core/confchange.js';
import { ConfChangeType } from '../../src/raft/types.js';
import { emptyDisk, persistReady, persistSnapshot, type MemDisk } from '../raft/mem-disk.js';
import { KvStore, decodeCommand, type KvResult } from '../../src/testing/kv.js';

export type CoreFactory = (cfg: RaftConfig, init: InitialState) => RaftCore;

export const defaultCoreFactory: CoreFactory = (cfg, init) => new RaftCore(cfg, init);

/** What survives a crash: exactly what the runtime synced. */
export type SimDisk = MemDisk;

export interface PendingProposal {
  term: number;
  /** null: the entry at that index turned out to be another one (the proposal was lost). */
  done: (r: KvResult | null) => void;
}

export interface PendingRead {
  key: string;
  done: (value: string | null) => void;
}

export class SimNode {
  core: RaftCore | null = null;
  up = false;
  paused = false;
  /** Applied its own removal from the cluster and shut down for good. */
  removed = false;
  incarnation = 0;
  /** A Ready is being synced; the next one waits. */
  writing = false;
  /** Events that reached the node while it was paused, run when it resumes (like a socket buffer). */
  deferred: (() => void)[] = [];
  disk: SimDisk = emptyDisk();
  kv = new KvStore();
  /** Last log index applied to `kv` (no-ops and conf changes included). */
  appliedIndex = 0;
  proposals = new Map<number, PendingProposal>();
  reads = new Map<string, PendingRead>();
  readWaits: { index: number; read: PendingRead }[] = [];
  crashes = 0;

  constructor(
    readonly id: NodeId,
    /** The membership this node starts with when its disk has no snapshot. */
    readonly bootstrapVoters: NodeId[],
    readonly tickInterval: number,
  ) {}

  initialState(): InitialState {
    return {
      hardState: { ...this.disk.hardState },
      snapshot: this.disk.snapshot,
      entries: this.disk.entries.slice(),
      conf: { voters: this.bootstrapVoters, learners: [] },
    };
  }

  /** Start (or restart) from the disk. */
  boot(core: RaftCore): void {
    this.core = core;
    this.up = true;
    this.paused = false;
    this.writing = false;
    this.deferred = [];
    this.incarnation++;
    const snap = this.disk.snapshot;
    this.kv = snap ? KvStore.restore(snap.data) : new KvStore();
    this.appliedIndex = snap ? snap.meta.index : 0;
  }

  /** Lose everything not on disk: the core, the state machine, waiting clients, an unsynced Ready. */
  crash(): void {
    this.core = null;
    this.up = false;
    this.paused = false;
    this.writing = false;
    this.deferred = [];
    this.incarnation++;
    this.crashes++;
    this.unsyncedHardState = null;
    this.proposals.clear();
    this.reads.clear();
    this.readWaits = [];
  }

  /**
   * A commit-only hard state written without an fsync (Ready.mustSync false):
   * the next synced write makes it durable; a crash before that loses it.
   */
  unsyncedHardState: HardState | null = null;

  /** Step 1 of the Ready contract: one write, synced unless the Ready says it need not be. */
  persist(rd: Ready): void {
    if (!rd.mustSync) {
      if (rd.hardState) this.unsyncedHardState = { ...rd.hardState };
      return;
    }
    if (this.unsyncedHardState) {
      this.disk.hardState = this.unsyncedHardState;
      this.unsyncedHardState = null;
    }
    persistReady(this.disk, rd);
  }

  /**
   * Step 3: apply the snapshot and committed entries. Returns the entries
   * applied, for the checker, and whether this node applied its own removal.
   */
  apply(rd: Ready, onApplied: (e: Entry) => void): { removedSelf: boolean } {
    let removedSelf = false;
    if (rd.snapshot && rd.snapshot.meta.index > this.appliedIndex) {
      this.kv = KvStore.restore(rd.snapshot.data);
      this.appliedIndex = rd.snapshot.meta.index;
      // Proposals at or below the snapshot cannot be matched to a result any more.
      for (const [index, p] of this.proposals) {
        if (index <= this.appliedIndex) {
          this.proposals.delete(index);
          p.done(null);
        }
      }
    }
    for (const e of rd.committedEntries) {
      if (e.index <= this.appliedIndex) continue;
      onApplied(e);
      let result: KvResult | null = null;
      if (e.type === EntryType.Normal && e.data.length > 0) {
        result = this.kv.apply(e.index, decodeCommand(e.data));
      } else if (e.type === EntryType.ConfChange) {
        const cc = decodeConfChange(e.data);
        if (cc.type === ConfChangeType.Remove && cc.nodeId === this.id) removedSelf = true;
      }
      this.appliedIndex = e.index;
      const p = this.proposals.get(e.index);
      if (p) {
        this.proposals.delete(e.index);
        p.done(p.term === e.term ? result : null);
      }
    }
    for (const rs of rd.readStates) {
      const read = this.reads.get(rs.context);
      if (!read) continue;
      this.reads.delete(rs.context);
      this.readWaits.push({ index: rs.index, read });
    }
    this.answerReads();
    return { removedSelf };
  }

  /** Step 4: answer reads whose read index is applied. */
  private answerReads(): void {
    if (this.readWaits.length === 0) return;
    const still: { index: number; read: PendingRead }[] = [];
    for (const w of this.readWaits) {
      if (w.index <= this.appliedIndex) w.read.done(this.kv.get(w.read.key));
      else still.push(w);
    }
    this.readWaits = still;
  }

  /** The application's own snapshot: persisted synchronously, then the core compacts. */
  maybeSnapshot(every: number): Snapshot | null {
    const core = this.core!;
    const idx = Math.min(this.appliedIndex, core.log.stable, core.log.applied);
    if (idx - core.log.snapIndex < every) return null;
    // The KV state is at appliedIndex; only snapshot when that is also durable and handed out.
    if (idx !== this.appliedIndex) return null;
    const snap = core.createSnapshot(idx, this.kv.serialize());
    persistSnapshot(this.disk, snap);
    return snap;
  }
}
