// The console's live view: while a page is open, this reads the cluster
// through the Control API (the manager's own socket, as the CLI does) when the
// store's events say something changed, and at least every REFRESH_MS (a
// manager's reachability and the Raft term change without a store event), and
// sends each open page what changed (views.ts: a snapshot first, then patches).
// The events themselves are the console's timeline.
import type { Logger } from 'pino';
import { nodeFromProto, serviceFromProto } from '../../api/convert.js';
import { enumFromProto, REACHABILITIES } from '../../api/enums.js';
import { eventFromProto, type ClusterEvent } from '../../api/events.js';
import type { Control } from '../../cli/connection.js';
import { listTasks } from '../../cli/lookup.js';
import type { EventStream } from './http-util.js';
import { diffSnapshots, snapshotOf, type ClusterFacts, type Snapshot } from './views.js';

/** Re-read at least this often while a page is open. */
export const REFRESH_MS = 1_000;
/** After a store event, wait this long for more before re-reading (a scale of 50 is 100 events in a few ms). */
export const SETTLE_MS = 50;
/** Timeline entries kept and sent to a page that opens. */
export const TIMELINE = 200;

/** An event as the console's timeline shows it. */
export interface TimelineEvent {
  type: string;
  action: string;
  id: string;
  name: string;
  time: string;
  attributes: Record<string, string>;
}

export function timelineEvent(e: ClusterEvent): TimelineEvent {
  return { type: e.type, action: e.action, id: e.actor.id, name: e.actor.attributes.name ?? '', time: new Date(e.timeMs).toISOString(), attributes: { ...e.actor.attributes } };
}

/** One read of everything the console shows, through the Control API. */
export async function readCluster(control: Control, revision: number): Promise<Snapshot> {
  const [info, cluster, nodes, services, tasks] = await Promise.all([
    control.call('ClusterInfo', {}),
    control.call('GetCluster', {}),
    control.call('ListNodes', {}),
    control.call('ListServices', {}),
    listTasks(control),
  ]);
  const c = cluster.cluster;
  const facts: ClusterFacts = {
    id: c?.meta?.id ?? '',
    name: c?.spec?.name || 'default',
    createdAt: Number(c?.meta?.createdAt ?? 0),
    leaderId: info.leaderId,
    term: Number(info.term),
    raftIndex: Number(info.raftIndex),
    managers: info.managers.map((m) => ({ nodeId: m.nodeId, addr: m.addr, leader: m.leader, reachability: enumFromProto(REACHABILITIES, m.reachability, 'reachability') })),
  };
  return snapshotOf(revision, facts, nodes.nodes.map(nodeFromProto), services.services.map(serviceFromProto), tasks);
}

export class LiveView {
  private readonly pages = new Set<EventStream>();
  private current: Snapshot | null = null;
  private revision = 0;
  private reading: Promise<void> | null = null;
  private again = false;
  private timer: NodeJS.Timeout | null = null;
  private settle: NodeJS.Timeout | null = null;
  private events: { cancel(): void } | null = null;
  private readonly timeline: TimelineEvent[] = [];
  private stopped = false;

  constructor(
    private readonly control: Control,
    private readonly log?: Logger,
  ) {}

  /** A page opened its stream: it gets the snapshot and the timeline, then every change until it goes. */
  async join(page: EventStream): Promise<void> {
    this.pages.add(page);
    this.start();
    if (!this.current) await this.refresh();
    if (page.closed) return;
    if (this.current) page.send('snapshot', this.current);
    page.send('events', this.timeline);
  }

  leave(page: EventStream): void {
    this.pages.delete(page);
    if (this.pages.size === 0) this.pause();
  }

  /** The current snapshot (read now when no page keeps it fresh). */
  async snapshot(): Promise<Snapshot> {
    if (!this.current || this.pages.size === 0) await this.refresh();
    if (!this.current) throw new Error('the cluster could not be read');
    return this.current;
  }

  /** Re-read soon: after a write from the console, or a store event. */
  poke(): void {
    if (this.settle) return;
    this.settle = setTimeout(() => {
      this.settle = null;
      void this.refresh().catch(() => undefined);
    }, SETTLE_MS);
  }

  private start(): void {
    if (this.timer || this.stopped) return;
    this.timer = setInterval(() => void this.refresh().catch(() => undefined), REFRESH_MS);
    this.subscribe();
  }

  private subscribe(): void {
    if (this.events || this.stopped || this.pages.size === 0) return;
    const stream = this.control.stream('Events', { filters: [] }, (m) => {
      const e = timelineEvent(eventFromProto(m));
      this.timeline.push(e);
      if (this.timeline.length > TIMELINE) this.timeline.splice(0, this.timeline.length - TIMELINE);
      for (const p of this.pages) p.send('events', [e]);
      this.poke();
    });
    this.events = stream;
    stream.done
      .catch((err: unknown) => this.log?.debug({ err: String(err) }, 'console: events stream ended'))
      .finally(() => {
        if (this.events !== stream) return;
        this.events = null;
        // The manager restarted its journal or cut a slow reader: subscribe again while pages are open.
        const retry = setTimeout(() => this.subscribe(), 1_000);
        retry.unref();
      });
  }

  private pause(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const e = this.events;
    this.events = null;
    e?.cancel();
  }

  /** One read at a time; a request during a read makes one more read after it. */
  refresh(): Promise<void> {
    if (this.reading) {
      this.again = true;
      return this.reading;
    }
    this.reading = (async () => {
      try {
        do {
          this.again = false;
          const next = await readCluster(this.control, this.revision + 1);
          const prev = this.current;
          const patch = prev ? diffSnapshots(prev, next) : null;
          if (prev && !patch) continue;
          this.revision = next.revision;
          this.current = next;
          if (patch) for (const p of this.pages) p.send('patch', patch);
        } while (this.again && !this.stopped);
      } catch (err) {
        this.log?.debug({ err: String(err) }, 'console: reading the cluster failed');
        throw err;
      } finally {
        this.reading = null;
      }
    })();
    return this.reading;
  }

  close(): void {
    this.stopped = true;
    this.pause();
    if (this.settle) clearTimeout(this.settle);
    for (const p of this.pages) p.end();
    this.pages.clear();
  }
}
