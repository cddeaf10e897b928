// The real `flotilla` CLI against a real daemon (one manager on loopback,
// 127.0.0.180:7780, running its tasks as containers on the Docker engine):
// `service ls`, `service ps`, `node ls` and `node ps` with --format json print
// docker's rows; templates, `node inspect self` and `inspect --format` read
// docker's shapes.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DaemonCluster, type CliResult } from '../../src/testing/daemon-cluster.js';
import { TaskState } from '../../src/api/objects.js';
import { connectEngine } from '../../src/worker/exec/docker/engine.js';
import { LABEL_CLUSTER_ID } from '../../src/worker/exec/docker/labels.js';
import { requireEngine, TEST_IMAGE } from '../worker/engine.js';

const engine = await requireEngine('test/cluster/cli-output.test.ts');
const skip = engine.skip !== false;
const base = mkdtempSync(join(tmpdir(), 'flotilla-cliout-'));
const c = new DaemonCluster({ baseDir: base, firstHost: 180, port: 7780, nodeStatusMs: 500 });
const docker = connectEngine();
let clusterId = '';

before(async () => {
  if (skip) return;
  await c.init(0);
  clusterId = (JSON.parse((await c.cliOk(0, ['cluster', 'info', '--format', 'json'])).stdout) as { cluster: { id: string } }).cluster.id;
});

after(async () => {
  await c.stop();
  if (clusterId) {
    for (const info of await docker.listContainers({ all: true, filters: { label: [`${LABEL_CLUSTER_ID}=${clusterId}`] } })) {
      await docker.getContainer(info.Id).remove({ force: true }).catch(() => undefined);
    }
  }
  if (process.env.KEEP_CLUSTER_DIRS !== '1') rmSync(base, { recursive: true, force: true });
});

function rows(r: CliResult): Record<string, unknown>[] {
  assert.equal(r.code, 0, r.stderr);
  return r.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

test("service ls / ps, node ls / ps --format json: docker's rows from a real daemon", { skip }, async () => {
  await c.cliOk(0, ['service', 'create', '--name', 'web', '--replicas', '2', '--label', 'tier=front', '--stop-grace-period', '1s', TEST_IMAGE, 'sleep', '3600']);
  await c.waitFor(async () => (await c.storedTasks(0, 'web')).filter((t) => t.status.state === TaskState.RUNNING).length === 2, 60_000, 'two running tasks');
  const [svc] = await c.storedServices(0);
  const [self] = await c.storedNodes(0);

  assert.deepEqual(rows(await c.cli(0, ['service', 'ls', '--format', 'json'])), [
    { ID: svc.id.slice(0, 12), Image: TEST_IMAGE, Mode: 'replicated', Name: 'web', Ports: '', Replicas: '2/2' },
  ]);
  const ps = rows(await c.cli(0, ['service', 'ps', '--format', 'json', 'web']));
  assert.deepEqual(ps.map((r) => Object.keys(r)), [0, 1].map(() => ['CurrentState', 'DesiredState', 'Error', 'ID', 'Image', 'Name', 'Node', 'Ports']));
  assert.deepEqual(ps.map((r) => r.Name), ['web.1', 'web.2']);
  for (const r of ps) {
    assert.equal(r.DesiredState, 'Running');
    assert.match(String(r.CurrentState), /^Running (less than a second|\d+ seconds?|about a minute) ago$/);
    assert.equal(r.Node, self.description.hostname);
    assert.equal(String(r.ID).length, 12);
  }
  assert.equal((await c.cliOk(0, ['service', 'ps', '--format', '{{.Name}} {{.DesiredState}}', '--filter', 'name=web.2', 'web'])).stdout, 'web.2 Running\n');
  assert.deepEqual(rows(await c.cli(0, ['node', 'ps', '--format', 'json'])).map((r) => r.Name).sort(), ['web.1', 'web.2']);

  const [n] = rows(await c.cli(0, ['node', 'ls', '--format', 'json']));
  assert.deepEqual(n, { Availability: 'Active', EngineVersion: self.description.engineVersion, Hostname: self.description.hostname, ID: self.id, ManagerStatus: 'Leader', Self: true, Status: 'Ready', TLSStatus: 'Ready' });
  assert.equal((await c.cliOk(0, ['node', 'inspect', 'self', '--format', '{{.ID}} {{.Spec.Role}} {{.Status.State}} {{.ManagerStatus.Leader}}'])).stdout, `${self.id} manager ready true\n`);
  assert.equal((await c.cliOk(0, ['service', 'inspect', '-f', '{{.Spec.Name}} {{.Spec.Mode.Replicated.Replicas}} {{json .Spec.Labels}}', 'web'])).stdout, 'web 2 {"tier":"front"}\n');
  const bad = await c.cli(0, ['service', 'ls', '--format', '{{.Nmae}}']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^flotilla: template parsing error: template: :1:2: executing "" at <\.Nmae>: can't evaluate field Nmae in type service/);
  await c.cliOk(0, ['service', 'rm', 'web']);
});
