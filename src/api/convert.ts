// Mapping between the store's objects (objects.ts) and the wire messages of
// proto/control.proto, typed by the generated types (wire.ts): as
// @grpc/proto-loader produces and accepts them with the project's loader
// options (camelCase fields, int64 as number, enums as numbers, defaults filled
// in, unset messages as null, oneofs named by a virtual field).
//
// Every field is handled, or tsc fails: a *ToProto function returns the
// generated `__Output` type, in which every field is required; a converter from
// the wire destructures every field of the received message and hands the rest
// to noFieldsLeft (received.ts).
//
// Everything that arrives from a client goes through a *FromProto function:
// enums are checked and the result runs through the store's validators, so bad
// input throws the store's ValidationError naming the field (in store terms,
// e.g. 'spec.taskTemplate.restartPolicy.condition'). The manager maps that and
// its other typed errors to gRPC status codes (src/manager/grpc-status.ts).
import {
  enumFromProto,
  enumToProto,
  FAILURE_ACTIONS,
  MOUNT_TYPES,
  NODE_AVAILABILITIES,
  NODE_ROLES,
  NODE_STATES,
  PORT_PROTOCOLS,
  PUBLISH_MODES,
  REACHABILITIES,
  RESTART_CONDITIONS,
  TASK_HEALTHS,
  UPDATE_ORDERS,
  UPDATE_STATES,
  CANARY_STATES,
  LB_POLICIES,
  PROXY_PROTOCOLS,
  RESOLUTION_MODES,
} from './enums.js';
import type {
  Cluster,
  ClusterSpec,
  Config,
  ContainerSpec,
  EndpointSpec,
  Labels,
  Meta,
  Network,
  NetworkAttachment,
  Node,
  NodeDescription,
  PortBinding,
  PortConfig,
  Secret,
  SecretSpec,
  Service,
  ServiceSpec,
  Task,
  TaskStatus,
  TaskTemplate,
  UpdateConfig,
  UpdateStatus,
} from './objects.js';
import { at, items, noFieldsLeft, sub, type Received } from './received.js';
import type { SharedTaskParts } from './shared-specs.js';
import {
  DEFAULT_DRAIN_PERIOD_MS,
  DEFAULT_LB_WEIGHT,
  fileDataSizeProblem,
  validateClusterSpec,
  validateConfig,
  validateConfigSpec,
  validateNetwork,
  validateNetworkSpec,
  validateNode,
  validateNodeDescription,
  validateSecret,
  validateSecretSpec,
  validateService,
  validateServiceSpec,
  validateTask,
  validateTaskStatus,
  type FileObjectKind,
  type SpecRules,
} from './validate.js';
import { fieldKey, quoteValue, ValidationError } from './input.js';
import type { control } from './wire.js';

/** A message converted from the wire, in the store's shape, before its validator checks it. */
type Obj = Record<string, unknown>;

/** An unset message, read field by field: every field undefined. */
const UNSET: Received<Record<string, unknown>> = {};

function labelsToProto(l: Labels): Labels {
  return { ...l };
}

function metaToProto(m: Meta): control.Meta__Output {
  return { id: m.id, version: m.version, createdAt: m.createdAt, updatedAt: m.updatedAt };
}

/** Meta fields as the store validators read them (null/absent → their defaults). */
function metaFromWire(x: unknown): Obj {
  const { id, version, createdAt, updatedAt, ...rest } = sub<control.Meta__Output>(x, 'meta') ?? (UNSET as Received<control.Meta__Output>);
  noFieldsLeft(rest);
  return { id, version, createdAt, updatedAt };
}

// ------------------------------------------------------------ service

function containerToProto(c: ContainerSpec): control.ContainerSpec__Output {
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
    secrets: (c.secrets ?? []).map((r) => ({ secretId: r.id, secretName: r.name, target: r.target, uid: r.uid, gid: r.gid, mode: r.mode })),
    configs: (c.configs ?? []).map((r) => ({ configId: r.id, configName: r.name, target: r.target, uid: r.uid, gid: r.gid, mode: r.mode })),
    labels: { ...(c.labels ?? {}) },
    expose: [...(c.expose ?? [])],
  };
}

export function taskTemplateToProto(t: TaskTemplate): control.TaskTemplate__Output {
  return {
    container: containerToProto(t.container),
    resources: { limits: { ...t.resources.limits }, reservations: { ...t.resources.reservations } },
    restartPolicy: {
      condition: enumToProto(RESTART_CONDITIONS, t.restartPolicy.condition),
      delayMs: t.restartPolicy.delayMs,
      maxAttempts: t.restartPolicy.maxAttempts,
      windowMs: t.restartPolicy.windowMs,
      maxDelayMs: t.restartPolicy.maxDelayMs,
    },
    placement: {
      constraints: [...t.placement.constraints],
      preferences: t.placement.preferences.map((p) => ({ spread: p.spread })),
      maxReplicas: t.placement.maxReplicas ?? 0,
    },
    forceUpdate: t.forceUpdate,
    networks: [...(t.networks ?? [])],
    lbWeight: t.lbWeight ?? DEFAULT_LB_WEIGHT,
    networkAliases: networkAliasesToProto(t.networkAliases),
  };
}

