// The Raft service widens the HTTP/2 receive windows of the sessions its
// streams arrive on. This reaches into grpc-js (the call's HTTP/2 stream), so
// the test runs against the real library: if an upgrade changes its shape,
// this fails rather than followers silently going back to 64 KiB windows.
import type { raft } from '../../src/api/wire.js';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { loadRaftProto } from '../../src/raft/codec.js';
import { RAFT_CONNECTION_WINDOW_BYTES, http2SessionOf, widenReceiveWindows } from '../../src/raft/receive-window.js';

test('a served raft stream gets its session\'s receive windows widened, once per session', async () => {
  const results: string[] = [];
  const windows: number[] = [];
  const server = new grpc.Server();
  const proto = loadRaftProto();
  server.addService(proto.service, {
    Stream: (call: grpc.ServerReadableStream<raft.MessageBatch__Output, raft.StreamAck__Output>, cb: grpc.sendUnaryData<raft.StreamAck__Output>) => {
      results.push(widenReceiveWindows(call));
      windows.push(http2SessionOf(call) ? ((http2SessionOf(call) as unknown as { state: { localWindowSize?: number } }).state.localWindowSize ?? -1) : -1);
      call.on('data', () => undefined);
      call.on('end', () => cb(null, {}));
    },
    InstallSnapshot: (_call: unknown, cb: grpc.sendUnaryData<raft.StreamAck__Output>) => cb(null, {}),
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  const Client = grpc.makeGenericClientConstructor(proto.service, 'Raft');
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  try {
    for (let i = 0; i < 2; i++) {
      await new Promise<void>((resolve, reject) => {
        const call = (client as unknown as { Stream: (cb: (err: grpc.ServiceError | null) => void) => grpc.ClientWritableStream<raft.MessageBatch__Output> }).Stream((err) => (err ? reject(err) : resolve()));
        call.write({ messages: [] });
        call.end();
      });
    }
    assert.deepEqual(results, ['widened', 'already'], 'the same connection: widened once');
    assert.ok(windows[0] >= RAFT_CONNECTION_WINDOW_BYTES / 2, `connection window ${windows[0]}`);
  } finally {
    client.close();
    server.forceShutdown();
  }
});

test('a call without the expected shape is left alone', () => {
  assert.equal(widenReceiveWindows({}), 'unavailable');
  assert.equal(widenReceiveWindows(null), 'unavailable');
  assert.equal(http2SessionOf({ call: { nextCall: { stream: {} } } }), undefined);
});
