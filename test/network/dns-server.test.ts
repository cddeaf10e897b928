// The node's DNS server for containers: our own answers over UDP and TCP (order, TTL, flags, case,
// AAAA and NXDOMAIN), forwarding to upstreams (relayed under the client's id, the next upstream after
// a silent one, SERVFAIL when none answers, TCP after a truncated UDP reply), truncation, malformed
// input, the asker's address, bind errors, resolv.conf parsing, and a real resolver (busybox nslookup).
// Everything runs on loopback: each test on its own 127.0.53.x address (busybox's on 127.0.0.77:53).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import dnsPacket from 'dns-packet';
import type { DecodedPacket, Packet, StringAnswer } from 'dns-packet';
import { DnsServer, resolveUpstreams, type DnsAnswer, type DnsQuery, type DnsServerOptions } from '../../src/network/dns-server.js';

const T = { timeout: 15_000 };

type Target = { host: string; port: number };

/** A started server on `host` (a port the OS picks), closed by the caller. */
async function serve(host: string, options: Partial<DnsServerOptions> & Pick<DnsServerOptions, 'resolve'>): Promise<DnsServer> {
  const server = new DnsServer({ host, port: 0, ...options });
  await server.start();
  return server;
}

/** A resolver knowing a fixed table; every query it sees is recorded. */
function table(entries: Record<string, DnsAnswer>, seen: DnsQuery[] = []): (q: DnsQuery) => DnsAnswer | undefined {
  return (q) => {
    seen.push(q);
    return entries[q.name];
  };
}

function query(name: string, type: 'A' | 'AAAA' | 'MX' = 'A', id = 1000 + Math.floor(Math.random() * 60000), extra: Partial<Packet> = {}): Packet {
  return { type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name, class: 'IN' }], ...extra };
}

/** Sends `msg` over UDP (from `localAddress` if given) and resolves with the first reply, or rejects after 3 s. */
function udpAsk(to: Target, msg: Packet | Buffer, localAddress?: string): Promise<DecodedPacket> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket('udp4');
    const timer = setTimeout(() => {
      sock.close();
      reject(new Error(`no UDP reply from ${to.host}:${to.port}`));
    }, 3000);
    sock.on('message', (m) => {
      clearTimeout(timer);
      sock.close();
      resolve(dnsPacket.decode(m));
    });
    sock.bind({ address: localAddress ?? '127.0.0.1', port: 0 }, () => {
      sock.send(Buffer.isBuffer(msg) ? msg : dnsPacket.encode(msg), to.port, to.host);
    });
  });
}

/** Sends each message over one TCP connection (length-prefixed) and resolves with the replies, by arrival. */
function tcpAsk(to: Target, msgs: (Packet | Buffer)[], localAddress?: string): Promise<DecodedPacket[]> {
  return new Promise((resolve, reject) => {
    const replies: DecodedPacket[] = [];
    let buffered = Buffer.alloc(0);
    const sock = net.connect({ host: to.host, port: to.port, localAddress }, () => {
      for (const m of msgs) {
        const body = Buffer.isBuffer(m) ? m : dnsPacket.encode(m);
        const framed = Buffer.alloc(2 + body.length);
        framed.writeUInt16BE(body.length, 0);
        body.copy(framed, 2);
        sock.write(framed);
      }
    });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`${replies.length} of ${msgs.length} TCP replies from ${to.host}:${to.port}`));
    }, 3000);
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    sock.on('data', (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
        replies.push(dnsPacket.decode(buffered.subarray(2, 2 + buffered.readUInt16BE(0))));
        buffered = buffered.subarray(2 + buffered.readUInt16BE(0));
      }
      if (replies.length === msgs.length) {
        clearTimeout(timer);
        sock.end();
        resolve(replies);
      }
    });
  });
}

function rcode(p: DecodedPacket): string {
  return (p as DecodedPacket & { rcode: string }).rcode;
}

function ttls(p: DecodedPacket): number[] {
  return (p.answers ?? []).filter((a): a is StringAnswer => a.type === 'A').map((a) => a.ttl ?? -1);
}

