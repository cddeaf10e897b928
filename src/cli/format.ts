// Output formatting with docker's conventions: aligned tables (columns three
// spaces apart, like docker's tabwriter), `--format json`, `-q` for ids only,
// human durations ("5 minutes ago") and sizes ("7.5GiB").
import { quoteArg, UsageError, type FlagSpec, type Flags } from './args.js';

/** An aligned table: a header row, then one line per row; no trailing blanks. */
export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [headers, ...rows];
  const widths = headers.map((_, c) => Math.max(...all.map((r) => (r[c] ?? '').length)));
  const line = (r: readonly string[]): string =>
    r
      .map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c] + 3)))
      .join('')
      .trimEnd();
  return all.map(line).join('\n') + '\n';
}

/** docker's units.HumanDuration: 'Less than a second', '5 minutes', 'About an hour', '3 days', ... */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.round(ms / 3_600_000);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(hours / 24 / 365)} years`;
}

/** '5 minutes ago' for a time in ms since the epoch; '' for 0 (never). */
export function ago(timestamp: number, now: number): string {
  if (!timestamp) return '';
  return `${humanDuration(Math.max(0, now - timestamp))} ago`;
}

/** 'RUNNING' → 'Running', 'on-failure' → 'On-failure'. */
export function titleCase(s: string): string {
  return s.length === 0 ? s : s[0].toUpperCase() + s.slice(1).toLowerCase();
}

/** docker's 12-character ids in tables, unless --no-trunc. */
export function shortId(id: string, noTrunc = false): string {
  return noTrunc ? id : id.slice(0, 12);
}

/** docker's units.BytesSize: '512B', '64MiB', '7.451GiB'. */
export function bytesSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${Number(v.toPrecision(4))}${units[i]}`;
}

/** '2.5' for 2.5e9 nano-CPUs. */
export function cpus(nanoCpus: number): string {
  return String(nanoCpus / 1e9);
}

/** One object per line, as `docker ... ls --format json` prints. */
export function jsonLines(objs: readonly unknown[]): string {
  return objs.map((o) => JSON.stringify(o) + '\n').join('');
}

/** A JSON array, indented like `docker inspect`. */
export function jsonArray(objs: readonly unknown[]): string {
  return JSON.stringify(objs, null, 4) + '\n';
}

export type OutputFormat = 'table' | 'json';

export const FORMAT_FLAG: FlagSpec = { name: 'format', kind: 'string', metavar: 'FORMAT', help: 'output format: table (default) or json' };
export const QUIET_FLAG: FlagSpec = { name: 'quiet', short: 'q', kind: 'bool', help: 'only print ids' };
export const NO_TRUNC_FLAG: FlagSpec = { name: 'no-trunc', kind: 'bool', help: 'do not truncate ids' };

/** The --format of a listing command. */
export function outputFormat(flags: Flags): OutputFormat {
  const f = flags.str('format');
  if (f === undefined || f === '' || f === 'table') return 'table';
  if (f === 'json' || f === '{{json .}}') return 'json';
  throw new UsageError(`unsupported --format ${quoteArg(f)}: use table or json`);
}

/** "key=value, key2" for a label set. */
export function labelList(labels: Readonly<Record<string, string>>): string {
  return Object.entries(labels)
    .map(([k, v]) => (v === '' ? k : `${k}=${v}`))
    .join(', ');
}

/**
 * Key/value lines aligned on the values, for --pretty and `cluster info`:
 * ['Hostname', 'web1'] → 'Hostname:   web1'; a null value makes a section
 * heading ('Status:'); indent a key with spaces to nest it under one.
 */
export function keyValues(rows: readonly (readonly [string, string | null])[]): string {
  const width = Math.max(0, ...rows.filter(([, v]) => v !== null).map(([k]) => k.length + 1));
  return rows.map(([k, v]) => (v === null ? `${k}:` : `${`${k}:`.padEnd(width)}  ${v}`.trimEnd())).join('\n') + '\n';
}
