// A small in-memory Control service for the CLI's own tests: a real gRPC
// server (proto/control.proto, the project's converters and error mapping)
// on a unix socket or a TCP port, with optimistic concurrency, name
// uniqueness, and error injection. Not the manager: just enough to drive the
// CLI end to end.
import * as grpc from '@grpc/grpc-js';
import {
  clusterSpecFromProto,
  clusterToProto,
  networkSpecFromProto,
  networkToProto,
  nodeToProto,
  requireVersion,
  serviceSpecFromProto,
  serviceToProto,
  taskToProto,
} from '../../src/api/convert.js';
import type { control } from '../../src/api/wire.js';
import { nodeAvailabilityFromProto, nodeRoleFromProto } from '../../src/api/enums.js';
import { ApiError, toGrpcStatus } from '../../src/manager/grpc-status.js';
import { withStrictWire } from '../../src/common/strict-wire.js';
import { loadControlProto, type ControlMethod, type ControlUnaryMethod } from '../../src/api/proto.js';
import { NameConflictError, NotFoundError, VersionConflictError } from '../../src/manager/store/store.js';
import { TaskState, type Cluster, type Network, type Node, type Service, type ServiceSpec, type Task } from '../../src/api/objects.js';
import { checkClusterSpecChange, checkServiceSpecChange, DEFAULT_NETWORK_CONFIG } from '../../src/api/validate.js';
import { ValidationError } from '../../src/api/input.js';
import { generateUnlockKey } from '../../src/manager/encryption/unlock-key.js';
import { assignPublishedPorts, resolvedPorts } from '../../src/manager/dispatcher/endpoints.js';
import { aliasesByNetworkId } from '../../src/manager/controlapi/services.js';

export interface InjectedError {
  code: grpc.status;
  details: string;
  metadata?: Record<string, string>;
}

export interface ManagerEntry {
  nodeId: string;
  raftId: string;
  addr: string;
  leader: boolean;
  /** 0 unknown, 1 unreachable, 2 reachable */
  reachability: number;
}

type Req = Record<string, unknown>;
type Handler = (req: Req) => object;

function notHere(kind: string): Handler {
  return () => {
    throw new ApiError(grpc.status.UNIMPLEMENTED, `the fake control has no ${kind}s`);
  };
}

export class FakeControl {
  readonly nodes = new Map<string, Node>();
  readonly services = new Map<string, Service>();
  readonly tasks = new Map<string, Task>();
  readonly networks = new Map<string, Network>();
  /** ListTasks answers at most this many tasks at once (the manager's 5,000; tests lower it to see the CLI page). */
  maxTasksPerAnswer = 5_000;
  cluster: Cluster | null = null;
  joinTokens = { worker: 'SWMTKN-1-worker-token', manager: 'SWMTKN-1-manager-token' };
  info = { leaderId: '', leaderAddr: '', term: 0, managers: [] as ManagerEntry[], selfId: '' };
  /** The cluster's unlock key; '' while autolock is off. */
  unlockKey = '';
  /** Every call received, in order. */
  readonly calls: { method: ControlMethod; request: Req }[] = [];
  /** Errors to answer the next calls of a method with, in order. */
  readonly inject = new Map<ControlMethod, InjectedError[]>();
  /** Delay (ms) before answering the next call of a method (to exercise deadlines). */
  readonly delays = new Map<ControlMethod, number>();
  /** Run before a write is checked (e.g. to change the object under the caller's feet). */
  beforeWrite: ((method: ControlMethod) => void) | null = null;
  /** Run before any call is answered (e.g. to move an update on between two reads of the CLI's progress). */
  beforeCall: ((method: ControlMethod) => void) | null = null;
  /** Run after UpdateService stored a new spec (e.g. to play the updater: tasks and update status). */
  afterUpdate: ((service: Service) => void) | null = null;

  /** Forget every object, call, injected error and delay (a test's fresh start). */
  reset(): void {
    this.nodes.clear();
    this.services.clear();
    this.tasks.clear();
    this.networks.clear();
    this.calls.length = 0;
    this.inject.clear();
    this.delays.clear();
    this.beforeWrite = null;
    this.afterUpdate = null;
    this.beforeCall = null;
    this.maxTasksPerAnswer = 5_000;
  }

  private index = 100;
  private nextId = 1;
  private server: grpc.Server | null = null;

  /** The next Raft-index-like version. */
  bump(): number {
    this.index += 1;
    return this.index;
  }

