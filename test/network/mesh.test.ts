// One node's data plane (src/network/mesh.ts) from the tables the leader sends, on loopback only: the routing
// mesh's listeners follow the table (created, given new backends, closed), a service on a network gets a virtual
// IP of the node's block and its DNS server answers its name and tasks.NAME to containers that share a network.
// The block is a 127.0.x.0/24, so that every address is on the machine without adding any (the addresses hook
// records what the mesh would add to lo).
import assert from 'node:assert/strict';
import { createServer, connect, type Server } from 'node:net';
import { after, test } from 'node:test';
import dnsPacket from 'dns-packet';
import { createSocket } from 'node:dgram';
import { NodeMesh } from '../../src/network/mesh.js';
import type { dispatcher } from '../../src/api/wire.js';

const NODE = '127.0.92.1';
const BLOCK = '127.0.93.0/24';
const servers: Server[] = [];

/** A TCP server on 127.0.92.x:port that writes its name and closes. */
async function backend(name: string, host: string): Promise<{ host: string; port: number }> {
  const s = createServer((c) => c.end(name));
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, host, () => r()));
  const a = s.address() as { port: number };
  return { host, port: a.port };
}

function ask(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const c = connect({ host, port });
    let got = '';
    c.on('data', (d) => (got += d.toString()));
    c.on('close', () => resolve(got));
    c.on('error', (e) => resolve(`error: ${(e as NodeJS.ErrnoException).code}`));
  });
}

function dnsQuery(server: string, port: number, name: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    const timer = setTimeout(() => (s.close(), reject(new Error('no DNS answer'))), 3000);
    s.on('message', (m) => {
      clearTimeout(timer);
      s.close();
      const p = dnsPacket.decode(m);
      resolve((p.answers ?? []).map((a) => String((a as { data: unknown }).data)));
    });
    s.send(dnsPacket.encode({ type: 'query', id: 7, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name }] }), port, server);
  });
}

function entry(name: string, publishedPort: number, backends: { id: string; host: string; port: number; ip?: string }[], networkIds: string[] = []): dispatcher.ServiceEndpoints__Output {
  return {
    serviceId: `svc-${name}`,
    name,
    aliases: [],
    mode: 0,
    networkIds,
    networkAliases: {},
    ports: publishedPort ? [{ protocol: 0, targetPort: 80, publishedPort, publishMode: 0 }] : [],
    lbPolicy: 0,
    proxyProtocol: 0,
    backends: backends.map((b, i) => ({
      taskId: b.id,
      nodeId: 'n1',
      slot: i + 1,
      weight: 100,
      ports: [{ protocol: 0, targetPort: 80, hostIp: b.host, hostPort: b.port }],
      networks: b.ip ? [{ networkId: 'net1', address: b.ip }] : [],
      engineId: 'E1',
    })),
  };
}

const added: string[] = [];
/** The networks of the containers that ask (by the address they ask from; nothing listens there). */
const ASKERS = new Map([
  ['127.0.0.1', new Set(['net1'])],
  ['127.0.0.98', new Set(['net1', 'net2'])],
  ['127.0.0.99', new Set(['net2'])],
]);
const mesh = new NodeMesh({
  nodeId: 'n1',
  publishAddr: NODE,
  engineId: () => 'E1',
  clientNetworks: async (address) => ASKERS.get(address) ?? new Set(),
  addresses: { add: async (ip) => void added.push(ip), remove: async (ip) => void added.splice(added.indexOf(ip), 1), list: async () => [...added] },
  dnsPort: 15353,
  upstreams: [],
});

after(async () => {
  await mesh.close();
  for (const s of servers) s.close();
});

