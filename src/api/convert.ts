// Mapping between the store's objects (store/types.ts) and the objects that
// @grpc/proto-loader produces for proto/control.proto (with the options in
// api/proto.ts: camelCase fields, int64 as number, enums as numbers, defaults
// filled in, unset messages as null, oneofs named by a virtual field).
//
// Everything that arrives from a client goes through a *FromProto function:
// enums are checked and the result runs through the store's validators, so bad
// input throws the store's ValidationError naming the field (in store terms,
// e.g. 'spec.taskTemplate.restartPolicy.condition'). toGrpcStatus maps that and
// the other typed errors to gRPC status codes at the API edge.
import type { SharedTaskParts } from './shared-specs.js';
import type {
  Cluster,
  ClusterSpec,
  ContainerSpec,
  EndpointSpec,
  FailureAction,
  Labels,
  Meta,
  MountType,
  Node,
  NodeAvailability,
  NodeDescription,
  NodeRole,
  NodeState,
  PortProtocol,
  PublishMode,
  Reachability,
  RestartCondition,
  Service,
  ServiceSpec,
  Task,
  TaskHealth,
  TaskStatus,
  TaskTemplate,
  UpdateConfig,
  UpdateOrder,
} from './objects.js';
import {
  quoteValue,
  ValidationError,
  validateClusterSpec,
  validateNode,
  validateNodeDescription,
  validateService,
  validateServiceSpec,
  validateTask,
  validateTaskStatus,
  type SpecRules,
} from './validate.js';

// ------------------------------------------------------------ wire shapes
// What proto-loader hands out (and accepts). Received objects are typed with
// these interfaces but still checked, as if they were `unknown`.

export type ProtoLabels = Record<string, string>;

export interface ProtoMeta {
  id: string;
  version: number;
  createdAt: number;
  updatedAt: number;
}

export interface ProtoLabelSet {
  entries: ProtoLabels;
}

export interface ProtoPlatform {
  os: string;
  arch: string;
}

export interface ProtoNodeDescription {
  hostname: string;
  cpus: number;
  memoryBytes: number;
  engineVersion: string;
  platform: ProtoPlatform | null;
  /** null when the node reported no engine labels (distinct from an empty set). */
  engineLabels: ProtoLabelSet | null;
}

export interface ProtoNodeStatus {
  state: number;
  message: string;
  address: string;
}

export interface ProtoManagerStatus {
  raftId: string;
  addr: string;
  leader: boolean;
  reachability: number;
}

export interface ProtoNode {
  meta: ProtoMeta | null;
  role: number;
  availability: number;
  labels: ProtoLabels;
  description: ProtoNodeDescription | null;
  status: ProtoNodeStatus | null;
  managerStatus: ProtoManagerStatus | null;
}

export interface ProtoMount {
  type: number;
  source: string;
  target: string;
  readOnly: boolean;
}

export interface ProtoHealthCheck {
  test: string[];
  intervalMs: number;
  timeoutMs: number;
  retries: number;
  startPeriodMs: number;
}

export interface ProtoContainerSpec {
  image: string;
  command: string[];
  args: string[];
  env: string[];
  dir: string;
  user: string;
  mounts: ProtoMount[];
  healthcheck: ProtoHealthCheck | null;
  stopGracePeriodMs: number;
}

export interface ProtoResources {
  nanoCpus: number;
  memoryBytes: number;
}

export interface ProtoResourceRequirements {
  limits: ProtoResources | null;
  reservations: ProtoResources | null;
}

export interface ProtoRestartPolicy {
  condition: number;
  delayMs: number;
  maxAttempts: number;
  windowMs: number;
}

export interface ProtoPlacement {
  constraints: string[];
  preferences: { spread: string }[];
}

export interface ProtoTaskTemplate {
  container: ProtoContainerSpec | null;
  resources: ProtoResourceRequirements | null;
  restartPolicy: ProtoRestartPolicy | null;
  placement: ProtoPlacement | null;
}