  newId(prefix: string): string {
    const n = this.nextId++;
    return `${prefix}${String(n).padStart(4, '0')}abcdefghijklmnopqrst`.slice(0, 25);
  }

  addNode(n: Node): Node {
    const node = { ...n, version: this.bump() };
    this.nodes.set(node.id, node);
    return node;
  }

  addService(s: Service): Service {
    const svc = { ...s, version: this.bump() };
    this.services.set(svc.id, svc);
    return svc;
  }

  addNetwork(n: Network): Network {
    const network = { ...n, version: this.bump() };
    this.networks.set(network.id, network);
    return network;
  }

  addTask(t: Task): Task {
    const task = { ...t, version: this.bump() };
    this.tasks.set(task.id, task);
    return task;
  }

  failNext(method: ControlMethod, ...errors: InjectedError[]): void {
    this.inject.set(method, [...(this.inject.get(method) ?? []), ...errors]);
  }

  callsOf(method: ControlMethod): Req[] {
    return this.calls.filter((c) => c.method === method).map((c) => c.request);
  }

  private findService(idOrName: string): Service {
    const s = this.services.get(idOrName) ?? [...this.services.values()].find((x) => x.spec.name === idOrName);
    if (!s) throw new NotFoundError('not-found', `service ${idOrName} not found`);
    return s;
  }

  /** As the manager (controlapi/networks.ts): an id, a name (any case), or a unique id prefix. */
  private findNetwork(ref: string): Network {
    if (!ref) throw new ApiError(grpc.status.INVALID_ARGUMENT, 'a network id or name is required');
    const all = [...this.networks.values()];
    const direct = this.networks.get(ref) ?? all.find((n) => n.spec.name.toLowerCase() === ref.toLowerCase());
    if (direct) return direct;
    const byPrefix = all.filter((n) => n.id.startsWith(ref));
    if (byPrefix.length === 1) return byPrefix[0];
    if (byPrefix.length > 1) throw new ApiError(grpc.status.FAILED_PRECONDITION, `network reference "${ref}" is ambiguous: use the full id or the name`);
    throw new NotFoundError('not-found', `network "${ref}" not found: see \`flotilla network ls\``);
  }

  /** As the manager (controlapi/services.ts): the spec's networks as ids (a missing one is INVALID_ARGUMENT), and its resolved ports. */
  private resolve(spec: ServiceSpec, current?: Service): { spec: ServiceSpec; endpoint: Service['endpoint'] } {
    const refs = spec.taskTemplate.networks ?? [];
    const ids = refs.map((ref, i) => {
      try {
        return this.findNetwork(ref).id;
      } catch {
        throw new ValidationError(`spec.taskTemplate.networks[${i}]`, 'network-not-found', `network "${ref}" not found: create it with \`flotilla network create ${ref}\`, or see \`flotilla network ls\``);
      }
    });
    const { networkAliases: given, ...template } = spec.taskTemplate;
    const aliases = given === undefined ? {} : aliasesByNetworkId(refs, ids, given);
    const resolved = refs.length === 0 ? spec : { ...spec, taskTemplate: { ...template, networks: [...new Set(ids)], ...(Object.keys(aliases).length > 0 ? { networkAliases: aliases } : {}) } };
    if (spec.endpoint.ports.length === 0) return { spec: resolved, endpoint: undefined };
    const others = [...this.services.values()].filter((o) => o.id !== current?.id);
    const taken = new Set(others.flatMap((o) => resolvedPorts(o).filter((q) => q.publishMode === 'ingress').map((q) => `${q.publishedPort}/${q.protocol}`)));
    const net = this.cluster?.spec.network ?? DEFAULT_NETWORK_CONFIG;
    const ports = assignPublishedPorts(spec.endpoint.ports, current?.endpoint?.ports ?? [], taken, { start: net.publishedPortRangeStart, end: net.publishedPortRangeEnd });
    if (ports === undefined) throw new ApiError(grpc.status.RESOURCE_EXHAUSTED, 'every published port of the range is in use');
    return { spec: resolved, endpoint: { ports } };
  }

  private node(id: string): Node {
    const n = this.nodes.get(id);
    if (!n) throw new NotFoundError('not-found', `node ${id} not found`);
    return n;
  }

  /** As the manager: a version is required (INVALID_ARGUMENT), a stale one is ABORTED. */
  private checkVersion(kind: string, id: string, have: number, want: unknown): void {
    requireVersion(want, kind, `Get${kind[0].toUpperCase()}${kind.slice(1)}`);
    if (have !== want) throw new VersionConflictError('version-conflict', `${kind} ${id} is at version ${have}, not ${String(want)}`);
  }