function addresses(p: DecodedPacket): string[] {
  return (p.answers ?? []).filter((a): a is StringAnswer => a.type === 'A').map((a) => a.data);
}

/** A UDP socket on `host` that reads queries and never answers: an upstream that is down. */
async function silentUpstream(host: string): Promise<{ target: string; received: () => number; close: () => void }> {
  const sock = dgram.createSocket('udp4');
  let count = 0;
  sock.on('message', () => count++);
  await new Promise<void>((r) => sock.bind({ address: host, port: 0 }, () => r()));
  return { target: `${host}:${sock.address().port}`, received: () => count, close: () => sock.close() };
}

test('UDP: A records in the order given, TTL 0, the id, AA and RA set, RD copied, the question echoed', T, async () => {
  const seen: DnsQuery[] = [];
  const server = await serve('127.0.53.1', { resolve: table({ web: { kind: 'addresses', addresses: ['10.0.0.9', '10.0.0.2', '10.0.0.5'] } }, seen) });
  try {
    const r = await udpAsk(server.address(), query('web', 'A', 4321));
    assert.equal(r.id, 4321);
    assert.equal(r.type, 'response');
    assert.equal(rcode(r), 'NOERROR');
    assert.deepEqual(addresses(r), ['10.0.0.9', '10.0.0.2', '10.0.0.5']);
    assert.deepEqual(ttls(r), [0, 0, 0]);
    assert.ok(r.answers?.every((a) => a.type === 'A' && a.name === 'web'));
    assert.equal(r.flag_aa, true);
    assert.equal(r.flag_ra, true);
    assert.equal(r.flag_rd, true);
    assert.equal(r.flag_tc, false);
    assert.deepEqual(r.questions, [{ name: 'web', type: 'A', class: 'IN' }]);
    assert.deepEqual(seen, [{ name: 'web', type: 'A', client: '127.0.0.1' }]);

    const noRd = await udpAsk(server.address(), { ...query('web'), flags: 0 });
    assert.equal(noRd.flag_rd, false, 'RD is copied, not set');
    assert.equal(addresses(noRd).length, 3);
  } finally {
    await server.close();
  }
});

test('TCP: answered with the length prefix, and several queries pipelined on one connection', T, async () => {
  const server = await serve('127.0.53.2', {
    resolve: table({ web: { kind: 'addresses', addresses: ['10.0.1.1'], ttl: 7 }, db: { kind: 'addresses', addresses: ['10.0.1.2', '10.0.1.3'] } }),
  });
  try {
    const replies = await tcpAsk(server.address(), [query('web', 'A', 1), query('db', 'A', 2)]);
    const byId = new Map(replies.map((r) => [r.id, r]));
    assert.deepEqual(addresses(byId.get(1)!), ['10.0.1.1']);
    assert.deepEqual(ttls(byId.get(1)!), [7], 'a TTL resolve gives is used');
    assert.deepEqual(addresses(byId.get(2)!), ['10.0.1.2', '10.0.1.3']);
    assert.ok(replies.every((r) => r.flag_aa && r.flag_ra && rcode(r) === 'NOERROR'));
  } finally {
    await server.close();
  }
});

test('names match case-insensitively and without the trailing dot; the answer keeps the name as asked', T, async () => {
  const seen: DnsQuery[] = [];
  const server = await serve('127.0.53.3', { resolve: table({ 'web.frontend': { kind: 'addresses', addresses: ['10.0.2.1'] } }, seen) });
  try {
    const r = await udpAsk(server.address(), query('WeB.FrontEnd.', 'A'));
    assert.deepEqual(addresses(r), ['10.0.2.1']);
    assert.equal(r.answers?.[0].name, 'WeB.FrontEnd');
    const [tcp] = await tcpAsk(server.address(), [query('WEB.FRONTEND')]);
    assert.deepEqual(addresses(tcp), ['10.0.2.1']);
    assert.deepEqual(
      seen.map((q) => q.name),
      ['web.frontend', 'web.frontend'],
    );
  } finally {
    await server.close();
  }
});

