// One warning per cause, not one per task: when the engine goes away, every
// running task notices at once. The first line for a key is logged; the same
// key within `windowMs` is only counted, and the count rides on the next line
// logged for it.
import type { Logger } from 'pino';

export class LogThrottle {
  private readonly seen = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly windowMs = 10_000,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Logs `msg` at `level` unless `key` was logged less than windowMs ago. */
  log(logger: Logger, level: 'warn' | 'error', key: string, fields: Record<string, unknown>, msg: string): void {
    const now = this.clock();
    const s = this.seen.get(key);
    if (s && now - s.at < this.windowMs) {
      s.suppressed++;
      return;
    }
    this.seen.set(key, { at: now, suppressed: 0 });
    if (this.seen.size > 256) for (const [k, v] of this.seen) if (now - v.at >= this.windowMs) this.seen.delete(k);
    logger[level]({ ...fields, ...(s && s.suppressed > 0 ? { alikeSinceLast: s.suppressed } : {}) }, msg);
  }
}
