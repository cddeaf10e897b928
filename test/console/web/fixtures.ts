// Small builders of the contract's objects for the web console's pure-module tests.
import type { ClusterView, NodeView, ServiceView, Snapshot, TaskView } from '../../../src/console/web/types.js';

export const T0 = Date.parse('2024-05-01T12:00:00.000Z');
export const iso = (ms: number): string => new Date(ms).toISOString();

export function cluster(over: Partial<ClusterView> = {}): ClusterView {
  return {
    id: 'c1', name: 'prod', createdAt: iso(T0), leaderId: 'm1', term: 3, raftIndex: 120,
    managers: [{ id: 'm1', hostname: 'mgr-1', addr: '127.0.0.2:4242', reachability: 'reachable', leader: true }],
    ...over,
  };
}

export function node(id: string, over: Partial<NodeView> = {}): NodeView {
  return {
    id, hostname: `host-${id}`, role: 'worker', availability: 'active', state: 'ready', message: '', addr: '127.0.0.3', leader: false,
    reachability: null, labels: {}, engineLabels: {}, nanoCpus: 2e9, memoryBytes: 2 ** 31, engineVersion: '20.10.24',
    os: 'linux', arch: 'x86_64', version: 1, createdAt: iso(T0), updatedAt: iso(T0), ...over,
  };
}

export function service(id: string, over: Partial<ServiceView> = {}): ServiceView {
  return {
    id, name: `svc-${id}`, mode: 'replicated', desired: 1, running: 1, image: 'nginx:1.25', command: [], env: [], labels: {},
    ports: [], constraints: [], updateStatus: null, canary: null, version: 1, createdAt: iso(T0), updatedAt: iso(T0),
    previousImage: null, ...over,
  };
}

export function task(id: string, over: Partial<TaskView> = {}): TaskView {
  return {
    id, serviceId: 's1', serviceName: 'web', slot: 1, nodeId: 'n1', name: 'web.1', image: 'nginx:1.25', desiredState: 'running',
    state: 'running', message: 'started', error: '', exitCode: null, containerId: 'c0ffee', createdAt: iso(T0), updatedAt: iso(T0),
    stateSince: iso(T0), ...over,
  };
}

export function snapshot(over: Partial<Snapshot> = {}): Snapshot {
  return { revision: 10, cluster: cluster(), nodes: [node('n1')], services: [service('s1')], tasks: [task('t1')], ...over };
}
