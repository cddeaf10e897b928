// The trace of a run: a rolling hash of every event line (two runs of one
// seed must hash the same), the last lines for a violation report, and
// optionally every line for `npm run sim -- --trace`.

export class Trace {
  private h1 = 0x811c9dc5;
  private h2 = 0x12345678;
  private ring: string[] = [];
  private ringPos = 0;
  readonly all: string[] | null;
  lines = 0;

  constructor(
    keepAll: boolean,
    private readonly ringSize = 60,
  ) {
    this.all = keepAll ? [] : null;
  }

  add(time: number, text: string): void {
    const line = `${time} ${text}`;
    let a = this.h1;
    let b = this.h2;
    for (let i = 0; i < line.length; i++) {
      const c = line.charCodeAt(i);
      a = Math.imul(a ^ c, 0x01000193);
      b = Math.imul(b ^ c, 0x5bd1e995) ^ (b >>> 15);
    }
    this.h1 = Math.imul(a ^ 10, 0x01000193);
    this.h2 = b;
    this.lines++;
    if (this.ring.length < this.ringSize) this.ring.push(line);
    else {
      this.ring[this.ringPos] = line;
      this.ringPos = (this.ringPos + 1) % this.ringSize;
    }
    this.all?.push(line);
  }

  hash(): string {
    return (this.h1 >>> 0).toString(16).padStart(8, '0') + (this.h2 >>> 0).toString(16).padStart(8, '0');
  }

  last(): string[] {
    return this.ring.length < this.ringSize ? this.ring.slice() : this.ring.slice(this.ringPos).concat(this.ring.slice(0, this.ringPos));
  }
}
