// The strict wire check (src/common/strict-wire.ts), rule by rule, on the
// project's own request types and on a small recursive schema; then the
// deserializers every service loader builds, and the interceptor on an
// in-process server (unary and client-streaming).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { protoRoot } from '../../src/common/proto-reflection.js';
import { checkWire, isMalformedRequest, MAX_NESTING_DEPTH, MalformedRequest, strictDeserializer, withStrictWire } from '../../src/common/strict-wire.js';
import { loadCaProto, loadControlProto, loadDispatcherProto, loadManagerProto } from '../../src/api/proto.js';
import { loadRaftProto } from '../../src/raft/codec.js';

const control = (name: string): protobuf.Type => protoRoot('control.proto').lookupType(`flotilla.control.${name}`);
const ROTATE = control('RotateJoinTokenRequest');
const CREATE = control('CreateServiceRequest');
const LIST_NODES = control('ListNodesRequest');
const UPDATE_STATUS = protoRoot('dispatcher.proto').lookupType('flotilla.dispatcher.UpdateTaskStatusRequest');
const SESSION = protoRoot('dispatcher.proto').lookupType('flotilla.dispatcher.SessionRequest');
const RAFT_BATCH = protoRoot('raft.proto').lookupType('flotilla.raft.MessageBatch');

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function encode(type: protobuf.Type, obj: Record<string, unknown>): Buffer {
  const err = type.verify(obj);
  if (err) throw new Error(`test fixture: ${err}`);
  return Buffer.from(type.encode(type.fromObject(obj)).finish());
}

/** Field `id` as a length-delimited field holding `body`. */
function lenField(id: number, body: Uint8Array): Buffer {
  const w = protobuf.Writer.create();
  w.uint32((id << 3) | 2).bytes(body);
  return Buffer.from(w.finish());
}

/** `depth` messages nested in field `id`, innermost empty. */
function nested(id: number, depth: number): Buffer {
  let b: Buffer = Buffer.alloc(0);
  for (let i = 0; i < depth; i++) b = lenField(id, b);
  return b;
}

function refused(type: protobuf.Type, bytes: Uint8Array, expected: RegExp | string): void {
  const reason = checkWire(type, bytes);
  assert.notEqual(reason, null, `expected ${Buffer.from(bytes).toString('hex').slice(0, 80)} to be refused`);
  if (typeof expected === 'string') assert.equal(reason, expected);
  else assert.match(reason!, expected);
  assert.ok(!reason!.includes('\n'), 'one line');
}

function accepted(type: protobuf.Type, bytes: Uint8Array): void {
  assert.equal(checkWire(type, bytes), null);
}

// ------------------------------------------------------------ the probe's three payloads

test('the three payloads that rotated the worker token are refused', () => {
  refused(ROTATE, hex('0f 00'), 'malformed flotilla.control.RotateJoinTokenRequest: field 1 (role) has wire type 7, expected varint');
  refused(ROTATE, hex('00 01'), 'malformed flotilla.control.RotateJoinTokenRequest: field number 0 is not valid (tag byte 0x00)');
  // 3,000-deep nesting, as groups (start-group of field 1, 3,000 times) and as messages in field 1.
  refused(ROTATE, Buffer.alloc(3000, 0x0b), 'malformed flotilla.control.RotateJoinTokenRequest: field 1 (role) has wire type 3, expected varint');
  refused(ROTATE, nested(1, 3000), 'malformed flotilla.control.RotateJoinTokenRequest: field 1 (role) has wire type 2, expected varint');
  // The same depth under a field number the request does not have is well formed: skipped whole (and the
  // role is then absent, which the service refuses, see test/cluster/malformed-requests.test.ts).
  accepted(ROTATE, nested(2, 3000));
  accepted(ROTATE, hex('08 01'));
  accepted(ROTATE, hex('08 00'));
});

// ------------------------------------------------------------ tags and wire types

test('field number 0 is refused anywhere, nested too', () => {
  refused(ROTATE, hex('00'), /field number 0 is not valid/);
  const spec = lenField(1, hex('00 00'));
  refused(CREATE, spec, 'malformed flotilla.control.CreateServiceRequest: in spec: field number 0 is not valid (tag byte 0x00)');
});

