// Output formatting with docker's conventions: aligned tables (columns three
// spaces apart, like docker's tabwriter), `--format json`, `-q` for ids only,
// human durations ("5 minutes ago") and sizes ("7.5GiB").
import { UsageError, type FlagSpec, type Flags } from './args.js';
import { goJson, parseTemplate, type Template } from './template.js';

const isDigit = (c: number): boolean => c >= 48 && c <= 57;

/**
 * The order docker's lists use for names (`service ls`, `node ls`, `network
 * ls`: github.com/fvbommel/sortorder's NaturalLess), as a comparator: runs of
 * digits compare as numbers (web2 before web10; with equal values, fewer
 * leading zeros first), digits before other characters, anything else by
 * character code. Also cheap: String#localeCompare's first call builds ICU's
 * collator, ~8 ms of a read command's start (bench/cli.ts).
 */
export function naturalCompare(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(j);
    const da = isDigit(ca);
    const db = isDigit(cb);
    if (da !== db) return da ? -1 : 1;
    if (!da) {
      if (ca !== cb) return ca - cb;
      i++;
      j++;
      continue;
    }
    while (i < a.length && a.charCodeAt(i) === 48) i++;
    while (j < b.length && b.charCodeAt(j) === 48) j++;
    const startA = i;
    const startB = j;
    while (i < a.length && isDigit(a.charCodeAt(i))) i++;
    while (j < b.length && isDigit(b.charCodeAt(j))) j++;
    if (i - startA !== j - startB) return i - startA - (j - startB);
    const na = a.slice(startA, i);
    const nb = b.slice(startB, j);
    if (na !== nb) return na < nb ? -1 : 1;
    if (startA !== startB) return startA - startB;
  }
  return a.length - i - (b.length - j);
}

/**
 * Go's text/tabwriter as docker configures it (minwidth 10, padding 3,
 * spaces): cells end at tabs; a column is as wide as its widest cell plus 3,
 * at least 10, over each run of lines that have a cell there; the last cell of
 * a line is written as it is (so a line whose last cell is empty keeps the
 * padding of the one before, as docker's do).
 */
export function tabwrite(lines: readonly (readonly string[])[], minWidth = 10, padding = 3): string {
  const width = (s: string): number => [...s].length;
  const out: string[] = [];
  const widths: number[] = [];
  const writeLines = (from: number, to: number): void => {
    for (let l = from; l < to; l++) {
      const line = lines[l];
      out.push(line.map((cell, j) => (j < widths.length && j < line.length - 1 ? cell + ' '.repeat(Math.max(0, widths[j] - width(cell))) : cell)).join(''));
    }
  };
  const format = (line0: number, line1: number): void => {
    const column = widths.length;
    let from = line0;
    for (let l = line0; l < line1; l++) {
      if (column >= lines[l].length - 1) continue;
      writeLines(from, l);
      let w = minWidth;
      const start = l;
      for (; l < line1 && column < lines[l].length - 1; l++) w = Math.max(w, width(lines[l][column]) + padding);
      widths.push(w);
      format(start, l);
      widths.pop();
      from = l;
      l--;
    }
    writeLines(from, line1);
  };
  format(0, lines.length);
  return out.map((l) => `${l}
`).join('');
}

/** A table as docker prints it: the header row, then one line per row, through tabwrite. */
export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  return tabwrite([headers, ...rows]);
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

