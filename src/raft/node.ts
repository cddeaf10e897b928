// RaftNode: the runtime around the pure core. It owns the timer that ticks,
// the LevelDB storage, the gRPC transport and the bookkeeping that turns
// committed entries into resolved promises. One loop carries out each Ready
// in the order the core's contract demands: persist (one synced batch), then
// send, then apply, then advance.
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { RaftCore } from './core/raft.js';
import { decodeConfChange } from './core/confchange.js';
import { InvalidRequestError, NotLeaderError, ProposalDroppedError } from './errors.js';
import {
  ConfChangeType,
  DEFAULT_CONFIG,
  EntryType,
  MessageType,
  NONE,
  Role,
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type RaftConfig,
  type Ready,
  type Rng,
  type Snapshot,
  type Status,
} from './types.js';

/** The replicated state machine the node applies committed entries to. */
export interface StateMachine<R> {
  /** Apply one committed entry with data (no-ops and conf changes are not passed). */
  apply(data: Uint8Array, index: number): R;
  /** Serialize the state as of the last applied index. */
  snapshot(): Uint8Array;
  /** Replace the state by a snapshot's. */
  restore(data: Uint8Array): void;
}

/** What the node needs from storage (src/raft/storage.ts). */
export interface RaftStorageLike {
  load(): { hardState: HardState; snapshot: Snapshot | null; entries: Entry[] };
  /** Step 1 of the Ready contract: one synced write. */
  save(rd: { hardState: HardState | null; entries: Entry[]; snapshot: Snapshot | null; mustSync?: boolean }): Promise<void>;
  /** An application snapshot: write it, then drop the entries it covers. */
  saveSnapshot(s: Snapshot): Promise<void>;
  /**
   * Optional: entries that a coming save() will likely write, handed over as
   * soon as they are known (a proposal, an App message), so that the storage
   * can encode (seal) them while the previous write is still being synced,
   * off the path of the next one. A hint only: save() writes what it is given.
   */
  prepare?(entries: readonly Entry[]): void;
}

/** What the node needs from the transport (src/raft/transport.ts). */
export interface RaftTransportLike {
  send(msgs: Message[]): void;
  addPeer(id: NodeId, address: string): void;
  updatePeer(id: NodeId, address: string): void;
  removePeer(id: NodeId): void;
}

/**
 * What the node counts and times, for the daemon's metrics (src/daemon/metrics.ts): each call is one increment or
 * one histogram observation, nothing that could slow the loop.
 */
export interface RaftMetrics {
  /** propose() was called. */
  proposed(): void;
  /** A proposal of this node did not commit (not leader, dropped, lost to a new leader, timed out, stopped). */
  proposalFailed(): void;
  /** A proposal of this node came out committed (durable on a majority): seconds since propose(). */
  committed(seconds: number): void;
  /** One committed entry applied to the state machine: seconds. */
  applied(seconds: number): void;
  /** An application snapshot taken and written: seconds. */
  snapshot(seconds: number): void;
}

export interface RaftNodeOptions<R> {
  id: NodeId;
  /** This node's address as peers reach it; written in the conf change that adds it. */
  address: string;
  storage: RaftStorageLike;
  transport: RaftTransportLike;
  stateMachine: StateMachine<R>;
  /** Founding voters (id -> address) of a brand-new cluster; ignored once storage holds anything. */
  bootstrap?: Map<NodeId, string>;
  /** Known peers' addresses (id -> address), e.g. from the join response. */
  peers?: Map<NodeId, string>;
  tickMs?: number;
  raft?: Partial<Omit<RaftConfig, 'id' | 'rng'>>;
  /** Take an application snapshot after this many applied entries. */
  snapshotEvery?: number;
  logger?: Logger;
  rng?: Rng;
  metrics?: RaftMetrics;
}

export class RaftStoppedError extends Error {
  override readonly name = 'RaftStoppedError';
  constructor() {
    super('raft node is stopped');
  }
}

export class RaftTimeoutError extends Error {
  override readonly name = 'RaftTimeoutError';
  constructor(what: string, ms: number) {
    super(`${what} timed out after ${ms} ms`);
  }
}

/** The entry was replaced by another leader's before it committed: it did not happen. */
export class ProposalLostError extends Error {
  override readonly name = 'ProposalLostError';
  constructor(index: number) {
    super(`proposal at index ${index} was lost to a leadership change; it did not commit`);
  }
}

