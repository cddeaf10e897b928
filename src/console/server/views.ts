// What the console's browser app sees of the cluster: store objects (as the
// Control API answers them) turned into the flat views of the console's
// contract (src/console/web/types.ts), and the patch from one snapshot to the next.
// Pure: the live loop (live.ts) reads the API and calls these.
import { isTerminal, TaskState, taskStateName, type Node, type Service, type Task } from '../../api/objects.js';

// The views are the contract's own types (the browser's copy is the only one).
import type { ClusterView, NodeView, Patch, Reachability, ServiceView, Snapshot, TaskView } from '../web/types.js';

export type { ClusterView, NodeView, Patch, ServiceView, Snapshot, TaskView };

type Kind = 'nodes' | 'services' | 'tasks';

/** What ClusterInfo and GetCluster answered, in the console's words. */
export interface ClusterFacts {
  id: string;
  name: string;
  createdAt: number;
  leaderId: string;
  term: number;
  raftIndex: number;
  managers: { nodeId: string; addr: string; leader: boolean; reachability: Reachability }[];
}

const iso = (ms: number): string => new Date(ms).toISOString();
const isoOrNull = (ms: number): string | null => (ms > 0 ? iso(ms) : null);

/** docker's word for a task state: 'running', 'shutdown'. */
export function stateWord(state: number): string {
  return taskStateName(state).toLowerCase();
}

export function clusterView(c: ClusterFacts, nodes: ReadonlyMap<string, Node>): ClusterView {
  return {
    id: c.id,
    name: c.name,
    createdAt: iso(c.createdAt),
    leaderId: c.leaderId,
    term: c.term,
    raftIndex: c.raftIndex,
    managers: c.managers.map((m) => ({ id: m.nodeId, hostname: nodes.get(m.nodeId)?.description.hostname ?? '', addr: m.addr, reachability: m.reachability, leader: m.leader })),
  };
}

export function nodeView(n: Node): NodeView {
  return {
    id: n.id,
    hostname: n.description.hostname,
    role: n.role,
    availability: n.availability,
    state: n.status.state,
    message: n.status.message,
    addr: n.status.address,
    leader: n.managerStatus?.leader ?? false,
    reachability: n.managerStatus ? n.managerStatus.reachability : null,
    labels: { ...n.labels },
    engineLabels: { ...(n.description.engineLabels ?? {}) },
    // NodeDescription.cpus counts CPUs; the view speaks in nano CPUs, as docker's NanoCPUs.
    nanoCpus: n.description.cpus * 1e9,
    memoryBytes: n.description.memoryBytes,
    engineVersion: n.description.engineVersion,
    os: n.description.platform.os,
    arch: n.description.platform.arch,
    version: n.version,
    createdAt: iso(n.createdAt),
    updatedAt: iso(n.updatedAt),
  };
}

/** The service's tasks that count: desired RUNNING (its slots, or its nodes for a global service). */
function liveTasks(tasks: readonly Task[]): Task[] {
  return tasks.filter((t) => t.desiredState === TaskState.RUNNING);
}

/**
 * A service as the console lists it. `tasks`: the service's tasks (any
 * state); a global service desires one per node it has a live task for.
 */