test('ingress listeners follow the table: round-robin over the backends, new backends in place, gone when the service is', async () => {
  const a = await backend('A', '127.0.92.2');
  const b = await backend('B', '127.0.92.3');
  await mesh.apply({ complete: true, services: [entry('web', 18080, [{ id: 't1', ...a }, { id: 't2', ...b }])], removedServiceIds: [], hasNetworks: true, networks: [], vipBlock: BLOCK });
  const answers: string[] = [];
  for (let i = 0; i < 6; i++) answers.push(await ask(NODE, 18080));
  assert.deepEqual(answers, ['A', 'B', 'A', 'B', 'A', 'B']);
  // A task leaves the table (its desired state moved on): new connections go to the other.
  await mesh.apply({ complete: false, services: [entry('web', 18080, [{ id: 't2', ...b }])], removedServiceIds: [], hasNetworks: false, networks: [], vipBlock: '' });
  for (let i = 0; i < 3; i++) assert.equal(await ask(NODE, 18080), 'B');
  await mesh.apply({ complete: false, services: [], removedServiceIds: ['svc-web'], hasNetworks: false, networks: [], vipBlock: '' });
  assert.equal(await ask(NODE, 18080), 'error: ECONNREFUSED');
  assert.deepEqual(added, [], 'no network, no virtual address');
});

test('a service on a network: a virtual IP of the block, answered by the DNS server to containers that share the network', async () => {
  const a = await backend('A', '127.0.92.4');
  const b = await backend('B', '127.0.92.5');
  const api = entry('api', 0, [{ id: 't1', ...a, ip: '172.30.0.2' }, { id: 't2', ...b, ip: '172.30.0.3' }], ['net1']);
  await mesh.apply({ complete: true, services: [api], removedServiceIds: [], hasNetworks: true, networks: [], vipBlock: BLOCK });
  assert.deepEqual(added.sort(), ['127.0.93.1', '127.0.93.2'], 'the DNS address and one virtual IP');
  assert.equal(mesh.dnsServer, '127.0.93.1');
  assert.deepEqual(await dnsQuery('127.0.93.1', 15353, 'api'), ['127.0.93.2']);
  assert.deepEqual(await dnsQuery('127.0.93.1', 15353, 'API.'), ['127.0.93.2'], 'case-insensitive');
  assert.deepEqual((await dnsQuery('127.0.93.1', 15353, 'tasks.api')).sort(), ['172.30.0.2', '172.30.0.3']);
  // The virtual IP balances over the tasks, on the service's ports.
  assert.deepEqual([await ask('127.0.93.2', 80), await ask('127.0.93.2', 80)], ['A', 'B']);
  // The service leaves the network: its virtual IP and the DNS server go.
  await mesh.apply({ complete: false, services: [{ ...api, networkIds: [] }], removedServiceIds: [], hasNetworks: false, networks: [], vipBlock: '' });
  assert.deepEqual(added, []);
  assert.equal(mesh.dnsServer, '');
});

test('a published port taken by someone else is not served, and is tried again at the next change', async () => {
  const squatter = createServer((c) => c.end('squatter'));
  await new Promise<void>((r) => squatter.listen(18090, NODE, () => r()));
  const a = await backend('A', '127.0.92.7');
  const table = (ids: string[]): dispatcher.DataPlane__Output => ({
    complete: false,
    services: [entry('late', 18090, ids.map((id) => ({ id, ...a })))],
    removedServiceIds: [],
    hasNetworks: false,
    networks: [],
    vipBlock: '',
  });
  await mesh.apply(table(['t1']));
  assert.equal(await ask(NODE, 18090), 'squatter');
  await new Promise<void>((r) => squatter.close(() => r()));
  await mesh.apply(table(['t1', 't1b']));
  assert.equal(await ask(NODE, 18090), 'A', 'bound at the next change, once the port was free');
  await mesh.apply({ complete: false, services: [], removedServiceIds: ['svc-late'], hasNetworks: false, networks: [], vipBlock: '' });
});

