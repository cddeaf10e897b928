// Service networking in the CLI end to end: `network create | ls | inspect |
// rm`, `service create --network / -p TARGET / --lb-*`, `service update
// --network-add / --network-rm`, and the ports the cluster assigned in
// `service ls` and `service inspect --pretty`; main() against the in-test
// FakeControl on a unix socket (it resolves network names to ids and assigns
// published ports as the manager does).
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { main } from '../../src/cli/main.js';
import { networkFilter, networkInspectJson, networkLsJson, networkTable, parseNetworkCreate } from '../../src/cli/network-commands.js';
import { goJsonTime, goTimeString } from '../../src/cli/format.js';
import { UsageError } from '../../src/cli/args.js';
import type { Network, Service } from '../../src/api/objects.js';
import { cluster, service, T0 } from '../manager/store-fixtures.js';
import { FakeControl } from './fake-control.js';

const dir = mkdtempSync(join(tmpdir(), 'flotilla-cli-net-'));
const socket = join(dir, 'control.sock');
let fake: FakeControl;

interface Result {
  code: number;
  out: string;
  err: string;
}

async function cli(argv: string[]): Promise<Result> {
  let out = '';
  let err = '';
  const code = await main(['--data-dir', dir, ...argv], { out: (s) => void (out += s), err: (s) => void (err += s), env: {}, now: () => T0 + 60_000 });
  return { code, out, err };
}

function fails(r: Result, code: number, pattern: RegExp): void {
  assert.equal(r.code, code, `exit code (stderr: ${r.err})`);
  assert.match(r.err, /^(flotilla: [^\n]+\n)+$/, 'lines of "flotilla: ..." on stderr');
  assert.match(r.err, pattern);
}

function ok(r: Result): string {
  assert.equal(r.err, '', 'nothing on stderr');
  assert.equal(r.code, 0);
  return r.out;
}

const FRONT = 'nfront0aaaaaaaaaaaaaaaaaa';
const BACK = 'nback00bbbbbbbbbbbbbbbbbb';

function net(id: string, name: string, labels: Record<string, string> = {}): Network {
  return { id, version: 0, createdAt: T0, updatedAt: T0, spec: { name, labels, driver: 'overlay' } };
}

before(async () => {
  fake = new FakeControl();
  await fake.start(`unix://${socket}`);
});

after(async () => {
  await fake.stop();
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  fake.reset();
  fake.cluster = { ...cluster('c1'), version: fake.bump() };
});

describe('help', () => {
  test('network is a command group, listed in the help', async () => {
    assert.match(ok(await cli(['help'])), /\n {2}network {6}manage the networks services attach to/);
    assert.match(ok(await cli(['network'])), /^usage: flotilla network COMMAND\n[\s\S]*create[\s\S]*inspect[\s\S]*ls[\s\S]*rm/);
    assert.match(ok(await cli(['network', 'ls', '--help'])), /--filter KEY=VALUE[\s\S]*--no-trunc/);
    assert.match(ok(await cli(['help', 'network', 'create'])), /-d, --driver DRIVER[\s\S]*-l, --label KEY=VALUE/);
    const create = ok(await cli(['service', 'create', '--help']));
    for (const flag of ['--network NETWORK', '--endpoint-mode MODE', '--lb-policy POLICY', '--lb-weight N', '--proxy-protocol VERSION', '--drain-period DURATION', '[PUBLISHED:]TARGET']) assert.ok(create.includes(flag), flag);
    const update = ok(await cli(['service', 'update', '--help']));
    for (const flag of ['--network-add NETWORK', '--network-rm NETWORK', '--endpoint-mode MODE', '--lb-policy POLICY', '--drain-period DURATION']) assert.ok(update.includes(flag), flag);
    assert.equal(fake.calls.length, 0);
  });
});

