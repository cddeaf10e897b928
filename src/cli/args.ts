// A small command-line parser with docker's conventions: long flags
// (`--name web`, `--name=web`), short flags (`-e A=1`, `-eA=1`, `-qd`),
// repeatable flags, `--` to end the flags, and the value parsers the commands
// share (durations, sizes, CPUs, integers, booleans, enums). The parsers are
// strict, like docker's (Go's strconv, time.ParseDuration, go-units): no
// surrounding blanks, no sign on a count, no trailing junk, enum words as
// written. Every error is a UsageError whose message names the flag and
// quotes at most QUOTE_LIMIT characters of what the user sent (quoteArg).

/** A mistake on the command line: reported on one line, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** At most this many characters of a value the user sent are quoted back in an error. */
export const QUOTE_LIMIT = 100;

// Characters JSON.stringify leaves as they are but a terminal would not show
// on one line or would reorder: DEL and the C1 controls, line and paragraph
// separators, bidirectional overrides and isolates, BOM.
const INVISIBLE = /[\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/g;

/** Characters a terminal would not show on one line, or would reorder, as \uXXXX. */
export function escapeInvisible(s: string): string {
  return s.replace(INVISIBLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * A value the user sent, for an error message: JSON-quoted (so newlines and
 * control characters show as escapes and the message stays on one line), at
 * most `limit` characters of it (never half a surrogate pair), then
 * `… (N more characters)`. A 10 KB argument never comes back whole.
 */
export function quoteArg(value: string, limit = QUOTE_LIMIT): string {
  let n = Math.min(value.length, Math.max(0, limit));
  if (n < value.length && n > 0) {
    const c = value.charCodeAt(n - 1);
    if (c >= 0xd800 && c <= 0xdbff) n -= 1;
  }
  const quoted = escapeInvisible(JSON.stringify(value.slice(0, n)));
  return n === value.length ? quoted : `${quoted}… (${value.length - n} more characters)`;
}

/** `invalid --flag "value": why`, the one shape of a bad flag value. */
export function invalidValue(flag: string, value: string, why: string): UsageError {
  return new UsageError(`invalid ${flag} ${quoteArg(value)}: ${why}`);
}

/** A flag name as the user typed it, quoted when it is not a plain name (it may be anything). */
function shownFlag(dashes: string, name: string): string {
  return /^[A-Za-z0-9][A-Za-z0-9-]{0,63}$/.test(name) ? `${dashes}${name}` : quoteArg(`${dashes}${name}`);
}

/** A name or id the user typed, for a message: as is when it is a plain name, quoted (and clipped) by quoteArg otherwise. */
export function shownName(name: string): string {
  return /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/.test(name) ? name : quoteArg(name);
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
      bools.set(spec.name, parseBool(value, shown));
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
      if (!spec) throw new UsageError(`unknown flag ${shownFlag('--', name)} for \`${opts.command}\` ${hint}`);
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
        if (!spec) throw new UsageError(`unknown flag ${shownFlag('-', c)} for \`${opts.command}\` ${hint}`);
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

/**
 * A boolean as Go's strconv.ParseBool (docker's bool flags) reads it: 1, t,
 * T, TRUE, true, True, 0, f, F, FALSE, false, False; nothing else.
 */
const BOOL_WORDS: Readonly<Record<string, boolean>> = {
  '1': true, t: true, T: true, TRUE: true, true: true, True: true,
  '0': false, f: false, F: false, FALSE: false, false: false, False: false,
};

export function parseBool(value: string, flag: string): boolean {
  const b = Object.hasOwn(BOOL_WORDS, value) ? BOOL_WORDS[value] : undefined;
  if (b === undefined) throw invalidValue(flag, value, 'must be true or false');
  return b;
}

const NS_PER_UNIT: Readonly<Record<string, bigint>> = {
  ns: 1n,
  us: 1_000n,
  '\u00b5s': 1_000n, // µ MICRO SIGN, as Go accepts
  '\u03bcs': 1_000n, // μ GREEK SMALL LETTER MU, as Go accepts
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};
const NS_PER_MS = 1_000_000n;
/** time.Duration's range: 2^63-1 ns, about 292 years. */
const MAX_DURATION_NS = (1n << 63n) - 1n;
const DURATION_EXAMPLE = 'a duration such as 10s, 1m30s or 500ms (units: ns, us, ms, s, m, h)';

/**
 * A duration as Go's time.ParseDuration reads it ('10s', '1m30s', '500ms',
 * '1.5h', '+5s', '0'; units ns, us, µs, ms, s, m, h, case-sensitive; at most
 * 2^63-1 ns), in whole milliseconds, the store's unit. Refused beyond Go:
 * a negative duration (docker's PositiveDurationOpt refuses them too) and
 * one that is not a whole number of milliseconds (never rounded silently).
 * `flag` names the flag in the error ('--update-delay').
 */
export function parseDuration(value: string, flag: string): number {
  const bad = (why: string): never => {
    throw invalidValue(flag, value, why);
  };
  if (value === '') bad(`${DURATION_EXAMPLE} is required`);
  if (/^-[0-9.]/.test(value)) bad('a duration cannot be negative');
  const s = value.startsWith('+') ? value.slice(1) : value;
  if (s === '0') return 0;
  if (s === '') bad(`expected ${DURATION_EXAMPLE}`);
  let total = 0n;
  let i = 0;
  const isDigit = (c: string): boolean => c >= '0' && c <= '9';
  while (i < s.length) {
    // [0-9]*(\.[0-9]*)?
    let j = i;
    while (j < s.length && isDigit(s[j])) j++;
    const whole = s.slice(i, j);
    let frac = '';
    if (j < s.length && s[j] === '.') {
      let k = j + 1;
      while (k < s.length && isDigit(s[k])) k++;
      frac = s.slice(j + 1, k);
      j = k;
    }
    if (whole === '' && frac === '') bad(`expected ${DURATION_EXAMPLE}`);
    // The unit: everything up to the next digit or '.'.
    let k = j;
    while (k < s.length && !isDigit(s[k]) && s[k] !== '.') k++;
    const unit = s.slice(j, k);
    if (unit === '') bad(`the unit is missing: expected ${DURATION_EXAMPLE}`);
    const ns = Object.hasOwn(NS_PER_UNIT, unit) ? NS_PER_UNIT[unit] : undefined;
    if (ns === undefined) bad(`unknown unit ${quoteArg(unit, 20)}: expected ${DURATION_EXAMPLE}`);
    const unitNs = ns as bigint;
    total += BigInt(whole || '0') * unitNs;
    if (frac !== '') total += (BigInt(frac) * unitNs) / 10n ** BigInt(frac.length);
    if (total > MAX_DURATION_NS) bad('the duration is too long (at most 2562047h47m16.854775807s)');
    i = k;
  }
  if (total % NS_PER_MS !== 0n) bad('flotilla keeps durations in whole milliseconds (e.g. 1ms, 1500ms, 1.5s)');
  return Number(total / NS_PER_MS);
}

const SIZE_UNITS: Readonly<Record<string, number>> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };
const SIZE_EXAMPLE = 'expected a size such as 512k, 64m, 1.5g or 1048576 (bytes; units b, k, m, g, t, p, binary)';

/**
 * A size in bytes as docker's RAMInBytes (go-units) reads it: a decimal
 * number, an optional single space, an optional unit k, m, g, t or p (binary,
 * any case) optionally followed by b or ib, or b alone: '64m', '1g', '512k',
 * '1.5GiB', '64 MB', '1048576'. Fractions of a byte are dropped, as docker
 * does. No blanks around it, no sign, no exponent.
 */
export function parseSize(value: string, flag: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?) ?(?:(b)|([kmgtp])(?:i?b)?)?$/i.exec(value);
  if (!m) throw invalidValue(flag, value, SIZE_EXAMPLE);
  const unit = (m[3] ?? '').toLowerCase();
  const bytes = Math.floor(Number(m[1]) * SIZE_UNITS[unit]);
  if (!Number.isSafeInteger(bytes)) throw invalidValue(flag, value, 'the size is too large');
  return bytes;
}

/**
 * CPUs as a decimal number ('0.5', '2', '.25', '1.000000001') in nano-CPUs
 * (1e9 per CPU), like docker's NanoCPUs: at most 9 significant decimals
 * ("value is too precise" in docker). Refused: a sign, a fraction a/b, an
 * exponent, blanks, a value beyond a safe integer of nano-CPUs.
 */
export function parseCpus(value: string, flag: string): number {
  const m = /^(?:([0-9]+)(?:\.([0-9]+))?|\.([0-9]+))$/.exec(value);
  if (!m) throw invalidValue(flag, value, 'expected a number of CPUs such as 0.5 or 2');
  const whole = m[1] ?? '0';
  const frac = m[2] ?? m[3] ?? '';
  if (frac.replace(/0+$/, '').length > 9) throw invalidValue(flag, value, 'at most 9 decimals (nano-CPUs)');
  const nano = BigInt(whole) * 1_000_000_000n + BigInt((frac + '000000000').slice(0, 9));
  if (nano > BigInt(Number.MAX_SAFE_INTEGER)) throw invalidValue(flag, value, 'too many CPUs');
  return Number(nano);
}

/**
 * An integer in [min, max] as docker's integer flags (strconv.ParseUint /
 * ParseInt) read it, but stricter where Go would read the same text
 * differently: decimal digits only, no blanks, no '+', no leading zero
 * ('010' is octal 8 for docker's --replicas), no 0x/0o/0b or '_'; a '-' only
 * when min is negative (and never '-0'). Whatever this accepts, docker reads
 * as the same number. Bad text: `expected an integer in 0..10 (no sign)`; a
 * number out of range: `must be an integer in 0..10`.
 */
export function parseInteger(value: string, flag: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const problem = integerProblem(value, min, max);
  if (problem !== undefined) throw invalidValue(flag, value, `${problem.syntax ? 'expected' : 'must be'} an integer${problem.range}${problem.hint}`);
  return Number(value);
}

/** What parseInteger finds wrong with `value`: bad text (with a hint) or a number out of range; undefined when it takes it. */
export function integerProblem(value: string, min = 0, max = Number.MAX_SAFE_INTEGER): { syntax: boolean; range: string; hint: string } | undefined {
  const unboundedBelow = min <= Number.MIN_SAFE_INTEGER;
  const unboundedAbove = max >= Number.MAX_SAFE_INTEGER;
  const range = unboundedBelow && unboundedAbove ? '' : unboundedAbove ? ` >= ${min}` : unboundedBelow ? ` <= ${max}` : ` in ${min}..${max}`;
  const syntax = (hint: string): { syntax: boolean; range: string; hint: string } => ({ syntax: true, range, hint });
  const signed = min < 0;
  if (!(signed ? /^-?(?:0|[1-9][0-9]*)$/ : /^(?:0|[1-9][0-9]*)$/).test(value) || value === '-0') {
    if (value === '') return syntax('');
    if (/^\s|\s$/.test(value)) return syntax(' (no blanks around it)');
    if (/^[+-]/.test(value)) return syntax(' (no sign)');
    if (/^0[0-9_]/.test(value)) return syntax(' (no leading zeros)');
    if (/^[0-9]+\.[0-9]*$/.test(value)) return syntax(' (a whole number)');
    return syntax(' (decimal digits 0-9 only)');
  }
  // Digits only: compare as a BigInt so that 20 digits are not rounded into range.
  const big = BigInt(value);
  return big < BigInt(Math.max(min, Number.MIN_SAFE_INTEGER)) || big > BigInt(Math.min(max, Number.MAX_SAFE_INTEGER)) ? { syntax: false, range, hint: '' } : undefined;
}

/** A decimal number in [min, max] ('0.25', '.5', '1', '1.'): no sign, exponent, blanks, inf or NaN. */
export function parseNumber(value: string, flag: string, min: number, max: number): number {
  const n = /^(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)$/.test(value) ? Number(value) : NaN;
  if (!Number.isFinite(n) || n < min || n > max) throw invalidValue(flag, value, `expected a number in ${min}..${max}`);
  return n;
}

export interface ChoiceOptions {
  /**
   * Any case ('DRAIN', 'Drain'), where docker is case-insensitive too (its
   * daemon upper-cases node roles and availabilities). Never blanks.
   */
  ignoreCase?: boolean;
}

/**
 * One of a fixed set of words, as written (case-sensitive, like docker's
 * --mode, --restart-condition, --update-order...); `ignoreCase` where docker
 * ignores case. The error suggests the word a near miss meant.
 */
export function parseChoice<T extends string>(value: string, flag: string, choices: readonly T[], opts: ChoiceOptions = {}): T {
  const v = opts.ignoreCase ? value.toLowerCase() : value;
  const hit = choices.find((c) => c === v);
  if (hit !== undefined) return hit;
  const near = choices.find((c) => c === value.trim().toLowerCase());
  throw invalidValue(flag, value, `must be one of ${choices.join(', ')}${near === undefined ? '' : ` (did you mean "${near}"?)`}`);
}

/**
 * `key=value` (or a bare `key`, with `bareValue`), docker's label rules: the
 * key is not empty and has no blanks; the value is anything. A UsageError
 * naming the flag otherwise.
 */
export function parseKeyValue(value: string, flag: string, bareValue?: string): [string, string] {
  const eq = value.indexOf('=');
  const key = eq < 0 ? value : value.slice(0, eq);
  if (eq < 0 && bareValue === undefined) throw invalidValue(flag, value, 'expected KEY=VALUE');
  if (key === '') throw invalidValue(flag, value, bareValue === undefined ? 'the key is empty: expected KEY=VALUE' : 'the key is empty: expected KEY or KEY=VALUE');
  if (/\s/.test(key)) throw invalidValue(flag, value, 'the key contains blanks');
  return eq < 0 ? [key, bareValue as string] : [key, value.slice(eq + 1)];
}

/**
 * A `--filter KEY=VALUE` of the listing commands: parseKeyValue, and no
 * blanks around the value (docker trims them; flotilla would match the
 * blanks, so they are refused rather than silently matching nothing).
 */
export function parseFilter(value: string): [string, string] {
  const [k, v] = parseKeyValue(value, '--filter');
  if (v !== v.trim()) throw invalidValue('--filter', value, 'no blanks around the value');
  return [k, v];
}

/**
 * `--filter KEY=VALUE` flags grouped by key, as docker reads them: the values
 * of one key are OR'ed, different keys AND'ed (by the caller); a key not in
 * `keys` is docker's "invalid filter 'KEY'", with the keys there are.
 */
export function filterGroups(specs: readonly string[], keys: readonly string[]): Map<string, string[]> {
  const byKey = new Map<string, string[]>();
  for (const s of specs) {
    const [k, v] = parseFilter(s);
    const key = k.toLowerCase();
    if (!keys.includes(key)) {
      const shown = /^[A-Za-z0-9._-]{1,40}$/.test(k) ? `'${k}'` : quoteArg(k, 40);
      throw new UsageError(`invalid filter ${shown}: use ${keys.join(', ')}`);
    }
    byKey.set(key, [...(byKey.get(key) ?? []), v]);
  }
  return byKey;
}

/** `--filter label=KEY` or `label=KEY=VALUE` against a label set. */
export function labelMatches(labels: Readonly<Record<string, string>>, v: string): boolean {
  const eq = v.indexOf('=');
  return eq < 0 ? Object.hasOwn(labels, v) : labels[v.slice(0, eq)] === v.slice(eq + 1);
}

/**
 * A key to remove (`--label-rm KEY`, `--env-rm NAME`): what the matching add
 * flag could have set, so never empty, never KEY=VALUE, no blanks. A removal
 * that can match nothing is a mistake, not a no-op.
 */
export function parseRemovalKey(value: string, flag: string, what = 'KEY'): string {
  if (value === '') throw invalidValue(flag, value, `expected a ${what} to remove, got nothing`);
  if (value.includes('=')) throw invalidValue(flag, value, `expected a ${what} alone, not ${what}=VALUE`);
  if (/\s/.test(value)) throw invalidValue(flag, value, `a ${what} has no blanks`);
  return value;
}

/**
 * The fields of a docker-style comma-separated option ('type=bind,src=/a'),
 * read the way docker reads them (Go's encoding/csv, one record): a whole
 * field may be double-quoted to hold commas ('"src=/a,b"'), `""` is a quote
 * inside a quoted field, and a quote anywhere else is refused (Go's "bare
 * quote"). One line only: a newline is refused rather than silently ending
 * the record there.
 */
export function splitFields(value: string, flag: string): string[] {
  const bad = (why: string): never => {
    throw invalidValue(flag, value, why);
  };
  if (/[\r\n]/.test(value)) bad('a newline is not allowed');
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    let field = '';
    if (value[i] === '"') {
      i += 1;
      for (;;) {
        if (i >= value.length) bad('a quoted field is not closed');
        if (value[i] === '"') {
          if (value[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i += 1;
          break;
        }
        field += value[i];
        i += 1;
      }
      if (i < value.length && value[i] !== ',') bad('unexpected text after a closing quote');
    } else {
      const end = value.indexOf(',', i);
      field = end < 0 ? value.slice(i) : value.slice(i, end);
      if (field.includes('"')) bad('a quote may only open a field ("src=/a,b" rather than src="/a,b")');
      i = end < 0 ? value.length : end;
    }
    fields.push(field);
    if (i >= value.length) return fields;
    i += 1; // the comma
  }
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
  if (quote) throw invalidValue(flag, value, `unterminated ${quote} quote`);
  if (inWord) words.push(cur);
  return words;
}