/** Per-network aliases (the store's lists by network) as the wire's map of NetworkAliases. */
export function networkAliasesToProto(byNetwork: Readonly<Record<string, readonly string[]>> | undefined): Record<string, control.NetworkAliases__Output> {
  // fromEntries defines own properties, so even a '__proto__' key stays a plain entry.
  return Object.fromEntries(Object.entries(byNetwork ?? {}).map(([network, aliases]) => [network, { aliases: [...aliases] }]));
}

function updateConfigToProto(u: UpdateConfig): control.UpdateConfig__Output {
  return {
    parallelism: u.parallelism,
    delayMs: u.delayMs,
    failureAction: enumToProto(FAILURE_ACTIONS, u.failureAction),
    monitorMs: u.monitorMs,
    maxFailureRatio: u.maxFailureRatio,
    order: enumToProto(UPDATE_ORDERS, u.order),
    canary: u.canary,
    autoPromote: u.autoPromote,
    progressDeadlineMs: u.progressDeadlineMs,
  };
}

function updateStatusToProto(u: UpdateStatus): control.UpdateStatus__Output {
  return {
    state: enumToProto(UPDATE_STATES, u.state),
    startedAt: u.startedAt,
    completedAt: u.completedAt,
    message: u.message,
    startVersion: u.startVersion,
    canary: enumToProto(CANARY_STATES, u.canary),
  };
}

export function portConfigToProto(p: PortConfig): control.PortConfig__Output {
  const port: control.PortConfig__Output = {
    protocol: enumToProto(PORT_PROTOCOLS, p.protocol),
    targetPort: p.targetPort,
    publishedPort: p.publishedPort,
    publishMode: enumToProto(PUBLISH_MODES, p.publishMode),
  };
  // proto3 `optional`: absent when the port has no name.
  if (p.name !== undefined) port.name = p.name;
  return port;
}

export function endpointToProto(e: EndpointSpec): control.EndpointSpec__Output {
  return {
    ports: e.ports.map(portConfigToProto),
    lbPolicy: enumToProto(LB_POLICIES, e.lbPolicy ?? 'round-robin'),
    proxyProtocol: enumToProto(PROXY_PROTOCOLS, e.proxyProtocol ?? 'none'),
    drainPeriodMs: e.drainPeriodMs ?? DEFAULT_DRAIN_PERIOD_MS,
    mode: enumToProto(RESOLUTION_MODES, e.mode ?? 'vip'),
  };
}

