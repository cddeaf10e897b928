// The mesh's L4 proxy (src/network/port-proxy.ts) on loopback: which backend
// each connection or UDP flow goes to under each policy, passive health
// (a refused backend skipped, then ejected), live set changes that leave open
// connections alone, PROXY protocol headers as a backend receives them,
// half-close, bind errors, UDP flows and their idle expiry, and close().
// Each test has its own 127.0.0.x address; every port is chosen by the kernel.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { once } from 'node:events';
import { PortProxy, type PortProxyOptions } from '../../src/network/port-proxy.js';
import type { Backend, LbPolicy } from '../../src/network/lb.js';
import { decodeProxyHeader, type DecodedProxyHeader } from '../../src/network/proxy-protocol.js';

const T = { timeout: 15_000 };

/** Polls `cond` until true; fails (rather than hangs) after a generous bound. */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.fail(`timed out waiting for ${what}`);
}

interface TestServer {
  id: string;
  port: number;
  server: Server;
  /** Server-side sockets open now. */
  open: Set<Socket>;
}

/** A TCP server that says its id on a line, then echoes. */
async function identServer(t: TestContext, host: string, id: string, port = 0): Promise<TestServer> {
  return tcpServer(t, host, id, port, (s) => {
    s.write(`${id}\n`);
    s.pipe(s);
  });
}

async function tcpServer(t: TestContext, host: string, id: string, port: number, onConn: (s: Socket) => void, allowHalfOpen = false): Promise<TestServer> {
  const open = new Set<Socket>();
  const server = createServer({ allowHalfOpen }, (s) => {
    open.add(s);
    s.on('close', () => open.delete(s));
    s.on('error', () => {});
    onConn(s);
  });
  server.listen(port, host);
  await once(server, 'listening');
  t.after(() => {
    for (const s of open) s.destroy();
    server.close();
  });
  return { id, port: (server.address() as AddressInfo).port, server, open };
}

async function startProxy(t: TestContext, opts: Partial<PortProxyOptions> & { host: string }): Promise<{ proxy: PortProxy; port: number }> {
  const proxy = new PortProxy({ port: 0, protocol: 'tcp', ...opts });
  await proxy.start();
  t.after(() => proxy.close());
  return { proxy, port: proxy.address()!.port };
}

const backend = (s: { id: string; port: number }, host: string, weight = 1): Backend => ({ id: s.id, host, port: s.port, weight });

/** A port on `host` with nothing listening: bound by the kernel, then let go. */
async function deadPort(host: string): Promise<number> {
  const s = createServer().listen(0, host);
  await once(s, 'listening');
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** Reads from `s` until `n` newline-terminated lines have come; returns them. */
function readLines(s: Socket, n: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (d: Buffer): void => {
      buf += d.toString();
      const lines = buf.split('\n');
      if (lines.length > n) {
        s.off('data', onData);
        s.off('close', onClose);
        resolve(lines.slice(0, n));
      }
    };
    const onClose = (): void => reject(new Error(`closed after ${JSON.stringify(buf)}`));
    s.on('data', onData);
    s.once('close', onClose);
  });
}

interface Client {
  socket: Socket;
  id: string;
}

/** Connects to the proxy and reads which backend answered. The connection stays open. */
async function open(t: TestContext, host: string, port: number): Promise<Client> {
  const socket = connect({ host, port });
  t.after(() => socket.destroy());
  socket.on('error', () => {});
  const [id] = await readLines(socket, 1);
  return { socket, id };
}

/** Which backend serves one connection, closed afterwards. */
async function whoServes(t: TestContext, host: string, port: number): Promise<string> {
  const c = await open(t, host, port);
  c.socket.destroy();
  return c.id;
}

async function echo(c: Client, text: string): Promise<string> {
  c.socket.write(`${text}\n`);
  const [line] = await readLines(c.socket, 1);
  return line;
}

async function sequence(t: TestContext, host: string, port: number, n: number): Promise<string> {
  let out = '';
  for (let i = 0; i < n; i++) out += await whoServes(t, host, port);
  return out;
}

async function threeBackends(t: TestContext, host: string): Promise<TestServer[]> {
  return Promise.all(['A', 'B', 'C'].map((id) => identServer(t, host, id)));
}

