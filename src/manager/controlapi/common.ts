// What the handlers of every object kind share: the replicated store they
// read (after a barrier) and the writer they propose through, the cluster
// object, the managers' health, and the version and label checks. Each kind
// (nodes.ts, services.ts, tasks.ts, cluster.ts) extends KindApi.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { ApiError } from '../grpc-status.js';
import type { LeaderWriter } from '../leader-writer.js';
import type { ReplicatedStore } from '../replicated-store.js';
import { NotFoundError, VersionConflictError, type ClusterStore } from '../store/store.js';
import type { Cluster, KindMap, Labels, ServiceSpec } from '../../api/objects.js';
import { quoteInput } from '../../api/input.js';

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
export function checkVersion(kind: 'node' | 'service' | 'cluster' | 'secret' | 'config', stored: { id: string; version: number }, version: number): void {
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

/** The kinds a client names by id, name or id prefix, other than services (which have their own lookup). */
export type NamedKind = 'network' | 'secret' | 'config';

/** An object by id, name (any case), or unique id prefix; undefined when none (or the prefix is ambiguous). */
export function findNamed<K extends NamedKind>(store: ClusterStore, kind: K, ref: string): KindMap[K] | undefined {
  if (!ref) return undefined;
  const direct = store.get(kind, ref) ?? store.findByName(kind, ref);
  if (direct) return direct;
  let found: KindMap[K] | undefined;
  for (const o of store.values(kind)) {
    if (!o.id.startsWith(ref)) continue;
    if (found) return undefined;
    found = o;
  }
  return found;
}

/**
 * findNamed, or the error the client gets: INVALID_ARGUMENT for no
 * reference, FAILED_PRECONDITION for an ambiguous id prefix, NOT_FOUND
 * ending with `hint` (what to do).
 */
export function resolveNamed<K extends NamedKind>(store: ClusterStore, kind: K, ref: string, hint: string): KindMap[K] {
  if (!ref) throw new ApiError(grpc.status.INVALID_ARGUMENT, `a ${kind} id or name is required`);
  const o = findNamed(store, kind, ref);
  if (o) return o;
  let matches = 0;
  for (const x of store.values(kind)) if (x.id.startsWith(ref)) matches++;
  if (matches > 1) throw new ApiError(grpc.status.FAILED_PRECONDITION, `${kind} reference ${quoteInput(ref)} is ambiguous: use the full id or the name`);
  throw new NotFoundError('not-found', `${kind} ${quoteInput(ref)} not found: ${hint}`);
}

/**
 * Refuse to remove what a service uses: FAILED_PRECONDITION naming the
 * services whose spec, or previous spec (a rollback would use it again),
 * `uses` it, sorted by name. `what` names the object ('network "front"'),
 * `fix(them)` says what to do ('them' or 'it').
 */
export function refuseInUse(store: ClusterStore, uses: (spec: ServiceSpec) => boolean, what: string, fix: (them: 'it' | 'them') => string): void {
  const users: string[] = [];
  for (const s of store.values('service')) {
    if (uses(s.spec)) users.push(quoteInput(s.spec.name));
    else if (s.previousSpec !== undefined && uses(s.previousSpec)) users.push(`${quoteInput(s.spec.name)} (its previous spec, which a rollback returns to)`);
  }
  if (users.length === 0) return;
  users.sort();
  const many = users.length > 1;
  throw new ApiError(grpc.status.FAILED_PRECONDITION, `${what} is in use by service${many ? 's' : ''} ${users.join(', ')}: ${fix(many ? 'them' : 'it')}`);
}
