// What the handlers of every object kind share: the replicated store they
// read (after a barrier) and the writer they propose through, the cluster
// object, the managers' health, and the version and label checks. Each kind
// (nodes.ts, services.ts, tasks.ts, cluster.ts) extends KindApi.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { ApiError } from '../grpc-status.js';
import type { LeaderWriter } from '../leader-writer.js';
import type { ReplicatedStore } from '../replicated-store.js';
import { VersionConflictError } from '../store/store.js';
import type { Cluster, Labels } from '../../api/objects.js';

/**
 * A request whose fields `K` the handler defaults as the wire would (absent is
 * empty): in-process callers (tests) may leave them out. Filters are read the
 * same way, each list defaulting to empty.
 */
export type Defaulting<T, K extends keyof T> = Omit<T, K> & { [P in K]?: null extends T[P] ? Partial<NonNullable<T[P]>> | null : T[P] };

export abstract class KindApi {
  constructor(
    protected readonly rs: ReplicatedStore,
    protected readonly writer: LeaderWriter,
    protected readonly log?: Logger,
  ) {}

  protected cluster(): Cluster {
    const c = this.rs.store.list('cluster')[0];
    if (!c) throw new ApiError(grpc.status.UNAVAILABLE, 'the cluster object is missing: this manager has not caught up yet; retry');
    return c;
  }

  /** What this (leader) manager knows of a Raft member's health. */
  protected managerStatus(id: string): { addr: string; leader: boolean; reachability: 'reachable' | 'unreachable' | 'unknown' } {
    const st = this.rs.status();
    const addr = st.addresses[id] ?? '';
    const reachability = id === st.id ? 'reachable' : st.role === 'leader' ? (st.progress[id]?.recentActive ? 'reachable' : 'unreachable') : 'unknown';
    return { addr, leader: st.leader === id, reachability };
  }
}

/**
 * The version the caller read against the stored object's, before anything
 * else is decided (a no-op answer included): a stale one is ABORTED, as the
 * store would refuse the write.
 */
export function checkVersion(kind: 'node' | 'service' | 'cluster', stored: { id: string; version: number }, version: number): void {
  if (stored.version !== version) throw new VersionConflictError('version-conflict', `${kind} ${stored.id} is at version ${stored.version}, not ${version}`);
}

/** Every filter ('key' or 'key=value') matches. */
export function labelsMatch(labels: Labels, filters: readonly string[]): boolean {
  return filters.every((f) => {
    const eq = f.indexOf('=');
    if (eq < 0) return f in labels;
    return labels[f.slice(0, eq)] === f.slice(eq + 1);
  });
}
