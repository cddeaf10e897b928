// peerIdentity over real mutual TLS with grpc-js: the caller's node identity,
// read from the certificate once per connection (it finds the connection's
// socket under the call, which is grpc-js internals: this test notices if an
// upgrade changes them), and null for a caller without a certificate.
import type { raft } from '../../src/api/wire.js';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { createCSR, createRootCA, generateNodeKey, signNodeCSR } from '../../src/manager/ca/ca.js';
import { NodeCertificateProvider, anonymousChannelCredentials, channelCredentials, peerIdentity, serverCredentials } from '../../src/manager/ca/tls.js';
import { socketOf } from '../../src/common/grpc-internals.js';
import { loadRaftProto } from '../../src/raft/codec.js';

async function node(ca: { certPem: string; keyPem: string }, nodeId: string, role: 'manager' | 'worker'): Promise<NodeCertificateProvider> {
  const keyPem = generateNodeKey();
  const certPem = await signNodeCSR(ca, await createCSR(keyPem), { nodeId, role, clusterId: 'c1' });
  return new NodeCertificateProvider({ caCertPem: ca.certPem, certPem, keyPem });
}

test('peerIdentity gives the caller\'s identity under mTLS, the same per connection, and null without a certificate', async () => {
  const ca = await createRootCA({ clusterId: 'c1' });
  const server = new grpc.Server();
  const seen: Array<{ id: string | null; socket: boolean }> = [];
  const proto = loadRaftProto();
  // Any service will do: the Raft one is at hand (a client-streaming call).
  server.addService(proto.service, {
    Stream: (call: grpc.ServerReadableStream<raft.MessageBatch__Output, raft.StreamAck__Output>, cb: grpc.sendUnaryData<raft.StreamAck__Output>) => {
      seen.push({ id: peerIdentity(call)?.nodeId ?? null, socket: socketOf(call) !== undefined });
      call.on('data', () => undefined);
      call.on('end', () => cb(null, {}));
    },
    InstallSnapshot: (_call: unknown, cb: grpc.sendUnaryData<raft.StreamAck__Output>) => cb(null, {}),
  });
  const mgr = await node(ca, 'm1', 'manager');
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', serverCredentials(mgr), (err, p) => (err ? reject(err) : resolve(p))));
  const Client = grpc.makeGenericClientConstructor(proto.service, 'Raft');
  const call = (client: grpc.Client): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const c = (client as unknown as { Stream: (cb: (err: grpc.ServiceError | null) => void) => grpc.ClientWritableStream<raft.MessageBatch__Output> }).Stream((err) => (err ? reject(err) : resolve()));
      c.write({ messages: [] });
      c.end();
    });
  const worker = new Client(`127.0.0.1:${port}`, channelCredentials(await node(ca, 'w1', 'worker')));
  const anonymous = new Client(`127.0.0.1:${port}`, anonymousChannelCredentials(ca.certPem));
  try {
    await call(worker);
    await call(worker);
    await call(anonymous);
    assert.deepEqual(seen, [
      { id: 'w1', socket: true },
      { id: 'w1', socket: true },
      { id: null, socket: true },
    ]);
  } finally {
    worker.close();
    anonymous.close();
    server.forceShutdown();
  }
});
