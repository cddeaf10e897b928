// A small command-line parser with docker's conventions: long flags
// (`--name web`, `--name=web`), short flags (`-e A=1`, `-eA=1`, `-qd`),
// repeatable flags, `--` to end the flags, and the value parsers the commands
// share (durations, sizes, CPUs, integers). Every error is a UsageError whose
// message names the flag.

/** A mistake on the command line: reported on one line, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export type FlagKind = 'bool' | 'string' | 'list';

export interface FlagSpec {
  /** The long name, without dashes: 'limit-memory'. */
  name: string;
  /** A one-letter alias, without the dash: 'e'. */
  short?: string;
  kind: FlagKind;
  /** What the value looks like in the help: 'DURATION', 'KEY=VALUE'. */
  metavar?: string;
  help: string;
}

export interface ParseOptions {
  /** Everything from the first positional argument on is positional (`service create IMAGE CMD -x`). */
  stopAtPositional?: boolean;
  /** Names the command in errors: 'flotilla service create'. */
  command: string;
}

/** The parsed flags of one command. */
export class Flags {
  constructor(
    private readonly values: ReadonlyMap<string, readonly string[]>,
    private readonly bools: ReadonlyMap<string, boolean>,
  ) {}

  /** Whether the flag was given at all. */
  has(name: string): boolean {
    return this.values.has(name) || this.bools.has(name);
  }

  /** The last value of a string flag, or undefined. */
  str(name: string): string | undefined {
    const v = this.values.get(name);
    return v && v.length > 0 ? v[v.length - 1] : undefined;
  }

  /** Every value of a repeatable flag, in order. */
  list(name: string): string[] {
    return [...(this.values.get(name) ?? [])];
  }

  bool(name: string): boolean {
    return this.bools.get(name) ?? false;
  }

  /** The names of the flags that were given. */
  given(): string[] {
    return [...new Set([...this.values.keys(), ...this.bools.keys()])];
  }
}

export interface ParsedArgs {
  flags: Flags;
  positionals: string[];
}

const TRUE = new Set(['true', '1', 'yes']);
const FALSE = new Set(['false', '0', 'no']);

/** Parse `argv` against `specs`; a UsageError for anything unknown or malformed. */
export function parseArgs(argv: readonly string[], specs: readonly FlagSpec[], opts: ParseOptions): ParsedArgs {
  const byLong = new Map(specs.map((s) => [s.name, s]));
  const byShort = new Map(specs.filter((s) => s.short).map((s) => [s.short as string, s]));
  const values = new Map<string, string[]>();
  const bools = new Map<string, boolean>();
  const positionals: string[] = [];
  const hint = `(see: ${opts.command} --help)`;

  const set = (spec: FlagSpec, shown: string, value: string): void => {
    if (spec.kind === 'bool') {
      const v = value.toLowerCase();
      if (!TRUE.has(v) && !FALSE.has(v)) throw new UsageError(`invalid ${shown} ${JSON.stringify(value)}: must be true or false`);
      bools.set(spec.name, TRUE.has(v));
      return;
    }
    const list = values.get(spec.name) ?? [];
    if (spec.kind === 'string') list.length = 0;
    list.push(value);
    values.set(spec.name, list);
  };

  let i = 0;
  const next = (shown: string): string => {
    if (i + 1 >= argv.length) throw new UsageError(`flag ${shown} needs a value ${hint}`);
    i += 1;
    return argv[i];
  };

  for (; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      const spec = byLong.get(name);
      if (!spec) throw new UsageError(`unknown flag --${name} for \`${opts.command}\` ${hint}`);
      const shown = `--${name}`;
      if (eq >= 0) set(spec, shown, arg.slice(eq + 1));
      else if (spec.kind === 'bool') bools.set(spec.name, true);
      else set(spec, shown, next(shown));
      continue;
    }
    if (arg.startsWith('-') && arg.length > 1) {
      // One or more short flags: -q, -qd, -e A=1, -eA=1.
      for (let j = 1; j < arg.length; j++) {
        const c = arg[j];
        const spec = byShort.get(c);
        if (!spec) throw new UsageError(`unknown flag -${c} for \`${opts.command}\` ${hint}`);
        const shown = `-${c}`;
        if (spec.kind === 'bool') {
          bools.set(spec.name, true);
          continue;
        }
        const rest = arg.slice(j + 1);
        set(spec, shown, rest.length > 0 ? rest.replace(/^=/, '') : next(shown));
        break;
      }
      continue;
    }
    positionals.push(arg);
    if (opts.stopAtPositional) {
      positionals.push(...argv.slice(i + 1));
      break;
    }
  }
  return { flags: new Flags(values, bools), positionals };
}

/** The `OPTIONS` section of a command's help. */
export function flagHelp(specs: readonly FlagSpec[]): string {
  const rows = specs.map((s) => {
    const names = s.short ? `-${s.short}, --${s.name}` : `    --${s.name}`;
    const meta = s.kind === 'bool' ? '' : ` ${s.metavar ?? (s.kind === 'list' ? 'VALUE' : 'STRING')}`;
    return [`  ${names}${meta}`, s.help + (s.kind === 'list' ? ' (repeatable)' : '')];
  });
  const width = Math.max(0, ...rows.map(([l]) => l.length));
  return rows.map(([l, h]) => `${l.padEnd(width)}   ${h}`).join('\n');
}

