// Builders of store objects and a tiny "Raft log" for the store tests.
import { DEFAULT_NETWORK_CONFIG } from '../../src/api/validate.js';
import { ClusterStore, encodeTx, type Action, type TxResult } from '../../src/manager/store/store.js';
import {
  TaskState,
  type Cluster,
  type Config,
  type Node,
  type Secret,
  type Service,
  type ServiceSpec,
  type Task,
} from '../../src/api/objects.js';

export const T0 = 1_700_000_000_000;

export function serviceSpec(name: string, over: Partial<ServiceSpec> = {}): ServiceSpec {
  return {
    name,
    labels: {},
    taskTemplate: {
      container: { image: 'busybox:latest', command: ['sleep'], args: ['3600'], env: ['A=1'], dir: '', user: '', mounts: [], stopGracePeriodMs: 10_000 },
      resources: { limits: { nanoCpus: 0, memoryBytes: 0 }, reservations: { nanoCpus: 0, memoryBytes: 0 } },
      restartPolicy: { condition: 'any', delayMs: 5_000, maxAttempts: 0, windowMs: 0, maxDelayMs: 300_000 },
      placement: { constraints: [], preferences: [] },
      forceUpdate: 0,
    },
    mode: { replicated: { replicas: 2 } },
    updateConfig: { parallelism: 1, delayMs: 0, failureAction: 'pause', monitorMs: 5_000, maxFailureRatio: 0, order: 'stop-first', canary: 0, autoPromote: false, progressDeadlineMs: 0 },
    rollbackConfig: { parallelism: 1, delayMs: 0, failureAction: 'pause', monitorMs: 5_000, maxFailureRatio: 0, order: 'stop-first', canary: 0, autoPromote: false, progressDeadlineMs: 0 },
    endpoint: { ports: [] },
    ...over,
  };
}

export function service(id: string, name: string, over: Partial<ServiceSpec> = {}): Service {
  return { id, version: 0, createdAt: T0, updatedAt: T0, spec: serviceSpec(name, over), specVersion: 0 };
}

export function node(id: string, over: Partial<Node> = {}): Node {
  return {
    id,
    version: 0,
    createdAt: T0,
    updatedAt: T0,
    role: 'worker',
    availability: 'active',
    labels: {},
    description: { hostname: `host-${id}`, cpus: 4, memoryBytes: 8 * 2 ** 30, engineVersion: '24.0.7', platform: { os: 'linux', arch: 'x86_64' } },
    status: { state: 'ready', message: '', address: '10.0.0.1' },
    ...over,
  };
}

export function task(id: string, svc: Service, over: Partial<Task> = {}): Task {
  return {
    id,
    version: 0,
    createdAt: T0,
    updatedAt: T0,
    serviceId: svc.id,
    slot: 1,
    nodeId: '',
    desiredState: TaskState.RUNNING,
    status: { state: TaskState.NEW, message: 'created', err: '', timestamp: T0, containerId: '', exitCode: 0, health: 'none' },
    specVersion: svc.version,
    spec: svc.spec.taskTemplate,
    serviceAnnotations: { name: svc.spec.name },
    endpoint: svc.spec.endpoint,
    restart: undefined,
    updateFailure: false,
    ...over,
  };
}

export function secret(id: string, name: string, data = 'c2VjcmV0'): Secret {
  return { id, version: 0, createdAt: T0, updatedAt: T0, spec: { name, labels: {}, data } };
}

export function config(id: string, name: string, data = 'Y29uZmln'): Config {
  return { id, version: 0, createdAt: T0, updatedAt: T0, spec: { name, labels: { a: 'b' }, data } };
}

export function cluster(id: string, name = 'default'): Cluster {
  return {
    id,
    version: 0,
    createdAt: T0,
    updatedAt: T0,
    spec: { name, orchestration: { taskHistoryRetention: 5 }, dispatcher: { heartbeatPeriodMs: 5_000, heartbeatGrace: 3 }, caConfig: { nodeCertExpiryHours: 2160 }, network: { ...DEFAULT_NETWORK_CONFIG } },
    rootCA: { certPem: '-----BEGIN CERTIFICATE-----\n...', keyPem: '', digest: 'sha256:abc' },
    removedNodes: [],
    joinTokens: { worker: 'SWMTKN-1-w', manager: 'SWMTKN-1-m' },
  };
}

/** Applies transactions to a store at increasing indexes, like a Raft log would. */
export class Log {
  next = 1;
  readonly entries: Uint8Array[] = [];
  constructor(readonly store = new ClusterStore()) {}

  apply(...actions: Action[]): TxResult {
    return this.applyBytes(encodeTx(actions));
  }

  applyBytes(data: Uint8Array): TxResult {
    this.entries.push(data);
    return this.store.apply(data, this.next++);
  }

  /** Apply and insist that it worked. */
  ok(...actions: Action[]): Extract<TxResult, { ok: true }> {
    const r = this.apply(...actions);
    if (!r.ok) throw new Error(`transaction failed: ${JSON.stringify(r.error)}`);
    return r;
  }
}

/** Clone a (frozen) object read from the store so that it can be changed and written back. */
export const clone = <T>(x: T): T => structuredClone(x);
