// The Control API (proto/control.proto) as served by the leader: reads after a
// barrier (linearizable), writes through Raft with the version the caller read.
// A follower does not run these: it forwards the whole call to the leader
// (./proxy.ts), as SwarmKit's raft proxy does, so every answer (manager
// reachability included) is the leader's view.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { clusterSpecFromProto, clusterToProto, nodeToProto, requireVersion, serviceSpecFromProto, serviceToProto, taskToProto } from '../../api/convert.js';
import type { control } from '../../api/wire.js';
import { nodeAvailabilityFromProto, nodeRoleFromProto, reachabilityToProto } from '../../api/enums.js';
import { ApiError } from '../grpc-status.js';
import { generateId, type NodeRole } from '../ca/ca.js';
import { formatJoinToken, generateJoinSecret } from '../ca/token.js';
import type { LeaderWriter } from '../leader-writer.js';
import { quorumRefusal } from '../membership.js';
import type { ReplicatedStore } from '../replicated-store.js';
import { createAction, deleteAction, updateAction, NotFoundError, VersionConflictError } from '../store/store.js';
import { jsonEqual } from '../../api/shared-specs.js';
import { isTaskState, taskStateName, TaskState, type Cluster, type Labels, type Node, type Service, type ServiceSpec, type Task } from '../../api/objects.js';
import { checkClusterSpecChange, checkLabelKeys, checkServiceSpecChange, quoteInput, ValidationError, validateId, validateLabels } from '../../api/validate.js';

type Req = Record<string, unknown>;

/**
 * A request whose fields `K` the handler defaults as the wire would (absent is
 * empty): in-process callers (tests) may leave them out. Filters are read the
 * same way, each list defaulting to empty.
 */
type Defaulting<T, K extends keyof T> = Omit<T, K> & { [P in K]?: null extends T[P] ? Partial<NonNullable<T[P]>> | null : T[P] };

/**
 * ListTasks answers at most this many tasks at once (see proto/control.proto): serialising an answer runs on the
 * leader's event loop in one piece, and 45,000 tasks held it 3.7 s (its followers elected another leader).
 */
export const MAX_TASKS_PER_ANSWER = 5_000;

export class ControlService {
  constructor(
    private readonly rs: ReplicatedStore,
    private readonly writer: LeaderWriter,
    private readonly log?: Logger,
  ) {}

  // ------------------------------------------------------------------ nodes

  async GetNode(req: control.GetNodeRequest__Output): Promise<control.GetNodeResponse__Output> {
    await this.rs.barrier();
    return { node: nodeToProto(this.withManagerStatus(this.resolveNode(req.nodeId))) };
  }

  async ListNodes(req: control.ListNodesRequest__Output): Promise<control.ListNodesResponse__Output> {
    await this.rs.barrier();
    const f: Partial<NonNullable<control.ListNodesRequest__Output['filters']>> = req.filters ?? {};
    const roles = (f.roles ?? []).map((r, i) => nodeRoleFromProto(r, `filters.roles[${i}]`));
    const avail = (f.availabilities ?? []).map((a, i) => nodeAvailabilityFromProto(a, `filters.availabilities[${i}]`));
    const nodes = this.rs.store
      .list('node')
      .filter((n) => (f.ids?.length ? f.ids.some((id) => n.id.startsWith(id)) : true))
      .filter((n) => (roles.length ? roles.includes(n.role) : true))
      .filter((n) => (avail.length ? avail.includes(n.availability) : true))
      .filter((n) => labelsMatch(n.labels, f.labels ?? []));
    return { nodes: nodes.map((n) => nodeToProto(this.withManagerStatus(n))) };
  }

