// Command lines for the CLI fuzz suite, generated from the commands' own
// FlagSpec tables (a flag added to a command is fuzzed without touching this
// file): every flag in each spelling the parser accepts (--f v, --f=v, -f v,
// -fv, -f=v, bundled bools), values by the flag's metavar (numbers with signs,
// blanks, exponents and unicode digits; enums in other cases; durations,
// sizes, CPUs, ports, mounts, KEY=VALUE) mixed with hostile strings, unknown
// flags, `--` and stray positionals.
import fc from 'fast-check';
import type { FlagSpec } from '../../src/cli/args.js';
import { choiceText, HUGE, nastyString, numberText } from './nasty.js';

/** The choices of the enum flags (the parser's, lower case). */
export const ENUM_FLAGS: Readonly<Record<string, readonly string[]>> = {
  mode: ['replicated', 'global'],
  'restart-condition': ['none', 'on-failure', 'any'],
  'update-failure-action': ['pause', 'continue', 'rollback'],
  'rollback-failure-action': ['pause', 'continue'],
  'update-order': ['stop-first', 'start-first'],
  'rollback-order': ['stop-first', 'start-first'],
  availability: ['active', 'pause', 'drain'],
  role: ['worker', 'manager'],
  'endpoint-mode': ['vip', 'dnsrr'],
  'lb-policy': ['round-robin', 'least-conn', 'random', 'weighted'],
  'proxy-protocol': ['none', 'v1', 'v2'],
};

const DURATIONS = ['10s', '1m30s', '500ms', '1.5h', '0', '0s', '1ns', '1us', '1µs', '-1s', '+1s', ' 10s', '10s ', '10S', '1H', '1h1h', '100ms', '99ms', '3600001ms', '1h0m1s', '87600h', '87601h', '1e3s', '.5s', '5.s', '10', 'h', '0.0001ms', '9999999999999999h', '1d'];
const SIZES = ['64m', '1g', '1.5GiB', '0', '1', '6m', '5m', '6291455', ' 64m', '64 m', '64M', '1t', '9999999p', '-1m', '1e3k', '64mb', '64MiB', '0x10', '1.5', '64mm'];
const CPUS = ['0.5', '2', '.5', '1e9', '0.0000000001', '0.000000001', '1000000', '1000001', '-1', '1/2', ' 1 ', '1.', '..', '0', '9007199254'];
const RATIOS = ['0', '1', '0.5', '1.5', '-0.1', '.5', '1e-1', 'NaN', '1.', ' 0.5'];
const KEY_VALUES = ['A=b', 'A B=c', '=b', 'A', 'A=', '__proto__=x', 'constructor=y', 'zone=a', 'PATH', 'HOME', 'a=b=c', 'tier=web', '\u0000=x'];
const KEYS = ['A', 'B', 'zone', 'tier', '', '__proto__', 'nope', 'A=1'];
const CONSTRAINTS = ['node.role==manager', 'node.role == worker', 'node.labels.zone==a', 'node.role==boss', 'engine.labels.x!=y', 'node.id==', 'nonsense', 'node.labels.==x'];
const PREFS = ['spread=node.labels.zone', 'spread=', 'Spread=node.role', 'binpack=x', 'spread', 'spread=nope'];
const PORTS = ['8080:80', '80', '8080:80/udp', '8080:80/UDP', '8080:80/sctp', '8000-8001:80-81', '1-65535:1-65535', '0:80', '65536:80', '8080:0', 'published=8080,target=80', 'published=8080,target=80,protocol=sctp', 'published=8080', 'target=80', '1.2.3.4:8080:80', 'target=80,published=80,mode=HOST', 'name=x,published=81,target=80', ':80', '80:', '8001-8000:81-80'];
const MOUNTS = ['type=bind,source=/,target=/', 'type=volume,target=/data', 'type=bind,src=/tmp,dst=/tmp,ro', 'type=tmpfs,target=/x', 'target=relative', 'type=bind,target=/x', 'readonly=maybe,target=/x', 'type=volume,source=vol,target=/data,readonly=1', 'source=/etc,target=/etc', 'type=bind,source=/var/run/docker.sock,target=/var/run/docker.sock', ',,,', 'target='];
const COMMANDS = ['sh -c "echo hi"', "'unterminated", '"unterminated', 'a\\', '', 'echo $HOME', 'sleep 1000'];
const IMAGES = ['busybox', 'busybox:latest', 'alpine:3.19', 'registry:5000/team/app:1.0', 'BUSYBOX', 'busybox:', ':latest', 'busybox@sha256:abc', 'a/b/c/d', HUGE.k1];
const PATHS = ['/', '/data', '/etc', 'relative', '/a/../..', '//', ''];
const USERS = ['root', '1000', '1000:1000', '', 'a b', 'root:'];
const NAMES = ['web', 'Web', 'web-2', '-bad', 'a'.repeat(63), 'a'.repeat(64), 'a b', 'ok.name_1'];
/** --secret / --config values (docker's short and long forms, issue 17). */
const FILE_REFS = [
  'db',
  'db~1',
  'db~0',
  'source=db,target=/etc/db.pw,uid=33,gid=33,mode=0400',
  'src=db,target=db.pw',
  'SOURCE=db,Mode=0o640',
  'source=db,mode=400',
  'source=db,mode=01777',
  'source=db,uid=root',
  'source=db,target=/a/../b',
  'source=db,target=',
  'target=/x',
  'source=db,source=x',
  'source=db,readonly',
  '"source=db,target=/a,b"',
  '',
  'a b',
];

