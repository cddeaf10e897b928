// The deterministic simulation: N Raft cores on a simulated network and disk,
// clients doing put/get/append/cas through the log and ReadIndex, and a
// nemesis injecting faults, all driven by one seeded PRNG. After every step
// the safety checker looks at the node that moved; at the end the client
// history must be linearizable and, once faults stop, a write must commit
// within a bounded number of ticks.
import { checkLinearizable } from '../../src/testing/linearizability.js';
import type { HistoryEvent } from '../../src/testing/history.js';
import { Prng } from '../../src/testing/prng.js';
import { NotLeaderError, ProposalDroppedError } from '../../src/raft/errors.js';
import { ConfChangeType, DEFAULT_CONFIG, MessageType, Role, type Message, type NodeId, type RaftConfig } from '../../src/raft/types.js';
import { SafetyChecker, Violation } from './checker.js';
import { encodeCommand, type KvResult, type WriteOp } from '../../src/testing/kv.js';
import { SimNode, defaultCoreFactory, type CoreFactory, type PendingRead } from './node.js';
import { Trace } from './trace.js';
import { EventQueue, Partitions, deliveryDelays, type NetworkQuality } from './world.js';

export type FaultKind =
  | 'partition'
  | 'asymmetric'
  | 'oneway'
  | 'crash'
  | 'crash-leader'
  | 'isolate-leader'
  | 'pause'
  | 'transfer'
  | 'membership';
export const ALL_FAULTS: FaultKind[] = ['partition', 'asymmetric', 'oneway', 'crash', 'crash-leader', 'isolate-leader', 'pause', 'transfer', 'membership'];

export interface SimConfig {
  seed: number;
  /** Initial voters. */
  nodes: number;
  /** Extra node ids the nemesis may add as learners (and promote). */
  spares: number;
  clients: number;
  keys: number;
  /** Length of the fault phase, in time units (a tick is ~10). */
  faultTime: number;
  /** Mean time between two faults. */
  faultEvery: number;
  /** How long a crash, pause or partition lasts, drawn from this range. */
  faultDuration: [number, number];
  /** 'mixed': every fault kind at a moderate rate; 'storm': short, frequent crashes and partitions racing with elections. */
  profile: 'mixed' | 'storm';
  faults: FaultKind[];
  /** After faults stop, a write must commit within this many ticks (of the slowest clock). */
  livenessTicks: number;
  /** Per-node tick interval is drawn from this range: clock skew. */
  tickInterval: [number, number];
  diskLatency: [number, number];
  network: NetworkQuality;
  /** Each node snapshots when this many entries were applied since its last snapshot. */
  snapshotEvery: number;
  raft: Omit<RaftConfig, 'id' | 'rng'>;
}

export interface SimStats {
  events: number;
  messages: number;
  dropped: number;
  elections: number;
  faults: Record<string, number>;
  snapshotsInstalled: number;
  confChanges: number;
  transfers: number;
  ops: number;
  opsOk: number;
  opsInfo: number;
  readsOk: number;
  checks: number;
  livenessTime: number;
}

export interface SimResult {
  seed: number;
  config: SimConfig;
  ok: boolean;
  violation?: { invariant: string; message: string; time: number; lastEvents: string[] };
  traceHash: string;
  trace: string[] | null;
  history: HistoryEvent[];
  stats: SimStats;
}

export interface SimOptions {
  coreFactory?: CoreFactory;
  keepTrace?: boolean;
}

/**
 * The configuration a seed stands for: node count cycles 3/5/7, the rest is
 * drawn from the seed. One seed in four uses the storm profile.
 */
export function configForSeed(seed: number, overrides: Partial<SimConfig> = {}): SimConfig {
  const r = new Prng(seed ^ 0x5eed5eed);
  const storm = (overrides.profile ?? (r.chance(0.25) ? 'storm' : 'mixed')) === 'storm';
  const cfg = storm ? stormConfig(seed, r) : mixedConfig(seed, r);
  return { ...cfg, ...overrides, raft: { ...cfg.raft, ...(overrides.raft ?? {}) } };
}

