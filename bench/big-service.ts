// One valid but large request (issue 13): a service of 100,000 replicas of an
// image no node has, on 3 managers and 2 workers as real daemons on this host
// (127.0.0.150-154:7650, the layout of `npm start`). Each slot gets one task
// (restart condition none), so the phases are countable. Prints JSON lines:
//   {"bench":"big-service","replicas":100000,"createdS":..,"placedS":..,"rejectedS":..,"removedS":..,
//    "smallConvergedS":..,"leaderPeakRssMB":..,"nodesMarkedDown":0,"sessionsLost":0,"engineAnsweredMs":..}
// createdS/placedS/rejectedS: from `service create` to every task created /
// placed / rejected; removedS: from `service rm` to the last task gone;
// smallConvergedS: a 2-replica service afterwards, to both RUNNING.
//
//   npm run bench:big-service [-- --replicas N]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runBigService } from '../src/testing/big-service.js';
import { DaemonCluster } from '../src/testing/daemon-cluster.js';

const IMAGE = process.env.FLOTILLA_TEST_IMAGE ?? 'flotilla/busybox:test';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { replicas: { type: 'string' }, keep: { type: 'boolean' } }, strict: true });
  const replicas = Number(values.replicas ?? 100_000);
  if (!Number.isSafeInteger(replicas) || replicas < 1) throw new Error('--replicas must be a positive integer');
  const base = mkdtempSync(join(tmpdir(), 'flotilla-bench-big-'));
  const c = new DaemonCluster({ baseDir: base, firstHost: 150, port: 7650, logLevel: 'info' });
  try {
    await c.init(0);
    for (let i = 1; i < 5; i++) await c.join(i, i < 3 ? 'manager' : 'worker');
    const r = await runBigService(c, { replicas, restartCondition: 'none', smallImage: IMAGE, log: (l) => void process.stderr.write(`# ${l}\n`) });
    process.stdout.write(
      JSON.stringify({
        bench: 'big-service',
        replicas,
        createdS: r.createdS,
        placedS: r.placedS,
        rejectedS: r.rejectedS,
        removedS: r.removedS,
        smallConvergedS: r.smallConvergedS,
        leaderPeakRssMB: Math.round(r.leaderPeakRssBytes / 2 ** 20),
        nodesMarkedDown: r.nodesMarkedDown.length,
        sessionsLost: r.sessionsLost.length,
        engineAnsweredMs: r.engineAnsweredMs,
      }) + '\n',
    );
    for (const f of [...r.nodesMarkedDown, ...r.sessionsLost]) process.stderr.write(`# ${f}\n`);
  } finally {
    await c.stop();
    if (!values.keep) rmSync(base, { recursive: true, force: true });
    else process.stderr.write(`# kept ${base}\n`);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench:big-service: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