/** A time as Go's time.Time String() prints it in UTC (docker's CreatedAt of `network ls`): '2026-12-05 21:28:27.123 +0000 UTC'. */
export function goTimeString(ms: number): string {
  const iso = new Date(ms).toISOString(); // 2026-12-05T21:28:27.123Z
  const frac = iso.slice(20, 23).replace(/0+$/, '');
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${frac ? `.${frac}` : ''} +0000 UTC`;
}

/** A time as Go's JSON has it (RFC 3339 with the fraction's trailing zeros dropped), as docker's inspect prints it: '2026-12-05T21:28:27.12Z'. */
export function goJsonTime(ms: number): string {
  const iso = new Date(ms).toISOString();
  const frac = iso.slice(20, 23).replace(/0+$/, '');
  return `${iso.slice(0, 19)}${frac ? `.${frac}` : ''}Z`;
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

/** One object per line, as `docker ... ls --format json` prints (Go's JSON: <, > and & escaped). */
export function jsonLines(objs: readonly unknown[]): string {
  return objs.map((o) => goJson(o) + '\n').join('');
}

/** A JSON array, indented like `docker inspect`. */
export function jsonArray(objs: readonly unknown[]): string {
  return JSON.stringify(objs, null, 4) + '\n';
}

/** What --format asked for: the default table, one JSON object per line, or a template (with `table`: a table of it, with headers). */
export type OutputFormat = { kind: 'table' } | { kind: 'json' } | { kind: 'template'; template: Template; table: boolean };

export const FORMAT_FLAG: FlagSpec = {
  name: 'format',
  kind: 'string',
  metavar: 'FORMAT',
  help: "output format: table (default), json, a Go template ('{{.Name}} {{.Image}}'), or 'table TEMPLATE' (with headers)",
};
export const QUIET_FLAG: FlagSpec = { name: 'quiet', short: 'q', kind: 'bool', help: 'only print ids' };
/** `service ps` and `node ps`: which tasks. */
export const TASK_FILTER_FLAG: FlagSpec = {
  name: 'filter',
  short: 'f',
  kind: 'list',
  metavar: 'KEY=VALUE',
  help: 'filter: desired-state=running|shutdown|accepted|ready|remove, id=, name= (SERVICE.SLOT...), node=ID|HOSTNAME',
};
export const NO_TRUNC_FLAG: FlagSpec = { name: 'no-trunc', kind: 'bool', help: 'do not truncate output (ids, images, errors)' };

/** The --format of a listing command, as docker reads it: `\\t` and `\\n` written out stand for a tab and a newline. */
export function outputFormat(flags: Flags): OutputFormat {
  const f = flags.str('format');
  if (f === undefined || f === '' || f === 'table') return { kind: 'table' };
  if (f === 'json') return { kind: 'json' };
  const table = /^table\s/.test(f);
  const text = (table ? f.slice('table'.length) : f).trim().replaceAll('\\t', '\t').replaceAll('\\n', '\n');
  return { kind: 'template', template: parseTemplate(text), table };
}

/** What printRows needs beyond the rows: docker's headers for `table TEMPLATE`, the rows' name for errors, and the default table. */
export interface RowsView {
  /** Column headers by field: { Name: 'NAME', DesiredState: 'DESIRED STATE' }. */
  headers: Readonly<Record<string, string>>;
  /** 'service', 'task', ...: names the rows in an error about an unknown field. */
  typeName: string;
  /** The default table. */
  table(): string;
}

/** docker's output of `ls`/`ps` rows in `format` (the rows are docker's objects, keys sorted as docker's JSON has them). */
export function formatRows(format: OutputFormat, rows: readonly Record<string, unknown>[], view: RowsView): string {
  switch (format.kind) {
    case 'table':
      return view.table();
    case 'json':
      return jsonLines(rows);
    default: {
      const opts = { missing: 'field', typeName: view.typeName } as const;
      const lines = rows.map((r) => format.template.execute(r, opts));
      if (!format.table) return lines.map((l) => `${l}\n`).join('');
      const header = format.template.execute(view.headers, { missing: 'empty' });
      return tabwrite([header, ...lines].flatMap((l) => l.split('\n')).map((l) => l.split('\t')));
    }
  }
}

/** `inspect --format`: each object through the template, one per line; without it, docker's indented JSON array. */
export function formatInspect(flags: Flags, objects: readonly unknown[]): string {
  const f = flags.str('format');
  if (f === undefined || f === '' || f === 'json') return jsonArray(objects);
  const template = parseTemplate(f.replaceAll('\\t', '\t').replaceAll('\\n', '\n'));
  return objects.map((o) => `${template.execute(o, { missing: 'key' })}\n`).join('');
}

export const INSPECT_FORMAT_FLAG: FlagSpec = { name: 'format', short: 'f', kind: 'string', metavar: 'TEMPLATE', help: "format the output with a Go template ('{{.Spec.Name}}'), json (the default) or --pretty" };

/** Check inspect's --format before any call: a template that parses, and not with --pretty. */
export function checkInspectFormat(flags: Flags): void {
  const f = flags.str('format');
  if (f !== undefined && f !== '' && f !== 'json') {
    if (flags.bool('pretty')) throw new UsageError('--format and --pretty cannot be combined');
    parseTemplate(f);
  }
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