test('round-robin: 9 connections go A,B,C,A,B,C,A,B,C and carry bytes both ways', T, async (t) => {
  const host = '127.0.0.101';
  const servers = await threeBackends(t, host);
  const { proxy, port } = await startProxy(t, { host });
  proxy.setBackends(servers.map((s) => backend(s, host)), { policy: 'round-robin' });
  assert.equal(await sequence(t, host, port, 9), 'ABCABCABC');
  const c = await open(t, host, port);
  assert.equal(c.id, 'A');
  assert.equal(await echo(c, 'ping'), 'ping');
  c.socket.destroy();
  await until(() => Object.keys(proxy.stats().active).length === 0, 'every connection to be uncounted');
  assert.equal(proxy.stats().accepted, 10);
  assert.equal(proxy.stats().connectFailures, 0);
});

test('least-conn: a held connection keeps its backend out of the next picks; ties go round-robin', T, async (t) => {
  const host = '127.0.0.102';
  const servers = await threeBackends(t, host);
  const { proxy, port } = await startProxy(t, { host });
  proxy.setBackends(servers.map((s) => backend(s, host)), { policy: 'least-conn' });
  const a = await open(t, host, port);
  const b = await open(t, host, port);
  const c = await open(t, host, port);
  assert.deepEqual([a.id, b.id, c.id], ['A', 'B', 'C']);
  assert.deepEqual(proxy.stats().active, { A: 1, B: 1, C: 1 });
  b.socket.destroy();
  await until(() => proxy.stats().active.B === undefined, 'B to have no connection');
  // B alone has the fewest.
  const b2 = await open(t, host, port);
  assert.equal(b2.id, 'B');
  // All at 1: the tie goes to the one after B.
  const c2 = await open(t, host, port);
  assert.equal(c2.id, 'C');
  // A=1 B=1 C=2: A is next after C among the fewest.
  const a2 = await open(t, host, port);
  assert.equal(a2.id, 'A');
  assert.deepEqual(proxy.stats().active, { A: 2, B: 1, C: 2 });
  for (const x of [a, c, b2, c2, a2]) x.socket.destroy();
  await until(() => Object.keys(proxy.stats().active).length === 0, 'every connection to be uncounted');
});

test('weighted 3:1 gives nginx\'s smooth order', T, async (t) => {
  const host = '127.0.0.103';
  const [a, b] = await Promise.all([identServer(t, host, 'A'), identServer(t, host, 'B')]);
  const { proxy, port } = await startProxy(t, { host });
  proxy.setBackends([backend(a, host, 3), backend(b, host, 1)], { policy: 'weighted' });
  assert.equal(await sequence(t, host, port, 8), 'AABAAABA');
});

test('random follows the injected rng', T, async (t) => {
  const host = '127.0.0.104';
  const servers = await threeBackends(t, host);
  const draws = [0.9, 0.1, 0.5, 0.5];
  let i = 0;
  const { proxy, port } = await startProxy(t, { host, rng: () => draws[i++ % draws.length] });
  proxy.setBackends(servers.map((s) => backend(s, host)), { policy: 'random' });
  assert.equal(await sequence(t, host, port, 4), 'CABB');
});

test('a refused backend is skipped, the client still served, and the backend ejected for the next connections', T, async (t) => {
  const host = '127.0.0.105';
  const [a, b] = await Promise.all([identServer(t, host, 'A'), identServer(t, host, 'B')]);
  const dead = { id: 'X', port: await deadPort(host) };
  const { proxy, port } = await startProxy(t, { host });
  proxy.setBackends([backend(a, host), backend(dead, host), backend(b, host)], { policy: 'round-robin' });
  assert.equal(await whoServes(t, host, port), 'A');
  // X's turn: refused, so B serves this client.
  assert.equal(await whoServes(t, host, port), 'B');
  assert.equal(proxy.stats().connectFailures, 1);
  assert.deepEqual(proxy.stats().ejected, ['X']);
  // X's turn again: ejected, so skipped without another attempt.
  assert.equal(await sequence(t, host, port, 4), 'ABAB');
  assert.equal(proxy.stats().connectFailures, 1);
  assert.equal(proxy.stats().noBackend, 0);
});

