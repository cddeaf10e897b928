// The daemon's metrics (src/daemon/metrics.ts) without a cluster: the worker's
// gauges and counters from a real Agent on a hollow executor (timed), the
// hooks' counters and histograms, registries that do not mix (several daemons
// in one process), and `promtool check metrics` on the exposition when
// promtool is installed (the cluster test, test/cluster/metrics.test.ts,
// checks real daemons' output).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TaskState } from '../../src/api/objects.js';
import { DaemonMetrics, type MetricsSources } from '../../src/daemon/metrics.js';
import { prometheusMissing, promtoolCheckMetrics } from '../../src/testing/prometheus.js';
import { Agent } from '../../src/worker/agent.js';
import { timedExecutor } from '../../src/worker/exec/timed.js';
import { Collector, makeTask } from '../worker/engine.js';
import { HollowExecutor } from '../worker/hollow-executor.js';

const owner = { clusterId: 'metrics-cluster', nodeId: 'node-1' };
const workerSources = (agent: () => Agent | null): MetricsSources => ({ manager: () => null, agent, node: () => ({ id: 'node-1', role: 'worker' }) });

function value(body: string, series: string): number | undefined {
  const line = body.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test("a worker's metrics: its tasks by state, ended tasks, executor calls by operation; no manager: not the leader", async () => {
  let agent: Agent | null = null;
  const metrics = new DaemonMetrics(workerSources(() => agent));
  const ex = new HollowExecutor();
  const c = new Collector();
  agent = new Agent({ executor: timedExecutor(ex, metrics.executorCall), ...owner, reporter: c.reporter, batchMs: 10, healthPollMs: 10, metrics: metrics.agent });
  await agent.start();
  const done = makeTask();
  const runs = makeTask();
  ex.script(done.id, { exitAfterMs: 10, exitCode: 0 });
  await agent.assign([done, runs]);
  await c.reached(done.id, TaskState.COMPLETE, 2000);
  await c.reached(runs.id, TaskState.RUNNING, 2000);
  const { body, contentType } = await metrics.scrape();
  await agent.stop();
  assert.match(contentType, /^text\/plain; version=0\.0\.4/);
  assert.equal(value(body, 'flotilla_worker_tasks{state="running"}'), 1);
  assert.equal(value(body, 'flotilla_worker_tasks{state="complete"}'), 1);
  assert.equal(value(body, 'flotilla_worker_tasks{state="failed"}'), 0);
  assert.equal(value(body, 'flotilla_worker_task_ends_total{state="complete"}'), 1);
  assert.equal(value(body, 'flotilla_worker_executor_call_duration_seconds_count{operation="create"}'), 2);
  assert.equal(value(body, 'flotilla_worker_executor_call_duration_seconds_count{operation="start"}'), 2);
  assert.equal(value(body, 'flotilla_manager_leader'), 0);
  assert.equal(value(body, 'flotilla_node_info{node_id="node-1",role="worker"}'), 1);
  assert.ok((value(body, 'process_cpu_seconds_total') ?? 0) > 0, 'process metrics under their standard names');
  assert.equal(value(body, 'nodejs_active_handles_total'), undefined, 'no gauge named like a counter');
  assert.doesNotMatch(body, /^flotilla_manager_tasks\{/m, 'no manager, no cluster gauges');
});

test("the hooks feed their counters and histograms, each daemon's into its own registry", async () => {
  const a = new DaemonMetrics(workerSources(() => null));
  const b = new DaemonMetrics(workerSources(() => null));
  a.manager.raft.proposed();
  a.manager.raft.proposed();
  a.manager.raft.proposalFailed();
  a.manager.raft.committed(0.003);
  a.manager.raft.applied(0.00002);
  a.manager.raft.snapshot(0.2);
  a.manager.storeWrite(0.004);
  a.manager.dispatcher.heartbeat();
  a.manager.dispatcher.statusReport(5);
  a.manager.dispatcher.assignmentsSent(2, 30);
  a.manager.dispatcher.statusWritten(1, 5);
  a.executorCall('stop', 1.5, false);
  const body = (await a.scrape()).body;
  assert.equal(value(body, 'flotilla_raft_proposals_total'), 2);
  assert.equal(value(body, 'flotilla_raft_proposals_failed_total'), 1);
  assert.equal(value(body, 'flotilla_raft_commit_duration_seconds_bucket{le="0.001"}'), 0);
  assert.equal(value(body, 'flotilla_raft_commit_duration_seconds_bucket{le="0.005"}'), 1);
  assert.equal(value(body, 'flotilla_raft_apply_duration_seconds_count'), 1);
  assert.equal(value(body, 'flotilla_raft_snapshot_duration_seconds_sum'), 0.2);
  assert.equal(value(body, 'flotilla_store_transaction_duration_seconds_count'), 1);
  assert.equal(value(body, 'flotilla_dispatcher_heartbeats_total'), 1);
  assert.equal(value(body, 'flotilla_dispatcher_status_updates_total'), 5);
  assert.equal(value(body, 'flotilla_dispatcher_assignment_tasks_total'), 30);
  assert.equal(value(body, 'flotilla_dispatcher_status_actions_total'), 5);
  assert.equal(value(body, 'flotilla_worker_executor_call_errors_total{operation="stop"}'), 1);
  const other = (await b.scrape()).body;
  assert.equal(value(other, 'flotilla_raft_proposals_total'), 0);
  assert.equal(value(other, 'flotilla_dispatcher_heartbeats_total'), 0);
});

const missing = prometheusMissing();
if (missing !== undefined && process.env.CI !== 'true') process.stderr.write(`\n!!! SKIPPED: test/daemon/metrics.test.ts promtool check: ${missing}\n\n`);
test('promtool check metrics accepts the exposition', { skip: missing !== undefined && process.env.CI !== 'true' }, async () => {
  assert.equal(missing, undefined, missing);
  const m = new DaemonMetrics(workerSources(() => null));
  m.manager.raft.committed(0.01);
  m.executorCall('create', 0.2, true);
  const check = await promtoolCheckMetrics((await m.scrape()).body);
  assert.equal(check.code, 0, check.output);
  assert.equal(check.output.trim(), '');
});