interface Waiter<T> {
  resolve: (v: T) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout | null;
}

const mathRng: Rng = { int: (n) => Math.floor(Math.random() * n) };
const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

export interface RaftNodeEvents {
  'leader-change': [leader: NodeId, term: number];
  'role-change': [role: Role];
  removed: [];
}

export class RaftNode<R = unknown> extends EventEmitter<RaftNodeEvents> {
  readonly id: NodeId;
  private readonly core: RaftCore;
  private readonly storage: RaftStorageLike;
  private readonly transport: RaftTransportLike;
  private readonly sm: StateMachine<R>;
  private readonly log?: Logger;
  private readonly tickMs: number;
  private readonly snapshotEvery: number;
  private readonly metrics?: RaftMetrics;
  private ticker: NodeJS.Timeout | null = null;
  private running = false;
  private stopped = false;
  /** A Ready is being carried out. */
  private busy = false;
  private scheduled = false;
  private appliedIndex = 0;
  private readonly addresses = new Map<NodeId, string>();
  /** By index: who waits for the entry, of which term, proposed when (performance.now()). */
  private readonly proposals = new Map<number, Waiter<R> & { term: number; at: number }>();
  private readonly reads = new Map<string, Waiter<void>>();
  private readonly readWaits: { index: number; ctx: string }[] = [];
  private readSeq = 0;
  /**
   * Read contexts must be unique cluster-wide and across restarts: a leader
   * still holding an old request with the same context would answer a new
   * read with a stale index.
   */
  private readonly readNonce = randomBytes(6).toString('hex');
  private leader: NodeId = NONE;
  private role: Role = Role.Follower;
  private fatal: Error | null = null;

  private constructor(opts: RaftNodeOptions<R>) {
    super();
    this.id = opts.id;
    this.storage = opts.storage;
    this.transport = opts.transport;
    this.sm = opts.stateMachine;
    this.log = opts.logger?.child({ component: 'raft', nodeId: opts.id });
    this.tickMs = opts.tickMs ?? 100;
    this.snapshotEvery = opts.snapshotEvery ?? 10_000;
    this.metrics = opts.metrics;
    const stored = this.storage.load();
    const bootstrap = opts.bootstrap ?? new Map<NodeId, string>();
    const conf: ConfState = { voters: [...bootstrap.keys()], learners: [] };
    for (const [id, addr] of [...bootstrap, ...(opts.peers ?? new Map<NodeId, string>())]) this.setAddress(id, addr);
    this.setAddress(this.id, opts.address);
    const cfg: RaftConfig = { ...DEFAULT_CONFIG, ...opts.raft, id: opts.id, rng: opts.rng ?? mathRng };
    this.core = new RaftCore(cfg, { ...stored, conf });
    if (stored.snapshot) {
      this.restoreSnapshot(stored.snapshot);
    }
  }

  /** Open a node from its storage and start ticking. */
  static start<R>(opts: RaftNodeOptions<R>): RaftNode<R> {
    const node = new RaftNode(opts);
    node.running = true;
    node.ticker = setInterval(() => node.onTick(), node.tickMs);
    node.schedule();
    return node;
  }

  // ------------------------------------------------------------------ input

  /** Messages from the transport. */
  receive(msgs: Message[]): void {
    if (!this.running) return;
    if (this.storage.prepare) for (const m of msgs) if (m.type === MessageType.App && m.entries.length > 0) this.storage.prepare(m.entries);
    for (const m of msgs) this.guard(() => this.core.step(m));
    this.schedule();
  }

  reportUnreachable(peer: NodeId): void {
    if (!this.running) return;
    this.core.reportUnreachable(peer);
    this.schedule();
  }

  reportSnapshot(peer: NodeId, ok: boolean): void {
    if (!this.running) return;
    this.core.reportSnapshot(peer, ok);
    this.schedule();
  }