/** The ServiceMode oneof: `mode` names the member that is set. */
export type ProtoServiceMode =
  | { mode?: 'replicated'; replicated: { replicas: number } }
  | { mode?: 'global'; global: Record<string, never> };

export interface ProtoUpdateConfig {
  parallelism: number;
  delayMs: number;
  failureAction: number;
  monitorMs: number;
  maxFailureRatio: number;
  order: number;
}

export interface ProtoPortConfig {
  /** proto3 `optional`: absent when the port has no name. */
  name?: string;
  protocol: number;
  targetPort: number;
  publishedPort: number;
  publishMode: number;
}

export interface ProtoServiceSpec {
  name: string;
  labels: ProtoLabels;
  taskTemplate: ProtoTaskTemplate | null;
  mode: ProtoServiceMode | null;
  updateConfig: ProtoUpdateConfig | null;
  rollbackConfig: ProtoUpdateConfig | null;
  endpoint: { ports: ProtoPortConfig[] } | null;
}

/** Docker's ServiceStatus: tasks running and desired (ListServices, GetService). */
export interface ProtoServiceStatus {
  runningTasks: number;
  desiredTasks: number;
  /** Every task of the service by observed state ('rejected': 3). */
  tasksByState?: Record<string, number>;
}

export interface ProtoService {
  meta: ProtoMeta | null;
  spec: ProtoServiceSpec | null;
  /** Set by ListServices and GetService; null elsewhere. */
  serviceStatus?: ProtoServiceStatus | null;
}

export interface ProtoTaskStatus {
  state: number;
  message: string;
  err: string;
  timestamp: number;
  containerId: string;
  exitCode: number;
  health: number;
}

export interface ProtoTask {
  meta: ProtoMeta | null;
  serviceId: string;
  slot: number;
  nodeId: string;
  desiredState: number;
  status: ProtoTaskStatus | null;
  specVersion: number;
  spec: ProtoTaskTemplate | null;
  serviceAnnotations: { name: string } | null;
  endpoint: { ports: ProtoPortConfig[] } | null;
}

export interface ProtoClusterSpec {
  name: string;
  orchestration: { taskHistoryRetention: number } | null;
  dispatcher: { heartbeatPeriodMs: number; heartbeatGrace: number } | null;
  caConfig: { nodeCertExpiryHours: number } | null;
}

/** What clients see of the cluster: no join tokens, no CA key (see clusterToProto). */
export interface ProtoCluster {
  meta: ProtoMeta | null;
  spec: ProtoClusterSpec | null;
  rootCa: { certPem: string; digest: string } | null;
}

// ------------------------------------------------------------ enums
// Each table lists the store value at the proto enum's number.

type EnumTable<T extends string> = ReadonlyMap<number, T>;

function table<T extends string>(entries: [number, T][]): EnumTable<T> {
  return new Map(entries);
}

const NODE_ROLES = table<NodeRole>([
  [0, 'worker'],
  [1, 'manager'],
]);
const NODE_AVAILABILITIES = table<NodeAvailability>([
  [0, 'active'],
  [1, 'pause'],
  [2, 'drain'],
]);
const NODE_STATES = table<NodeState>([
  [0, 'unknown'],
  [1, 'down'],
  [2, 'ready'],
]);
const REACHABILITIES = table<Reachability>([
  [0, 'unknown'],
  [1, 'unreachable'],
  [2, 'reachable'],
]);
const TASK_HEALTHS = table<TaskHealth>([
  [0, 'none'],
  [1, 'starting'],
  [2, 'healthy'],
  [3, 'unhealthy'],
]);
const MOUNT_TYPES = table<MountType>([
  [0, 'bind'],
  [1, 'volume'],
]);
const RESTART_CONDITIONS = table<RestartCondition>([
  [0, 'none'],
  [1, 'on-failure'],
  [2, 'any'],
]);
const FAILURE_ACTIONS = table<FailureAction>([
  [0, 'pause'],
  [1, 'continue'],
  [2, 'rollback'],
]);
const UPDATE_ORDERS = table<UpdateOrder>([
  [0, 'stop-first'],
  [1, 'start-first'],
]);
const PORT_PROTOCOLS = table<PortProtocol>([
  [0, 'tcp'],
  [1, 'udp'],
]);
const PUBLISH_MODES = table<PublishMode>([
  [0, 'ingress'],
  [1, 'host'],
]);