  async UpdateNode(req: Defaulting<control.UpdateNodeRequest__Output, 'labelsAdd' | 'labelsRm'>): Promise<control.UpdateNodeResponse__Output> {
    // `optional` in the proto: a change that is asked for says its value (absent is not ACTIVE / WORKER).
    if (req.hasAvailability && (req.availability === undefined || req.availability === null)) {
      throw new ApiError(grpc.status.INVALID_ARGUMENT, 'availability is required when has_availability is set: active, pause or drain');
    }
    if (req.hasRole && (req.role === undefined || req.role === null)) {
      throw new ApiError(grpc.status.INVALID_ARGUMENT, 'role is required when has_role is set: worker or manager');
    }
    const version = requireVersion(req.version, 'node', 'GetNode');
    const availability = req.hasAvailability ? nodeAvailabilityFromProto(req.availability) : undefined;
    const role: NodeRole | undefined = req.hasRole ? nodeRoleFromProto(req.role) : undefined;
    const labelsAdd = checkLabelKeys(validateLabels(req.labelsAdd ?? {}, 'labelsAdd'), 'labelsAdd');
    await this.rs.barrier();
    const node = this.resolveNode(req.nodeId);
    checkVersion('node', node, version);
    // A Map, not an object: a label named '__proto__' or 'toString' is a label like any other.
    const labels = new Map(Object.entries(node.labels));
    for (const key of req.labelsRm ?? []) {
      if (!labels.delete(key)) throw new ValidationError('labelsRm', 'label-missing', `node ${node.id} has no label ${quoteInput(key)}`);
    }
    for (const [k, v] of Object.entries(labelsAdd)) labels.set(k, v);
    const next: Node = { ...node, labels: Object.fromEntries(labels) };
    if (availability !== undefined) next.availability = availability;
    if (role !== undefined && role !== node.role) {
      if (role === 'worker') {
        const refusal = quorumRefusal(this.rs.status(), node.id, { force: req.force });
        if (refusal) throw new ApiError(grpc.status.FAILED_PRECONDITION, `cannot demote ${node.description.hostname} (${node.id}): ${refusal}`);
      }
      if (role === 'manager' && !node.status.address) {
        throw new ApiError(grpc.status.FAILED_PRECONDITION, `cannot promote ${node.id}: it joined without an advertise address (rejoin it with --advertise-addr)`);
      }
      next.role = role;
    }
    // Nothing changes: nothing to write (the version stays).
    if (jsonEqual(next, node)) return { node: nodeToProto(this.withManagerStatus(node)) };
    const [stored] = await this.writer.write([updateAction('node', { ...next, updatedAt: Date.now() }, version)]);
    return { node: nodeToProto(this.withManagerStatus(stored as Node)) };
  }

  async RemoveNode(req: control.RemoveNodeRequest__Output): Promise<control.RemoveNodeResponse__Output> {
    await this.rs.barrier();
    const node = this.resolveNode(req.nodeId);
    const st = this.rs.status();
    if (node.id === st.id) {
      throw new ApiError(grpc.status.FAILED_PRECONDITION, `${node.id} is the manager answering this call (the leader): demote it first, then remove it from another manager`);
    }
    const member = st.conf.voters.includes(node.id) || st.conf.learners.includes(node.id);
    if (node.role === 'manager' || member) {
      const refusal = quorumRefusal(st, node.id, { force: req.force });
      if (refusal) throw new ApiError(grpc.status.FAILED_PRECONDITION, `cannot remove manager ${node.description.hostname} (${node.id}): ${refusal}`);
    } else if (node.status.state === 'ready' && !req.force) {
      // Docker's rule: a node that still looks alive is probably still running tasks.
      throw new ApiError(
        grpc.status.FAILED_PRECONDITION,
        `node ${node.description.hostname} (${node.id}) is not down: stop its daemon first, or remove it anyway with --force`,
      );
    }
    const cluster = this.cluster();
    const nextCluster: Cluster = { ...cluster, removedNodes: [...cluster.removedNodes, node.id], updatedAt: Date.now() };
    await this.writer.write([deleteAction('node', node.id), updateAction('cluster', nextCluster)]);
    this.log?.info({ node: node.id, force: req.force }, 'node removed');
    return {};
  }

  // --------------------------------------------------------------- services

  async CreateService(req: control.CreateServiceRequest__Output): Promise<control.CreateServiceResponse__Output> {
    const spec = serviceSpecFromProto(req.spec);
    await this.rs.barrier();
    this.checkPortConflicts(spec);
    const now = Date.now();
    const svc: Service = { id: generateId(), version: 0, createdAt: now, updatedAt: now, spec };
    const [stored] = await this.writer.write([createAction('service', svc)]);
    return { service: serviceToProto(stored as Service) };
  }

  async GetService(req: control.GetServiceRequest__Output): Promise<control.GetServiceResponse__Output> {
    await this.rs.barrier();
    return { service: this.withStatus(this.resolveService(req.serviceIdOrName)) };
  }

