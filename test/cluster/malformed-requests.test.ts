// Malformed request bytes on a real single-manager daemon (127.0.0.66:7466):
// raw bytes (a client whose serializer is the identity) to a method of every
// service (Control on the unix socket and over mTLS, CA, Manager, Dispatcher,
// Raft's two client streams) get INVALID_ARGUMENT with the reason, never
// INTERNAL; the three payloads that used to rotate the worker join token
// leave both tokens as they were; requests that would act on an absent field
// are refused; the daemon keeps serving. Run under
// `flock /tmp/flotilla-heavy.lock` (it starts a daemon on loopback).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { DaemonCluster } from '../../src/testing/daemon-cluster.js';
import { loadControlProto } from '../../src/api/proto.js';
import { anonymousChannelCredentials, channelCredentials, NODE_CHANNEL_OPTIONS, NodeCertificateProvider } from '../../src/manager/ca/tls.js';

const base = mkdtempSync(join(tmpdir(), 'flotilla-malformed-'));
const c = new DaemonCluster({ baseDir: base, firstHost: 66, port: 7466, logLevel: 'warn' });
let local: grpc.Client; // the control unix socket
let mtls: grpc.Client; // the TCP port, with the manager's own certificate
let anon: grpc.Client; // the TCP port, no client certificate (the CA service is open)

before(async () => {
  await c.init(0);
  const n = c.node(0);
  const dir = join(n.dataDir, 'certificates');
  const read = (f: string): string => readFileSync(join(dir, f), 'utf8');
  const tls = new NodeCertificateProvider({ caCertPem: read('root-ca.crt'), certPem: read('node.crt'), keyPem: read('node.key') });
  local = new grpc.Client(`unix:${join(n.dataDir, 'control.sock')}`, grpc.credentials.createInsecure());
  mtls = new grpc.Client(n.address, channelCredentials(tls), NODE_CHANNEL_OPTIONS);
  anon = new grpc.Client(n.address, anonymousChannelCredentials(read('root-ca.crt')), NODE_CHANNEL_OPTIONS);
});

after(async () => {
  for (const cl of [local, mtls, anon]) cl?.close();
  await c.stop();
  if (process.env.KEEP_CLUSTER_DIRS !== '1') rmSync(base, { recursive: true, force: true });
});

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const id = (b: Buffer): Buffer => b;

interface Outcome {
  code: grpc.status;
  details: string;
  /** The response bytes of a successful unary call. */
  response?: Buffer;
}

const callOptions = (): grpc.CallOptions => ({ deadline: Date.now() + 10_000 });

function unary(client: grpc.Client, path: string, bytes: Buffer): Promise<Outcome> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(path, id, id, bytes, new grpc.Metadata(), callOptions(), (err, res) =>
      resolve(err ? { code: err.code, details: err.details } : { code: grpc.status.OK, details: '', response: res }),
    );
  });
}

function serverStream(client: grpc.Client, path: string, bytes: Buffer): Promise<Outcome> {
  return new Promise((resolve) => {
    const call = client.makeServerStreamRequest(path, id, id, bytes, new grpc.Metadata(), callOptions());
    call.on('data', () => {
      // A session that opened: not expected here; end it.
      call.cancel();
    });
    call.on('error', (err: grpc.ServiceError) => resolve({ code: err.code, details: err.details }));
    call.on('end', () => resolve({ code: grpc.status.OK, details: '' }));
  });
}

function clientStream(client: grpc.Client, path: string, chunks: Buffer[]): Promise<Outcome> {
  return new Promise((resolve) => {
    const call = client.makeClientStreamRequest(path, id, id, new grpc.Metadata(), callOptions(), (err) =>
      resolve(err ? { code: err.code, details: err.details } : { code: grpc.status.OK, details: '' }),
    );
    for (const ch of chunks) call.write(ch);
    // Left open: the server must end the call by itself.
  });
}

function invalid(o: Outcome, details: RegExp | string, what: string): void {
  assert.equal(o.code, grpc.status.INVALID_ARGUMENT, `${what}: ${grpc.status[o.code]} ${o.details}`);
  if (typeof details === 'string') assert.equal(o.details, details, what);
  else assert.match(o.details, details, what);
}

/** `depth` messages nested in field `field`. */
function nested(field: number, depth: number): Buffer {
  let b: Buffer = Buffer.alloc(0);
  for (let i = 0; i < depth; i++) {
    const len: number[] = [];
    let n = b.length;
    while (n >= 0x80) {
      len.push((n & 0x7f) | 0x80);
      n >>>= 7;
    }
    len.push(n);
    b = Buffer.concat([Buffer.from([(field << 3) | 2, ...len]), b]);
  }
  return b;
}

