// The agent's session with the leader (proto/dispatcher.proto), the worker
// side of SwarmKit's dispatcher protocol:
// - open a Session at a manager: the leader answers, a follower says where
//   the leader is (leader-address metadata) and the session goes there;
// - learn the managers and the heartbeat period from the first message, then
//   heartbeat within the period;
// - hand the agent the complete set a session starts with (agent.assign) and
//   the changes that follow (incremental assignments: agent.assignChanges; or,
//   for an agent that takes only complete sets, the set rebuilt from them),
//   with the secrets and configs that came with them (never logged);
// - report the agent's status batches (UpdateTaskStatus, acknowledged once
//   committed); a failure makes the agent's batcher retry;
// - on any failure (the leader died, a partition, a heartbeat refused), close
//   the session and open a new one, at the next manager, with a backoff.
import * as grpc from '@grpc/grpc-js';
import { pino, type Logger } from 'pino';
import { configFromProto, nodeDescriptionToProto, secretFromProto, taskFromProto, taskStatusToProto } from '../api/convert.js';
import type { control, dispatcher } from '../api/wire.js';
import { loadDispatcherProto, NOT_LEADER_HEADER } from '../api/proto.js';
import type { SharedTaskParts } from '../api/shared-specs.js';
import type { Config, NodeDescription, Secret, Task } from '../api/objects.js';
import type { AssignedFiles } from './files.js';
import type { StatusUpdate } from './status-batcher.js';

export interface SessionTarget {
  id: string;
  address: string;
}

export interface ManagerSessionOptions {
  /** Credentials for the managers (the node's mTLS certificate). */
  credentials: grpc.ChannelCredentials;
  channelOptions?: grpc.ChannelOptions;
  /** Managers to try, as last known (kept up to date from the sessions). */
  managers: SessionTarget[];
  /** Hands a complete assignment set to the agent, with every secret and config its tasks reference. */
  assign: (tasks: Task[], files: AssignedFiles) => Promise<void>;
  /**
   * Hands the changes of an incremental message to the agent (tasks new or
   * changed, ids gone; secrets and configs newly referenced, ids no longer
   * referenced). Without it, every message is turned into the complete set
   * for `assign`, which costs the node's whole set each time.
   */
  assignChanges?: (changed: Task[], removedTaskIds: string[], files: AssignedFiles) => Promise<void>;
  /** The node's description, sent when a session opens. */
  describe: () => Promise<NodeDescription>;
  /** Called when the leader sends a different manager list (to persist it). */
  onManagers?: (managers: SessionTarget[]) => void;
  /** Log subscriptions the leader sends (new, cancelled): see log-publisher.ts. */
  onLogSubscriptions?: (added: dispatcher.LogSubscription__Output[], cancelled: string[]) => void;
  /** The data plane's tables (routing mesh, virtual IPs, DNS), as the leader sends them: complete, then changes. */
  onDataPlane?: (plane: dispatcher.DataPlane__Output) => void;
  logger?: Logger;
  /** Reconnect delays (default 100 ms, doubling to 2 s). */
  backoff?: { initialMs: number; maxMs: number };
  /** A session whose first message does not come within this is abandoned (default 5 s). */
  openTimeoutMs?: number;
}

/**
 * A leader hint naming an address that failed this recently is not followed
 * (it is stale). Followers name a dead leader only until they elect another
 * (2-4 s of election timeout); one they name for longer is alive, and only
 * our connection to it broke: follow it then.
 */
const FAILED_MEMORY_MS = 6_000;
/** How many distinct spec parts readTask remembers (services whose tasks arrive interleaved). */
const RECENT_PARTS = 4;
/** The retry after a manager answered but named no leader to go to (none yet, or a stale one): an election is likely under way. */
const ANSWERED_RETRY_MS = 200;

/** The parts of an assignment message received so far, while the leader sends it in parts. */
interface PartialAssignment {
  incremental: boolean;
  tasks: Task[];
  secrets: Secret[];
  configs: Config[];
}