test('a stack service answers to its short name on its own networks; the same short name in another stack is not it', async () => {
  const a = await backend('A', '127.0.92.5');
  const mine = { ...entry('app_web', 0, [{ id: 't21', ...a, ip: '172.30.0.5' }], ['net1']), aliases: ['web'] };
  const theirs = { ...entry('other_web', 0, [{ id: 't22', ...a, ip: '172.31.0.5' }], ['net2']), aliases: ['web'] };
  await mesh.apply({ complete: true, services: [theirs, mine], removedServiceIds: [], hasNetworks: true, networks: [], vipBlock: BLOCK });
  const byName = await mesh.resolve({ name: 'app_web', type: 'A', client: '127.0.0.1' });
  assert.ok(byName?.kind === 'addresses' && byName.addresses.length === 1, JSON.stringify(byName));
  assert.deepEqual(await mesh.resolve({ name: 'web', type: 'A', client: '127.0.0.1' }), byName);
  const tasks = await mesh.resolve({ name: 'tasks.web', type: 'A', client: '127.0.0.1' });
  assert.deepEqual(tasks, await mesh.resolve({ name: 'tasks.app_web', type: 'A', client: '127.0.0.1' }));
  assert.deepEqual(await mesh.resolve({ name: 'other_web', type: 'A', client: '127.0.0.1' }), undefined);
});

test('the DNS server leaves names of services on other networks to the upstreams', async () => {
  const a = await backend('A', '127.0.92.6');
  const other = { ...entry('other', 0, [{ id: 't9', ...a, ip: '172.31.0.2' }], ['net2']), serviceId: 'svc-other' };
  const api = entry('api', 0, [{ id: 't1', ...a, ip: '172.30.0.2' }], ['net1']);
  await mesh.apply({ complete: true, services: [api, other], removedServiceIds: [], hasNetworks: true, networks: [], vipBlock: BLOCK });
  assert.deepEqual(await mesh.resolve({ name: 'other', type: 'A', client: '127.0.0.1' }), undefined, 'no shared network: not ours');
  assert.deepEqual(await mesh.resolve({ name: 'api', type: 'A', client: '127.0.0.9' }), undefined, 'an asker on no network of ours');
  const own = await mesh.resolve({ name: 'api', type: 'A', client: '127.0.0.1' });
  assert.ok(own?.kind === 'addresses' && own.addresses.length === 1 && added.includes(own.addresses[0]) && own.addresses[0] !== '127.0.93.1', JSON.stringify(own));
});

// Endpoint mode dnsrr, on a node of its own whose VIP block is 127.0.0.96/30: its DNS server is 127.0.0.97 (the
// only address these tests listen on) and it has one virtual IP to hand out, 127.0.0.98 (recorded by the addresses
// hook, never listened on: these services publish no port, so no proxy opens on it).
const RR_DNS = '127.0.0.97';
const RR_DNS_PORT = 15397;
const RR_VIP = '127.0.0.98';
const rrAdded: string[] = [];
/** A seeded PRNG (an LCG): the shuffles differ from query to query, the same in every run. */
let seed = 42;
const rrMesh = new NodeMesh({
  nodeId: 'n9',
  publishAddr: RR_DNS,
  engineId: () => 'E1',
  clientNetworks: async (address) => (address.startsWith('127.') ? new Set(['net1']) : new Set()),
  addresses: { add: async (ip) => void rrAdded.push(ip), remove: async (ip) => void rrAdded.splice(rrAdded.indexOf(ip), 1), list: async () => [...rrAdded] },
  dnsPort: RR_DNS_PORT,
  upstreams: [],
  random: () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31,
});
after(() => rrMesh.close());

/** A service on net1 with no port, its tasks at `ips` (on this node's engine unless `engine` says otherwise). */
function onNet(name: string, mode: 0 | 1, ips: string[], engine = 'E1'): dispatcher.ServiceEndpoints__Output {
  return {
    ...entry(name, 0, []),
    mode,
    networkIds: ['net1'],
    backends: ips.map((ip, i) => ({ taskId: `${name}-t${i}`, nodeId: 'n9', slot: i + 1, weight: 100, ports: [], networks: [{ networkId: 'net1', address: ip }], engineId: engine })),
  };
}

function addressesOf(a: Awaited<ReturnType<NodeMesh['resolve']>>): string[] {
  assert.ok(a?.kind === 'addresses', JSON.stringify(a));
  return a.addresses;
}

