// `npm run chaos -- [options]`: the chaos scenarios of issue 7 on the
// container cluster of docker-compose.test.yml (3 managers, 3 workers), one
// after the other on one cluster, each with a replicated service and clients
// writing through the Control API. Prints, per scenario, PASS or FAIL, the
// timeline and the checks; writes a JSON report.
//
//   --only a,b       these scenarios (names: --list)
//   --fast           the scenarios that also run in `npm test`
//   --list           list the scenarios and exit
//   --report FILE    the JSON report (default chaos-report.json)
//   --seed N         the clients' randomness (default 1)
//   --keep           leave the cluster up at the end (FLOTILLA_KEEP_CLUSTER=1 does the same)
//
// Needs a Docker engine, docker-compose and the images (scripts/setup-machine.sh,
// then `npm run image`). Exit status: 0 when every scenario passed, 1 when one
// failed (the failed checks are named on stderr and in the report), 2 on bad usage.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ComposeCluster } from '../testing/compose-cluster.js';
import { formatReport } from '../testing/chaos/report.js';
import { runScenario, unhealthy, type Scenario, type ScenarioReport } from '../testing/chaos/runner.js';
import { SCENARIOS } from '../testing/chaos/scenarios.js';

const out = (s: string): void => void process.stdout.write(s + '\n');
const err = (s: string): void => void process.stderr.write(s + '\n');

function usage(msg: string): never {
  err(`chaos: ${msg}\nusage: npm run chaos -- [--only NAME,NAME] [--fast] [--list] [--report FILE] [--seed N] [--keep]`);
  process.exit(2);
}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: { only: { type: 'string' }, fast: { type: 'boolean' }, list: { type: 'boolean' }, report: { type: 'string' }, seed: { type: 'string' }, keep: { type: 'boolean' } },
      strict: true,
    }));
  } catch (e) {
    usage((e as Error).message);
  }
  if (values.list) {
    for (const s of SCENARIOS) out(`${s.name.padEnd(26)} ${s.fast ? 'fast ' : '     '} ${s.title}`);
    return 0;
  }
  let chosen: Scenario[] = [...SCENARIOS];
  if (values.only) {
    const names = values.only.split(',').map((n) => n.trim()).filter(Boolean);
    const unknown = names.filter((n) => !SCENARIOS.some((s) => s.name === n));
    if (unknown.length) usage(`unknown scenario ${unknown.join(', ')} (see --list)`);
    chosen = SCENARIOS.filter((s) => names.includes(s.name));
  }
  if (values.fast) chosen = chosen.filter((s) => s.fast);
  const seed = values.seed === undefined ? 1 : Number(values.seed);
  if (!Number.isSafeInteger(seed)) usage(`--seed ${values.seed}: not an integer`);
  const reportFile = values.report ?? 'chaos-report.json';

  const pre = await ComposeCluster.preflight();
  if (!pre.ok) {
    err(`chaos: ${pre.reason}`);
    return 1;
  }
  const c = new ComposeCluster({ log: (l) => err(`# ${l}`), keep: values.keep });
  const reports: ScenarioReport[] = [];
  const started = Date.now();
  let setupError: string | undefined;
  try {
    err(`chaos: bringing up the cluster (${c.project})`);
    await c.up();
    for (const s of chosen) {
      // A scenario that failed may leave the cluster broken: start the next one from a new cluster.
      const sick = await unhealthy(c, null);
      if (sick) {
        err(`chaos: the cluster is not healthy (${sick}): bringing up a new one`);
        await c.down();
        await c.up();
      }
      const r = await runScenario(c, s, seed);
      reports.push(r);
      out(formatReport(r));
    }
  } catch (e) {
    setupError = (e as Error).message;
    err(`chaos: ${setupError}`);
  } finally {
    await c.down().catch((e: Error) => err(`chaos: down: ${e.message}`));
  }
  const failed = reports.filter((r) => !r.ok);
  const report = {
    ok: !setupError && failed.length === 0 && reports.length === chosen.length,
    startedAt: new Date(started).toISOString(),
    durationS: Math.round((Date.now() - started) / 100) / 10,
    seed,
    ...(setupError ? { error: setupError } : {}),
    scenarios: reports,
  };
  writeFileSync(reportFile, JSON.stringify(report, null, 2) + '\n');
  out('');
  out('scenario                    result  recovery (converged / healthy after heal)');
  for (const r of reports) out(`${r.name.padEnd(27)} ${r.ok ? 'PASS' : 'FAIL'}    ${r.recovery.serviceConvergedS ?? '-'} s / ${r.recovery.healthyAfterHealS ?? '-'} s`);
  out(`report: ${reportFile}`);
  for (const r of failed) err(`chaos: FAIL ${r.name}: ${r.failed.join('; ')}`);
  return report.ok ? 0 : 1;
}

process.exit(await main());