export class ManagerSession {
  private readonly log: Logger;
  private managers: SessionTarget[];
  private next = 0;
  private leaderHint = '';
  private readonly clients = new Map<string, grpc.Client>();
  private sessionId = '';
  private sessionAddr = '';
  private call: grpc.ClientReadableStream<dispatcher.SessionMessage__Output> | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private backoffMs: number;
  private stopped = false;
  private connectedOnce = false;
  /** Addresses whose session failed, and when: a stale leader hint must not send us back there. */
  private readonly failedAt = new Map<string, number>();
  /** Managers that failed in a row without any manager answering in between. */
  private silentInARow = 0;
  private openTimer: NodeJS.Timeout | null = null;
  /** The delay of the next retry when it is not the backoff's (see ANSWERED_RETRY_MS). */
  private nextDelayMs: number | undefined;
  /** Spec parts of tasks read lately, newest first (see readTask). */
  private readonly recentParts: SharedTaskParts[] = [];
  /** The node's assignment set as the leader last described it (by task id), and its secrets and configs (by id). */
  private assigned = new Map<string, Task>();
  private heldSecrets = new Map<string, Secret>();
  private heldConfigs = new Map<string, Config>();
  /** An assignment message whose last part has not come yet. */
  private partial: PartialAssignment | null = null;

  constructor(private readonly o: ManagerSessionOptions) {
    this.log = (o.logger ?? pino({ level: 'silent' })).child({ component: 'session' });
    this.managers = [...o.managers];
    this.backoffMs = o.backoff?.initialMs ?? 100;
  }

  /**
   * A task from the wire, sharing the spec parts of one read lately when they
   * are equal: the tasks of one service carry the same spec, and checking
   * equality costs a fraction of validating it again (and the agent then holds
   * one copy).
   */
  private readTask(x: control.Task__Output): Task {
    const t = taskFromProto(x, this.recentParts);
    if (!this.recentParts.some((p) => p.spec === t.spec && p.endpoint === t.endpoint)) {
      this.recentParts.unshift({ spec: t.spec, endpoint: t.endpoint });
      if (this.recentParts.length > RECENT_PARTS) this.recentParts.pop();
    }
    return t;
  }

  /** True while a session is open. */
  get connected(): boolean {
    return this.sessionId !== '';
  }

  start(): void {
    void this.open();
  }

  /** Report status changes through the open session (the agent's reporter). Rejects when there is none. */
  report = async (updates: StatusUpdate[]): Promise<void> => {
    if (!this.sessionId) throw new Error('no session with the leader yet');
    const client = this.client(this.sessionAddr);
    await new Promise<void>((resolve, reject) => {
      client.makeUnaryRequest<dispatcher.UpdateTaskStatusRequest, dispatcher.UpdateTaskStatusResponse__Output>(
        '/flotilla.dispatcher.Dispatcher/UpdateTaskStatus',
        serializer('UpdateTaskStatus', 'request'),
        deserializer('UpdateTaskStatus'),
        { sessionId: this.sessionId, updates: updates.map((u) => ({ taskId: u.taskId, status: taskStatusToProto(u.status) })) },
        new grpc.Metadata(),
        { deadline: Date.now() + 10_000 },
        (err) => (err ? reject(err) : resolve()),
      );
    });
  };

  /**
   * A PublishLogs stream to the manager of the open session (the lines of one
   * log subscription), with that session's id; null without a session.
   * `answered` gets the manager's answer: it ends the stream (done, or the
   * subscription is over) or refuses it.
   */
  publishLogs(answered: (err: grpc.ServiceError | null) => void): { sessionId: string; call: grpc.ClientWritableStream<dispatcher.PublishLogsMessage> } | null {
    if (!this.sessionId) return null;
    const def = loadDispatcherProto().service.PublishLogs as grpc.MethodDefinition<dispatcher.PublishLogsMessage, dispatcher.PublishLogsResponse__Output>;
    const call = this.client(this.sessionAddr).makeClientStreamRequest(def.path, def.requestSerialize, def.responseDeserialize, new grpc.Metadata(), {}, (err) => answered(err ?? null));
    return { sessionId: this.sessionId, call };
  }