export function serviceView(s: Service, tasks: readonly Task[]): ServiceView {
  const live = liveTasks(tasks);
  const running = live.filter((t) => t.status.state === TaskState.RUNNING);
  const desired = 'replicated' in s.spec.mode ? s.spec.mode.replicated.replicas : live.length;
  const u = s.updateStatus;
  const ports = s.endpoint?.ports.length ? s.endpoint.ports : s.spec.endpoint.ports;
  const c = s.spec.taskTemplate.container;
  return {
    id: s.id,
    name: s.spec.name,
    mode: 'replicated' in s.spec.mode ? 'replicated' : 'global',
    desired,
    running: running.length,
    image: c.image,
    command: [...c.command, ...c.args],
    env: [...c.env],
    labels: { ...s.spec.labels },
    ports: ports.map((p) => ({ protocol: p.protocol, targetPort: p.targetPort, publishedPort: p.publishedPort, publishMode: p.publishMode })),
    constraints: [...s.spec.taskTemplate.placement.constraints],
    updateStatus: u
      ? {
          state: u.state,
          startedAt: isoOrNull(u.startedAt),
          completedAt: isoOrNull(u.completedAt),
          message: u.message,
          // Running tasks of the spec the update rolls out (objects.ts, UpdateStatus.startVersion).
          updated: running.filter((t) => t.specVersion >= u.startVersion).length,
          total: desired,
        }
      : null,
    canary: u && u.canary !== 'none' ? { state: u.canary, message: u.message } : null,
    version: s.version,
    createdAt: iso(s.createdAt),
    updatedAt: iso(s.updatedAt),
    previousImage: s.previousSpec ? s.previousSpec.taskTemplate.container.image : null,
  };
}

export function taskView(t: Task, serviceName: string): TaskView {
  const state = t.status.state;
  return {
    id: t.id,
    serviceId: t.serviceId,
    serviceName,
    slot: t.slot,
    nodeId: t.nodeId,
    name: `${serviceName}.${t.slot > 0 ? t.slot : t.nodeId}`,
    image: t.spec.container.image,
    desiredState: stateWord(t.desiredState),
    state: stateWord(state),
    message: t.status.message,
    error: t.status.err,
    // An exit code means something once the container has stopped.
    exitCode: isTerminal(state) && t.status.containerId ? t.status.exitCode : null,
    containerId: t.status.containerId,
    createdAt: iso(t.createdAt),
    updatedAt: iso(t.updatedAt),
    stateSince: iso(t.status.timestamp || t.updatedAt),
  };
}

/** The whole view of what the API answered. */
export function snapshotOf(revision: number, cluster: ClusterFacts, nodes: readonly Node[], services: readonly Service[], tasks: readonly Task[]): Snapshot {
  const byService = new Map<string, Task[]>();
  for (const t of tasks) {
    let list = byService.get(t.serviceId);
    if (!list) byService.set(t.serviceId, (list = []));
    list.push(t);
  }
  const names = new Map(services.map((s) => [s.id, s.spec.name]));
  return {
    revision,
    cluster: clusterView(cluster, new Map(nodes.map((n) => [n.id, n]))),
    nodes: nodes.map(nodeView),
    services: services.map((s) => serviceView(s, byService.get(s.id) ?? [])),
    tasks: tasks.map((t) => taskView(t, t.serviceAnnotations.name || names.get(t.serviceId) || t.serviceId)),
  };
}

/**
 * What changed from `prev` to `next`, object by object (compared as JSON);
 * null when nothing did. Applying it to `prev` gives `next` (but for order).
 */
export function diffSnapshots(prev: Snapshot, next: Snapshot): Patch | null {
  const patch: Patch = { revision: next.revision, upsert: {}, remove: {} };
  let changed = false;
  if (JSON.stringify(prev.cluster) !== JSON.stringify(next.cluster)) {
    patch.cluster = next.cluster;
    changed = true;
  }
  const kinds: Kind[] = ['nodes', 'services', 'tasks'];
  for (const kind of kinds) {
    const before = new Map<string, string>((prev[kind] as { id: string }[]).map((o) => [o.id, JSON.stringify(o)]));
    const upserts = (next[kind] as { id: string }[]).filter((o) => before.get(o.id) !== JSON.stringify(o));
    const present = new Set((next[kind] as { id: string }[]).map((o) => o.id));
    const removed = [...before.keys()].filter((id) => !present.has(id));
    if (upserts.length > 0) (patch.upsert as Record<Kind, unknown[]>)[kind] = upserts;
    if (removed.length > 0) patch.remove[kind] = removed;
    changed ||= upserts.length > 0 || removed.length > 0;
  }
  return changed ? patch : null;
}
