// Splits the engine's log stream into lines tagged stdout/stderr. Without a TTY
// the engine multiplexes both streams into frames: an 8-byte header (stream
// type, 3 zero bytes, big-endian payload length) then the payload. Frames do
// not align with lines, so partial lines are kept per stream until their
// newline (or the end) arrives.
import type { LogEntry } from '../executor.js';

const HEADER = 8;
// RFC 3339 with nanoseconds, as the engine prefixes lines when asked for timestamps.
const TIMESTAMP = /^(\d{4}-\d{2}-\d{2}T\S+)\s(.*)$/s;

export class LogDemuxer {
  private pending: Buffer = Buffer.alloc(0);
  private partial: Record<LogEntry['stream'], string> = { stdout: '', stderr: '' };
  /** A TTY container's logs are raw bytes, not frames: decided on the first chunk. */
  private raw: boolean | undefined;

  constructor(private readonly timestamps: boolean) {}

  /** The complete lines `chunk` finishes. */
  push(chunk: Buffer): LogEntry[] {
    const out: LogEntry[] = [];
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    if (this.raw === undefined && this.pending.length > 0) {
      const b = this.pending;
      this.raw = !(b[0] <= 2 && (b.length < 4 || (b[1] === 0 && b[2] === 0 && b[3] === 0)));
    }
    if (this.raw) {
      this.text('stdout', this.pending.toString('utf8'), out);
      this.pending = Buffer.alloc(0);
      return out;
    }
    while (this.pending.length >= HEADER) {
      const size = this.pending.readUInt32BE(4);
      if (this.pending.length < HEADER + size) break;
      const stream = this.pending[0] === 2 ? 'stderr' : 'stdout';
      this.text(stream, this.pending.subarray(HEADER, HEADER + size).toString('utf8'), out);
      this.pending = this.pending.subarray(HEADER + size);
    }
    return out;
  }

  /** The last, unterminated lines. */
  end(): LogEntry[] {
    const out: LogEntry[] = [];
    for (const stream of ['stdout', 'stderr'] as const) {
      if (this.partial[stream]) out.push(this.entry(stream, this.partial[stream]));
      this.partial[stream] = '';
    }
    return out;
  }

  private text(stream: LogEntry['stream'], s: string, out: LogEntry[]): void {
    const parts = (this.partial[stream] + s).split('\n');
    this.partial[stream] = parts.pop() ?? '';
    for (const line of parts) out.push(this.entry(stream, line));
  }

  private entry(stream: LogEntry['stream'], line: string): LogEntry {
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (this.timestamps) {
      const m = TIMESTAMP.exec(line);
      if (m) return { stream, line: m[2], timestamp: m[1] };
    }
    return { stream, line };
  }
}
