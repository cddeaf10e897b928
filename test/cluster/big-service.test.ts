// One valid but large request must not wedge the cluster (issue 13): a service
// of 100,000 replicas whose image no node has, on 3 managers and 2 workers as
// real daemons (127.0.0.160-164:7660) with the real Docker engine. Before the
// fix, every node was marked down within seconds, no agent opened a session
// again, and the engine stopped answering after thousands of pulls.
//
// Checked: no heartbeat deadline missed and no agent session closed, by the
// daemons' own logs; every node Ready; the engine answers; `service rm` removes
// every task; a new 2-replica service then runs within seconds. The managers
// are drained, so the 100,000 tasks land on the two workers (50,000 each), as an
// operator of a small cluster sets it up. Each slot gets
// one task (restart condition none), as in bench:big-service: with the default
// policy the 100,000 rejected tasks are replaced every 5 s, which keeps this
// 2-core machine saturated (see the closing note of issue 13: restart back-off
// is issue "Safe deploys").
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { runBigService } from '../../src/testing/big-service.js';
import { DaemonCluster } from '../../src/testing/daemon-cluster.js';
import { connectEngine } from '../../src/worker/exec/docker/engine.js';
import { removeClusterContainers, requireEngine, TEST_IMAGE } from '../worker/engine.js';

const REPLICAS = Number(process.env.BIG_SERVICE_REPLICAS ?? 100_000);
const engine = await requireEngine('test/cluster/big-service.test.ts');
const base = mkdtempSync(join(tmpdir(), 'flotilla-big-'));
const c = new DaemonCluster({ baseDir: base, firstHost: 160, port: 7660, logLevel: 'info' });

let clusterId = '';

after(async () => {
  await c.stop();
  if (clusterId) await removeClusterContainers(connectEngine(), clusterId).catch(() => undefined);
  if (process.env.KEEP_CLUSTER_DIRS !== '1') rmSync(base, { recursive: true, force: true });
});

test(`a service of ${REPLICAS} replicas of a missing image: no node down, no session lost, removed, and the cluster still runs a new service`, { skip: engine.skip, timeout: 600_000 }, async () => {
  await c.init(0);
  for (let i = 1; i < 5; i++) await c.join(i, i < 3 ? 'manager' : 'worker');
  clusterId = (JSON.parse((await c.cliOk(0, ['cluster', 'info', '--format', 'json'])).stdout) as { cluster: { id: string } }).cluster.id;
  const r = await runBigService(c, { replicas: REPLICAS, restartCondition: 'none', drainManagers: true, smallImage: TEST_IMAGE, log: (l) => void process.stderr.write(`# ${l}\n`) });
  process.stderr.write(`# ${JSON.stringify({ ...r, leaderPeakRssMB: Math.round(r.leaderPeakRssBytes / 2 ** 20) })}\n`);
  assert.deepEqual(r.nodesMarkedDown, [], 'no node marked down');
  assert.deepEqual(r.sessionsLost, [], 'no agent session closed');
  assert.ok(r.engineAnsweredMs < 5_000, `the Docker engine answers (docker info took ${r.engineAnsweredMs} ms)`);
  assert.ok(r.smallConvergedS < 30, `a 2-replica service runs within seconds after the removal (took ${r.smallConvergedS} s)`);
});
