// The Raft consensus core: a deterministic state machine in the style of
// etcd-io/raft. It owns no timers, sockets, disk, clock or randomness: the
// runtime drives it with tick(), step(), propose() and friends, and carries out
// what ready() returns (persist, send, apply), then calls advance().
//
// Protected methods mark the decisions that safety rests on (vote granting,
// commit counting, accepting appended entries, what is persisted); tests
// subclass the core to break them on purpose and prove the simulator notices.
import { CorruptStateError, InvalidRequestError, NotLeaderError, ProposalDroppedError } from '../errors.js';
import {
  ConfChangeType,
  EntryType,
  MessageType,
  NONE,
  Role,
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type InitialState,
  type Message,
  type NodeId,
  type ProposalPosition,
  type RaftConfig,
  type ReadState,
  type Ready,
  type Snapshot,
  type SoftState,
  type Status,
} from '../types.js';
import { applyConfChange, confChangeError, decodeConfChange, encodeConfChange } from './confchange.js';
import { RaftLog } from './log.js';
import { Progress } from './progress.js';
import { ReadOnlyQueue } from './readonly.js';

const EMPTY = new Uint8Array(0);

/** Election timeouts a follower may stay in snapshot state without answering before it is probed again. */
const SNAPSHOT_TIMEOUT_ROUNDS = 3;

/** Context of a Vote sent because of TimeoutNow: it overrides the check-quorum lease. */
export const TRANSFER_CONTEXT = 'transfer';

export function emptyMessage(type: MessageType, from: NodeId, to: NodeId, term: number): Message {
  return { type, from, to, term, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, snapshot: null, context: '' };
}

interface PendingReady {
  lastIndex: number;
  lastTerm: number;
  hardState: HardState | null;
  snapshotIndex: number;
}

export class RaftCore {
  readonly id: NodeId;
  protected readonly cfg: RaftConfig;

  term = 0;
  vote: NodeId = NONE;
  lead: NodeId = NONE;
  role: Role = Role.Follower;
  readonly log = new RaftLog();

  /** Membership as of the applied index. */
  conf: ConfState = { voters: [], learners: [] };
  /** Membership after each applied conf change, so a snapshot at an older index gets the right one. */
  private confHistory: { index: number; conf: ConfState }[] = [];
  /** Leader: progress of every member, self included. */
  readonly prs = new Map<NodeId, Progress>();

  private votes = new Map<NodeId, boolean>();
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;

  /** Leader: the voter leadership is being handed to, if any. */
  leadTransferee: NodeId = NONE;
  /** Leader: no new conf change until the applied index passes this one. */
  private pendingConfIndex = 0;
  /** Leader: bytes proposed and not yet committed, for back-pressure. */
  private uncommittedBytes = 0;
  /** Leader: new entries or a commit advance not yet sent to followers (sent as a batch by ready()). */
  private needsFlush = false;

  private readonly readOnly = new ReadOnlyQueue();
  /** Leader: ReadIndex requests waiting for the first commit of this term. */
  private pendingReads: { from: NodeId; context: string }[] = [];

  private msgs: Message[] = [];
  private readStates: ReadState[] = [];

  private prevHardState: HardState;
  private prevSoftState: SoftState;
  private pending: PendingReady | null = null;

  constructor(cfg: RaftConfig, init: InitialState) {
    validateConfig(cfg);
    this.cfg = cfg;
    this.id = cfg.id;
    this.restoreFromStorage(init);
    // What storage holds: a Ready reports any difference from it.
    this.prevHardState = { ...init.hardState };
    this.prevSoftState = this.softState();
    this.becomeFollower(this.term, NONE);
  }

  // ---------------------------------------------------------------- start-up

  private restoreFromStorage(init: InitialState): void {
    const { hardState: hs, snapshot, entries } = init;
    const fresh = !snapshot && entries.length === 0 && hs.term === 0;
    if (fresh && init.conf.voters.length > 0) {
      this.bootstrap(init.conf.voters, init.conf.learners);
      return;
    }
    let conf: ConfState = { voters: [], learners: [] };
    if (snapshot) {
      this.log.snapIndex = snapshot.meta.index;
      this.log.snapTerm = snapshot.meta.term;
      this.log.snapshot = snapshot;
      conf = snapshot.meta.conf;
    }
    let expect = this.log.snapIndex + 1;
    let prevTerm = this.log.snapTerm;
    for (const e of entries) {
      if (e.index !== expect) throw new CorruptStateError(`log: expected entry ${expect}, found ${e.index}`);
      if (e.term < prevTerm) throw new CorruptStateError(`log: entry ${e.index} has term ${e.term} below the previous ${prevTerm}`);
      expect++;
      prevTerm = e.term;
    }
    this.log.entries = entries.slice();
    if (hs.term < this.log.lastTerm()) throw new CorruptStateError(`hard state term ${hs.term} is below the last entry's term ${this.log.lastTerm()}`);
    if (hs.commit > this.log.lastIndex()) throw new CorruptStateError(`hard state commit ${hs.commit} is beyond the last index ${this.log.lastIndex()}`);
    this.term = hs.term;
    this.vote = hs.vote;
    this.log.stable = this.log.lastIndex();
    this.log.committed = Math.max(hs.commit, this.log.snapIndex);
    // The application restores the snapshot itself; entries after it are handed out again.
    this.log.applied = this.log.snapIndex;
    this.setConf(conf, this.log.snapIndex);
  }