test("a dnsrr service gets no virtual IP: its name and its aliases answer its tasks' addresses, the set tasks.NAME answers, shuffled", async () => {
  const db = { ...onNet('app_db', 1, ['172.30.0.2', '172.30.0.3', '172.30.0.4']), aliases: ['db'] };
  // A task on another engine is not reachable from here at its own address (as tasks.NAME, it is left out).
  db.backends.push({ ...onNet('x', 1, ['172.30.9.9'], 'E2').backends[0], taskId: 'app_db-far' });
  const api = onNet('api', 0, ['172.30.0.5']);
  await rrMesh.apply({ complete: true, services: [db, api], removedServiceIds: [], hasNetworks: true, networks: [], vipBlock: '127.0.0.96/30' });
  assert.deepEqual(rrAdded.sort(), [RR_DNS, RR_VIP], 'the DNS address and the vip service\'s virtual IP; none for the dnsrr one');
  assert.deepEqual(addressesOf(await rrMesh.resolve({ name: 'api', type: 'A', client: '127.0.0.1' })), [RR_VIP]);
  const tasks = ['172.30.0.2', '172.30.0.3', '172.30.0.4'];
  const firsts = new Set<string>();
  for (const name of ['app_db', 'db', 'tasks.app_db', 'tasks.db']) {
    for (let i = 0; i < 10; i++) {
      const got = addressesOf(await rrMesh.resolve({ name, type: 'A', client: '127.0.0.1' }));
      assert.deepEqual([...got].sort(), tasks, name);
      firsts.add(got[0]);
    }
  }
  assert.deepEqual([...firsts].sort(), tasks, 'every task comes first in some answer: clients that take the first spread');
  // Through the DNS server itself, as a container asks.
  assert.deepEqual((await dnsQuery(RR_DNS, RR_DNS_PORT, 'app_db')).sort(), tasks);
  assert.deepEqual(await dnsQuery(RR_DNS, RR_DNS_PORT, 'tasks.api'), ['172.30.0.5'], 'tasks.NAME of a vip service as before');
  // A dnsrr service with no task running answers no address (not the host's resolvers': the name is the cluster's).
  await rrMesh.apply({ complete: false, services: [{ ...db, backends: [] }], removedServiceIds: [], hasNetworks: false, networks: [], vipBlock: '' });
  assert.deepEqual(addressesOf(await rrMesh.resolve({ name: 'db', type: 'A', client: '127.0.0.1' })), []);
});

test('switching endpoint modes: vip to dnsrr gives the virtual IP back, dnsrr to vip takes one, in the same change', async () => {
  const db = onNet('app_db', 1, ['172.30.0.2']);
  const api = onNet('api', 0, ['172.30.0.5']);
  await rrMesh.apply({ complete: true, services: [db, api], removedServiceIds: [], hasNetworks: true, networks: [], vipBlock: '127.0.0.96/30' });
  assert.deepEqual(addressesOf(await rrMesh.resolve({ name: 'api', type: 'A', client: '127.0.0.1' })), [RR_VIP]);
  // The block has one address to hand out: db gets it only because api gave it back first.
  await rrMesh.apply({ complete: false, services: [{ ...api, mode: 1 }, { ...db, mode: 0 }], removedServiceIds: [], hasNetworks: false, networks: [], vipBlock: '' });
  assert.deepEqual(addressesOf(await rrMesh.resolve({ name: 'api', type: 'A', client: '127.0.0.1' })), ['172.30.0.5'], 'api answers its task now');
  assert.deepEqual(addressesOf(await rrMesh.resolve({ name: 'app_db', type: 'A', client: '127.0.0.1' })), [RR_VIP], 'app_db answers the virtual IP api had');
  assert.deepEqual(rrAdded.sort(), [RR_DNS, RR_VIP]);
  // Both dnsrr: no virtual IP is left on the node, the DNS server stays (their names are its to answer).
  await rrMesh.apply({ complete: false, services: [{ ...db, mode: 1 }], removedServiceIds: [], hasNetworks: false, networks: [], vipBlock: '' });
  assert.deepEqual(rrAdded, [RR_DNS]);
  assert.equal(rrMesh.dnsServer, RR_DNS);
  assert.deepEqual(await dnsQuery(RR_DNS, RR_DNS_PORT, 'app_db'), ['172.30.0.2']);
});