  private readonly handlers: Record<ControlUnaryMethod, Handler> = {
    GetNode: (r) => ({ node: nodeToProto(this.node(String(r.nodeId))) }),
    ListNodes: () => ({ nodes: [...this.nodes.values()].map(nodeToProto) }),
    UpdateNode: (r) => {
      this.beforeWrite?.('UpdateNode');
      const n = this.node(String(r.nodeId));
      this.checkVersion('node', n.id, n.version, r.version);
      const next: Node = structuredClone(n);
      if (r.hasAvailability) next.availability = nodeAvailabilityFromProto(r.availability);
      if (r.hasRole) next.role = nodeRoleFromProto(r.role);
      for (const k of (r.labelsRm as string[]) ?? []) delete next.labels[k];
      Object.assign(next.labels, (r.labelsAdd as Record<string, string>) ?? {});
      next.version = this.bump();
      this.nodes.set(n.id, next);
      return { node: nodeToProto(next) };
    },
    RemoveNode: (r) => {
      const n = this.node(String(r.nodeId));
      if (!r.force && n.status.state !== 'down') {
        throw Object.assign(new Error(`node ${n.id} is not down and can't be removed`), { grpcCode: grpc.status.FAILED_PRECONDITION });
      }
      this.nodes.delete(n.id);
      return {};
    },
    CreateService: (r) => {
      this.beforeWrite?.('CreateService');
      const requested = serviceSpecFromProto(r.spec as control.ServiceSpec__Output);
      if ([...this.services.values()].some((s) => s.spec.name.toLowerCase() === requested.name.toLowerCase())) {
        throw new NameConflictError('name-conflict', `service name ${requested.name} is already taken`);
      }
      const { spec, endpoint } = this.resolve(requested);
      const now = Date.now();
      const version = this.bump();
      const svc: Service = { id: this.newId('s'), version, createdAt: now, updatedAt: now, spec, specVersion: version, ...(endpoint ? { endpoint } : {}) };
      this.services.set(svc.id, svc);
      return { service: serviceToProto(svc) };
    },
    GetService: (r) => ({ service: serviceToProto(this.findService(String(r.serviceIdOrName))) }),
    ListServices: () => ({
      // With docker's ServiceStatus, counted as the manager counts it.
      services: [...this.services.values()].map((svc) => {
        const mine = [...this.tasks.values()].filter((t) => t.serviceId === svc.id && t.desiredState === TaskState.RUNNING);
        const desiredTasks = 'replicated' in svc.spec.mode ? svc.spec.mode.replicated.replicas : mine.length;
        return { ...serviceToProto(svc), serviceStatus: { runningTasks: mine.filter((t) => t.status.state === TaskState.RUNNING).length, desiredTasks } };
      }),
    }),
    UpdateService: (r) => {
      this.beforeWrite?.('UpdateService');
      const s = this.services.get(String(r.serviceId));
      if (!s) throw new NotFoundError('not-found', `service ${String(r.serviceId)} not found`);
      this.checkVersion('service', s.id, s.version, r.version);
      if (r.rollback) {
        // As the manager (src/manager/controlapi/services.ts): spec and previous spec swap, rollback_started.
        if (r.spec !== null && r.spec !== undefined) throw new ApiError(grpc.status.INVALID_ARGUMENT, 'other changes may not be combined with a rollback');
        if (!s.previousSpec) throw new ApiError(grpc.status.FAILED_PRECONDITION, `service "${s.spec.name}" does not have a previous spec: there is nothing to roll back to`);
        const status = { state: 'rollback_started' as const, startedAt: Date.now(), completedAt: 0, message: 'manually requested rollback', startVersion: s.version, canary: 'none' as const };
        const version = this.bump();
        const next: Service = { ...s, spec: s.previousSpec, previousSpec: s.spec, updateStatus: status, version, specVersion: version, updatedAt: Date.now() };
        this.services.set(s.id, next);
        return { service: serviceToProto(next) };
      }
      const { spec, endpoint } = this.resolve(serviceSpecFromProto(r.spec as control.ServiceSpec__Output), s);
      checkServiceSpecChange(s.spec, spec);
      const version = this.bump();
      // A new spec: the old one is what a rollback returns to, and no update has run on it yet.
      const next: Service = { ...s, spec, endpoint, previousSpec: s.spec, updateStatus: undefined, version, specVersion: version, updatedAt: Date.now() };
      if (endpoint === undefined) delete next.endpoint;
      this.services.set(s.id, next);
      this.afterUpdate?.(next);
      return { service: serviceToProto(next) };
    },
    PromoteService: (r) => {
      this.beforeWrite?.('PromoteService');
      const s = this.services.get(String(r.serviceId));
      if (!s) throw new NotFoundError('not-found', `service ${String(r.serviceId)} not found`);
      this.checkVersion('service', s.id, s.version, r.version);
      const st = s.updateStatus;
      if (st?.canary !== 'awaiting_promotion') throw new ApiError(grpc.status.FAILED_PRECONDITION, `service "${s.spec.name}" has no canaries awaiting promotion`);
      const next: Service = { ...s, updateStatus: { ...st, canary: 'promoted', message: 'update in progress: canaries promoted' }, version: this.bump(), updatedAt: Date.now() };
      this.services.set(s.id, next);
      return { service: serviceToProto(next) };
    },
    RemoveService: (r) => {
      const s = this.services.get(String(r.serviceId));
      if (!s) throw new NotFoundError('not-found', `service ${String(r.serviceId)} not found`);
      this.services.delete(s.id);
      return {};
    },
    ListTasks: (r) => {
      const f = (r.filters ?? {}) as { serviceIds?: string[]; nodeIds?: string[]; desiredStates?: number[] };
      const tasks = [...this.tasks.values()].filter(
        (t) =>
          (!f.serviceIds?.length || f.serviceIds.includes(t.serviceId)) &&
          (!f.nodeIds?.length || f.nodeIds.includes(t.nodeId)) &&
          (!f.desiredStates?.length || f.desiredStates.includes(t.desiredState)) &&
          t.id > String(r.pageToken ?? ''),
      );
      tasks.sort((a, b) => (a.id < b.id ? -1 : 1));
      const size = Number(r.pageSize ?? 0);
      const limit = size === 0 ? this.maxTasksPerAnswer : Math.min(size, this.maxTasksPerAnswer);
      if (size === 0 && tasks.length > limit) throw new ApiError(grpc.status.RESOURCE_EXHAUSTED, 'too many tasks for one answer');
      const page = tasks.slice(0, limit);
      return { tasks: page.map(taskToProto), nextPageToken: tasks.length > limit ? page[page.length - 1].id : '' };
    },
    CreateNetwork: (r) => {
      this.beforeWrite?.('CreateNetwork');
      const spec = networkSpecFromProto(r.spec as control.NetworkSpec__Output);
      if ([...this.networks.values()].some((n) => n.spec.name.toLowerCase() === spec.name.toLowerCase())) {
        throw new NameConflictError('name-conflict', `network name ${spec.name} is already taken`);
      }
      const now = Date.now();
      const network: Network = { id: this.newId('n'), version: this.bump(), createdAt: now, updatedAt: now, spec };
      this.networks.set(network.id, network);
      return { network: networkToProto(network) };
    },
    GetNetwork: (r) => ({ network: networkToProto(this.findNetwork(String(r.networkId ?? ''))) }),
    ListNetworks: (r) => {
      const f = (r.filters ?? {}) as { names?: string[]; idPrefixes?: string[] };
      const networks = [...this.networks.values()]
        .filter((n) => !f.idPrefixes?.length || f.idPrefixes.some((p) => n.id.startsWith(p)))
        .filter((n) => !f.names?.length || f.names.some((name) => n.spec.name.toLowerCase() === name.toLowerCase()));
      return { networks: networks.map(networkToProto) };
    },
    RemoveNetwork: (r) => {
      const n = this.findNetwork(String(r.networkId ?? ''));
      // As the manager: a previous spec counts (a rollback would attach its tasks again).
      const users = [...this.services.values()]
        .filter((s) => (s.spec.taskTemplate.networks ?? []).includes(n.id) || (s.previousSpec?.taskTemplate.networks ?? []).includes(n.id))
        .map((s) => s.spec.name);
      if (users.length > 0) throw new ApiError(grpc.status.FAILED_PRECONDITION, `network "${n.spec.name}" is in use by service ${users.map((u) => `"${u}"`).join(', ')}`);
      this.networks.delete(n.id);
      return {};
    },
    GetCluster: () => {
      if (!this.cluster) throw new NotFoundError('not-found', 'no cluster object');
      return { cluster: clusterToProto(this.cluster) };
    },
    UpdateCluster: (r) => {
      this.beforeWrite?.('UpdateCluster');
      const c = this.cluster;
      if (!c) throw new NotFoundError('not-found', 'no cluster object');
      this.checkVersion('cluster', c.id, c.version, r.version);
      const spec = clusterSpecFromProto(r.spec as control.ClusterSpec__Output);
      checkClusterSpecChange(c.spec, spec);
      this.cluster = { ...c, spec, version: this.bump(), updatedAt: Date.now() };
      const locked = spec.encryption?.autoLockManagers === true;
      if (locked !== Boolean(this.unlockKey)) this.unlockKey = locked ? generateUnlockKey() : '';
      return { cluster: clusterToProto(this.cluster) };
    },
    GetJoinTokens: () => ({ joinTokens: { ...this.joinTokens } }),
    RotateJoinToken: (r) => {
      if (r.role === undefined || r.role === null) throw new ApiError(grpc.status.INVALID_ARGUMENT, 'role is required: worker or manager');
      const role = nodeRoleFromProto(r.role);
      this.joinTokens = { ...this.joinTokens, [role]: `SWMTKN-1-${role}-rotated-${this.bump()}` };
      return { joinTokens: { ...this.joinTokens } };
    },
    ClusterInfo: () => ({ ...this.info, managers: this.info.managers.map((m) => ({ ...m })) }),
    GetUnlockKey: () => {
      if (!this.unlockKey) throw new ApiError(grpc.status.FAILED_PRECONDITION, 'autolock is off, so there is no unlock key');
      return { unlockKey: this.unlockKey };
    },
    RotateUnlockKey: () => {
      if (!this.unlockKey) throw new ApiError(grpc.status.FAILED_PRECONDITION, 'autolock is off, so there is no unlock key');
      this.unlockKey = generateUnlockKey();
      return { unlockKey: this.unlockKey };
    },
    UnlockNode: () => {
      throw new ApiError(grpc.status.FAILED_PRECONDITION, 'this node is not locked');
    },
    // The secret and config commands run against the manager's own Control API (secrets-manager.test.ts).
    CreateSecret: notHere('secret'),
    GetSecret: notHere('secret'),
    ListSecrets: notHere('secret'),
    UpdateSecret: notHere('secret'),
    RemoveSecret: notHere('secret'),
    RotateSecret: notHere('secret'),
    CreateConfig: notHere('config'),
    GetConfig: notHere('config'),
    ListConfigs: notHere('config'),
    UpdateConfig: notHere('config'),
    RemoveConfig: notHere('config'),
    RotateConfig: notHere('config'),
    ConsoleLogin: notHere('console'),
  };

