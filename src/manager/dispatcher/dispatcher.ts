// The leader side of agent sessions (proto/dispatcher.proto), SwarmKit's
// dispatcher:
// - a node opens a session with its description; it is marked ready and gets
//   its complete assignment set (every task on it that is ASSIGNED or later),
//   then, whenever one of its tasks changes (debounced), what changed for it
//   (or a new complete set, for an agent that does not read changes; see
//   assignments.ts), with the secrets and configs those tasks reference and
//   only those (files.ts);
// - it heartbeats within the period the cluster sets (jittered); a node that
//   misses period x grace is marked down and its session closed. A new leader
//   first gives every node it knows a full grace period to reconnect;
// - task status reports are batched into transactions (by count and by time),
//   keeping only changes that move a task's observed state forward.
// Only the leader runs it; the manager's service answers UNAVAILABLE (with the
// leader's address) on a follower.
import { windowDelay } from '../../common/window.js';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { configToProto, endpointToProto, nodeDescriptionFromProto, secretWithDataToProto, taskStatusFromProto, taskTemplateToProto, taskToProtoWith } from '../../api/convert.js';
import type { control, dispatcher } from '../../api/wire.js';
import { ApiError } from '../grpc-status.js';
import { generateId, type NodeIdentity } from '../ca/ca.js';
import type { ControllerContext, LeaderController } from '../controller.js';
import { applyPlan } from '../plan/apply.js';
import type { UnitKind } from '../plan/unit.js';
import { statusAction, updateAction, type Action } from '../store/store.js';
import { sameAssignment, SessionAssignments, type AssignmentMessage } from './assignments.js';
import { fileRefsChanged, wireSize, type FileLookup } from './files.js';
import { DataPlaneTable } from './data-plane.js';
import { nextVipBlock, vipBlockCidr } from './endpoints.js';
import { DEFAULT_NETWORK_CONFIG } from '../../api/validate.js';
import { TaskState, type Config, type EndpointSpec, type Node, type NodeDescription, type Secret, type StoreObject, type Task, type TaskStatus, type TaskTemplate } from '../../api/objects.js';
import { ValidationError } from '../../api/input.js';

export interface DispatcherOptions {
  ctx: ControllerContext;
  /** The managers an agent may talk to (Raft voters and their addresses). */
  managers: () => { id: string; address: string }[];
  /** Longest wait before queued status changes are written (default 50 ms). */
  flushMs?: number;
  /** Largest transaction of status changes (default 1,000). */
  maxBatch?: number;
  /** Push a node's assignment changes this long after the first change (default 100 ms, SwarmKit's batching wait). */
  pushDelayMs?: number;
  /** Jitter source in [0, 1) (default Math.random). */
  random?: () => number;
  /** The least a node with no session yet waits to be marked down: a known node after a new leader starts, or one that just joined (default 10 s). */
  newLeaderGraceMs?: number;
  /** How often a change of the manager list is looked for (default 1 s). */
  managersCheckMs?: number;
  /**
   * This manager's own node: its agent runs in this very process, so while its session is open a late heartbeat
   * proves only that this process is busy, never that the node is gone (it is running this code). Its session
   * ending still counts as for any node.
   */
  localNodeId?: string;
  /** The daemon's counters (src/daemon/metrics.ts). */
  metrics?: DispatcherMetrics;
}

/** What the dispatcher counts for the daemon's metrics (src/manager/metrics.ts): increments only. */
export interface DispatcherMetrics {
  heartbeat(): void;
  /** An agent's status report carrying `updates` task status updates. */
  statusReport(updates: number): void;
  /** Assignment messages sent to a session, carrying `tasks` tasks. */
  assignmentsSent(messages: number, tasks: number): void;
  /** Transactions of status changes proposed, and the actions in them. */
  statusWritten(transactions: number, actions: number): void;
}

/** What an agent says about itself when it opens a session. */
export interface SessionOptions {
  /** It reads incremental assignment messages. */
  incrementalAssignments?: boolean;
}

/** Where a session's messages go: the gRPC stream, or a test's collector. */
export interface SessionSink {
  send(msg: dispatcher.SessionMessage__Output): void;
  /** End the session with a status (the agent reconnects). */
  close(code: grpc.status, details: string): void;
}

interface Session {
  id: string;
  nodeId: string;
  sink: SessionSink;
  deadline: NodeJS.Timeout | null;
  /** When the deadline timer should fire (Date.now() time), and how many times in a row it was extended for a stalled event loop. */
  deadlineAt: number;
  extensions: number;
  assignments: SessionAssignments;
}