function mixedConfig(seed: number, r: Prng): SimConfig {
  const skewed = r.chance(0.5);
  return {
    seed,
    nodes: [3, 5, 7][seed % 3],
    spares: 2,
    clients: r.range(2, 5),
    keys: r.range(1, 4),
    faultTime: 2500,
    faultEvery: r.pick([120, 200, 350]),
    faultDuration: [50, 1200],
    profile: 'mixed',
    faults: ALL_FAULTS,
    livenessTicks: 200,
    tickInterval: skewed ? [6, 16] : [9, 11],
    diskLatency: r.pick([[1, 2], [1, 6], [2, 12]] as [number, number][]),
    network: {
      drop: r.pick([0, 0.01, 0.05, 0.15]),
      duplicate: r.pick([0, 0.02, 0.1]),
      delay: r.range(1, 4),
      jitter: r.pick([0, 4, 15, 40]),
    },
    snapshotEvery: r.pick([6, 20, 80]),
    raft: {
      ...DEFAULT_CONFIG,
      electionTicks: 10,
      heartbeatTicks: r.pick([1, 2, 3]),
      preVote: r.chance(0.8),
      checkQuorum: r.chance(0.8),
      maxEntriesPerMsg: r.pick([1, 2, 8, 64]),
      maxBytesPerMsg: r.pick([64, 1 << 20]),
      maxInflight: r.pick([1, 2, 8, 64]),
    },
  };
}

/**
 * Elections racing with crashes: nodes go down and come back within an
 * election timeout, the disk is slow (a crash often lands between a Ready and
 * its sync), one entry per message, and no pre-vote or check-quorum to damp
 * elections. The kind of schedule that exposes lost votes and figure-8 commits.
 */
function stormConfig(seed: number, r: Prng): SimConfig {
  return {
    seed,
    nodes: [3, 5, 7][seed % 3],
    spares: 0,
    clients: r.range(2, 4),
    keys: r.range(1, 3),
    faultTime: 2500,
    faultEvery: r.pick([15, 25, 40, 60]),
    faultDuration: [r.pick([1, 5]), r.pick([30, 80, 150])],
    profile: 'storm',
    faults: ['crash', 'crash-leader', 'crash-leader', 'isolate-leader', 'partition', 'pause', 'oneway'],
    livenessTicks: 200,
    tickInterval: [8, 12],
    diskLatency: [1, r.pick([10, 25])],
    network: { drop: r.pick([0, 0.05]), duplicate: r.pick([0.02, 0.1]), delay: r.range(1, 4), jitter: r.pick([5, 20, 40]) },
    snapshotEvery: r.pick([10, 80]),
    raft: {
      ...DEFAULT_CONFIG,
      electionTicks: 10,
      heartbeatTicks: 2,
      preVote: r.chance(0.3),
      checkQuorum: r.chance(0.3),
      maxEntriesPerMsg: 1,
      maxBytesPerMsg: 1 << 20,
      maxInflight: r.pick([1, 4]),
    },
  };
}

interface ClientOp {
  f: 'put' | 'get' | 'append' | 'cas';
  key: string;
  value: string | null;
  expected: string | null;
  /** The client session the op belongs to, fixed when it starts: retries must carry the same one. */
  session: string;
  seq: number;
  deadline: number;
  attempt: number;
}

interface SimClient {
  process: number;
  session: string;
  seq: number;
  hint: NodeId;
  op: ClientOp | null;
  /** Liveness probe: not part of the random workload. */
  probe: boolean;
  written: number;
}

type Reply =
  | { kind: 'redirect'; leader: NodeId }
  | { kind: 'retry' }
  | { kind: 'write'; result: KvResult }
  | { kind: 'read'; value: string | null };

const CLIENT_DELAY = 2;
const REQUEST_TIMEOUT = 150;
const OP_DEADLINE = 900;

export class Simulation {
  readonly cfg: SimConfig;
  private readonly rng: Prng;
  private readonly netRng: Prng;
  private readonly world = new EventQueue();
  private readonly partitions = new Partitions();
  private network: NetworkQuality;
  private readonly nodes = new Map<NodeId, SimNode>();
  private readonly checker = new SafetyChecker();
  private readonly trace: Trace;
  private readonly coreFactory: CoreFactory;
  private readonly history: HistoryEvent[] = [];
  private readonly clients: SimClient[] = [];
  private nextProcess = 0;
  private nextSession = 0;
  private spareIds: NodeId[] = [];
  private faultsOver = false;
  private stopClients = false;
  private finished = false;
  private readonly stats: SimStats = {
    events: 0,
    messages: 0,
    dropped: 0,
    elections: 0,
    faults: {},
    snapshotsInstalled: 0,
    confChanges: 0,
    transfers: 0,
    ops: 0,
    opsOk: 0,
    opsInfo: 0,
    readsOk: 0,
    checks: 0,
    livenessTime: -1,
  };