test('a backend that accepts and closes at once without a byte (a task that just died behind its port forwarder) is ejected', T, async (t) => {
  const host = '127.0.0.126';
  const [a, b] = await Promise.all([identServer(t, host, 'A'), identServer(t, host, 'B')]);
  const silent = await tcpServer(t, host, 'S', 0, (s) => s.end());
  const { proxy, port } = await startProxy(t, { host });
  proxy.setBackends([backend(a, host), backend(silent, host), backend(b, host)], { policy: 'round-robin' });
  assert.equal(await whoServes(t, host, port), 'A');
  // S's turn: the client gets the close (its request was under way), and S is ejected.
  const c = connect({ host, port });
  c.on('error', () => {});
  c.resume();
  await once(c, 'close');
  assert.deepEqual(proxy.stats().ejected, ['S']);
  // The next connections skip it.
  assert.equal(await sequence(t, host, port, 4), 'BABA');
});

test('a backend that answers and then closes, or is closed by a client that ended its side, is not ejected', T, async (t) => {
  const host = '127.0.0.127';
  const quick = await tcpServer(t, host, 'Q', 0, (s) => s.end('Q\n'));
  const sink = await tcpServer(t, host, 'N', 0, (s) => s.resume().on('end', () => s.end()), true);
  const { proxy, port } = await startProxy(t, { host });
  proxy.setBackends([backend(quick, host)], { policy: 'round-robin' });
  for (let i = 0; i < 3; i++) assert.equal(await whoServes(t, host, port), 'Q');
  proxy.setBackends([backend(sink, host)], { policy: 'round-robin' });
  const c = connect({ host, port }, () => c.end('bye'));
  c.on('error', () => {});
  c.resume();
  await once(c, 'close');
  assert.deepEqual(proxy.stats().ejected, []);
});

test('an ejection ends after ejectMs: the backend is tried again', T, async (t) => {
  const host = '127.0.0.106';
  const a = await identServer(t, host, 'A');
  const dead = { id: 'X', port: await deadPort(host) };
  const { proxy, port } = await startProxy(t, { host, ejectMs: 50 });
  proxy.setBackends([backend(dead, host), backend(a, host)], { policy: 'round-robin' });
  assert.equal(await whoServes(t, host, port), 'A');
  assert.equal(proxy.stats().connectFailures, 1);
  await until(() => proxy.stats().ejected.length === 0, 'the ejection to end');
  // Round-robin's turn is X again (after A): tried, refused again, A serves.
  assert.equal(await whoServes(t, host, port), 'A');
  assert.equal(proxy.stats().connectFailures, 2);
});

test('with every backend ejected, they are still tried rather than the client refused', T, async (t) => {
  const host = '127.0.0.107';
  const deadPortX = await deadPort(host);
  const { proxy, port } = await startProxy(t, { host });
  proxy.setBackends([{ id: 'X', host, port: deadPortX, weight: 1 }], { policy: 'round-robin' });
  // Nothing listens: the client is closed, without a byte.
  const c = connect({ host, port });
  c.on('error', () => {});
  const got: Buffer[] = [];
  c.on('data', (d) => got.push(d));
  await once(c, 'close');
  assert.equal(Buffer.concat(got).length, 0);
  assert.deepEqual(proxy.stats().ejected, ['X']);
  assert.equal(proxy.stats().noBackend, 1);
  // X comes up while still ejected: the next client is served by it.
  await identServer(t, host, 'X', deadPortX);
  assert.equal(await whoServes(t, host, port), 'X');
  assert.deepEqual(proxy.stats().ejected, ['X']);
  assert.equal(proxy.stats().connectFailures, 1);
});

