// Unary gRPC calls over HTTP/2 cleartext on the local daemon's unix socket,
// with node:http2 alone: a read command does not load @grpc/grpc-js, whose
// index (client, server, resolvers, balancers: some 65 files) cost more start-up
// time than the rest of the command (bench/cli.ts). The protocol is gRPC's
// over HTTP/2 (one length-prefixed message each way, the status in the
// trailers, or in the headers of a trailers-only answer); results and errors
// come out as grpc-js gives them (its status codes, its Metadata, its
// wording), so that the rest of the CLI cannot tell the two apart. TCP targets
// (mutual TLS) keep grpc-js.
import http2 from 'node:http2';
import { connect as netConnect } from 'node:net';
import { Metadata, status } from './grpc-codes.js';

/** How a call ended: the response message, or the gRPC status that failed it. */
export type UnaryResult = { ok: true; message: Buffer } | { ok: false; code: status; details: string; metadata: Metadata };

/** The message prefix: a compression flag byte and a 4-byte big-endian length. */
const PREFIX = 5;

/** gRPC's mapping of an HTTP status without a grpc-status (the spec's http-grpc-status-mapping). */
function httpStatusCode(httpStatus: number): status {
  switch (httpStatus) {
    case 400:
      return status.INTERNAL;
    case 401:
      return status.UNAUTHENTICATED;
    case 403:
      return status.PERMISSION_DENIED;
    case 404:
      return status.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return status.UNAVAILABLE;
    default:
      return status.UNKNOWN;
  }
}

/** The grpc-timeout header: at most 8 digits, in the finest unit that fits (as grpc-js writes it). */
export function grpcTimeout(ms: number): string {
  for (const [unit, factor] of [['m', 1], ['S', 1_000], ['M', 60_000], ['H', 3_600_000]] as const) {
    const amount = Math.ceil(ms / factor);
    if (amount < 1e8) return `${amount}${unit}`;
  }
  return '99999999H';
}

/** One HTTP/2 connection to a unix socket, opened on the first call. */
export class H2UnaryChannel {
  private session: http2.ClientHttp2Session | null = null;
  /** Why the connection failed, for the calls it fails. */
  private lastError = '';

  constructor(
    private readonly socketPath: string,
    private readonly maxReceiveBytes: number,
  ) {}

  private open(): http2.ClientHttp2Session {
    if (this.session && !this.session.closed && !this.session.destroyed) return this.session;
    const session = http2.connect('http://localhost', { createConnection: () => netConnect(this.socketPath) });
    session.on('error', (err: Error) => (this.lastError = err.message));
    this.session = session;
    return session;
  }

  /** One unary call to `path` ('/pkg.Service/Method') with the serialized request; never rejects. */
  unary(path: string, request: Buffer, deadline: Date): Promise<UnaryResult> {
    const timeoutMs = Math.max(1, deadline.getTime() - Date.now());
    let stream: http2.ClientHttp2Stream;
    try {
      stream = this.open().request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': grpcTimeout(timeoutMs) });
    } catch (err) {
      return Promise.resolve({ ok: false, code: status.UNAVAILABLE, details: `No connection established. Last error: ${(err as Error).message}`, metadata: new Metadata() });
    }
    return new Promise((resolve) => {
      let settled = false;
      const finish = (r: UnaryResult): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (!stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
        resolve(r);
      };
      const fail = (code: status, details: string, metadata = new Metadata()): void => finish({ ok: false, code, details, metadata });
      // setTimeout takes at most 2^31-1 ms (24 days: a deadline that far is none).
      const timer = setTimeout(() => fail(status.DEADLINE_EXCEEDED, `Deadline exceeded after ${(timeoutMs / 1000).toFixed(3)}s`), Math.min(timeoutMs, 2 ** 31 - 1));
      const chunks: Buffer[] = [];
      let received = 0;
      let headers: http2.IncomingHttpHeaders = {};
      let trailers: http2.IncomingHttpHeaders | null = null;
      stream.on('response', (h) => (headers = h));
      stream.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        received += chunk.length;
        if (received > this.maxReceiveBytes + PREFIX) fail(status.RESOURCE_EXHAUSTED, `Received message larger than max (${received - PREFIX} vs. ${this.maxReceiveBytes})`);
      });
      stream.on('trailers', (t) => (trailers = t));
      stream.on('error', (err: Error) => (this.lastError = err.message));
      stream.on('close', () => {
        if (settled) return;
        // A trailers-only answer (an error without a message) carries its status in the headers.
        const end = trailers ?? headers;
        const code = end['grpc-status'];
        if (code === undefined) {
          const httpStatus = headers[':status'] === undefined ? undefined : Number(headers[':status']);
          if (httpStatus === undefined) {
            fail(status.UNAVAILABLE, `No connection established. Last error: ${this.lastError || 'the connection closed'}`);
          } else if (httpStatus !== 200) {
            fail(httpStatusCode(httpStatus), `Received HTTP status code ${httpStatus}`);
          } else {
            fail(status.UNKNOWN, 'No status received');
          }
          return;
        }
        const metadata = Metadata.fromHttp2Headers(end);
        metadata.remove('grpc-status');
        metadata.remove('grpc-message');
        const n = Number(code);
        if (n !== status.OK) {
          let details = typeof end['grpc-message'] === 'string' ? end['grpc-message'] : '';
          try {
            details = decodeURI(details);
          } catch {
            /* not percent-encoded: as it came */
          }
          fail(Number.isInteger(n) && status[n] !== undefined ? n : status.UNKNOWN, details, metadata);
          return;
        }
        const body = Buffer.concat(chunks, received);
        if (body.length < PREFIX || body[0] !== 0 || body.readUInt32BE(1) !== body.length - PREFIX) {
          fail(status.INTERNAL, body.length >= PREFIX && body[0] !== 0 ? 'Received a compressed message' : 'Received an incomplete or extra message');
          return;
        }
        finish({ ok: true, message: body.subarray(PREFIX) });
      });
      const frame = Buffer.alloc(PREFIX + request.length);
      frame.writeUInt32BE(request.length, 1);
      request.copy(frame, PREFIX);
      stream.end(frame);
    });
  }

  close(): void {
    this.session?.close();
    this.session = null;
  }
}