const DEFAULT_PERIOD_MS = 1_000;
const DEFAULT_PUSH_DELAY_MS = 100;
/** Data plane changes are sent this long after the first (batching a rollout's many task changes). */
const DATA_PLANE_DELAY_MS = 50;
/** Tasks per Session message at most (a larger set goes in parts: see sendAssignments). */
export const TASKS_PER_MESSAGE = 1_000;
/**
 * Secrets and configs (their data, roughly) per Session message at most: more go in parts of their own ahead of the
 * tasks (a config is up to 1 MB, an agent takes 4 MB a message). Up to FILES_WITH_TASKS they ride with the first tasks.
 */
export const FILE_BYTES_PER_MESSAGE = 2 * 1024 * 1024;
const FILES_WITH_TASKS = 256 * 1024;
/** Sessions sent their changes per event-loop turn: a round over a thousand nodes must not hold the loop (Raft's heartbeats) for long. */
const PUSH_SLICE = 100;
const DEFAULT_GRACE = 3;
/**
 * A new leader waits at least this long before marking a known node down: its
 * agents must first notice the old leader is gone and find the new one, which
 * takes longer than one heartbeat grace when the old leader's host vanished.
 */
const NEW_LEADER_GRACE_MS = 10_000;
/**
 * A deadline timer that fires this late (ms) means this process's event loop was held: the node gets another period,
 * up to MAX_STALL_EXTENSIONS times in a row (a heartbeat resets the count), so a node is never marked down for the
 * leader's own stall, and a node that is really gone still is, a few periods later.
 */
const LOOP_STALL_MS = 500;
const MAX_STALL_EXTENSIONS = 3;
/** Queued node changes: what each node becomes (null: nothing to write any more). */
type NodeChanges = Map<string, (n: Node) => Node | null>;
/** What a flush writes: the node changes (one transaction of their own), or one task's status report. */
type Queued = NodeChanges | [taskId: string, status: TaskStatus];

/** Status reports per transaction at most, and such transactions in flight at once (see writeQueued). */
const MAX_STATUS_PER_TX = 2_000;
const STATUS_TX_IN_FLIGHT = 4;
/** How often the manager list is compared with the one the sessions have. */
const MANAGERS_CHECK_MS = 1_000;

export class Dispatcher implements LeaderController {
  readonly name = 'dispatcher';
  private readonly ctx: ControllerContext;
  private readonly log?: Logger;
  private running = false;
  /** The manager list as last sent to the sessions (JSON), and the timer that looks for a change. */
  private sentManagers = '';
  private managersTimer: NodeJS.Timeout | null = null;
  private readonly sessions = new Map<string, Session>(); // by node id
  private readonly bySessionId = new Map<string, Session>();
  /** Nodes known at start (or seen since) without a session yet: their deadline. */
  private readonly graceTimers = new Map<string, NodeJS.Timeout>();
  private unwatch: (() => void) | null = null;
  private unwatchDataPlane: (() => void) | null = null;
  /** The data plane's tables (data-plane.ts), and the timer that sends their changes. */
  private dataPlane: DataPlaneTable;
  private dataPlaneTimer: NodeJS.Timeout | null = null;
  /** VIP blocks handed to nodes whose write is not applied yet (by node id): two sessions opening at once get two blocks. */
  private readonly reservedBlocks = new Map<string, number>();
  /** Nodes whose assignments may have changed: the ids of the tasks that did, or 'all' (after a snapshot restore). */
  private readonly dirtyNodes = new Map<string, Set<string> | 'all'>();
  private pushTimer: NodeJS.Timeout | null = null;
  /** When the last push and the last status write went out (performance.now()): see common/window.ts. */
  private lastPushAt = -Infinity;
  private lastFlushAt = -Infinity;
  private pendingStatus = new Map<string, TaskStatus>();
  private pendingNodes: NodeChanges = new Map();
  private flushTimer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();
  private nextFlush: Deferred | null = null;
  private readonly random: () => number;
  /** Where the sessions read the secrets and configs they send: the store, now. */
  private readonly files: FileLookup = {
    secret: (id) => this.ctx.store.get('secret', id),
    config: (id) => this.ctx.store.get('config', id),
  };

  constructor(private readonly o: DispatcherOptions) {
    this.ctx = o.ctx;
    this.log = o.ctx.logger?.child({ component: 'dispatcher' });
    this.random = o.random ?? Math.random;
    this.dataPlane = new DataPlaneTable(o.ctx.store);
  }

  get isRunning(): boolean {
    return this.running;
  }

  /** The cluster's heartbeat settings. */
  private settings(): { periodMs: number; grace: number } {
    const c = this.ctx.store.list('cluster')[0];
    return { periodMs: c?.spec.dispatcher.heartbeatPeriodMs ?? DEFAULT_PERIOD_MS, grace: c?.spec.dispatcher.heartbeatGrace ?? DEFAULT_GRACE };
  }

  private deadlineMs(): number {
    const s = this.settings();
    return s.periodMs * s.grace;
  }

