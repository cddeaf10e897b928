// The CLI's flag parser and value parsers: docker's flag syntax, and errors
// that name the flag.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  integerProblem,
  parseArgs,
  parseBool,
  parseChoice,
  parseCpus,
  parseDuration,
  parseInteger,
  parseKeyValue,
  parseNumber,
  parseRemovalKey,
  parseSize,
  QUOTE_LIMIT,
  quoteArg,
  splitFields,
  splitShellWords,
  UsageError,
  type FlagSpec,
} from '../../src/cli/args.js';

const SPECS: FlagSpec[] = [
  { name: 'name', kind: 'string', help: '' },
  { name: 'env', short: 'e', kind: 'list', help: '' },
  { name: 'quiet', short: 'q', kind: 'bool', help: '' },
  { name: 'detach', short: 'd', kind: 'bool', help: '' },
  { name: 'replicas', kind: 'string', help: '' },
];

const parse = (argv: string[], stopAtPositional = false) => parseArgs(argv, SPECS, { command: 'flotilla x', stopAtPositional });

function usage(pattern: RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof UsageError, `expected a UsageError, got ${String(err)}`);
    assert.match(err.message, pattern);
    return true;
  };
}

test('long, short, repeated and --flag=value forms', () => {
  const { flags, positionals } = parse(['--name', 'web', '-e', 'A=1', '-eB=2', '--env=C=3', '-qd', 'busybox', '--replicas=3']);
  assert.equal(flags.str('name'), 'web');
  assert.deepEqual(flags.list('env'), ['A=1', 'B=2', 'C=3']);
  assert.equal(flags.bool('quiet'), true);
  assert.equal(flags.bool('detach'), true);
  assert.equal(flags.str('replicas'), '3');
  assert.deepEqual(positionals, ['busybox']);
  assert.equal(flags.has('name'), true);
  assert.equal(flags.has('env'), true);
  assert.equal(flags.bool('missing'), false);
  assert.deepEqual(flags.given().sort(), ['detach', 'env', 'name', 'quiet', 'replicas']);
});

test('a string flag given twice keeps the last value; bools take =true/=false', () => {
  const { flags } = parse(['--name', 'a', '--name', 'b', '--quiet=false', '--detach=true']);
  assert.equal(flags.str('name'), 'b');
  assert.equal(flags.bool('quiet'), false);
  assert.equal(flags.bool('detach'), true);
  assert.throws(() => parse(['--quiet=maybe']), usage(/invalid --quiet "maybe": must be true or false/));
});

test('stopAtPositional: everything after IMAGE belongs to the command; -- ends flags', () => {
  const { flags, positionals } = parse(['-q', 'busybox', 'sh', '-c', '--name', 'x'], true);
  assert.equal(flags.bool('quiet'), true);
  assert.equal(flags.str('name'), undefined);
  assert.deepEqual(positionals, ['busybox', 'sh', '-c', '--name', 'x']);
  assert.deepEqual(parse(['--', '-q', 'x']).positionals, ['-q', 'x']);
  // Without stopAtPositional, flags may come after positionals.
  assert.equal(parse(['web', '--name', 'n']).flags.str('name'), 'n');
});

test('a value flag takes the next word even when it starts with a dash', () => {
  assert.equal(parse(['--replicas', '-1']).flags.str('replicas'), '-1');
});

test('unknown flags and missing values name the flag and the command', () => {
  assert.throws(() => parse(['--nope']), usage(/^unknown flag --nope for `flotilla x` \(see: flotilla x --help\)$/));
  assert.throws(() => parse(['-z']), usage(/unknown flag -z/));
  assert.throws(() => parse(['--name']), usage(/flag --name needs a value/));
  assert.throws(() => parse(['-e']), usage(/flag -e needs a value/));
});

