// The CLI's flag parser and value parsers: docker's flag syntax, and errors
// that name the flag.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseArgs,
  parseChoice,
  parseCpus,
  parseDuration,
  parseInteger,
  parseKeyValue,
  parseNumber,
  parseSize,
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
  assert.throws(() => parseInteger('-1', '--replicas'), usage(/invalid --replicas "-1": must be an integer >= 0 \(no sign\)$/));
  assert.throws(() => parseInteger('1.5', '--replicas'), usage(/must be an integer >= 0 \(a whole number\)$/));
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