  /** How long a node with no session yet (known to a new leader, or just joined) has to open one. */
  private unseenNodeGraceMs(): number {
    return Math.max(this.deadlineMs(), this.o.newLeaderGraceMs ?? NEW_LEADER_GRACE_MS);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    // A new leader does not know when nodes last heartbeat: give each one a full grace period to reconnect.
    for (const n of this.ctx.store.list('node')) {
      if (n.status.state !== 'down') this.armGrace(n.id, this.unseenNodeGraceMs());
    }
    this.unwatch = this.ctx.store.watch({ kind: ['task', 'node'] }, (ev) => {
      if (ev.kind === 'node') {
        // A node that joined is 'unknown' until its agent opens a session; one
        // whose agent never comes is marked down, as a known node would be.
        if (ev.op === 'create' && !this.sessions.has(ev.object.id)) this.armGrace(ev.object.id, this.unseenNodeGraceMs());
        return;
      }
      if (ev.kind === 'store') {
        for (const id of this.sessions.keys()) this.dirtyNodes.set(id, 'all');
      } else if (ev.kind === 'task') {
        // A status report changes nothing the agent does not know already (it
        // made it): like SwarmKit, push only changes of what the agent must do,
        // and of the secrets and configs it holds (a task that ended references none).
        if (ev.op === 'update' && ev.old && sameAssignment(ev.old, ev.object) && !fileRefsChanged(ev.old, ev.object)) return;
        if (ev.old?.nodeId) this.markDirty(ev.old.nodeId, ev.object.id);
        if (ev.object.nodeId) this.markDirty(ev.object.nodeId, ev.object.id);
      }
      this.schedulePush();
    });
    this.dataPlane = new DataPlaneTable(this.ctx.store);
    this.unwatchDataPlane = this.ctx.store.watch({ kind: ['task', 'node', 'service', 'network'] }, (ev) => {
      if (ev.kind === 'store') this.dataPlane.markAll();
      else if (ev.kind === 'task') this.dataPlane.markTask(ev.object.serviceId);
      else if (ev.kind === 'service') this.dataPlane.markService(ev.object.id);
      else if (ev.kind === 'network') this.dataPlane.markNetworks();
      else if (ev.kind === 'node') {
        const o = ev.old;
        // What a backend depends on: the node being down, and its engine.
        if (o && o.status.state === ev.object.status.state && o.description.engineId === ev.object.description.engineId) return;
        this.dataPlane.markAll();
      }
      this.scheduleDataPlane();
    });
    // Agents learn the managers from their session; a manager that joins or leaves must reach them too, or an
    // agent that connected while there was one manager knows only that one when it dies.
    this.sentManagers = JSON.stringify(this.o.managers());
    this.managersTimer = setInterval(() => this.sendManagersIfChanged(), this.o.managersCheckMs ?? MANAGERS_CHECK_MS);
    this.log?.info({ nodes: this.graceTimers.size }, 'dispatcher started');
  }

  /** Sessions open now (a gauge of the daemon's metrics). */
  get sessionCount(): number {
    return this.sessions.size;
  }

  private sendManagersIfChanged(): void {
    const managers = this.o.managers();
    const json = JSON.stringify(managers);
    if (json === this.sentManagers || managers.length === 0) return;
    this.sentManagers = json;
    for (const s of this.sessions.values()) s.sink.send({ ...emptyMessage(s.id), managers });
    this.log?.info({ managers: managers.map((m) => m.address), sessions: this.sessions.size }, 'managers changed: sent to every session');
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.unwatch?.();
    this.unwatch = null;
    this.unwatchDataPlane?.();
    this.unwatchDataPlane = null;
    if (this.dataPlaneTimer) clearTimeout(this.dataPlaneTimer);
    this.dataPlaneTimer = null;
    this.reservedBlocks.clear();
    if (this.pushTimer) clearTimeout(this.pushTimer);
    this.pushTimer = null;
    if (this.managersTimer) clearInterval(this.managersTimer);
    this.managersTimer = null;
    for (const t of this.graceTimers.values()) clearTimeout(t);
    this.graceTimers.clear();
    for (const s of this.sessions.values()) {
      if (s.deadline) clearTimeout(s.deadline);
      s.sink.close(grpc.status.UNAVAILABLE, 'this manager is no longer the leader: reconnect to the new one');
    }
    this.sessions.clear();
    this.bySessionId.clear();
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    // Status reports already accepted are written if we still can (they are re-sent by agents otherwise).
    await this.flush().catch(() => undefined);
  }

  // ------------------------------------------------------------ sessions

