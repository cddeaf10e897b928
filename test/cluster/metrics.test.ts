// Prometheus metrics on real daemons (issue 18): three managers on loopback
// (127.0.0.250-252:7750), each serving /metrics on its own address
// (--metrics-addr 127.0.0.25x:7751), and the real Docker engine.
// - `promtool check metrics` passes on each daemon's exposition, and exactly
//   one of them says it is the leader;
// - a real Prometheus (127.0.0.253:7753, Debian's package, a generated config
//   that scrapes only the three) scrapes them: `sum(flotilla_manager_leader)`
//   is 1; once a task runs, the task-state gauges, the leader's scheduling
//   delay histogram and the dispatcher's sessions show it;
// - `flotilla daemon` restarts a node on the --metrics-addr its join saved;
//   an init whose --metrics-addr is taken fails in one line, before it
//   writes anything.
// Without prometheus/promtool (or a Docker engine) it skips loudly, and fails under CI=true.
//
//   npx tsc -p tsconfig.json && node --test dist/test/cluster/metrics.test.js
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { connect } from '../../src/cli/connection.js';
import { DaemonCluster, runCli } from '../../src/testing/daemon-cluster.js';
import { prometheusMissing, PrometheusServer, promtoolCheckMetrics } from '../../src/testing/prometheus.js';
import { LABEL_CLUSTER_ID } from '../../src/worker/exec/docker/labels.js';
import { requireEngine, TEST_IMAGE } from '../worker/engine.js';

const FILE = 'test/cluster/metrics.test.ts';
const engine = await requireEngine(FILE);
const missing = prometheusMissing();
if (missing !== undefined) {
  if (process.env.CI === 'true') test(`${FILE}: prometheus and promtool are required under CI=true`, () => assert.fail(missing));
  else process.stderr.write(`\n!!! SKIPPED: ${FILE}: ${missing}\n\n`);
}
const skip = engine.skip !== false || missing !== undefined;
const docker = engine.docker;
const base = mkdtempSync(join(tmpdir(), 'flotilla-metrics-'));
const c = new DaemonCluster({ baseDir: base, firstHost: 250, port: 7750, nodeStatusMs: 500 });
const metricsAddr = (i: number): string => `${c.node(i).host}:7751`;
let prometheus: PrometheusServer | null = null;
let clusterId = '';

async function scrape(i: number): Promise<{ status: number; contentType: string; body: string }> {
  const res = await fetch(`http://${metricsAddr(i)}/metrics`, { signal: AbortSignal.timeout(5_000) });
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', body: await res.text() };
}

/** The value of an unlabelled sample in an exposition. */
function sample(body: string, name: string): number | undefined {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(body);
  return m ? Number(m[1]) : undefined;
}

/** Until `expr` answers one sample for which `ok` holds (bounded); that value. */
async function queryUntil(expr: string, ok: (v: number) => boolean, what: string): Promise<number> {
  let last = 'no answer';
  let value = NaN;
  await c.waitFor(
    async () => {
      try {
        const r = await prometheus!.query(expr);
        last = JSON.stringify(r);
        if (r.length !== 1) return false;
        value = r[0].value;
        return ok(value);
      } catch (err) {
        last = String(err);
        return false;
      }
    },
    60_000,
    `${what} (${expr}: last ${last}; Prometheus log: ${prometheus?.logPath})`,
  );
  return value;
}

before(async () => {
  if (skip) return;
  await c.init(0, ['--metrics-addr', metricsAddr(0)]);
  await c.join(1, 'manager', 0, ['--metrics-addr', metricsAddr(1)]);
  await c.join(2, 'manager', 0, ['--metrics-addr', metricsAddr(2)]);
  await c.waitReady(1);
  await c.waitReady(2);
  const control = connect({ host: `unix://${join(c.node(0).dataDir, 'control.sock')}`, env: {}, timeoutMs: 15_000 });
  clusterId = (await control.call('GetCluster', {})).cluster?.meta?.id ?? '';
  control.close();
});

after(async () => {
  await prometheus?.stop();
  await c.stop();
  if (clusterId) {
    for (const info of await docker.listContainers({ all: true, filters: { label: [`${LABEL_CLUSTER_ID}=${clusterId}`] } })) {
      await docker.getContainer(info.Id).remove({ force: true }).catch(() => undefined);
    }
  }
  if (process.env.KEEP_CLUSTER_DIRS !== '1') rmSync(base, { recursive: true, force: true });
});

