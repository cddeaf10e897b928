// The Raft transport over real gRPC servers on loopback, and the codec's validation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import * as net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { EntryType, MessageType } from '../../src/raft/types.js';
import type { Entry, Message, NodeId } from '../../src/raft/types.js';
import type { raft } from '../../src/api/wire.js';
import {
  MalformedMessageError,
  fromProto,
  loadRaftProto,
  snapshotHeaderFromProto,
  toProto,
} from '../../src/raft/codec.js';
import { RaftTransport, raftServerOptions } from '../../src/raft/transport.js';
import type { RaftTransportHandler, RaftTransportOptions } from '../../src/raft/transport.js';

const logger = pino({ level: 'silent' });
const FAST_BACKOFF = { initialMs: 20, maxMs: 100 };

// ------------------------------------------------------------------ helpers

function msg(type: MessageType, over: Partial<Message> = {}): Message {
  return { type, from: 'a', to: 'b', term: 5, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, snapshot: null, context: '', ...over };
}

function entry(index: number, term: number, data: Uint8Array = new Uint8Array([index & 0xff]), type = EntryType.Normal): Entry {
  return { index, term, type, data };
}

/** One App message carrying one entry at index+1: a stand-in for replication traffic. */
function app(to: NodeId, index: number, data?: Uint8Array): Message {
  return msg(MessageType.App, { to, term: 1, logTerm: 1, index, entries: [entry(index + 1, 1, data)] });
}

/** A message of every type, with non-trivial values in the fields that type uses. */
function everyType(to: NodeId, snapData: Uint8Array): Message[] {
  const big = Number.MAX_SAFE_INTEGER;
  return [
    msg(MessageType.App, {
      to,
      term: 2 ** 40,
      logTerm: 4,
      index: big - 3,
      commit: big - 3,
      entries: [entry(big - 2, 4, new Uint8Array([1, 2, 3])), entry(big - 1, 2 ** 40, new Uint8Array(0), EntryType.ConfChange)],
    }),
    msg(MessageType.AppResp, { to, index: 12, reject: true, rejectHint: 7, logTerm: 3 }),
    msg(MessageType.Vote, { to, index: 12, logTerm: 5, context: 'transfer' }),
    msg(MessageType.VoteResp, { to, reject: true }),
    msg(MessageType.PreVote, { to, term: 6, index: 12, logTerm: 5 }),
    msg(MessageType.PreVoteResp, { to, term: 6 }),
    msg(MessageType.Heartbeat, { to, commit: 9, context: 'read-1' }),
    msg(MessageType.HeartbeatResp, { to, context: 'read-1' }),
    msg(MessageType.TimeoutNow, { to }),
    msg(MessageType.ReadIndex, { to, context: 'r-é✓' }),
    msg(MessageType.ReadIndexResp, { to, index: 50, context: 'r-é✓' }),
    msg(MessageType.TransferLeader, { to, context: 'c' }),
    msg(MessageType.Snap, { to, snapshot: { meta: { index: 100, term: 4, conf: { voters: ['a', 'b', 'c'], learners: ['d'] } }, data: snapData } }),
  ];
}

