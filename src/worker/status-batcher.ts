// Batches task status updates to the managers: a batch leaves when it is full
// (maxBatch) or when its oldest update has waited batchMs, so a burst of tasks
// changing state costs one round trip, and a lone change still goes out fast.
// One batch is in flight at a time and order is kept; a failed send is retried
// with backoff (the dispatcher may be failing over), never dropped, until close.
// Under a backlog (more than `backlog` updates waiting) a task's newer update replaces
// its older one still waiting, as SwarmKit's reporter keeps only the latest per
// task: 20,000 tasks rejected at once are 20,000 updates, not 60,000
// (ACCEPTED, PREPARING, REJECTED each); without a backlog every state goes out.
import { windowDelay } from '../common/window.js';
import { setTimeout as delay } from 'node:timers/promises';
import { pino, type Logger } from 'pino';
import type { TaskStatus } from '../api/objects.js';

export interface StatusUpdate {
  taskId: string;
  status: TaskStatus;
}

/** Delivers one batch; a rejection means "not delivered, send it again". */
export type StatusReporter = (updates: StatusUpdate[]) => Promise<void>;

export interface StatusBatcherOptions {
  report: StatusReporter;
  /** Longest wait before a batch leaves (default 100 ms). */
  batchMs?: number;
  /** Largest batch (default 64). */
  maxBatch?: number;
  /**
   * Past this many updates waiting (not in flight), a task's newer update
   * replaces its older one still waiting instead of queueing behind it
   * (default 4 batches).
   */
  backlog?: number;
  /** First retry delay after a failed send, doubled up to maxRetryMs (defaults 200 ms, 5 s). */
  retryMs?: number;
  maxRetryMs?: number;
  logger?: Logger;
}

/** The size of a batch while a backlog waits (see drain). */
export const BACKLOG_BATCH = 1_000;

export class StatusBatcher {
  private readonly report: StatusReporter;
  private readonly batchMs: number;
  private readonly maxBatch: number;
  private readonly backlog: number;
  /** Updates at the head of the queue being sent now. */
  private inFlight = 0;
  private readonly retryMs: number;
  private readonly maxRetryMs: number;
  private readonly log: Logger;
  private queue: StatusUpdate[] = [];
  /** The queued (not in flight) update of each task, to be replaced under a backlog. */
  private readonly waiting = new Map<string, StatusUpdate>();
  private coalesced = 0;
  private timer: NodeJS.Timeout | undefined;
  /** When the last report went out (performance.now()): a report after a quiet window goes at once (common/window.ts). */
  private lastSentAt = -Infinity;
  private sending: Promise<void> | undefined;
  private readonly closing = new AbortController();

  constructor(options: StatusBatcherOptions) {
    this.report = options.report;
    this.batchMs = options.batchMs ?? 100;
    this.maxBatch = Math.max(1, options.maxBatch ?? 64);
    this.backlog = Math.max(0, options.backlog ?? 4 * this.maxBatch);
    this.retryMs = options.retryMs ?? 200;
    this.maxRetryMs = options.maxRetryMs ?? 5000;
    this.log = options.logger ?? pino({ level: 'silent' });
  }

  /** Updates queued or in flight. */
  get pending(): number {
    return this.queue.length;
  }

  /** Updates that replaced an older one of the same task still waiting (under a backlog). */
  get superseded(): number {
    return this.coalesced;
  }

  push(update: StatusUpdate): void {
    const older = this.waiting.get(update.taskId);
    if (older && this.queue.length - this.inFlight >= this.backlog) {
      older.status = update.status;
      this.coalesced++;
      return;
    }
    const own = { taskId: update.taskId, status: update.status };
    this.waiting.set(own.taskId, own);
    this.queue.push(own);
    if (this.sending) return; // the running drain picks it up
    if (this.queue.length >= this.maxBatch) this.kick();
    else this.timer ??= setTimeout(() => this.kick(), windowDelay(this.lastSentAt, this.batchMs));
  }

  /** Sends everything queued now; resolves when the queue is empty (or closed). */
  async flush(): Promise<void> {
    this.kick();
    while (this.sending) await this.sending;
  }

  /** Flushes, with no more waiting between retries: one last try, then drops what is left. */
  async close(): Promise<void> {
    this.closing.abort();
    await this.flush();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private kick(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.sending || this.queue.length === 0) return;
    this.lastSentAt = performance.now();
    this.sending = this.drain().finally(() => {
      this.sending = undefined;
      // Updates that arrived during the last send wait for the next window.
      if (this.queue.length > 0 && !this.closing.signal.aborted) this.timer ??= setTimeout(() => this.kick(), this.batchMs);
    });
  }

  private async drain(): Promise<void> {
    let backoff = this.retryMs;
    while (this.queue.length > 0) {
      // A backlog (thousands of tasks rejected at once) goes in large batches: one report in flight at a time
      // of maxBatch would take tens of seconds for 20,000 tasks, and the leader writes up to 2,000 per transaction.
      const batch = this.queue.slice(0, this.queue.length > this.backlog ? Math.max(this.maxBatch, BACKLOG_BATCH) : this.maxBatch);
      // In flight now: no longer replaced in place.
      for (const u of batch) if (this.waiting.get(u.taskId) === u) this.waiting.delete(u.taskId);
      this.inFlight = batch.length;
      try {
        await this.report(batch);
        this.queue.splice(0, batch.length);
        this.inFlight = 0;
        backoff = this.retryMs;
      } catch (err) {
        if (this.closing.signal.aborted) {
          this.log.warn({ dropped: this.queue.length, err: String(err) }, 'status report failed while closing; dropping the remaining updates');
          this.queue = [];
          this.waiting.clear();
          this.inFlight = 0;
          return;
        }
        this.log.warn({ updates: batch.length, retryInMs: backoff, err: String(err) }, 'status report failed, will retry');
        try {
          await delay(backoff, undefined, { signal: this.closing.signal });
        } catch {
          // closing: fall through to one last attempt
        }
        backoff = Math.min(backoff * 2, this.maxRetryMs);
      }
    }
  }
}
