// What a leader controller's plan is made of. A controller plans from the
// store; its plan is a list of units, each a few store actions that commit
// together (never split across transactions), each action conditional on the
// version its planner read. The applier (apply.ts) puts units into
// transactions; a UnitKind tells it how to do so for one kind of unit: how
// much room a unit takes in a transaction, its actions as they go out (read
// again from the store when the unit must be, or dropped when what it read
// changed), and what to remember once it committed.
import type { Action } from '../store/store.js';

/** Actions that commit together, and what to remember once they did (the orchestrators' units). */
export interface Unit {
  actions: Action[];
  onCommit?: () => void;
}

/** How the applier handles units of type U. Methods, not per-unit closures: a plan can hold 100,000 units. */
export interface UnitKind<U> {
  /** The room the unit takes toward the applier's maxPerTx (default 1). One of maxPerTx or more fills a transaction alone. */
  size?(unit: U): number;
  /**
   * Appends the unit's actions, as they are to be proposed now, to `tx`, or returns false to drop the unit (what it
   * read has changed, or nothing of it is left to write). Called as each transaction is built, again for each retry.
   * `now` is the transaction's time (the same for all its units).
   */
  emit(unit: U, tx: Action[], now: number): boolean;
  /** The transaction holding the unit committed. */
  committed?(unit: U): void;
}

/** Units whose actions are fixed when planned: the orchestrators' (a slot's shut-down and its replacement). */
export const fixedUnits: UnitKind<Unit> = {
  size: (u) => u.actions.length,
  emit: (u, tx) => {
    for (const a of u.actions) tx.push(a);
    return true;
  },
  committed: (u) => u.onCommit?.(),
};