  /**
   * Replicate `data`; resolves with the state machine's result once the entry
   * is applied on this node. Rejects with NotLeaderError (with the leader's
   * id and address when known), ProposalDroppedError, ProposalLostError,
   * RaftTimeoutError or RaftStoppedError.
   */
  propose(data: Uint8Array, opts: { timeoutMs?: number } = {}): Promise<R> {
    this.metrics?.proposed();
    let pos: { index: number; term: number };
    try {
      pos = this.call(() => this.core.propose(data));
    } catch (err) {
      this.metrics?.proposalFailed();
      throw err;
    }
    this.storage.prepare?.([{ index: pos.index, term: pos.term, type: EntryType.Normal, data }]);
    const applied = this.waitApplied(pos.index, pos.term, opts.timeoutMs ?? 10_000);
    if (this.metrics) applied.catch(() => this.metrics?.proposalFailed());
    return applied;
  }

  /** Resolves when a read of the state machine is linearizable (ReadIndex, then wait for apply). */
  read(opts: { timeoutMs?: number } = {}): Promise<void> {
    const ctx = `${this.id}/${this.readNonce}/${++this.readSeq}`;
    this.call(() => this.core.readIndex(ctx));
    const timeoutMs = opts.timeoutMs ?? 10_000;
    return new Promise<void>((resolve, reject) => {
      const w: Waiter<void> = { resolve, reject, timer: null };
      w.timer = setTimeout(() => {
        this.reads.delete(ctx);
        reject(new RaftTimeoutError('linearizable read', timeoutMs));
      }, timeoutMs);
      this.reads.set(ctx, w);
    });
  }

  /** Add `id` as a learner; it receives the log but does not vote until promoted. */
  addLearner(id: NodeId, address: string, opts: { timeoutMs?: number } = {}): Promise<void> {
    this.setAddress(id, address);
    return this.changeConf({ type: ConfChangeType.AddLearner, nodeId: id, context: utf8.encode(address) }, opts.timeoutMs);
  }

  /** Promote a learner to voter; refused while it is far behind the leader's log. */
  promote(id: NodeId, opts: { timeoutMs?: number; maxLag?: number } = {}): Promise<void> {
    const st = this.core.status();
    const pr = st.progress[id];
    const maxLag = opts.maxLag ?? 1_000;
    if (st.role === Role.Leader && pr && st.lastIndex - pr.match > maxLag) {
      return Promise.reject(new ProposalDroppedError(`${id} is ${st.lastIndex - pr.match} entries behind; promote it once it has caught up`));
    }
    return this.changeConf({ type: ConfChangeType.Promote, nodeId: id, context: new Uint8Array(0) }, opts.timeoutMs);
  }

  removeMember(id: NodeId, opts: { timeoutMs?: number } = {}): Promise<void> {
    return this.changeConf({ type: ConfChangeType.Remove, nodeId: id, context: new Uint8Array(0) }, opts.timeoutMs);
  }

  transferLeadership(to: NodeId): void {
    this.call(() => this.core.transferLeadership(to));
  }

  status(): Status & { applied: number; addresses: Record<NodeId, string> } {
    return { ...this.core.status(), applied: this.appliedIndex, addresses: Object.fromEntries(this.addresses) };
  }

  addressOf(id: NodeId): string {
    return this.addresses.get(id) ?? '';
  }

