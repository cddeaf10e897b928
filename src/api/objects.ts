// The objects of the replicated cluster store, SwarmKit-like. These types are
// the contract between the store, the control API, the orchestrators, the
// scheduler, the dispatcher, the agent and the CLI; the proto messages map onto
// them (convert.ts). They live in src/api so that the worker and the CLI share
// them without importing the manager.
//
// Conventions:
// - Every object has `id`, `version`, `createdAt`, `updatedAt`. `version` is set
//   by the store to the Raft index of the transaction that last changed the
//   object; whatever a writer puts there is ignored. Times are milliseconds
//   since the epoch supplied by the proposer (the store never reads a clock).
// - Durations are integer milliseconds (`...Ms`), sizes integer bytes, CPU in
//   nano-CPUs (1e9 = one CPU). 0 means "unset" for limits and reservations.
// - Fields added after objects were first stored (the data plane's) are
//   optional and absent at their default, so that older objects keep their
//   canonical form: read them with the defaults of validate.ts.
// - Objects read from the store are deeply frozen: clone (`structuredClone`)
//   before changing one to write it back.

/** The kinds of object the store holds. */
export type Kind = 'node' | 'service' | 'task' | 'secret' | 'config' | 'cluster' | 'network';
export const KINDS: readonly Kind[] = ['node', 'service', 'task', 'secret', 'config', 'cluster', 'network'];

export type Labels = Record<string, string>;

/** Fields every stored object has. */
export interface Meta {
  id: string;
  /** Raft index of the transaction that last changed this object (set by the store). */
  version: number;
  /** Supplied by the proposer on create; the store keeps the first value on update. */
  createdAt: number;
  /** Supplied by the proposer. */
  updatedAt: number;
}

// ---------------------------------------------------------------------------
// Task states

/**
 * Task states, ordered exactly like SwarmKit's (same numeric values), so that
 * "later in the life cycle" is a plain `>` comparison.
 */
export const TaskState = {
  NEW: 0,
  PENDING: 64,
  ASSIGNED: 192,
  ACCEPTED: 256,
  PREPARING: 320,
  READY: 384,
  STARTING: 448,
  RUNNING: 512,
  COMPLETE: 576,
  SHUTDOWN: 640,
  FAILED: 704,
  REJECTED: 768,
  REMOVE: 800,
  ORPHANED: 832,
} as const;
export type TaskState = (typeof TaskState)[keyof typeof TaskState];
export type TaskStateName = keyof typeof TaskState;

/** All task states in life-cycle order. */
export const TASK_STATES: readonly TaskState[] = Object.values(TaskState).sort((a, b) => a - b);

const STATE_NAMES = new Map<number, TaskStateName>(
  (Object.entries(TaskState) as [TaskStateName, TaskState][]).map(([name, value]) => [value, name]),
);

export function isTaskState(value: unknown): value is TaskState {
  return typeof value === 'number' && STATE_NAMES.has(value);
}

/** 'RUNNING' for TaskState.RUNNING; 'UNKNOWN(n)' for a value that is not a state. */
export function taskStateName(state: number): string {
  return STATE_NAMES.get(state) ?? `UNKNOWN(${state})`;
}

/** TaskState for a name ('running' or 'RUNNING'), undefined if there is none. */
export function parseTaskState(name: string): TaskState | undefined {
  const key = name.toUpperCase();
  return Object.prototype.hasOwnProperty.call(TaskState, key) ? TaskState[key as TaskStateName] : undefined;
}

/**
 * A task past RUNNING (COMPLETE, SHUTDOWN, FAILED, REJECTED, REMOVE, ORPHANED)
 * will never run again, as in SwarmKit.
 */
export function isTerminal(state: TaskState): boolean {
  return state > TaskState.RUNNING;
}

// ---------------------------------------------------------------------------
// Node

export type NodeRole = 'manager' | 'worker';
export type NodeAvailability = 'active' | 'pause' | 'drain';
export type NodeState = 'ready' | 'down' | 'unknown';
export type Reachability = 'unknown' | 'unreachable' | 'reachable';

export interface Platform {
  os: string;
  arch: string;
}

export interface NodeDescription {
  hostname: string;
  cpus: number;
  memoryBytes: number;
  engineVersion: string;
  platform: Platform;
  /** Labels of the engine (Docker daemon); matched by `engine.labels.<k>` constraints. */
  engineLabels?: Labels;
  /** The engine's ID: nodes on one engine share its networks ('' when unknown). */
  engineId?: string;
}

export interface NodeStatus {
  state: NodeState;
  message: string;
  /** The address the node was last seen at. */
  address: string;
}