  /** A node opens a session. Throws ApiError when it may not. */
  openSession(peer: NodeIdentity, description: control.NodeDescription__Output | null | undefined, sink: SessionSink, options: SessionOptions = {}): string {
    if (!this.running) throw notLeader();
    const node = this.ctx.store.get('node', peer.nodeId);
    if (!node) throw new ApiError(grpc.status.PERMISSION_DENIED, `node ${peer.nodeId} is not part of the cluster (removed?): join it again`);
    const desc: NodeDescription = nodeDescriptionFromProto(description);
    const old = this.sessions.get(peer.nodeId);
    if (old) this.endSession(old, grpc.status.ABORTED, 'superseded by a new session of the same node');
    const s: Session = {
      id: generateId(),
      nodeId: peer.nodeId,
      sink,
      deadline: null,
      deadlineAt: 0,
      extensions: 0,
      assignments: new SessionAssignments(options.incrementalAssignments === true, this.files),
    };
    this.sessions.set(s.nodeId, s);
    this.bySessionId.set(s.id, s);
    const grace = this.graceTimers.get(s.nodeId);
    if (grace) clearTimeout(grace);
    this.graceTimers.delete(s.nodeId);
    this.armDeadline(s);
    const vipBlock = this.vipBlockOf(node);
    this.updateNode(s.nodeId, (n) => ({ ...n, description: desc, status: { ...n.status, state: 'ready', message: 'session started' }, ...(vipBlock ? { vipBlock } : {}) }));
    this.sendAssignments(s, this.jitteredPeriod(), s.assignments.full(this.assigned(s.nodeId)));
    // The data plane's complete table, current: what changed meanwhile goes to the other sessions first.
    this.pushDataPlane(s);
    const config = this.ctx.store.list('cluster')[0]?.spec.network ?? DEFAULT_NETWORK_CONFIG;
    sink.send({ ...emptyMessage(s.id), dataPlane: this.dataPlane.complete(vipBlockCidr(config, vipBlock)) });
    this.log?.info({ node: s.nodeId, session: s.id }, 'session opened');
    return s.id;
  }

  /** The agent's stream went away: forget the session (its deadline still marks the node down if it does not come back). */
  sessionClosed(sessionId: string): void {
    const s = this.bySessionId.get(sessionId);
    if (!s) return;
    this.bySessionId.delete(sessionId);
    if (this.sessions.get(s.nodeId) === s) {
      this.sessions.delete(s.nodeId);
      if (s.deadline) clearTimeout(s.deadline);
      if (this.running) this.armGrace(s.nodeId);
    }
  }

  heartbeat(peer: NodeIdentity, sessionId: string): dispatcher.HeartbeatResponse__Output {
    if (!this.running) throw notLeader();
    const s = this.session(peer, sessionId);
    this.armDeadline(s);
    this.o.metrics?.heartbeat();
    return { periodMs: this.jitteredPeriod() };
  }

  /**
   * Queue status reports of a session's node; they are written in batches.
   * Resolves once the batch holding them is committed, so an agent's report
   * is acknowledged only when it is durable (the agent retries otherwise).
   */
  async updateTaskStatus(peer: NodeIdentity, sessionId: string, updates: dispatcher.TaskStatusUpdate__Output[]): Promise<void> {
    if (!this.running) throw notLeader();
    const s = this.session(peer, sessionId);
    // A report is as good a sign of life as a heartbeat: under a backlog (thousands of tasks ending at once) a
    // heartbeat can queue behind the reports that prove the agent is there.
    this.armDeadline(s);
    this.o.metrics?.statusReport(updates.length);
    updates.forEach((u, i) => {
      const task = this.ctx.store.get('task', u.taskId);
      if (!task) return; // deleted meanwhile (service removed, history trimmed): nothing to update
      if (task.nodeId !== s.nodeId) throw new ApiError(grpc.status.PERMISSION_DENIED, `task ${u.taskId} is not assigned to node ${s.nodeId}`);
      const status = taskStatusFromProto(u.status, `updates[${i}].status`);
      const queued = this.pendingStatus.get(u.taskId);
      if (!queued || status.state >= queued.state) this.pendingStatus.set(u.taskId, status);
    });
    return this.scheduleFlush();
  }

  // ------------------------------------------------------------ logs (src/manager/logbroker)

  hasSession(nodeId: string): boolean {
    return this.sessions.has(nodeId);
  }

  /** Send a node log subscriptions (new, cancelled) over its session; false when it has none. */
  sendLogSubscriptions(nodeId: string, added: dispatcher.LogSubscription__Output[], cancelled: string[]): boolean {
    const s = this.sessions.get(nodeId);
    if (!s || !this.running) return false;
    s.sink.send({ ...emptyMessage(s.id), logSubscriptions: added, cancelledLogSubscriptions: cancelled });
    return true;
  }

  /** The node of a session the caller holds (a PublishLogs stream's messages name it); throws ApiError otherwise. */
  sessionNode(peer: NodeIdentity, sessionId: string): string {
    if (!this.running) throw notLeader();
    return this.session(peer, sessionId).nodeId;
  }

