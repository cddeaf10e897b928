// The JSON shapes of the console's HTTP contract (notes: console-api.md), as the
// browser receives them. The browser app knows the server only through these:
// it imports nothing of the daemon (a lint rule keeps it so).

export type Reachability = 'reachable' | 'unreachable' | 'unknown';

export interface Manager {
  id: string;
  hostname: string;
  addr: string;
  reachability: Reachability;
  leader: boolean;
}

export interface ClusterView {
  id: string;
  name: string;
  createdAt: string;
  leaderId: string;
  term: number;
  raftIndex: number;
  managers: Manager[];
}

export type Availability = 'active' | 'pause' | 'drain';

export interface NodeView {
  id: string;
  hostname: string;
  role: 'manager' | 'worker';
  availability: Availability;
  state: 'unknown' | 'down' | 'ready' | 'disconnected';
  /** The manager's note on the state ("heartbeat failure"). */
  message: string;
  addr: string;
  leader: boolean;
  /** Managers only: null on workers. */
  reachability: string | null;
  labels: Record<string, string>;
  engineLabels: Record<string, string>;
  nanoCpus: number;
  memoryBytes: number;
  engineVersion: string;
  os: string;
  arch: string;
  version: number;
  createdAt: string;
  updatedAt: string;
}

export interface PortView {
  protocol: string;
  targetPort: number;
  publishedPort: number;
  publishMode: string;
}

export type UpdateState = 'updating' | 'paused' | 'completed' | 'rollback_started' | 'rollback_paused' | 'rollback_completed';

export interface UpdateStatusView {
  state: UpdateState;
  startedAt: string | null;
  completedAt: string | null;
  message: string;
  updated: number;
  total: number;
}

export interface ServiceView {
  id: string;
  name: string;
  mode: 'replicated' | 'global';
  /** Replicas, or for a global service the number of eligible nodes. */
  desired: number;
  running: number;
  image: string;
  command: string[];
  env: string[];
  labels: Record<string, string>;
  ports: PortView[];
  constraints: string[];
  updateStatus: UpdateStatusView | null;
  canary: { state: string; message: string } | null;
  version: number;
  createdAt: string;
  updatedAt: string;
  previousImage: string | null;
}

export interface TaskView {
  id: string;
  serviceId: string;
  serviceName: string;
  /** 0 for a global service's task. */
  slot: number;
  nodeId: string;
  /** "web.1", or "web.NODEID" for a global service. */
  name: string;
  image: string;
  desiredState: string;
  state: string;
  message: string;
  error: string;
  exitCode: number | null;
  containerId: string;
  createdAt: string;
  updatedAt: string;
  /** When the task entered its current state (ISO). */
  stateSince: string;
}

export interface Snapshot {
  revision: number;
  cluster: ClusterView;
  nodes: NodeView[];
  services: ServiceView[];
  tasks: TaskView[];
}

export interface Patch {
  revision: number;
  cluster?: ClusterView;
  upsert: { nodes?: NodeView[]; services?: ServiceView[]; tasks?: TaskView[] };
  remove: { nodes?: string[]; services?: string[]; tasks?: string[] };
}

export interface ClusterEvent {
  type: 'service' | 'node' | 'task' | 'secret' | 'config' | 'network';
  action: 'create' | 'update' | 'remove';
  id: string;
  name: string;
  time: string;
  attributes: Record<string, string>;
}

export interface Session {
  csrfToken: string;
  node: { id: string; hostname: string };
  expiresAt: string;
}

export interface TaskHistory {
  task: TaskView;
  /** Every task of the same slot (global: the same node), newest first. */
  slot: TaskView[];
}

export interface LogLine {
  taskId: string;
  taskName: string;
  nodeId: string;
  nodeName: string;
  time: string;
  stream: 'stdout' | 'stderr';
  text: string;
}

/** The body of POST /console/api/services. */
export interface CreateServiceRequest {
  name: string;
  image: string;
  mode: 'replicated' | 'global';
  replicas?: number;
  command?: string;
  env?: string[];
  publish?: string[];
  constraints?: string[];
}