  private target(): string {
    if (this.leaderHint) {
      const hint = this.leaderHint;
      this.leaderHint = '';
      return hint;
    }
    if (this.managers.length === 0) return '';
    // Round robin, passing over managers that failed lately while another has not:
    // a vanished leader costs the open timeout each time it is tried.
    const n = this.managers.length;
    for (let i = 0; i < n; i++) {
      const m = this.managers[(this.next + i) % n];
      const failed = this.failedAt.get(m.address);
      if (failed === undefined || Date.now() - failed >= FAILED_MEMORY_MS) {
        this.next += i + 1;
        return m.address;
      }
    }
    const m = this.managers[this.next % n];
    this.next++;
    return m.address;
  }

  private async open(): Promise<void> {
    if (this.stopped) return;
    const addr = this.target();
    if (!addr) {
      this.retry('no manager address known');
      return;
    }
    let description: NodeDescription;
    try {
      description = await this.o.describe();
    } catch (err) {
      this.retry(`cannot describe this node: ${String(err)}`);
      return;
    }
    if (this.stopped) return;
    const client = this.client(addr);
    const call = client.makeServerStreamRequest<dispatcher.SessionRequest, dispatcher.SessionMessage__Output>(
      '/flotilla.dispatcher.Dispatcher/Session',
      serializer('Session', 'request'),
      deserializer('Session'),
      { description: nodeDescriptionToProto(description), incrementalAssignments: true },
      new grpc.Metadata(),
      {},
    );
    this.call = call;
    this.partial = null;
    let first = true;
    // A manager that vanished (its host gone) leaves the connect hanging: give up
    // on it, with its channel, and try the next one.
    if (this.openTimer) clearTimeout(this.openTimer);
    this.openTimer = setTimeout(() => {
      this.openTimer = null;
      if (this.call !== call || !first) return;
      this.dropClient(addr);
      this.markFailed(addr);
      this.closeSession(`no answer from ${addr} within ${this.o.openTimeoutMs ?? 5_000} ms`);
    }, this.o.openTimeoutMs ?? 5_000);
    call.on('data', (msg: dispatcher.SessionMessage__Output) => {
      // One message (up to a thousand tasks) per turn of the event loop: gRPC hands over every message it has
      // read at once, and the parts of a 20,000-task set read and validated back to back held the loop for a
      // second, in the leader's own process too (every manager runs an agent).
      if (msg.hasAssignments && msg.tasks.length > 0) {
        call.pause();
        setImmediate(() => call.resume());
      }
      if (first) {
        first = false;
        if (this.openTimer) clearTimeout(this.openTimer);
        this.openTimer = null;
        this.failedAt.delete(addr);
        this.silentInARow = 0;
        this.sessionId = msg.sessionId;
        this.sessionAddr = addr;
        this.backoffMs = this.o.backoff?.initialMs ?? 100;
        this.log.info({ manager: addr, session: msg.sessionId, reconnect: this.connectedOnce }, 'session open');
        this.connectedOnce = true;
        this.scheduleHeartbeat(msg.heartbeatPeriodMs);
      }
      if (msg.managers.length > 0 && JSON.stringify(msg.managers) !== JSON.stringify(this.managers)) {
        this.managers = msg.managers.map((m) => ({ id: m.id, address: m.address }));
        this.o.onManagers?.(this.managers);
      }
      if (msg.logSubscriptions.length > 0 || msg.cancelledLogSubscriptions.length > 0) this.o.onLogSubscriptions?.(msg.logSubscriptions, msg.cancelledLogSubscriptions);
      if (msg.dataPlane) {
        try {
          this.o.onDataPlane?.(msg.dataPlane);
        } catch (err) {
          this.log.warn({ err: String(err) }, 'the data plane could not apply a table change');
        }
      }
      if (msg.hasAssignments) {
        let tasks: Task[];
        let secrets: Secret[];
        let configs: Config[];
        try {
          tasks = msg.tasks.map((x) => this.readTask(x));
          // Validated as the store validates them; an error names a field, never quotes the data.
          secrets = msg.secrets.map((x) => secretFromProto(x));
          configs = msg.configs.map((x) => configFromProto(x));
        } catch (err) {
          this.log.error({ err: String(err) }, 'the leader sent an assignment this agent cannot read');
          // Changes build on each other: after a lost one, only a complete set (a new session) is right again.
          if (msg.incremental || this.partial) this.closeSession('unreadable assignment changes');
          return;
        }
        // A large set comes in parts: act on it once it is whole (a complete set cut short means "stop the rest").
        if (this.partial) {
          if (this.partial.incremental !== msg.incremental) {
            this.closeSession('the leader mixed the parts of two assignment messages');
            return;
          }
          for (const t of tasks) this.partial.tasks.push(t);
          for (const x of secrets) this.partial.secrets.push(x);
          for (const x of configs) this.partial.configs.push(x);
          ({ tasks, secrets, configs } = this.partial);
        }
        if (msg.more) {
          this.partial ??= { incremental: msg.incremental, tasks, secrets, configs };
          return;
        }
        this.partial = null;
        const files: AssignedFiles = { secrets, removedSecretIds: msg.removedSecretIds, configs, removedConfigIds: msg.removedConfigIds };
        const failed = (err: unknown): void => this.log.warn({ err: String(err) }, 'assignment failed');
        if (this.o.assignChanges) {
          if (msg.incremental) this.o.assignChanges(tasks, msg.removedTaskIds, files).catch(failed);
          else this.o.assign(tasks, files).catch(failed);
          return;
        }
        if (!msg.incremental) {
          this.assigned = new Map();
          this.heldSecrets = new Map();
          this.heldConfigs = new Map();
        }
        for (const id of msg.removedTaskIds) this.assigned.delete(id);
        for (const t of tasks) this.assigned.set(t.id, t);
        for (const id of msg.removedSecretIds) this.heldSecrets.delete(id);
        for (const x of secrets) this.heldSecrets.set(x.id, x);
        for (const id of msg.removedConfigIds) this.heldConfigs.delete(id);
        for (const x of configs) this.heldConfigs.set(x.id, x);
        const whole: AssignedFiles = { secrets: [...this.heldSecrets.values()], removedSecretIds: [], configs: [...this.heldConfigs.values()], removedConfigIds: [] };
        this.o.assign([...this.assigned.values()], whole).catch(failed);
      }
    });
    call.on('error', (err: grpc.ServiceError) => {
      if (this.call !== call) return;
      const hint = err.metadata?.get('leader-address')[0];
      // A manager that answered "not the leader" is alive, even when it knows no leader yet (an election).
      const answered = err.code === grpc.status.UNAVAILABLE && (!!hint || err.metadata?.get(NOT_LEADER_HEADER).length > 0);
      if (answered) this.silentInARow = 0;
      else this.markFailed(addr);
      if (answered && !hint) this.nextDelayMs = ANSWERED_RETRY_MS;
      const failed = typeof hint === 'string' ? this.failedAt.get(hint) : undefined;
      const stale = failed !== undefined && Date.now() - failed < FAILED_MEMORY_MS;
      if (typeof hint === 'string' && hint && hint !== addr && !stale) {
        this.leaderHint = hint;
        this.backoffMs = this.o.backoff?.initialMs ?? 100;
      } else if (stale) {
        // A live manager answered, naming a leader that failed us lately: ask the
        // next manager soon, without growing the backoff (a new leader is likely
        // being elected).
        this.nextDelayMs = ANSWERED_RETRY_MS;
      }
      this.closeSession(`${grpc.status[err.code] ?? err.code}: ${err.details}`);
    });
    call.on('end', () => {
      if (this.call === call) this.closeSession('the manager ended the session');
    });
  }