  private session(peer: NodeIdentity, sessionId: string): Session {
    const s = this.bySessionId.get(sessionId);
    if (!s || this.sessions.get(s.nodeId) !== s) throw new ApiError(grpc.status.NOT_FOUND, 'unknown or expired session: open a new one');
    if (s.nodeId !== peer.nodeId) throw new ApiError(grpc.status.PERMISSION_DENIED, 'this session belongs to another node');
    return s;
  }

  private jitteredPeriod(): number {
    // Early rather than late: up to 25% shorter than the period.
    const p = this.settings().periodMs;
    return Math.max(1, Math.round(p * (1 - 0.25 * this.random())));
  }

  private armDeadline(s: Session, extended = false): void {
    if (s.deadline) clearTimeout(s.deadline);
    if (!extended) s.extensions = 0;
    const ms = this.deadlineMs();
    s.deadlineAt = Date.now() + ms;
    s.deadline = setTimeout(() => {
      const armedAt = s.deadlineAt;
      const late = Date.now() - armedAt;
      // Judge after the event loop's I/O phase (setImmediate), not in the timer phase: after a stall, timers run
      // before the sockets are read, and a heartbeat that came in time may still sit unread in one.
      setImmediate(() => {
        if (s.deadlineAt !== armedAt || this.sessions.get(s.nodeId) !== s) return; // a heartbeat re-armed it meanwhile
        if (s.nodeId === this.o.localNodeId) {
          // Our own agent: a heartbeat sent to ourselves through a busy event loop, not a lost node (see localNodeId).
          this.log?.debug({ node: s.nodeId, lateMs: late }, 'own agent late with its heartbeat: this manager is busy');
          this.armDeadline(s);
          return;
        }
        if (late > LOOP_STALL_MS && s.extensions < MAX_STALL_EXTENSIONS) {
          // This process could not listen (its event loop was held): the node's silence proves nothing yet.
          s.extensions++;
          this.log?.warn({ node: s.nodeId, lateMs: late }, 'heartbeat deadline passed while this manager was stalled: giving the node another period');
          this.armDeadline(s, true);
          return;
        }
        this.log?.warn({ node: s.nodeId }, 'heartbeat deadline missed: node down');
        this.endSession(s, grpc.status.DEADLINE_EXCEEDED, 'heartbeat deadline missed');
        this.markDown(s.nodeId, 'heartbeat failure');
      });
    }, ms);
  }

  private armGrace(nodeId: string, ms = this.deadlineMs(), why = 'heartbeat failure (no session)'): void {
    const old = this.graceTimers.get(nodeId);
    if (old) clearTimeout(old);
    this.graceTimers.set(
      nodeId,
      setTimeout(() => {
        this.graceTimers.delete(nodeId);
        if (!this.sessions.has(nodeId)) this.markDown(nodeId, why);
      }, ms),
    );
  }

  private endSession(s: Session, code: grpc.status, details: string): void {
    if (s.deadline) clearTimeout(s.deadline);
    s.deadline = null;
    this.bySessionId.delete(s.id);
    if (this.sessions.get(s.nodeId) === s) this.sessions.delete(s.nodeId);
    s.sink.close(code, details);
  }

  /**
   * Marks a node down, once a majority has confirmed this leader: a leader cut
   * off from the cluster misses every heartbeat, and its "down", stranded in
   * its log, would commit if it were elected again after the partition (seen
   * in the chaos run of a majority partition). A node that came back meanwhile
   * is left alone.
   */
  private markDown(nodeId: string, why: string): void {
    const confirm = this.ctx.confirmLeader?.() ?? Promise.resolve();
    confirm.then(
      () => {
        if (!this.running || this.sessions.has(nodeId)) return;
        this.updateNode(nodeId, (n) => (n.status.state === 'down' ? null : { ...n, status: { ...n.status, state: 'down', message: why } }));
      },
      (err: unknown) => {
        // Not given up: a node with no session must not stay Ready because one confirmation failed (an overloaded
        // or partitioned moment). Look again after another deadline, for as long as this dispatcher runs.
        this.log?.warn({ node: nodeId, err: String(err) }, 'node not marked down yet: no majority confirms this leader; retrying');
        if (this.running && !this.sessions.has(nodeId) && !this.graceTimers.has(nodeId)) this.armGrace(nodeId, this.deadlineMs(), why);
      },
    );
  }

  // ------------------------------------------------------------ data plane

  /** The node's VIP block: the one it holds, or the lowest free one (reserved until written); 0 when the pool is full. */
  private vipBlockOf(node: Node): number {
    if (node.vipBlock) return node.vipBlock;
    const reserved = this.reservedBlocks.get(node.id);
    if (reserved) return reserved;
    const used = new Set<number>(this.reservedBlocks.values());
    for (const n of this.ctx.store.list('node')) if (n.vipBlock) used.add(n.vipBlock);
    const config = this.ctx.store.list('cluster')[0]?.spec.network ?? DEFAULT_NETWORK_CONFIG;
    const block = nextVipBlock(config, used);
    if (block) this.reservedBlocks.set(node.id, block);
    else this.log?.warn({ node: node.id, pool: config.vipPool }, "the cluster's VIP pool is full: this node gets no block (no service discovery on it)");
    return block;
  }