test('durations: Go syntax, in whole milliseconds', () => {
  assert.equal(parseDuration('10s', '--d'), 10_000);
  assert.equal(parseDuration('1m30s', '--d'), 90_000);
  assert.equal(parseDuration('500ms', '--d'), 500);
  assert.equal(parseDuration('1h', '--d'), 3_600_000);
  assert.equal(parseDuration('1.5s', '--d'), 1_500);
  assert.equal(parseDuration('2h45m', '--d'), 9_900_000);
  assert.equal(parseDuration('0', '--d'), 0);
  assert.equal(parseDuration('0s', '--d'), 0);
  for (const bad of ['10', 'abc', '-1s', '', '10x', '1s2', 's']) {
    assert.throws(() => parseDuration(bad, '--update-delay'), usage(/^invalid --update-delay /), bad);
  }
  assert.throws(() => parseDuration('10', '--restart-delay'), usage(/such as 10s, 1m30s or 500ms/));
});

test('sizes: binary units like docker', () => {
  assert.equal(parseSize('64m', '--m'), 64 * 2 ** 20);
  assert.equal(parseSize('1g', '--m'), 2 ** 30);
  assert.equal(parseSize('512k', '--m'), 512 * 1024);
  assert.equal(parseSize('1024', '--m'), 1024);
  assert.equal(parseSize('1.5GiB', '--m'), 1.5 * 2 ** 30);
  assert.equal(parseSize('64MB', '--m'), 64 * 2 ** 20);
  assert.equal(parseSize('100b', '--m'), 100);
  for (const bad of ['', 'lots', '1x', '-1m', '1 g b']) assert.throws(() => parseSize(bad, '--limit-memory'), usage(/^invalid --limit-memory/), bad);
});

test('CPUs as nano-CPUs', () => {
  assert.equal(parseCpus('0.5', '--c'), 500_000_000);
  assert.equal(parseCpus('2', '--c'), 2_000_000_000);
  assert.equal(parseCpus('.25', '--c'), 250_000_000);
  assert.equal(parseCpus('1.000000001', '--c'), 1_000_000_001);
  assert.throws(() => parseCpus('0.0000000001', '--limit-cpu'), usage(/at most 9 decimals/));
  for (const bad of ['', 'x', '-1', '1.2.3', '.']) assert.throws(() => parseCpus(bad, '--limit-cpu'), usage(/^invalid --limit-cpu/), bad);
});

