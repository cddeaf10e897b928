// Makes images present on this node, once per image however many tasks ask:
//
// - Single flight: concurrent asks for the same image share one look (inspect)
//   and at most one pull.
// - Back-off after a failure (Kubernetes' ImagePullBackOff): a pull that failed
//   (or an image that is absent where pulling is disabled) is not looked for
//   again for 10 s, doubling per failure up to 5 min, reset by a success.
//   Meanwhile a task that needs the image is refused at once, with no engine
//   call, and a message that says so.
//
// So 20,000 tasks of a missing image cost one inspect and one pull per back-off
// period, and the log says so once per pull, not once per task.
import type { Logger } from 'pino';
import { abortedBy } from '../../../common/limiter.js';
import { ImageNotFoundError } from '../executor.js';

export interface ImagePullerOptions {
  /** True when the image is on the node; throws on engine errors (these are not remembered). */
  present(image: string): Promise<boolean>;
  /**
   * Pulls the image. Throws an ImageNotFoundError when the image cannot be had
   * (registry said no, or did not answer): that starts a back-off. Any other
   * error (the engine itself is away) is passed on and not remembered.
   * Undefined: pulling is disabled on this node.
   */
  pull?: (image: string) => Promise<void>;
  logger: Logger;
  /** First back-off (default 10 s); doubled per consecutive failure. */
  initialBackoffMs?: number;
  /** Longest back-off (default 5 min). */
  maxBackoffMs?: number;
  clock?: () => number;
}

interface Backoff {
  /** Consecutive failures. */
  failures: number;
  /** Not looked for again before this time. */
  retryAt: number;
  /** Why the last attempt failed. */
  reason: string;
  /** Whether a pull was tried (false: absent, pulling disabled). */
  pulled: boolean;
  /** Tasks refused from this back-off, told in the next attempt's log line. */
  refused: number;
  /** The refusal last made, shared by the asks of the same second (an Error per task costs its stack). */
  last?: { inS: number; err: ImageNotFoundError };
}

export interface ImagePullerStats {
  /** Images looked for (inspected) so far. */
  looks: number;
  pulls: number;
  failedPulls: number;
  /** Asks refused from a back-off, without asking the engine. */
  refusedFromBackoff: number;
  /** Images in back-off now. */
  backedOff: number;
}

/** Waits for `p`, or rejects with an AbortError when `signal` aborts first (p goes on). */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal | undefined, what: string): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(abortedBy(signal, `gave up waiting for ${what}`));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortedBy(signal, `gave up waiting for ${what}`));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

export class ImagePuller {
  private readonly o: ImagePullerOptions;
  private readonly clock: () => number;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly backoffs = new Map<string, Backoff>();
  private readonly counters = { looks: 0, pulls: 0, failedPulls: 0, refusedFromBackoff: 0 };

  constructor(options: ImagePullerOptions) {
    this.o = options;
    this.clock = options.clock ?? Date.now;
    this.initialBackoffMs = options.initialBackoffMs ?? 10_000;
    this.maxBackoffMs = Math.max(this.initialBackoffMs, options.maxBackoffMs ?? 5 * 60_000);
  }

  stats(): ImagePullerStats {
    const now = this.clock();
    let backedOff = 0;
    for (const b of this.backoffs.values()) if (now < b.retryAt) backedOff++;
    return { ...this.counters, backedOff };
  }

  /** Milliseconds until `image` may be looked for again; 0 when it may be now. */
  backoffRemainingMs(image: string): number {
    const b = this.backoffs.get(image);
    return b ? Math.max(0, b.retryAt - this.clock()) : 0;
  }

  /**
   * Resolves when `image` is present; throws an ImageNotFoundError (at once,
   * without an engine call, during a back-off), an engine error, or an
   * AbortError when `signal` aborts (a shared look or pull goes on for the others).
   */
  ensure(image: string, signal?: AbortSignal): Promise<void> {
    const b = this.backoffs.get(image);
    if (b && this.clock() < b.retryAt) {
      b.refused++;
      this.counters.refusedFromBackoff++;
      const inS = this.secondsLeft(b);
      if (b.last?.inS !== inS) b.last = { inS, err: this.notFound(image, b) };
      return Promise.reject(b.last.err);
    }
    let flight = this.inFlight.get(image);
    if (!flight) {
      flight = this.look(image);
      this.inFlight.set(image, flight);
      const done = (): void => {
        if (this.inFlight.get(image) === flight) this.inFlight.delete(image);
      };
      void flight.then(done, done);
    }
    return untilAborted(flight, signal, `image ${image}`);
  }

  private async look(image: string): Promise<void> {
    this.counters.looks++;
    if (await this.o.present(image)) {
      this.backoffs.delete(image);
      return;
    }
    const prev = this.backoffs.get(image);
    if (!this.o.pull) throw this.fail(image, prev, 'pulling is disabled on this node', false);
    this.o.logger.info({ image, ...(prev ? { failedPulls: prev.failures, refusedMeanwhile: prev.refused } : {}) }, 'image not present, pulling');
    this.counters.pulls++;
    try {
      await this.o.pull(image);
    } catch (err) {
      if (!(err instanceof ImageNotFoundError)) throw err;
      this.counters.failedPulls++;
      throw this.fail(image, prev, err.reason, true, err);
    }
    this.backoffs.delete(image);
    this.o.logger.info({ image }, 'image pulled');
  }

  private fail(image: string, prev: Backoff | undefined, reason: string, pulled: boolean, cause?: unknown): ImageNotFoundError {
    const now = this.clock();
    // A failure long after the last back-off ended starts over.
    const fresh = !prev || now >= prev.retryAt + this.maxBackoffMs;
    const failures = fresh ? 1 : prev.failures + 1;
    const delayMs = Math.min(this.maxBackoffMs, this.initialBackoffMs * 2 ** Math.min(failures - 1, 30));
    const b: Backoff = { failures, retryAt: now + delayMs, reason, pulled, refused: 0 };
    this.backoffs.set(image, b);
    this.prune(now);
    this.o.logger.warn(
      { image, reason, failures, retryInS: Math.ceil(delayMs / 1000) },
      pulled ? 'image pull failed: tasks that need it are rejected without asking the engine until the retry' : 'image not present and pulling is disabled: tasks that need it are rejected until the next look',
    );
    return this.notFound(image, b, cause);
  }

  private secondsLeft(b: Backoff): number {
    return Math.max(1, Math.ceil((b.retryAt - this.clock()) / 1000));
  }

  private notFound(image: string, b: Backoff, cause?: unknown): ImageNotFoundError {
    const inS = this.secondsLeft(b);
    const note = b.pulled ? `not retried for ${inS} s after ${plural(b.failures, 'failed pull')}` : `not looked for again for ${inS} s`;
    return new ImageNotFoundError(image, `${b.reason}; ${note}`, cause === undefined ? undefined : { cause });
  }

  /** Forgets back-offs that ended long ago (a later failure would start over anyway). */
  private prune(now: number): void {
    if (this.backoffs.size < 64) return;
    for (const [image, b] of this.backoffs) if (now >= b.retryAt + this.maxBackoffMs) this.backoffs.delete(image);
  }
}
