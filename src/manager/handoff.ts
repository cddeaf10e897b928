// A leader that is shutting down hands its leadership to the most caught-up
// manager first (Raft's leadership transfer: it sends TimeoutNow once that
// manager's log matches), so writes wait a round trip instead of an election
// timeout (2-4 s here) plus the election. Best effort and bounded: on any
// failure the shutdown goes on and the others elect a leader as after a crash.
import type { Logger } from 'pino';
import type { RaftNode } from '../raft/node.js';
import { Role, type NodeId } from '../raft/types.js';

/** What a hand-off needs of the Raft node. */
export type HandOffRaft = Pick<RaftNode<unknown>, 'status' | 'transferLeadership'>;

const POLL_MS = 20;

/** The voter to hand over to: recently active, then the longest matching log. */
export function successor(st: ReturnType<HandOffRaft['status']>): NodeId | undefined {
  return st.conf.voters
    .filter((id) => id !== st.id && st.progress[id]?.recentActive)
    .sort((a, b) => (st.progress[b]?.match ?? 0) - (st.progress[a]?.match ?? 0) || a.localeCompare(b))[0];
}

/** Resolves with the new leader's id, or '' when this manager did not lead or no one took over within `timeoutMs`. */
export async function handOffLeadership(raft: HandOffRaft, log?: Logger, timeoutMs = 3_000): Promise<NodeId | ''> {
  const st = raft.status();
  if (st.role !== Role.Leader) return '';
  const to = successor(st);
  if (!to) return '';
  const t0 = Date.now();
  try {
    raft.transferLeadership(to);
  } catch (err) {
    log?.warn({ to, err: String(err) }, 'could not hand leadership over before stopping');
    return '';
  }
  while (Date.now() - t0 < timeoutMs) {
    const now = raft.status();
    if (now.role !== Role.Leader && now.leader && now.leader !== st.id) {
      log?.info({ to: now.leader, term: now.term, ms: Date.now() - t0 }, 'leadership handed over before stopping');
      return now.leader;
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  log?.warn({ to, ms: timeoutMs }, 'leadership not taken over in time: stopping anyway');
  return '';
}
