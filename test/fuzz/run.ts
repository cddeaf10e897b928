// `npm run fuzz -- [--runs N] [--seed S] [--only cli|control|compose] [--shrink-ms MS] [--report FILE]`:
// the fuzz suites (test/fuzz/*.test.ts) with more cases than `npm test` runs,
// and a new seed each time unless one is given. Prints the seed first (to
// replay a failure: the same --seed and --runs), then each suite's findings,
// then one line with the number of cases run. Exit code 1 when an invariant
// failed. The Control suite starts real daemons: it runs under
// `flock $FLOTILLA_HEAVY_LOCK` (default /tmp/flotilla-heavy.lock) when flock
// is installed, as the other process-level tests do on shared machines.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { packageRoot } from '../../src/common/protos.js';
import type { PropertyOutcome } from './runner.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string' },
    seed: { type: 'string' },
    only: { type: 'string' },
    'shrink-ms': { type: 'string' },
    report: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});

if (values.help) {
  process.stdout.write('usage: npm run fuzz -- [--runs N] [--seed S] [--only cli|control|compose] [--shrink-ms MS] [--report FILE]\n');
  process.exit(0);
}

function int(name: string, v: string | undefined, def: number): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) {
    process.stderr.write(`fuzz: --${name} must be a non-negative integer (got ${JSON.stringify(v.slice(0, 40))})\n`);
    process.exit(2);
  }
  return n;
}

const runs = int('runs', values.runs ?? process.env.FUZZ_RUNS, 200);
const seed = int('seed', values.seed ?? process.env.FUZZ_SEED, Date.now() % 2 ** 31);
const shrinkMs = int('shrink-ms', values['shrink-ms'] ?? process.env.FUZZ_SHRINK_MS, 30_000);
const only = values.only;
if (only !== undefined && only !== 'cli' && only !== 'control' && only !== 'compose') {
  process.stderr.write(`fuzz: --only is cli, control or compose (got ${JSON.stringify(only.slice(0, 40))})\n`);
  process.exit(2);
}

const tmp = mkdtempSync(join(tmpdir(), 'flotilla-fuzz-run-'));
const report = values.report ?? join(tmp, 'report.jsonl');
writeFileSync(report, '');
const dist = join(packageRoot(), 'dist', 'test', 'fuzz');
const env = { ...process.env, FUZZ_RUNS: String(runs), FUZZ_SEED: String(seed), FUZZ_SHRINK_MS: String(shrinkMs), FUZZ_REPORT: report };
process.stdout.write(`fuzz: seed ${seed}, ${runs} runs per property (replay: npm run fuzz -- --seed ${seed} --runs ${runs})\n`);

const t0 = Date.now();
let status = 0;
const lock = process.env.FLOTILLA_HEAVY_LOCK ?? '/tmp/flotilla-heavy.lock';
const hasFlock = spawnSync('flock', ['--version'], { stdio: 'ignore' }).status === 0;
for (const suite of ['cli', 'control', 'compose']) {
  if (only && only !== suite) continue;
  const file = join(dist, `${suite}.test.js`);
  if (!existsSync(file)) {
    process.stderr.write(`fuzz: ${file} is missing: build first (npm run build)\n`);
    process.exit(2);
  }
  const cmd = suite === 'control' && hasFlock ? ['flock', [lock, process.execPath, '--test', file]] : [process.execPath, ['--test', file]];
  const r = spawnSync(cmd[0] as string, cmd[1] as string[], { stdio: 'inherit', env });
  if ((r.status ?? 1) !== 0) status = 1;
}

const outcomes: PropertyOutcome[] = existsSync(report)
  ? readFileSync(report, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as PropertyOutcome)
  : [];
const cases = outcomes.reduce((n, o) => n + o.cases, 0);
const findings = outcomes.flatMap((o) => o.findings);
process.stdout.write(
  `fuzz: seed ${seed}: ${outcomes.length} properties, ${cases} cases run, ${findings.length} failing invariants, ${((Date.now() - t0) / 1000).toFixed(0)} s` +
    (findings.length ? `:\n${findings.map((f) => `  ${f.property} — ${f.invariant}`).join('\n')}\n` : '\n') +
    (values.report ? `fuzz: findings in ${report}\n` : ''),
);
if (!values.report) rmSync(tmp, { recursive: true, force: true });
process.exit(status);