function enumToProto<T extends string>(t: EnumTable<T>, value: T): number {
  for (const [n, v] of t) if (v === value) return n;
  throw new Error(`no proto enum value for ${JSON.stringify(value)}`);
}

/** The store value for a received enum number; a ValidationError naming `field` if there is none. */
function enumFromProto<T extends string>(t: EnumTable<T>, value: unknown, field: string): T {
  const v = typeof value === 'number' ? t.get(value) : undefined;
  if (v === undefined) {
    const known = [...t].map(([n, s]) => `${n} (${s})`).join(', ');
    throw new ValidationError(field, 'enum', `must be one of ${known} (got ${quoteValue(value)})`);
  }
  return v;
}

export function nodeRoleToProto(role: NodeRole): number {
  return enumToProto(NODE_ROLES, role);
}
export function nodeRoleFromProto(value: unknown, field = 'role'): NodeRole {
  return enumFromProto(NODE_ROLES, value, field);
}
export function nodeAvailabilityToProto(a: NodeAvailability): number {
  return enumToProto(NODE_AVAILABILITIES, a);
}
export function nodeAvailabilityFromProto(value: unknown, field = 'availability'): NodeAvailability {
  return enumFromProto(NODE_AVAILABILITIES, value, field);
}
export function reachabilityToProto(r: Reachability): number {
  return enumToProto(REACHABILITIES, r);
}

// ------------------------------------------------------------ helpers

type Obj = Record<string, unknown>;