  private scheduleHeartbeat(periodMs: number): void {
    if (this.heartbeatTimer) clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = setTimeout(() => void this.heartbeat(), Math.max(10, periodMs));
  }

  private heartbeat(): void {
    const sessionId = this.sessionId;
    if (!sessionId || this.stopped) return;
    this.client(this.sessionAddr).makeUnaryRequest<dispatcher.HeartbeatRequest, dispatcher.HeartbeatResponse__Output>(
      '/flotilla.dispatcher.Dispatcher/Heartbeat',
      serializer('Heartbeat', 'request'),
      deserializer('Heartbeat'),
      { sessionId },
      new grpc.Metadata(),
      { deadline: Date.now() + 5_000 },
      (err, res) => {
        if (this.sessionId !== sessionId) return;
        if (err || !res) {
          if (err?.code === grpc.status.DEADLINE_EXCEEDED) {
            this.dropClient(this.sessionAddr);
            this.markFailed(this.sessionAddr);
          }
          this.closeSession(`heartbeat failed: ${err?.details ?? 'no answer'}`);
          return;
        }
        this.scheduleHeartbeat(res.periodMs);
      },
    );
  }

  /**
   * Remembers that `addr` failed us, so a stale leader hint does not send us
   * back there at once (a vanished leader costs the open timeout). But when a
   * second manager in a row fails without any answering in between, the fault
   * is more likely ours (our network was cut): such failures say nothing about
   * any one manager, and what was remembered is forgotten, so that once we are
   * back the leader the others name is tried at once.
   */
  private markFailed(addr: string): void {
    if (++this.silentInARow >= 2) {
      if (this.failedAt.size) this.log.debug({ managers: [...this.failedAt.keys()] }, 'managers fail one after another: our own network? forgetting which ones failed');
      this.failedAt.clear();
      return;
    }
    this.failedAt.set(addr, Date.now());
  }