test('setBackends while a connection is open: it keeps its backend and works; new connections use the new set', T, async (t) => {
  const host = '127.0.0.108';
  const [a, b, c] = await threeBackends(t, host);
  const { proxy, port } = await startProxy(t, { host });
  proxy.setBackends([backend(a, host)], { policy: 'round-robin' });
  const held = await open(t, host, port);
  assert.equal(held.id, 'A');
  proxy.setBackends([backend(b, host), backend(c, host)], { policy: 'round-robin' });
  assert.equal(await sequence(t, host, port, 3), 'BCB');
  // The draining connection still goes to A, both ways.
  assert.equal(await echo(held, 'still here'), 'still here');
  assert.equal(a.open.size, 1);
  await until(() => JSON.stringify(proxy.stats().active) === '{"A":1}', 'only the held connection to be counted');
  held.socket.end();
  await until(() => a.open.size === 0 && proxy.stats().active.A === undefined, 'A to be drained');
});

test('no backends: the client is closed at once, without a byte', T, async (t) => {
  const host = '127.0.0.109';
  const { proxy, port } = await startProxy(t, { host });
  for (const set of [undefined, []]) {
    if (set !== undefined) proxy.setBackends(set, { policy: 'least-conn' });
    const c = connect({ host, port });
    c.on('error', () => {});
    const got: Buffer[] = [];
    c.on('data', (d) => got.push(d));
    c.write('hello?');
    await once(c, 'close');
    assert.equal(Buffer.concat(got).length, 0);
  }
  assert.equal(proxy.stats().noBackend, 2);
  assert.equal(proxy.stats().accepted, 2);
});

/** A backend that decodes the PROXY header, answers with it as a JSON line, then echoes what follows. */
async function proxyProtocolServer(t: TestContext, host: string): Promise<TestServer> {
  return tcpServer(t, host, 'PP', 0, (s) => {
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      const h = decodeProxyHeader(buf);
      if (h === 'incomplete') return;
      s.off('data', onData);
      s.write(`${JSON.stringify(h)}\n`);
      s.write(buf.subarray(h.headerLength));
      s.pipe(s);
    };
    s.on('data', onData);
  });
}

for (const [version, host, listenOn] of [
  ['v1', '127.0.0.110', '127.0.0.110'],
  ['v2', '127.0.0.111', '127.0.0.111'],
  // An IPv6 listener sees IPv4 clients as ::ffff:a.b.c.d: the header still says TCP4 with the IPv4 addresses.
  ['v2', '127.0.0.112', '::ffff:127.0.0.112'],
  ['v1', '127.0.0.113', '::ffff:127.0.0.113'],
] as const) {
  test(`PROXY ${version} (listening on ${listenOn}): the backend learns the client's real address and port; early bytes follow the header`, T, async (t) => {
    const pp = await proxyProtocolServer(t, host);
    const { proxy, port } = await startProxy(t, { host: listenOn });
    proxy.setBackends([backend(pp, host)], { policy: 'round-robin', proxyProtocol: version });
    const c = connect({ host, port, localAddress: host });
    t.after(() => c.destroy());
    // Written before the proxy can have reached the backend: buffered, then sent after the header.
    c.write('early bytes\n');
    await once(c, 'connect');
    const [json, echoed] = await readLines(c, 2);
    const h = JSON.parse(json) as DecodedProxyHeader;
    assert.equal(h.version, version === 'v1' ? 1 : 2);
    assert.equal(h.family, 'TCP4');
    assert.deepEqual(h.source, { address: host, port: c.localPort });
    assert.deepEqual(h.dest, { address: host, port });
    assert.notEqual(h.source?.port, pp.port);
    assert.equal(echoed, 'early bytes');
  });
}

test('setBackends changes the PROXY protocol for new connections only', T, async (t) => {
  const host = '127.0.0.114';
  const pp = await proxyProtocolServer(t, host);
  const { proxy, port } = await startProxy(t, { host });
  proxy.setBackends([backend(pp, host)], { policy: 'round-robin', proxyProtocol: 'v2' });
  const first = connect({ host, port });
  t.after(() => first.destroy());
  const [h1] = await readLines(first, 1);
  assert.equal((JSON.parse(h1) as DecodedProxyHeader).version, 2);
  proxy.setBackends([backend(pp, host)], { policy: 'round-robin', proxyProtocol: 'v1' });
  const second = connect({ host, port });
  t.after(() => second.destroy());
  const [h2] = await readLines(second, 1);
  assert.equal((JSON.parse(h2) as DecodedProxyHeader).version, 1);
  // The first connection, untouched, still echoes with no second header.
  first.write('x\n');
  assert.deepEqual(await readLines(first, 1), ['x']);
});