export interface ManagerStatus {
  raftId: string;
  addr: string;
  leader: boolean;
  reachability: Reachability;
}

export interface Node extends Meta {
  role: NodeRole;
  availability: NodeAvailability;
  labels: Labels;
  description: NodeDescription;
  status: NodeStatus;
  managerStatus?: ManagerStatus;
  /** The node's block of the cluster's VIP pool (1-based; 0: none), assigned when the node is created. */
  vipBlock?: number;
}

// ---------------------------------------------------------------------------
// Service

export type MountType = 'bind' | 'volume';

export interface Mount {
  type: MountType;
  /** bind: an absolute host path; volume: a volume name ('' = anonymous). */
  source: string;
  /** An absolute path in the container. */
  target: string;
  readOnly: boolean;
}

export interface HealthCheck {
  /** [] (inherit the image's), ['NONE'], ['CMD', arg...] or ['CMD-SHELL', command]. */
  test: string[];
  intervalMs: number;
  timeoutMs: number;
  retries: number;
  startPeriodMs: number;
}

export interface ContainerSpec {
  image: string;
  command: string[];
  args: string[];
  /** 'KEY=VALUE' entries. */
  env: string[];
  dir: string;
  user: string;
  mounts: Mount[];
  healthcheck?: HealthCheck;
  stopGracePeriodMs: number;
  /** Secrets read as files on a tmpfs (absent when none). */
  secrets?: SecretReference[];
  /** Configs read as files (absent when none). */
  configs?: ConfigReference[];
  /** The container's labels (docker's --container-label); absent when none. */
  labels?: Labels;
  /** Ports served on the service's virtual IP beyond the image's EXPOSE ("6379/tcp", canonical); absent when none. */
  expose?: string[];
}

/**
 * A container's use of a secret or a config (SwarmKit's SecretReference /
 * ConfigReference with a file target). Stored resolved: the id of the object,
 * its name when the service was written, the target, owner and mode filled in.
 */
export interface FileReference {
  /** The secret's (config's) id; a request may leave it '' and give the name. */
  id: string;
  name: string;
  /**
   * Secrets: a file name under /run/secrets/ or an absolute path (default: the name).
   * Configs: an absolute path (default: '/' + the name).
   */
  target: string;
  /** Numeric owner of the file (default '0'). */
  uid: string;
  gid: string;
  /** Permission bits (default 0o444). */
  mode: number;
}
export type SecretReference = FileReference;
export type ConfigReference = FileReference;

export interface Resources {
  nanoCpus: number;
  memoryBytes: number;
}

export interface ResourceRequirements {
  limits: Resources;
  reservations: Resources;
}

export type RestartCondition = 'none' | 'on-failure' | 'any';

export interface RestartPolicy {
  condition: RestartCondition;
  delayMs: number;
  /** 0 = unlimited. */
  maxAttempts: number;
  /** The window attempts are counted in; 0 = unbounded. */
  windowMs: number;
  /**
   * Crash-loop back-off (beyond Swarm): consecutive failures of a slot double
   * the delay up to this (default 5 min); at most delayMs: a fixed delay.
   */
  maxDelayMs: number;
}

export interface PlacementPreference {
  /** A descriptor such as 'node.labels.zone'. */
  spread: string;
}

export interface Placement {
  /** 'node.role==manager', 'node.labels.zone!=b', ... */
  constraints: string[];
  preferences: PlacementPreference[];
  /** Swarm's MaxReplicas: at most this many tasks of the service per node (absent: 0, no limit). */
  maxReplicas?: number;
}

export interface TaskTemplate {
  container: ContainerSpec;
  resources: ResourceRequirements;
  restartPolicy: RestartPolicy;
  placement: Placement;
  /** SwarmKit's ForceUpdate: raised by `service update --force` to redeploy every task. */
  forceUpdate: number;
  /** Ids of the networks the tasks attach to (a request may name them; the control API stores ids). */
  networks?: string[];
  /** The task's weight under the 'weighted' load-balancing policy (default 100; 0: no new connections). */
  lbWeight?: number;
  /**
   * Other names the service answers to on one of its networks only (Swarm's
   * NetworkAttachmentConfig.Aliases), keyed as `networks` (ids once stored),
   * in its order; a network without aliases has no entry, none at all: absent.
   */
  networkAliases?: Record<string, string[]>;
}

export type ServiceMode = { replicated: { replicas: number } } | { global: Record<string, never> };

export type FailureAction = 'pause' | 'continue' | 'rollback';
export type UpdateOrder = 'stop-first' | 'start-first';