  async ListServices(req: control.ListServicesRequest__Output): Promise<control.ListServicesResponse__Output> {
    await this.rs.barrier();
    const f: Partial<NonNullable<control.ListServicesRequest__Output['filters']>> = req.filters ?? {};
    const services = this.rs.store
      .list('service')
      .filter((s) => (f.ids?.length ? f.ids.some((id) => s.id.startsWith(id)) : true))
      .filter((s) => (f.names?.length ? f.names.some((n) => s.spec.name.toLowerCase() === n.toLowerCase()) : true))
      .filter((s) => labelsMatch(s.spec.labels, f.labels ?? []));
    return { services: services.map((s) => this.withStatus(s)) };
  }

  async UpdateService(req: control.UpdateServiceRequest__Output): Promise<control.UpdateServiceResponse__Output> {
    const version = requireVersion(req.version, 'service', 'GetService');
    const spec = serviceSpecFromProto(req.spec);
    await this.rs.barrier();
    const svc = this.resolveService(req.serviceId);
    checkVersion('service', svc, version);
    checkServiceSpecChange(svc.spec, spec);
    // Nothing changes (e.g. `service update --env-rm ''`): nothing to write, no new version.
    if (jsonEqual(spec, svc.spec)) return { service: serviceToProto(svc) };
    if (!jsonEqual(spec.endpoint, svc.spec.endpoint)) this.checkPortConflicts(spec, svc.id);
    const next: Service = { ...svc, spec, updatedAt: Date.now() };
    const [stored] = await this.writer.write([updateAction('service', next, version)]);
    return { service: serviceToProto(stored as Service) };
  }

  async RemoveService(req: control.RemoveServiceRequest__Output): Promise<control.RemoveServiceResponse__Output> {
    await this.rs.barrier();
    const svc = this.resolveService(req.serviceId);
    // The service alone, in one small transaction: its tasks (there may be 100,000, and their history) are deleted
    // after it by the task reaper, in bounded transactions, and agents stop and remove their containers as the
    // deletions reach them. A single transaction of every task was megabytes applied in one go on every manager.
    await this.writer.write([deleteAction('service', svc.id)]);
    return {};
  }

  async ListTasks(req: Defaulting<control.ListTasksRequest__Output, 'filters' | 'pageSize' | 'pageToken'>): Promise<control.ListTasksResponse__Output> {
    const pageSize = req.pageSize ?? 0;
    if (!Number.isInteger(pageSize) || pageSize < 0) throw new ValidationError('pageSize', 'range', `must be 0 (every task) or a positive number of tasks (got ${pageSize})`);
    const after = req.pageToken ? validateId(req.pageToken, 'pageToken') : '';
    await this.rs.barrier();
    const f: Partial<NonNullable<control.ListTasksRequest__Output['filters']>> = req.filters ?? {};
    const states = (f.desiredStates ?? []).map((s, i) => {
      if (!isTaskState(s)) throw new ValidationError(`filters.desiredStates[${i}]`, 'enum', `${s} is not a task state`);
      return s as TaskState;
    });
    // From the narrowest index the filters allow, not a copy of every task sorted first.
    const candidates: Iterable<Task> = f.serviceIds?.length
      ? f.serviceIds.flatMap((id) => this.rs.store.tasksByService(id, { sorted: false }))
      : f.nodeIds?.length
        ? f.nodeIds.flatMap((id) => this.rs.store.tasksByNode(id))
        : this.rs.store.values('task');
    const matching: Task[] = [];
    for (const t of candidates) {
      if (after && t.id <= after) continue;
      if (f.serviceIds?.length && !f.serviceIds.includes(t.serviceId)) continue;
      if (f.nodeIds?.length && !f.nodeIds.includes(t.nodeId)) continue;
      if (states.length && !states.includes(t.desiredState)) continue;
      matching.push(t);
    }
    const limit = pageSize === 0 ? MAX_TASKS_PER_ANSWER : Math.min(pageSize, MAX_TASKS_PER_ANSWER);
    if (pageSize === 0 && matching.length > limit) {
      throw new ApiError(
        grpc.status.RESOURCE_EXHAUSTED,
        `${matching.length} tasks match, more than the ${MAX_TASKS_PER_ANSWER} of one answer: ask for them in pages (page_size, page_token) or narrow the filters`,
      );
    }
    matching.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const page = matching.length > limit ? matching.slice(0, limit) : matching;
    // The token is the last id answered: the next page starts after it, whatever was created or deleted since.
    const nextPageToken = matching.length > limit ? page[page.length - 1].id : '';
    return { tasks: page.map(taskToProto), nextPageToken };
  }