describe('network', () => {
  test('create: prints the id (docker); -d overlay and -l labels; a taken name, a bad name or driver fail in one line', async () => {
    const out = ok(await cli(['network', 'create', '-d', 'overlay', '-l', 'tier=front', '--label', 'flag', 'front']));
    const [n] = [...fake.networks.values()];
    assert.equal(out, `${n.id}\n`);
    assert.deepEqual(n.spec, { name: 'front', labels: { tier: 'front', flag: '' }, driver: 'overlay' });
    assert.match(ok(await cli(['network', 'create', 'back'])), /^n\w{24}\n$/);
    fails(await cli(['network', 'create', 'FRONT']), 1, /^flotilla: a network named "FRONT" already exists: pick another name \(see: flotilla network ls\)\n$/);
    fails(await cli(['network', 'create', '-d', 'bridge', 'x']), 2, /^flotilla: invalid --driver "bridge": flotilla networks span the cluster, and their driver is "overlay"/);
    fails(await cli(['network', 'create', '-bad']), 2, /unknown flag -b/);
    fails(await cli(['network', 'create', '--', '-bad']), 2, /^flotilla: invalid network name "-bad": "-bad" must start with a letter or digit/);
    fails(await cli(['network', 'create', '-l', '=x', 'x']), 2, /^flotilla: invalid --label "=x": the key is empty/);
    fails(await cli(['network', 'create']), 2, /"flotilla network create" requires exactly 1 argument/);
    fails(await cli(['network', 'create', 'a', 'b']), 2, /takes at most 1 argument/);
    assert.equal(fake.callsOf('CreateNetwork').length, 3);
  });

  test("ls: docker's columns (NETWORK ID, NAME, DRIVER, SCOPE), by name; -q short ids; --no-trunc; json lines; filters", async () => {
    fake.addNetwork(net(FRONT, 'front', { tier: 'web' }));
    fake.addNetwork(net(BACK, 'back'));
    assert.equal(
      ok(await cli(['network', 'ls'])),
      ['NETWORK ID     NAME      DRIVER    SCOPE', 'nback00bbbbb   back      overlay   swarm', 'nfront0aaaaa   front     overlay   swarm', ''].join('\n'),
    );
    assert.equal(ok(await cli(['network', 'list', '-q'])), 'nback00bbbbb\nnfront0aaaaa\n');
    assert.equal(ok(await cli(['network', 'ls', '-q', '--no-trunc'])), `${BACK}\n${FRONT}\n`);
    assert.match(ok(await cli(['network', 'ls', '--no-trunc'])), new RegExp(`\\n${FRONT}   front {5}overlay {3}swarm\\n$`));
    const lines = ok(await cli(['network', 'ls', '--format', 'json'])).trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, string>);
    assert.deepEqual(lines[1], { CreatedAt: goTimeString(T0), Driver: 'overlay', ID: 'nfront0aaaaa', IPv4: 'true', IPv6: 'false', Internal: 'false', Labels: 'tier=web', Name: 'front', Scope: 'swarm' });
    assert.equal(ok(await cli(['network', 'ls', '-q', '-f', 'name=ron'])), 'nfront0aaaaa\n', 'name: all or part of it, as docker');
    assert.equal(ok(await cli(['network', 'ls', '-q', '-f', 'id=nback', '-f', 'id=front0'])), 'nback00bbbbb\nnfront0aaaaa\n');
    assert.equal(ok(await cli(['network', 'ls', '-q', '--filter', 'label=tier=web'])), 'nfront0aaaaa\n');
    assert.equal(ok(await cli(['network', 'ls', '-q', '-f', 'driver=bridge'])), '');
    assert.equal(ok(await cli(['network', 'ls', '-f', 'name=zzz'])), 'NETWORK ID   NAME      DRIVER    SCOPE\n');
    fails(await cli(['network', 'ls', '-f', 'colour=red']), 2, /^flotilla: invalid filter 'colour': use driver, id, label, name, scope, type\n$/);
    assert.equal(ok(await cli(['network', 'ls', '--format', '{{.Name}} {{.Driver}} {{.Labels}}'])), 'back overlay \nfront overlay tier=web\n');
    fails(await cli(['network', 'ls', '--format', '{{.Name']), 2, /^flotilla: template parsing error: template: :1: unclosed action\n$/);
  });

  test('inspect: a JSON array with docker\'s fields, by name, id and id prefix; an error per missing one, exit 1', async () => {
    fake.addNetwork(net(FRONT, 'front', { tier: 'web' }));
    const arr = JSON.parse(ok(await cli(['network', 'inspect', 'front', FRONT, 'nfront']))) as Record<string, unknown>[];
    assert.equal(arr.length, 3);
    assert.deepEqual(arr[0], {
      Name: 'front',
      Id: FRONT,
      Created: goJsonTime(T0),
      Scope: 'swarm',
      Driver: 'overlay',
      EnableIPv6: false,
      Internal: false,
      Attachable: false,
      Ingress: false,
      Labels: { tier: 'web' },
    });
    const r = await cli(['network', 'inspect', 'nope', 'front', 'gone']);
    assert.equal(r.code, 1);
    assert.equal(r.err, 'flotilla: no network "nope": see the names and ids with `flotilla network ls`, or create it with `flotilla network create`\nflotilla: no network "gone": see the names and ids with `flotilla network ls`, or create it with `flotilla network create`\n');
    assert.equal((JSON.parse(r.out) as unknown[]).length, 1);
  });

  test('rm: prints each one removed (as given); one error per failing one, exit 1; -f ignores missing ones', async () => {
    fake.addNetwork(net(FRONT, 'front'));
    fake.addNetwork(net(BACK, 'back'));
    fake.addNetwork(net('nused00cccccccccccccccccc', 'used'));
    const web = service('s1aaaaaaaaaaaaaaaaaaaaaaa', 'web');
    web.spec.taskTemplate.networks = ['nused00cccccccccccccccccc'];
    fake.addService(web);
    const r = await cli(['network', 'rm', 'front', 'ghost', 'used', 'nback']);
    assert.equal(r.out, 'front\nnback\n');
    assert.equal(r.code, 1);
    const errs = r.err.trimEnd().split('\n');
    assert.equal(errs.length, 2);
    assert.match(errs[0], /^flotilla: no network "ghost"/);
    assert.match(errs[1], /^flotilla: network "used" is in use by service "web"/);
    assert.deepEqual([...fake.networks.values()].map((n) => n.spec.name), ['used']);
    assert.equal(ok(await cli(['network', 'remove', '-f', 'ghost', 'used2'])), '');
    fails(await cli(['network', 'rm']), 2, /requires at least 1 argument/);
  });

  test('a manager that does not know networks yet: one line naming the method', async () => {
    fake.failNext('ListNetworks', { code: grpc.status.UNIMPLEMENTED, details: 'unknown method' });
    fails(await cli(['network', 'ls']), 1, /^flotilla: the manager at unix:\/\/\S+ does not support ListNetworks \(unknown method\): is it running an older flotilla\?\n$/);
  });
});

