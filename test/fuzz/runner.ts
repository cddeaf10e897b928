// How the fuzz suites run their properties, and what they report.
//
// A property checks several invariants on each case (e.g. "a refusal is
// INVALID_ARGUMENT, not INTERNAL" and "a refusal changes no object"). To
// report every invariant that fails, each with its own minimal
// counterexample, a property runs in two phases:
// 1. survey: all `runs` cases (fast-check, fixed seed); each invariant that
//    fails is remembered with the index of its first failing case;
// 2. for each such invariant, fast-check replays that case (same seed, path =
//    its index) with a predicate that fails on that invariant only, and
//    shrinks it (within a time budget).
//
// Seed and counts: FUZZ_SEED (default 13) and FUZZ_RUNS (runs per property,
// default: each property's own small count, for `npm test`);
// FUZZ_SHRINK_MS bounds the shrinking of one finding; FUZZ_REPORT names a
// JSON file the findings are written to. `npm run fuzz -- --runs N --seed S`
// sets them (test/fuzz/run.ts).
import fc from 'fast-check';
import { appendFileSync } from 'node:fs';

export interface Violation {
  /** The invariant that failed, e.g. 'refusal-code:INTERNAL' or 'refused-but-changed'. */
  key: string;
  /** What happened, with the resolved request and the answer. */
  message: string;
}

export interface Finding {
  property: string;
  invariant: string;
  seed: number;
  /** fast-check's replay path of the shrunk counterexample. */
  path: string;
  counterexample: string;
  detail: string;
  shrunk: boolean;
}

export interface PropertyOutcome {
  property: string;
  cases: number;
  findings: Finding[];
  ms: number;
}

export interface FuzzSettings {
  seed: number;
  /** Runs per property when FUZZ_RUNS is not set. */
  runsOverride: number | undefined;
  shrinkMs: number;
  report: string | undefined;
}

function envInt(name: string): number | undefined {
  const v = process.env[name];
  if (v === undefined || v.trim() === '') return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new Error(`${name}=${JSON.stringify(v)} is not an integer`);
  return n;
}

export function fuzzSettings(): FuzzSettings {
  return {
    seed: envInt('FUZZ_SEED') ?? 13,
    runsOverride: envInt('FUZZ_RUNS'),
    shrinkMs: envInt('FUZZ_SHRINK_MS') ?? 10_000,
    report: process.env.FUZZ_REPORT || undefined,
  };
}

export interface PropertyOptions<T> {
  settings: FuzzSettings;
  /** Runs in `npm test` (FUZZ_RUNS replaces it). */
  runs: number;
  /** Printed with each counterexample (e.g. the resolved request). */
  print?: (v: T) => string;
}

/** Invisible or line-breaking characters (controls, separators, bidi and zero-width marks, lone surrogates) as \uXXXX. */
export function visible(s: string): string {
  // eslint-disable-next-line no-control-regex -- making control characters visible is the point
  return s.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u00a0\u00ad\u061c\u180e\u2000-\u200f\u2028-\u202f\u205f-\u206f\ufeff\ufff9-\ufffb]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Long runs of one character written as ‹c×n›, invisible characters escaped, then the text cut to `n` characters. */
function cut(s: string, n = 2_000): string {
  const t = visible(s.replace(/__proto__:null,?/g, '').replace(/(.)\1{63,}/gsu, (run: string, c: string) => `‹${JSON.stringify(c).slice(1, -1)}×${[...run].length}›`));
  return t.length > n ? `${t.slice(0, n)}… (${t.length} chars)` : t;
}