export function serviceSpecToProto(s: ServiceSpec): control.ServiceSpec__Output {
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

/** A service as the API sends it; `serviceStatus` is set by ListServices and GetService (manager/controlapi/services.ts). */
export function serviceToProto(s: Service): control.Service__Output {
  return {
    meta: metaToProto(s),
    spec: serviceSpecToProto(s.spec),
    serviceStatus: null,
    previousSpec: s.previousSpec ? serviceSpecToProto(s.previousSpec) : null,
    updateStatus: s.updateStatus ? updateStatusToProto(s.updateStatus) : null,
    specVersion: s.specVersion,
    endpoint: s.endpoint ? { ports: s.endpoint.ports.map(portConfigToProto) } : null,
  };
}

function resourcesFromWire(x: unknown, path: string): Obj | undefined {
  const r = sub<control.Resources__Output>(x, path);
  if (r === undefined) return undefined;
  const { nanoCpus, memoryBytes, ...rest } = r;
  noFieldsLeft(rest);
  return { nanoCpus, memoryBytes };
}

function healthCheckFromWire(x: unknown, path: string): Obj | undefined {
  const hc = sub<control.HealthCheck__Output>(x, path);
  if (hc === undefined) return undefined;
  const { test, intervalMs, timeoutMs, retries, startPeriodMs, ...rest } = hc;
  noFieldsLeft(rest);
  return { test, intervalMs, timeoutMs, retries, startPeriodMs };
}

function containerFromWire(x: unknown, path: string): Obj | undefined {
  const c = sub<control.ContainerSpec__Output>(x, path);
  if (c === undefined) return undefined;
  const { image, command, args, env, dir, user, mounts, healthcheck, stopGracePeriodMs, secrets, configs, labels, expose, ...rest } = c;
  noFieldsLeft(rest);
  const container: Obj = {
    image,
    command,
    args,
    env,
    dir,
    user,
    mounts: items<control.Mount__Output>(mounts, at(path, 'mounts'), (m, f) => {
      const { type, source, target, readOnly, ...more } = m;
      noFieldsLeft(more);
      return { type: enumFromProto(MOUNT_TYPES, type, at(f, 'type')), source, target, readOnly };
    }),
    stopGracePeriodMs,
  };
  const hc = healthCheckFromWire(healthcheck, at(path, 'healthcheck'));
  if (hc !== undefined) container.healthcheck = hc;
  // Absent when empty, as the validator leaves them: a task's spec read from the wire must equal its service's
  // canonical one to be shared (shared-specs.ts), which a `secrets: []` the canonical form lacks would prevent.
  if (!(Array.isArray(secrets) && secrets.length === 0)) {
    container.secrets = items<control.SecretReference__Output>(secrets, at(path, 'secrets'), (r) => {
      const { secretId, secretName, target, uid, gid, mode, _mode: _hasMode, ...more } = r;
      noFieldsLeft(more);
      return { id: secretId, name: secretName, target, uid, gid, ...(mode === undefined || mode === null ? {} : { mode }) };
    });
  }
  if (!(Array.isArray(configs) && configs.length === 0)) {
    container.configs = items<control.ConfigReference__Output>(configs, at(path, 'configs'), (r) => {
      const { configId, configName, target, uid, gid, mode, _mode: _hasMode, ...more } = r;
      noFieldsLeft(more);
      return { id: configId, name: configName, target, uid, gid, ...(mode === undefined || mode === null ? {} : { mode }) };
    });
  }
  // Absent when empty, as the validator leaves them (shared-specs.ts).
  if (labels && typeof labels === 'object' && Object.keys(labels).length > 0) container.labels = labels;
  if (Array.isArray(expose) && expose.length > 0) container.expose = expose;
  return container;
}

/** A received map of NetworkAliases as the store's lists by network, not yet validated; undefined when empty. */
function networkAliasesFromWire(x: unknown, path: string): unknown {
  // Anything but a map is passed on for the validator to name.
  if (x === null || typeof x !== 'object' || Array.isArray(x)) return x ?? undefined;
  const entries = Object.entries(x);
  if (entries.length === 0) return undefined;
  return Object.fromEntries(
    entries.map(([network, value]) => {
      const v = sub<control.NetworkAliases__Output>(value, fieldKey(path, network));
      if (v === undefined) return [network, []];
      const { aliases, ...more } = v;
      noFieldsLeft(more);
      return [network, aliases];
    }),
  );
}

/** A received TaskTemplate in the store's shape (enums mapped), not yet validated. */
function taskTemplateFromWire(x: unknown, path: string): Obj | undefined {
  const t = sub<control.TaskTemplate__Output>(x, path);
  if (t === undefined) return undefined;
  // `_lbWeight` is the virtual oneof of the proto3 `optional` weight.
  const { container, resources, restartPolicy, placement, forceUpdate, networks, lbWeight, _lbWeight: _hasWeight, networkAliases, ...rest } = t;
  noFieldsLeft(rest);
  const out: Obj = { forceUpdate };
  // Absent at their defaults, as the validators leave them (so that an equal spec is shared: shared-specs.ts).
  if (!(Array.isArray(networks) && networks.length === 0)) out.networks = networks;
  const aliases = networkAliasesFromWire(networkAliases, at(path, 'networkAliases'));
  if (aliases !== undefined) out.networkAliases = aliases;
  if (lbWeight !== undefined && lbWeight !== null && lbWeight !== DEFAULT_LB_WEIGHT) out.lbWeight = lbWeight;
  const c = containerFromWire(container, at(path, 'container'));
  if (c !== undefined) out.container = c;
  const rPath = at(path, 'resources');
  const r = sub<control.ResourceRequirements__Output>(resources, rPath);
  if (r !== undefined) {
    const { limits, reservations, ...more } = r;
    noFieldsLeft(more);
    out.resources = { limits: resourcesFromWire(limits, at(rPath, 'limits')), reservations: resourcesFromWire(reservations, at(rPath, 'reservations')) };
  }
  const rpPath = at(path, 'restartPolicy');
  const rp = sub<control.RestartPolicy__Output>(restartPolicy, rpPath);
  if (rp !== undefined) {
    // `_maxDelayMs` is the virtual oneof of the proto3 `optional` max delay.
    const { condition, delayMs, maxAttempts, windowMs, maxDelayMs, _maxDelayMs: _hasMaxDelay, ...more } = rp;
    noFieldsLeft(more);
    const policy: Obj = { condition: enumFromProto(RESTART_CONDITIONS, condition, at(rpPath, 'condition')), delayMs, maxAttempts, windowMs };
    // Absent: the default (validateRestartPolicy).
    if (maxDelayMs !== undefined && maxDelayMs !== null) policy.maxDelayMs = maxDelayMs;
    out.restartPolicy = policy;
  }
  const pPath = at(path, 'placement');
  const p = sub<control.Placement__Output>(placement, pPath);
  if (p !== undefined) {
    const { constraints, preferences, maxReplicas, ...more } = p;
    noFieldsLeft(more);
    out.placement = {
      // Absent at its default, as validatePlacement leaves it.
      ...(maxReplicas === 0 ? {} : { maxReplicas }),
      constraints,
      preferences: items<control.PlacementPreference__Output>(preferences, at(pPath, 'preferences'), (pr) => {
        const { spread, ...left } = pr;
        noFieldsLeft(left);
        return { spread };
      }),
    };
  }
  return out;
}

function updateConfigFromWire(x: unknown, path: string): Obj | undefined {
  const u = sub<control.UpdateConfig__Output>(x, path);
  if (u === undefined) return undefined;
  const { parallelism, delayMs, failureAction, monitorMs, maxFailureRatio, order, canary, autoPromote, progressDeadlineMs, ...rest } = u;
  noFieldsLeft(rest);
  return {
    parallelism,
    delayMs,
    failureAction: enumFromProto(FAILURE_ACTIONS, failureAction, at(path, 'failureAction')),
    monitorMs,
    maxFailureRatio,
    order: enumFromProto(UPDATE_ORDERS, order, at(path, 'order')),
    canary,
    autoPromote,
    progressDeadlineMs,
  };
}

function updateStatusFromWire(x: unknown, path: string): Obj | undefined {
  const u = sub<control.UpdateStatus__Output>(x, path);
  if (u === undefined) return undefined;
  const { state, startedAt, completedAt, message, startVersion, canary, ...rest } = u;
  noFieldsLeft(rest);
  return {
    state: enumFromProto(UPDATE_STATES, state, at(path, 'state')),
    startedAt,
    completedAt,
    message,
    startVersion,
    canary: enumFromProto(CANARY_STATES, canary, at(path, 'canary')),
  };
}

function modeFromWire(x: unknown, path: string): Obj | undefined {
  const m = sub<control.ServiceMode__Output>(x, path);
  if (m === undefined) return undefined;
  // `mode` is the oneof's virtual field (which member is set): the members themselves are read.
  const { replicated, global, mode: _which, ...rest } = m;
  noFieldsLeft(rest);
  const out: Obj = {};
  const rep = sub<control.ReplicatedMode__Output>(replicated, at(path, 'replicated'));
  if (rep !== undefined) {
    const { replicas, ...more } = rep;
    noFieldsLeft(more);
    out.replicated = { replicas };
  }
  const glob = sub<control.GlobalMode__Output>(global, at(path, 'global'));
  if (glob !== undefined) {
    const { ...more } = glob;
    noFieldsLeft(more);
    out.global = {};
  }
  // Neither or both set: validateServiceSpec names `path` with rule 'mode'.
  if (rep === undefined && glob === undefined) throw new ValidationError(path, 'mode', 'must have exactly one of replicated or global');
  return out;
}

function portsFromWire(ports: unknown, path: string): unknown {
  return items<control.PortConfig__Output>(ports, path, (p, f) => {
    // `_name` is the virtual oneof of the proto3 `optional` name.
    const { name, protocol, targetPort, publishedPort, publishMode, _name: _hasName, ...more } = p;
    noFieldsLeft(more);
    const port: Obj = {
      protocol: enumFromProto(PORT_PROTOCOLS, protocol, at(f, 'protocol')),
      targetPort,
      publishedPort,
      publishMode: enumFromProto(PUBLISH_MODES, publishMode, at(f, 'publishMode')),
    };
    if (name !== undefined && name !== null) port.name = name;
    return port;
  });
}

function endpointFromWire(x: unknown, path: string): Obj | undefined {
  const e = sub<control.EndpointSpec__Output>(x, path);
  if (e === undefined) return undefined;
  // `_drainPeriodMs` is the virtual oneof of the proto3 `optional` drain period.
  const { ports, lbPolicy, proxyProtocol, drainPeriodMs, _drainPeriodMs: _hasDrain, mode, ...rest } = e;
  noFieldsLeft(rest);
  const out: Obj = {};
  // Absent at their defaults, as the validators leave them (so that an equal endpoint is shared: shared-specs.ts).
  const resolution = enumFromProto(RESOLUTION_MODES, mode, at(path, 'mode'));
  if (resolution !== 'vip') out.mode = resolution;
  out.ports = portsFromWire(ports, at(path, 'ports'));
  const policy = enumFromProto(LB_POLICIES, lbPolicy, at(path, 'lbPolicy'));
  if (policy !== 'round-robin') out.lbPolicy = policy;
  const pp = enumFromProto(PROXY_PROTOCOLS, proxyProtocol, at(path, 'proxyProtocol'));
  if (pp !== 'none') out.proxyProtocol = pp;
  if (drainPeriodMs !== undefined && drainPeriodMs !== null && drainPeriodMs !== DEFAULT_DRAIN_PERIOD_MS) out.drainPeriodMs = drainPeriodMs;
  return out;
}

function serviceSpecFromWire(x: unknown, path: string): Obj | undefined {
  const s = sub<control.ServiceSpec__Output>(x, path);
  if (s === undefined) return undefined;
  const { name, labels, taskTemplate, mode, updateConfig, rollbackConfig, endpoint, ...rest } = s;
  noFieldsLeft(rest);
  return {
    name,
    labels,
    taskTemplate: taskTemplateFromWire(taskTemplate, at(path, 'taskTemplate')),
    mode: modeFromWire(mode, at(path, 'mode')),
    updateConfig: updateConfigFromWire(updateConfig, at(path, 'updateConfig')),
    rollbackConfig: updateConfigFromWire(rollbackConfig, at(path, 'rollbackConfig')),
    endpoint: endpointFromWire(endpoint, at(path, 'endpoint')),
  };
}

/**
 * The store ServiceSpec for a request's spec (CreateService, UpdateService):
 * enums mapped, then validateServiceSpec, so bad input throws ValidationError
 * naming the field ('spec.taskTemplate.container.image', ...).
 */
export function serviceSpecFromProto(x: control.ServiceSpec__Output | null | undefined, path = 'spec', rules: SpecRules = 'request'): ServiceSpec {
  return validateServiceSpec(serviceSpecFromWire(x, path), path, rules);
}

/** A service read from a manager. Its serviceStatus is not part of the store's object: callers read it from the message. */
export function serviceFromProto(x: control.Service__Output): Service {
  const { meta, spec, serviceStatus: _status, previousSpec, updateStatus, specVersion, endpoint, ...rest } =
    sub<control.Service__Output>(x, '') ?? (UNSET as Received<control.Service__Output>);
  noFieldsLeft(rest);
  const out: Obj = { ...metaFromWire(meta), spec: serviceSpecFromWire(spec, 'spec'), specVersion };
  const ep = sub<control.ServiceEndpoint__Output>(endpoint, 'endpoint');
  if (ep !== undefined) {
    const { ports, ...more } = ep;
    noFieldsLeft(more);
    out.endpoint = { ports: portsFromWire(ports, 'endpoint.ports') };
  }
  const prev = serviceSpecFromWire(previousSpec, 'previousSpec');
  if (prev !== undefined) out.previousSpec = prev;
  const status = updateStatusFromWire(updateStatus, 'updateStatus');
  if (status !== undefined) out.updateStatus = status;
  return validateService(out);
}

// ------------------------------------------------------------ node

export function nodeDescriptionToProto(d: NodeDescription): control.NodeDescription__Output {
  return {
    hostname: d.hostname,
    cpus: d.cpus,
    memoryBytes: d.memoryBytes,
    engineVersion: d.engineVersion,
    platform: { os: d.platform.os, arch: d.platform.arch },
    // null when the node reported no engine labels (distinct from an empty set).
    engineLabels: d.engineLabels === undefined ? null : { entries: labelsToProto(d.engineLabels) },
    engineId: d.engineId ?? '',
  };
}

function nodeDescriptionFromWire(x: unknown, path: string): Obj | undefined {
  const d = sub<control.NodeDescription__Output>(x, path);
  if (d === undefined) return undefined;
  const { hostname, cpus, memoryBytes, engineVersion, platform, engineLabels, engineId, ...rest } = d;
  noFieldsLeft(rest);
  const pl = sub<control.Platform__Output>(platform, at(path, 'platform'));
  let plat: Obj | undefined;
  if (pl !== undefined) {
    const { os, arch, ...more } = pl;
    noFieldsLeft(more);
    plat = { os, arch };
  }
  const desc: Obj = { hostname, cpus, memoryBytes, engineVersion, platform: plat, engineId };
  const el = sub<control.LabelSet__Output>(engineLabels, at(path, 'engineLabels'));
  if (el !== undefined) {
    const { entries, ...more } = el;
    noFieldsLeft(more);
    desc.engineLabels = entries;
  }
  return desc;
}

/** A node description from the wire (a worker's report), validated like a stored node's. */
export function nodeDescriptionFromProto(x: control.NodeDescription__Output | null | undefined): NodeDescription {
  return validateNodeDescription(nodeDescriptionFromWire(x, 'description'));
}

export function nodeToProto(n: Node): control.Node__Output {
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
    vipBlock: n.vipBlock ?? 0,
  };
}