  private implementation(): grpc.UntypedServiceImplementation {
    const impl: grpc.UntypedServiceImplementation = {};
    for (const method of Object.keys(this.handlers) as ControlUnaryMethod[]) {
      const handle = (call: grpc.ServerUnaryCall<Req, object>, callback: grpc.sendUnaryData<object>): void => {
        const delay = this.delays.get(method);
        if (delay !== undefined) {
          this.delays.delete(method);
          setTimeout(() => handle(call, callback), delay);
          return;
        }
        this.calls.push({ method, request: call.request });
        this.beforeCall?.(method);
        const queued = this.inject.get(method);
        const injected = queued?.shift();
        if (injected) {
          const metadata = new grpc.Metadata();
          for (const [k, v] of Object.entries(injected.metadata ?? {})) metadata.set(k, v);
          callback({ code: injected.code, details: injected.details, metadata });
          return;
        }
        try {
          callback(null, this.handlers[method](call.request));
        } catch (err) {
          const code = (err as { grpcCode?: grpc.status }).grpcCode;
          if (code !== undefined) callback({ code, details: (err as Error).message, metadata: new grpc.Metadata() });
          else callback(toGrpcStatus(err));
        }
      };
      impl[method] = handle;
    }
    return impl;
  }

  /** Serve on `address` ('unix:///tmp/x/control.sock', '127.0.0.1:0'); resolves to the bound port (0 for unix). */
  async start(address: string, credentials = grpc.ServerCredentials.createInsecure()): Promise<number> {
    const server = new grpc.Server(withStrictWire());
    server.addService(loadControlProto().service, this.implementation());
    const port = await new Promise<number>((resolve, reject) => server.bindAsync(address, credentials, (err, p) => (err ? reject(err) : resolve(p))));
    this.server = server;
    return port;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  }
}