  /**
   * A brand-new cluster: write the founding membership as the first entries
   * (term 1, committed, not yet durable), so that it reaches every node that
   * joins later through the log itself. Founders build identical entries.
   */
  private bootstrap(voters: NodeId[], learners: NodeId[]): void {
    const changes: ConfChange[] = [
      ...[...voters].sort().map((nodeId) => ({ type: ConfChangeType.AddVoter, nodeId, context: EMPTY })),
      ...[...learners].sort().map((nodeId) => ({ type: ConfChangeType.AddLearner, nodeId, context: EMPTY })),
    ];
    const ents: Entry[] = changes.map((cc, i) => ({ term: 1, index: i + 1, type: EntryType.ConfChange, data: encodeConfChange(cc) }));
    this.log.append(ents);
    this.term = 1;
    this.log.committed = ents.length;
    this.setConf({ voters: [], learners: [] }, 0);
  }

  // ------------------------------------------------------------ client entry

  /** Advance logical time by one tick. */
  tick(): void {
    if (this.role === Role.Leader) this.tickLeader();
    else this.tickElection();
  }

  /** Append `data` to the log (leader only). Throws NotLeaderError or ProposalDroppedError. */
  propose(data: Uint8Array): ProposalPosition {
    return this.appendProposals([{ type: EntryType.Normal, data }])[0];
  }

  /** Append many entries at once; all or none. */
  proposeBatch(datas: Uint8Array[]): ProposalPosition[] {
    return this.appendProposals(datas.map((data) => ({ type: EntryType.Normal, data })));
  }

  /**
   * Propose a membership change. One change at a time: another is refused
   * until the previous one is applied. Removing the leader itself first hands
   * leadership to the most caught-up voter; the change is then retried there.
   */
  proposeConfChange(cc: ConfChange): ProposalPosition {
    this.requireLeader();
    if (cc.type === ConfChangeType.AddVoter) {
      throw new InvalidRequestError('conf change refused: add the node as a learner, then promote it once it has caught up');
    }
    const err = confChangeError(this.conf, cc);
    if (err) throw new InvalidRequestError(`conf change refused: ${err}`);
    if (this.pendingConfIndex > this.log.applied) {
      throw new ProposalDroppedError('another membership change is in progress');
    }
    if (cc.type === ConfChangeType.Remove && cc.nodeId === this.id && this.conf.voters.includes(this.id)) {
      const to = this.bestTransferee();
      if (to === NONE) throw new ProposalDroppedError('cannot remove the leader: no other voter to hand leadership to');
      this.transferLeadership(to);
      throw new ProposalDroppedError(`the leader is being removed: leadership is being handed to ${to}; retry there`, to);
    }
    const [pos] = this.appendProposals([{ type: EntryType.ConfChange, data: encodeConfChange(cc) }]);
    this.pendingConfIndex = pos.index;
    return pos;
  }

  /**
   * Ask for a linearizable read. When a ReadState with this context comes out
   * of ready(), a read of the state machine once applied >= its index is
   * linearizable. Works on followers (the leader answers through them).
   */
  readIndex(context: string): void {
    if (this.role !== Role.Leader) {
      if (this.lead === NONE) throw new NotLeaderError(NONE, this.term);
      this.send({ ...emptyMessage(MessageType.ReadIndex, this.id, this.lead, this.term), context });
      return;
    }
    this.leaderReadIndex(this.id, context);
  }

  /** Hand leadership to `to` (a voter). On a follower, the request is forwarded to the leader. */
  transferLeadership(to: NodeId): void {
    if (this.role !== Role.Leader) {
      if (this.lead === NONE) throw new NotLeaderError(NONE, this.term);
      this.send({ ...emptyMessage(MessageType.TransferLeader, this.id, this.lead, this.term), context: to });
      return;
    }
    this.leaderTransfer(to);
  }

  /** The transport could not reach `to`: go back to probing it. */
  reportUnreachable(to: NodeId): void {
    const pr = this.prs.get(to);
    if (this.role !== Role.Leader || !pr) return;
    if (pr.state === 'replicate') pr.becomeProbe();
  }

  /** The transport finished (or failed) sending a snapshot to `to`. */
  reportSnapshot(to: NodeId, ok: boolean): void {
    const pr = this.prs.get(to);
    if (this.role !== Role.Leader || !pr || pr.state !== 'snapshot') return;
    if (!ok) pr.pendingSnapshot = 0;
    // Either way, wait for the follower's answer (or a heartbeat) before sending more.
    pr.becomeProbe();
    pr.probeSent = true;
  }

