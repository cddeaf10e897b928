// A deterministic in-memory cluster of Raft cores for unit tests: messages are
// delivered instantly (or dropped by a filter), storage is an array that
// persists exactly what ready() asks for. Not a simulation of time or faults:
// that is test/sim. Tests drive it step by step and look at the cores.
import { Prng } from '../../src/testing/prng.js';
import { RaftCore, emptyMessage } from '../../src/raft/core/raft.js';
import {
  DEFAULT_CONFIG,
  EntryType,
  MessageType,
  type Entry,
  type InitialState,
  type Message,
  type NodeId,
  type RaftConfig,
  type Ready,
  type ReadState,
  type Snapshot,
} from '../../src/raft/types.js';
import { emptyDisk, persistReady, persistSnapshot, type MemDisk } from './mem-disk.js';

export type { MemDisk };

export type Filter = (m: Message) => boolean;

export class TestCluster {
  readonly cores = new Map<NodeId, RaftCore>();
  readonly disks = new Map<NodeId, MemDisk>();
  /** Everything each node applied, in order (entries with data only). */
  readonly applied = new Map<NodeId, Entry[]>();
  readonly readStates = new Map<NodeId, ReadState[]>();
  /** Messages held back (not delivered) because a filter returned false. */
  readonly dropped: Message[] = [];
  private filters: Filter[] = [];
  private readonly rng: Prng;
  sent: Message[] = [];

  constructor(
    readonly ids: NodeId[],
    readonly config: Partial<Omit<RaftConfig, 'id' | 'rng'>> = {},
    seed = 1,
    voters: NodeId[] = ids,
  ) {
    this.rng = new Prng(seed);
    for (const id of ids) {
      this.disks.set(id, emptyDisk());
      this.start(id, voters.includes(id) ? voters : []);
    }
  }

  /** (Re)create a core from its disk, as a restart would. */
  start(id: NodeId, bootstrapVoters: NodeId[] = []): RaftCore {
    const disk = this.disks.get(id) ?? emptyDisk();
    this.disks.set(id, disk);
    const init: InitialState = {
      hardState: { ...disk.hardState },
      snapshot: disk.snapshot,
      entries: disk.entries.slice(),
      conf: { voters: bootstrapVoters, learners: [] },
    };
    const core = new RaftCore({ ...DEFAULT_CONFIG, ...this.config, id, rng: this.rng.fork() }, init);
    this.cores.set(id, core);
    this.applied.set(id, []);
    this.readStates.set(id, []);
    return core;
  }

  core(id: NodeId): RaftCore {
    const c = this.cores.get(id);
    if (!c) throw new Error(`no core ${id}`);
    return c;
  }

  stop(id: NodeId): void {
    this.cores.delete(id);
  }

  addFilter(f: Filter): void {
    this.filters.push(f);
  }

  clearFilters(): void {
    this.filters = [];
  }

  /** Cut `id` off from everyone (both directions). */
  isolate(id: NodeId): void {
    this.addFilter((m) => m.from !== id && m.to !== id);
  }

  /** Process readies and deliver messages until nothing moves. */
  stabilize(maxRounds = 10_000): void {
    for (let round = 0; round < maxRounds; round++) {
      let moved = false;
      for (const [id, core] of [...this.cores]) {
        while (core.hasReady()) {
          moved = true;
          this.handleReady(id, core);
        }
      }
      const batch = this.sent;
      this.sent = [];
      for (const m of batch) {
        if (!this.filters.every((f) => f(m))) {
          this.dropped.push(m);
          continue;
        }
        const to = this.cores.get(m.to);
        if (to) {
          to.step(m);
          moved = true;
        }
      }
      if (!moved) return;
    }
    throw new Error('cluster did not stabilize');
  }

  private handleReady(id: NodeId, core: RaftCore): void {
    carryOut(this, id, core.ready());
    core.advance();
  }


  /** Tick `id` n times, stabilizing after each tick. */
  tick(id: NodeId, n = 1): void {
    for (let i = 0; i < n; i++) {
      this.cores.get(id)?.tick();
      this.stabilize();
    }
  }

  /** Tick every node n times, stabilizing after each round. */
  tickAll(n = 1): void {
    for (let i = 0; i < n; i++) {
      for (const c of this.cores.values()) c.tick();
      this.stabilize();
    }
  }

  /** Make `id` campaign by ticking it alone until it leads (or fail). */
  elect(id: NodeId): void {
    const core = this.core(id);
    for (let i = 0; i < 100 && core.role !== 'leader'; i++) this.tick(id);
    if (core.role !== 'leader') throw new Error(`${id} did not become leader`);
  }

  leader(): RaftCore | undefined {
    return [...this.cores.values()].find((c) => c.role === 'leader');
  }

  /** Snapshot an application state that is just the list of applied data (for tests). */
  compact(id: NodeId, index: number): Snapshot {
    const snap = this.core(id).createSnapshot(index, new TextEncoder().encode(`snap@${index}`));
    persistSnapshot(this.disks.get(id)!, snap);
    return snap;
  }
}

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
export const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

// ------------------------------------------------------------------
// Helpers for the area tests (test/raft/*.test.ts). Standalone functions over
// the public fields of TestCluster, so the class itself is unchanged.

/**
 * Carry out a Ready (persist, queue its messages, record applied/readStates) as stabilize() does;
 * advance() is left to the caller, so tests can step between ready() and advance().
 */
export function carryOut(c: TestCluster, id: NodeId, rd: Ready): void {
  persistReady(c.disks.get(id)!, rd);
  c.sent.push(...rd.messages);
  const applied = c.applied.get(id)!;
  for (const e of rd.committedEntries) if (e.type === EntryType.Normal && e.data.length > 0) applied.push(e);
  c.readStates.get(id)!.push(...rd.readStates);
}

/** ready() + carryOut() + advance() on one node; null if it had nothing to do. */
export function processReady(c: TestCluster, id: NodeId): Ready | null {
  const core = c.core(id);
  if (!core.hasReady()) return null;
  const rd = core.ready();
  carryOut(c, id, rd);
  core.advance();
  return rd;
}

/** Tick only the given nodes, n rounds, stabilizing after each round. */
export function tickNodes(c: TestCluster, ids: NodeId[], n = 1): void {
  for (let i = 0; i < n; i++) {
    for (const id of ids) c.cores.get(id)?.tick();
    c.stabilize();
  }
}

/** Make `id` campaign now (no pre-vote, overriding leases), as a TimeoutNow from its leader would, then stabilize. */
export function forceCampaign(c: TestCluster, id: NodeId): void {
  const core = c.core(id);
  core.step({ ...emptyMessage(MessageType.TimeoutNow, core.lead || id, id, core.term) });
  c.stabilize();
}

/** Drop every message between nodes of different groups (nodes in no group are unaffected). */
export function partition(c: TestCluster, ...groups: NodeId[][]): void {
  const groupOf = new Map<NodeId, number>();
  groups.forEach((g, i) => g.forEach((id) => groupOf.set(id, i)));
  c.addFilter((m) => {
    const a = groupOf.get(m.from);
    const b = groupOf.get(m.to);
    return a === undefined || b === undefined || a === b;
  });
}

/** A filter that lets everything through and records it. */
export function recorder(c: TestCluster): Message[] {
  const log: Message[] = [];
  c.addFilter((m) => {
    log.push(m);
    return true;
  });
  return log;
}