  constructor(cfg: SimConfig, opts: SimOptions = {}) {
    this.cfg = cfg;
    this.rng = new Prng(cfg.seed);
    this.netRng = this.rng.fork();
    this.network = { ...cfg.network };
    this.trace = new Trace(opts.keepTrace ?? false);
    this.coreFactory = opts.coreFactory ?? defaultCoreFactory;
  }

  run(): SimResult {
    const cfg = this.cfg;
    const voters = Array.from({ length: cfg.nodes }, (_, i) => `n${i + 1}`);
    this.spareIds = Array.from({ length: cfg.spares }, (_, i) => `n${cfg.nodes + i + 1}`);
    for (const id of voters) this.addNode(id, voters);
    for (let i = 0; i < cfg.clients; i++) this.newClient(false);
    this.scheduleFault();
    this.world.at(cfg.faultTime, () => this.endFaults());
    const maxTick = cfg.tickInterval[1];
    const hardEnd = cfg.faultTime + cfg.livenessTicks * maxTick + OP_DEADLINE * 2;
    let violation: SimResult['violation'];
    try {
      while (!this.finished && this.world.runNext(hardEnd)) this.stats.events++;
      if (!this.finished) throw new Violation('liveness', `the run did not finish by time ${hardEnd}`);
      this.checkHistory();
    } catch (err) {
      const invariant = err instanceof Violation ? err.invariant : 'exception';
      const message = err instanceof Error ? (err instanceof Violation ? err.message : `${err.name}: ${err.message}`) : String(err);
      violation = { invariant, message, time: this.world.now, lastEvents: this.trace.last() };
    }
    this.stats.checks = this.checker.checks;
    return {
      seed: cfg.seed,
      config: cfg,
      ok: violation === undefined,
      violation,
      traceHash: this.trace.hash(),
      trace: this.trace.all,
      history: this.history,
      stats: this.stats,
    };
  }

  // ------------------------------------------------------------------ nodes

  private addNode(id: NodeId, bootstrapVoters: NodeId[]): SimNode {
    const [lo, hi] = this.cfg.tickInterval;
    const n = new SimNode(id, bootstrapVoters, this.rng.range(lo, hi));
    this.nodes.set(id, n);
    this.boot(n);
    return n;
  }

  private boot(n: SimNode): void {
    const raftCfg: RaftConfig = { ...this.cfg.raft, id: n.id, rng: this.rng.fork() };
    n.boot(this.coreFactory(raftCfg, n.initialState()));
    this.checker.restarted(n.id);
    this.log(`${n.id} boot term=${n.core!.term} last=${n.core!.log.lastIndex()} commit=${n.core!.log.committed}`);
    const inc = n.incarnation;
    const tick = (): void => {
      if (n.incarnation !== inc || !n.up) return;
      if (!n.paused) {
        n.core!.tick();
        this.afterStep(n);
      }
      this.world.after(n.tickInterval, tick);
    };
    this.world.after(this.rng.range(1, n.tickInterval), tick);
    this.afterStep(n);
  }

  /** Run `fn` on `n` now, later (paused), or never (down). */
  private onNode(n: SimNode | undefined, fn: () => void): void {
    if (!n || !n.up) return;
    if (n.paused) {
      if (n.deferred.length < 10_000) n.deferred.push(fn);
      return;
    }
    fn();
    if (n.up) this.afterStep(n);
  }

  /** After anything happened on `n`: check safety, note role changes, start the next Ready. */
  private afterStep(n: SimNode): void {
    const core = n.core!;
    const wasLeader = this.checker.leaderOf(core.term) === n.id;
    this.checker.check(core);
    if (core.role === Role.Leader && !wasLeader) {
      this.stats.elections++;
      this.log(`${n.id} leader term=${core.term} last=${core.log.lastIndex()} commit=${core.log.committed}`);
    }
    this.pump(n);
  }