test('a name of ours asked for AAAA (or MX) is NOERROR with no answer; an nxdomain name is NXDOMAIN', T, async () => {
  const seen: DnsQuery[] = [];
  const server = await serve('127.0.53.4', {
    resolve: table({ web: { kind: 'addresses', addresses: ['10.0.3.1'] }, gone: { kind: 'nxdomain' } }, seen),
    upstreams: [],
  });
  try {
    const aaaa = await udpAsk(server.address(), query('web', 'AAAA'));
    assert.equal(rcode(aaaa), 'NOERROR');
    assert.equal(aaaa.answers?.length, 0);
    assert.equal(aaaa.flag_aa, true);
    const mx = await udpAsk(server.address(), query('web', 'MX'));
    assert.equal(rcode(mx), 'NOERROR');
    assert.equal(mx.answers?.length, 0);
    const nx = await udpAsk(server.address(), query('gone', 'A', 77));
    assert.equal(nx.id, 77);
    assert.equal(rcode(nx), 'NXDOMAIN');
    assert.equal(nx.flag_aa, true);
    assert.equal(nx.answers?.length, 0);
    const [nxTcp] = await tcpAsk(server.address(), [query('GONE', 'AAAA')]);
    assert.equal(rcode(nxTcp), 'NXDOMAIN');
    assert.deepEqual(
      seen.map((q) => `${q.name}/${q.type}`),
      ['web/AAAA', 'web/MX', 'gone/A', 'gone/AAAA'],
    );
  } finally {
    await server.close();
  }
});

test('a name resolve leaves alone is forwarded to the upstream and its reply relayed under the client id', T, async () => {
  const upstreamSeen: DnsQuery[] = [];
  const upstream = await serve('127.0.53.5', { resolve: table({ 'example.test': { kind: 'addresses', addresses: ['192.0.2.7'], ttl: 300 }, 'unknown.test': { kind: 'nxdomain' } }, upstreamSeen) });
  const seen: DnsQuery[] = [];
  const { host, port } = upstream.address();
  const server = await serve('127.0.53.6', { resolve: table({ web: { kind: 'addresses', addresses: ['10.0.4.1'] } }, seen), upstreams: [`${host}:${port}`] });
  try {
    const r = await udpAsk(server.address(), query('Example.Test', 'A', 31337));
    assert.equal(r.id, 31337);
    assert.equal(rcode(r), 'NOERROR');
    assert.deepEqual(addresses(r), ['192.0.2.7']);
    assert.deepEqual(ttls(r), [300], 'the upstream reply is relayed as it is');
    assert.deepEqual(
      upstreamSeen.map((q) => q.name),
      ['example.test'],
    );
    assert.deepEqual(
      seen.map((q) => q.name),
      ['example.test'],
      'resolve was asked first',
    );

    const [tcp] = await tcpAsk(server.address(), [query('example.test', 'A', 555)]);
    assert.equal(tcp.id, 555);
    assert.deepEqual(addresses(tcp), ['192.0.2.7']);

    // The upstream's NXDOMAIN is relayed as such: not ours to turn into anything else.
    const nx = await udpAsk(server.address(), query('unknown.test', 'A', 99));
    assert.equal(nx.id, 99);
    assert.equal(rcode(nx), 'NXDOMAIN');
    assert.equal(upstreamSeen.length, 3);
  } finally {
    await server.close();
    await upstream.close();
  }
});