  // ---------------------------------------------------------------- cluster

  async GetCluster(): Promise<control.GetClusterResponse__Output> {
    await this.rs.barrier();
    return { cluster: clusterToProto(this.cluster()) };
  }

  async UpdateCluster(req: control.UpdateClusterRequest__Output): Promise<control.UpdateClusterResponse__Output> {
    const version = requireVersion(req.version, 'cluster', 'GetCluster');
    const spec = clusterSpecFromProto(req.spec);
    await this.rs.barrier();
    const cluster = this.cluster();
    checkVersion('cluster', cluster, version);
    checkClusterSpecChange(cluster.spec, spec);
    if (jsonEqual(spec, cluster.spec)) return { cluster: clusterToProto(cluster) };
    const next: Cluster = { ...cluster, spec, updatedAt: Date.now() };
    const [stored] = await this.writer.write([updateAction('cluster', next, version)]);
    return { cluster: clusterToProto(stored as Cluster) };
  }

  async GetJoinTokens(): Promise<control.GetJoinTokensResponse__Output> {
    await this.rs.barrier();
    return { joinTokens: joinTokens(this.cluster()) };
  }

  async RotateJoinToken(req: control.RotateJoinTokenRequest__Output): Promise<control.RotateJoinTokenResponse__Output> {
    // `optional` in the proto: absent must not mean NODE_ROLE_WORKER (0).
    if (req.role === undefined || req.role === null) throw new ApiError(grpc.status.INVALID_ARGUMENT, 'role is required: worker or manager');
    const role = nodeRoleFromProto(req.role);
    await this.rs.barrier();
    const cluster = this.cluster();
    const next: Cluster = { ...cluster, joinTokens: { ...cluster.joinTokens, [role]: generateJoinSecret() }, updatedAt: Date.now() };
    const [stored] = await this.writer.write([updateAction('cluster', next)]);
    this.log?.info({ role }, 'join token rotated');
    return { joinTokens: joinTokens(stored as Cluster) };
  }

  async ClusterInfo(): Promise<control.ClusterInfoResponse__Output> {
    await this.rs.barrier();
    const st = this.rs.status();
    const managers = [...st.conf.voters, ...st.conf.learners].map((id) => {
      const ms = this.managerStatus(id);
      return { nodeId: id, raftId: id, addr: ms.addr, leader: ms.leader, reachability: reachabilityToProto(ms.reachability) };
    });
    return { leaderId: st.leader, leaderAddr: st.leader ? (st.addresses[st.leader] ?? '') : '', term: st.term, managers };
  }

  // ---------------------------------------------------------------- helpers

  /** A service with Docker's ServiceStatus: its tasks desired RUNNING that run, over those it wants. */
  private withStatus(s: Service): control.Service__Output {
    let running = 0;
    let desiredRunning = 0;
    const byState = new Map<number, number>();
    for (const t of this.rs.store.tasksByService(s.id, { sorted: false })) {
      byState.set(t.status.state, (byState.get(t.status.state) ?? 0) + 1);
      if (t.desiredState !== TaskState.RUNNING) continue;
      desiredRunning++;
      if (t.status.state === TaskState.RUNNING) running++;
    }
    const desired = 'replicated' in s.spec.mode ? s.spec.mode.replicated.replicas : desiredRunning;
    const tasksByState: Record<string, number> = {};
    for (const [state, n] of byState) tasksByState[taskStateName(state).toLowerCase()] = n;
    return { ...serviceToProto(s), serviceStatus: { runningTasks: running, desiredTasks: desired, tasksByState } };
  }

  private cluster(): Cluster {
    const c = this.rs.store.list('cluster')[0];
    if (!c) throw new ApiError(grpc.status.UNAVAILABLE, 'the cluster object is missing: this manager has not caught up yet; retry');
    return c;
  }

  /** A node by id, unique id prefix, or hostname (as docker accepts). */
  private resolveNode(ref: string): Node {
    // An absent (empty) reference names no node: it must not match a node whose hostname is empty.
    if (!ref) throw new ApiError(grpc.status.INVALID_ARGUMENT, 'node_id is required: a node id, id prefix or hostname');
    const direct = this.rs.store.get('node', ref);
    if (direct) return direct;
    const nodes = this.rs.store.list('node');
    const byPrefix = ref ? nodes.filter((n) => n.id.startsWith(ref)) : [];
    if (byPrefix.length === 1) return byPrefix[0];
    const byHost = nodes.filter((n) => n.description.hostname === ref);
    if (byHost.length === 1) return byHost[0];
    if (byPrefix.length > 1 || byHost.length > 1) {
      throw new ApiError(grpc.status.FAILED_PRECONDITION, `node reference ${quoteInput(ref)} is ambiguous: use the full node id`);
    }
    throw new NotFoundError('not-found', `no node ${quoteInput(ref)}: see \`flotilla node ls\``);
  }