  /**
   * The application has a snapshot of its state at `index` (<= the applied
   * index): compact the log up to it. Returns the snapshot with the metadata
   * the runtime must persist next to `data`.
   */
  createSnapshot(index: number, data: Uint8Array): Snapshot {
    if (index > this.log.applied) throw new InvalidRequestError(`snapshot index ${index} is beyond the applied index ${this.log.applied}`);
    if (index > this.log.stable) throw new InvalidRequestError(`snapshot index ${index} is beyond the durable index ${this.log.stable}`);
    if (index <= this.log.snapIndex) throw new InvalidRequestError(`snapshot index ${index} is not after the current snapshot ${this.log.snapIndex}`);
    const snap: Snapshot = { meta: { index, term: this.log.term(index), conf: this.confAt(index) }, data };
    this.log.compact(snap);
    this.confHistory = this.confHistory.filter((h, i, all) => h.index > index || all[i + 1] === undefined || all[i + 1].index > index);
    return snap;
  }

  // ------------------------------------------------------------- ready cycle

  hasReady(): boolean {
    if (this.role === Role.Leader) this.flush();
    return (
      this.msgs.length > 0 ||
      this.readStates.length > 0 ||
      this.log.unstableSnapshot !== null ||
      this.log.lastIndex() > this.log.stable ||
      this.nextApplyIndex() > this.log.applied ||
      !sameHardState(this.hardState(), this.prevHardState) ||
      !sameSoftState(this.softState(), this.prevSoftState)
    );
  }

  /** What to persist, send and apply now; see the Ready type for the order. */
  ready(): Ready {
    if (this.pending) throw new Error('ready() called again before advance()');
    if (this.role === Role.Leader) this.flush();
    const hs = this.hardState();
    const ss = this.softState();
    const snapshot = this.log.unstableSnapshot;
    const entries = this.log.entries.slice(Math.max(0, this.log.stable - this.log.snapIndex));
    const committedEntries = this.takeCommitted(snapshot);
    const termOrVoteChanged = hs.term !== this.prevHardState.term || hs.vote !== this.prevHardState.vote;
    const rd: Ready = {
      softState: sameSoftState(ss, this.prevSoftState) ? null : ss,
      hardState: sameHardState(hs, this.prevHardState) ? null : hs,
      entries,
      snapshot,
      committedEntries,
      messages: this.msgs,
      readStates: this.readStates,
      mustSync: entries.length > 0 || snapshot !== null || termOrVoteChanged,
      messagesMayPrecedePersist: this.role === Role.Leader && snapshot === null && !termOrVoteChanged,
    };
    this.prevSoftState = ss;
    this.msgs = [];
    this.readStates = [];
    this.pending = {
      lastIndex: entries.length ? entries[entries.length - 1].index : 0,
      lastTerm: entries.length ? entries[entries.length - 1].term : 0,
      hardState: rd.hardState,
      snapshotIndex: snapshot ? snapshot.meta.index : 0,
    };
    return this.filterReady(rd);
  }

  /** The runtime has carried out the last Ready. */
  advance(): void {
    const p = this.pending;
    if (!p) throw new Error('advance() without a ready()');
    this.pending = null;
    if (p.snapshotIndex && this.log.unstableSnapshot?.meta.index === p.snapshotIndex) {
      this.log.unstableSnapshot = null;
      if (this.log.stable < p.snapshotIndex) this.log.stable = p.snapshotIndex;
    }
    if (p.lastIndex) this.log.stableTo(p.lastIndex, p.lastTerm);
    if (p.hardState) this.prevHardState = p.hardState;
    if (this.role === Role.Leader) {
      // The leader counts itself only for what it has made durable.
      const self = this.prs.get(this.id);
      if (self && self.maybeUpdate(this.log.stable) && this.maybeCommit()) this.onLeaderCommit();
    }
  }

  // --------------------------------------------------------------- inspect

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  softState(): SoftState {
    return { leader: this.lead, role: this.role };
  }

  status(): Status {
    const progress: Status['progress'] = {};
    if (this.role === Role.Leader) {
      // Heard from in this check-quorum round or the last one: see Progress.activeLastRound.
      for (const [id, pr] of this.prs) progress[id] = { match: pr.match, next: pr.next, state: pr.state, recentActive: pr.recentActive || pr.activeLastRound };
    }
    return {
      id: this.id,
      role: this.role,
      term: this.term,
      vote: this.vote,
      leader: this.lead,
      commit: this.log.committed,
      applied: this.log.applied,
      firstIndex: this.log.firstIndex(),
      lastIndex: this.log.lastIndex(),
      conf: { voters: [...this.conf.voters], learners: [...this.conf.learners] },
      transferee: this.leadTransferee,
      progress,
    };
  }

  // ---------------------------------------------------------------- message