  private scheduleDataPlane(): void {
    if (this.dataPlaneTimer || !this.running) return;
    // Short: endpoint changes must reach every proxy within a second of the task's state change.
    this.dataPlaneTimer = setTimeout(() => {
      this.dataPlaneTimer = null;
      this.pushDataPlane();
    }, DATA_PLANE_DELAY_MS);
  }

  /** Send every session (but `except`, which gets the complete table next) what changed in the data plane's tables, if anything did. */
  private pushDataPlane(except?: Session): void {
    if (!this.running || !this.dataPlane.pending) return;
    const change = this.dataPlane.refresh();
    // Blocks reserved for nodes whose write has applied are in the store now.
    for (const [id, b] of this.reservedBlocks) if (this.ctx.store.get('node', id)?.vipBlock === b) this.reservedBlocks.delete(id);
    if (change === undefined) return;
    for (const s of this.sessions.values()) if (s !== except) s.sink.send({ ...emptyMessage(s.id), dataPlane: change });
  }

  // ------------------------------------------------------------ assignments

  private markDirty(nodeId: string, taskId: string): void {
    const d = this.dirtyNodes.get(nodeId);
    if (d === 'all') return;
    if (d) d.add(taskId);
    else this.dirtyNodes.set(nodeId, new Set([taskId]));
  }

  /** Every task on the node that the scheduler has placed (ASSIGNED or later). */
  private assigned(nodeId: string): Task[] {
    return this.ctx.store.tasksByNode(nodeId).filter((t) => t.status.state >= TaskState.ASSIGNED);
  }

  /**
   * Sends an assignment message, in parts of at most TASKS_PER_MESSAGE tasks:
   * a node's whole set can be tens of thousands of tasks, megabytes more than
   * an agent takes in one message (gRPC's 4 MB), and one encode of it holds
   * the event loop. The secrets and configs go first: with the first tasks
   * when they are small, else in parts of their own (FILE_BYTES_PER_MESSAGE)
   * ahead of the tasks, so each arrives no later than the tasks that need it
   * (the agent acts on the set after its last part). Removed ids go with the
   * last part. Returns the number of messages sent.
   */
  private sendAssignments(s: Session, heartbeatPeriodMs: number, m: AssignmentMessage, managers = this.o.managers()): number {
    const filesParts = packFiles(m.files.secrets, m.files.configs);
    const taskParts = Math.max(1, Math.ceil(m.tasks.length / TASKS_PER_MESSAGE));
    // Small files ride with the first tasks; bigger ones get parts of their own.
    const alone = filesParts.length > 1 || (filesParts.length === 1 && filesParts[0].bytes > FILES_WITH_TASKS) ? filesParts : [];
    const withTasks = alone.length === 0 && filesParts.length === 1 ? filesParts[0] : undefined;
    const parts = alone.length + taskParts;
    for (let i = 0; i < parts; i++) {
      const last = i === parts - 1;
      const tasks: control.Task__Output[] = [];
      let secrets: Secret[] = [];
      let configs: Config[] = [];
      if (i < alone.length) {
        ({ secrets, configs } = alone[i]);
      } else {
        const k = i - alone.length;
        for (let j = k * TASKS_PER_MESSAGE; j < Math.min(m.tasks.length, (k + 1) * TASKS_PER_MESSAGE); j++) tasks.push(protoOf(m.tasks[j]));
        if (k === 0 && withTasks) ({ secrets, configs } = withTasks);
      }
      s.sink.send({
        sessionId: s.id,
        // The first part carries the session's settings; the others leave them "unchanged".
        managers: i === 0 ? managers : [],
        heartbeatPeriodMs: i === 0 ? heartbeatPeriodMs : 0,
        hasAssignments: true,
        tasks,
        incremental: m.incremental,
        removedTaskIds: last ? m.removedTaskIds : [],
        more: !last,
        dataPlane: null,
        secrets: secrets.map(secretProtoOf),
        removedSecretIds: last ? m.files.removedSecretIds : [],
        configs: configs.map(configProtoOf),
        removedConfigIds: last ? m.files.removedConfigIds : [],
        logSubscriptions: [],
        cancelledLogSubscriptions: [],
      });
    }
    return parts;
  }

  private schedulePush(): void {
    if (this.pushTimer || !this.running) return;
    this.pushTimer = setTimeout(
      () => {
        this.pushTimer = null;
        this.lastPushAt = performance.now();
        const nodes = [...this.dirtyNodes];
        this.dirtyNodes.clear();
        this.pushTo(nodes, 0);
      },
      windowDelay(this.lastPushAt, this.o.pushDelayMs ?? DEFAULT_PUSH_DELAY_MS),
    );
  }

