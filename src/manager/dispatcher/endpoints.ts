// The data plane's tables, as pure functions of the store: which tasks of a
// service every node's proxy may send new connections to, and the node's
// block of the cluster's VIP pool. The dispatcher sends them to every node
// (data-plane.ts); nothing here reads a clock or writes anything.
//
// A task is a backend when it is desired RUNNING, observed RUNNING, healthy if
// it has a health check (health 'none' or 'healthy'), and on a node that is
// not down. So a task leaves the rotation the moment a manager decides to stop
// it (its desired state moves past RUNNING), before its agent stops it: the
// agent waits the service's drain period first (worker/task-runner.ts).
import { parseIPv4Cidr } from '../../api/validate.js';
import {
  stackAlias,
  TaskState,
  type LbPolicy,
  type NetworkAttachment,
  type NetworkConfig,
  type Node,
  type PortBinding,
  type PortConfig,
  type ProxyProtocol,
  type ResolutionMode,
  type Service,
  type Task,
} from '../../api/objects.js';

export interface BackendEntry {
  taskId: string;
  nodeId: string;
  slot: number;
  weight: number;
  ports: PortBinding[];
  networks: NetworkAttachment[];
  engineId: string;
}

export interface EndpointsEntry {
  serviceId: string;
  name: string;
  /** Other names it answers to (a stack's service: its short name). */
  aliases: string[];
  /** 'vip': its names resolve to a virtual IP on each node; 'dnsrr': to its tasks' addresses. */
  mode: ResolutionMode;
  networkIds: string[];
  /** Names it answers to on one network only, by network id (the task template's per-network aliases). */
  networkAliases: Record<string, string[]>;
  /** Resolved: every ingress port has its published port. */
  ports: PortConfig[];
  lbPolicy: LbPolicy;
  proxyProtocol: ProxyProtocol;
  backends: BackendEntry[];
}

/** The service's ports as resolved by the control API (assigned published ports), or its spec's. */
export function resolvedPorts(service: Service): PortConfig[] {
  return service.endpoint?.ports ?? service.spec.endpoint.ports;
}

/** Does the data plane carry this service at all (published ports or networks)? */
export function hasDataPlane(service: Service): boolean {
  return service.spec.endpoint.ports.length > 0 || (service.spec.taskTemplate.networks ?? []).length > 0;
}

/** May a proxy send this task new connections? (See the header.) */
export function isBackend(t: Task, node: Node | undefined): boolean {
  if (t.desiredState !== TaskState.RUNNING || t.status.state !== TaskState.RUNNING) return false;
  if (t.status.health !== 'none' && t.status.health !== 'healthy') return false;
  return node !== undefined && node.status.state !== 'down';
}

/**
 * The entry of a service for every node's proxy and DNS server, or undefined
 * when the data plane does not carry it. Backends are in slot order (then by
 * task id; a global service's by node id), so that every node's round-robin
 * walks the tasks in the same order.
 */
export function serviceEndpoints(service: Service, tasks: readonly Task[], nodeOf: (id: string) => Node | undefined): EndpointsEntry | undefined {
  if (!hasDataPlane(service)) return undefined;
  const backends: BackendEntry[] = [];
  for (const t of tasks) {
    const node = nodeOf(t.nodeId);
    if (!isBackend(t, node)) continue;
    backends.push({
      taskId: t.id,
      nodeId: t.nodeId,
      slot: t.slot,
      weight: t.spec.lbWeight ?? 100,
      ports: t.status.ports ?? [],
      networks: t.status.networks ?? [],
      engineId: node?.description.engineId ?? '',
    });
  }
  backends.sort((a, b) => a.slot - b.slot || (a.slot === 0 ? cmp(a.nodeId, b.nodeId) : 0) || cmp(a.taskId, b.taskId));
  return {
    serviceId: service.id,
    name: service.spec.name,
    aliases: [stackAlias(service.spec)].filter((a): a is string => a !== undefined),
    mode: service.spec.endpoint.mode ?? 'vip',
    networkIds: [...(service.spec.taskTemplate.networks ?? [])],
    networkAliases: structuredClone(service.spec.taskTemplate.networkAliases ?? {}),
    ports: resolvedPorts(service),
    lbPolicy: service.spec.endpoint.lbPolicy ?? 'round-robin',
    proxyProtocol: service.spec.endpoint.proxyProtocol ?? 'none',
    backends,
  };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** How many blocks the pool holds for nodes (block 0, the pool's own first block, is never handed out). */
export function vipBlockCount(config: NetworkConfig): number {
  const pool = parseIPv4Cidr(config.vipPool);
  if (pool === undefined) return 0;
  return 2 ** (config.vipPoolMaskLength - pool.prefix) - 1;
}

/** The lowest block (1-based) no node holds, or 0 when the pool is full. */
export function nextVipBlock(config: NetworkConfig, used: ReadonlySet<number>): number {
  const count = vipBlockCount(config);
  for (let b = 1; b <= count; b++) if (!used.has(b)) return b;
  return 0;
}

/** Block `block`'s CIDR ('10.240.3.0/24'), '' for 0 or a block outside the pool. */
export function vipBlockCidr(config: NetworkConfig, block: number): string {
  const pool = parseIPv4Cidr(config.vipPool);
  if (pool === undefined || block < 1 || block > vipBlockCount(config)) return '';
  const base = pool.base + block * 2 ** (32 - config.vipPoolMaskLength);
  return `${[base >>> 24, (base >>> 16) & 255, (base >>> 8) & 255, base & 255].join('.')}/${config.vipPoolMaskLength}`;
}

// ------------------------------------------------------------ published ports

/** A published port clash: the port and the service that holds it. */
export interface PortClash {
  index: number;
  port: PortConfig;
  holder: Service;
}

/**
 * The ports a service gets: its spec's, every ingress port left at 0 given a
 * published port from the range. A port keeps the one it had (`previous`, the
 * service's resolved ports before this change) while the same target and
 * protocol stay unpublished, as in SwarmKit; new ones take the lowest free.
 * `taken`: published ports other services hold, as 'PORT/PROTO'. Returns
 * undefined when the range has no free port left.
 */
export function assignPublishedPorts(
  spec: readonly PortConfig[],
  previous: readonly PortConfig[],
  taken: ReadonlySet<string>,
  range: { start: number; end: number },
): PortConfig[] | undefined {
  const used = new Set(taken);
  for (const p of spec) if (p.publishedPort !== 0) used.add(`${p.publishedPort}/${p.protocol}`);
  const out: PortConfig[] = [];
  for (const p of spec) {
    if (p.publishedPort !== 0 || p.publishMode !== 'ingress') {
      out.push(p);
      continue;
    }
    const kept = previous.find((q) => q.targetPort === p.targetPort && q.protocol === p.protocol && q.publishMode === 'ingress' && q.publishedPort !== 0);
    if (kept && !used.has(`${kept.publishedPort}/${p.protocol}`) && kept.publishedPort >= range.start && kept.publishedPort <= range.end) {
      used.add(`${kept.publishedPort}/${p.protocol}`);
      out.push({ ...p, publishedPort: kept.publishedPort });
      continue;
    }
    let next = range.start;
    while (next <= range.end && used.has(`${next}/${p.protocol}`)) next++;
    if (next > range.end) return undefined;
    used.add(`${next}/${p.protocol}`);
    out.push({ ...p, publishedPort: next });
  }
  return out;
}