export function nodeFromProto(x: control.Node__Output): Node {
  const { meta, role, availability, labels, description, status, managerStatus, vipBlock, ...rest } = sub<control.Node__Output>(x, '') ?? (UNSET as Received<control.Node__Output>);
  noFieldsLeft(rest);
  const out: Obj = {
    ...metaFromWire(meta),
    vipBlock,
    role: enumFromProto(NODE_ROLES, role, 'role'),
    availability: enumFromProto(NODE_AVAILABILITIES, availability, 'availability'),
    labels,
  };
  const desc = nodeDescriptionFromWire(description, 'description');
  if (desc !== undefined) out.description = desc;
  const s = sub<control.NodeStatus__Output>(status, 'status');
  if (s !== undefined) {
    const { state, message, address, ...more } = s;
    noFieldsLeft(more);
    out.status = { state: enumFromProto(NODE_STATES, state, 'status.state'), message, address };
  }
  const ms = sub<control.ManagerStatus__Output>(managerStatus, 'managerStatus');
  if (ms !== undefined) {
    const { raftId, addr, leader, reachability, ...more } = ms;
    noFieldsLeft(more);
    out.managerStatus = { raftId, addr, leader, reachability: enumFromProto(REACHABILITIES, reachability, 'managerStatus.reachability') };
  }
  return validateNode(out);
}