function isObj(x: unknown): x is Obj {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** A received sub-message: an object, or undefined when unset (null). */
function sub(x: unknown, field: string): Obj | undefined {
  if (x === undefined || x === null) return undefined;
  if (!isObj(x)) throw new ValidationError(field, 'type', 'must be a message');
  return x;
}

function at(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

function labelsToProto(l: Labels): ProtoLabels {
  return { ...l };
}

function metaToProto(m: Meta): ProtoMeta {
  return { id: m.id, version: m.version, createdAt: m.createdAt, updatedAt: m.updatedAt };
}

/** Meta fields as the store validators read them (null/absent → their defaults). */
function metaFromProto(x: unknown): Obj {
  const m = sub(x, 'meta') ?? {};
  return { id: m.id, version: m.version, createdAt: m.createdAt, updatedAt: m.updatedAt };
}

// ------------------------------------------------------------ service

function containerToProto(c: ContainerSpec): ProtoContainerSpec {
  return {
    image: c.image,
    command: [...c.command],
    args: [...c.args],
    env: [...c.env],
    dir: c.dir,
    user: c.user,
    mounts: c.mounts.map((m) => ({ type: enumToProto(MOUNT_TYPES, m.type), source: m.source, target: m.target, readOnly: m.readOnly })),
    healthcheck: c.healthcheck
      ? {
          test: [...c.healthcheck.test],
          intervalMs: c.healthcheck.intervalMs,
          timeoutMs: c.healthcheck.timeoutMs,
          retries: c.healthcheck.retries,
          startPeriodMs: c.healthcheck.startPeriodMs,
        }
      : null,
    stopGracePeriodMs: c.stopGracePeriodMs,
  };
}

export function taskTemplateToProto(t: TaskTemplate): ProtoTaskTemplate {
  return {
    container: containerToProto(t.container),
    resources: { limits: { ...t.resources.limits }, reservations: { ...t.resources.reservations } },
    restartPolicy: {
      condition: enumToProto(RESTART_CONDITIONS, t.restartPolicy.condition),
      delayMs: t.restartPolicy.delayMs,
      maxAttempts: t.restartPolicy.maxAttempts,
      windowMs: t.restartPolicy.windowMs,
    },
    placement: { constraints: [...t.placement.constraints], preferences: t.placement.preferences.map((p) => ({ spread: p.spread })) },
  };
}

function updateConfigToProto(u: UpdateConfig): ProtoUpdateConfig {
  return {
    parallelism: u.parallelism,
    delayMs: u.delayMs,
    failureAction: enumToProto(FAILURE_ACTIONS, u.failureAction),
    monitorMs: u.monitorMs,
    maxFailureRatio: u.maxFailureRatio,
    order: enumToProto(UPDATE_ORDERS, u.order),
  };
}

export function endpointToProto(e: EndpointSpec): { ports: ProtoPortConfig[] } {
  return {
    ports: e.ports.map((p) => {
      const port: ProtoPortConfig = {
        protocol: enumToProto(PORT_PROTOCOLS, p.protocol),
        targetPort: p.targetPort,
        publishedPort: p.publishedPort,
        publishMode: enumToProto(PUBLISH_MODES, p.publishMode),
      };
      if (p.name !== undefined) port.name = p.name;
      return port;
    }),
  };
}

export function serviceSpecToProto(s: ServiceSpec): ProtoServiceSpec {
  return {
    name: s.name,
    labels: labelsToProto(s.labels),
    taskTemplate: taskTemplateToProto(s.taskTemplate),
    mode: 'global' in s.mode ? { mode: 'global', global: {} } : { mode: 'replicated', replicated: { replicas: s.mode.replicated.replicas } },
    updateConfig: updateConfigToProto(s.updateConfig),
    rollbackConfig: updateConfigToProto(s.rollbackConfig),
    endpoint: endpointToProto(s.endpoint),
  };
}

export function serviceToProto(s: Service): ProtoService {
  return { meta: metaToProto(s), spec: serviceSpecToProto(s.spec) };
}

/** A list of received items; anything that is not an array is passed on for the validator to name. */
function items(x: unknown, field: string, each: (item: Obj, field: string) => Obj): unknown {
  if (!Array.isArray(x)) return x;
  return x.map((item: unknown, i) => {
    const f = `${field}[${i}]`;
    const o = sub(item, f);
    if (o === undefined) throw new ValidationError(f, 'required', 'is required');
    return each(o, f);
  });
}

/** A received TaskTemplate in the store's shape (enums mapped), not yet validated. */
function taskTemplateFromWire(x: unknown, path: string): Obj | undefined {
  const t = sub(x, path);
  if (t === undefined) return undefined;
  const out: Obj = {};
  const cPath = at(path, 'container');
  const c = sub(t.container, cPath);
  if (c !== undefined) {
    const container: Obj = {
      image: c.image,
      command: c.command,
      args: c.args,
      env: c.env,
      dir: c.dir,
      user: c.user,
      mounts: items(c.mounts, at(cPath, 'mounts'), (m, f) => ({
        type: enumFromProto(MOUNT_TYPES, m.type, at(f, 'type')),
        source: m.source,
        target: m.target,
        readOnly: m.readOnly,
      })),
      stopGracePeriodMs: c.stopGracePeriodMs,
    };
    const hc = sub(c.healthcheck, at(cPath, 'healthcheck'));
    if (hc !== undefined) {
      container.healthcheck = { test: hc.test, intervalMs: hc.intervalMs, timeoutMs: hc.timeoutMs, retries: hc.retries, startPeriodMs: hc.startPeriodMs };
    }
    out.container = container;
  }
  const rPath = at(path, 'resources');
  const r = sub(t.resources, rPath);
  if (r !== undefined) out.resources = { limits: sub(r.limits, at(rPath, 'limits')), reservations: sub(r.reservations, at(rPath, 'reservations')) };
  const rpPath = at(path, 'restartPolicy');
  const rp = sub(t.restartPolicy, rpPath);
  if (rp !== undefined) {
    out.restartPolicy = {
      condition: enumFromProto(RESTART_CONDITIONS, rp.condition, at(rpPath, 'condition')),
      delayMs: rp.delayMs,
      maxAttempts: rp.maxAttempts,
      windowMs: rp.windowMs,
    };
  }
  const pPath = at(path, 'placement');
  const p = sub(t.placement, pPath);
  if (p !== undefined) out.placement = { constraints: p.constraints, preferences: items(p.preferences, at(pPath, 'preferences'), (pr) => ({ spread: pr.spread })) };
  return out;
}

function updateConfigFromWire(x: unknown, path: string): Obj | undefined {
  const u = sub(x, path);
  if (u === undefined) return undefined;
  return {
    parallelism: u.parallelism,
    delayMs: u.delayMs,
    failureAction: enumFromProto(FAILURE_ACTIONS, u.failureAction, at(path, 'failureAction')),
    monitorMs: u.monitorMs,
    maxFailureRatio: u.maxFailureRatio,
    order: enumFromProto(UPDATE_ORDERS, u.order, at(path, 'order')),
  };
}

function modeFromWire(x: unknown, path: string): Obj | undefined {
  const m = sub(x, path);
  if (m === undefined) return undefined;
  const out: Obj = {};
  const rep = sub(m.replicated, at(path, 'replicated'));
  if (rep !== undefined) out.replicated = { replicas: rep.replicas };
  const glob = sub(m.global, at(path, 'global'));
  if (glob !== undefined) out.global = {};
  // Neither or both set: validateServiceSpec names `path` with rule 'mode'.
  if (rep === undefined && glob === undefined) throw new ValidationError(path, 'mode', 'must have exactly one of replicated or global');
  return out;
}

function endpointFromWire(x: unknown, path: string): Obj | undefined {
  const e = sub(x, path);
  if (e === undefined) return undefined;
  return {
    ports: items(e.ports, at(path, 'ports'), (p, f) => {
      const port: Obj = {
        protocol: enumFromProto(PORT_PROTOCOLS, p.protocol, at(f, 'protocol')),
        targetPort: p.targetPort,
        publishedPort: p.publishedPort,
        publishMode: enumFromProto(PUBLISH_MODES, p.publishMode, at(f, 'publishMode')),
      };
      if (p.name !== undefined && p.name !== null) port.name = p.name;
      return port;
    }),
  };
}

function serviceSpecFromWire(x: unknown, path: string): Obj | undefined {
  const s = sub(x, path);
  if (s === undefined) return undefined;
  return {
    name: s.name,
    labels: s.labels,
    taskTemplate: taskTemplateFromWire(s.taskTemplate, at(path, 'taskTemplate')),
    mode: modeFromWire(s.mode, at(path, 'mode')),
    updateConfig: updateConfigFromWire(s.updateConfig, at(path, 'updateConfig')),
    rollbackConfig: updateConfigFromWire(s.rollbackConfig, at(path, 'rollbackConfig')),
    endpoint: endpointFromWire(s.endpoint, at(path, 'endpoint')),
  };
}

/**
 * The store ServiceSpec for a request's spec (CreateService, UpdateService):
 * enums mapped, then validateServiceSpec, so bad input throws ValidationError
 * naming the field ('spec.taskTemplate.container.image', ...).
 */
export function serviceSpecFromProto(x: ProtoServiceSpec | null | undefined, path = 'spec', rules: SpecRules = 'request'): ServiceSpec {
  return validateServiceSpec(serviceSpecFromWire(x, path), path, rules);
}

export function serviceFromProto(x: ProtoService): Service {
  const o = sub(x, '') ?? {};
  return validateService({ ...metaFromProto(o.meta), spec: serviceSpecFromWire(o.spec, 'spec') });
}

// ------------------------------------------------------------ node

export function nodeDescriptionToProto(d: NodeDescription): ProtoNodeDescription {
  return {
    hostname: d.hostname,
    cpus: d.cpus,
    memoryBytes: d.memoryBytes,
    engineVersion: d.engineVersion,
    platform: { os: d.platform.os, arch: d.platform.arch },
    engineLabels: d.engineLabels === undefined ? null : { entries: labelsToProto(d.engineLabels) },
  };
}

function nodeDescriptionFromWire(x: unknown, path: string): Obj | undefined {
  const d = sub(x, path);
  if (d === undefined) return undefined;
  const desc: Obj = { hostname: d.hostname, cpus: d.cpus, memoryBytes: d.memoryBytes, engineVersion: d.engineVersion, platform: sub(d.platform, at(path, 'platform')) };
  const el = sub(d.engineLabels, at(path, 'engineLabels'));
  if (el !== undefined) desc.engineLabels = el.entries;
  return desc;
}

/** A node description from the wire (a worker's report), validated like a stored node's. */
export function nodeDescriptionFromProto(x: ProtoNodeDescription | null | undefined): NodeDescription {
  return validateNodeDescription(nodeDescriptionFromWire(x, 'description'));
}

export function nodeToProto(n: Node): ProtoNode {
  const d = n.description;
  return {
    meta: metaToProto(n),
    role: enumToProto(NODE_ROLES, n.role),
    availability: enumToProto(NODE_AVAILABILITIES, n.availability),
    labels: labelsToProto(n.labels),
    description: nodeDescriptionToProto(d),
    status: { state: enumToProto(NODE_STATES, n.status.state), message: n.status.message, address: n.status.address },
    managerStatus: n.managerStatus
      ? {
          raftId: n.managerStatus.raftId,
          addr: n.managerStatus.addr,
          leader: n.managerStatus.leader,
          reachability: enumToProto(REACHABILITIES, n.managerStatus.reachability),
        }
      : null,
  };
}

export function nodeFromProto(x: ProtoNode): Node {
  const o = sub(x, '') ?? {};
  const out: Obj = {
    ...metaFromProto(o.meta),
    role: enumFromProto(NODE_ROLES, o.role, 'role'),
    availability: enumFromProto(NODE_AVAILABILITIES, o.availability, 'availability'),
    labels: o.labels,
  };
  const desc = nodeDescriptionFromWire(o.description, 'description');
  if (desc !== undefined) out.description = desc;
  const s = sub(o.status, 'status');
  if (s !== undefined) out.status = { state: enumFromProto(NODE_STATES, s.state, 'status.state'), message: s.message, address: s.address };
  const ms = sub(o.managerStatus, 'managerStatus');
  if (ms !== undefined) {
    out.managerStatus = {
      raftId: ms.raftId,
      addr: ms.addr,
      leader: ms.leader,
      reachability: enumFromProto(REACHABILITIES, ms.reachability, 'managerStatus.reachability'),
    };
  }
  return validateNode(out);
}

// ------------------------------------------------------------ task

export function taskToProto(t: Task): ProtoTask {
  return taskToProtoWith(t, {});
}

/**
 * taskToProto with the proto forms of the task's spec and endpoint when the
 * caller already has them (the same template is shared by every task of a
 * service version; the result then shares them too, so do not change it).
 */
export function taskToProtoWith(t: Task, converted: { spec?: ProtoTaskTemplate; endpoint?: ProtoTask['endpoint'] }): ProtoTask {
  const s = t.status;
  return {
    meta: metaToProto(t),
    serviceId: t.serviceId,
    slot: t.slot,
    nodeId: t.nodeId,
    desiredState: t.desiredState,
    status: taskStatusToProto(s),
    specVersion: t.specVersion,
    spec: converted.spec ?? taskTemplateToProto(t.spec),
    serviceAnnotations: { name: t.serviceAnnotations.name },
    endpoint: converted.endpoint ?? endpointToProto(t.endpoint),
  };
}

export function taskStatusToProto(s: TaskStatus): ProtoTaskStatus {
  return {
    state: s.state,
    message: s.message,
    err: s.err,
    timestamp: s.timestamp,
    containerId: s.containerId,
    exitCode: s.exitCode,
    health: enumToProto(TASK_HEALTHS, s.health),
  };
}

function taskStatusFromWire(s: Obj | undefined, path: string): Obj | undefined {
  if (s === undefined) return undefined;
  return {
    state: s.state,
    message: s.message,
    err: s.err,
    timestamp: s.timestamp,
    containerId: s.containerId,
    exitCode: s.exitCode,
    health: enumFromProto(TASK_HEALTHS, s.health, at(path, 'health')),
  };
}

/** A task status from the wire (a worker's report), validated; ValidationError names the field under `path`. */
export function taskStatusFromProto(x: ProtoTaskStatus | null | undefined, path = 'status'): TaskStatus {
  return validateTaskStatus(taskStatusFromWire(sub(x, path), path), path);
}

/**
 * Task states travel with their SwarmKit numbers; validateTask rejects any other number.
 * `shared`: canonical spec parts the task may equal (see shared-specs.ts); an
 * equal spec is kept as that object instead of being validated again, which
 * is most of the cost for the many tasks of one service.
 */
export function taskFromProto(x: ProtoTask, shared: readonly SharedTaskParts[] = []): Task {
  const o = sub(x, '') ?? {};
  const s = sub(o.status, 'status');
  const m = sub(o.meta, 'meta') ?? {};
  // Field by field rather than spreading the meta fields: agents read tens of thousands of tasks (see validateTask).
  return validateTask({
    id: m.id,
    version: m.version,
    createdAt: m.createdAt,
    updatedAt: m.updatedAt,
    serviceId: o.serviceId,
    slot: o.slot,
    nodeId: o.nodeId,
    desiredState: o.desiredState,
    status: taskStatusFromWire(s, 'status'),
    specVersion: o.specVersion,
    spec: taskTemplateFromWire(o.spec, 'spec'),
    serviceAnnotations: sub(o.serviceAnnotations, 'serviceAnnotations'),
    endpoint: endpointFromWire(o.endpoint, 'endpoint'),
  }, shared);
}

// ------------------------------------------------------------ cluster

export function clusterSpecToProto(s: ClusterSpec): ProtoClusterSpec {
  return {
    name: s.name,
    orchestration: { taskHistoryRetention: s.orchestration.taskHistoryRetention },
    dispatcher: { heartbeatPeriodMs: s.dispatcher.heartbeatPeriodMs, heartbeatGrace: s.dispatcher.heartbeatGrace },
    caConfig: { nodeCertExpiryHours: s.caConfig.nodeCertExpiryHours },
  };
}

/**
 * The Cluster message sent to clients. SECURITY: it NEVER carries the CA's
 * private key or the join tokens / join secrets (or their digests): only the
 * spec and the root CA's public certificate and digest are copied, field by
 * field, so a field later added to the store's Cluster cannot leak by
 * accident. Join tokens are only handed out by GetJoinTokens / RotateJoinToken.
 */
export function clusterToProto(c: Cluster): ProtoCluster {
  return {
    meta: metaToProto(c),
    spec: clusterSpecToProto(c.spec),
    rootCa: { certPem: c.rootCA.certPem, digest: c.rootCA.digest },
  };
}

/**
 * The store ClusterSpec for an UpdateCluster request (the settings in their
 * documented ranges); ValidationError naming the field on bad input. A
 * cluster read from a manager is read with rules 'stored'.
 */
export function clusterSpecFromProto(x: ProtoClusterSpec | null | undefined, path = 'spec', rules: SpecRules = 'request'): ClusterSpec {
  const s = sub(x, path);
  return validateClusterSpec(
    s === undefined
      ? undefined
      : {
          name: s.name,
          orchestration: sub(s.orchestration, at(path, 'orchestration')),
          dispatcher: sub(s.dispatcher, at(path, 'dispatcher')),
          caConfig: sub(s.caConfig, at(path, 'caConfig')),
        },
    path,
    rules,
  );
}

// ------------------------------------------------------------ versions

/**
 * The version an update request carries: the version of the object the
 * caller read (its meta.version), so that a change made meanwhile is refused
 * (ABORTED) instead of overwritten. A missing (0) or negative one is
 * INVALID_ARGUMENT: there is no "whatever is stored now".
 */
export function requireVersion(version: unknown, kind: string, read: string): number {
  if (typeof version === 'number' && Number.isSafeInteger(version) && version > 0) return version;
  throw new ValidationError(
    'version',
    'version-required',
    `version is required (got ${quoteValue(version)}): read the ${kind} (${read}) and send its version, so that a change made since is not overwritten`,
  );
}