class Recorder implements RaftTransportHandler {
  messages: Message[] = [];
  deliveries = 0;
  unreachable: NodeId[] = [];
  snapshots: Array<[NodeId, boolean]> = [];
  onMessages(ms: Message[]): void {
    this.deliveries++;
    this.messages.push(...ms);
  }
  onUnreachable(peer: NodeId): void {
    this.unreachable.push(peer);
  }
  onSnapshotStatus(peer: NodeId, ok: boolean): void {
    this.snapshots.push([peer, ok]);
  }
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Everything a test opened, closed at the end whatever happens. */
class Resources {
  private closers: Array<() => unknown> = [];
  add(f: () => unknown): void {
    this.closers.push(f);
  }
  async close(): Promise<void> {
    for (const f of this.closers.reverse()) await f();
    this.closers = [];
  }
}

async function bind(server: grpc.Server, address: string): Promise<number> {
  return new Promise((resolve, reject) =>
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
  );
}

interface TestNode {
  id: NodeId;
  tr: RaftTransport;
  rec: Recorder;
  server: grpc.Server;
  address: string;
}

async function startNode(
  res: Resources,
  id: NodeId,
  opts: Partial<RaftTransportOptions> = {},
  where = '127.0.0.1:0',
  serverOptions: grpc.ServerOptions = raftServerOptions(),
): Promise<TestNode> {
  const rec = new Recorder();
  const tr = new RaftTransport({ id, logger, backoff: FAST_BACKOFF, ...opts }, rec);
  res.add(() => tr.stop());
  const server = new grpc.Server(serverOptions);
  const svc = tr.service();
  server.addService(svc.definition, svc.implementation);
  res.add(() => server.forceShutdown());
  const port = await bind(server, where);
  return { id, tr, rec, server, address: `${where.slice(0, where.lastIndexOf(':'))}:${port}` };
}

/** A port on 127.0.0.1 that nothing listens on (for now). */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** A client that speaks the Raft service with whatever it is told to write. */
function rawCall<T>(
  res: Resources,
  address: string,
  method: 'Stream' | 'InstallSnapshot',
  serialize?: (v: T) => Buffer,
): { call: grpc.ClientWritableStream<T>; result: Promise<grpc.ServiceError | null> } {
  const def = loadRaftProto().service[method];
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  res.add(() => client.close());
  let call!: grpc.ClientWritableStream<T>;
  const result = new Promise<grpc.ServiceError | null>((resolve) => {
    call = client.makeClientStreamRequest<T, raft.StreamAck__Output>(
      def.path,
      serialize ?? (def.requestSerialize as (v: T) => Buffer),
      def.responseDeserialize as (b: Buffer) => raft.StreamAck__Output,
      { deadline: Date.now() + 3000 },
      (err) => resolve(err),
    );
  });
  call.on('error', () => {});
  return { call, result };
}

function protoOf(m: Message): raft.Message__Output {
  return toProto(m);
}

// ------------------------------------------------------------------ codec

test('codec: every message type survives the wire encoding exactly', () => {
  const { service } = loadRaftProto();
  const stream = service.Stream;
  const snapData = new Uint8Array([9, 8, 7, 6]);
  for (const m of everyType('b', snapData)) {
    const wire = stream.requestSerialize({ messages: [toProto(m)] } satisfies raft.MessageBatch__Output);
    const back = (stream.requestDeserialize(wire) as raft.MessageBatch__Output).messages[0];
    const got = m.type === MessageType.Snap ? fromProto(back, snapData) : fromProto(back);
    assert.deepEqual(got, m, MessageType[m.type]);
  }
});

test('codec: fromProto rejects malformed input with a clear MalformedMessageError', () => {
  const good = protoOf(app('b', 10));
  const cases: Array<[string, unknown, RegExp]> = [
    ['unknown type', { ...good, type: 99 }, /unknown message type 99/],
    ['type not a number', { ...good, type: 'App' }, /unknown message type/],
    ['negative term', { ...good, term: -1 }, /term: must not be negative/],
    ['unsafe index', { ...good, index: 2 ** 53 }, /beyond 2\^53-1/],
    ['fractional commit', { ...good, commit: 1.5 }, /commit: expected an integer/],
    ['term as string', { ...good, term: '5' }, /term: expected an integer, got string/],
    ['empty from', { ...good, from: '' }, /from: empty node id/],
    ['empty to', { ...good, to: '' }, /to: empty node id/],
    ['id too long', { ...good, from: 'x'.repeat(200) }, /from: longer than 128/],
    ['id with control chars', { ...good, from: 'a\nb' }, /printable ASCII/],
    ['from == to', { ...good, from: 'b' }, /from and to are both b/],
    ['reject not boolean', { ...good, reject: 1 }, /reject: expected a boolean/],
    ['context too long', { ...good, context: 'c'.repeat(5000) }, /context: longer than 4096/],
    ['entries not a list', { ...good, entries: {} }, /entries: expected a list/],
    ['unknown entry type', { ...good, entries: [{ ...good.entries[0], type: 7 }] }, /unknown entry type 7/],
    ['entry data not bytes', { ...good, entries: [{ ...good.entries[0], data: 'abc' }] }, /data: expected bytes/],
    ['entry index 0', { ...good, index: 0, entries: [{ ...good.entries[0], index: 0 }] }, /index: must be at least 1/],
    [
      'non-contiguous entries',
      { ...good, entries: [toProto(app('b', 10)).entries[0], { ...toProto(app('b', 12)).entries[0] }] },
      /not contiguous \(index 13 after 11\)/,
    ],
    ['first entry not after index', { ...good, index: 9 }, /entries\[0\]\.index: 11 does not follow the message index 9/],
    ['entry term beyond message term', { ...good, entries: [{ ...good.entries[0], term: 2 }] }, /beyond the message term/],
    ['decreasing entry terms', { ...good, term: 9, entries: [entry(11, 5), entry(12, 4)].map((e) => ({ ...e, data: Buffer.from(e.data) })) }, /below the previous entry's term/],
    ['entries on a heartbeat', { ...good, type: MessageType.Heartbeat }, /only App messages carry entries/],
    ['snapshot meta on a vote', { ...protoOf(msg(MessageType.Vote)), snapshotMeta: { index: 1, term: 1, conf: { voters: ['a'], learners: [] } } }, /only Snap messages carry snapshot metadata/],
    ['Snap on Stream', { ...protoOf(msg(MessageType.Snap)), snapshotMeta: { index: 1, term: 1, conf: { voters: ['a'], learners: [] } } }, /must arrive on InstallSnapshot/],
    ['Snap without meta', protoOf(msg(MessageType.Snap)), /missing snapshot metadata/],
    ['not an object', null, /expected a message, got null/],
  ];
  for (const [name, input, re] of cases) {
    assert.throws(() => fromProto(input as raft.Message__Output, name === 'Snap without meta' ? new Uint8Array(0) : undefined), (e: unknown) => {
      assert.ok(e instanceof MalformedMessageError, `${name}: ${String(e)}`);
      assert.match(e.message, re, name);
      return true;
    });
  }
  const snapMeta = (conf: unknown) => ({ ...protoOf(msg(MessageType.Snap)), snapshotMeta: { index: 3, term: 2, conf } });
  assert.throws(() => fromProto(snapMeta({ voters: ['a', 'b'], learners: ['b'] }) as raft.Message__Output, new Uint8Array(0)), /node b is listed twice/);
  assert.throws(() => fromProto(snapMeta({ voters: [''], learners: [] }) as raft.Message__Output, new Uint8Array(0)), /voters\[0\]: empty node id/);
  assert.throws(() => fromProto(snapMeta(null) as raft.Message__Output, new Uint8Array(0)), /conf: missing/);

  const header = { message: snapMeta({ voters: ['a'], learners: [] }), totalSize: 10, sha256: Buffer.alloc(32) };
  assert.equal(snapshotHeaderFromProto(header as never).totalSize, 10);
  assert.throws(() => snapshotHeaderFromProto({ ...header, sha256: Buffer.alloc(5) } as never), /expected 32 bytes, got 5/);
  assert.throws(() => snapshotHeaderFromProto({ ...header, totalSize: 11 } as never, 10), /11 bytes is more than the 10 accepted/);
  assert.throws(() => snapshotHeaderFromProto({ ...header, message: protoOf(msg(MessageType.Vote)) } as never), /carries a Vote message, not Snap/);
});

// ------------------------------------------------------------------ transport

test('messages of every type arrive exactly as sent, snapshots included', async () => {
  const res = new Resources();
  try {
    const a = await startNode(res, 'a');
    const b = await startNode(res, 'b');
    a.tr.addPeer('b', b.address);
    const sent = everyType('b', new Uint8Array(randomBytes(3000)));
    a.tr.send(sent);
    await waitFor('all messages at b', () => b.rec.messages.length === sent.length);
    const snap = b.rec.messages.find((m) => m.type === MessageType.Snap);
    assert.deepEqual(snap, sent.find((m) => m.type === MessageType.Snap));
    // Everything but the snapshot came in order on the one stream.
    assert.deepEqual(
      b.rec.messages.filter((m) => m.type !== MessageType.Snap),
      sent.filter((m) => m.type !== MessageType.Snap),
    );
    await waitFor('snapshot status', () => a.rec.snapshots.length === 1);
    assert.deepEqual(a.rec.snapshots, [['b', true]]);
    assert.deepEqual(a.rec.unreachable, []);
    // A message to an unknown peer is dropped without fuss.
    a.tr.send([msg(MessageType.Heartbeat, { to: 'nobody' })]);
  } finally {
    await res.close();
  }
});

test('many sends are batched and arrive in order', async () => {
  const res = new Resources();
  try {
    const a = await startNode(res, 'a');
    const b = await startNode(res, 'b');
    const c = await startNode(res, 'c');
    a.tr.addPeer('b', b.address);
    a.tr.addPeer('c', c.address);
    // Connect first: until a peer's server has accepted the stream, messages wait in its queue.
    a.tr.send([msg(MessageType.Heartbeat, { to: 'b' }), msg(MessageType.Heartbeat, { to: 'c' })]);
    await waitFor('connected', () => b.rec.messages.length === 1 && c.rec.messages.length === 1);
    b.rec.messages = [];
    c.rec.messages = [];
    b.rec.deliveries = c.rec.deliveries = 0;
    const n = 6000;
    for (let i = 0; i < n; i += 100) {
      const ms: Message[] = [];
      for (let j = i; j < i + 100; j++) ms.push(app('b', j), app('c', j));
      a.tr.send(ms);
      if (i % 1000 === 0) await new Promise((r) => setImmediate(r));
    }
    await waitFor('all at b and c', () => b.rec.messages.length === n && c.rec.messages.length === n);
    for (const r of [b.rec, c.rec]) {
      assert.deepEqual(
        r.messages.map((m) => m.index),
        Array.from({ length: n }, (_, i) => i),
      );
      assert.ok(r.deliveries < n / 10, `expected batching, got ${r.deliveries} deliveries for ${n} messages`);
    }
    assert.deepEqual(a.rec.unreachable, []);
  } finally {
    await res.close();
  }
});

test('a peer that is down: send does not throw, onUnreachable fires, and messages flow once it is up', async () => {
  const res = new Resources();
  try {
    const a = await startNode(res, 'a');
    const port = await freePort();
    a.tr.addPeer('b', `127.0.0.1:${port}`);
    assert.doesNotThrow(() => a.tr.send([msg(MessageType.Heartbeat, { to: 'b', context: 'early' })]));
    await waitFor('onUnreachable(b)', () => a.rec.unreachable.includes('b'));
    await sleep(150); // a few failed reconnects
    assert.equal(a.tr.peers()[0].connected, false);

    const b = await startNode(res, 'b', {}, `127.0.0.1:${port}`);
    // Raft keeps sending heartbeats; they get through once the stream reconnects.
    let k = 0;
    const timer = setInterval(() => a.tr.send([msg(MessageType.Heartbeat, { to: 'b', commit: k++ })]), 10);
    res.add(() => clearInterval(timer));
    await waitFor('messages at b after it started', () => b.rec.messages.length > 0, 3000);
    assert.equal(b.rec.messages[0].context, 'early', 'the message queued while b was down arrives first');
    await waitFor('connected', () => a.tr.peers()[0].connected);
  } finally {
    await res.close();
  }
});

test('a dead, a black-holed and a stalled peer do not delay a healthy one; queues stay bounded', async () => {
  const res = new Resources();
  try {
    const maxQueued = 200;
    const a = await startNode(res, 'a', { maxQueuedMessages: maxQueued, maxMessageBytes: 64 << 10, snapshotChunkBytes: 32 << 10 });
    const healthy = await startNode(res, 'h');

    // Black hole: accepts TCP connections and never says a word.
    const sockets: net.Socket[] = [];
    const hole = net.createServer((s) => sockets.push(s));
    await new Promise<void>((r) => hole.listen(0, '127.0.0.1', r));
    res.add(() => new Promise((r) => hole.close(r)));
    res.add(() => sockets.forEach((s) => s.destroy()));

    // Stalled: a gRPC server that accepts the stream (sends its headers) and never reads it.
    const stall = new grpc.Server();
    const stalled: Array<grpc.ServerReadableStream<unknown, unknown>> = [];
    stall.addService(loadRaftProto().service, {
      Stream: (call: grpc.ServerReadableStream<unknown, unknown>) => {
        call.sendMetadata(new grpc.Metadata());
        call.pause();
        stalled.push(call);
      },
      InstallSnapshot: (call: grpc.ServerReadableStream<unknown, unknown>) => call.pause(),
    });
    res.add(() => stall.forceShutdown());
    const stallPort = await bind(stall, '127.0.0.1:0');

    a.tr.addPeer('h', healthy.address);
    a.tr.addPeer('dead', `127.0.0.1:${await freePort()}`);
    a.tr.addPeer('hole', `127.0.0.1:${(hole.address() as net.AddressInfo).port}`);
    a.tr.addPeer('stall', `127.0.0.1:${stallPort}`);

    // Like a leader with an in-flight window: each round sends 50 Apps to
    // every peer, and the next round starts once the healthy peer has them.
    const rounds = 60;
    const perRound = 50;
    const n = rounds * perRound;
    const payload = new Uint8Array(4096);
    let maxSeen = 0;
    let slowest = 0;
    const started = Date.now();
    for (let r = 0; r < rounds; r++) {
      const t0 = Date.now();
      const ms: Message[] = [];
      for (let j = r * perRound; j < (r + 1) * perRound; j++) for (const to of ['h', 'dead', 'hole', 'stall']) ms.push(app(to, j, payload));
      a.tr.send(ms);
      for (const p of a.tr.peers()) maxSeen = Math.max(maxSeen, p.queued);
      await waitFor(`round ${r} at the healthy peer`, () => healthy.rec.messages.length === (r + 1) * perRound, 1000);
      slowest = Math.max(slowest, Date.now() - t0);
    }
    const elapsed = Date.now() - started;
    assert.deepEqual(
      healthy.rec.messages.map((m) => m.index),
      Array.from({ length: n }, (_, i) => i),
    );
    assert.ok(elapsed < 2500, `healthy peer took ${elapsed} ms for ${n} messages (12 MiB)`);
    assert.ok(slowest < 250, `a round took ${slowest} ms`);
    assert.ok(stalled.length >= 1, 'the stalled server accepted the stream');

    const byId = new Map(a.tr.peers().map((p) => [p.id, p]));
    assert.ok(maxSeen <= maxQueued, `a queue held ${maxSeen} messages`);
    assert.equal(byId.get('h')!.dropped, 0);
    for (const id of ['dead', 'hole', 'stall']) {
      const p = byId.get(id)!;
      assert.ok(p.queued <= maxQueued, `${id} holds ${p.queued}`);
      assert.ok(p.dropped > 0, `${id} dropped nothing: backpressure did not reach the queue`);
      assert.ok(a.rec.unreachable.includes(id), `no onUnreachable(${id})`);
    }
    assert.ok(!a.rec.unreachable.includes('h'));
  } finally {
    await res.close();
  }
});

test('the queue of an unreachable peer stays capped however much is sent', async () => {
  const res = new Resources();
  try {
    const a = await startNode(res, 'a', { maxQueuedMessages: 100 });
    a.tr.addPeer('b', `127.0.0.1:${await freePort()}`);
    for (let i = 0; i < 20_000; i++) a.tr.send([app('b', i)]);
    let p = a.tr.peers()[0];
    assert.equal(p.queued, 100);
    assert.equal(p.dropped, 20_000 - 100);
    await waitFor('onUnreachable(b)', () => a.rec.unreachable.includes('b'));
    // Coalesced: not one callback per dropped message.
    assert.ok(a.rec.unreachable.length < 50, `${a.rec.unreachable.length} onUnreachable calls`);
    await sleep(100);
    p = a.tr.peers()[0];
    assert.ok(p.queued <= 100);
  } finally {
    await res.close();
  }
});

test('a snapshot of several MiB arrives intact in chunks; a second one in flight is refused', async () => {
  const res = new Resources();
  try {
    const a = await startNode(res, 'a', { snapshotChunkBytes: 256 << 10 });
    // A server with gRPC's default 4 MiB receive limit: only chunks fit through.
    const b = await startNode(res, 'b', {}, '127.0.0.1:0', {});
    a.tr.addPeer('b', b.address);
    const data = new Uint8Array(randomBytes(6 << 20));
    const snap = msg(MessageType.Snap, { term: 7, snapshot: { meta: { index: 1000, term: 6, conf: { voters: ['a', 'b'], learners: [] } }, data } });
    a.tr.send([snap, { ...snap, term: 8 }]);
    assert.equal(a.tr.peers()[0].snapshotInFlight, true);
    await waitFor('snapshot status', () => a.rec.snapshots.length === 2, 4000);
    assert.deepEqual(a.rec.snapshots, [
      ['b', false], // the second, refused at once
      ['b', true],
    ]);
    assert.equal(b.rec.messages.length, 1);
    assert.deepEqual(b.rec.messages[0], snap);
    assert.equal(a.tr.peers()[0].snapshotInFlight, false);
  } finally {
    await res.close();
  }
});

test('a corrupted or truncated snapshot is rejected and not delivered', async () => {
  const res = new Resources();
  try {
    const b = await startNode(res, 'b');
    const data = Buffer.from(randomBytes(100_000));
    const header = (sha: Buffer, totalSize = data.length, to = 'b'): raft.SnapshotChunk__Output => ({
      header: {
        message: toProto(msg(MessageType.Snap, { to, snapshot: { meta: { index: 5, term: 2, conf: { voters: ['a', 'b'], learners: [] } }, data: new Uint8Array(0) } })),
        totalSize,
        sha256: sha,
      },
    });
    const good = createHash('sha256').update(data).digest();
    const bad = Buffer.from(data);
    bad[500] ^= 0xff;
    const scenarios: Array<[string, raft.SnapshotChunk__Output[], grpc.status, RegExp]> = [
      ['flipped byte', [header(good), { data: bad.subarray(0, 60_000) }, { data: bad.subarray(60_000) }, { trailer: {} }], grpc.status.DATA_LOSS, /SHA-256 mismatch/],
      ['short', [header(good), { data: data.subarray(0, 1000) }, { trailer: {} }], grpc.status.INVALID_ARGUMENT, /got 1000 bytes, the header announced 100000/],
      ['long', [header(good, 10), { data }], grpc.status.INVALID_ARGUMENT, /more than the announced 10 bytes/],
      ['no trailer', [header(good), { data }], grpc.status.INVALID_ARGUMENT, /ended before its trailer/],
      ['data first', [{ data }], grpc.status.INVALID_ARGUMENT, /data before the header/],
      ['bad digest size', [header(good.subarray(0, 4))], grpc.status.INVALID_ARGUMENT, /expected 32 bytes/],
      ['for someone else', [header(good, data.length, 'z')], grpc.status.FAILED_PRECONDITION, /addressed to z/],
    ];
    for (const [name, chunks, code, re] of scenarios) {
      const { call, result } = rawCall<raft.SnapshotChunk__Output>(res, b.address, 'InstallSnapshot');
      for (const c of chunks) call.write(c);
      call.end();
      const err = await result;
      assert.ok(err, `${name}: accepted`);
      assert.equal(err.code, code, `${name}: ${err.details}`);
      assert.match(err.details, re, name);
    }
    assert.equal(b.rec.messages.length, 0);

    // The same stream done right is accepted.
    const { call, result } = rawCall<raft.SnapshotChunk__Output>(res, b.address, 'InstallSnapshot');
    for (const c of [header(good), { data: data.subarray(0, 60_000) }, { data: data.subarray(60_000) }, { trailer: {} }] as raft.SnapshotChunk__Output[]) call.write(c);
    call.end();
    assert.equal(await result, null);
    assert.equal(b.rec.messages.length, 1);
    assert.deepEqual(b.rec.messages[0].snapshot?.data, new Uint8Array(data));
  } finally {
    await res.close();
  }
});

test('malformed messages from a raw client are dropped or rejected, and the server keeps serving', async () => {
  const res = new Resources();
  try {
    const b = await startNode(res, 'b');

    // Bytes that are not a protobuf at all.
    const garbage = rawCall<Buffer>(res, b.address, 'Stream', (x) => x);
    garbage.call.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]));
    garbage.call.end();
    const gErr = await garbage.result;
    assert.equal(gErr?.code, grpc.status.INVALID_ARGUMENT, 'garbage is INVALID_ARGUMENT (src/common/strict-wire.ts), not INTERNAL');
    assert.match(gErr!.details, /^malformed flotilla\.raft\.MessageBatch: /);

    // A message type raft.proto does not declare: refused on the wire, never decoded.
    const unknownType = rawCall<unknown>(res, b.address, 'Stream');
    unknownType.call.write({ messages: [{ ...protoOf(app('b', 1)), type: 99 }] });
    const uErr = await unknownType.result;
    assert.equal(uErr?.code, grpc.status.INVALID_ARGUMENT);
    assert.equal(uErr!.details, 'malformed flotilla.raft.MessageBatch: field 1 (messages.type) holds 99, which is not a value of flotilla.raft.MessageType');

    // Well-formed protobuf, invalid Raft messages only: the stream is cancelled.
    const bad = rawCall<unknown>(res, b.address, 'Stream');
    bad.call.write({ messages: [{ ...protoOf(app('b', 1)), from: '' }, { ...protoOf(app('b', 1)), term: '18446744073709551615' }] });
    const bErr = await bad.result;
    assert.equal(bErr?.code, grpc.status.INVALID_ARGUMENT);
    assert.match(bErr!.details, /^malformed raft messages: App\.from: empty node id/);

    // A mixed batch: the valid message is delivered, the rest dropped, the stream stays open.
    const mixed = rawCall<unknown>(res, b.address, 'Stream');
    mixed.call.write({
      messages: [
        { ...protoOf(app('b', 1)), index: 5 }, // entries do not follow index
        protoOf(app('b', 1)),
        protoOf(app('someone-else', 2)),
        { ...protoOf(msg(MessageType.Snap, { to: 'b' })), snapshotMeta: { index: 1, term: 1, conf: { voters: ['a'], learners: [] } } }, // snapshot on Stream
      ],
    });
    mixed.call.write({ messages: [protoOf(app('b', 2))] });
    await waitFor('valid messages delivered', () => b.rec.messages.length === 2);
    assert.deepEqual(
      b.rec.messages.map((m) => [m.to, m.index]),
      [
        ['b', 1],
        ['b', 2],
      ],
    );
    mixed.call.end();
    assert.equal(await mixed.result, null);

    // And a real transport still gets through.
    const a = await startNode(res, 'a');
    a.tr.addPeer('b', b.address);
    a.tr.send([msg(MessageType.Heartbeat, { to: 'b', context: 'still alive' })]);
    await waitFor('heartbeat', () => b.rec.messages.some((m) => m.context === 'still alive'));
  } finally {
    await res.close();
  }
});

