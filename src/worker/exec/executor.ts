// The executor interface: what the agent needs from a container runtime to run
// one task, and the typed errors it raises. The agent only speaks this
// interface, so the Docker implementation (docker/docker-executor.ts) can be replaced
// (e.g. by a hollow executor in unit tests) without touching the state machine.
import type { Labels, NetworkAttachment, NodeDescription, PortBinding, Task, TaskHealth } from '../../api/objects.js';

/** Who owns a container: it is labelled with both, and adoption lists by both. */
export interface Owner {
  clusterId: string;
  nodeId: string;
}

/** The engine's life-cycle states of a container (Docker's State.Status). */
export type ContainerStatus = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

/** What the engine says about one container, now. */
export interface ContainerObservation {
  id: string;
  /** The container name, without Docker's leading '/'. */
  name: string;
  labels: Labels;
  /** The task this container runs (its task label); '' when it has none. */
  taskId: string;
  status: ContainerStatus;
  /** True while the process runs (also when paused or restarting). */
  running: boolean;
  exitCode: number;
  /** The kernel OOM killer ended the process (the memory limit was hit). */
  oomKilled: boolean;
  /**
   * Not confirmed by the engine, but most likely OOM: SIGKILLed (137) with a
   * memory limit set and no kill through the engine. Only `wait` works this out.
   */
  oomSuspected: boolean;
  /** The engine's own error (e.g. the command could not be executed); '' when none. */
  error: string;
  health: TaskHealth;
  /** Output of the last health probe ('' when none). */
  healthOutput: string;
  /** Consecutive failed health probes. */
  failingStreak: number;
  /** The container's memory limit in bytes (0 = none); quoted in OOM messages. */
  memoryLimitBytes: number;
  /**
   * The stop grace period the container was created with (from its stop
   * timeout), for stopping a container whose task is no longer known.
   */
  stopGracePeriodMs: number;
  /** Milliseconds since the epoch; 0 when never started / not finished. */
  startedAt: number;
  finishedAt: number;
}

export interface HealthObservation {
  /** 'none' when the container has no health check (neither the image's nor the task's). */
  status: TaskHealth;
  failingStreak: number;
  /** Output of the last probe, trimmed. */
  output: string;
}

export interface ShutdownResult {
  container: ContainerObservation;
  /** True when the process outlived the grace period and was killed with SIGKILL. */
  forced: boolean;
}

export interface LogOptions {
  stdout?: boolean;
  stderr?: boolean;
  /** Keep streaming new lines until the container stops or `signal` aborts. */
  follow?: boolean;
  /** Only the last N lines (default: all). */
  tail?: number;
  /** Prefix lines with the engine's timestamp (parsed into LogEntry.timestamp). */
  timestamps?: boolean;
  /** Only lines at or after this time: seconds since the epoch, or 'SECONDS.NANOSECONDS'. */
  since?: number | string;
  signal?: AbortSignal;
}

export interface LogEntry {
  stream: 'stdout' | 'stderr';
  /** One line, without its newline. */
  line: string;
  /** RFC 3339 timestamp from the engine, when asked for. */
  timestamp?: string;
}

/**
 * One file a task's container reads: a secret's or a config's data, resolved
 * by the agent from what the leader sent this node (src/worker/files.ts). Never
 * logged (its `data`): ids, names and paths only.
 */
export interface TaskFile {
  kind: 'secret' | 'config';
  /** The secret's (config's) id and name. */
  id: string;
  name: string;
  /** Absolute path in the container (secretFilePath / configFilePath of the reference's target). */
  path: string;
  uid: number;
  gid: number;
  /** Permission bits. */
  mode: number;
  data: Buffer;
}

/**
 * Runs containers for tasks. Container ids are the handle: `prepare` makes one,
 * every other call takes it. All methods throw ExecutorError subclasses.
 */