/** Values for a flag: by its name (enums) or metavar, mixed with hostile strings. */
export function valueArb(spec: FlagSpec): fc.Arbitrary<string> {
  const hostile = nastyString({ maxLength: 16 });
  const typed = ((): fc.Arbitrary<string> => {
    const choices = ENUM_FLAGS[spec.name];
    if (choices) return choiceText(choices);
    switch (spec.metavar) {
      case 'N':
        return numberText(['0', '1', '3', '10', '100', '100000', '100001', '2147483647', '2147483648']);
      case 'DURATION':
        return fc.constantFrom(...DURATIONS);
      case 'BYTES':
        return fc.constantFrom(...SIZES);
      case 'CPUS':
        return fc.constantFrom(...CPUS);
      case 'RATIO':
        return fc.constantFrom(...RATIOS);
      case 'KEY=VALUE':
        return fc.constantFrom(...KEY_VALUES);
      case 'KEY':
        return fc.constantFrom(...KEYS);
      case 'EXPR':
        return fc.constantFrom(...CONSTRAINTS);
      case 'PREF':
        return fc.constantFrom(...PREFS);
      case 'PORT':
        return fc.constantFrom(...PORTS);
      case 'MOUNT':
        return fc.constantFrom(...MOUNTS);
      case 'PATH':
      case 'DIR':
        return fc.constantFrom(...PATHS);
      case 'IMAGE':
        return fc.constantFrom(...IMAGES);
      case 'ARGS':
      case 'CMD':
        return fc.constantFrom(...COMMANDS);
      case 'USER':
        return fc.constantFrom(...USERS);
      case 'NAME':
        return fc.constantFrom(...NAMES);
      case 'SECRET':
      case 'CONFIG':
        return fc.constantFrom(...FILE_REFS);
      default:
        return hostile;
    }
  })();
  return fc.oneof({ weight: 3, arbitrary: typed }, { weight: 1, arbitrary: hostile });
}

/** One flag on the command line, as the user typed it. */
export type FlagToken =
  | { kind: 'value'; name: string; style: 'separate' | 'equals' | 'short' | 'short-glued' | 'short-equals'; value: string }
  | { kind: 'bool'; name: string; style: 'bare' | 'equals' | 'short'; value: string }
  | { kind: 'bundle'; shorts: string }
  | { kind: 'unknown'; text: string }
  | { kind: 'end' };

export function flagTokenArb(specs: readonly FlagSpec[]): fc.Arbitrary<FlagToken> {
  const withValue = specs.filter((s) => s.kind !== 'bool');
  const bools = specs.filter((s) => s.kind === 'bool');
  const shortBools = bools.filter((s) => s.short).map((s) => s.short as string);
  const arbs: fc.Arbitrary<FlagToken>[] = [];
  if (withValue.length > 0) {
    const one = fc.constantFrom(...withValue).chain((s) =>
      fc.record({
        kind: fc.constant('value' as const),
        name: fc.constant(s.name),
        style: s.short ? fc.constantFrom('separate' as const, 'equals' as const, 'short' as const, 'short-glued' as const, 'short-equals' as const) : fc.constantFrom('separate' as const, 'equals' as const),
        value: valueArb(s),
      }),
    );
    arbs.push(one, one, one, one);
  }
  if (bools.length > 0) {
    arbs.push(
      fc.constantFrom(...bools).chain((s) =>
        fc.record({
          kind: fc.constant('bool' as const),
          name: fc.constant(s.name),
          style: s.short ? fc.constantFrom('bare' as const, 'equals' as const, 'short' as const) : fc.constantFrom('bare' as const, 'equals' as const),
          value: choiceText(['true', 'false', '1', '0', 'yes', 'no']),
        }),
      ),
    );
  }
  if (shortBools.length > 1) arbs.push(fc.shuffledSubarray(shortBools, { minLength: 2 }).map((l) => ({ kind: 'bundle' as const, shorts: l.join('') })));
  arbs.push(
    fc.oneof(nastyString({ maxLength: 12 }).map((s) => `--${s}`), fc.constantFrom('-', '-Z', '--', '---x', '-=', '--=x')).map((text) => ({ kind: 'unknown' as const, text })),
    fc.constant({ kind: 'end' as const }),
  );
  return fc.oneof(...arbs);
}

/** The argv words of a token (specs give the short names). */
export function renderToken(t: FlagToken, specs: readonly FlagSpec[]): string[] {
  const short = (name: string): string => specs.find((s) => s.name === name)?.short ?? '?';
  switch (t.kind) {
    case 'value':
      switch (t.style) {
        case 'separate':
          return [`--${t.name}`, t.value];
        case 'equals':
          return [`--${t.name}=${t.value}`];
        case 'short':
          return [`-${short(t.name)}`, t.value];
        case 'short-glued':
          return [`-${short(t.name)}${t.value}`];
        default:
          return [`-${short(t.name)}=${t.value}`];
      }
    case 'bool':
      return t.style === 'bare' ? [`--${t.name}`] : t.style === 'short' ? [`-${short(t.name)}`] : [`--${t.name}=${t.value}`];
    case 'bundle':
      return [`-${t.shorts}`];
    case 'unknown':
      return [t.text];
    default:
      return ['--'];
  }
}
