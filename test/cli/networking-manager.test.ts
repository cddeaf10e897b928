// The networking commands of the CLI against the manager's own Control API
// (src/manager/controlapi over an in-memory store, served over gRPC on a unix
// socket): what the fake control plays, the real one does too. Names become
// ids, published ports are assigned from the cluster's range, a network in
// use is not removed.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Service } from '../../src/api/objects.js';
import { T0 } from '../manager/store-fixtures.js';
import { startManagerServer, type CliRun, type ManagerServer } from './manager-server.js';

let server: ManagerServer;
let manager: ManagerServer['manager'];

before(async () => {
  server = await startManagerServer(() => T0);
  manager = server.manager;
});

after(() => server.stop());

function cli(argv: string[]): Promise<CliRun> {
  return server.cli(argv);
}

function ok(argv: string[]): Promise<string> {
  return server.ok(argv);
}

function stored(name: string): Service {
  const s = manager.local.store.list('service').find((x) => x.spec.name === name);
  assert.ok(s, name);
  return s;
}

test('networks, attached services and assigned ports through the real Control API', async () => {
  const front = (await ok(['network', 'create', '--label', 'tier=web', 'front'])).trim();
  const back = (await ok(['network', 'create', 'back'])).trim();
  assert.match(await ok(['network', 'ls']), new RegExp(`^NETWORK ID +NAME +DRIVER +SCOPE\\n${back.slice(0, 12)} +back +overlay +swarm\\n${front.slice(0, 12)} +front +overlay +swarm\\n$`));
  const [inspected] = JSON.parse(await ok(['network', 'inspect', 'front'])) as { Id: string; Labels: unknown }[];
  assert.equal(inspected.Id, front);
  assert.deepEqual(inspected.Labels, { tier: 'web' });
  const taken = await cli(['network', 'create', 'Front']);
  assert.equal(taken.code, 1);
  assert.match(taken.err, /^flotilla: a network named "Front" already exists/);

  await ok(['service', 'create', '-d', '--name', 'web', '--network', 'front', '-p', '80', '-p', '8443:443', '--lb-policy', 'least-conn', 'nginx']);
  const web = stored('web');
  assert.deepEqual(web.spec.taskTemplate.networks, [front]);
  assert.equal(web.spec.endpoint.lbPolicy, 'least-conn');
  assert.deepEqual(web.endpoint?.ports.map((p) => `${p.publishedPort}:${p.targetPort}`), ['30000:80', '8443:443']);
  assert.match(await ok(['service', 'ls']), /\n\S+ +web +replicated +0\/1 +nginx +\*:8443->443\/tcp, \*:30000->80\/tcp\n$/);
  assert.match(await ok(['service', 'inspect', '--pretty', 'web']), /\nNetworks: +front\nEndpoint Mode: +vip\nEndpoint:\n Load balancing: +least-conn\n[\s\S]*\nPorts: +\*:30000->80\/tcp, \*:8443->443\/tcp\n$/);

  const unknown = await cli(['service', 'create', '-d', '--name', 'x', '--network', 'nowhere', 'nginx']);
  assert.equal(unknown.code, 1);
  assert.match(unknown.err, /^flotilla: invalid --network: network "nowhere" not found: create it with `flotilla network create nowhere`/);

  const inUse = await cli(['network', 'rm', 'front']);
  assert.equal(inUse.code, 1);
  assert.match(inUse.err, /^flotilla: network "front" is in use by service "web": remove it or detach it first \(service update --network-rm front\)\n$/);

  await ok(['service', 'update', '-d', '--network-rm', 'front', '--network-add', 'back', '--publish-add', '81', 'web']);
  assert.deepEqual(stored('web').spec.taskTemplate.networks, [back]);
  assert.deepEqual(stored('web').endpoint?.ports.map((p) => `${p.publishedPort}:${p.targetPort}`), ['30000:80', '8443:443', '30001:81'], 'the assigned port is kept');
  const version = stored('web').version;
  await ok(['service', 'update', '-d', '--network-add', 'back', 'web']);
  assert.equal(stored('web').version, version, 're-adding changes nothing');

  // The previous spec still names front (a rollback would attach it again): the manager keeps it until that spec goes.
  assert.match((await cli(['network', 'rm', 'front'])).err, /is in use by service "web"/);
  await ok(['service', 'update', '-d', '--env-add', 'A=1', 'web']);
  assert.equal(await ok(['network', 'rm', 'front']), 'front\n');
  assert.equal(manager.local.store.list('network').length, 1);

  // Per-network aliases: named by the network's name, stored by its id; added, then shown as docker does.
  await ok(['service', 'create', '-d', '--name', 'db', '--network', 'name=back,alias=pg', 'nginx']);
  assert.deepEqual(stored('db').spec.taskTemplate.networkAliases, { [back]: ['pg'] });
  await ok(['service', 'update', '-d', '--network-add', 'name=back,alias=primary', 'db']);
  assert.deepEqual(stored('db').spec.taskTemplate.networkAliases, { [back]: ['pg', 'primary'] });
  const [db] = JSON.parse(await ok(['service', 'inspect', 'db'])) as { Spec: { TaskTemplate: { Networks: unknown } } }[];
  assert.deepEqual(db.Spec.TaskTemplate.Networks, [{ Target: back, Aliases: ['pg', 'primary'] }]);
  const bad = await cli(['service', 'update', '-d', '--network-add', 'name=back,alias=tasks.pg', 'db']);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /^flotilla: invalid --network-add "name=back,alias=tasks\.pg": "tasks\.pg" may not start with "tasks\."/);
});