test('an alias on one network is answered only to askers on that network; the name and the stack alias on all of them', async () => {
  // No ports: virtual IPs and DNS answers only, no listener.
  const onBoth = (id: string, ip1: string, ip2: string): dispatcher.Backend__Output => ({
    taskId: id,
    nodeId: 'n1',
    slot: 1,
    weight: 100,
    ports: [],
    networks: [
      { networkId: 'net1', address: ip1 },
      { networkId: 'net2', address: ip2 },
    ],
    engineId: 'E1',
  });
  const db = { ...entry('app_db', 0, [], ['net1', 'net2']), aliases: ['db'], networkAliases: { net2: { aliases: ['PG', 'primary.pg'] } }, backends: [onBoth('t31', '172.30.0.31', '172.31.0.31')] };
  // Another service whose alias on net1 is the same name: net1's askers get it, net2's get db.
  const other = { ...entry('other_pg', 0, [], ['net1']), serviceId: 'svc-other-pg', networkAliases: { net1: { aliases: ['pg'] } } };
  await mesh.apply({ complete: true, services: [db, other], removedServiceIds: [], hasNetworks: true, networks: [], vipBlock: BLOCK });
  const ask = (name: string, client: string) => mesh.resolve({ name, type: 'A', client });
  const vipOf = async (name: string): Promise<string> => {
    const a = await ask(name, '127.0.0.98');
    assert.ok(a?.kind === 'addresses' && a.addresses.length === 1, JSON.stringify(a));
    return a.addresses[0];
  };
  const dbVip = await vipOf('app_db');
  const otherVip = await vipOf('other_pg');
  assert.notEqual(dbVip, otherVip);
  // The alias on net2: an asker on net2 gets db; one on net1 alone gets the other service's alias on net1.
  assert.deepEqual(await ask('pg', '127.0.0.99'), { kind: 'addresses', addresses: [dbVip] });
  assert.deepEqual(await ask('primary.pg', '127.0.0.99'), { kind: 'addresses', addresses: [dbVip] });
  assert.deepEqual(await ask('primary.pg', '127.0.0.1'), undefined, 'on net1 db has no such name');
  assert.deepEqual(await ask('pg', '127.0.0.1'), { kind: 'addresses', addresses: [otherVip] });
  // tasks.ALIAS: the tasks' addresses on the alias's network only, though they are on both.
  assert.deepEqual(await ask('tasks.primary.pg', '127.0.0.98'), { kind: 'addresses', addresses: ['172.31.0.31'] });
  // (Answers with several addresses come shuffled: compared as sets.)
  const tasksOfDb = await ask('tasks.app_db', '127.0.0.98');
  assert.ok(tasksOfDb?.kind === 'addresses', JSON.stringify(tasksOfDb));
  assert.deepEqual([...tasksOfDb.addresses].sort(), ['172.30.0.31', '172.31.0.31']);
  // The name and the stack's short name: on every network of the service.
  for (const client of ['127.0.0.1', '127.0.0.99']) {
    assert.deepEqual(await ask('app_db', client), { kind: 'addresses', addresses: [dbVip] }, client);
    assert.deepEqual(await ask('db', client), { kind: 'addresses', addresses: [dbVip] }, client);
  }
  assert.deepEqual(await ask('pg', '127.0.0.9'), undefined, 'an asker on no network of ours');
  // The aliases change: the old one is gone at once.
  await mesh.apply({ complete: false, services: [{ ...db, networkAliases: { net1: { aliases: ['cache'] } } }], removedServiceIds: [], hasNetworks: false, networks: [], vipBlock: '' });
  assert.deepEqual(await ask('primary.pg', '127.0.0.99'), undefined);
  assert.deepEqual(await ask('cache', '127.0.0.1'), { kind: 'addresses', addresses: [dbVip] });
  assert.deepEqual(await ask('cache', '127.0.0.99'), undefined);
  await mesh.apply({ complete: false, services: [], removedServiceIds: ['svc-app_db', 'svc-other-pg'], hasNetworks: false, networks: [], vipBlock: '' });
});