  /** Send nodes[from..] their changes, PUSH_SLICE sessions per turn of the event loop. */
  private pushTo(nodes: ReadonlyArray<[string, Set<string> | 'all']>, from: number): void {
    if (!this.running) return;
    const end = Math.min(nodes.length, from + PUSH_SLICE);
    // The manager list went out with the session's first message, and goes out again when it changes
    // (sendManagersIfChanged): a push leaves it empty, which the agent reads as "unchanged".
    const managers: { id: string; address: string }[] = [];
    for (let i = from; i < end; i++) {
      const [nodeId, changed] = nodes[i];
      const s = this.sessions.get(nodeId);
      if (!s) continue;
      const m =
        changed === 'all' || !s.assignments.incremental
          ? s.assignments.next(this.assigned(nodeId))
          : s.assignments.nextFor(changed, (id) => this.ctx.store.get('task', id), nodeId);
      if (!m) continue;
      const messages = this.sendAssignments(s, 0, m, managers);
      this.o.metrics?.assignmentsSent(messages, m.tasks.length);
    }
    if (end < nodes.length) setImmediate(() => this.pushTo(nodes, end));
  }

  // ------------------------------------------------------------ batched writes

  private updateNode(nodeId: string, change: (n: Node) => Node | null): void {
    const prev = this.pendingNodes.get(nodeId);
    const combined = prev
      ? (n: Node): Node | null => {
          const a = prev(n);
          return change(a ?? n) ?? a;
        }
      : change;
    this.pendingNodes.set(nodeId, combined);
    void this.scheduleFlush();
  }

  /** Resolves when what is queued now has been written (rejects if that write failed). */
  private scheduleFlush(): Promise<void> {
    this.nextFlush ??= deferred();
    const done = this.nextFlush.promise;
    const queued = this.pendingStatus.size + this.pendingNodes.size;
    if (queued >= (this.o.maxBatch ?? 1_000)) {
      if (this.flushTimer) clearTimeout(this.flushTimer);
      this.flushTimer = null;
      void this.flush();
    } else if (!this.flushTimer) {
      this.flushTimer = setTimeout(
        () => {
          this.flushTimer = null;
          this.lastFlushAt = performance.now();
          void this.flush();
        },
        windowDelay(this.lastFlushAt, this.o.flushMs ?? 50),
      );
    }
    return done;
  }

  /** Write what is queued (one transaction per batch); resolves when written. */
  flush(): Promise<void> {
    const waiting = this.nextFlush;
    this.nextFlush = null;
    const run = this.flushing.then(() => this.writeQueued());
    this.flushing = run.then(
      () => waiting?.resolve(),
      (err: unknown) => {
        this.log?.warn({ err: String(err) }, 'writing status updates failed');
        waiting?.reject(err);
      },
    );
    return this.flushing;
  }

  /**
   * Write what is queued: node changes in one transaction, status reports in
   * transactions of at most MAX_STATUS_PER_TX, up to STATUS_TX_IN_FLIGHT of
   * them at once (a backlog of tens of thousands of reports would otherwise be
   * one Raft entry of megabytes, and one round trip at a time). Each task
   * appears once per flush, and flushes follow each other, so the store's
   * forward-only check always sees the state the reports build on. A
   * transaction that conflicts (something changed under us, e.g. the
   * orchestrator updated a task) is re-read from the store and retried.
   */
  private async writeQueued(): Promise<void> {
    const statuses = this.pendingStatus;
    const nodes = this.pendingNodes;
    this.pendingStatus = new Map();
    this.pendingNodes = new Map();
    const units: Queued[] = [];
    if (nodes.size > 0) units.push(nodes);
    for (const report of statuses) units.push(report);
    const r = await applyPlan(units, this.queued, {
      write: (actions) => this.writeReports(actions),
      maxPerTx: MAX_STATUS_PER_TX,
      inFlight: STATUS_TX_IN_FLIGHT,
      onConflict: { attempts: 5 },
      now: () => this.ctx.now(),
    });
    this.o.metrics?.statusWritten(r.proposed, r.proposedActions);
    if (r.error !== undefined) throw r.error;
  }