  /** Handle a message from a peer. Messages from unknown or stale senders are ignored or answered, never trusted. */
  step(m: Message): void {
    if (m.to !== this.id) return;
    if (m.term > this.term) {
      if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
        const force = m.context === TRANSFER_CONTEXT;
        const inLease = this.cfg.checkQuorum && this.lead !== NONE && this.electionElapsed < this.cfg.electionTicks;
        // We hear from a live leader: a disruptive candidate (e.g. one just
        // back from a partition) is ignored, unless the leader asked for it.
        if (!force && inLease) return;
      }
      if (m.type === MessageType.PreVote) {
        // A pre-vote never changes our term.
      } else if (m.type === MessageType.PreVoteResp && !m.reject) {
        // A granted pre-vote carries the term we would campaign in; not a newer leader.
      } else if (m.type === MessageType.App || m.type === MessageType.Heartbeat || m.type === MessageType.Snap) {
        this.becomeFollower(m.term, m.from);
      } else {
        // A newer term from a candidate (or an answer) does not reset our election
        // timer (Raft figure 2: only a granted vote or the leader's word does);
        // otherwise a stale candidate on a fast clock keeps everyone from ever
        // timing out and electing an up-to-date leader.
        const elapsed = this.electionElapsed;
        this.becomeFollower(m.term, NONE);
        this.electionElapsed = elapsed;
      }
    } else if (m.term < this.term) {
      if ((this.cfg.checkQuorum || this.cfg.preVote) && (m.type === MessageType.Heartbeat || m.type === MessageType.App)) {
        // A stale leader (e.g. healed from a partition) learns our term and steps down.
        this.send(emptyMessage(MessageType.AppResp, this.id, m.from, this.term));
      } else if (m.type === MessageType.PreVote) {
        this.send({ ...emptyMessage(MessageType.PreVoteResp, this.id, m.from, this.term), reject: true });
      }
      return;
    }