// ------------------------------------------------------------ task

export function taskToProto(t: Task): control.Task__Output {
  return taskToProtoWith(t, {});
}

/**
 * taskToProto with the proto forms of the task's spec and endpoint when the
 * caller already has them (the same template is shared by every task of a
 * service version; the result then shares them too, so do not change it).
 */
export function taskToProtoWith(t: Task, converted: { spec?: control.TaskTemplate__Output; endpoint?: control.EndpointSpec__Output }): control.Task__Output {
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
    restart: t.restart ? { attempt: t.restart.attempt, delayMs: t.restart.delayMs, nextAt: t.restart.nextAt, reason: t.restart.reason } : null,
    updateFailure: t.updateFailure,
  };
}

export function taskStatusToProto(s: TaskStatus): control.TaskStatus__Output {
  return {
    state: s.state,
    message: s.message,
    err: s.err,
    timestamp: s.timestamp,
    containerId: s.containerId,
    exitCode: s.exitCode,
    health: enumToProto(TASK_HEALTHS, s.health),
    ports: (s.ports ?? []).map(portBindingToProto),
    networks: (s.networks ?? []).map(networkAttachmentToProto),
  };
}

export function portBindingToProto(b: PortBinding): control.PortBinding__Output {
  return { protocol: enumToProto(PORT_PROTOCOLS, b.protocol), targetPort: b.targetPort, hostIp: b.hostIp, hostPort: b.hostPort };
}