test('groups and wire types 6 and 7 are refused, known field or not', () => {
  refused(ROTATE, hex('0b 0c'), /field 1 \(role\) has wire type 3, expected varint/);
  refused(ROTATE, hex('0c'), /field 1 \(role\) has wire type 4, expected varint/);
  refused(ROTATE, hex('0e 00'), /field 1 \(role\) has wire type 6, expected varint/);
  refused(ROTATE, hex('2b 2c'), 'malformed flotilla.control.RotateJoinTokenRequest: field 5 has wire type 3 (start-group): groups are not accepted');
  refused(ROTATE, hex('2c'), /field 5 has wire type 4 \(end-group\): groups are not accepted/);
  refused(ROTATE, hex('2e 00'), 'malformed flotilla.control.RotateJoinTokenRequest: field 5 has wire type 6, which does not exist');
  refused(ROTATE, hex('2f 00'), /field 5 has wire type 7, which does not exist/);
});

test("a known field's wire type must match its declared type", () => {
  // GetNodeRequest.node_id is a string: a varint there is refused.
  refused(control('GetNodeRequest'), hex('08 01'), 'malformed flotilla.control.GetNodeRequest: field 1 (nodeId) has wire type 0, expected length-delimited');
  // A message field as a fixed32.
  refused(CREATE, hex('0d 00 00 00 00'), /field 1 \(spec\) has wire type 5, expected length-delimited/);
  // NodeDescription.cpus is a double (64-bit): a varint is refused.
  refused(SESSION, lenField(1, hex('10 01')), /field 2 \(description\.cpus\) has wire type 0, expected 64-bit/);
  // A bool as length-delimited (it is not repeated: no packed form).
  refused(control('RemoveNodeRequest'), hex('12 01 01'), /field 2 \(force\) has wire type 2, expected varint/);
});

test('a field tag that does not end or is beyond 32 bits is refused', () => {
  refused(ROTATE, hex('88'), /truncated: the message ends inside a field tag/);
  refused(ROTATE, hex('88 80 80 80 80 01'), /a field tag is not a valid varint/);
});

// ------------------------------------------------------------ truncation and lengths

test('truncated messages are refused: every strict prefix of a request whose only field is a message', () => {
  const full = encode(CREATE, {
    spec: {
      name: 'web',
      labels: { tier: 'front' },
      taskTemplate: { container: { image: 'busybox', command: ['sh', '-c', 'sleep 1'], env: ['A=b'] }, resources: { limits: { nanoCpus: 1e9, memoryBytes: 64 << 20 } } },
      mode: { replicated: { replicas: 3 } },
      endpoint: { ports: [{ protocol: 1, targetPort: 80, publishedPort: 8080 }] },
    },
  });
  accepted(CREATE, full);
  // CreateServiceRequest has one field (spec): any cut falls inside it.
  for (let n = 1; n < full.length; n++) {
    const reason = checkWire(CREATE, full.subarray(0, n));
    assert.match(reason ?? 'accepted', /^malformed flotilla\.control\.CreateServiceRequest: .*truncated/, `prefix of ${n} bytes`);
  }
});

