// Keeps the Raft membership in line with the store (SwarmKit's role manager),
// on the leader only:
// - a learner whose node the store lists as a manager is promoted to voter once
//   it has caught up with the leader's log;
// - a member whose node the store lists as a worker (demoted) or as removed
//   leaves the Raft group (the leader hands over leadership first when it is
//   the one leaving).
// One change per pass, since Raft takes one configuration change at a time.
// Driving Raft from the store (instead of from the API call that changed the
// role) means a leader that dies half-way leaves nothing half-done: the next
// leader finishes the job.
import type { Logger } from 'pino';
import type { NodeId, Status } from '../raft/types.js';
import type { ReplicatedStore } from './replicated-store.js';
import type { Cluster, Node } from '../api/objects.js';

/** A learner this close to the leader's last index counts as caught up. */
export const PROMOTE_MAX_LAG = 64;

export class MembershipReconciler {
  private timer: NodeJS.Timeout | null = null;
  private busy = false;

  constructor(
    private readonly rs: ReplicatedStore,
    private readonly log?: Logger,
    private readonly intervalMs = 300,
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.pass(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One reconciliation pass (exposed for tests). */
  async pass(): Promise<void> {
    if (this.busy || !this.rs.isLeader()) return;
    this.busy = true;
    try {
      // Only act on a store that has applied everything committed before this
      // leader's term: otherwise a node created moments ago may look unknown.
      await this.rs.barrier({ timeoutMs: 2_000 });
      const change = nextMembershipChange(this.rs.status(), (id) => this.rs.store.get('node', id), this.cluster());
      if (!change) return;
      this.log?.info({ change }, 'changing the Raft membership to match the store');
      if (change.type === 'remove') await this.rs.raft.removeMember(change.id, { timeoutMs: 5_000 });
      else await this.rs.raft.promote(change.id, { timeoutMs: 5_000, maxLag: PROMOTE_MAX_LAG });
    } catch (err) {
      this.log?.debug({ err: String(err) }, 'membership pass did not finish; the next one retries');
    } finally {
      this.busy = false;
    }
  }

  private cluster(): Cluster | undefined {
    return this.rs.store.list('cluster')[0];
  }
}

export type MembershipChange = { type: 'remove'; id: NodeId; why: string } | { type: 'promote'; id: NodeId };

/** The next Raft membership change the store asks for, if any. Pure, for tests. */
export function nextMembershipChange(st: Status, nodeOf: (id: NodeId) => Node | undefined, cluster: Cluster | undefined): MembershipChange | null {
  const removed = new Set(cluster?.removedNodes ?? []);
  const members = [...st.conf.learners, ...st.conf.voters];
  for (const id of members) {
    if (removed.has(id)) return { type: 'remove', id, why: 'removed' };
    if (nodeOf(id)?.role === 'worker') {
      // Never remove the last voter: that would leave a cluster with no managers.
      if (st.conf.voters.includes(id) && st.conf.voters.length === 1) continue;
      return { type: 'remove', id, why: 'demoted' };
    }
  }
  for (const id of st.conf.learners) {
    const pr = st.progress[id];
    if (nodeOf(id)?.role === 'manager' && pr && st.lastIndex - pr.match <= PROMOTE_MAX_LAG) return { type: 'promote', id };
  }
  return null;
}

/**
 * Why taking `id` out of the voters would leave the managers unable to form a
 * quorum (null when it is safe). Reachability is the leader's view: a voter
 * heard from within the last one to two election timeouts (Status.progress).
 */
export function quorumRefusal(st: Status, id: NodeId, opts: { force?: boolean } = {}): string | null {
  if (!st.conf.voters.includes(id)) return null;
  const after = st.conf.voters.filter((v) => v !== id);
  if (after.length === 0) return 'it is the last manager: the cluster would have none left (promote another node first)';
  if (opts.force) return null;
  const reachable = after.filter((v) => v === st.id || st.progress[v]?.recentActive).length;
  const quorum = Math.floor(after.length / 2) + 1;
  if (reachable < quorum) {
    return (
      `the ${after.length} managers left would have ${reachable} reachable, and a quorum needs ${quorum}: ` +
      'bring the unreachable managers back first, or use --force to do it anyway'
    );
  }
  return null;
}