// ------------------------------------------------------------ value parsers

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * A duration as Go writes them ('10s', '1m30s', '500ms', '1.5h', '0'), in
 * whole milliseconds. `flag` names the flag in the error ('--update-delay').
 */
export function parseDuration(value: string, flag: string): number {
  const bad = (why: string): never => {
    throw new UsageError(`invalid ${flag} ${JSON.stringify(value)}: ${why}`);
  };
  const s = value.trim();
  if (s === '0') return 0;
  if (s.length === 0) bad('a duration such as 10s, 1m30s or 500ms is required');
  if (s.startsWith('-')) bad('a duration cannot be negative');
  const re = /(\d+(?:\.\d*)?|\.\d+)(ms|s|m|h)/y;
  let total = 0;
  let pos = 0;
  while (pos < s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (!m) bad('expected a duration such as 10s, 1m30s or 500ms (units: ms, s, m, h)');
    const [whole, num, unit] = m as RegExpExecArray;
    total += Number(num) * DURATION_UNITS[unit];
    pos += whole.length;
  }
  const ms = Math.round(total);
  if (!Number.isSafeInteger(ms)) bad('the duration is too long');
  if (ms === 0 && total > 0) bad('the smallest duration is 1ms');
  return ms;
}

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

/** A size in bytes, docker's RAMInBytes: '64m', '1g', '512k', '1.5GiB', '1048576' (binary units). */
export function parseSize(value: string, flag: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?\s*$/i.exec(value);
  if (!m) throw new UsageError(`invalid ${flag} ${JSON.stringify(value)}: expected a size such as 512k, 64m or 1g`);
  const bytes = Math.floor(Number(m[1]) * SIZE_UNITS[m[2].toLowerCase()]);
  if (!Number.isSafeInteger(bytes)) throw new UsageError(`invalid ${flag} ${JSON.stringify(value)}: the size is too large`);
  return bytes;
}

/** CPUs as a decimal ('0.5', '2') in nano-CPUs (1e9 per CPU), at most 9 decimals. */
export function parseCpus(value: string, flag: string): number {
  const m = /^\s*(\d*)(?:\.(\d*))?\s*$/.exec(value);
  if (!m || (m[1] === '' && (m[2] ?? '') === '')) {
    throw new UsageError(`invalid ${flag} ${JSON.stringify(value)}: expected a number of CPUs such as 0.5 or 2`);
  }
  const frac = m[2] ?? '';
  if (frac.replace(/0+$/, '').length > 9) throw new UsageError(`invalid ${flag} ${JSON.stringify(value)}: at most 9 decimals (nano-CPUs)`);
  const nano = Number(m[1] || '0') * 1e9 + Number((frac + '000000000').slice(0, 9));
  if (!Number.isSafeInteger(nano)) throw new UsageError(`invalid ${flag} ${JSON.stringify(value)}: too many CPUs`);
  return nano;
}

/** A non-negative integer (or one in [min, max]). */
export function parseInteger(value: string, flag: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const s = value.trim();
  if (!/^-?\d+$/.test(s)) throw new UsageError(`invalid ${flag} ${JSON.stringify(value)}: expected an integer`);
  const n = Number(s);
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in ${min}..${max}`;
    throw new UsageError(`invalid ${flag} ${JSON.stringify(value)}: must be an integer ${range}`);
  }
  return n;
}

/** A decimal number in [min, max]. */
export function parseNumber(value: string, flag: string, min: number, max: number): number {
  const s = value.trim();
  const n = /^\d*\.?\d+$|^\d+\.$/.test(s) ? Number(s) : NaN;
  if (!Number.isFinite(n) || n < min || n > max) throw new UsageError(`invalid ${flag} ${JSON.stringify(value)}: expected a number in ${min}..${max}`);
  return n;
}

/** One of a fixed set of words (case-insensitive). */
export function parseChoice<T extends string>(value: string, flag: string, choices: readonly T[]): T {
  const v = value.trim().toLowerCase();
  const hit = choices.find((c) => c === v);
  if (hit === undefined) throw new UsageError(`invalid ${flag} ${JSON.stringify(value)}: must be one of ${choices.join(', ')}`);
  return hit;
}

/** `key=value` (or a bare `key`, with `bareValue`); a UsageError naming the flag otherwise. */
export function parseKeyValue(value: string, flag: string, bareValue?: string): [string, string] {
  const eq = value.indexOf('=');
  if (eq < 0) {
    if (bareValue !== undefined && value.length > 0) return [value, bareValue];
    throw new UsageError(`invalid ${flag} ${JSON.stringify(value)}: expected KEY=VALUE`);
  }
  if (eq === 0) throw new UsageError(`invalid ${flag} ${JSON.stringify(value)}: the key is empty`);
  return [value.slice(0, eq), value.slice(eq + 1)];
}

/**
 * Split a command line into words like a POSIX shell does for quoting (no
 * expansion): `sh -c "echo hi"` → ['sh', '-c', 'echo hi'].
 */
export function splitShellWords(value: string, flag: string): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (quote === "'") {
      if (c === "'") quote = null;
      else cur += c;
    } else if (quote === '"') {
      if (c === '"') quote = null;
      else if (c === '\\' && i + 1 < value.length && '"\\$`'.includes(value[i + 1])) cur += value[++i];
      else cur += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < value.length) {
      cur += value[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (quote) throw new UsageError(`invalid ${flag} ${JSON.stringify(value)}: unterminated ${quote} quote`);
  if (inWord) words.push(cur);
  return words;
}