test('a silent upstream: the next one is tried; none answering (or none at all) is SERVFAIL', T, async () => {
  const silent = await silentUpstream('127.0.53.7');
  const good = await serve('127.0.53.8', { resolve: table({ 'example.test': { kind: 'addresses', addresses: ['192.0.2.8'] } }) });
  const both = await serve('127.0.53.9', { resolve: () => undefined, upstreams: [silent.target, `127.0.53.8:${good.address().port}`], forwardTimeoutMs: 200 });
  const onlySilent = await serve('127.0.53.10', { resolve: () => undefined, upstreams: [silent.target], forwardTimeoutMs: 200 });
  const none = await serve('127.0.53.11', { resolve: () => undefined });
  try {
    const r = await udpAsk(both.address(), query('example.test', 'A', 11));
    assert.equal(r.id, 11);
    assert.deepEqual(addresses(r), ['192.0.2.8']);
    assert.equal(silent.received(), 1, 'the silent upstream was asked first');

    const fail = await udpAsk(onlySilent.address(), query('example.test', 'A', 12));
    assert.equal(fail.id, 12);
    assert.equal(rcode(fail), 'SERVFAIL');
    assert.equal(fail.flag_aa, false, 'a SERVFAIL is not an authoritative answer');
    assert.equal(silent.received(), 2);
    const [failTcp] = await tcpAsk(onlySilent.address(), [query('example.test', 'A', 13)]);
    assert.equal(rcode(failTcp), 'SERVFAIL');

    const noUpstream = await udpAsk(none.address(), query('example.test', 'A', 14));
    assert.equal(noUpstream.id, 14);
    assert.equal(rcode(noUpstream), 'SERVFAIL');
  } finally {
    await Promise.all([both.close(), onlySilent.close(), none.close(), good.close()]);
    silent.close();
  }
});

test('too many addresses for UDP: truncated with TC; over TCP all of them, also when forwarded (TCP after a truncated UDP reply)', T, async () => {
  const many = Array.from({ length: 100 }, (_, i) => `10.5.${i >> 8}.${i & 255}`);
  const upstream = await serve('127.0.53.12', { resolve: table({ 'many.test': { kind: 'addresses', addresses: many } }) });
  const server = await serve('127.0.53.13', { resolve: () => undefined, upstreams: [`127.0.53.12:${upstream.address().port}`] });
  try {
    const own = upstream.address();
    const udp = await udpAsk(own, query('many.test'));
    assert.equal(udp.flag_tc, true);
    assert.ok(addresses(udp).length > 0 && addresses(udp).length < 100, `${addresses(udp).length} answers`);
    assert.deepEqual(addresses(udp), many.slice(0, addresses(udp).length), 'the first ones, in order');
    assert.ok(dnsPacket.encode(udp).length <= 512);

    // With EDNS the client's larger payload size is used, up to 1232 bytes, and EDNS is echoed.
    const edns = await udpAsk(own, query('many.test', 'A', 3, { additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4096, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }] }));
    assert.equal(edns.flag_tc, true);
    assert.ok(addresses(edns).length > addresses(udp).length);
    assert.ok(dnsPacket.encode(edns).length <= 1232);
    assert.equal(edns.additionals?.[0]?.type, 'OPT');

    const [tcp] = await tcpAsk(own, [query('many.test')]);
    assert.equal(tcp.flag_tc, false);
    assert.deepEqual(addresses(tcp), many);

    const [forwarded] = await tcpAsk(server.address(), [query('many.test', 'A', 808)]);
    assert.equal(forwarded.id, 808);
    assert.equal(forwarded.flag_tc, false);
    assert.deepEqual(addresses(forwarded), many);
  } finally {
    await server.close();
    await upstream.close();
  }
});