export function networkAttachmentToProto(n: NetworkAttachment): control.NetworkAttachment__Output {
  return { networkId: n.networkId, address: n.address };
}

export function portBindingsFromWire(x: unknown, path: string): unknown {
  return items<control.PortBinding__Output>(x, path, (b, f) => {
    const { protocol, targetPort, hostIp, hostPort, ...more } = b;
    noFieldsLeft(more);
    return { protocol: enumFromProto(PORT_PROTOCOLS, protocol, at(f, 'protocol')), targetPort, hostIp, hostPort };
  });
}

export function networkAttachmentsFromWire(x: unknown, path: string): unknown {
  return items<control.NetworkAttachment__Output>(x, path, (n) => {
    const { networkId, address, ...more } = n;
    noFieldsLeft(more);
    return { networkId, address };
  });
}

function taskStatusFromWire(s: Received<control.TaskStatus__Output> | undefined, path: string): Obj | undefined {
  if (s === undefined) return undefined;
  const { state, message, err, timestamp, containerId, exitCode, health, ports, networks, ...rest } = s;
  noFieldsLeft(rest);
  const out: Obj = { state, message, err, timestamp, containerId, exitCode, health: enumFromProto(TASK_HEALTHS, health, at(path, 'health')) };
  // Absent when empty, as the validators leave them.
  if (!(Array.isArray(ports) && ports.length === 0)) out.ports = portBindingsFromWire(ports, at(path, 'ports'));
  if (!(Array.isArray(networks) && networks.length === 0)) out.networks = networkAttachmentsFromWire(networks, at(path, 'networks'));
  return out;
}

/** A task status from the wire (a worker's report), validated; ValidationError names the field under `path`. */
export function taskStatusFromProto(x: control.TaskStatus__Output | null | undefined, path = 'status'): TaskStatus {
  return validateTaskStatus(taskStatusFromWire(sub<control.TaskStatus__Output>(x, path), path), path);
}

function annotationsFromWire(x: unknown, path: string): Obj | undefined {
  const a = sub<control.ServiceAnnotations__Output>(x, path);
  if (a === undefined) return undefined;
  const { name, ...rest } = a;
  noFieldsLeft(rest);
  return { name };
}

/**
 * Task states travel with their SwarmKit numbers; validateTask rejects any other number.
 * `shared`: canonical spec parts the task may equal (see shared-specs.ts); an
 * equal spec is kept as that object instead of being validated again, which
 * is most of the cost for the many tasks of one service.
 */