test('updatePeer moves the stream to the new address; removePeer and stop() drop everything', async () => {
  const res = new Resources();
  try {
    const a = await startNode(res, 'a');
    const b1 = await startNode(res, 'b');
    const b2 = await startNode(res, 'b', {}, '127.0.0.2:0');
    a.tr.addPeer('b', b1.address);
    a.tr.send([msg(MessageType.Heartbeat, { to: 'b', context: 'one' })]);
    await waitFor('first at b1', () => b1.rec.messages.length === 1);
    a.tr.updatePeer('b', b2.address);
    a.tr.send([msg(MessageType.Heartbeat, { to: 'b', context: 'two' })]);
    await waitFor('second at b2', () => b2.rec.messages.length === 1);
    assert.equal(b2.rec.messages[0].context, 'two');
    assert.deepEqual(
      a.tr.peers().map((p) => [p.id, p.address]),
      [['b', b2.address]],
    );
    assert.throws(() => a.tr.addPeer('c', 'no-port'), /host:port/);
    assert.throws(() => a.tr.addPeer('', '127.0.0.1:1'), /non-empty/);

    a.tr.removePeer('b');
    assert.deepEqual(a.tr.peers(), []);
    a.tr.send([msg(MessageType.Heartbeat, { to: 'b', context: 'three' })]);
    await sleep(50);
    assert.equal(b1.rec.messages.length + b2.rec.messages.length, 2);

    // stop() ends incoming streams too: b2 stops listening to a's (re-added) stream.
    a.tr.addPeer('b', b2.address);
    a.tr.send([msg(MessageType.Heartbeat, { to: 'b', context: 'four' })]);
    await waitFor('fourth at b2', () => b2.rec.messages.length === 2);
    await b2.tr.stop();
    await waitFor('a sees b unreachable', () => a.rec.unreachable.includes('b'));
    a.tr.send([msg(MessageType.Heartbeat, { to: 'b', context: 'five' })]);
    await sleep(150);
    assert.equal(b2.rec.messages.length, 2);
    await a.tr.stop();
    assert.doesNotThrow(() => a.tr.send([msg(MessageType.Heartbeat, { to: 'b' })]));
  } finally {
    await res.close();
  }
});