async function joinTokens(): Promise<{ worker: string; manager: string }> {
  const o = await unary(local, '/flotilla.control.Control/GetJoinTokens', Buffer.alloc(0));
  assert.equal(o.code, grpc.status.OK, o.details);
  const res = loadControlProto().service.GetJoinTokens.responseDeserialize(o.response!) as { joinTokens: { worker: string; manager: string } };
  assert.match(res.joinTokens.worker, /^\S{20,}$/);
  return res.joinTokens;
}

const ROTATE = '/flotilla.control.Control/RotateJoinToken';

test('the payloads that rotated the worker token are refused, and the tokens stay as they were', async () => {
  const before = await joinTokens();
  invalid(await unary(local, ROTATE, hex('0f 00')), 'malformed flotilla.control.RotateJoinTokenRequest: field 1 (role) has wire type 7, expected varint', '0f 00');
  invalid(await unary(local, ROTATE, hex('00 01')), 'malformed flotilla.control.RotateJoinTokenRequest: field number 0 is not valid (tag byte 0x00)', '00 01');
  invalid(await unary(local, ROTATE, Buffer.alloc(3000, 0x0b)), /^malformed flotilla\.control\.RotateJoinTokenRequest: field 1 \(role\) has wire type 3/, '3,000 start-groups');
  invalid(await unary(local, ROTATE, nested(1, 3000)), /^malformed flotilla\.control\.RotateJoinTokenRequest: field 1 \(role\) has wire type 2/, '3,000 nested messages');
  // Well formed, but nothing says which token: refused by the service.
  invalid(await unary(local, ROTATE, nested(2, 3000)), 'role is required: worker or manager', '3,000 nested messages in an unknown field');
  invalid(await unary(local, ROTATE, Buffer.alloc(0)), 'role is required: worker or manager', 'an empty request');
  invalid(await unary(local, ROTATE, hex('08 07')), 'malformed flotilla.control.RotateJoinTokenRequest: field 1 (role) holds 7, which is not a value of flotilla.control.NodeRole', 'role 7');
  // Over mTLS too (the authorizer and the check together).
  invalid(await unary(mtls, ROTATE, hex('0f 00')), /field 1 \(role\) has wire type 7/, 'over mTLS');
  assert.deepEqual(await joinTokens(), before, 'no token rotated');

  // An explicit worker role (08 00: 0 sent on the wire) rotates the worker token, and only it.
  const ok = await unary(local, ROTATE, hex('08 00'));
  assert.equal(ok.code, grpc.status.OK, ok.details);
  const afterRotate = await joinTokens();
  assert.notEqual(afterRotate.worker, before.worker);
  assert.equal(afterRotate.manager, before.manager);
});

test('Control: other methods refuse malformed bytes and absent values that would act', async () => {
  // CreateServiceRequest.spec.name as invalid UTF-8.
  invalid(await unary(local, '/flotilla.control.Control/CreateService', hex('0a 04 0a 02 c3 28')), 'malformed flotilla.control.CreateServiceRequest: field 1 (spec.name) is not valid UTF-8', 'CreateService');
  // A truncated ListNodes filter.
  invalid(await unary(local, '/flotilla.control.Control/ListNodes', hex('0a 05 12 02 00')), /^malformed flotilla\.control\.ListNodesRequest: field 1 \(filters\) is truncated/, 'ListNodes');
  // UpdateNode with has_role set and no role (it would have demoted to worker).
  const nodeId = (loadControlProto().service.ClusterInfo.responseDeserialize((await unary(local, '/flotilla.control.Control/ClusterInfo', Buffer.alloc(0))).response!) as { leaderId: string }).leaderId;
  assert.ok(nodeId);
  const req = loadControlProto().service.UpdateNode.requestSerialize({ nodeId, version: 1, hasRole: true, labelsAdd: {}, labelsRm: [] });
  invalid(await unary(local, '/flotilla.control.Control/UpdateNode', req), 'role is required when has_role is set: worker or manager', 'UpdateNode has_role without role');
  // An empty request names no node and no service (never a node with an empty hostname).
  invalid(await unary(local, '/flotilla.control.Control/RemoveNode', hex('10 01')), 'node_id is required: a node id, id prefix or hostname', 'RemoveNode without a node');
  invalid(await unary(local, '/flotilla.control.Control/RemoveService', Buffer.alloc(0)), 'a service id or name is required', 'RemoveService without a service');
});