test('each daemon serves /metrics that promtool accepts; exactly one says it leads', { skip }, async () => {
  // Raft settles first: every manager knows the leader once the three are voters.
  await c.waitFor(async () => {
    const bodies = await Promise.all([0, 1, 2].map(async (i) => (await scrape(i)).body));
    return bodies.filter((b) => sample(b, 'flotilla_manager_leader') === 1).length === 1 && bodies.every((b) => (sample(b, 'flotilla_raft_term') ?? 0) > 0);
  }, 30_000, 'one leader among the three expositions');
  for (const i of [0, 1, 2]) {
    const r = await scrape(i);
    assert.equal(r.status, 200);
    assert.match(r.contentType, /^text\/plain; version=0\.0\.4/);
    const check = await promtoolCheckMetrics(r.body);
    assert.equal(check.code, 0, `promtool check metrics on ${c.node(i).name}: ${check.output}`);
    assert.equal(check.output.trim(), '', `promtool has nothing to say about ${c.node(i).name}'s metrics`);
    for (const name of ['flotilla_manager_leader', 'flotilla_raft_term', 'flotilla_raft_commit_index', 'process_cpu_seconds_total', 'nodejs_eventloop_lag_seconds']) {
      assert.notEqual(sample(r.body, name), undefined, `${c.node(i).name} reports ${name}`);
    }
    assert.match(r.body, /^flotilla_manager_nodes\{state="ready"\} 3$/m);
    assert.match(r.body, /^flotilla_worker_tasks\{state="running"\} 0$/m);
    assert.match(r.body, /^flotilla_raft_commit_duration_seconds_bucket\{le="\+Inf"\} \d+$/m);
  }
  const notFound = await fetch(`http://${metricsAddr(0)}/nope`, { signal: AbortSignal.timeout(5_000) });
  assert.equal(notFound.status, 404);
});

test('a real Prometheus scrapes the three managers: one leader, then the running task in the gauges and the scheduling delay', { skip }, async () => {
  prometheus = PrometheusServer.start({ dir: join(base, 'prometheus'), listen: '127.0.0.253:7753', targets: [0, 1, 2].map(metricsAddr) });
  assert.equal(await queryUntil('sum(up{job="flotilla"})', (v) => v === 3, 'the three targets up'), 3);
  assert.equal(await queryUntil('sum(flotilla_manager_leader)', (v) => v === 1, 'one leader'), 1);
  assert.equal(await queryUntil('sum(flotilla_dispatcher_sessions)', (v) => v === 3, "three agents' sessions with the leader"), 3);

  await c.cliOk(0, ['service', 'create', '--detach', '--name', 'counted', '--replicas', '1', TEST_IMAGE, 'sleep', '3600']);
  // Every manager reports the cluster's tasks from its own copy of the store; the node's own gauge counts it once.
  assert.equal(await queryUntil('min(flotilla_manager_tasks{state="running"})', (v) => v === 1, 'the running task in every manager\'s gauge'), 1);
  assert.equal(await queryUntil('sum(flotilla_worker_tasks{state="running"})', (v) => v === 1, 'the running task on one node'), 1);
  assert.equal(await queryUntil('max(flotilla_manager_services)', (v) => v === 1, 'one service'), 1);
  // Observed by the leader alone: the sum over the managers counts the task once.
  assert.equal(await queryUntil('sum(flotilla_manager_scheduling_delay_seconds_count)', (v) => v === 1, 'one scheduling delay'), 1);
  assert.ok((await queryUntil('sum(flotilla_worker_executor_call_duration_seconds_count{operation="create"})', (v) => v >= 1, 'a container created')) >= 1);
  assert.ok((await queryUntil('sum(flotilla_raft_proposals_total)', (v) => v > 0, 'proposals')) > 0);
  await prometheus.stop();
  assert.equal(prometheus.running, false);
});

test('a restart keeps the --metrics-addr join saved; an init whose --metrics-addr is taken fails in one line and writes nothing', { skip }, async () => {
  await c.kill(2, 'SIGTERM');
  await c.restart(2);
  await c.waitReady(2);
  await c.waitFor(async () => (await scrape(2).catch(() => ({ status: 0 }))).status === 200, 30_000, `${c.node(2).name}'s metrics after its restart`);

  const dir = join(base, 'clash');
  const r = await runCli(c.bin, ['init', '--advertise-addr', '127.0.0.254:7750', '--data-dir', dir, '--metrics-addr', metricsAddr(0)], { ...process.env, FLOTILLA_HOST: '' }, 30_000);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `flotilla init: cannot listen on ${metricsAddr(0)} for metrics: address already in use; another node on this host? pass --metrics-addr HOST:PORT (or --metrics-addr off)\n`);
  assert.equal(existsSync(join(dir, 'node.json')), false);
  assert.equal(existsSync(join(dir, 'certificates')), false);
});
