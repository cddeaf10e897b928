// A concurrency limiter: at most `limit` jobs hold a slot at once; the others
// wait in FIFO order, with an optional front-of-the-queue lane for work that
// must not wait behind a backlog. A waiter whose signal aborts leaves the queue
// without ever taking a slot. Counters (in flight, queued, peaks) say how much
// pressure there was, for tests and metrics.

export interface LimiterStats {
  limit: number;
  /** Slots held now. */
  inFlight: number;
  /** Waiters now. */
  queued: number;
  /** The most slots ever held at once. */
  peakInFlight: number;
  /** The most waiters ever at once. */
  peakQueued: number;
  /** Slots handed out so far. */
  acquired: number;
}

export interface AcquireOptions {
  /** Go to the front of the queue (behind earlier priority waiters only). */
  priority?: boolean;
  /** Stop waiting when this aborts: the acquire rejects with an AbortError. */
  signal?: AbortSignal;
}

/** Gives the slot back; calling it again does nothing. */
export type Release = () => void;

interface Waiter {
  grant: (release: Release) => void;
  /** Set when the waiter left (aborted): skipped when its turn comes. */
  gone: boolean;
}

/** A FIFO of waiters; O(1) push and shift, compacted as it drains. */
class Fifo {
  private items: Waiter[] = [];
  private head = 0;

  push(w: Waiter): void {
    this.items.push(w);
  }

  /** The next waiter that has not left, or undefined. */
  shift(): Waiter | undefined {
    while (this.head < this.items.length) {
      const w = this.items[this.head++];
      if (this.head > 1024 && this.head * 2 > this.items.length) {
        this.items = this.items.slice(this.head);
        this.head = 0;
      }
      if (!w.gone) return w;
    }
    this.items = [];
    this.head = 0;
    return undefined;
  }
}

export function abortError(message = 'aborted'): Error {
  return new DOMException(message, 'AbortError');
}

export class Limiter {
  readonly name: string;
  readonly limit: number;
  private inFlight = 0;
  private queued = 0;
  private peakInFlight = 0;
  private peakQueued = 0;
  private acquired = 0;
  private readonly front = new Fifo();
  private readonly back = new Fifo();

  constructor(name: string, limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`limiter ${name}: the limit must be an integer >= 1, got ${limit}`);
    this.name = name;
    this.limit = limit;
  }

  stats(): LimiterStats {
    return { limit: this.limit, inFlight: this.inFlight, queued: this.queued, peakInFlight: this.peakInFlight, peakQueued: this.peakQueued, acquired: this.acquired };
  }

  /** Waits for a slot. Rejects with an AbortError if `signal` aborts first (or already has). */
  acquire(options: AcquireOptions = {}): Promise<Release> {
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(abortError(`gave up waiting for a ${this.name} slot`));
    if (this.inFlight < this.limit) return Promise.resolve(this.take());
    return new Promise<Release>((resolve, reject) => {
      const onAbort = (): void => {
        if (w.gone) return;
        w.gone = true;
        this.queued--;
        reject(abortError(`gave up waiting for a ${this.name} slot`));
      };
      const w: Waiter = {
        gone: false,
        grant: (release) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(release);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      (options.priority ? this.front : this.back).push(w);
      this.queued++;
      if (this.queued > this.peakQueued) this.peakQueued = this.queued;
    });
  }

  /** Runs `job` holding a slot; the slot is given back when its promise settles. */
  async run<T>(job: () => Promise<T>, options?: AcquireOptions): Promise<T> {
    const release = await this.acquire(options);
    try {
      return await job();
    } finally {
      release();
    }
  }

  private take(): Release {
    this.inFlight++;
    this.acquired++;
    if (this.inFlight > this.peakInFlight) this.peakInFlight = this.inFlight;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inFlight--;
      this.handOver();
    };
  }

  private handOver(): void {
    while (this.inFlight < this.limit) {
      const w = this.front.shift() ?? this.back.shift();
      if (!w) return;
      w.gone = true;
      this.queued--;
      w.grant(this.take());
    }
  }
}