test('half-close: a client that ends its side still gets the whole reply', T, async (t) => {
  const host = '127.0.0.115';
  // Replies only once the request has ended (FIN), like a request/response protocol delimited by EOF.
  const srv = await tcpServer(
    t,
    host,
    'H',
    0,
    (s) => {
      const got: Buffer[] = [];
      s.on('data', (d) => got.push(d));
      s.on('end', () => s.end(`got ${Buffer.concat(got).toString()}`));
    },
    true,
  );
  const { proxy, port } = await startProxy(t, { host });
  proxy.setBackends([backend(srv, host)], { policy: 'round-robin' });
  const c = connect({ host, port, allowHalfOpen: true });
  t.after(() => c.destroy());
  c.end('the whole request');
  const got: Buffer[] = [];
  c.on('data', (d) => got.push(d));
  await once(c, 'end');
  assert.equal(Buffer.concat(got).toString(), 'got the whole request');
  await until(() => srv.open.size === 0 && Object.keys(proxy.stats().active).length === 0, 'both sides to be closed');
});

test('a backend that resets takes the client connection with it', T, async (t) => {
  const host = '127.0.0.116';
  const srv = await tcpServer(t, host, 'R', 0, (s) => s.once('data', () => s.resetAndDestroy()));
  const { proxy, port } = await startProxy(t, { host });
  proxy.setBackends([backend(srv, host)], { policy: 'round-robin' });
  const c = connect({ host, port });
  c.on('error', () => {});
  c.write('boom');
  await once(c, 'close');
  await until(() => Object.keys(proxy.stats().active).length === 0, 'the connection to be uncounted');
});

test('a client that resets takes the backend connection with it', T, async (t) => {
  const host = '127.0.0.119';
  const a = await identServer(t, host, 'A');
  const { proxy, port } = await startProxy(t, { host });
  proxy.setBackends([backend(a, host)], { policy: 'round-robin' });
  const c = await open(t, host, port);
  assert.equal(a.open.size, 1);
  c.socket.resetAndDestroy();
  await until(() => a.open.size === 0, 'the backend side to be closed');
  await until(() => Object.keys(proxy.stats().active).length === 0, 'the connection to be uncounted');
});

test('start() rejects with a one-line message naming host:port when the port is taken (tcp and udp)', T, async (t) => {
  const host = '127.0.0.117';
  const taken = await tcpServer(t, host, 'T', 0, () => {});
  const tcp = new PortProxy({ host, port: taken.port, protocol: 'tcp' });
  await assert.rejects(tcp.start(), (err: NodeJS.ErrnoException) => {
    assert.match(err.message, new RegExp(`127\\.0\\.0\\.117:${taken.port}`));
    assert.match(err.message, /EADDRINUSE/);
    assert.doesNotMatch(err.message, /\n/);
    assert.equal(err.code, 'EADDRINUSE');
    return true;
  });
  await tcp.close();
  const u = createSocket('udp4');
  u.bind(0, host);
  await once(u, 'listening');
  t.after(() => u.close());
  const udpPort = u.address().port;
  const udp = new PortProxy({ host, port: udpPort, protocol: 'udp' });
  await assert.rejects(udp.start(), { message: `mesh proxy cannot listen on udp 127.0.0.117:${udpPort}: EADDRINUSE`, code: 'EADDRINUSE' });
  await udp.close();
});

test('close() ends live connections, both sides, and stops listening', T, async (t) => {
  const host = '127.0.0.118';
  const a = await identServer(t, host, 'A');
  const { proxy, port } = await startProxy(t, { host });
  proxy.setBackends([backend(a, host)], { policy: 'round-robin' });
  const c = await open(t, host, port);
  assert.equal(a.open.size, 1);
  const closed = once(c.socket, 'close');
  await proxy.close();
  await closed;
  await until(() => a.open.size === 0, 'the backend side to be closed');
  assert.deepEqual(proxy.stats().active, {});
  const refused = connect({ host, port });
  const [err] = (await once(refused, 'error')) as [NodeJS.ErrnoException];
  assert.equal(err.code, 'ECONNREFUSED');
  // A second close does nothing.
  await proxy.close();
});

