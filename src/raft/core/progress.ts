// What the leader knows about one follower's log, and how fast it may send to
// it. Shaped after etcd-io/raft's tracker.Progress:
//  - probe: we do not know where the follower's log ends; send one App at a
//    time and wait for the answer (or the next heartbeat answer);
//  - replicate: the follower is in step; send optimistically, up to a window
//    of in-flight messages (pipelining);
//  - snapshot: the follower needs a snapshot; send nothing until it is in.

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

/** A bounded ring of the last index of each App message in flight to one follower. */
export class Inflights {
  private readonly buf: number[];
  private start = 0;
  count = 0;

  constructor(readonly size: number) {
    this.buf = new Array<number>(size).fill(0);
  }

  full(): boolean {
    return this.count >= this.size;
  }

  add(lastIndex: number): void {
    if (this.full()) throw new Error('inflights: add to a full window');
    this.buf[(this.start + this.count) % this.size] = lastIndex;
    this.count++;
  }

  /** Forget every message whose last index is <= `index`: the follower has it. */
  freeLE(index: number): void {
    while (this.count > 0 && this.buf[this.start] <= index) {
      this.start = (this.start + 1) % this.size;
      this.count--;
    }
  }

  /** Forget the oldest message: it may have been lost, and a full window would stall forever. */
  freeFirst(): void {
    if (this.count === 0) return;
    this.start = (this.start + 1) % this.size;
    this.count--;
  }

  reset(): void {
    this.start = 0;
    this.count = 0;
  }
}

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** In snapshot state: the index of the snapshot being sent. */
  pendingSnapshot = 0;
  /** In snapshot state: election timeouts passed without an answer. */
  snapshotRounds = 0;
  /** Heard from since the last check-quorum round (reset at each round: check-quorum's own flag). */
  recentActive = false;
  /**
   * recentActive as the last round ended. Reported with recentActive as the peer's reachability, so
   * that a peer is not reported unreachable in the moment between a round's reset and the answer to
   * the next heartbeat; a silent peer is reported so after one to two election timeouts.
   */
  activeLastRound = false;
  /** In probe state: one App sent, waiting for its answer or a heartbeat answer. */
  probeSent = false;
  /** The commit index last sent in an App, so that a commit advance is sent once. */
  sentCommit = 0;
  /** A heartbeat answer showed the follower lagging: send an App even with nothing new, to find out where it is. */
  resend = false;
  readonly inflights: Inflights;

  constructor(next: number, maxInflight: number, public isLearner: boolean) {
    this.next = next;
    this.inflights = new Inflights(maxInflight);
  }

  private resetState(state: ProgressState): void {
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.snapshotRounds = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    // Coming back from a snapshot, the follower has at least the snapshot.
    if (this.state === 'snapshot') {
      const pending = this.pendingSnapshot;
      this.resetState('probe');
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.resetState('probe');
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.resetState('replicate');
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.resetState('snapshot');
    this.pendingSnapshot = snapshotIndex;
  }

  /** The follower acknowledged up to `n`. False when the answer is stale. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /**
   * The follower rejected an App at index `rejected`; `hint` is where its log
   * may match. False when the rejection is stale (for an App we no longer care about).
   */
  maybeDecrTo(rejected: number, hint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, hint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }
}