  /** Stop ticking; reject everything waiting; wait for the Ready in progress to finish writing. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.running = false;
    if (this.ticker) clearInterval(this.ticker);
    this.failAll(new RaftStoppedError());
    while (this.busy) await new Promise((r) => setTimeout(r, 1));
  }

  // ---------------------------------------------------------------- the loop

  private onTick(): void {
    if (!this.running) return;
    this.guard(() => this.core.tick());
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.busy || !this.running) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.processReady();
    });
  }

  private async processReady(): Promise<void> {
    if (this.busy || !this.running) return;
    this.busy = true;
    try {
      while (this.running && this.core.hasReady()) {
        const rd = this.core.ready();
        // A leader's appends need not wait for its own fsync (the core says when).
        if (rd.messagesMayPrecedePersist) this.transport.send(rd.messages);
        await this.storage.save(rd);
        if (!this.running) return;
        if (!rd.messagesMayPrecedePersist) this.transport.send(rd.messages);
        this.apply(rd);
        this.core.advance();
        this.noteSoftState();
        await this.maybeSnapshot();
        // More committed entries to apply (see maxCommittedBytesPerReady): let
        // timers and peers' messages in first, so that heartbeats and
        // acknowledgements leave between the slices.
        if (rd.committedEntries.length > 0 && this.core.hasReady()) await new Promise<void>((resolve) => setImmediate(resolve));
      }
    } catch (err) {
      this.die(err instanceof Error ? err : new Error(String(err)));
    } finally {
      this.busy = false;
    }
    if (this.running && this.core.hasReady()) this.schedule();
  }

  private apply(rd: Ready): void {
    if (rd.snapshot && rd.snapshot.meta.index > this.appliedIndex) {
      this.restoreSnapshot(rd.snapshot);
      for (const [index, p] of this.proposals) {
        if (index <= this.appliedIndex) this.settle(index, p, new ProposalLostError(index));
      }
    }
    for (const e of rd.committedEntries) {
      if (e.index <= this.appliedIndex) continue;
      this.applyEntry(e);
      this.appliedIndex = e.index;
    }
    for (const rs of rd.readStates) {
      if (this.reads.has(rs.context)) this.readWaits.push({ index: rs.index, ctx: rs.context });
    }
    this.answerReads();
  }

  /** The snapshot carries the members' addresses too: their AddLearner entries are compacted away. */
  private restoreSnapshot(snap: Snapshot): void {
    const { addresses, app } = decodeSnapshot(snap.data);
    for (const [id, addr] of Object.entries(addresses)) this.setAddress(id, addr);
    this.sm.restore(app);
    this.appliedIndex = snap.meta.index;
  }

  private applyEntry(e: Entry): void {
    const p = this.proposals.get(e.index);
    if (e.type === EntryType.ConfChange) {
      this.applyConfChange(decodeConfChange(e.data));
      if (p) this.settle(e.index, p, p.term === e.term ? null : new ProposalLostError(e.index), undefined as R);
      return;
    }
    if (e.data.length === 0) {
      if (p) this.settle(e.index, p, new ProposalLostError(e.index));
      return;
    }
    if (p && this.metrics && p.term === e.term) this.metrics.committed((performance.now() - p.at) / 1000);
    const started = this.metrics ? performance.now() : 0;
    const result = this.sm.apply(e.data, e.index);
    this.metrics?.applied((performance.now() - started) / 1000);
    if (p) this.settle(e.index, p, p.term === e.term ? null : new ProposalLostError(e.index), result);
  }

  private applyConfChange(cc: ConfChange): void {
    if (cc.type === ConfChangeType.AddLearner && cc.context.length > 0) this.setAddress(cc.nodeId, fromUtf8.decode(cc.context));
    if (cc.type === ConfChangeType.Remove) {
      if (cc.nodeId === this.id) {
        this.log?.warn('removed from the cluster');
        queueMicrotask(() => this.emit('removed'));
      } else {
        this.transport.removePeer(cc.nodeId);
      }
      return;
    }
  }

  private answerReads(): void {
    for (let i = this.readWaits.length - 1; i >= 0; i--) {
      const w = this.readWaits[i];
      if (w.index > this.appliedIndex) continue;
      this.readWaits.splice(i, 1);
      const r = this.reads.get(w.ctx);
      if (!r) continue;
      this.reads.delete(w.ctx);
      if (r.timer) clearTimeout(r.timer);
      r.resolve();
    }
  }

  private async maybeSnapshot(): Promise<void> {
    const st = this.core.log;
    // The state machine exists only as of appliedIndex, so that is where the snapshot is.
    if (this.appliedIndex - st.snapIndex < this.snapshotEvery) return;
    if (this.appliedIndex > st.stable || this.appliedIndex > st.applied) return;
    const started = performance.now();
    const data = encodeSnapshot(Object.fromEntries(this.addresses), this.sm.snapshot());
    const snap: Snapshot = this.core.createSnapshot(this.appliedIndex, data);
    await this.storage.saveSnapshot(snap);
    this.metrics?.snapshot((performance.now() - started) / 1000);
    this.log?.info({ index: snap.meta.index }, 'snapshot taken, log compacted');
  }

  private noteSoftState(): void {
    const st = this.core.softState();
    if (st.leader !== this.leader) {
      this.leader = st.leader;
      this.log?.info({ leader: st.leader, term: this.core.term }, 'leader changed');
      this.emit('leader-change', st.leader, this.core.term);
    }
    if (st.role !== this.role) {
      this.role = st.role;
      this.emit('role-change', st.role);
    }
  }