export interface UpdateConfig {
  /** Tasks updated at once; 0 = all at once. */
  parallelism: number;
  delayMs: number;
  failureAction: FailureAction;
  monitorMs: number;
  maxFailureRatio: number;
  order: UpdateOrder;
  /** Beyond Swarm: tasks of the new spec started beside the old ones first (replicated services; 0 in a rollback config). */
  canary: number;
  /** Promote healthy canaries without `service promote`. */
  autoPromote: boolean;
  /** An update in which no task becomes RUNNING for this long runs the failure action; 0 = none. */
  progressDeadlineMs: number;
}

/** SwarmKit's UpdateStatus.State, as docker prints it. */
export type UpdateState = 'updating' | 'paused' | 'completed' | 'rollback_started' | 'rollback_paused' | 'rollback_completed';
/** The canary phase of an update (see proto/control.proto, CanaryState). */
export type CanaryState = 'none' | 'deploying' | 'awaiting_promotion' | 'promoted';

export interface UpdateStatus {
  state: UpdateState;
  /** The leader's clock. */
  startedAt: number;
  /** 0 until completed. */
  completedAt: number;
  message: string;
  /**
   * Where the update began: a task of the current spec with specVersion >= it
   * belongs to the update. An update records the service's specVersion (the
   * write that changed the spec); a rollback, which is itself the write that
   * changes the spec, records the service's version before it, which is below
   * the specVersion that write gets.
   */
  startVersion: number;
  canary: CanaryState;
}

export type PortProtocol = 'tcp' | 'udp';
export type PublishMode = 'ingress' | 'host';

export interface PortConfig {
  name?: string;
  protocol: PortProtocol;
  targetPort: number;
  publishedPort: number;
  publishMode: PublishMode;
}

/** How a node's proxy picks a task for a new connection (see proto/control.proto, LbPolicy). */
export type LbPolicy = 'round-robin' | 'least-conn' | 'random' | 'weighted';
/** The PROXY protocol header sent to a task before a connection's bytes; 'none' for none. */
export type ProxyProtocol = 'none' | 'v1' | 'v2';
/**
 * How the service's name resolves (see proto/control.proto, ResolutionMode): 'vip' to a virtual IP whose
 * proxy balances over the tasks, 'dnsrr' to the tasks' own addresses (no virtual IP, no proxy, no ingress port).
 */
export type ResolutionMode = 'vip' | 'dnsrr';

export interface EndpointSpec {
  /** Absent: 'vip' (docker's default). */
  mode?: ResolutionMode;
  ports: PortConfig[];
  lbPolicy?: LbPolicy;
  proxyProtocol?: ProxyProtocol;
  /** How long a task stays up after leaving the rotation, before its stop (default 2 s). */
  drainPeriodMs?: number;
}

/** What the cluster made of the endpoint spec: every ingress port with its published port. */
export interface ServiceEndpoint {
  ports: PortConfig[];
}

export interface ServiceSpec {
  name: string;
  labels: Labels;
  taskTemplate: TaskTemplate;
  mode: ServiceMode;
  updateConfig: UpdateConfig;
  rollbackConfig: UpdateConfig;
  endpoint: EndpointSpec;
}

export interface Service extends Meta {
  spec: ServiceSpec;
  /**
   * SwarmKit's SpecVersion: the version of the write that last changed the
   * spec (set by the store). New tasks get it as their specVersion.
   */
  specVersion: number;
  /** The spec before the last change of spec: what a rollback returns to. */
  previousSpec?: ServiceSpec;
  /** Absent: no update has run since the spec last changed. */
  updateStatus?: UpdateStatus;
  /** The resolved ports (assigned published ports); absent until the control API resolved them. */
  endpoint?: ServiceEndpoint;
}

// ---------------------------------------------------------------------------
// Task

export type TaskHealth = 'none' | 'starting' | 'healthy' | 'unhealthy';

export interface TaskStatus {
  /** Observed state, reported by the worker (or set by managers before assignment); only moves forward. */
  state: TaskState;
  message: string;
  err: string;
  /** When the state was observed (ms since the epoch, supplied by the reporter). */
  timestamp: number;
  containerId: string;
  exitCode: number;
  health: TaskHealth;
  /** The container's ports as published on the node (reported with RUNNING). */
  ports?: PortBinding[];
  /** The container's addresses on its networks (reported with RUNNING). */
  networks?: NetworkAttachment[];
}

export interface PortBinding {
  protocol: PortProtocol;
  targetPort: number;
  hostIp: string;
  hostPort: number;
}

export interface NetworkAttachment {
  networkId: string;
  address: string;
}