  private closeSession(why: string): void {
    const call = this.call;
    this.call = null;
    call?.cancel();
    if (this.heartbeatTimer) clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = null;
    if (this.sessionId) this.log.warn({ why }, 'session closed');
    this.sessionId = '';
    this.retry(why);
  }

  private retry(why: string): void {
    if (this.stopped || this.retryTimer) return;
    const delay = this.leaderHint ? 0 : (this.nextDelayMs ?? this.backoffMs);
    if (this.nextDelayMs === undefined) this.backoffMs = Math.min(this.backoffMs * 2, this.o.backoff?.maxMs ?? 2_000);
    this.nextDelayMs = undefined;
    this.log.debug({ why, delay }, 'opening a new session');
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.open();
    }, delay);
  }

  private dropClient(address: string): void {
    this.clients.get(address)?.close();
    this.clients.delete(address);
  }

  private client(address: string): grpc.Client {
    let c = this.clients.get(address);
    if (!c) {
      c = new grpc.Client(address, this.o.credentials, this.o.channelOptions);
      this.clients.set(address, c);
    }
    return c;
  }

  stop(): void {
    this.stopped = true;
    if (this.openTimer) clearTimeout(this.openTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.heartbeatTimer) clearTimeout(this.heartbeatTimer);
    this.call?.cancel();
    this.call = null;
    this.sessionId = '';
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}

type DispatcherMethodName = 'Session' | 'Heartbeat' | 'UpdateTaskStatus';

function serializer(method: DispatcherMethodName, _kind: 'request'): (value: object) => Buffer {
  const def = loadDispatcherProto().service[method];
  return (v) => def.requestSerialize(v);
}

function deserializer<T>(method: DispatcherMethodName): (b: Buffer) => T {
  const def = loadDispatcherProto().service[method];
  return (b) => def.responseDeserialize(b) as T;
}