test('truncated values of each wire type are refused', () => {
  refused(ROTATE, hex('08 81'), 'malformed flotilla.control.RotateJoinTokenRequest: field 1 (role) is truncated (the message ends inside its varint)');
  refused(control('GetNodeRequest'), hex('0a 05 61 62'), 'malformed flotilla.control.GetNodeRequest: field 1 (nodeId) is truncated (its length is 5 bytes, 2 are left)');
  refused(control('GetNodeRequest'), hex('0a'), /field 1 \(nodeId\) is truncated \(the message ends inside its length\)/);
  // A double with 3 of its 8 bytes.
  refused(SESSION, lenField(1, hex('11 00 00 00')), /field 2 \(description\.cpus\) is truncated \(64-bit value, 3 bytes left\)/);
  // A length that claims 4 GiB.
  refused(control('GetNodeRequest'), hex('0a ff ff ff ff 7f'), /is truncated \(its length is beyond 2\^32 bytes/);
  // Unknown fields are checked for truncation as well.
  refused(ROTATE, hex('10 ff'), /field 2 is truncated/);
  refused(ROTATE, hex('19 00 00'), /field 3 is truncated \(64-bit value, 2 bytes left\)/);
  refused(ROTATE, hex('25 00'), /field 4 is truncated \(32-bit value, 1 bytes left\)/);
  refused(ROTATE, hex('2a 03 00'), /field 5 is truncated \(its length is 3 bytes, 1 are left\)/);
});

test('varints beyond 64 bits, and 32-bit fields beyond 32 bits, are refused', () => {
  refused(ROTATE, hex('18 80 80 80 80 80 80 80 80 80 80 01'), /field 3 is not a valid varint \(more than 64 bits\)/);
  refused(ROTATE, hex('18 80 80 80 80 80 80 80 80 80 02'), /field 3 is not a valid varint/);
  accepted(ROTATE, hex('18 ff ff ff ff ff ff ff ff ff 01')); // 2^64-1 in an unknown field: well formed
  // TaskStatus.exit_code is int32: 2^32 is refused, -1 (10-byte sign extension) accepted.
  const status = (exit: Buffer): Buffer => lenField(2, lenField(2, Buffer.concat([hex('30'), exit])));
  refused(UPDATE_STATUS, status(hex('80 80 80 80 10')), /field 6 \(updates\.status\.exitCode\) is out of the int32 range/);
  accepted(UPDATE_STATUS, status(hex('ff ff ff ff ff ff ff ff ff 01')));
  accepted(UPDATE_STATUS, status(hex('ff ff ff ff 07'))); // 2^31-1
  refused(UPDATE_STATUS, status(hex('80 80 80 80 08')), /out of the int32 range/); // 2^31
  // PortConfig.target_port is uint32.
  const port = (v: Buffer): Buffer => lenField(1, lenField(7, lenField(1, Buffer.concat([hex('18'), v]))));
  accepted(CREATE, port(hex('ff ff ff ff 0f')));
  refused(CREATE, port(hex('80 80 80 80 10')), /field 3 \(spec\.endpoint\.ports\.targetPort\) is out of the 32-bit range/);
});

// ------------------------------------------------------------ nesting

const RECURSIVE = protobuf.parse('syntax = "proto3"; package t; message Tree { Tree child = 1; string name = 2; map<string, Tree> kids = 3; }').root.lookupType('t.Tree');

test(`nested messages are checked down to ${MAX_NESTING_DEPTH} levels; deeper is refused, 3,000 levels too`, () => {
  accepted(RECURSIVE, nested(1, MAX_NESTING_DEPTH)); // the request and 32 levels below it
  refused(RECURSIVE, nested(1, MAX_NESTING_DEPTH + 1), /^malformed t\.Tree: field 1 \(child\.child\.child\.….child\.child\.child\) nests messages deeper than 32 levels$/);
  refused(RECURSIVE, nested(1, 3000), /nests messages deeper than 32 levels/);
  // A problem deep inside is reported with its path.
  const bad = Buffer.concat([lenField(1, lenField(1, hex('12 01 ff')))]);
  refused(RECURSIVE, bad, 'malformed t.Tree: field 2 (child.child.name) is not valid UTF-8');
});

test('map entries are checked: key and value types, nested values, depth', () => {
  const entry = (key: Buffer, value: Buffer): Buffer => lenField(3, Buffer.concat([lenField(1, key), lenField(2, value)]));
  accepted(RECURSIVE, entry(Buffer.from('a'), hex('12 01 62')));
  refused(RECURSIVE, entry(hex('ff'), Buffer.alloc(0)), 'malformed t.Tree: field 1 (kids.key) is not valid UTF-8');
  refused(RECURSIVE, entry(Buffer.from('a'), hex('12 01 ff')), 'malformed t.Tree: field 2 (kids.value.name) is not valid UTF-8');
  refused(RECURSIVE, lenField(3, hex('08 01')), /field 1 \(kids\.key\) has wire type 0, expected length-delimited/);
  // The project's maps: ServiceSpec.labels (map<string, string>).
  const labels = (k: Buffer, v: Buffer): Buffer => lenField(1, lenField(2, Buffer.concat([lenField(1, k), lenField(2, v)])));
  accepted(CREATE, labels(Buffer.from('tier'), Buffer.from('front')));
  refused(CREATE, labels(Buffer.from('tier'), hex('c3 28')), /field 2 \(spec\.labels\.value\) is not valid UTF-8/);
});

// ------------------------------------------------------------ strings

test('strings must be valid UTF-8; valid multi-byte text is accepted', () => {
  const nodeId = (b: Buffer): Buffer => lenField(1, b);
  const GET = control('GetNodeRequest');
  accepted(GET, nodeId(Buffer.from('nœud-€-😀-é', 'utf8')));
  accepted(GET, nodeId(Buffer.alloc(0)));
  for (const [bytes, what] of [
    ['80', 'a lone continuation byte'],
    ['c0 80', 'an overlong NUL'],
    ['c1 bf', 'an overlong 2-byte form'],
    ['e0 80 80', 'an overlong 3-byte form'],
    ['ed a0 80', 'a UTF-16 surrogate'],
    ['f0 80 80 80', 'an overlong 4-byte form'],
    ['f4 90 80 80', 'beyond U+10FFFF'],
    ['f5 80 80 80', 'an invalid lead byte'],
    ['e2 82', 'a sequence cut short'],
    ['61 62 63 64 65 66 67 68 69 c3', 'a sequence cut short after 9 ASCII bytes'],
    ['ff', 'byte 0xff'],
  ] as const) {
    refused(GET, nodeId(hex(bytes)), 'malformed flotilla.control.GetNodeRequest: field 1 (nodeId) is not valid UTF-8');
    void what;
  }
  // Long strings (checked natively past their ASCII prefix): valid, and invalid at the very end.
  const long = Buffer.from(`${'a'.repeat(300)}é${'€'.repeat(200)}`, 'utf8');
  accepted(GET, nodeId(long));
  refused(GET, nodeId(Buffer.concat([long, hex('ed a0 80')])), /is not valid UTF-8/);
  refused(GET, nodeId(Buffer.concat([Buffer.from('é'), Buffer.alloc(400, 0x61), hex('80')])), /is not valid UTF-8/);
});

// ------------------------------------------------------------ enums

test('enums are closed: a number the enum does not declare is refused, never defaulted', () => {
  refused(ROTATE, hex('08 07'), 'malformed flotilla.control.RotateJoinTokenRequest: field 1 (role) holds 7, which is not a value of flotilla.control.NodeRole');
  refused(ROTATE, hex('08 02'), /holds 2/);
  // -1 as int32 (10 bytes): in range, but not a NodeRole.
  refused(ROTATE, hex('08 ff ff ff ff ff ff ff ff ff 01'), /holds -1, which is not a value of flotilla\.control\.NodeRole/);
  refused(ROTATE, hex('08 80 80 80 80 10'), /is out of the int32 range of enum flotilla\.control\.NodeRole/);
  // TaskState has gaps: 512 (RUNNING) is a state, 513 is not.
  const state = (v: number): Buffer => statusWithState(v);
  accepted(UPDATE_STATUS, state(512));
  refused(UPDATE_STATUS, state(513), /field 1 \(updates\.status\.state\) holds 513, which is not a value of flotilla\.control\.TaskState/);
  // Raft's message type, inside a batch.
  refused(RAFT_BATCH, lenField(1, hex('08 0d')), /field 1 \(messages\.type\) holds 13, which is not a value of flotilla\.raft\.MessageType/);
});

/** UpdateTaskStatusRequest{updates: [{status: {state: v}}]}, written by hand (fromObject would refuse v). */
function statusWithState(state: number): Buffer {
  const w = protobuf.Writer.create();
  w.uint32(0x08).uint32(state);
  return lenField(2, lenField(2, w.finish()));
}

test('repeated scalars are accepted packed and unpacked; packed values are checked too', () => {
  const filters = (body: Buffer): Buffer => lenField(1, body);
  // ListNodesRequest.Filters.roles (repeated NodeRole = 2): packed [0, 1], and unpacked 0, 1.
  const packed = filters(hex('12 02 00 01'));
  const unpacked = filters(hex('10 00 10 01'));
  accepted(LIST_NODES, packed);
  accepted(LIST_NODES, unpacked);
  const opts = { enums: Number, defaults: true, arrays: true };
  const decoded = (b: Buffer): unknown => (LIST_NODES.toObject(LIST_NODES.decode(b), opts) as { filters: { roles: number[] } }).filters.roles;
  assert.deepEqual(decoded(packed), [0, 1]);
  assert.deepEqual(decoded(unpacked), [0, 1]);
  // What protobufjs itself writes for a repeated enum is accepted.
  accepted(LIST_NODES, encode(LIST_NODES, { filters: { roles: [1, 0, 1], availabilities: [2] } }));
  refused(LIST_NODES, filters(hex('12 02 00 05')), /field 2 \(filters\.roles\) holds 5, which is not a value of flotilla\.control\.NodeRole/);
  refused(LIST_NODES, filters(hex('12 02 00 81')), /field 2 \(filters\.roles\) is truncated \(the message ends inside its varint\)/);
  refused(LIST_NODES, filters(hex('12 05 00')), /field 2 \(filters\.roles\) is truncated \(its length is 5 bytes, 1 are left\)/);
  // Repeated strings have no packed form: a varint is a wrong wire type.
  refused(LIST_NODES, filters(hex('08 01')), /field 1 \(filters\.ids\) has wire type 0, expected length-delimited/);
  // ConfState.voters in a snapshot header, repeated string: each one is checked.
  const HEADER = protoRoot('raft.proto').lookupType('flotilla.raft.SnapshotChunk');
  const conf = (voter: Buffer): Buffer => lenField(1, lenField(1, lenField(12, lenField(3, lenField(1, voter)))));
  accepted(HEADER, conf(Buffer.from('m1')));
  refused(HEADER, conf(hex('ff')), /field 1 \(header\.message\.snapshotMeta\.conf\.voters\) is not valid UTF-8/);
});

test('packed fixed-size values must fill whole values', () => {
  const T = protobuf.parse('syntax = "proto3"; package t; message P { repeated double d = 1; repeated fixed32 f = 2; repeated int64 v = 3; }').root.lookupType('t.P');
  accepted(T, hex('0a 10 0000000000000000 0000000000000000'));
  refused(T, hex('0a 03 000000'), /field 1 \(d\) is packed in a length that is not a multiple of 8/);
  accepted(T, hex('12 08 00000000 00000000'));
  refused(T, hex('12 02 0000'), /field 2 \(f\) is packed in a length that is not a multiple of 4/);
  accepted(T, hex('09 0000000000000000 15 00000000')); // unpacked
  accepted(T, hex('1a 03 01 ff 01'));
});

// ------------------------------------------------------------ unknown fields

test('well-formed fields with unknown numbers are skipped (forward compatibility)', () => {
  const extra = hex('a0 1f 05  a9 1f 0102030405060708  b2 1f 03 ff fe fd  bd 1f 01020304'); // fields 500..503, wire types 0, 1, 2, 5
  accepted(ROTATE, Buffer.concat([hex('08 01'), extra]));
  const decoded = ROTATE.toObject(ROTATE.decode(Buffer.concat([extra, hex('08 01')])), { enums: Number });
  assert.deepEqual(decoded, { role: 1 });
  // Unknown bytes are not looked into: invalid UTF-8 inside an unknown field is fine.
  accepted(control('GetNodeRequest'), Buffer.concat([hex('12 02 ff fe'), lenField(1, Buffer.from('n1'))]));
  // Field numbers up to 2^29-1.
  accepted(ROTATE, hex('f8 ff ff ff 0f 01'));
});

test('a Raft append is checked envelope-only: entry data is opaque', () => {
  const bytes = loadRaftProto().service.Stream.requestSerialize({
    messages: [
      { type: 0, from: 'a', to: 'b', term: 2, logTerm: 1, index: 4, commit: 3, entries: [{ term: 2, index: 5, type: 0, data: Buffer.from([0xff, 0xfe, 0x0f, 0x00]) }] },
    ],
  });
  accepted(RAFT_BATCH, bytes);
});

// ------------------------------------------------------------ deserializers of every service

test('every method of every service has a strict deserializer that never throws', () => {
  const services: Record<string, grpc.ServiceDefinition> = {
    control: loadControlProto().service,
    ca: loadCaProto().service,
    manager: loadManagerProto().service,
    dispatcher: loadDispatcherProto().service,
    raft: loadRaftProto().service,
  };
  let methods = 0;
  for (const [svc, def] of Object.entries(services)) {
    for (const [name, m] of Object.entries(def)) {
      methods++;
      for (const bytes of [hex('0f 00'), hex('00 01'), Buffer.alloc(3000, 0x0b), hex('0a ff ff ff ff 0f'), hex('88')]) {
        let out: unknown;
        assert.doesNotThrow(() => (out = m.requestDeserialize(bytes)), `${svc}.${name}`);
        assert.ok(isMalformedRequest(out), `${svc}.${name} accepted ${bytes.toString('hex').slice(0, 16)}`);
        assert.match((out as MalformedRequest).reason, /^malformed flotilla\.\w+\.\w+: /);
      }
      assert.ok(!isMalformedRequest(m.requestDeserialize(Buffer.alloc(0))), `${svc}.${name}: an empty message is well formed`);
    }
  }
  // Control: 20, and issue 17's 12 secret and config methods and 3 of autolock;
  // issue 18's Control.Events, Control.SubscribeLogs and Dispatcher.PublishLogs; issue 19's Control.ConsoleLogin.
  assert.equal(methods, 20 + 12 + 3 + 3 + 2 + 3 + 2 + 3 + 1);
});

test('strictDeserializer turns a decoder error into a MalformedRequest', () => {
  const d = strictDeserializer(ROTATE, () => {
    throw new Error('boom');
  });
  const out = d(hex('08 01'));
  assert.ok(out instanceof MalformedRequest);
  assert.equal(out.reason, 'malformed flotilla.control.RotateJoinTokenRequest: boom');
});

// ------------------------------------------------------------ the interceptor

test('a server with withStrictWire answers INVALID_ARGUMENT, unary and client-streaming, and no handler sees the bytes', async () => {
  const seen: unknown[] = [];
  let streamCancelled = false;
  const server = new grpc.Server(withStrictWire());
  server.addService(loadControlProto().service, {
    RotateJoinToken: (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      seen.push(call.request);
      cb(null, { joinTokens: { worker: 'w', manager: 'm' } });
    },
  });
  server.addService(loadRaftProto().service, {
    Stream: (call: grpc.ServerReadableStream<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      call.on('data', (m: unknown) => seen.push(m));
      call.on('cancelled', () => (streamCancelled = true));
      call.on('end', () => cb(null, {}));
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const id = (b: Buffer): Buffer => b;
  try {
    const unary = (bytes: Buffer): Promise<grpc.ServiceError | null> =>
      new Promise((resolve) => client.makeUnaryRequest('/flotilla.control.Control/RotateJoinToken', id, id, bytes, (err) => resolve(err)));
    const err = await unary(hex('0f 00'));
    assert.equal(err?.code, grpc.status.INVALID_ARGUMENT);
    assert.equal(err?.details, 'malformed flotilla.control.RotateJoinTokenRequest: field 1 (role) has wire type 7, expected varint');
    assert.equal(seen.length, 0);
    assert.equal(await unary(hex('08 01')), null);
    assert.deepEqual(seen, [{ role: 1, _role: 'role' }]);
    seen.length = 0;

    // Client streaming: a good batch, then garbage: the call ends INVALID_ARGUMENT and the handler saw only the good one.
    const good = loadRaftProto().service.Stream.requestSerialize({ messages: [{ type: 6, from: 'a', to: 'b', term: 1 }] });
    const streamErr = await new Promise<grpc.ServiceError | null>((resolve) => {
      const call = client.makeClientStreamRequest('/flotilla.raft.Raft/Stream', id, id, (e) => resolve(e));
      call.write(good);
      call.write(hex('0a 03 08 63'));
      call.write(good);
    });
    assert.equal(streamErr?.code, grpc.status.INVALID_ARGUMENT);
    assert.match(streamErr!.details, /^malformed flotilla\.raft\.MessageBatch: field 1 \(messages\) is truncated/);
    assert.equal(seen.length, 1);
    assert.ok(!isMalformedRequest(seen[0]));
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(streamCancelled, 'the stream handler is told that its call is over');
  } finally {
    client.close();
    await new Promise<void>((r) => server.tryShutdown(() => r()));
  }
});