/** Run one property in the two phases above. */
export async function fuzzProperty<T>(property: string, arb: fc.Arbitrary<T>, run: (v: T) => Promise<Violation[]>, o: PropertyOptions<T>): Promise<PropertyOutcome> {
  const t0 = Date.now();
  const runs = o.settings.runsOverride ?? o.runs;
  const seed = o.settings.seed;
  const first = new Map<string, { index: number; value: string; message: string }>();
  let index = 0;
  let cases = 0;
  const survey = await fc.check(
    fc.asyncProperty(arb, async (v) => {
      const i = index++;
      cases++;
      for (const x of await run(v)) {
        if (!first.has(x.key)) first.set(x.key, { index: i, value: fc.stringify(v), message: x.message });
      }
      return true;
    }),
    { seed, numRuns: runs },
  );
  if (survey.failed) {
    // The predicate never returns false: a thrown error is a bug of the suite itself.
    throw new Error(`${property}: the property threw: ${String(survey.errorInstance)}`);
  }
  const findings: Finding[] = [];
  for (const [key, f] of first) {
    let detail = f.message;
    let last: T | undefined;
    const r = await fc.check(
      fc.asyncProperty(arb, async (v) => {
        cases++;
        const hit = (await run(v)).find((x) => x.key === key);
        if (hit) {
          detail = hit.message;
          last = v;
          return false;
        }
        return true;
      }),
      { seed, path: String(f.index), interruptAfterTimeLimit: o.settings.shrinkMs, markInterruptAsFailure: false },
    );
    const shrunk = r.failed && r.counterexample !== null;
    const value = shrunk ? fc.stringify(r.counterexample?.[0]) : f.value;
    findings.push({
      property,
      invariant: key,
      seed,
      path: shrunk ? (r.counterexamplePath ?? String(f.index)) : String(f.index),
      counterexample: cut(value),
      detail: cut(detail + (shrunk && last !== undefined && o.print ? `\n  resolved: ${o.print(last)}` : '')),
      shrunk,
    });
  }
  const outcome = { property, cases, findings, ms: Date.now() - t0 };
  if (o.settings.report) appendFileSync(o.settings.report, JSON.stringify(outcome) + '\n');
  return outcome;
}

/** The findings as text, one block per finding. */
export function formatFindings(findings: readonly Finding[]): string {
  return findings
    .map(
      (f) =>
        `✗ ${f.property} — ${f.invariant}\n  seed ${f.seed}, path ${JSON.stringify(f.path)}${f.shrunk ? '' : ' (not shrunk: did not fail again on replay)'}\n  counterexample: ${f.counterexample}\n  ${f.detail.replace(/\n/g, '\n  ')}`,
    )
    .join('\n\n');
}

/** One summary line: seed, properties, cases, time. */
export function summaryLine(suite: string, settings: FuzzSettings, outcomes: readonly PropertyOutcome[], ms: number): string {
  const cases = outcomes.reduce((n, o) => n + o.cases, 0);
  const failing = outcomes.reduce((n, o) => n + o.findings.length, 0);
  return `fuzz ${suite}: seed ${settings.seed}, ${outcomes.length} properties, ${cases} cases, ${failing} failing invariants, ${(ms / 1000).toFixed(1)} s${settings.runsOverride !== undefined ? ` (FUZZ_RUNS=${settings.runsOverride})` : ''}`;
}

/** Text that shows where it echoes more than `max` characters of one of `inputs` (raw or JSON-escaped), or undefined. */
export function echoedInput(text: string, inputs: readonly string[], max = 120): string | undefined {
  const w = Math.floor(max / 2) + 1;
  for (const input of inputs) {
    if (input.length <= max) continue;
    for (const form of [input, JSON.stringify(input).slice(1, -1)]) {
      for (let i = 0; i + w <= form.length; i += w - 1) {
        const needle = form.slice(i, i + w);
        for (let at = text.indexOf(needle); at >= 0; at = text.indexOf(needle, at + 1)) {
        // Extend the match both ways to measure the echo.
        let a = i;
        let b = i + w;
        let ta = at;
        let tb = at + w;
        while (a > 0 && ta > 0 && form[a - 1] === text[ta - 1]) {
          a--;
          ta--;
        }
        while (b < form.length && tb < text.length && form[b] === text[tb]) {
          b++;
          tb++;
        }
        if (b - a > max) return `${b - a} characters of a ${input.length}-character input`;
        }
      }
    }
  }
  return undefined;
}
