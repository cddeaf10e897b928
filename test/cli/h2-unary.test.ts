// The CLI's unary gRPC over node:http2 (src/cli/h2-unary.ts) against a bare
// HTTP/2 server on a unix socket, for what a real manager rarely sends: a
// trailers-only error with percent-encoded details and metadata, an HTTP error
// without a gRPC status, an answer over the size limit, a broken frame. (The
// usual paths run against a real gRPC server in cli-e2e.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { grpcTimeout, H2UnaryChannel, type UnaryResult } from '../../src/cli/h2-unary.js';
import { status } from '../../src/cli/grpc-codes.js';

function frame(message: Buffer): Buffer {
  const b = Buffer.alloc(5 + message.length);
  b.writeUInt32BE(message.length, 1);
  message.copy(b, 5);
  return b;
}

/** What the server does with each call, by path. */
const handlers: Record<string, (stream: http2.ServerHttp2Stream, body: Buffer) => void> = {
  '/t.S/Echo': (s, body) => {
    s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
    s.end(body);
  },
  '/t.S/TrailersOnly': (s) => {
    s.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(status.UNAVAILABLE), 'grpc-message': encodeURI('not the leader: ask 10.0.0.1'), 'leader-address': '10.0.0.1:4242' }, { endStream: true });
  },
  '/t.S/Http404': (s) => {
    s.respond({ ':status': 404 }, { endStream: true });
  },
  '/t.S/Big': (s) => {
    s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
    s.end(frame(Buffer.alloc(100)));
  },
  '/t.S/Truncated': (s) => {
    s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
    s.end(frame(Buffer.from('abc')).subarray(0, 6));
  },
};

test('unary calls over HTTP/2 on a unix socket', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-h2-'));
  const socket = join(dir, 'control.sock');
  const server = http2.createServer();
  server.on('stream', (s, headers) => {
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => handlers[String(headers[':path'])](s, Buffer.concat(chunks)));
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  const channel = new H2UnaryChannel(socket, 50);
  const deadline = (): Date => new Date(Date.now() + 5_000);
  t.after(() => {
    channel.close();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const failed = (r: UnaryResult): Exclude<UnaryResult, { ok: true }> => {
    assert.equal(r.ok, false);
    return r as Exclude<UnaryResult, { ok: true }>;
  };

  await t.test('a message sent is the message the server got, and back', async () => {
    const r = await channel.unary('/t.S/Echo', Buffer.from('hello'), deadline());
    assert.deepEqual(r, { ok: true, message: Buffer.from('hello') });
  });

  await t.test('a trailers-only error: its code, its decoded details, its metadata', async () => {
    const r = failed(await channel.unary('/t.S/TrailersOnly', Buffer.alloc(0), deadline()));
    assert.equal(r.code, status.UNAVAILABLE);
    assert.equal(r.details, 'not the leader: ask 10.0.0.1');
    assert.deepEqual(r.metadata.get('leader-address'), ['10.0.0.1:4242']);
    assert.deepEqual(r.metadata.get('grpc-status'), []);
  });

  await t.test("an HTTP error without a gRPC status: gRPC's mapping of it", async () => {
    const r = failed(await channel.unary('/t.S/Http404', Buffer.alloc(0), deadline()));
    assert.equal(r.code, status.UNIMPLEMENTED);
    assert.match(r.details, /HTTP status code 404/);
  });

  await t.test('an answer over the size limit is refused', async () => {
    const r = failed(await channel.unary('/t.S/Big', Buffer.alloc(0), deadline()));
    assert.equal(r.code, status.RESOURCE_EXHAUSTED);
  });

  await t.test('a frame shorter than its length prefix is refused', async () => {
    const r = failed(await channel.unary('/t.S/Truncated', Buffer.alloc(0), deadline()));
    assert.equal(r.code, status.INTERNAL);
  });

  await t.test('no server on the socket: UNAVAILABLE, saying why', async () => {
    const none = new H2UnaryChannel(join(dir, 'none.sock'), 50);
    const r = failed(await none.unary('/t.S/Echo', Buffer.alloc(0), deadline()));
    none.close();
    assert.equal(r.code, status.UNAVAILABLE);
    assert.match(r.details, /ENOENT/);
  });
});

test('grpc-timeout: at most 8 digits, the finest unit that fits', () => {
  assert.equal(grpcTimeout(15_000), '15000m');
  assert.equal(grpcTimeout(99_999_999), '99999999m');
  assert.equal(grpcTimeout(100_000_000), '100000S');
  assert.equal(grpcTimeout(1000 * 3_600_000), '3600000S');
  assert.equal(grpcTimeout(Number.MAX_SAFE_INTEGER), '99999999H');
});