export function taskFromProto(x: control.Task__Output, shared: readonly SharedTaskParts[] = []): Task {
  const { meta, serviceId, slot, nodeId, desiredState, status, specVersion, spec, serviceAnnotations, endpoint, restart, updateFailure, ...rest } =
    sub<control.Task__Output>(x, '') ?? (UNSET as Received<control.Task__Output>);
  noFieldsLeft(rest);
  const s = sub<control.TaskStatus__Output>(status, 'status');
  const m = metaFromWire(meta);
  // Field by field rather than spreading the meta fields: agents read tens of thousands of tasks (see validateTask).
  return validateTask(
    {
      id: m.id,
      version: m.version,
      createdAt: m.createdAt,
      updatedAt: m.updatedAt,
      serviceId,
      slot,
      nodeId,
      desiredState,
      status: taskStatusFromWire(s, 'status'),
      specVersion,
      spec: taskTemplateFromWire(spec, 'spec'),
      serviceAnnotations: annotationsFromWire(serviceAnnotations, 'serviceAnnotations'),
      endpoint: endpointFromWire(endpoint, 'endpoint'),
      restart: restartDecisionFromWire(restart, 'restart'),
      updateFailure,
    },
    shared,
  );
}

function restartDecisionFromWire(x: unknown, path: string): Obj | undefined {
  const r = sub<control.RestartDecision__Output>(x, path);
  if (r === undefined) return undefined;
  const { attempt, delayMs, nextAt, reason, ...rest } = r;
  noFieldsLeft(rest);
  return { attempt, delayMs, nextAt, reason };
}

// ------------------------------------------------------------ cluster

export function clusterSpecToProto(s: ClusterSpec): control.ClusterSpec__Output {
  return {
    name: s.name,
    orchestration: { taskHistoryRetention: s.orchestration.taskHistoryRetention },
    dispatcher: { heartbeatPeriodMs: s.dispatcher.heartbeatPeriodMs, heartbeatGrace: s.dispatcher.heartbeatGrace },
    caConfig: { nodeCertExpiryHours: s.caConfig.nodeCertExpiryHours },
    network: { ...s.network },
    encryption: { autoLockManagers: s.encryption?.autoLockManagers ?? false },
  };
}

/**
 * The Cluster message sent to clients. SECURITY: it NEVER carries the CA's
 * private key or the join tokens / join secrets (or their digests): only the
 * spec and the root CA's public certificate and digest are copied, field by
 * field, so a field later added to the store's Cluster cannot leak by
 * accident. Join tokens are only handed out by GetJoinTokens / RotateJoinToken.
 */
export function clusterToProto(c: Cluster): control.Cluster__Output {
  return {
    meta: metaToProto(c),
    spec: clusterSpecToProto(c.spec),
    rootCa: { certPem: c.rootCA.certPem, digest: c.rootCA.digest },
  };
}

/** A cluster setting message (orchestration, dispatcher, caConfig) field by field, or undefined when unset. */
function settingsFromWire<T>(x: unknown, path: string, read: (m: Received<T>) => Obj): Obj | undefined {
  const m = sub<T>(x, path);
  return m === undefined ? undefined : read(m);
}

/**
 * The store ClusterSpec for an UpdateCluster request (the settings in their
 * documented ranges); ValidationError naming the field on bad input. A
 * cluster read from a manager is read with rules 'stored'.
 */
export function clusterSpecFromProto(x: control.ClusterSpec__Output | null | undefined, path = 'spec', rules: SpecRules = 'request'): ClusterSpec {
  const s = sub<control.ClusterSpec__Output>(x, path);
  let spec: Obj | undefined;
  if (s !== undefined) {
    const { name, orchestration, dispatcher, caConfig, network, encryption, ...rest } = s;
    noFieldsLeft(rest);
    spec = {
      name,
      orchestration: settingsFromWire<control.OrchestrationConfig__Output>(orchestration, at(path, 'orchestration'), ({ taskHistoryRetention, ...more }) => {
        noFieldsLeft(more);
        return { taskHistoryRetention };
      }),
      dispatcher: settingsFromWire<control.DispatcherConfig__Output>(dispatcher, at(path, 'dispatcher'), ({ heartbeatPeriodMs, heartbeatGrace, ...more }) => {
        noFieldsLeft(more);
        return { heartbeatPeriodMs, heartbeatGrace };
      }),
      caConfig: settingsFromWire<control.CAConfig__Output>(caConfig, at(path, 'caConfig'), ({ nodeCertExpiryHours, ...more }) => {
        noFieldsLeft(more);
        return { nodeCertExpiryHours };
      }),
      network: settingsFromWire<control.NetworkConfig__Output>(
        network,
        at(path, 'network'),
        ({ vipPool, vipPoolMaskLength, publishedPortRangeStart, publishedPortRangeEnd, ...more }) => {
          noFieldsLeft(more);
          return { vipPool, vipPoolMaskLength, publishedPortRangeStart, publishedPortRangeEnd };
        },
      ),
      encryption: settingsFromWire<control.EncryptionConfig__Output>(encryption, at(path, 'encryption'), ({ autoLockManagers, ...more }) => {
        noFieldsLeft(more);
        return { autoLockManagers };
      }),
    };
  }
  return validateClusterSpec(spec, path, rules);
}

// ------------------------------------------------------------ network

export function networkToProto(n: Network): control.Network__Output {
  return { meta: metaToProto(n), spec: { name: n.spec.name, labels: labelsToProto(n.spec.labels), driver: n.spec.driver } };
}

