// A token bucket: `ratePerSec` tokens a second, up to `burst` saved. take()
// spends one if there is one. Pure apart from the clock, which is passed in.
// Used to rate-limit each task's log lines on its node (src/worker/log-publisher.ts).
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly ratePerSec: number,
    private readonly burst: number,
    now: number,
  ) {
    if (!(ratePerSec > 0) || !(burst >= 1)) throw new RangeError(`a token bucket needs a positive rate and a burst of at least 1 (got ${ratePerSec}/s, ${burst})`);
    this.tokens = burst;
    this.last = now;
  }

  /** Spend one token at `now` (ms); false when there is none (the caller drops or waits). */
  take(now: number): boolean {
    if (now > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.ratePerSec) / 1000);
      this.last = now;
    }
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