  /** How the applier writes what is queued: the node changes, or one task's status report, read against the store. */
  private readonly queued: UnitKind<Queued> = {
    // The node changes share no transaction with reports: they take a whole one's room.
    size: (u) => (u instanceof Map ? MAX_STATUS_PER_TX : 1),
    emit: (u, tx, now) => {
      if (!(u instanceof Map)) {
        const id = u[0];
        let status = u[1];
        const t = this.ctx.store.get('task', id);
        // Observed state only moves forward; equal states may carry new details (health, message).
        if (!t || status.state < t.status.state) return false;
        // Where the container is reachable is reported once, with RUNNING: a later report (health) keeps it.
        if (status.ports === undefined && status.networks === undefined && status.containerId === t.status.containerId && (t.status.ports || t.status.networks)) {
          status = { ...status, ...(t.status.ports ? { ports: t.status.ports } : {}), ...(t.status.networks ? { networks: t.status.networks } : {}) };
        }
        if (sameStatus(t.status, status)) return false;
        // Just the status, unconditionally: the store keeps it forward-only, and a
        // concurrent change of the task by a manager (desired state) is no conflict.
        tx.push(statusAction(id, status, now));
        return true;
      }
      for (const [id, change] of u) {
        const n = this.ctx.store.get('node', id);
        const next = n ? change(n) : null;
        if (!n || !next) {
          u.delete(id);
          continue;
        }
        tx.push(updateAction('node', { ...next, updatedAt: now }));
      }
      return u.size > 0;
    },
  };

  /** One transaction of what is queued; one the store refuses is written action by action, so that one report does not sink the others. */
  private async writeReports(actions: readonly Action[]): Promise<StoreObject[]> {
    try {
      return await this.ctx.write(actions);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      await this.writeOneByOne(actions);
      return [];
    }
  }

  private async writeOneByOne(actions: readonly Action[]): Promise<void> {
    for (const a of actions) {
      try {
        await this.ctx.write([a]);
      } catch (err) {
        this.log?.warn({ err: String(err), kind: a.kind }, 'a status report was refused by the store');
      }
    }
  }
}

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Nobody may be waiting (node status changes): never an unhandled rejection.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

const specProtos = new WeakMap<TaskTemplate, control.TaskTemplate__Output>();
const endpointProtos = new WeakMap<EndpointSpec, control.EndpointSpec__Output>();

function memo<K extends object, V>(cache: WeakMap<K, V>, key: K, make: (k: K) => V): V {
  let v = cache.get(key);
  if (v === undefined) cache.set(key, (v = make(key)));
  return v;
}

/** A stored task's proto form. Stored specs are frozen and shared by a service's tasks: each is converted once. */
function protoOf(t: Task): control.Task__Output {
  return taskToProtoWith(t, { spec: memo(specProtos, t.spec, taskTemplateToProto), endpoint: memo(endpointProtos, t.endpoint, endpointToProto) });
}

const secretProtos = new WeakMap<Secret, control.Secret__Output>();
const configProtos = new WeakMap<Config, control.Config__Output>();

/** A stored secret's proto form with its data, converted once per stored object (the data decoded once). */
function secretProtoOf(x: Secret): control.Secret__Output {
  return memo(secretProtos, x, secretWithDataToProto);
}

function configProtoOf(x: Config): control.Config__Output {
  return memo(configProtos, x, (c) => configToProto(c, true));
}

interface FilesPart {
  secrets: Secret[];
  configs: Config[];
  bytes: number;
}

/** Secrets and configs in parts of at most FILE_BYTES_PER_MESSAGE (an object larger than that alone); none when there are none. */
export function packFiles(secrets: readonly Secret[], configs: readonly Config[]): FilesPart[] {
  const parts: FilesPart[] = [];
  let cur: FilesPart = { secrets: [], configs: [], bytes: 0 };
  const add = (o: Secret | Config, into: (p: FilesPart) => void): void => {
    const n = wireSize(o);
    if (cur.bytes > 0 && cur.bytes + n > FILE_BYTES_PER_MESSAGE) {
      parts.push(cur);
      cur = { secrets: [], configs: [], bytes: 0 };
    }
    into(cur);
    cur.bytes += n;
  };
  for (const x of secrets) add(x, (p) => p.secrets.push(x));
  for (const x of configs) add(x, (p) => p.configs.push(x));
  if (cur.bytes > 0) parts.push(cur);
  return parts;
}

function sameStatus(a: TaskStatus, b: TaskStatus): boolean {
  return (
    a.state === b.state &&
    a.message === b.message &&
    a.err === b.err &&
    a.containerId === b.containerId &&
    a.exitCode === b.exitCode &&
    a.health === b.health &&
    JSON.stringify(a.ports) === JSON.stringify(b.ports) &&
    JSON.stringify(a.networks) === JSON.stringify(b.networks)
  );
}

/** A session message that changes nothing (every field "unchanged"), to add one thing to. */
function emptyMessage(sessionId: string): dispatcher.SessionMessage__Output {
  return {
    sessionId,
    managers: [],
    heartbeatPeriodMs: 0,
    hasAssignments: false,
    tasks: [],
    incremental: false,
    removedTaskIds: [],
    more: false,
    dataPlane: null,
    secrets: [],
    removedSecretIds: [],
    configs: [],
    removedConfigIds: [],
    logSubscriptions: [],
    cancelledLogSubscriptions: [],
  };
}

function notLeader(): ApiError {
  return new ApiError(grpc.status.UNAVAILABLE, 'this manager is not the leader');
}
