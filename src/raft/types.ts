// The contract of the Raft core: what goes in (messages, proposals, ticks) and
// what comes out (Ready). Everything here is plain data so that the gRPC
// transport (proto/raft.proto) and the LevelDB storage can map it one to one.

/** Node ids are opaque strings (SwarmKit style), unique in a cluster. */
export type NodeId = string;

/** The empty node id: "no vote", "no leader". */
export const NONE: NodeId = '';

export enum EntryType {
  /** Application data; an empty `data` is the no-op a new leader appends. */
  Normal = 0,
  /** A membership change; `data` is an encoded ConfChange (see confchange.ts). */
  ConfChange = 1,
}

export interface Entry {
  term: number;
  index: number;
  type: EntryType;
  data: Uint8Array;
}

/** What must survive a crash besides the log: etcd's HardState. */
export interface HardState {
  term: number;
  vote: NodeId;
  commit: number;
}

/** Cluster membership. Voters elect and count for commit; learners only receive the log. */
export interface ConfState {
  voters: NodeId[];
  learners: NodeId[];
}

export enum ConfChangeType {
  /** Add a non-voting member that receives the log and catches up. */
  AddLearner = 0,
  /** Turn a learner into a voter. */
  Promote = 1,
  /** Remove a voter or a learner. */
  Remove = 2,
  /**
   * Add a voter directly. Only the bootstrap of a new cluster writes these
   * (as its first log entries, so that nodes joining later learn the initial
   * members from the log); a running cluster adds a learner and promotes it.
   */
  AddVoter = 3,
}

export interface ConfChange {
  type: ConfChangeType;
  nodeId: NodeId;
  /** Opaque to the core; the runtime puts e.g. the node's address here. */
  context: Uint8Array;
}

export interface SnapshotMeta {
  /** Last log index the snapshot covers. */
  index: number;
  /** Term of the entry at `index`. */
  term: number;
  /** Membership as of `index`. */
  conf: ConfState;
}

export interface Snapshot {
  meta: SnapshotMeta;
  /** The serialized state machine; opaque to the core. */
  data: Uint8Array;
}

export enum MessageType {
  /** Leader -> follower: entries after (index, logTerm), and the leader's commit. */
  App = 0,
  /** Follower -> leader: accepted up to `index`, or rejected with a hint. */
  AppResp = 1,
  /** Candidate -> voter: vote for me in `term`; my last log is (index, logTerm). */
  Vote = 2,
  VoteResp = 3,
  /** Like Vote, but for term+1 without changing anyone's term (pre-vote). */
  PreVote = 4,
  PreVoteResp = 5,
  /** Leader -> follower: I am alive; carries commit (bounded by the follower's match) and a read context. */
  Heartbeat = 6,
  HeartbeatResp = 7,
  /** Leader -> follower: install this snapshot. */
  Snap = 8,
  /** Leader -> transferee: start an election now (leadership transfer). */
  TimeoutNow = 9,
  /** Follower -> leader: a linearizable read request with `context`. */
  ReadIndex = 10,
  /** Leader -> follower: the read index for `context` is `index` (0 with reject). */
  ReadIndexResp = 11,
  /** Follower -> leader: please transfer leadership to the node named in `context`. */
  TransferLeader = 12,
}

/**
 * One wire message. Fields not used by a type are left at their zero value, so
 * the shape maps directly onto one protobuf message.
 */
export interface Message {
  type: MessageType;
  from: NodeId;
  to: NodeId;
  term: number;
  /** App: term of the entry at `index`. Vote/PreVote: term of the last entry. AppResp reject: the follower's term at the hint index. */
  logTerm: number;
  /** App: index preceding `entries`. AppResp: last matching index (accept) or the rejected index. Vote: last index. ReadIndexResp: the read index. */
  index: number;
  entries: Entry[];
  commit: number;
  reject: boolean;
  /** AppResp reject: the follower's suggested index to probe from. */
  rejectHint: number;
  /** Snap only. */
  snapshot: Snapshot | null;
  /** Heartbeat/HeartbeatResp/ReadIndex/ReadIndexResp: the read request id. TransferLeader: the transferee. Vote: 'transfer' when forced by TimeoutNow. */
  context: string;
}

/** Answer to readIndex(ctx): once applied >= index, a read of the state machine is linearizable. */
export interface ReadState {
  index: number;
  context: string;
}

export enum Role {
  Follower = 'follower',
  PreCandidate = 'pre-candidate',
  Candidate = 'candidate',
  Leader = 'leader',
}

/** Volatile state that does not need persisting but that callers want to see change. */
export interface SoftState {
  leader: NodeId;
  role: Role;
}

