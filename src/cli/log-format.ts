// What `flotilla service logs` prints, as `docker service logs` prints it
// (docker/cli cli/command/service/logs.go): each line prefixed with its
// task's context, `NAME.SLOT.TASKID@NODE` (the task id cut to 12 characters
// unless --no-trunc; without it with --no-task-ids), the slot padded to the
// width of the replica count so that the `|` lines up, then four spaces and
// `| `; with -t the engine's timestamp first; --raw prints the line alone.
// And the parsing of --since and --tail as docker reads them. Pure.
import { invalidValue, parseDuration } from './args.js';
import { shortId } from './format.js';
import type { control } from '../api/wire.js';

export interface LogPrintOptions {
  timestamps: boolean;
  noTaskIds: boolean;
  noTrunc: boolean;
  /** Ids instead of service and node names (docker's --no-resolve). */
  noResolve: boolean;
  raw: boolean;
}

/** Digits of a number in base 10 (docker's getMaxLength). */
function width(n: number): number {
  return String(Math.max(0, Math.trunc(n))).length;
}

/** The context column of a task's lines: `web.2.abcdef123456@node-1` plus the padding that aligns the slots. */
export function logContext(t: control.LogTaskContext__Output, o: Pick<LogPrintOptions, 'noTaskIds' | 'noTrunc' | 'noResolve'>): string {
  const service = o.noResolve ? t.serviceId : t.serviceName || t.serviceId;
  const node = o.noResolve ? t.nodeId : t.nodeName || t.nodeId;
  let name = `${service}.${t.slot}`;
  if (!o.noTaskIds) name += `.${shortId(t.taskId, o.noTrunc)}`;
  const padding = Math.max(0, width(t.replicas) - width(t.slot));
  return `${name}@${node}${' '.repeat(padding)}`;
}

/** One printed line (with its newline). */
export function formatLogLine(line: control.LogLine__Output, t: control.LogTaskContext__Output | undefined, o: LogPrintOptions): string {
  if (o.raw) return `${o.timestamps && line.timestamp ? `${line.timestamp} ` : ''}${line.data}\n`;
  const ctx = t ? logContext(t, o) : shortId(line.taskId, o.noTrunc);
  return `${o.timestamps && line.timestamp ? `${line.timestamp} ` : ''}${ctx}    | ${line.data}\n`;
}

/** --tail: 'all' (every line, undefined) or a number of lines, 0 or more. */
export function parseTail(value: string): number | undefined {
  if (value === 'all') return undefined;
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw invalidValue('--tail', value, 'expected a number of lines (0 or more) or "all"');
  return Number(value);
}

const SINCE_EXAMPLE = 'expected a time (2013-01-02T13:23:37Z, 2013-01-02), a Unix timestamp (1356999817) or a duration back from now (42m, 1h30m)';
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?)?(Z|[+-]\d{2}:\d{2})?$/i;

/**
 * --since as docker reads it (its timetypes.GetTimestamp), in milliseconds
 * since the epoch: a duration back from `now` ("10m", "1h30m"), an RFC 3339
 * time or a shorter form of one (a date, a time without seconds; local time
 * without a zone), or a Unix timestamp in seconds ("1356999817",
 * "1356999817.5").
 */
export function parseSince(value: string, now: number): number {
  if (/^(\d+(\.\d*)?|\.\d+)[a-zµ]/.test(value)) return Math.max(0, now - parseDuration(value, '--since'));
  const m = DATE_TIME.exec(value);
  if (m) {
    const [y, mo, d, h, mi, s] = [m[1], m[2], m[3], m[4] ?? '0', m[5] ?? '0', m[6] ?? '0'].map(Number);
    const ms = Number((m[7] ?? '').padEnd(3, '0').slice(0, 3) || '0');
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 59) throw invalidValue('--since', value, SINCE_EXAMPLE);
    let t: number;
    if (m[8]) {
      const zone = m[8].toUpperCase() === 'Z' ? 0 : (m[8][0] === '-' ? -1 : 1) * (Number(m[8].slice(1, 3)) * 60 + Number(m[8].slice(4, 6)));
      t = Date.UTC(y, mo - 1, d, h, mi, s, ms) - zone * 60_000;
      if (new Date(Date.UTC(y, mo - 1, d)).getUTCDate() !== d) throw invalidValue('--since', value, SINCE_EXAMPLE);
    } else {
      const local = new Date(y, mo - 1, d, h, mi, s, ms);
      if (local.getDate() !== d) throw invalidValue('--since', value, SINCE_EXAMPLE);
      t = local.getTime();
    }
    if (t < 0) throw invalidValue('--since', value, 'a time before 1970 has no logs');
    return t;
  }
  const unix = /^(\d{1,12})(?:\.(\d{1,9}))?$/.exec(value);
  if (unix) return Number(unix[1]) * 1000 + Number((unix[2] ?? '').padEnd(3, '0').slice(0, 3) || '0');
  throw invalidValue('--since', value, SINCE_EXAMPLE);
}