test('malformed packets: UDP junk is dropped and TCP junk closes the connection; the server answers on', T, async () => {
  const server = await serve('127.0.53.14', { resolve: table({ web: { kind: 'addresses', addresses: ['10.0.6.1'] } }) });
  try {
    const target = server.address();
    const good = dnsPacket.encode(query('web', 'A', 2024));
    const junk = [Buffer.from('not a dns packet at all, really'), Buffer.alloc(5), good.subarray(0, good.length - 3), Buffer.alloc(0)];
    // A response sent to the server is not a query: not answered either.
    const response = dnsPacket.encode({ type: 'response', id: 9, questions: [{ type: 'A', name: 'web' }], answers: [] });
    // One socket sends the junk then a good query: the first reply it gets is the good query's.
    const first = await new Promise<DecodedPacket>((resolve, reject) => {
      const sock = dgram.createSocket('udp4');
      const timer = setTimeout(() => {
        sock.close();
        reject(new Error('no reply'));
      }, 3000);
      sock.on('message', (m) => {
        clearTimeout(timer);
        sock.close();
        resolve(dnsPacket.decode(m));
      });
      sock.bind({ address: '127.0.0.1', port: 0 }, () => {
        for (const j of [...junk, response]) sock.send(j, target.port, target.host);
        sock.send(good, target.port, target.host);
      });
    });
    assert.equal(first.id, 2024);
    assert.deepEqual(addresses(first), ['10.0.6.1']);

    // TCP: a frame that does not decode closes the connection without a reply.
    const closed = await new Promise<{ replied: boolean }>((resolve, reject) => {
      let replied = false;
      const sock = net.connect({ host: target.host, port: target.port }, () => sock.write(Buffer.from([0, 4, 1, 2, 3, 4])));
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new Error('the connection stayed open'));
      }, 3000);
      sock.on('data', () => (replied = true));
      sock.on('error', () => undefined);
      sock.on('close', () => {
        clearTimeout(timer);
        resolve({ replied });
      });
    });
    assert.equal(closed.replied, false);
    const [after] = await tcpAsk(target, [query('web', 'A', 7)]);
    assert.deepEqual(addresses(after), ['10.0.6.1']);
    assert.deepEqual(addresses(await udpAsk(target, query('web'))), ['10.0.6.1']);
  } finally {
    await server.close();
  }
});

test('a query with several questions is answered for the first only', T, async () => {
  const seen: DnsQuery[] = [];
  const server = await serve('127.0.53.15', { resolve: table({ web: { kind: 'addresses', addresses: ['10.0.7.1'] }, db: { kind: 'addresses', addresses: ['10.0.7.2'] } }, seen) });
  try {
    const r = await udpAsk(server.address(), {
      type: 'query',
      id: 5,
      questions: [
        { type: 'A', name: 'web' },
        { type: 'A', name: 'db' },
      ],
    });
    assert.deepEqual(addresses(r), ['10.0.7.1']);
    assert.deepEqual(
      r.questions?.map((q) => q.name),
      ['web'],
    );
    assert.deepEqual(
      seen.map((q) => q.name),
      ['web'],
    );
  } finally {
    await server.close();
  }
});

test('resolve is given the asker\'s address (UDP and TCP); a resolve that throws is a SERVFAIL, not a crash', T, async () => {
  const seen: DnsQuery[] = [];
  const server = await serve('127.0.53.16', {
    resolve: (q) => {
      seen.push(q);
      if (q.name === 'boom') throw new Error('resolver bug');
      return { kind: 'addresses', addresses: [q.client === '127.0.53.100' ? '10.0.8.100' : '10.0.8.1'] };
    },
  });
  try {
    const fromContainer = await udpAsk(server.address(), query('web'), '127.0.53.100');
    assert.deepEqual(addresses(fromContainer), ['10.0.8.100']);
    const [tcp] = await tcpAsk(server.address(), [query('web')], '127.0.53.101');
    assert.deepEqual(addresses(tcp), ['10.0.8.1']);
    assert.deepEqual(
      seen.map((q) => q.client),
      ['127.0.53.100', '127.0.53.101'],
    );
    const boom = await udpAsk(server.address(), query('boom', 'A', 66));
    assert.equal(boom.id, 66);
    assert.equal(rcode(boom), 'SERVFAIL');
    assert.deepEqual(addresses(await udpAsk(server.address(), query('web'))), ['10.0.8.1']);
  } finally {
    await server.close();
  }
});

