// Deliberately broken Raft cores, made in test code by overriding the
// protected decisions of RaftCore, to prove that the simulator's checks catch
// real safety bugs. Nothing in src/ knows about them.
import { RaftCore } from '../../src/raft/core/raft.js';
import { NONE, type Message, type Ready } from '../../src/raft/types.js';
import type { CoreFactory } from './node.js';

/** Commits an entry of a previous term as soon as a quorum holds it (Raft figure 8). */
export class CommitsByCountingOldTerms extends RaftCore {
  protected override maybeCommit(): boolean {
    const mci = this.quorumMatchIndex();
    return mci > this.log.committed && this.log.commitTo(mci);
  }
}

/** Grants votes without the election restriction (is the candidate's log at least as up to date?). */
export class VotesWithoutLogCheck extends RaftCore {
  protected override voteUpToDate(_m: Message): boolean {
    return true;
  }
}

/** Sends its vote without making it durable first: after a restart it can vote again in the same term. */
export class ForgetsVotes extends RaftCore {
  protected override filterReady(rd: Ready): Ready {
    return rd.hardState ? { ...rd, hardState: { ...rd.hardState, vote: NONE } } : rd;
  }
}

/** On an append whose entries it already holds (stale or duplicated), cuts off everything after them. */
export class TruncatesOnStaleAppend extends RaftCore {
  protected override acceptEntries(m: Message): void {
    const ents = m.entries.filter((e) => e.index > this.log.committed);
    if (ents.length > 0) this.log.append(ents);
  }
}

export const BROKEN_CORES: Record<string, CoreFactory> = {
  'commit of a previous-term entry by counting replicas': (cfg, init) => new CommitsByCountingOldTerms(cfg, init),
  'vote granted without the up-to-date log check': (cfg, init) => new VotesWithoutLogCheck(cfg, init),
  'vote not persisted before the reply': (cfg, init) => new ForgetsVotes(cfg, init),
  'follower truncating its log on a stale append': (cfg, init) => new TruncatesOnStaleAppend(cfg, init),
};