describe('pure parts', () => {
  test('parseNetworkCreate, networkFilter, the table and JSON shapes', () => {
    assert.deepEqual(parseNetworkCreate(['-l', 'a=b', 'front']), { name: 'front', labels: { a: 'b' }, driver: 'overlay' });
    assert.deepEqual(parseNetworkCreate(['--driver=overlay', 'front']).driver, 'overlay');
    assert.throws(() => parseNetworkCreate(['--driver', 'host', 'front']), (e) => e instanceof UsageError && /invalid --driver "host"/.test(e.message));
    assert.throws(() => parseNetworkCreate(['a'.repeat(64)]), (e) => e instanceof UsageError && /invalid network name "a{64}": must be 1\.\.63 characters/.test(e.message));
    assert.throws(() => networkFilter(['type=weird']), /type is custom or builtin/);
    assert.throws(() => networkFilter(['scope=planet']), /scope is swarm, global or local/);
    const n = net(FRONT, 'front');
    assert.ok(networkFilter(['type=custom', 'scope=swarm', 'driver=overlay'])(n));
    assert.ok(!networkFilter(['type=builtin'])(n));
    assert.equal(networkTable([n], true), `NETWORK ID                  NAME      DRIVER    SCOPE\n${FRONT}   front     overlay   swarm\n`);
    assert.equal(networkLsJson(n).ID, 'nfront0aaaaa');
    assert.equal(networkLsJson(n, true).ID, FRONT);
    assert.equal(networkInspectJson(n).Id, FRONT);
    assert.equal(goTimeString(Date.UTC(2026, 11, 5, 21, 28, 27, 120)), '2026-12-05 21:28:27.12 +0000 UTC');
    assert.equal(goTimeString(Date.UTC(2026, 11, 5, 21, 28, 27)), '2026-12-05 21:28:27 +0000 UTC');
  });
});

