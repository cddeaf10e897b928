// The one write path of the leader's controllers (orchestrators, scheduler,
// the dispatcher's status intake): a plan's units go out in transactions of
// bounded size, a few in flight at once, in order. Each transaction is one
// Raft entry: entries must stay a reasonable size, and waiting for each commit
// before proposing the next would make a plan of many transactions as slow as
// that many round trips. Every await of a commit hands the event loop back, so
// a plan of 100,000 units never holds it for longer than one transaction's
// build. What a conflict (an object changed or vanished since it was read)
// does is the caller's choice (ApplyOptions.onConflict); the applier stops
// proposing when the controller halts (it lost leadership) and counts what it
// did.
import type { StoreWrite } from '../controller.js';
import { NotFoundError, VersionConflictError, type Action } from '../store/store.js';
import type { UnitKind } from './unit.js';

/**
 * What a transaction that conflicts does:
 * - 'stop': as any failure, no more transactions are proposed and the error is
 *   returned; the caller re-plans the whole plan (orchestrators);
 * - 'skip': the conflict is counted and the other transactions go on; the
 *   caller re-plans what did not land (scheduler);
 * - { attempts }: the transaction's units are emitted again from the store and
 *   proposed again, up to `attempts` proposals in all; then they are left
 *   (dispatcher: agents re-send reports that were not acknowledged).
 */
export type ConflictPolicy = 'stop' | 'skip' | { attempts: number };

export interface ApplyOptions {
  write: StoreWrite;
  /** The most units' room (UnitKind.size) in one transaction. A unit is never split: a bigger one goes alone. */
  maxPerTx: number;
  /** Transactions in flight at once. */
  inFlight: number;
  onConflict: ConflictPolicy;
  /** True once the controller must write no more (it was stopped: this manager lost leadership). Checked before each proposal. */
  halted?: () => boolean;
  /** The time handed to UnitKind.emit for each transaction (default Date.now). */
  now?: () => number;
}

/** What an apply did. */
export interface Applied {
  /** Transactions committed. */
  transactions: number;
  /** Transactions proposed, retries included, and their actions. */
  proposed: number;
  proposedActions: number;
  /** Units dropped as their transaction was built (what they read had changed). */
  dropped: number;
  /** Transactions refused for a conflict (VersionConflictError, NotFoundError), whatever came of them. */
  conflicts: number;
  /** Transactions proposed again after a conflict. */
  retries: number;
  /** The failure that stopped the apply: of the earliest transaction that failed (by the order proposed). */
  error?: unknown;
  /** The number of actions of that transaction. */
  failedActions?: number;
}

/** An object changed or vanished since the planner read it: planning again from the store resolves it. */
export function isConflict(err: unknown): boolean {
  return err instanceof VersionConflictError || err instanceof NotFoundError;
}

interface Failure {
  at: number;
  error: unknown;
  actions: number;
}

/**
 * Write `units` in order: transactions of at most maxPerTx, up to inFlight of
 * them at a time. After a failure no transaction is proposed; once those
 * already proposed have settled, the earliest failure (by the order proposed)
 * is reported in `error`. Units are independent of each other, so a
 * transaction proposed after one that failed is as valid as it would be alone.
 */
export async function applyPlan<U>(units: readonly U[], kind: UnitKind<U>, o: ApplyOptions): Promise<Applied> {
  const counts: Applied = { transactions: 0, proposed: 0, proposedActions: 0, dropped: 0, conflicts: 0, retries: 0 };
  const attempts = typeof o.onConflict === 'object' ? Math.max(1, o.onConflict.attempts) : 1;
  const now = o.now ?? Date.now;
  let failed: Failure | undefined;
  let next = 0;
  let seq = 0;

  const nextChunk = (): U[] | undefined => {
    if (failed !== undefined || next >= units.length || o.halted?.()) return undefined;
    const chunk: U[] = [];
    let room = 0;
    while (next < units.length) {
      const size = kind.size?.(units[next]) ?? 1;
      if (chunk.length > 0 && room + size > o.maxPerTx) break;
      chunk.push(units[next++]);
      room += size;
    }
    return chunk;
  };

  /** Propose one chunk (again after conflicts, as the policy says); resolves with its failure, if any. */
  const propose = async (chunk: U[]): Promise<{ error: unknown; actions: number } | undefined> => {
    for (let attempt = 1; ; attempt++) {
      const tx: Action[] = [];
      const t = now();
      let kept = 0;
      for (const u of chunk) {
        if (kind.emit(u, tx, t)) chunk[kept++] = u;
        else counts.dropped++;
      }
      // Dropped units stay dropped through the retries: they are kept out of the chunk.
      chunk.length = kept;
      if (tx.length === 0) return undefined;
      counts.proposed++;
      counts.proposedActions += tx.length;
      try {
        await o.write(tx);
      } catch (error) {
        if (!isConflict(error)) return { error, actions: tx.length };
        counts.conflicts++;
        if (o.onConflict === 'stop') return { error, actions: tx.length };
        if (o.onConflict === 'skip' || attempt >= attempts || o.halted?.()) return undefined;
        counts.retries++;
        continue;
      }
      counts.transactions++;
      try {
        if (kind.committed) for (const u of chunk) kind.committed(u);
      } catch (error) {
        return { error, actions: tx.length };
      }
      return undefined;
    }
  };

  const lane = async (): Promise<void> => {
    for (let chunk = nextChunk(); chunk !== undefined; chunk = nextChunk()) {
      const at = seq++;
      const f = await propose(chunk);
      if (f !== undefined) {
        if (failed === undefined || at < failed.at) failed = { at, ...f };
        return;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, o.inFlight) }, lane));
  if (failed !== undefined) {
    counts.error = failed.error;
    counts.failedActions = failed.actions;
  }
  return counts;
}
