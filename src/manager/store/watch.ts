// The store's watch: committed changes as events, delivered in commit order to
// the watchers whose filter they pass. The store hands each transaction's
// events here right after applying it; whatever follows changes (the
// orchestrators, the scheduler, the dispatcher, an events stream) subscribes
// here, knowing nothing of the store's tables.
import type { Logger } from 'pino';
import type { Kind, KindMap } from '../../api/objects.js';

/** What a committed change did to an object (task-only writes are watched as one of these; see ActionOp in store.ts). */
export type Op = 'create' | 'update' | 'delete';

export type ObjectEvent = {
  [K in Kind]: {
    kind: K;
    op: Op;
    /** The object after the change; for a delete, the object as it was. */
    object: KindMap[K];
    /** The object before an update. */
    old?: KindMap[K];
    /** Raft index of the transaction. */
    index: number;
  };
}[Kind];

/** The whole store was replaced by a snapshot: watchers should re-read what they follow. */
export interface RestoredEvent {
  kind: 'store';
  op: 'restored';
  index: number;
}

export type StoreEvent = ObjectEvent | RestoredEvent;

export interface WatchFilter {
  kind?: Kind | readonly Kind[];
  op?: Op | readonly Op[];
  id?: string;
  where?: (event: ObjectEvent) => boolean;
}

/** 'restored' events reach every watcher whatever its filter. */
export type WatchListener = (event: StoreEvent) => void;

interface Watcher {
  filter: WatchFilter;
  listener: WatchListener;
}

/** The watchers of one store, and the delivery of its events to them. */
export class StoreWatch {
  private readonly watchers = new Set<Watcher>();
  private readonly queue: StoreEvent[] = [];
  private emitting = false;

  /** `log`: where a throwing watcher is reported (watchers must not throw; the store carries on). */
  constructor(private readonly log?: Logger) {}

  /** Call listener for each event that passes the filter (and for every 'restored'); returns the unsubscribe function. */
  add(filter: WatchFilter, listener: WatchListener): () => void {
    const w: Watcher = { filter, listener };
    this.watchers.add(w);
    return () => {
      this.watchers.delete(w);
    };
  }

  /** Deliver one transaction's events, in order, to every watcher (a watcher added or removed meanwhile is honoured at once). */
  emit(events: readonly StoreEvent[]): void {
    if (events.length === 0) return;
    // One by one, not push(...events): a transaction of 100,000 actions would overflow the call stack
    // after its changes were applied, and the watchers (orchestrators, dispatcher) would never hear of them.
    for (const ev of events) this.queue.push(ev);
    if (this.emitting) return; // a listener applied a transaction: its events follow these
    this.emitting = true;
    try {
      for (let i = 0; i < this.queue.length; i++) {
        const ev = this.queue[i];
        for (const w of [...this.watchers]) {
          if (!this.watchers.has(w)) continue;
          try {
            if (matches(w.filter, ev)) w.listener(ev);
          } catch (err) {
            this.log?.error({ err, kind: ev.kind, op: ev.op, index: ev.index }, 'store watcher threw');
          }
        }
      }
    } finally {
      this.queue.length = 0;
      this.emitting = false;
    }
  }
}

const asArray = <T>(x: T | readonly T[] | undefined): readonly T[] | undefined => (x === undefined ? undefined : Array.isArray(x) ? (x as readonly T[]) : [x as T]);

function matches(f: WatchFilter, ev: StoreEvent): boolean {
  if (ev.op === 'restored') return true;
  const kinds = asArray(f.kind);
  if (kinds && !kinds.includes(ev.kind)) return false;
  const ops = asArray(f.op);
  if (ops && !ops.includes(ev.op)) return false;
  if (f.id !== undefined && ev.object.id !== f.id) return false;
  return f.where === undefined || f.where(ev);
}