export interface Executor {
  /**
   * Makes the image available (local, else pulled when a registry answers) and
   * creates the container for the task, labelled with the owner and the task.
   * Returns the container id. Creating twice for the same task returns the same
   * container (the name is derived from the task).
   * `files`: the task's secrets and configs (in the order of its spec's
   * references: secrets, then configs), to be read-only files in the container
   * at their paths, their data on a tmpfs only (an executor that cannot keep
   * them off a disk refuses: InvalidSpecError). Removed with the container.
   */
  prepare(task: Task, owner: Owner, signal?: AbortSignal, files?: readonly TaskFile[]): Promise<string>;
  /**
   * Puts back what is missing of the files of a container made by an earlier
   * run (adopted), before it starts or while it runs: a restart of the host
   * empties a tmpfs. An executor without files leaves it out.
   */
  restoreFiles?(containerId: string, files: readonly TaskFile[]): Promise<void>;
  start(containerId: string): Promise<void>;
  /** Resolves when the container is no longer running, with its final state. */
  wait(containerId: string, signal?: AbortSignal): Promise<ContainerObservation>;
  health(containerId: string): Promise<HealthObservation>;
  /** Stop signal (SIGTERM unless the image says otherwise), `gracePeriodMs`, then SIGKILL. */
  shutdown(containerId: string, gracePeriodMs: number): Promise<ShutdownResult>;
  /** Removes the container and its anonymous volumes; a missing container is not an error. */
  remove(containerId: string): Promise<void>;
  logs(containerId: string, options?: LogOptions): AsyncIterable<LogEntry>;
  /** undefined when the container does not exist. */
  inspect(containerId: string): Promise<ContainerObservation | undefined>;
  /** Every container labelled with this owner, running or not (for adoption). */
  list(owner: Owner): Promise<ContainerObservation[]>;
  /** The node as this executor's engine sees it. */
  describe(): Promise<NodeDescription>;
  /**
   * Where a started container is reachable: its ports as published on the
   * node, and its addresses on cluster networks (for the data plane). An
   * executor without a data plane leaves it out.
   */
  endpoints?(containerId: string): Promise<{ ports: PortBinding[]; networks: NetworkAttachment[] }>;
}

// ---------------------------------------------------------------------------
// Errors

export type ExecutorErrorCode = 'image-not-found' | 'invalid-spec' | 'task-files' | 'container-not-found' | 'engine-unavailable' | 'engine-error';

/** Base of every executor error; `code` says what kind without instanceof. */
export class ExecutorError extends Error {
  readonly code: ExecutorErrorCode;
  constructor(code: ExecutorErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** The image is not on this node and could not be pulled. The task is REJECTED. */
export class ImageNotFoundError extends ExecutorError {
  readonly image: string;
  /** Why, in the engine's words where it gave some ("pull failed: ..."). */
  readonly reason: string;
  constructor(image: string, reason: string, options?: { cause?: unknown }) {
    super('image-not-found', `image not found: ${image} is not present on this node and could not be pulled (${reason})`, options);
    this.image = image;
    this.reason = reason;
  }
}

/** The task's spec cannot be turned into a container. The task is REJECTED. */
export class InvalidSpecError extends ExecutorError {
  constructor(message: string) {
    super('invalid-spec', `invalid container spec: ${message}`);
  }
}

/**
 * The task's secrets and configs cannot be given to its container: no tmpfs to
 * keep them on (never a disk), or a file could not be written. The task is
 * REJECTED. The message names files by kind and name, never their data.
 */
export class TaskFilesError extends ExecutorError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('task-files', message, options);
  }
}

export class ContainerNotFoundError extends ExecutorError {
  readonly containerId: string;
  constructor(containerId: string, options?: { cause?: unknown }) {
    super('container-not-found', `container ${containerId.slice(0, 12)} does not exist (removed outside of flotilla?)`, options);
    this.containerId = containerId;
  }
}

/** No engine answers at the endpoint (socket missing, connection refused, timeout). */
export class EngineUnavailableError extends ExecutorError {
  readonly endpoint: string;
  constructor(endpoint: string, reason: string, options?: { cause?: unknown }) {
    super('engine-unavailable', `the Docker engine at ${endpoint} is not reachable: ${reason}`, options);
    this.endpoint = endpoint;
  }
}

/** The engine answered with an error; `statusCode` is its HTTP status (0 if unknown). */
export class EngineError extends ExecutorError {
  readonly operation: string;
  readonly statusCode: number;
  constructor(operation: string, statusCode: number, reason: string, options?: { cause?: unknown }) {
    super('engine-error', `docker engine error while trying to ${operation}: ${reason}`, options);
    this.operation = operation;
    this.statusCode = statusCode;
  }
}

export function isExecutorError(err: unknown): err is ExecutorError {
  return err instanceof ExecutorError;
}

/**
 * An executor call ended by its AbortSignal (the agent stopped waiting), not
 * by the runtime: the agent ignores it instead of reporting a failure.
 */
export function isAbortError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const f = err as { name?: unknown; code?: unknown };
  return f.name === 'AbortError' || f.code === 'ABORT_ERR';
}