test('integers, numbers, choices, key=value, shell words', () => {
  assert.equal(parseInteger('3', '--replicas'), 3);
  assert.throws(() => parseInteger('-1', '--replicas'), usage(/invalid --replicas "-1": expected an integer >= 0 \(no sign\)$/));
  assert.throws(() => parseInteger('1.5', '--replicas'), usage(/expected an integer >= 0 \(a whole number\)$/));
  assert.throws(() => parseInteger('11', '--n', 0, 10), usage(/in 0\.\.10/));
  assert.equal(parseNumber('0.25', '--r', 0, 1), 0.25);
  assert.throws(() => parseNumber('2', '--update-max-failure-ratio', 0, 1), usage(/--update-max-failure-ratio "2": expected a number in 0..1/));
  assert.equal(parseChoice('DRAIN', '--availability', ['active', 'pause', 'drain'] as const, { ignoreCase: true }), 'drain');
  assert.throws(() => parseChoice('off', '--availability', ['active', 'pause', 'drain'] as const), usage(/must be one of active, pause, drain/));
  assert.deepEqual(parseKeyValue('a=b=c', '--label'), ['a', 'b=c']);
  assert.deepEqual(parseKeyValue('a', '--label', ''), ['a', '']);
  assert.throws(() => parseKeyValue('a', '--env-add'), usage(/expected KEY=VALUE/));
  assert.throws(() => parseKeyValue('=b', '--label'), usage(/the key is empty/));
  assert.deepEqual(splitShellWords(`sh -c "echo 'hi there'" a\\ b ''`, '--args'), ['sh', '-c', "echo 'hi there'", 'a b', '']);
  assert.throws(() => splitShellWords('echo "oops', '--args'), usage(/unterminated " quote/));
});

// ------------------------------------------------------------ strict parsing (issue 13)
// Each parser, table-driven: what it takes (with the value) and what it
// refuses (always a UsageError naming the flag, never a TypeError or a
// RangeError). Docker's reading of the same text is in the comments.

/** Every refusal of `parse` is a UsageError that starts with `invalid FLAG "`, on one line. */
function refuses(parse: (v: string, flag: string) => unknown, flag: string, inputs: readonly string[], pattern?: RegExp): void {
  for (const input of inputs) {
    assert.throws(
      () => parse(input, flag),
      (err: unknown) => {
        assert.ok(err instanceof UsageError, `${JSON.stringify(input)}: expected a UsageError, got ${String(err)}`);
        assert.ok(err.message.startsWith(`invalid ${flag} "`), `${JSON.stringify(input)}: ${err.message}`);
        assert.doesNotMatch(err.message, /\n/, 'one line');
        if (pattern) assert.match(err.message, pattern, JSON.stringify(input));
        return true;
      },
      JSON.stringify(input),
    );
  }
}

function takes<T>(parse: (v: string, flag: string) => T, table: readonly (readonly [string, T])[]): void {
  for (const [input, want] of table) assert.deepEqual(parse(input, '--x'), want, JSON.stringify(input));
}

const HUGE = '9'.repeat(40);

test('counts (--replicas, --restart-max-attempts...): decimal digits, no sign, blanks, leading zero, base prefix', () => {
  const replicas = (v: string, f: string): number => parseInteger(v, f, 0, 100_000);
  takes(replicas, [['0', 0], ['3', 3], ['100000', 100_000]]);
  // docker's Uint64Opt is strconv.ParseUint(s, 0, 64): it refuses a sign and blanks too, reads 010 as 8 and 0x10 as 16;
  // flotilla refuses what docker would read differently from the plain decimal.
  refuses(replicas, '--replicas', [' 3', '3 ', '\t3', '3\n'], /expected an integer in 0\.\.100000 \(no blanks around it\)$/);
  refuses(replicas, '--replicas', ['-0', '+3', '-1', '+0'], /expected an integer in 0\.\.100000 \(no sign\)$/);
  refuses(replicas, '--replicas', ['010', '00', '0_1'], /\(no leading zeros\)$/);
  refuses(replicas, '--replicas', ['0x10', '0b1', '0o7', '1_000', '1e3', '３', '٣', 'three', '3x', 'Infinity', 'NaN'], /\(decimal digits 0-9 only\)$/);
  refuses(replicas, '--replicas', ['1.5', '3.', '3.0'], /\(a whole number\)$/);
  refuses(replicas, '--replicas', [''], /expected an integer in 0\.\.100000$/);
  refuses(replicas, '--replicas', ['100001', HUGE, String(2 ** 53 + 1)], /must be an integer in 0\.\.100000$/);
  // Without an upper bound: the largest safe integer, and not one more (no rounding into range).
  assert.equal(parseInteger(String(Number.MAX_SAFE_INTEGER), '--n'), Number.MAX_SAFE_INTEGER);
  refuses(parseInteger, '--n', [String(Number.MAX_SAFE_INTEGER + 1), HUGE], /must be an integer >= 0$/);
  assert.equal(integerProblem('7', 1, 10), undefined);
  assert.deepEqual(integerProblem('0', 1, 10), { syntax: false, range: ' in 1..10', hint: '' });
  // Signed (a negative min): '-' allowed, never '-0' or '+'; no range shown when unbounded.
  assert.equal(parseInteger('-5', '--n', Number.MIN_SAFE_INTEGER), -5);
  assert.equal(parseInteger('0', '--n', -10, 10), 0);
  refuses((v, f) => parseInteger(v, f, Number.MIN_SAFE_INTEGER), '--heartbeat-grace', ['x', '-0', '+5', '- 5', '--5', '-05'], /expected an integer( \(.*\))?$/);
  refuses((v, f) => parseInteger(v, f, Number.MIN_SAFE_INTEGER), '--heartbeat-grace', [`-${HUGE}`, HUGE], /must be an integer$/);
  refuses((v, f) => parseInteger(v, f, -10, 10), '--n', ['-11', '11'], /must be an integer in -10\.\.10$/);
});

test('booleans: exactly the words of Go strconv.ParseBool', () => {
  for (const t of ['1', 't', 'T', 'TRUE', 'true', 'True']) assert.equal(parseBool(t, '--x'), true, t);
  for (const f of ['0', 'f', 'F', 'FALSE', 'false', 'False']) assert.equal(parseBool(f, '--x'), false, f);
  refuses(parseBool, '--detach', ['', 'yes', 'no', 'tRUE', ' true', 'true ', 'on', '2', '__proto__', 'constructor'], /must be true or false$/);
  // Through the flag parser: --detach=TRUE is docker's --detach=TRUE.
  assert.equal(parse(['--detach=TRUE', '--quiet=F']).flags.bool('detach'), true);
  assert.equal(parse(['--detach=TRUE', '--quiet=F']).flags.bool('quiet'), false);
  assert.throws(() => parse(['--quiet=yes']), usage(/^invalid --quiet "yes": must be true or false$/));
});

test('durations: Go time.ParseDuration, in whole milliseconds, never negative', () => {
  takes(parseDuration, [
    ['0', 0], ['+0', 0], ['0s', 0], ['0.0h', 0],
    ['10s', 10_000], ['+10s', 10_000], ['1m30s', 90_000], ['1.5h', 5_400_000], ['.5s', 500], ['1.s', 1_000], ['01s', 1_000],
    ['1000us', 1], ['1000\u00b5s', 1], ['1000\u03bcs', 1], ['1000000ns', 1], ['1h1m1s1ms', 3_661_001], ['2562047h', 2_562_047 * 3_600_000],
  ]);
  refuses(parseDuration, '--update-delay', ['-1s', '-0', '-0s', '-.5s'], /a duration cannot be negative$/);
  refuses(parseDuration, '--update-delay', ['10', '1s2', '1.5'], /the unit is missing/);
  refuses(parseDuration, '--update-delay', ['1S', '1H', '1sec', '1 s', '1s ', '1d', '1y'], /unknown unit/);
  refuses(parseDuration, '--update-delay', [' 1s', '\t1s', 's', '.s', '+', '++1s', '+-1s', 'abc', '１s', '1_000s'], /expected a duration/);
  refuses(parseDuration, '--update-delay', ['1us', '1500us', '1.5ms', '0.0001s', '1ns'], /whole milliseconds/);
  refuses(parseDuration, '--update-delay', ['2562048h', '9223372036854775808ns', `${HUGE}h`], /too long/);
  refuses(parseDuration, '--update-delay', [''], /is required$/);
});

test('sizes: docker RAMInBytes (binary units, optional b/ib, one inner space), nothing around', () => {
  takes(parseSize, [
    ['0', 0], ['1024', 1024], ['64m', 64 * 2 ** 20], ['64M', 64 * 2 ** 20], ['64MB', 64 * 2 ** 20], ['64mib', 64 * 2 ** 20], ['64 MiB', 64 * 2 ** 20],
    ['1g', 2 ** 30], ['1.5GiB', 1.5 * 2 ** 30], ['512k', 512 * 1024], ['100b', 100], ['100B', 100], ['1t', 2 ** 40], ['2p', 2 * 2 ** 50], ['0.5k', 512], ['0.3k', 307],
  ]);
  refuses(parseSize, '--limit-memory', [' 64m', '64m ', '64  m', '\t64m', '-1m', '+1m', '1e3', '0x10', '.5m', '5.m', '1.2.3m', '64ib', '64mi', '64i', '64mbb', '1x', 'lots', '', 'm', '６４m', '64m\n'], /expected a size/);
  refuses(parseSize, '--limit-memory', ['9p', `${HUGE}`, '8192t'], /too large/);
});

test('CPUs: docker NanoCPUs decimals (9 at most), no sign, fraction or exponent', () => {
  takes(parseCpus, [['0.5', 5e8], ['2', 2e9], ['.25', 2.5e8], ['010', 1e10], ['1.000000001', 1_000_000_001], ['1.5000000000', 1.5e9], ['0', 0]]);
  refuses(parseCpus, '--limit-cpu', ['0.0000000001'], /at most 9 decimals/);
  refuses(parseCpus, '--limit-cpu', ['', ' 1', '1 ', '-1', '+1', '1/2', '1e3', '1.', '.', '1.2.3', 'x', '０.5', 'NaN', 'Infinity'], /expected a number of CPUs/);
  refuses(parseCpus, '--limit-cpu', [HUGE, '9007200'], /too many CPUs/);
});

test('ratios: decimal in range, no sign, exponent, blanks, inf or NaN', () => {
  takes((v, f) => parseNumber(v, f, 0, 1), [['0', 0], ['1', 1], ['0.25', 0.25], ['.5', 0.5], ['1.', 1], ['0.000', 0]]);
  refuses((v, f) => parseNumber(v, f, 0, 1), '--update-max-failure-ratio', ['', ' 0.5', '0.5 ', '+0.5', '-0', '5e-1', 'inf', 'NaN', '1.5', HUGE, '0,5', '.'], /expected a number in 0\.\.1$/);
});

test('enum words: as written (docker: --mode, --restart-condition, --update-order...), or any case where docker ignores it', () => {
  const modes = ['replicated', 'global'] as const;
  assert.equal(parseChoice('global', '--mode', modes), 'global');
  refuses((v, f) => parseChoice(v, f, modes), '--mode', ['GLOBAL', 'Global', ' global'], /must be one of replicated, global \(did you mean "global"\?\)$/);
  refuses((v, f) => parseChoice(v, f, modes), '--mode', ['', 'both', 'constructor', '__proto__', 'global\u0000'], /must be one of replicated, global$/);
  const avail = ['active', 'pause', 'drain'] as const;
  // The finding: --availability DRAIN was taken.
  refuses((v, f) => parseChoice(v, f, avail), '--availability', ['DRAIN', 'Drain'], /^invalid --availability "(DRAIN|Drain)": must be one of active, pause, drain \(did you mean "drain"\?\)$/);
  // ignoreCase is for the words docker's CLI itself lower-cases (a port's protocol, a mount's type, filters).
  assert.equal(parseChoice('DRAIN', '--availability', avail, { ignoreCase: true }), 'drain');
  assert.equal(parseChoice('Pause', '--availability', avail, { ignoreCase: true }), 'pause');
  refuses((v, f) => parseChoice(v, f, avail, { ignoreCase: true }), '--availability', [' drain', 'drain ', 'DRAIN\n'], /\(did you mean "drain"\?\)$/);
});

test('key=value: docker label rules (key not empty, no blanks); removal keys name something', () => {
  assert.deepEqual(parseKeyValue('a=b=c', '--label'), ['a', 'b=c']);
  assert.deepEqual(parseKeyValue('a=', '--label'), ['a', '']);
  assert.deepEqual(parseKeyValue('a', '--label', ''), ['a', '']);
  assert.deepEqual(parseKeyValue('__proto__=x', '--label'), ['__proto__', 'x']);
  refuses((v, f) => parseKeyValue(v, f, ''), '--label-add', ['', '=x'], /the key is empty/);
  refuses((v, f) => parseKeyValue(v, f, ''), '--label-add', [' a=b', 'a b=c', 'a\t=b', 'a\n'], /the key contains blanks$/);
  refuses(parseKeyValue, '--env-add', ['A'], /expected KEY=VALUE$/);
  assert.equal(parseRemovalKey('zone', '--label-rm'), 'zone');
  refuses(parseRemovalKey, '--label-rm', [''], /expected a KEY to remove, got nothing$/);
  refuses(parseRemovalKey, '--label-rm', ['a=b', '='], /not KEY=VALUE/);
  refuses(parseRemovalKey, '--label-rm', [' ', 'a b', 'a\n'], /no blanks/);
});

test('csv fields: as Go encoding/csv reads one record', () => {
  assert.deepEqual(splitFields('type=bind,src=/a', '--mount'), ['type=bind', 'src=/a']);
  assert.deepEqual(splitFields('"src=/a,b",dst=/c', '--mount'), ['src=/a,b', 'dst=/c']);
  assert.deepEqual(splitFields('"a ""q"" b"', '--mount'), ['a "q" b']);
  assert.deepEqual(splitFields('', '--mount'), ['']);
  assert.deepEqual(splitFields('a,,b,', '--mount'), ['a', '', 'b', '']);
  refuses(splitFields, '--mount', ['src="/a,b"', 'a"b'], /a quote may only open a field/);
  refuses(splitFields, '--mount', ['"open'], /not closed/);
  refuses(splitFields, '--mount', ['"a"b'], /after a closing quote/);
  refuses(splitFields, '--mount', ['a\nb', 'a\r'], /newline/);
});

test('quoteArg: at most 100 characters, JSON-escaped, one line, never half a surrogate pair', () => {
  assert.equal(QUOTE_LIMIT, 100);
  assert.equal(quoteArg('web'), '"web"');
  assert.equal(quoteArg(''), '""');
  assert.equal(quoteArg('a'.repeat(100)), `"${'a'.repeat(100)}"`);
  assert.equal(quoteArg('a'.repeat(101)), `"${'a'.repeat(100)}"… (1 more characters)`);
  assert.equal(quoteArg('x'.repeat(10_000)), `"${'x'.repeat(100)}"… (9900 more characters)`);
  assert.equal(quoteArg('a\nb\t"c"\\'), '"a\\nb\\t\\"c\\"\\\\"');
  // Line separators, DEL/C1 controls and bidi overrides are escaped too.
  assert.equal(quoteArg('a\u2028b\u2029c\u007f\u0085\u202e'), '"a\\u2028b\\u2029c\\u007f\\u0085\\u202e"');
  // A surrogate pair straddling the limit is left out whole.
  const q = quoteArg(`${'a'.repeat(99)}😀tail`);
  assert.equal(q, `"${'a'.repeat(99)}"… (6 more characters)`);
  // A lone surrogate is escaped, not sent raw.
  assert.equal(quoteArg('\ud800'), '"\\ud800"');
});

test('a 10 KB value never comes back whole from any parser or the flag parser', () => {
  const big = `${'9'.repeat(5_000)}\n${'x'.repeat(5_000)}`;
  const parsers: [string, (v: string, f: string) => unknown][] = [
    ['parseInteger', parseInteger], ['parseDuration', parseDuration], ['parseSize', parseSize], ['parseCpus', parseCpus],
    ['parseNumber', (v, f) => parseNumber(v, f, 0, 1)], ['parseBool', parseBool], ['parseChoice', (v, f) => parseChoice(v, f, ['a', 'b'] as const)],
    ['parseKeyValue', (v, f) => parseKeyValue(` ${v}`, f)], ['parseRemovalKey', parseRemovalKey], ['splitFields', splitFields],
    ['splitShellWords', (v, f) => splitShellWords(`"${v}`, f)],
  ];
  for (const [name, p] of parsers) {
    assert.throws(
      () => p(big, '--x'),
      (err: unknown) => {
        assert.ok(err instanceof UsageError, name);
        assert.ok(err.message.length < 400, `${name}: ${err.message.length} characters`);
        assert.doesNotMatch(err.message, /\n/, name);
        assert.match(err.message, /… \(\d+ more characters\)/, name);
        return true;
      },
      name,
    );
  }
  for (const argv of [[`--${big}`], [`-${'\n'}`], ['--quiet=' + big]]) {
    assert.throws(
      () => parse(argv),
      (err: unknown) => err instanceof UsageError && err.message.length < 400 && !err.message.includes('\n'),
      JSON.stringify(argv).slice(0, 40),
    );
  }
});
