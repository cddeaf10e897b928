// What a leader-only controller (orchestrators, scheduler, dispatcher) gets and
// must do. The Manager starts every controller when this manager becomes the
// leader (after a barrier, so the local store holds everything committed
// before the term) and stops them when it loses leadership. Controllers read
// the local store (it is the leader's: current), react to its watch events,
// and write through `write`, which proposes through Raft and resolves with the
// objects as stored (or throws the store's typed errors, e.g.
// VersionConflictError when an object changed since it was read: re-read and
// retry).
import type { Logger } from 'pino';
import type { Action, ClusterStore } from './store/store.js';
import type { StoreObject } from '../api/objects.js';

export type StoreWrite = (actions: readonly Action[]) => Promise<StoreObject[]>;

export interface ControllerContext {
  store: ClusterStore;
  write: StoreWrite;
  /** Wall-clock milliseconds (injectable for tests). */
  now: () => number;
  /**
   * Resolves once a majority of managers has confirmed this leader (a Raft
   * read barrier); rejects otherwise. For decisions made from an absence (no
   * heartbeat came): a leader cut off from everyone sees every node fall
   * silent, and its write, stranded in its log, could still commit if it leads
   * again after the partition heals. Absent in tests: always confirmed.
   */
  confirmLeader?: () => Promise<void>;
  logger?: Logger;
}

export interface LeaderController {
  readonly name: string;
  /** Begin reconciling; called once per leadership term. */
  start(): void;
  /** Stop timers and watches; resolves when no write of this controller is in flight. */
  stop(): Promise<void>;
}