function networkSpecFromWire(x: unknown, path: string): Obj | undefined {
  const s = sub<control.NetworkSpec__Output>(x, path);
  if (s === undefined) return undefined;
  const { name, labels, driver, ...rest } = s;
  noFieldsLeft(rest);
  return { name, labels, driver };
}

/** A CreateNetwork request's spec, validated (driver '' means the default, overlay). */
export function networkSpecFromProto(x: control.NetworkSpec__Output | null | undefined, path = 'spec'): Network['spec'] {
  return validateNetworkSpec(networkSpecFromWire(x, path), path);
}

export function networkFromProto(x: control.Network__Output): Network {
  const { meta, spec, ...rest } = sub<control.Network__Output>(x, '') ?? (UNSET as Received<control.Network__Output>);
  noFieldsLeft(rest);
  return validateNetwork({ ...metaFromWire(meta), spec: networkSpecFromWire(spec, 'spec') });
}

// ------------------------------------------------------------ secret, config

const NO_DATA = Buffer.alloc(0);

/** A secret as every Control API read answers it: its data is never sent. */
export function secretToProto(s: Secret): control.Secret__Output {
  return { meta: metaToProto(s), spec: { name: s.spec.name, labels: labelsToProto(s.spec.labels), data: NO_DATA } };
}

/**
 * A secret with its data: the one place a secret's data leaves the store for
 * the wire, when the dispatcher sends a node the secrets its tasks reference
 * (proto/dispatcher.proto, SessionMessage.secrets), and only then.
 */
export function secretWithDataToProto(s: Secret): control.Secret__Output {
  return { meta: metaToProto(s), spec: { name: s.spec.name, labels: labelsToProto(s.spec.labels), data: Buffer.from(s.spec.data, 'base64') } };
}

/** A config; its data only `withData` (GetConfig, as Swarm's `config inspect` shows it). */
export function configToProto(c: Config, withData = false): control.Config__Output {
  return { meta: metaToProto(c), spec: { name: c.spec.name, labels: labelsToProto(c.spec.labels), data: withData ? Buffer.from(c.spec.data, 'base64') : NO_DATA } };
}

/** Bytes from the wire as the store keeps them (base64); anything else is passed on for the validator to name. */
function bytesFromWire(x: unknown): unknown {
  if (x === undefined || x === null) return '';
  return x instanceof Uint8Array ? Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('base64') : x;
}

function fileObjectSpecFromWire(x: unknown, path: string): Obj | undefined {
  const s = sub<control.SecretSpec__Output | control.ConfigSpec__Output>(x, path);
  if (s === undefined) return undefined;
  const { name, labels, data, ...rest } = s;
  noFieldsLeft(rest);
  return { name, labels, data: bytesFromWire(data) };
}

/** A CreateSecret request's spec, validated (request rules: a name without '~', 1 byte to 500 KiB; 'stored': UpdateSecret's, whose data may be empty). */
export function secretSpecFromProto(x: control.SecretSpec__Output | null | undefined, path = 'spec', rules: SpecRules = 'request'): SecretSpec {
  return validateSecretSpec(fileObjectSpecFromWire(x, path), path, rules);
}

/** A CreateConfig request's spec, validated (1 byte to 1000 KiB). */
export function configSpecFromProto(x: control.ConfigSpec__Output | null | undefined, path = 'spec', rules: SpecRules = 'request'): SecretSpec {
  return validateConfigSpec(fileObjectSpecFromWire(x, path), path, rules);
}

/** A secret as read: from the Control API (its data empty), or as the leader sent it to a node (with its data), validated as the store validates one. */
export function secretFromProto(x: control.Secret__Output): Secret {
  const { meta, spec, ...rest } = sub<control.Secret__Output>(x, '') ?? (UNSET as Received<control.Secret__Output>);
  noFieldsLeft(rest);
  return validateSecret({ ...metaFromWire(meta), spec: fileObjectSpecFromWire(spec, 'spec') });
}

/** A config as read (with its data from GetConfig and the dispatcher, empty from ListConfigs). */
export function configFromProto(x: control.Config__Output): Config {
  const { meta, spec, ...rest } = sub<control.Config__Output>(x, '') ?? (UNSET as Received<control.Config__Output>);
  noFieldsLeft(rest);
  return validateConfig({ ...metaFromWire(meta), spec: fileObjectSpecFromWire(spec, 'spec') });
}

/** The data of a RotateSecret/RotateConfig request, base64, within the kind's limits (ValidationError at `field`). */
export function fileDataFromProto(kind: FileObjectKind, data: unknown, field = 'data'): string {
  if (data !== undefined && data !== null && !(data instanceof Uint8Array)) throw new ValidationError(field, 'type', 'must be bytes');
  const bytes = data instanceof Uint8Array ? data.byteLength : 0;
  const problem = fileDataSizeProblem(kind, bytes);
  if (problem !== undefined) throw new ValidationError(field, 'data-size', problem);
  return bytesFromWire(data) as string;
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