describe('services on networks', () => {
  test('create --network NAME: the manager stores the id; an unknown network names the flag', async () => {
    fake.addNetwork(net(FRONT, 'front'));
    fake.addNetwork(net(BACK, 'back'));
    const id = ok(await cli(['service', 'create', '-d', '--name', 'web', '--network', 'front', '--network', 'name=back', 'nginx'])).trim();
    const req = fake.callsOf('CreateService')[0] as { spec: { taskTemplate: { networks: string[] } } };
    assert.deepEqual(req.spec.taskTemplate.networks, ['front', 'back'], 'names are sent as given');
    assert.deepEqual(fake.services.get(id)?.spec.taskTemplate.networks, [FRONT, BACK]);
    fails(await cli(['service', 'create', '-d', '--name', 'x', '--network', 'nowhere', 'nginx']), 1, /^flotilla: invalid --network: network "nowhere" not found: create it with `flotilla network create nowhere`/);
    fails(await cli(['service', 'create', '-d', '--name', 'x', '--network', 'name=front,ip=10.0.0.9', 'nginx']), 2, /^flotilla: invalid --network "name=front,ip=10.0.0.9": "ip" is not supported/);
  });

  test('--network name=NET,alias=A: aliases keyed by the network as named, stored by id; inspect shows them as docker does', async () => {
    fake.addNetwork(net(FRONT, 'front'));
    fake.addNetwork(net(BACK, 'back'));
    const id = ok(await cli(['service', 'create', '-d', '--name', 'db', '--network', 'front', '--network', 'name=back,alias=pg,alias=primary', 'nginx'])).trim();
    const req = fake.callsOf('CreateService')[0] as { spec: { taskTemplate: { networkAliases: unknown } } };
    assert.deepEqual(req.spec.taskTemplate.networkAliases, { back: { aliases: ['pg', 'primary'] } }, 'keyed by the name given');
    assert.deepEqual(fake.services.get(id)?.spec.taskTemplate.networkAliases, { [BACK]: ['pg', 'primary'] });
    const [inspected] = JSON.parse(ok(await cli(['service', 'inspect', 'db']))) as { Spec: { TaskTemplate: { Networks: unknown } } }[];
    assert.deepEqual(inspected.Spec.TaskTemplate.Networks, [{ Target: FRONT }, { Target: BACK, Aliases: ['pg', 'primary'] }]);
    assert.match(ok(await cli(['service', 'inspect', '--pretty', 'db'])), /\nNetworks:\s+front back \(aliases pg, primary\)\n/);
    // Added (the network looked up first), then replaced by naming it in --network-rm and --network-add.
    ok(await cli(['service', 'update', '-d', '--network-add', 'name=back,alias=replica', 'db']));
    assert.deepEqual(fake.services.get(id)?.spec.taskTemplate.networkAliases, { [BACK]: ['pg', 'primary', 'replica'] });
    ok(await cli(['service', 'update', '-d', '--network-rm', 'back', '--network-add', 'name=back,alias=pg', 'db']));
    assert.deepEqual(fake.services.get(id)?.spec.taskTemplate.networks, [FRONT, BACK]);
    assert.deepEqual(fake.services.get(id)?.spec.taskTemplate.networkAliases, { [BACK]: ['pg'] });
    ok(await cli(['service', 'update', '-d', '--network-rm', 'back', 'db']));
    assert.equal(fake.services.get(id)?.spec.taskTemplate.networkAliases, undefined, 'detached: its aliases with it');
    fails(await cli(['service', 'create', '-d', '--name', 'x', '--network', 'name=front,alias=under_score', 'nginx']), 2, /^flotilla: invalid --network "name=front,alias=under_score": "under_score" is not a DNS name/);
  });

  test('--network-add / --network-rm: names looked up, ids sent; re-adding sends nothing; a missing one fails before any change', async () => {
    fake.addNetwork(net(FRONT, 'front'));
    fake.addNetwork(net(BACK, 'back'));
    const web = service('s1aaaaaaaaaaaaaaaaaaaaaaa', 'web');
    web.spec.taskTemplate.networks = [FRONT];
    fake.addService(web);
    assert.equal(ok(await cli(['service', 'update', '-d', '--network-add', 'back', '--network-rm', 'front', 'web'])), 'web\n');
    assert.deepEqual(fake.services.get(web.id)?.spec.taskTemplate.networks, [BACK]);
    assert.deepEqual(fake.callsOf('GetNetwork').map((r) => r.networkId), ['back', 'front']);
    const sent = fake.callsOf('UpdateService').length;
    assert.equal(ok(await cli(['service', 'update', '-d', '--network-add', 'back', 'web'])), 'web\n');
    assert.equal(ok(await cli(['service', 'update', '-d', '--network-add', 'nback', 'web'])), 'web\n', 'by id prefix');
    assert.equal(ok(await cli(['service', 'update', '-d', '--network-rm', 'front', 'web'])), 'web\n', 'not attached: nothing to remove');
    assert.equal(fake.callsOf('UpdateService').length, sent, 'nothing sent');
    fails(await cli(['service', 'update', '-d', '--network-add', 'ghost', 'web']), 1, /^flotilla: no network "ghost": see the names and ids with `flotilla network ls`/);
    assert.equal(ok(await cli(['service', 'update', '-d', '--network-add', 'back', '--network-rm', 'back', 'web'])), 'web\n', 're-attached as it was: nothing to send');
    fails(await cli(['service', 'update', '-d', '--network-add', 'ghost', '--replicas', 'x', 'web']), 2, /^flotilla: invalid --replicas "x"/);
    assert.equal(fake.callsOf('UpdateService').length, sent);
    assert.equal(ok(await cli(['service', 'update', '-d', '--network-rm', BACK, 'web'])), 'web\n');
    assert.equal(fake.services.get(web.id)?.spec.taskTemplate.networks, undefined);
  });

  test('-p TARGET: the cluster assigns the published port; service ls and inspect --pretty show it', async () => {
    ok(await cli(['service', 'create', '-d', '--name', 'auto', '-p', '80', '--publish', 'published=9000,target=90,mode=host', 'nginx']));
    const [svc] = [...fake.services.values()] as Service[];
    assert.deepEqual(svc.spec.endpoint.ports.map((p) => p.publishedPort), [0, 9000], 'the spec keeps 0: the manager assigns');
    assert.deepEqual(svc.endpoint?.ports.map((p) => p.publishedPort), [30000, 9000]);
    assert.match(ok(await cli(['service', 'ls'])), /\n\S+\s+auto\s+replicated\s+0\/1\s+nginx\s+\*:30000->80\/tcp\n$/);
    assert.match(ok(await cli(['service', 'inspect', '--pretty', 'auto'])), /\nEndpoint Mode:\s+vip\nEndpoint:\n Load balancing:\s+round-robin\n PROXY protocol:\s+none\n Drain period:\s+2s\nPorts:\s+\*:30000->80\/tcp, 9000->90\/tcp \(host\)\n$/);
    // The assigned port stays across an update, and the next service gets the next one.
    ok(await cli(['service', 'update', '-d', '--publish-add', '81', 'auto']));
    assert.deepEqual(fake.services.get(svc.id)?.endpoint?.ports.map((p) => `${p.publishedPort}:${p.targetPort}`), ['30000:80', '9000:90', '30001:81']);
    assert.match(ok(await cli(['service', 'ls'])), /\*:30000-30001->80-81\/tcp\n$/);
    fails(await cli(['service', 'create', '-d', '--name', 'h', '-p', 'mode=host,target=80', 'nginx']), 2, /^flotilla: invalid --publish "mode=host,target=80": mode=host needs published=PORT/);
  });

  test('lb flags reach the manager, and --pretty names the networks', async () => {
    fake.addNetwork(net(FRONT, 'front'));
    ok(await cli(['service', 'create', '-d', '--name', 'web', '--network', 'front', '--lb-policy', 'weighted', '--lb-weight', '10', '--proxy-protocol', 'v1', '--drain-period', '10s', 'nginx']));
    const [svc] = [...fake.services.values()] as Service[];
    assert.deepEqual(svc.spec.endpoint, { ports: [], lbPolicy: 'weighted', proxyProtocol: 'v1', drainPeriodMs: 10_000 });
    assert.equal(svc.spec.taskTemplate.lbWeight, 10);
    assert.match(ok(await cli(['service', 'inspect', '--pretty', 'web'])), /\nNetworks:\s+front\nEndpoint Mode:\s+vip\nEndpoint:\n Load balancing:\s+weighted\n LB weight:\s+10\n PROXY protocol:\s+v1\n Drain period:\s+10s\n$/);
    ok(await cli(['service', 'update', '-d', '--lb-policy', 'least-conn', '--drain-period', '0s', 'web']));
    assert.deepEqual(fake.services.get(svc.id)?.spec.endpoint, { ports: [], lbPolicy: 'least-conn', proxyProtocol: 'v1', drainPeriodMs: 0 });
    fails(await cli(['service', 'update', '-d', '--proxy-protocol', 'v9', 'web']), 2, /^flotilla: invalid --proxy-protocol "v9": must be one of none, v1, v2\n$/);
  });

  test("--endpoint-mode dnsrr reaches the manager; inspect shows docker's Mode; update switches it; ingress ports and a proxy's settings are refused in one line", async () => {
    fake.addNetwork(net(FRONT, 'front'));
    ok(await cli(['service', 'create', '-d', '--name', 'db', '--network', 'front', '--endpoint-mode', 'dnsrr', '-p', 'published=5432,target=5432,mode=host', 'postgres']));
    const [svc] = [...fake.services.values()] as Service[];
    assert.equal(svc.spec.endpoint.mode, 'dnsrr');
    const [json] = JSON.parse(ok(await cli(['service', 'inspect', 'db']))) as { Spec: { EndpointSpec: { Mode: string } }; Endpoint: { Spec: { Mode: string } } }[];
    assert.equal(json.Spec.EndpointSpec.Mode, 'dnsrr');
    assert.equal(json.Endpoint.Spec.Mode, 'dnsrr');
    assert.equal(ok(await cli(['service', 'inspect', '-f', '{{.Spec.EndpointSpec.Mode}}', 'db'])), 'dnsrr\n');
    assert.match(ok(await cli(['service', 'inspect', '--pretty', 'db'])), /\nNetworks:\s+front\nEndpoint Mode:\s+dnsrr\nEndpoint:\n Drain period:\s+2s\nPorts:\s+5432->5432\/tcp \(host\)\n$/);
    fails(await cli(['service', 'update', '-d', '--publish-add', '8080:80', 'db']), 2, /^flotilla: invalid --endpoint-mode: port published with ingress mode can't be used with dnsrr mode \(target port 80\/tcp\): publish it in host mode, or use the vip endpoint mode\n$/);
    fails(await cli(['service', 'update', '-d', '--lb-policy', 'least-conn', 'db']), 2, /^flotilla: invalid --lb-policy: a dnsrr service has no proxy to balance its connections .*: leave the lb policy at round-robin, or use the vip endpoint mode\n$/);
    fails(await cli(['service', 'update', '-d', '--endpoint-mode', 'round-robin', 'db']), 2, /^flotilla: invalid --endpoint-mode "round-robin": must be one of vip, dnsrr\n$/);
    // Back to vip (the default: the field leaves the spec), then an ingress port is fine.
    ok(await cli(['service', 'update', '-d', '--endpoint-mode', 'vip', '--publish-add', '8080:80', 'db']));
    assert.equal(fake.services.get(svc.id)?.spec.endpoint.mode, undefined);
    assert.equal(ok(await cli(['service', 'inspect', '-f', '{{.Endpoint.Spec.Mode}}', 'db'])), 'vip\n');
    fails(await cli(['service', 'create', '-d', '--name', 'rr', '-p', '80', '--endpoint-mode', 'dnsrr', 'nginx']), 2, /^flotilla: invalid --endpoint-mode: port published with ingress mode can't be used with dnsrr mode/);
  });
});