// ---- UDP ----

/** A UDP server that answers each datagram with `id:payload`. */
async function udpIdentServer(t: TestContext, host: string, id: string, reply?: (msg: Buffer) => string): Promise<{ id: string; port: number; sources: Set<string> }> {
  const s = createSocket('udp4');
  const sources = new Set<string>();
  s.on('message', (msg, rinfo) => {
    sources.add(`${rinfo.address}:${rinfo.port}`);
    s.send(reply ? reply(msg) : `${id}:${msg.toString()}`, rinfo.port, rinfo.address);
  });
  s.bind(0, host);
  await once(s, 'listening');
  t.after(() => s.close());
  return { id, port: s.address().port, sources };
}

async function udpClient(t: TestContext, host: string): Promise<UdpSocket> {
  const c = createSocket('udp4');
  c.bind(0, host);
  await once(c, 'listening');
  t.after(() => c.close());
  return c;
}

/** Sends `msg` to the proxy and returns the reply and where it came from. */
async function ask(c: UdpSocket, host: string, port: number, msg: string): Promise<{ text: string; from: string }> {
  const reply = once(c, 'message') as Promise<[Buffer, { address: string; port: number }]>;
  c.send(msg, port, host);
  const [buf, rinfo] = await reply;
  return { text: buf.toString(), from: `${rinfo.address}:${rinfo.port}` };
}

async function startUdpProxy(t: TestContext, host: string, opts: Partial<PortProxyOptions> = {}): Promise<{ proxy: PortProxy; port: number }> {
  return startProxy(t, { host, protocol: 'udp', ...opts });
}

test('udp: round-robin by flow, a flow sticks to its backend, replies come back from the proxy\'s address', T, async (t) => {
  const host = '127.0.0.120';
  const servers = await Promise.all(['A', 'B', 'C'].map((id) => udpIdentServer(t, host, id)));
  const { proxy, port } = await startUdpProxy(t, host);
  proxy.setBackends(servers.map((s) => ({ id: s.id, host, port: s.port, weight: 1 })), { policy: 'round-robin' });
  const clients = await Promise.all([1, 2, 3, 4].map(() => udpClient(t, host)));
  const got: string[] = [];
  for (const [i, c] of clients.entries()) {
    const r = await ask(c, host, port, `hello ${i}`);
    got.push(r.text);
    assert.equal(r.from, `${host}:${port}`);
  }
  assert.deepEqual(got, ['A:hello 0', 'B:hello 1', 'C:hello 2', 'A:hello 3']);
  // Each client's later datagrams stay on its flow's backend.
  for (const [i, c] of clients.entries()) assert.equal((await ask(c, host, port, 'again')).text, `${'ABCA'[i]}:again`);
  assert.equal(proxy.stats().flows, 4);
  assert.equal(proxy.stats().accepted, 4);
  assert.deepEqual(proxy.stats().active, { A: 2, B: 1, C: 1 });
  // A saw two flows, from two distinct proxy-side sockets.
  assert.equal(servers[0].sources.size, 2);
});

test('udp: an idle flow expires; the client\'s next datagram opens a new flow', T, async (t) => {
  const host = '127.0.0.121';
  const servers = await Promise.all(['A', 'B'].map((id) => udpIdentServer(t, host, id)));
  const { proxy, port } = await startUdpProxy(t, host, { udpIdleTimeoutMs: 80 });
  proxy.setBackends(servers.map((s) => ({ id: s.id, host, port: s.port, weight: 1 })), { policy: 'round-robin' });
  const c = await udpClient(t, host);
  assert.equal((await ask(c, host, port, 'one')).text, 'A:one');
  assert.equal(proxy.stats().flows, 1);
  await until(() => proxy.stats().flows === 0, 'the flow to idle out');
  assert.deepEqual(proxy.stats().active, {});
  // A new flow: round-robin has moved on to B.
  assert.equal((await ask(c, host, port, 'two')).text, 'B:two');
  assert.equal(proxy.stats().accepted, 2);
});