  private pump(n: SimNode): void {
    if (!n.up || n.paused || n.writing) return;
    const core = n.core!;
    if (!core.hasReady()) return;
    const rd = core.ready();
    n.writing = true;
    const inc = n.incarnation;
    const [lo, hi] = this.cfg.diskLatency;
    // A leader's appends may leave before its own write is durable (the core says when).
    if (rd.messagesMayPrecedePersist) for (const m of rd.messages) this.send(m);
    const finish = (): void => {
      if (n.incarnation !== inc) return; // crashed before the sync finished: the write is lost
      n.persist(rd);
      if (!rd.messagesMayPrecedePersist) for (const m of rd.messages) this.send(m);
      if (rd.snapshot) {
        this.stats.snapshotsInstalled++;
        this.log(`${n.id} install snapshot index=${rd.snapshot.meta.index}`);
      }
      const { removedSelf } = n.apply(rd, (e) => this.checker.applied(n.id, e));
      core.advance();
      n.writing = false;
      const snap = n.maybeSnapshot(this.cfg.snapshotEvery);
      if (snap) this.checker.snapshotState(n.id, snap.meta.index, new TextDecoder().decode(snap.data));
      if (removedSelf) {
        this.log(`${n.id} removed from the cluster: shutting down`);
        n.removed = true;
        n.crash();
        return;
      }
      this.afterStep(n);
    };
    this.world.after(this.rng.range(lo, hi), () => {
      if (n.incarnation !== inc) return;
      if (n.paused) n.deferred.push(finish);
      else finish();
    });
  }

  private send(m: Message): void {
    this.stats.messages++;
    for (const d of deliveryDelays(this.network, this.netRng)) {
      this.world.after(d, () => this.deliver(m));
    }
  }

  private deliver(m: Message): void {
    if (this.partitions.blocked(m.from, m.to)) {
      this.stats.dropped++;
      return;
    }
    const n = this.nodes.get(m.to);
    if (m.type !== MessageType.Heartbeat && m.type !== MessageType.HeartbeatResp) {
      this.log(`${m.from}->${m.to} ${MessageType[m.type]} t=${m.term} i=${m.index} lt=${m.logTerm} n=${m.entries.length} c=${m.commit}${m.reject ? ' reject' : ''}`);
    }
    this.onNode(n, () => n!.core!.step(m));
  }

