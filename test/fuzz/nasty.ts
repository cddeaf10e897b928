// Values that break parsers and validators: the strings, numbers and
// booleans the fuzz suites (Control RPCs and CLI flags) draw from. Each
// arbitrary mixes a few hand-picked hostile values (empty, huge, unicode
// tricks, prototype keys, non-safe integers, unknown enum numbers) with
// fast-check's own random ones, so that both the known traps and the unknown
// ones are tried.
import fc from 'fast-check';

/** Long strings, made once: fast-check shrinks them towards '' or the shorter ones. */
export const HUGE = {
  k1: 'a'.repeat(1_025),
  k10: 'x'.repeat(10_000),
  k70: 'y'.repeat(70_000),
  /** Over gRPC's default 4 MiB receive limit. */
  m5: 'z'.repeat(5 * 1024 * 1024),
} as const;

/** Hand-picked strings that have broken parsers before. */
export const NASTY_STRINGS: readonly string[] = [
  '',
  ' ',
  '  \t ',
  'a',
  '-',
  '--',
  '=',
  'a=b',
  '=b',
  'A B=c',
  '0',
  '-0',
  '-1',
  '+1',
  ' 3',
  '3 ',
  '1e3',
  '0x10',
  '1_000',
  'NaN',
  'Infinity',
  '9007199254740993',
  '99999999999999999999999',
  '３', // fullwidth digit three
  '٣', // arabic-indic digit three
  '१२', // devanagari digits
  '\u0000',
  'a\u0000b',
  '\n',
  'a\nb',
  'a\r\nb',
  '\u2028',
  '\u001b[31mred\u001b[0m',
  '\u202eevil', // right-to-left override
  '\u200b', // zero-width space
  'e\u0301', // combining accent
  '🚀',
  '👨‍👩‍👧‍👦',
  '\ud800', // lone high surrogate (invalid UTF-16; not encodable as UTF-8)
  '\udfff',
  '\uffff',
  '\ufeff',
  '/',
  '//',
  '/etc',
  '/var/run/docker.sock',
  '../../etc/passwd',
  'C:\\Windows',
  '%s%n%x',
  '${HOME}',
  '{{.ID}}',
  "'; DROP TABLE x; --",
  '<script>alert(1)</script>',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'NONE',
  'CMD',
  'CMD-SHELL',
  'node.role==manager',
  'node.labels.zone==a',
  'spread=node.labels.zone',
  'busybox',
  'busybox:latest',
  'BUSYBOX',
  'registry:5000/team/app:1.0',
  'busybox@sha256:' + 'a'.repeat(64),
  'true',
  'false',
  'TRUE',
  'global',
  'GLOBAL',
  'drain',
  'DRAIN',
  'manager',
  'worker',
];

/** Anything from the hand-picked list, a random string of any code points (surrogates included), or a long one. */
export function nastyString(opts: { huge?: boolean; maxLength?: number } = {}): fc.Arbitrary<string> {
  const maxLength = opts.maxLength ?? 24;
  const hugeOnes: string[] = [HUGE.k1, HUGE.k10, HUGE.k70];
  if (opts.huge) hugeOnes.push(HUGE.m5);
  return fc.oneof(
    { weight: 5, arbitrary: fc.constantFrom(...NASTY_STRINGS) },
    { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength }) },
    { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength }) },
    { weight: 2, arbitrary: fc.string({ maxLength }) },
    { weight: 1, arbitrary: fc.constantFrom(...hugeOnes) },
  );
}

const I64_MAX = (1n << 63n) - 1n;
const I64_MIN = -(1n << 63n);

/** Boundary int64 values: 0, signs, 2^31/2^32/2^53 edges (the last safe integer and the first unsafe), int64 extremes. */
export const INT64_EDGES: readonly bigint[] = [
  0n,
  1n,
  -1n,
  2n,
  3n,
  100_000n,
  100_001n,
  (1n << 31n) - 1n,
  1n << 31n,
  -(1n << 31n),
  (1n << 32n) - 1n,
  1n << 32n,
  (1n << 53n) - 1n,
  1n << 53n,
  (1n << 53n) + 1n,
  -((1n << 53n) - 1n),
  -(1n << 53n) - 1n,
  1_000_000_000_000_000n,
  I64_MAX,
  I64_MIN,
];