export interface Task extends Meta {
  serviceId: string;
  /** The replica slot (1-based) for a replicated service; 0 for a global service's task. */
  slot: number;
  /** The node the task is assigned to ('' until scheduled); set at creation for a global service's task. */
  nodeId: string;
  /** Set by managers. */
  desiredState: TaskState;
  status: TaskStatus;
  /** The service's specVersion when the task was created: the spec it runs. */
  specVersion: number;
  /** A copy of the service's task template at `specVersion`: what the worker runs. */
  spec: TaskTemplate;
  serviceAnnotations: { name: string };
  /** A copy of the service's published ports at `specVersion` (the worker publishes host-mode ports). */
  endpoint: EndpointSpec;
  /** What the restart policy decided when the task ended on its own (set by the orchestrator). */
  restart?: RestartDecision;
  /** The orchestrator counted this task's end as a failure of the update that created it. */
  updateFailure: boolean;
}

/** The restart policy's decision for a task that ended on its own. */
export interface RestartDecision {
  /** Consecutive failures of the slot, this one included (1 = the first). */
  attempt: number;
  /** How long after the decision the replacement is created. */
  delayMs: number;
  /** When the replacement is due (the deciding leader's clock); 0: no restart. */
  nextAt: number;
  /** Why there is no restart; '' when there is one. */
  reason: string;
}

// ---------------------------------------------------------------------------
// Secret, Config

export interface SecretSpec {
  name: string;
  labels: Labels;
  /** The bytes, base64-encoded. */
  data: string;
}

export interface Secret extends Meta {
  spec: SecretSpec;
}

export type ConfigSpec = SecretSpec;

export interface Config extends Meta {
  spec: ConfigSpec;
}

// ---------------------------------------------------------------------------
// Network

export interface NetworkSpec {
  name: string;
  labels: Labels;
  /** 'overlay', Swarm's driver for cluster networks (the only one). */
  driver: 'overlay';
}

export interface Network extends Meta {
  spec: NetworkSpec;
}

// ---------------------------------------------------------------------------
// Cluster

/** The data plane's ranges, fixed at init. */
export interface NetworkConfig {
  vipPool: string;
  vipPoolMaskLength: number;
  publishedPortRangeStart: number;
  publishedPortRangeEnd: number;
}

export interface ClusterSpec {
  name: string;
  orchestration: { taskHistoryRetention: number };
  /** A node is down after heartbeatPeriodMs * heartbeatGrace without a heartbeat. */
  dispatcher: { heartbeatPeriodMs: number; heartbeatGrace: number };
  caConfig: { nodeCertExpiryHours: number };
  network: NetworkConfig;
  /** Swarm's EncryptionConfig; absent: autolock off. */
  encryption?: { autoLockManagers: boolean };
}

export interface Cluster extends Meta {
  spec: ClusterSpec;
  /**
   * The root CA. Its key is here so that every manager can sign (as in
   * SwarmKit): the store lives only on managers, and the control API never
   * returns it.
   */
  rootCA: { certPem: string; keyPem: string; digest: string };
  /**
   * The join tokens themselves (as in SwarmKit), so `join-token` can show them
   * again; only managers hold them and only GetJoinTokens returns them.
   */
  joinTokens: { worker: string; manager: string };
  /** Ids of removed nodes: their certificates are refused from then on (SwarmKit's RemovedNodes). */
  removedNodes: string[];
  /**
   * With autolock (spec.encryption.autoLockManagers), the key that wraps every
   * manager's data key (SwarmKit's UnlockKeys); absent otherwise. Only in the
   * store (encrypted at rest like everything in it); only GetUnlockKey and
   * RotateUnlockKey return it.
   */
  unlockKey?: string;
}

// ---------------------------------------------------------------------------

export interface KindMap {
  node: Node;
  service: Service;
  task: Task;
  secret: Secret;
  config: Config;
  cluster: Cluster;
  network: Network;
}

export type StoreObject = KindMap[Kind];

/** The kinds whose `spec.name` is unique (case-insensitively), as in SwarmKit. */
export const NAMED_KINDS: readonly Kind[] = ['service', 'secret', 'config', 'cluster', 'network'];

// ---------------------------------------------------------------------------
// Stacks

/** docker's label of every object a stack creates: its value is the stack's name (`stack deploy`). */
export const STACK_NAMESPACE_LABEL = 'com.docker.stack.namespace';

/**
 * The short name a stack's service answers to on its networks, as docker
 * stack deploy's network aliases: `web` for `app_web` labelled with stack
 * `app`; none for a service of no stack.
 */
export function stackAlias(spec: { name: string; labels: Record<string, string> }): string | undefined {
  const stack = spec.labels[STACK_NAMESPACE_LABEL];
  if (!stack || !spec.name.startsWith(`${stack}_`) || spec.name.length === stack.length + 1) return undefined;
  return spec.name.slice(stack.length + 1);
}

