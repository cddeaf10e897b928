// The node's side of `service logs`: for each log subscription the leader
// sends over the session, read the containers' logs (the executor: since,
// tail, follow, always with the engine's timestamps, which the manager's
// cursors and `-t` need) and send the lines back on a PublishLogs stream of
// the subscription's own, in batches. The first message answers at once (the
// leader gives up on a node that stays silent); `done` ends a stream without
// follow. Each task's lines pass a token bucket: lines over the rate are
// dropped and counted, and the count goes with the next message (the client
// gets a warning). Bounded: at most MAX_SUBSCRIPTIONS at once, batches of
// BATCH_LINES, and reading waits while the stream's buffer is full.
import type * as grpc from '@grpc/grpc-js';
import { pino, type Logger } from 'pino';
import type { control, dispatcher } from '../api/wire.js';
import { TokenBucket } from '../common/token-bucket.js';
import type { Executor, LogEntry } from './exec/executor.js';

export const MAX_SUBSCRIPTIONS = 64;
/** Each task's lines per second, and the burst (a tail of history comes at once). */
export const LINES_PER_SEC = 1_000;
export const BURST_LINES = 10_000;
const BATCH_LINES = 256;
const FLUSH_MS = 100;
/** A longer line is cut (the engine itself splits lines at 16 KiB). */
const MAX_LINE_CHARS = 64 * 1024;

export type PublishOpener = (answered: (err: grpc.ServiceError | null) => void) => { sessionId: string; call: grpc.ClientWritableStream<dispatcher.PublishLogsMessage> } | null;

export interface LogPublisherOptions {
  executor: Pick<Executor, 'logs'>;
  open: PublishOpener;
  logger?: Logger;
  now?: () => number;
  linesPerSec?: number;
  burstLines?: number;
}

/** The engine's 'SECONDS.NANOSECONDS' for an RFC 3339 time (the `since` of the engine's log API). */
export function engineSince(ts: string): string | undefined {
  const m = /^(.*T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(ts);
  if (!m) return undefined;
  const ms = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(ms)) return undefined;
  return `${Math.floor(ms / 1000)}.${(m[2] ?? '').padEnd(9, '0')}`;
}

export class LogPublisher {
  private readonly log: Logger;
  private readonly active = new Map<string, AbortController>();
  private readonly now: () => number;

  constructor(private readonly o: LogPublisherOptions) {
    this.log = (o.logger ?? pino({ level: 'silent' })).child({ component: 'log-publisher' });
    this.now = o.now ?? Date.now;
  }

  /** What the leader sent: subscriptions to start, and ids to stop. */
  apply(added: readonly dispatcher.LogSubscription__Output[], cancelled: readonly string[]): void {
    for (const id of cancelled) this.active.get(id)?.abort();
    for (const sub of added) {
      if (this.active.has(sub.id)) continue;
      const ac = new AbortController();
      this.active.set(sub.id, ac);
      void this.run(sub, ac).finally(() => {
        if (this.active.get(sub.id) === ac) this.active.delete(sub.id);
      });
    }
  }

  stop(): void {
    for (const ac of this.active.values()) ac.abort();
    this.active.clear();
  }

  private async run(sub: dispatcher.LogSubscription__Output, ac: AbortController): Promise<void> {
    const opened = this.o.open(() => ac.abort());
    if (!opened) return;
    const { sessionId, call } = opened;
    call.on('error', () => ac.abort());
    const signal = ac.signal;
    let lines: control.LogLine[] = [];
    const dropped = new Map<string, number>();
    const errors: string[] = [];
    let timer: NodeJS.Timeout | null = null;
    let drained: Promise<void> = Promise.resolve();
    const message = (done: boolean): dispatcher.PublishLogsMessage => {
      const m: dispatcher.PublishLogsMessage = { sessionId, subscriptionId: sub.id, lines, dropped: [...dropped].map(([taskId, count]) => ({ taskId, count })), done, errors: errors.splice(0) };
      lines = [];
      dropped.clear();
      return m;
    };
    const flush = (done = false): Promise<void> => {
      if (timer) clearTimeout(timer);
      timer = null;
      if (signal.aborted) return Promise.resolve();
      if (!call.write(message(done))) {
        // The stream's buffer is full: reading waits until it drains (or the subscription ends).
        drained = new Promise((resolve) => {
          const go = (): void => {
            signal.removeEventListener('abort', go);
            resolve();
          };
          call.once('drain', go);
          signal.addEventListener('abort', go);
        });
      }
      return drained;
    };
    if (this.active.size > MAX_SUBSCRIPTIONS) {
      errors.push(`this node serves ${MAX_SUBSCRIPTIONS} log streams at most: retry once some have ended`);
      await flush(true);
      call.end();
      return;
    }
    // The answer: the leader knows this node heard it.
    await flush();
    const add = async (taskId: string, e: LogEntry, bucket: TokenBucket): Promise<void> => {
      if (!bucket.take(this.now())) {
        dropped.set(taskId, (dropped.get(taskId) ?? 0) + 1);
        return;
      }
      lines.push({ taskId, stream: e.stream === 'stderr' ? 1 : 0, timestamp: e.timestamp ?? '', data: e.line.length > MAX_LINE_CHARS ? e.line.slice(0, MAX_LINE_CHARS) : e.line });
      if (lines.length >= BATCH_LINES) await flush();
      else timer ??= setTimeout(() => void flush(), FLUSH_MS);
    };
    const read = async (src: dispatcher.LogSource__Output): Promise<void> => {
      const bucket = new TokenBucket(this.o.linesPerSec ?? LINES_PER_SEC, this.o.burstLines ?? BURST_LINES, this.now());
      try {
        const since = src.since ? engineSince(src.since) : undefined;
        const entries = this.o.executor.logs(src.containerId, { follow: sub.follow, timestamps: true, signal, ...(src.hasTail ? { tail: src.tail } : {}), ...(since ? { since } : {}) });
        for await (const e of entries) {
          if (signal.aborted) return;
          await drained;
          await add(src.taskId, e, bucket);
        }
      } catch (err) {
        if (signal.aborted) return;
        errors.push(`task ${src.taskId.slice(0, 12)}: its logs cannot be read: ${err instanceof Error ? err.message : String(err)}`);
      }
    };
    await Promise.all(sub.sources.map(read));
    if (timer) clearTimeout(timer);
    if (signal.aborted) {
      call.cancel();
      return;
    }
    await flush(true);
    call.end();
    this.log.debug({ subscription: sub.id, tasks: sub.sources.length }, 'log subscription answered');
  }
}