test('udp: PROXY v2 header (UDP4) in front of every datagram; v1 is not used for UDP', T, async (t) => {
  const host = '127.0.0.122';
  const pp = await udpIdentServer(t, host, 'PP', (msg) => {
    const h = decodeProxyHeader(msg);
    return JSON.stringify({ h, payload: h === 'incomplete' ? null : msg.subarray(h.headerLength).toString() });
  });
  const plain = await udpIdentServer(t, host, 'P');
  const { proxy, port } = await startUdpProxy(t, host);
  proxy.setBackends([{ id: pp.id, host, port: pp.port, weight: 1 }], { policy: 'round-robin', proxyProtocol: 'v2' });
  const c = await udpClient(t, host);
  for (const payload of ['first', 'second']) {
    const { h, payload: got } = JSON.parse((await ask(c, host, port, payload)).text) as { h: DecodedProxyHeader; payload: string };
    assert.equal(h.version, 2);
    assert.equal(h.family, 'UDP4');
    assert.deepEqual(h.source, { address: host, port: c.address().port });
    assert.deepEqual(h.dest, { address: host, port });
    assert.equal(got, payload);
  }
  // v1 asked for UDP: datagrams go as they are.
  proxy.setBackends([{ id: plain.id, host, port: plain.port, weight: 1 }], { policy: 'round-robin', proxyProtocol: 'v1' });
  const c2 = await udpClient(t, host);
  assert.equal((await ask(c2, host, port, 'bare')).text, 'P:bare');
});

test('udp: a refused backend (ICMP port unreachable) ends the flow and is ejected; the next flow goes elsewhere', T, async (t) => {
  const host = '127.0.0.123';
  const a = await udpIdentServer(t, host, 'A');
  const probe = createSocket('udp4');
  probe.bind(0, host);
  await once(probe, 'listening');
  const deadUdp = probe.address().port;
  await new Promise<void>((r) => probe.close(() => r()));
  const { proxy, port } = await startUdpProxy(t, host);
  proxy.setBackends([{ id: 'X', host, port: deadUdp, weight: 1 }, { id: 'A', host, port: a.port, weight: 1 }], { policy: 'round-robin' });
  const c = await udpClient(t, host);
  c.send('lost', port, host);
  await until(() => proxy.stats().connectFailures === 1 && proxy.stats().flows === 0, 'the refused flow to end');
  assert.deepEqual(proxy.stats().ejected, ['X']);
  assert.equal((await ask(c, host, port, 'found')).text, 'A:found');
});

test('udp: no backend drops the datagram; close() ends flows and lets the port go', T, async (t) => {
  const host = '127.0.0.124';
  const a = await udpIdentServer(t, host, 'A');
  const { proxy, port } = await startUdpProxy(t, host);
  const c = await udpClient(t, host);
  c.send('nobody', port, host);
  await until(() => proxy.stats().noBackend === 1, 'the datagram to be dropped');
  proxy.setBackends([{ id: 'A', host, port: a.port, weight: 1 }], { policy: 'round-robin' });
  assert.equal((await ask(c, host, port, 'x')).text, 'A:x');
  assert.equal(proxy.stats().flows, 1);
  await proxy.close();
  assert.equal(proxy.stats().flows, 0);
  assert.deepEqual(proxy.stats().active, {});
  // The port is free again.
  const again = createSocket('udp4');
  again.bind(port, host);
  await once(again, 'listening');
  again.close();
});

test('policies other than round-robin are reachable through setBackends for udp too (least-conn by flows)', T, async (t) => {
  const host = '127.0.0.125';
  const servers = await Promise.all(['A', 'B'].map((id) => udpIdentServer(t, host, id)));
  const { proxy, port } = await startUdpProxy(t, host);
  proxy.setBackends(servers.map((s) => ({ id: s.id, host, port: s.port, weight: 1 })), { policy: 'least-conn' as LbPolicy });
  const [c1, c2, c3] = await Promise.all([1, 2, 3].map(() => udpClient(t, host)));
  assert.equal((await ask(c1, host, port, '1')).text, 'A:1');
  assert.equal((await ask(c2, host, port, '2')).text, 'B:2');
  assert.equal((await ask(c3, host, port, '3')).text, 'A:3');
  assert.deepEqual(proxy.stats().active, { A: 2, B: 1 });
});
