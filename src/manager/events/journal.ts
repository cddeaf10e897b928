// One manager's cluster events: every committed change of its store (the
// watch, in apply order) and every change of leader its Raft observed, mapped
// to events (./map.ts), kept in a bounded ring for `--since` and handed to
// the live subscribers. Every manager applies the same log, so any manager
// answers `flotilla events` from its own journal; a follower's lags the
// leader's by the time its log takes to apply, no more.
//
// The ring holds the last EVENT_HISTORY events (docker keeps 256 per daemon;
// a cluster's task state changes are many more: 10,000 is minutes of a busy
// cluster's history at about 300 bytes an event, 3 MB). It is memory only: a
// restarted manager's history starts with what it applies again from its log
// after its snapshot. A snapshot installed from the leader replaces the store
// without a diff: no events for what it skipped (logged).
import type { Logger } from 'pino';
import { eventMatches, type ClusterEvent, type EventsQuery } from '../../api/events.js';
import type { ClusterStore } from '../store/store.js';
import { eventsOfChange, leaderChangeEvents, type EventNames, type LeaderView } from './map.js';

export const EVENT_HISTORY = 10_000;

export type EventListener = (ev: ClusterEvent) => void;

/** Whether `ev` falls in the query's time window and passes its filters. */
export function inQuery(q: EventsQuery, ev: ClusterEvent): boolean {
  if (q.sinceMs !== undefined && ev.timeMs < q.sinceMs) return false;
  if (q.untilMs !== undefined && ev.timeMs > q.untilMs) return false;
  return eventMatches(q.filters, ev);
}

export class EventJournal {
  private readonly ring: (ClusterEvent | undefined)[];
  /** Where the next event goes in the ring; `count` events are held, the oldest at next - count. */
  private next = 0;
  private count = 0;
  private readonly listeners = new Set<EventListener>();
  /** What each subscriber does when the journal stops (its stream ends). */
  private readonly closers = new Map<EventListener, () => void>();
  private unwatch: (() => void) | null = null;
  private leader: LeaderView | null = null;
  private readonly names: EventNames;

  constructor(
    private readonly store: ClusterStore,
    private readonly now: () => number = Date.now,
    private readonly capacity = EVENT_HISTORY,
    private readonly log?: Logger,
  ) {
    this.ring = new Array<ClusterEvent | undefined>(capacity);
    this.names = { nodeName: (id) => this.store.get('node', id)?.description.hostname || undefined };
  }

  start(): void {
    this.unwatch ??= this.store.watch((ev) => {
      if (ev.op === 'restored') {
        this.log?.info({ index: ev.index }, 'store replaced by a snapshot: no events for the changes it skipped');
        return;
      }
      this.record(eventsOfChange(ev, this.names, this.now()));
    });
  }

  stop(): void {
    this.unwatch?.();
    this.unwatch = null;
    const closers = [...this.closers.values()];
    this.listeners.clear();
    this.closers.clear();
    for (const close of closers) close();
  }

  /** What this manager's Raft says about the leader (any number of times: only changes are events). */
  observeLeader(view: LeaderView): void {
    const events = leaderChangeEvents(this.leader, view, this.names, this.now());
    if (view.leader !== '') this.leader = view;
    this.record(events);
  }

  private record(events: readonly ClusterEvent[]): void {
    for (const ev of events) {
      this.ring[this.next] = ev;
      this.next = (this.next + 1) % this.capacity;
      this.count = Math.min(this.count + 1, this.capacity);
      for (const l of [...this.listeners]) {
        try {
          l(ev);
        } catch (err) {
          this.log?.error({ err }, 'event listener threw');
        }
      }
    }
  }

  /** The events held, oldest first. */
  history(): ClusterEvent[] {
    const out: ClusterEvent[] = [];
    for (let i = this.count; i > 0; i--) out.push(this.ring[(this.next - i + this.capacity) % this.capacity] as ClusterEvent);
    return out;
  }

  /**
   * The held events the query asks for (with a since or an until, as docker:
   * none without either), then every new event that passes it, to `listener`,
   * until the returned function is called. Nothing is missed or repeated
   * between the two: both happen in one turn of the event loop. `onStop`:
   * the journal stopped (the manager is stopping).
   */
  subscribe(q: EventsQuery, listener: EventListener, onStop?: () => void): { past: ClusterEvent[]; unsubscribe: () => void } {
    const past = q.sinceMs === undefined && q.untilMs === undefined ? [] : this.history().filter((ev) => inQuery(q, ev));
    const l: EventListener = (ev) => {
      if (inQuery(q, ev)) listener(ev);
    };
    this.listeners.add(l);
    if (onStop) this.closers.set(l, onStop);
    return {
      past,
      unsubscribe: () => {
        this.listeners.delete(l);
        this.closers.delete(l);
      },
    };
  }

  get subscribers(): number {
    return this.listeners.size;
  }
}