  private leader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.nodes.values()) {
      if (n.up && !n.paused && n.core!.role === Role.Leader && (!best || n.core!.term > best.core!.term)) best = n;
    }
    return best;
  }

  private liveIds(): NodeId[] {
    return [...this.nodes.values()].filter((n) => !n.removed).map((n) => n.id);
  }

  // ---------------------------------------------------------------- clients

  private newClient(probe: boolean): SimClient {
    const c: SimClient = { process: this.nextProcess++, session: `s${this.nextSession++}`, seq: 0, hint: '', op: null, probe, written: 0 };
    this.clients.push(c);
    if (!probe) this.world.after(this.rng.range(1, 30), () => this.startOp(c));
    return c;
  }

  private record(c: SimClient, type: HistoryEvent['type'], op: ClientOp, value: string | null | [string | null, string]): void {
    const base = { process: c.process, key: op.key, time: this.world.now };
    let e: HistoryEvent;
    if (op.f === 'cas') e = { ...base, f: 'cas', type, value: value as [string | null, string] };
    else if (op.f === 'get') e = type === 'ok' ? { ...base, f: 'get', type: 'ok', value: value as string | null } : { ...base, f: 'get', type, value: null };
    else e = { ...base, f: op.f, type, value: value as string };
    this.history.push(e);
    this.log(`client p${c.process} ${type} ${op.f} ${op.key} ${JSON.stringify(value)}`);
  }

  private startOp(c: SimClient): void {
    if (this.stopClients && !c.probe) return;
    const r = this.rng;
    const f = r.pick(['put', 'get', 'get', 'append', 'cas'] as const);
    const key = `k${r.int(this.cfg.keys)}`;
    const value = `[${c.process}.${c.written++}]`; // delimited: no value is a substring of another
    const expected = f === 'cas' ? (r.chance(0.2) ? null : this.recentValue(key)) : null;
    this.begin(c, { f, key, value: f === 'get' ? null : value, expected, session: '', seq: 0, deadline: 0, attempt: 0 });
  }

  /** A value likely to be current, so that cas often succeeds. */
  private recentValue(key: string): string | null {
    for (let i = this.history.length - 1, seen = 0; i >= 0 && seen < 50; i--, seen++) {
      const e = this.history[i];
      if (e.key === key && e.type === 'ok' && (e.f === 'put' || e.f === 'get')) return e.value;
    }
    return null;
  }

  private begin(c: SimClient, op: ClientOp): void {
    op.session = c.session;
    op.seq = ++c.seq;
    op.deadline = this.world.now + OP_DEADLINE;
    c.op = op;
    this.stats.ops++;
    this.record(c, 'invoke', op, op.f === 'cas' ? [op.expected, op.value!] : op.value);
    this.attempt(c);
  }

  private attempt(c: SimClient): void {
    const op = c.op!;
    const attempt = ++op.attempt;
    const ids = this.liveIds();
    const target = c.hint && ids.includes(c.hint) ? c.hint : this.rng.pick(ids);
    c.hint = '';
    const reply = (r: Reply): void => {
      this.world.after(CLIENT_DELAY, () => {
        if (c.op !== op) return;
        // A success answers the operation whichever attempt it came from (the
        // session makes retries exactly-once); other answers only matter for
        // the latest attempt.
        const success = r.kind === 'write' || r.kind === 'read';
        if (success || op.attempt === attempt) this.onReply(c, r);
      });
    };
    this.world.after(CLIENT_DELAY, () => {
      const n = this.nodes.get(target);
      this.onNode(n, () => this.serve(n!, c, op, attempt, reply));
    });
    this.world.after(REQUEST_TIMEOUT, () => {
      if (c.op === op && op.attempt === attempt) this.retry(c);
    });
  }

  /** The node side of a client request. */
  private serve(n: SimNode, c: SimClient, op: ClientOp, attempt: number, reply: (r: Reply) => void): void {
    const core = n.core!;
    try {
      if (op.f === 'get') {
        const ctx = `${op.session}/${op.seq}/${attempt}`;
        const read: PendingRead = { key: op.key, done: (value) => reply({ kind: 'read', value }) };
        core.readIndex(ctx);
        n.reads.set(ctx, read);
        return;
      }
      const data = encodeCommand({ client: op.session, seq: op.seq, f: op.f as WriteOp, key: op.key, value: op.value!, expected: op.expected });
      const pos = core.propose(data);
      n.proposals.set(pos.index, { term: pos.term, done: (r) => reply(r ? { kind: 'write', result: r } : { kind: 'retry' }) });
    } catch (err) {
      if (err instanceof NotLeaderError) reply({ kind: 'redirect', leader: err.leader });
      else if (err instanceof ProposalDroppedError) reply({ kind: 'retry' });
      else throw err;
    }
  }

  private onReply(c: SimClient, r: Reply): void {
    const op = c.op!;
    switch (r.kind) {
      case 'redirect':
        c.hint = r.leader;
        this.world.after(r.leader ? 1 : 20, () => this.retry(c, op));
        return;
      case 'retry':
        this.world.after(20, () => this.retry(c, op));
        return;
      case 'write': {
        const type = op.f === 'cas' && !r.result.ok ? 'fail' : 'ok';
        this.finishOp(c, type, op.f === 'cas' ? [op.expected, op.value!] : op.value);
        return;
      }
      case 'read':
        this.stats.readsOk++;
        this.finishOp(c, 'ok', r.value);
        return;
    }
  }

  private retry(c: SimClient, expectOp?: ClientOp): void {
    const op = c.op;
    if (!op || (expectOp && op !== expectOp)) return;
    if (this.world.now < op.deadline) {
      this.attempt(c);
      return;
    }
    // Out of time: a write may or may not have happened; a read had no effect.
    if (op.f === 'get') this.finishOp(c, 'fail', null);
    else this.finishOp(c, 'info', op.f === 'cas' ? [op.expected, op.value!] : op.value);
  }

  private finishOp(c: SimClient, type: 'ok' | 'fail' | 'info', value: string | null | [string | null, string]): void {
    const op = c.op!;
    this.record(c, type, op, value);
    c.op = null;
    if (type === 'ok') this.stats.opsOk++;
    if (type === 'info') {
      this.stats.opsInfo++;
      // Its outcome is unknown: that process is done (Jepsen's rule); a fresh one takes over.
      c.process = this.nextProcess++;
      c.session = `s${this.nextSession++}`;
      c.seq = 0;
    }
    if (c.probe) {
      this.onProbeDone(type === 'ok');
      return;
    }
    this.world.after(this.rng.range(0, 10), () => this.startOp(c));
  }

  // ----------------------------------------------------------------- nemesis

  private scheduleFault(): void {
    const every = this.cfg.faultEvery;
    this.world.after(this.rng.range(every >> 1, every + (every >> 1)), () => {
      if (this.faultsOver) return;
      this.injectFault();
      this.scheduleFault();
    });
  }

  private injectFault(): void {
    if (this.cfg.faults.length === 0) return;
    const kind = this.rng.pick(this.cfg.faults);
    const r = this.rng;
    const ids = this.liveIds();
    const live = ids.map((id) => this.nodes.get(id)!).filter((n) => n.up && !n.paused);
    const [dlo, dhi] = this.cfg.faultDuration;
    const heal = (fn: () => void): void => this.world.after(r.range(dlo, dhi), () => {
      if (!this.faultsOver) fn();
    });
    let did = true;
    switch (kind) {
      case 'partition': {
        const side = r.shuffle(ids.slice()).slice(0, r.range(1, Math.max(1, ids.length >> 1)));
        this.partitions.split(side, ids.filter((id) => !side.includes(id)));
        this.log(`nemesis partition ${side.join(',')} | rest`);
        heal(() => this.healPartitions());
        break;
      }
      case 'asymmetric':
        for (const a of ids) for (const b of ids) if (a !== b && r.chance(0.25)) this.partitions.block(a, b);
        this.log(`nemesis asymmetric ${this.partitions.describe()}`);
        heal(() => this.healPartitions());
        break;
      case 'oneway': {
        const x = r.pick(ids);
        const outgoing = r.chance(0.5);
        for (const o of ids) {
          if (o === x) continue;
          if (outgoing) this.partitions.block(x, o);
          else this.partitions.block(o, x);
        }
        this.log(`nemesis one-way ${outgoing ? 'from' : 'to'} ${x}`);
        heal(() => this.healPartitions());
        break;
      }
      case 'isolate-leader': {
        const l = this.leader();
        if (!l) return;
        this.partitions.split([l.id], ids.filter((id) => id !== l.id));
        this.log(`nemesis isolate leader ${l.id}`);
        heal(() => this.healPartitions());
        break;
      }
      case 'crash':
      case 'crash-leader': {
        const n = kind === 'crash-leader' ? this.leader() : live.length > 0 ? r.pick(live) : undefined;
        if (!n) return;
        this.log(`nemesis crash ${n.id}`);
        n.crash();
        heal(() => this.restart(n));
        break;
      }
      case 'pause': {
        if (live.length === 0) return;
        const n = r.pick(live);
        this.log(`nemesis pause ${n.id}`);
        n.paused = true;
        heal(() => this.resume(n));
        break;
      }
      case 'transfer': {
        const l = this.leader();
        if (!l) return;
        const to = r.pick(l.core!.conf.voters.filter((v) => v !== l.id).concat(['']));
        if (!to) return;
        this.log(`nemesis transfer ${l.id} -> ${to}`);
        this.stats.transfers++;
        this.onNode(l, () => l.core!.transferLeadership(to));
        break;
      }
      case 'membership':
        did = this.changeMembership();
        break;
    }
    if (did) this.stats.faults[kind] = (this.stats.faults[kind] ?? 0) + 1;
  }

  private changeMembership(): boolean {
    const l = this.leader();
    if (!l) return false;
    const core = l.core!;
    const { voters, learners } = core.conf;
    const r = this.rng;
    let desc: string;
    let cc: { type: ConfChangeType; nodeId: NodeId };
    const caughtUp = learners.filter((id) => (core.prs.get(id)?.match ?? 0) >= core.log.committed);
    if (caughtUp.length > 0) {
      cc = { type: ConfChangeType.Promote, nodeId: r.pick(caughtUp) };
      desc = `promote ${cc.nodeId}`;
    } else if (this.spareIds.length > 0 && (voters.length <= 3 || r.chance(0.5))) {
      const id = this.spareIds[0];
      cc = { type: ConfChangeType.AddLearner, nodeId: id };
      desc = `add learner ${id}`;
    } else if (voters.length > 3) {
      cc = { type: ConfChangeType.Remove, nodeId: r.pick(voters) };
      desc = `remove ${cc.nodeId}`;
    } else return false;
    let proposed = false;
    this.onNode(l, () => {
      try {
        core.proposeConfChange({ ...cc, context: new Uint8Array(0) });
        proposed = true;
      } catch (err) {
        if (!(err instanceof ProposalDroppedError)) throw err;
        this.log(`nemesis ${desc} dropped: ${err.reason}`);
      }
    });
    if (!proposed) return false;
    this.stats.confChanges++;
    this.log(`nemesis ${desc}`);
    if (cc.type === ConfChangeType.AddLearner) {
      this.spareIds.shift();
      this.addNode(cc.nodeId, []);
    }
    return true;
  }

  private healPartitions(): void {
    if (!this.partitions.active) return;
    this.partitions.healAll();
    this.log('nemesis heal partitions');
  }

  private restart(n: SimNode): void {
    if (n.up || n.removed) return;
    this.log(`nemesis restart ${n.id}`);
    this.boot(n);
  }

  private resume(n: SimNode): void {
    if (!n.up || !n.paused) return;
    this.log(`nemesis resume ${n.id}`);
    n.paused = false;
    const queued = n.deferred;
    n.deferred = [];
    for (const fn of queued) {
      if (!n.up) break;
      fn();
    }
    if (n.up) this.afterStep(n);
  }

  // ---------------------------------------------------------------- the end

  /** Faults stop: heal, restart, resume; then a write must commit within the liveness bound. */
  private endFaults(): void {
    this.faultsOver = true;
    this.log('nemesis stop: heal everything');
    this.partitions.healAll();
    this.network = { ...this.network, drop: 0, duplicate: 0 };
    for (const n of this.nodes.values()) {
      if (n.removed) continue;
      if (!n.up) this.restart(n);
      else if (n.paused) this.resume(n);
    }
    const probe = this.newClient(true);
    const start = this.world.now;
    const bound = this.cfg.livenessTicks * this.cfg.tickInterval[1];
    this.begin(probe, { f: 'put', key: 'live', value: 'probe', expected: null, session: '', seq: 0, deadline: 0, attempt: 0 });
    probe.op!.deadline = start + bound;
    this.livenessStart = start;
  }

  private livenessStart = 0;

  private onProbeDone(ok: boolean): void {
    if (!ok) {
      throw new Violation('liveness', `no write committed within ${this.cfg.livenessTicks} ticks after faults stopped`);
    }
    this.stats.livenessTime = this.world.now - this.livenessStart;
    this.log(`liveness write committed after ${this.stats.livenessTime}`);
    // Let the clients finish what they have in flight, then end.
    this.stopClients = true;
    const waitIdle = (): void => {
      if (this.clients.every((c) => c.op === null)) this.finished = true;
      else this.world.after(10, waitIdle);
    };
    waitIdle();
  }

  private checkHistory(): void {
    const res = checkLinearizable(this.history);
    if (res.ok === true) return;
    if (res.ok === false) throw new Violation('linearizability', `key ${res.key}: ${res.reason}`);
    throw new Violation('linearizability', `key ${res.key}: ${res.reason}`);
  }

  private log(text: string): void {
    this.trace.add(this.world.now, text);
  }
}

