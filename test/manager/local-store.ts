// A store with a write path for testing leader controllers without Raft: each
// write is applied at the next log index, as a single-manager Raft would, and
// resolves (asynchronously, like a proposal) with the stored objects or the
// store's typed error. `writes` counts transactions, `actions` counts actions.
import { ClusterStore, encodeTx, unwrapTx, type Action } from '../../src/manager/store/store.js';
import type { ControllerContext } from '../../src/manager/controller.js';
import type { StoreObject } from '../../src/api/objects.js';

export class LocalStore {
  readonly store = new ClusterStore();
  index = 0;
  writes = 0;
  actions = 0;
  time = 1_700_000_000_000;

  write = async (actions: readonly Action[]): Promise<StoreObject[]> => {
    await Promise.resolve();
    this.writes++;
    this.actions += actions.length;
    return unwrapTx(this.store.apply(encodeTx(actions), ++this.index));
  };

  /** Apply synchronously (test set-up). */
  applyNow(actions: readonly Action[]): StoreObject[] {
    return unwrapTx(this.store.apply(encodeTx(actions), ++this.index));
  }

  context(): ControllerContext {
    return { store: this.store, write: this.write, now: () => this.time };
  }
}