test('CA, Manager, Dispatcher and Raft refuse malformed bytes with INVALID_ARGUMENT', async () => {
  invalid(await unary(anon, '/flotilla.ca.CA/IssueNodeCertificate', hex('0f 00')), 'malformed flotilla.ca.IssueRequest: field 1 (csrPem) has wire type 7, expected length-delimited', 'CA IssueNodeCertificate');
  invalid(await unary(anon, '/flotilla.ca.CA/GetRootCA', hex('00 01')), 'malformed flotilla.ca.Empty: field number 0 is not valid (tag byte 0x00)', 'CA GetRootCA');

  invalid(await unary(mtls, '/flotilla.manager.Manager/Propose', hex('0a 09 7b')), /^malformed flotilla\.manager\.ProposeRequest: field 1 \(tx\) is truncated/, 'Manager Propose');
  invalid(await unary(mtls, '/flotilla.manager.Manager/Propose', Buffer.alloc(0)), 'tx is required: a store transaction to propose', 'Manager Propose, empty');
  invalid(await unary(mtls, '/flotilla.manager.Manager/JoinRaft', hex('0a 01 ff')), 'malformed flotilla.manager.JoinRaftRequest: field 1 (address) is not valid UTF-8', 'Manager JoinRaft');

  // UpdateTaskStatus with state 3 (not a TaskState).
  invalid(
    await unary(mtls, '/flotilla.dispatcher.Dispatcher/UpdateTaskStatus', hex('0a 01 73 12 06 0a 01 74 12 01 08')),
    /^malformed flotilla\.dispatcher\.UpdateTaskStatusRequest: field 1 \(updates\.status\.state\) is truncated/,
    'Dispatcher UpdateTaskStatus, truncated',
  );
  invalid(
    await unary(mtls, '/flotilla.dispatcher.Dispatcher/UpdateTaskStatus', hex('0a 01 73 12 07 0a 01 74 12 02 08 03')),
    'malformed flotilla.dispatcher.UpdateTaskStatusRequest: field 1 (updates.status.state) holds 3, which is not a value of flotilla.control.TaskState',
    'Dispatcher UpdateTaskStatus, unknown state',
  );
  invalid(await unary(mtls, '/flotilla.dispatcher.Dispatcher/Heartbeat', hex('0f 00')), /^malformed flotilla\.dispatcher\.HeartbeatRequest: /, 'Dispatcher Heartbeat');
  // Session is server-streaming.
  invalid(await serverStream(mtls, '/flotilla.dispatcher.Dispatcher/Session', hex('0a 02 11 00')), /^malformed flotilla\.dispatcher\.SessionRequest: field 2 \(description\.cpus\) is truncated/, 'Dispatcher Session');
  invalid(await serverStream(mtls, '/flotilla.dispatcher.Dispatcher/Session', Buffer.alloc(0)), "description is required: the agent sends its node's hostname, resources and platform", 'Dispatcher Session, no description');

  // Raft's client streams: the call ends at the first malformed message, without the client half-closing.
  invalid(await clientStream(mtls, '/flotilla.raft.Raft/Stream', [hex('0a 02 08 63')]), 'malformed flotilla.raft.MessageBatch: field 1 (messages.type) holds 99, which is not a value of flotilla.raft.MessageType', 'Raft Stream');
  invalid(await clientStream(mtls, '/flotilla.raft.Raft/Stream', [Buffer.alloc(3000, 0x0b)]), /^malformed flotilla\.raft\.MessageBatch: field 1 \(messages\) has wire type 3/, 'Raft Stream, groups');
  invalid(await clientStream(mtls, '/flotilla.raft.Raft/InstallSnapshot', [hex('12 05 00')]), /^malformed flotilla\.raft\.SnapshotChunk: field 2 \(data\) is truncated/, 'Raft InstallSnapshot');
});

test('the daemon still serves after the garbage', async () => {
  assert.ok(c.node(0).proc, 'the daemon is running');
  assert.equal((await unary(mtls, '/flotilla.control.Control/ClusterInfo', Buffer.alloc(0))).code, grpc.status.OK);
  // The CLI's own rotate (role sent explicitly) works.
  const rotated = await c.cli(0, ['join-token', '--rotate', '-q', 'manager']);
  assert.equal(rotated.code, 0, rotated.stderr);
  assert.match(rotated.stdout, /^\S{20,}\n$/);
});