  /** A service by id, name, or unique id prefix. */
  private resolveService(ref: string): Service {
    if (!ref) throw new ApiError(grpc.status.INVALID_ARGUMENT, 'a service id or name is required');
    const direct = this.rs.store.get('service', ref) ?? this.rs.store.findServiceByName(ref);
    if (direct) return direct;
    const byPrefix = ref ? this.rs.store.list('service').filter((s) => s.id.startsWith(ref)) : [];
    if (byPrefix.length === 1) return byPrefix[0];
    if (byPrefix.length > 1) throw new ApiError(grpc.status.FAILED_PRECONDITION, `service reference ${quoteInput(ref)} is ambiguous: use the full id or the name`);
    throw new NotFoundError('not-found', `no service ${quoteInput(ref)}: see \`flotilla service ls\``);
  }

  /**
   * As SwarmKit (best effort, at the API): a published port of the routing
   * mesh (ingress) belongs to one service in the whole cluster, so it may not
   * be published by another service in any mode; two host-mode ports may
   * share a number (the scheduler keeps them on different nodes).
   */
  private checkPortConflicts(spec: ServiceSpec, self?: string): void {
    spec.endpoint.ports.forEach((p, i) => {
      for (const other of this.rs.store.list('service')) {
        if (other.id === self) continue;
        const clash = other.spec.endpoint.ports.find(
          (q) => q.publishedPort === p.publishedPort && q.protocol === p.protocol && (q.publishMode === 'ingress' || p.publishMode === 'ingress'),
        );
        if (clash) {
          throw new ValidationError(
            `spec.endpoint.ports[${i}].publishedPort`,
            'port-in-use',
            `port ${p.publishedPort}/${p.protocol} is already in use by service ${quoteInput(other.spec.name)} (${other.id}): publish another port, or remove it from that service first`,
          );
        }
      }
    });
  }

  /** What this (leader) manager knows of a Raft member's health. */
  private managerStatus(id: string): { addr: string; leader: boolean; reachability: 'reachable' | 'unreachable' | 'unknown' } {
    const st = this.rs.status();
    const addr = st.addresses[id] ?? '';
    const reachability = id === st.id ? 'reachable' : st.role === 'leader' ? (st.progress[id]?.recentActive ? 'reachable' : 'unreachable') : 'unknown';
    return { addr, leader: st.leader === id, reachability };
  }

  private withManagerStatus(n: Node): Node {
    const st = this.rs.status();
    if (!st.conf.voters.includes(n.id) && !st.conf.learners.includes(n.id)) {
      const { managerStatus: _drop, ...rest } = n;
      return rest;
    }
    const ms = this.managerStatus(n.id);
    return { ...n, managerStatus: { raftId: n.id, addr: ms.addr, leader: ms.leader, reachability: ms.reachability } };
  }
}

/**
 * The version the caller read against the stored object's, before anything
 * else is decided (a no-op answer included): a stale one is ABORTED, as the
 * store would refuse the write.
 */
function checkVersion(kind: 'node' | 'service' | 'cluster', stored: { id: string; version: number }, version: number): void {
  if (stored.version !== version) throw new VersionConflictError('version-conflict', `${kind} ${stored.id} is at version ${stored.version}, not ${version}`);
}

function joinTokens(c: Cluster): control.JoinTokens__Output {
  return { worker: formatJoinToken(c.rootCA.digest, c.joinTokens.worker), manager: formatJoinToken(c.rootCA.digest, c.joinTokens.manager) };
}

/** Every filter ('key' or 'key=value') matches. */
function labelsMatch(labels: Labels, filters: readonly string[]): boolean {
  return filters.every((f) => {
    const eq = f.indexOf('=');
    if (eq < 0) return f in labels;
    return labels[f.slice(0, eq)] === f.slice(eq + 1);
  });
}

export type ControlHandler = (req: Req) => Promise<unknown>;