test('start() rejects with one line naming host:port when the port is taken; close() ends forwards and connections', T, async () => {
  const silent = await silentUpstream('127.0.53.17');
  const first = await serve('127.0.53.18', { resolve: () => undefined, upstreams: [silent.target], forwardTimeoutMs: 60_000 });
  try {
    const { port } = first.address();
    const second = new DnsServer({ host: '127.0.53.18', port, resolve: () => undefined });
    await assert.rejects(second.start(), (err: Error) => {
      assert.match(err.message, new RegExp(`127\\.0\\.53\\.18:${port}`));
      assert.match(err.message, /EADDRINUSE/);
      assert.doesNotMatch(err.message, /\n/);
      return true;
    });
    assert.throws(() => new DnsServer({ host: 'localhost', port: 53, resolve: () => undefined }), /must be an IP address/);
    assert.throws(() => new DnsServer({ host: '127.0.0.1', port: 53, resolve: () => undefined, upstreams: ['dns.example:53'] }), /upstream "dns\.example:53"/);

    // A TCP client waiting on a forward that would take a minute: close() does not wait for it.
    const sock = net.connect({ host: '127.0.53.18', port });
    sock.on('error', () => undefined);
    const sockClosed = new Promise<void>((r) => sock.on('close', () => r()));
    await new Promise<void>((r) => sock.on('connect', () => r()));
    const body = dnsPacket.encode(query('example.test'));
    const framed = Buffer.alloc(2 + body.length);
    framed.writeUInt16BE(body.length, 0);
    body.copy(framed, 2);
    sock.write(framed);
    while (silent.received() === 0) await new Promise((r) => setTimeout(r, 10));
    await first.close();
    await sockClosed;
    // The port is free again.
    const again = new DnsServer({ host: '127.0.53.18', port, resolve: () => undefined });
    await again.start();
    await again.close();
  } finally {
    await first.close();
    silent.close();
  }
});

test('resolveUpstreams: nameservers of resolv.conf in order, without loopback, unspecified, duplicates or comments', () => {
  const text = [
    '# generated by something',
    'search example.internal',
    'nameserver 127.0.0.53',
    'nameserver 10.0.0.2 # the VPC resolver',
    '; nameserver 9.9.9.9',
    '  nameserver\t192.0.2.53',
    'nameserver ::1',
    'nameserver 0:0:0:0:0:0:0:1',
    'nameserver 127.1.2.3',
    'nameserver 0.0.0.0',
    'nameserver 2001:db8::53',
    'nameserver fe80::1%eth0',
    'nameserver 10.0.0.2',
    'nameserver not-an-ip',
    'options ndots:5',
  ].join('\n');
  assert.deepEqual(resolveUpstreams(text), ['10.0.0.2', '192.0.2.53', '2001:db8::53', 'fe80::1%eth0']);
  assert.deepEqual(resolveUpstreams('nameserver 127.0.0.11\r\noptions ndots:0\r\n'), []);
  assert.deepEqual(resolveUpstreams(''), []);
});

test('a real resolver accepts the answers: busybox nslookup against the server on 127.0.0.77:53', T, async (t) => {
  if (!existsSync('/bin/busybox')) {
    t.skip('/bin/busybox is missing');
    return;
  }
  const server = new DnsServer({ host: '127.0.0.77', port: 53, resolve: table({ web: { kind: 'addresses', addresses: ['10.0.9.4', '10.0.9.5'] }, gone: { kind: 'nxdomain' } }) });
  try {
    await server.start();
  } catch (err) {
    process.stderr.write(`\n*** SKIPPED busybox nslookup test: ${(err as Error).message} (port 53 needs root)\n\n`);
    t.skip(`cannot listen on 127.0.0.77:53: ${(err as Error).message}`);
    return;
  }
  try {
    const run = (name: string): Promise<{ code: number; out: string }> =>
      new Promise((resolve) => {
        execFile('/bin/busybox', ['nslookup', name, '127.0.0.77'], { timeout: 10_000 }, (err, stdout, stderr) => {
          const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
          resolve({ code, out: `${stdout}${stderr}` });
        });
      });
    const web = await run('web');
    assert.equal(web.code, 0, web.out);
    assert.match(web.out, /Address:?\s+10\.0\.9\.4/);
    assert.match(web.out, /Address:?\s+10\.0\.9\.5/);
    const gone = await run('gone');
    assert.notEqual(gone.code, 0, gone.out);
    assert.match(gone.out, /NXDOMAIN|can't find/i);
    assert.doesNotMatch(gone.out, /10\.0\.9\./);
  } finally {
    await server.close();
  }
});