/**
 * What the runtime must do, in this order:
 *  1. persist `snapshot` (if any; it replaces the whole stored log: every
 *     stored entry is discarded), then `entries` (an entry at index i replaces
 *     any stored entry at i and everything after it), and `hardState` (if any),
 *     all in one synced write;
 *  2. only then send `messages` (every one of them may depend on step 1: votes,
 *     acknowledgements of appended entries);
 *  3. apply `snapshot` (if any) to the state machine, then `committedEntries` in
 *     order (they may include entries from this same Ready: step 1 made them durable);
 *  4. answer `readStates` once the applied index reaches each one's index;
 *  5. call advance().
 * ready() must not be called again before advance(); tick/step/propose may be.
 * Two relaxations, decided by the core so that runtimes need not reason:
 *  - `mustSync` false: step 1 only records a new commit index, which can be
 *    rebuilt from the quorum; it may be written without an fsync (etcd's MustSync).
 *  - `messagesMayPrecedePersist` true: this is a leader whose Ready changes
 *    neither term nor vote nor installs a snapshot. Its messages (appends,
 *    heartbeats) may leave before step 1 is durable: the leader counts its own
 *    copy toward commit only after advance() (Raft thesis §10.2.1).
 */
export interface Ready {
  softState: SoftState | null;
  hardState: HardState | null;
  entries: Entry[];
  snapshot: Snapshot | null;
  committedEntries: Entry[];
  messages: Message[];
  readStates: ReadState[];
  mustSync: boolean;
  messagesMayPrecedePersist: boolean;
}

/** A source of randomness handed to the core: the core has none of its own. */
export interface Rng {
  /** A uniformly distributed integer in [0, n). */
  int(n: number): number;
}

export interface RaftConfig {
  id: NodeId;
  /** Ticks without hearing from a leader before campaigning; randomized in [electionTicks, 2*electionTicks). */
  electionTicks: number;
  /** Ticks between leader heartbeats. */
  heartbeatTicks: number;
  /** Run a pre-vote round before a real election so that a partitioned node cannot disrupt the cluster. */
  preVote: boolean;
  /** A leader that has not heard from a quorum for an election timeout steps down; followers ignore votes while they hear a leader. */
  checkQuorum: boolean;
  /** At most this many entries per App message. */
  maxEntriesPerMsg: number;
  /** At most this many bytes of entry data per App message (always at least one entry). */
  maxBytesPerMsg: number;
  /** At most this many App messages in flight to one follower (pipelining window). */
  maxInflight: number;
  /** Reject proposals when this many bytes of proposed entries are not yet committed (0 = unbounded). */
  maxUncommittedBytes: number;
  /**
   * At most this many bytes of committed entries per Ready (always at least
   * one entry; 0 = unbounded), as etcd's MaxCommittedSizePerReady: the
   * runtime applies a Ready's entries before it carries out the next one, so
   * a large backlog is applied in slices with messages (heartbeats,
   * acknowledgements) going out between them.
   */
  maxCommittedBytesPerReady: number;
  rng: Rng;
}

export const DEFAULT_CONFIG: Omit<RaftConfig, 'id' | 'rng'> = {
  electionTicks: 10,
  heartbeatTicks: 1,
  preVote: true,
  checkQuorum: true,
  maxEntriesPerMsg: 512,
  maxBytesPerMsg: 1 << 20,
  maxInflight: 256,
  maxUncommittedBytes: 64 << 20,
  maxCommittedBytesPerReady: 0,
};

/** What the runtime found in durable storage at start-up. */
export interface InitialState {
  hardState: HardState;
  /** The latest snapshot, or null if none (then `conf` below is the bootstrap membership). Its data is kept to send to followers. */
  snapshot: Snapshot | null;
  /** Entries after the snapshot, in order. */
  entries: Entry[];
  /**
   * Bootstrap membership of a brand-new cluster, used only when storage is
   * empty (no snapshot, no entries, term 0): the core then writes one AddVoter
   * entry per voter (term 1, committed) as the log's first entries. Every
   * founding member must be given the same list. A node joining an existing
   * cluster passes no voters and learns the membership from the leader.
   */
  conf: ConfState;
}

/** Where a proposal landed; it is applied when the entry at `index` with `term` comes out in committedEntries. */
export interface ProposalPosition {
  index: number;
  term: number;
}

export interface Status {
  id: NodeId;
  role: Role;
  term: number;
  vote: NodeId;
  leader: NodeId;
  commit: number;
  applied: number;
  firstIndex: number;
  lastIndex: number;
  conf: ConfState;
  transferee: NodeId;
  /**
   * Leader only: per-peer replication progress. recentActive: heard from within the current or
   * the last check-quorum round (one to two election timeouts), so it does not flicker at each
   * round's reset; what the managers report as reachability and check before a demotion.
   */
  progress: Record<NodeId, { match: number; next: number; state: string; recentActive: boolean }>;
}