  // ---------------------------------------------------------------- helpers

  private changeConf(cc: ConfChange, timeoutMs = 10_000): Promise<void> {
    const pos = this.call(() => this.core.proposeConfChange(cc));
    return this.waitApplied(pos.index, pos.term, timeoutMs).then(() => undefined);
  }

  private waitApplied(index: number, term: number, timeoutMs: number): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const w = { resolve, reject, term, at: performance.now(), timer: null as NodeJS.Timeout | null };
      w.timer = setTimeout(() => {
        this.proposals.delete(index);
        reject(new RaftTimeoutError(`proposal at index ${index}`, timeoutMs));
      }, timeoutMs);
      this.proposals.set(index, w);
    });
  }

  private settle(index: number, p: Waiter<R>, err: Error | null, value?: R): void {
    this.proposals.delete(index);
    if (p.timer) clearTimeout(p.timer);
    if (err) p.reject(err);
    else p.resolve(value as R);
  }

  /** Run a core call from the API: refuse when stopped, add the leader's address to NotLeaderError. */
  private call<T>(fn: () => T): T {
    if (this.fatal) throw this.fatal;
    if (!this.running) throw new RaftStoppedError();
    try {
      const out = fn();
      this.schedule();
      return out;
    } catch (err) {
      if (err instanceof NotLeaderError) throw new NotLeaderError(err.leader, err.term, this.addressOf(err.leader));
      throw err;
    }
  }

  /** A core failure on input from outside (a peer's message) must not kill the process unnoticed. */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      if (err instanceof InvalidRequestError) {
        this.log?.warn({ err }, 'ignored an invalid request');
        return;
      }
      this.die(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** Storage or safety failure: stop at once rather than go on with state we cannot trust. */
  private die(err: Error): void {
    if (this.fatal) return;
    this.fatal = err;
    this.log?.error({ err }, 'raft node stopped on a fatal error');
    this.running = false;
    if (this.ticker) clearInterval(this.ticker);
    this.failAll(err);
  }

  private failAll(err: Error): void {
    for (const [index, p] of this.proposals) this.settle(index, p, err);
    for (const [ctx, r] of this.reads) {
      this.reads.delete(ctx);
      if (r.timer) clearTimeout(r.timer);
      r.reject(err);
    }
    this.readWaits.length = 0;
  }

  private setAddress(id: NodeId, address: string): void {
    if (!address) return;
    const prev = this.addresses.get(id);
    this.addresses.set(id, address);
    if (id === this.id) return;
    try {
      if (prev === undefined) this.transport.addPeer(id, address);
      else if (prev !== address) this.transport.updatePeer(id, address);
    } catch (err) {
      // An address that came through the log must not stop the node from applying it.
      this.log?.warn({ err, peer: id, address }, 'cannot reach this peer address');
    }
  }

  /** Fatal error, if the node died of one. */
  get error(): Error | null {
    return this.fatal;
  }
}

/** Snapshot bytes: [u32 BE length][JSON address book][application snapshot]. */
function encodeSnapshot(addresses: Record<NodeId, string>, app: Uint8Array): Uint8Array {
  const head = utf8.encode(JSON.stringify(addresses));
  const out = new Uint8Array(4 + head.length + app.length);
  new DataView(out.buffer).setUint32(0, head.length);
  out.set(head, 4);
  out.set(app, 4 + head.length);
  return out;
}

/** A snapshot of this node: the members' addresses and the state machine's image (exported for tools that read a stopped manager's store). */
export function decodeSnapshot(data: Uint8Array): { addresses: Record<NodeId, string>; app: Uint8Array } {
  if (data.length < 4) throw new Error('snapshot data is truncated (no address book header)');
  const n = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(0);
  if (4 + n > data.length) throw new Error('snapshot data is truncated (address book)');
  const parsed: unknown = JSON.parse(fromUtf8.decode(data.subarray(4, 4 + n)));
  if (typeof parsed !== 'object' || parsed === null) throw new Error('snapshot address book is not an object');
  const addresses: Record<NodeId, string> = {};
  for (const [k, v] of Object.entries(parsed)) if (typeof v === 'string') addresses[k] = v;
  return { addresses, app: data.subarray(4 + n) };
}