/** An int64 as a bigint (the wire type's whole range). */
export function nastyInt64(): fc.Arbitrary<bigint> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...INT64_EDGES) },
    { weight: 2, arbitrary: fc.bigInt({ min: -5n, max: 20n }) },
    { weight: 2, arbitrary: fc.bigInt({ min: I64_MIN, max: I64_MAX }) },
  );
}

export function nastyUint64(): fc.Arbitrary<bigint> {
  return fc.oneof(fc.constantFrom(0n, 1n, (1n << 53n) + 1n, (1n << 64n) - 1n), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }));
}

export function nastyInt32(): fc.Arbitrary<number> {
  return fc.oneof(fc.constantFrom(0, 1, -1, 2, 3, 2 ** 31 - 1, -(2 ** 31), 65_535, 65_536), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }));
}

export function nastyUint32(): fc.Arbitrary<number> {
  return fc.oneof(fc.constantFrom(0, 1, 80, 65_535, 65_536, 2 ** 31, 2 ** 32 - 1), fc.integer({ min: 0, max: 2 ** 32 - 1 }));
}

export function nastyDouble(): fc.Arbitrary<number> {
  return fc.oneof(
    fc.constantFrom(0, -0, 1, -1, 0.5, 1.0000001, NaN, Infinity, -Infinity, Number.MAX_VALUE, Number.MIN_VALUE, 2 ** 53 + 2, 1e15),
    fc.double(),
  );
}

/** An enum number: one the proto knows, or one it does not (negative, just past the last, int32 extremes). */
export function nastyEnum(known: readonly number[]): fc.Arbitrary<number> {
  const max = Math.max(0, ...known);
  return fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...known) },
    { weight: 2, arbitrary: fc.constantFrom(-1, max + 1, 2 ** 31 - 1, -(2 ** 31), 1000) },
    { weight: 1, arbitrary: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }) },
  );
}

export function nastyBytes(): fc.Arbitrary<Uint8Array> {
  return fc.oneof(fc.uint8Array({ maxLength: 32 }), fc.constant(new Uint8Array(0)), fc.constant(new Uint8Array(70_000)));
}

// ------------------------------------------------------------ numbers as text (CLI flags)

/** Numbers written the ways a careless user or script writes them: signs, blanks, case, exponents, unicode digits, overflow. */
export function numberText(valid: readonly string[] = ['0', '1', '3', '10']): fc.Arbitrary<string> {
  const variants = fc.tuple(fc.constantFrom(...valid), fc.constantFrom('', ' ', '\t', '+', '-', '0', '00', '\u00a0', '\u200b')).chain(([v, pre]) =>
    fc.constantFrom(`${pre}${v}`, `${v}${pre}`, `${pre}${v}${pre}`, v.toUpperCase(), `${v}.0`, `${v}e0`, `${v}_0`),
  );
  return fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...valid) },
    { weight: 3, arbitrary: variants },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        '-0',
        '+3',
        ' 3',
        '3 ',
        '03',
        '0x10',
        '0o7',
        '0b1',
        '1e3',
        '1E3',
        '3.',
        '.5',
        '1.5',
        '-1',
        '9007199254740993',
        '1' + '0'.repeat(400),
        '３',
        '٣',
        '१२',
        'Infinity',
        'NaN',
        '',
      ),
    },
    { weight: 1, arbitrary: fc.integer().map(String) },
    { weight: 1, arbitrary: fc.bigInt({ min: -(1n << 70n), max: 1n << 70n }).map(String) },
  );
}

/** Words from a fixed set, with case, blanks and look-alike variants. */
export function choiceText(choices: readonly string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...choices) },
    {
      weight: 3,
      arbitrary: fc
        .tuple(fc.constantFrom(...choices), fc.constantFrom('upper', 'title', 'space', 'tab', 'nbsp', 'zwsp', 'cyrillic', 'trunc'))
        .map(([c, how]) => {
          switch (how) {
            case 'upper':
              return c.toUpperCase();
            case 'title':
              return c.charAt(0).toUpperCase() + c.slice(1);
            case 'space':
              return ` ${c} `;
            case 'tab':
              return `${c}\t`;
            case 'nbsp':
              return `${c}\u00a0`;
            case 'zwsp':
              return `\u200b${c}`;
            case 'cyrillic':
              return c.replace(/a/g, '\u0430').replace(/e/g, '\u0435').replace(/o/g, '\u043e');
            default:
              return c.slice(0, Math.max(1, c.length - 1));
          }
        }),
    },
    { weight: 1, arbitrary: nastyString() },
  );
}