    if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
      this.handleVoteRequest(m);
      return;
    }
    switch (this.role) {
      case Role.Leader:
        this.stepLeader(m);
        break;
      case Role.Candidate:
      case Role.PreCandidate:
        this.stepCandidate(m);
        break;
      case Role.Follower:
        this.stepFollower(m);
        break;
    }
  }

  private handleVoteRequest(m: Message): void {
    const respType = m.type === MessageType.Vote ? MessageType.VoteResp : MessageType.PreVoteResp;
    const canVote =
      this.vote === m.from ||
      (this.vote === NONE && this.lead === NONE) ||
      (m.type === MessageType.PreVote && m.term > this.term);
    if (canVote && this.voteUpToDate(m)) {
      // A granted pre-vote answers in the candidate's future term so it can count it.
      this.send({ ...emptyMessage(respType, this.id, m.from, m.term), reject: false });
      if (m.type === MessageType.Vote) {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send({ ...emptyMessage(respType, this.id, m.from, this.term), reject: true });
    }
  }

  /** Election restriction (Raft §5.4.1): grant only to a candidate whose log is at least as up to date. */
  protected voteUpToDate(m: Message): boolean {
    return this.log.isUpToDate(m.index, m.logTerm);
  }

  private stepLeader(m: Message): void {
    const pr = this.prs.get(m.from);
    switch (m.type) {
      case MessageType.AppResp:
        if (pr) this.handleAppendResponse(m, pr);
        return;
      case MessageType.HeartbeatResp:
        if (!pr) return;
        pr.recentActive = true;
        pr.probeSent = false;
        // The follower is alive but the window may be full of lost messages: make room for one.
        if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirst();
        if (pr.match < this.log.lastIndex()) {
          // An App may have been lost: an (empty) App makes the follower say where its log ends.
          pr.resend = true;
          this.needsFlush = true;
        } else if (pr.sentCommit < this.log.committed) this.needsFlush = true;
        if (m.context) this.handleReadAck(m.from, m.context);
        return;
      case MessageType.ReadIndex:
        if (this.isMember(m.from)) this.leaderReadIndex(m.from, m.context);
        return;
      case MessageType.TransferLeader:
        if (this.isMember(m.from)) {
          try {
            this.leaderTransfer(m.context);
          } catch {
            // A bad transferee named by a follower is not our error to raise.
          }
        }
        return;
      default:
        return;
    }
  }

  private handleAppendResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    if (m.reject) {
      let hint = m.rejectHint;
      if (m.logTerm > 0) hint = this.log.findConflictByTerm(m.rejectHint, m.logTerm).index;
      if (pr.maybeDecrTo(m.index, hint)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.needsFlush = true;
      }
      return;
    }
    if (!pr.maybeUpdate(m.index)) return;
    if (pr.state === 'probe') pr.becomeReplicate();
    else if (pr.state === 'snapshot' && pr.match >= pr.pendingSnapshot) {
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === 'replicate') pr.inflights.freeLE(m.index);
    if (this.maybeCommit()) this.onLeaderCommit();
    this.needsFlush = true;
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
      this.send(emptyMessage(MessageType.TimeoutNow, this.id, m.from, this.term));
    }
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case MessageType.App:
        this.becomeFollower(m.term, m.from);
        this.handleAppend(m);
        return;
      case MessageType.Heartbeat:
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return;
      case MessageType.Snap:
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return;
      case MessageType.VoteResp:
      case MessageType.PreVoteResp: {
        const mine = this.role === Role.Candidate ? MessageType.VoteResp : MessageType.PreVoteResp;
        if (m.type !== mine) return;
        const result = this.poll(m.from, !m.reject);
        if (result === 'won') {
          if (this.role === Role.PreCandidate) this.campaign('election');
          else this.becomeLeader();
        } else if (result === 'lost') {
          this.becomeFollower(this.term, NONE);
        }
        return;
      }
      default:
        return;
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case MessageType.App:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppend(m);
        return;
      case MessageType.Heartbeat:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        return;
      case MessageType.Snap:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        return;
      case MessageType.TimeoutNow:
        // The leader is handing over to us: campaign now, skipping pre-vote.
        if (this.promotable()) this.campaign('transfer');
        return;
      case MessageType.ReadIndexResp:
        if (!m.reject) this.readStates.push({ index: m.index, context: m.context });
        return;
      case MessageType.TransferLeader:
      case MessageType.ReadIndex:
        if (this.lead !== NONE) this.send({ ...m, to: this.lead, term: this.term });
        return;
      default:
        return;
    }
  }

  // --------------------------------------------------------------- follower

  private handleAppend(m: Message): void {
    if (m.index < this.log.committed) {
      // Everything up to our commit is settled; tell the leader where we are.
      this.send({ ...emptyMessage(MessageType.AppResp, this.id, m.from, this.term), index: this.log.committed });
      return;
    }
    if (this.log.matchTerm(m.index, m.logTerm)) {
      this.acceptEntries(m);
      const lastNew = m.index + m.entries.length;
      this.log.commitTo(Math.min(m.commit, lastNew));
      this.send({ ...emptyMessage(MessageType.AppResp, this.id, m.from, this.term), index: lastNew });
      return;
    }
    // Fast backtracking: suggest the last index that can match the leader's term there.
    const hint = this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex()), m.logTerm);
    this.send({
      ...emptyMessage(MessageType.AppResp, this.id, m.from, this.term),
      index: m.index,
      reject: true,
      rejectHint: hint.index,
      logTerm: hint.term,
    });
  }

  /**
   * The leader's entries follow a matching prefix: keep what we already have
   * and append from the first conflict. A stale or duplicated append whose
   * entries we already hold must not cut off entries after them.
   */
  protected acceptEntries(m: Message): void {
    const conflict = this.log.findConflict(m.entries);
    if (conflict === 0) return;
    if (conflict <= this.log.committed) {
      throw new CorruptStateError(`leader ${m.from} conflicts with committed entry ${conflict} (committed ${this.log.committed})`);
    }
    this.log.append(m.entries.slice(conflict - (m.index + 1)));
  }

  private handleHeartbeat(m: Message): void {
    // The leader sends min(our match, its commit), so this never passes our log.
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    this.send({ ...emptyMessage(MessageType.HeartbeatResp, this.id, m.from, this.term), context: m.context });
  }

  private handleSnapshot(m: Message): void {
    const s = m.snapshot;
    if (!s) return;
    const resp = emptyMessage(MessageType.AppResp, this.id, m.from, this.term);
    if (this.restoreSnapshot(s)) {
      resp.index = this.log.lastIndex();
    } else {
      resp.index = this.log.committed;
    }
    this.send(resp);
  }

  private restoreSnapshot(s: Snapshot): boolean {
    const { index, term } = s.meta;
    if (index <= this.log.committed) return false;
    if (this.log.matchTerm(index, term)) {
      // We already have the entries: just learn that they are committed.
      this.log.commitTo(index);
      return false;
    }
    this.log.restore(s);
    this.setConf(s.meta.conf, index);
    return true;
  }

  // ----------------------------------------------------------------- leader

  private appendProposals(items: { type: EntryType; data: Uint8Array }[]): ProposalPosition[] {
    this.requireLeader();
    if (this.leadTransferee !== NONE) {
      throw new ProposalDroppedError(`leadership is being transferred to ${this.leadTransferee}`, this.leadTransferee);
    }
    let bytes = 0;
    for (const it of items) bytes += it.data.byteLength;
    if (this.cfg.maxUncommittedBytes > 0 && this.uncommittedBytes > 0 && this.uncommittedBytes + bytes > this.cfg.maxUncommittedBytes) {
      throw new ProposalDroppedError('too many uncommitted bytes; the cluster is not keeping up');
    }
    this.uncommittedBytes += bytes;
    let index = this.log.lastIndex();
    const ents: Entry[] = items.map((it) => ({ term: this.term, index: ++index, type: it.type, data: it.data }));
    this.log.append(ents);
    this.needsFlush = true;
    return ents.map((e) => ({ index: e.index, term: e.term }));
  }

  /**
   * Commit the highest index a quorum of voters holds, but only if it is from
   * the current term (Raft §5.4.2): older entries are committed indirectly.
   */
  protected maybeCommit(): boolean {
    const mci = this.quorumMatchIndex();
    if (mci <= this.log.committed || this.log.term(mci) !== this.term) return false;
    return this.log.commitTo(mci);
  }

  /** The largest index that a majority of voters has durably stored. */
  protected quorumMatchIndex(): number {
    const matches = this.conf.voters.map((v) => this.prs.get(v)?.match ?? 0).sort((a, b) => b - a);
    return matches.length === 0 ? 0 : matches[Math.floor(matches.length / 2)];
  }

  private onLeaderCommit(): void {
    this.needsFlush = true;
    if (this.log.term(this.log.committed) === this.term && this.pendingReads.length > 0) {
      const reads = this.pendingReads;
      this.pendingReads = [];
      for (const r of reads) this.leaderReadIndex(r.from, r.context);
    }
  }

  /** Send what each follower is missing (and commit advances), batched: called from ready(). */
  private flush(): void {
    if (!this.needsFlush) return;
    this.needsFlush = false;
    for (const [id, pr] of this.prs) {
      if (id === this.id) continue;
      let sent = false;
      while (this.maybeSendAppend(id, pr, !sent && (pr.resend || pr.sentCommit < this.log.committed))) sent = true;
    }
  }

  /** Send one App (or a snapshot) to `to` if its progress allows. */
  private maybeSendAppend(to: NodeId, pr: Progress, sendIfEmpty: boolean): boolean {
    if (pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    const ents = this.log.slice(pr.next, this.log.lastIndex() + 1, this.cfg.maxEntriesPerMsg, this.cfg.maxBytesPerMsg);
    if (prevTerm === -1 || ents === null) return this.sendSnapshot(to, pr);
    if (ents.length === 0 && !sendIfEmpty) return false;
    const commit = this.log.committed;
    this.send({
      ...emptyMessage(MessageType.App, this.id, to, this.term),
      index: prevIndex,
      logTerm: prevTerm,
      entries: ents,
      commit,
    });
    pr.sentCommit = commit;
    pr.resend = false;
    if (ents.length > 0) {
      const last = ents[ents.length - 1].index;
      if (pr.state === 'replicate') {
        pr.next = last + 1;
        pr.inflights.add(last);
      } else {
        pr.probeSent = true;
      }
    } else if (pr.state === 'probe') {
      pr.probeSent = true;
    }
    return true;
  }

  private sendSnapshot(to: NodeId, pr: Progress): boolean {
    const snap = this.log.snapshot;
    // A follower we have not heard from lately may be gone: do not ship it a snapshot.
    if (!pr.recentActive || !snap) return false;
    this.send({ ...emptyMessage(MessageType.Snap, this.id, to, this.term), snapshot: snap });
    pr.becomeSnapshot(snap.meta.index);
    return true;
  }

  private broadcastHeartbeat(context: string): void {
    for (const [id, pr] of this.prs) {
      if (id === this.id) continue;
      this.send({
        ...emptyMessage(MessageType.Heartbeat, this.id, id, this.term),
        // Never tell a follower to commit beyond what it is known to hold.
        commit: Math.min(pr.match, this.log.committed),
        context,
      });
    }
  }

  private leaderReadIndex(from: NodeId, context: string): void {
    if (this.conf.voters.length === 1 && this.conf.voters[0] === this.id) {
      this.answerRead(from, context, this.log.committed);
      return;
    }
    // Until an entry of this term is committed, our commit index may be behind the cluster's.
    if (this.log.term(this.log.committed) !== this.term) {
      this.pendingReads.push({ from, context });
      return;
    }
    this.readOnly.add(from, context, this.log.committed, this.id);
    this.broadcastHeartbeat(context);
  }

  private handleReadAck(from: NodeId, context: string): void {
    if (!this.conf.voters.includes(from)) return;
    const acks = this.readOnly.ack(from, context);
    if (acks === 0 || acks < this.quorum()) return;
    for (const r of this.readOnly.releaseUpTo(context)) this.answerRead(r.from, r.context, r.index);
  }

  private answerRead(from: NodeId, context: string, index: number): void {
    if (from === this.id) this.readStates.push({ index, context });
    else this.send({ ...emptyMessage(MessageType.ReadIndexResp, this.id, from, this.term), index, context });
  }

  private leaderTransfer(to: NodeId): void {
    if (to === this.id) return;
    if (!this.conf.voters.includes(to)) throw new InvalidRequestError(`cannot transfer leadership to ${to}: not a voter`);
    if (this.leadTransferee === to) return;
    this.leadTransferee = to;
    // The transfer must finish within one election timeout, or it is abandoned.
    this.electionElapsed = 0;
    const pr = this.prs.get(to);
    if (pr && pr.match === this.log.lastIndex()) {
      this.send(emptyMessage(MessageType.TimeoutNow, this.id, to, this.term));
    } else {
      this.needsFlush = true;
    }
  }

  /** The voter most likely to win quickly: caught up the furthest, preferring ones we hear from. */
  private bestTransferee(): NodeId {
    let best = NONE;
    let bestScore = -1;
    for (const v of this.conf.voters) {
      if (v === this.id) continue;
      const pr = this.prs.get(v);
      if (!pr) continue;
      const score = pr.match * 2 + (pr.recentActive ? 1 : 0);
      if (score > bestScore) {
        best = v;
        bestScore = score;
      }
    }
    return best;
  }

  // ------------------------------------------------------------ elections

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.campaign(this.cfg.preVote ? 'pre-election' : 'election');
    }
  }

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.cfg.electionTicks) {
      this.electionElapsed = 0;
      if (this.cfg.checkQuorum) {
        if (!this.quorumActive()) {
          this.becomeFollower(this.term, NONE);
          return;
        }
        for (const [id, pr] of this.prs) {
          if (id === this.id) continue;
          pr.activeLastRound = pr.recentActive;
          pr.recentActive = false;
        }
      }
      if (this.leadTransferee !== NONE) this.leadTransferee = NONE;
      // A snapshot that got lost on the way (and that no transport reported)
      // would pause the follower forever: probe it again after a while.
      for (const [id, pr] of this.prs) {
        if (id !== this.id && pr.state === 'snapshot' && ++pr.snapshotRounds >= SNAPSHOT_TIMEOUT_ROUNDS) pr.becomeProbe();
      }
    }
    if (this.heartbeatElapsed >= this.cfg.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.broadcastHeartbeat('');
    }
  }

  private campaign(kind: 'pre-election' | 'election' | 'transfer'): void {
    let term: number;
    let type: MessageType;
    if (kind === 'pre-election') {
      this.becomePreCandidate();
      term = this.term + 1;
      type = MessageType.PreVote;
    } else {
      this.becomeCandidate();
      term = this.term;
      type = MessageType.Vote;
    }
    if (this.poll(this.id, true) === 'won') {
      if (kind === 'pre-election') this.campaign('election');
      else this.becomeLeader();
      return;
    }
    for (const v of this.conf.voters) {
      if (v === this.id) continue;
      this.send({
        ...emptyMessage(type, this.id, v, term),
        index: this.log.lastIndex(),
        logTerm: this.log.lastTerm(),
        context: kind === 'transfer' ? TRANSFER_CONTEXT : '',
      });
    }
  }

  private poll(from: NodeId, granted: boolean): 'won' | 'lost' | 'pending' {
    if (!this.conf.voters.includes(from)) return 'pending';
    if (!this.votes.has(from)) this.votes.set(from, granted);
    let yes = 0;
    let no = 0;
    for (const g of this.votes.values()) {
      if (g) yes++;
      else no++;
    }
    const q = this.quorum();
    if (yes >= q) return 'won';
    if (no > this.conf.voters.length - q) return 'lost';
    return 'pending';
  }

  private quorum(): number {
    return Math.floor(this.conf.voters.length / 2) + 1;
  }

  private quorumActive(): boolean {
    let active = 0;
    for (const v of this.conf.voters) {
      if (v === this.id || this.prs.get(v)?.recentActive) active++;
    }
    return active >= this.quorum();
  }

  private promotable(): boolean {
    return this.conf.voters.includes(this.id) && this.log.unstableSnapshot === null;
  }

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.cfg.electionTicks + this.cfg.rng.int(this.cfg.electionTicks);
    this.leadTransferee = NONE;
    this.votes = new Map();
    this.pendingConfIndex = 0;
    this.uncommittedBytes = 0;
    this.needsFlush = false;
    this.readOnly.clear();
    this.pendingReads = [];
    this.resetProgress();
  }

  private resetProgress(): void {
    this.prs.clear();
    const next = this.log.lastIndex() + 1;
    for (const v of this.conf.voters) this.prs.set(v, new Progress(next, this.cfg.maxInflight, false));
    for (const l of this.conf.learners) this.prs.set(l, new Progress(next, this.cfg.maxInflight, true));
    const self = this.prs.get(this.id);
    if (self) self.match = this.log.stable;
  }

  private becomeFollower(term: number, lead: NodeId): void {
    this.reset(term);
    this.lead = lead;
    this.role = Role.Follower;
  }

  private becomePreCandidate(): void {
    // Pre-vote changes neither term nor vote: a failed pre-election disturbs no one.
    this.votes = new Map();
    this.lead = NONE;
    this.role = Role.PreCandidate;
  }

  private becomeCandidate(): void {
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = Role.Candidate;
  }

  private becomeLeader(): void {
    this.reset(this.term);
    this.lead = this.id;
    this.role = Role.Leader;
    const self = this.prs.get(this.id);
    if (self) self.becomeReplicate();
    // Everything in our log might be a conf change: none may be proposed until it is applied.
    this.pendingConfIndex = this.log.lastIndex();
    // An empty entry of our term lets us commit (and so learn the commit index).
    const e: Entry = { term: this.term, index: this.log.lastIndex() + 1, type: EntryType.Normal, data: EMPTY };
    this.log.append([e]);
    this.needsFlush = true;
  }

  // ---------------------------------------------------------------- helpers

  private requireLeader(): void {
    if (this.role !== Role.Leader) throw new NotLeaderError(this.lead, this.term);
  }

  private isMember(id: NodeId): boolean {
    return this.prs.has(id);
  }

  private send(m: Message): void {
    this.msgs.push(m);
  }

  private nextApplyIndex(): number {
    return Math.min(this.log.committed, this.log.lastIndex());
  }

  /** Committed entries not yet handed out; conf changes among them take effect now. */
  private takeCommitted(snapshot: Snapshot | null): Entry[] {
    if (snapshot) this.log.applied = Math.max(this.log.applied, snapshot.meta.index);
    let hi = this.nextApplyIndex();
    if (hi <= this.log.applied) return [];
    const limit = this.cfg.maxCommittedBytesPerReady;
    if (limit > 0) {
      let bytes = 0;
      for (let i = this.log.applied + 1; i <= hi; i++) {
        bytes += this.log.entries[i - this.log.snapIndex - 1].data.byteLength;
        if (bytes > limit && i > this.log.applied + 1) {
          hi = i - 1;
          break;
        }
      }
    }
    const out = this.log.entries.slice(this.log.applied - this.log.snapIndex, hi - this.log.snapIndex);
    for (const e of out) {
      // Every proposed entry counted against the budget, conf changes included.
      if (this.role === Role.Leader) this.uncommittedBytes = Math.max(0, this.uncommittedBytes - e.data.byteLength);
      if (e.type === EntryType.ConfChange) this.applyConfEntry(e);
    }
    this.log.applied = hi;
    return out;
  }

  private applyConfEntry(e: Entry): void {
    const cc = decodeConfChange(e.data);
    this.setConf(applyConfChange(this.conf, cc), e.index);
    if (this.role !== Role.Leader) return;
    if (!this.conf.voters.includes(this.id)) {
      // Removed (normally after handing leadership over): stop leading.
      this.becomeFollower(this.term, NONE);
      return;
    }
    if (this.leadTransferee !== NONE && !this.conf.voters.includes(this.leadTransferee)) this.leadTransferee = NONE;
    // A smaller quorum may already hold newer entries.
    if (this.maybeCommit()) this.onLeaderCommit();
    this.needsFlush = true;
  }

  /** Adopt a membership; on the leader, keep progress of members that stay and add the new ones. */
  private setConf(conf: ConfState, index: number): void {
    this.conf = { voters: [...conf.voters].sort(), learners: [...conf.learners].sort() };
    this.confHistory.push({ index, conf: this.conf });
    const members = new Set([...this.conf.voters, ...this.conf.learners]);
    for (const id of [...this.prs.keys()]) if (!members.has(id)) this.prs.delete(id);
    const next = this.log.lastIndex() + 1;
    for (const id of members) {
      const isLearner = this.conf.learners.includes(id);
      const pr = this.prs.get(id);
      if (pr) pr.isLearner = isLearner;
      else {
        const np = new Progress(next, this.cfg.maxInflight, isLearner);
        // A new member has not been heard from yet, but give it a chance (snapshot sends need recentActive).
        np.recentActive = true;
        this.prs.set(id, np);
      }
    }
  }

  private confAt(index: number): ConfState {
    let conf = this.conf;
    for (let i = this.confHistory.length - 1; i >= 0; i--) {
      if (this.confHistory[i].index <= index) {
        conf = this.confHistory[i].conf;
        break;
      }
    }
    return { voters: [...conf.voters], learners: [...conf.learners] };
  }

  /** The hook through which a deliberately broken core (in tests) can misreport what to persist. */
  protected filterReady(rd: Ready): Ready {
    return rd;
  }
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

function sameSoftState(a: SoftState, b: SoftState): boolean {
  return a.leader === b.leader && a.role === b.role;
}

function validateConfig(cfg: RaftConfig): void {
  const positive = (name: string, v: number): void => {
    if (!Number.isInteger(v) || v <= 0) throw new InvalidRequestError(`raft config: ${name} must be a positive integer, got ${v}`);
  };
  if (!cfg.id) throw new InvalidRequestError('raft config: id must not be empty');
  positive('electionTicks', cfg.electionTicks);
  positive('heartbeatTicks', cfg.heartbeatTicks);
  positive('maxEntriesPerMsg', cfg.maxEntriesPerMsg);
  positive('maxBytesPerMsg', cfg.maxBytesPerMsg);
  positive('maxInflight', cfg.maxInflight);
  if (!Number.isInteger(cfg.maxCommittedBytesPerReady) || cfg.maxCommittedBytesPerReady < 0) {
    throw new InvalidRequestError(`raft config: maxCommittedBytesPerReady must be a non-negative integer, got ${cfg.maxCommittedBytesPerReady}`);
  }
  if (cfg.heartbeatTicks >= cfg.electionTicks) throw new InvalidRequestError('raft config: heartbeatTicks must be below electionTicks');
}