export function runSeed(seed: number, overrides: Partial<SimConfig> = {}, opts: SimOptions = {}): SimResult {
  return new Simulation(configForSeed(seed, overrides), opts).run();
}

/** A human-readable report of a failed run: seed, configuration, invariant and the last events. */
export function formatViolation(r: SimResult): string {
  if (!r.violation) return `seed ${r.seed}: ok`;
  const c = r.config;
  const lines = [
    `VIOLATION of ${r.violation.invariant} at time ${r.violation.time} (seed ${r.seed})`,
    `  ${r.violation.message}`,
    `  config: nodes=${c.nodes} clients=${c.clients} keys=${c.keys} faults=${c.faults.join(',')} network=${JSON.stringify(c.network)} ` +
      `ticks=${JSON.stringify(c.tickInterval)} disk=${JSON.stringify(c.diskLatency)} snapshotEvery=${c.snapshotEvery} ` +
      `raft=${JSON.stringify({ hb: c.raft.heartbeatTicks, preVote: c.raft.preVote, checkQuorum: c.raft.checkQuorum, maxEntries: c.raft.maxEntriesPerMsg, maxInflight: c.raft.maxInflight })}`,
    `  last events:`,
    ...r.violation.lastEvents.map((l) => `    ${l}`),
    `  replay: npm run sim -- --seed ${r.seed} --trace`,
  ];
  return lines.join('\n');
}
