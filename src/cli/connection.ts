// How the CLI reaches the Control API of a manager.
//
// Target, in this order:
// 1. `--host` or FLOTILLA_HOST: `unix:///abs/path/control.sock` (or a plain path
//    ending in .sock) → the unix socket, no TLS; `HOST[:PORT]` (or
//    tcp://HOST[:PORT], default port 4242) → TCP with mutual TLS, using the node
//    certificates in DATA_DIR/certificates (root-ca.crt, node.crt, node.key).
// 2. Otherwise the unix socket DATA_DIR/control.sock of the local daemon.
// DATA_DIR is `--data-dir`, else FLOTILLA_DATA_DIR, else /var/lib/flotilla.
// Every call has a deadline (15 s unless --timeout says otherwise). Calls go
// over node:http2 on the unix socket (h2-unary.ts), over grpc-js on TCP;
// streams (service logs, events) over grpc-js on both, loaded when one opens.
import { readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import type { ChannelCredentials, Client, ServiceError, StatusObject } from '@grpc/grpc-js';
import { splitHostPort, validPort } from '../common/address.js';
import type { control } from '../api/wire.js';
import type { ControlMethod, ControlStreamMethod } from '../api/proto.js';
import { quoteArg, UsageError } from './args.js';
import { CliError, RpcError, type ErrorContext } from './errors.js';
import { Metadata, status } from './grpc-codes.js';
import { H2UnaryChannel, type UnaryResult } from './h2-unary.js';

export const DEFAULT_DATA_DIR = '/var/lib/flotilla';
export const DEFAULT_PORT = 4242;
export const DEFAULT_TIMEOUT_MS = 15_000;
export const CONTROL_SOCKET = 'control.sock';
/** The node's TLS files under DATA_DIR. */
export const CERT_FILES = {
  caCert: join('certificates', 'root-ca.crt'),
  cert: join('certificates', 'node.crt'),
  key: join('certificates', 'node.key'),
} as const;

export type Env = Readonly<Record<string, string | undefined>>;

/** What the operator said about where to connect (flags and environment). */
export interface ConnectionOptions {
  /** `--host` */
  host?: string;
  /** `--data-dir` */
  dataDir?: string;
  /** `--timeout`, in milliseconds. */
  timeoutMs?: number;
  env: Env;
}

export interface Target {
  kind: 'unix' | 'tcp';
  /** The gRPC target: 'unix:///abs/control.sock' or 'host:port'. */
  address: string;
  /** How messages name it. */
  display: string;
  dataDir: string;
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s.trim() === '' ? undefined : s.trim();
}

/** `--data-dir`, else FLOTILLA_DATA_DIR, else /var/lib/flotilla (made absolute). */
export function resolveDataDir(flag: string | undefined, env: Env): string {
  return resolve(nonEmpty(flag) ?? nonEmpty(env.FLOTILLA_DATA_DIR) ?? DEFAULT_DATA_DIR);
}

function unixTarget(path: string, dataDir: string): Target {
  const abs = isAbsolute(path) ? path : resolve(path);
  const address = `unix://${abs}`;
  return { kind: 'unix', address, display: address, dataDir };
}

/** Where to connect; a UsageError for a --host (or FLOTILLA_HOST) that is neither a socket nor HOST:PORT. */
export function resolveTarget(opts: ConnectionOptions): Target {
  const dataDir = resolveDataDir(opts.dataDir, opts.env);
  const fromFlag = nonEmpty(opts.host);
  const host = fromFlag ?? nonEmpty(opts.env.FLOTILLA_HOST);
  if (host === undefined) return unixTarget(join(dataDir, CONTROL_SOCKET), dataDir);
  const source = fromFlag !== undefined ? '--host' : 'FLOTILLA_HOST';
  const bad = (why: string): never => {
    throw new UsageError(`invalid ${source} ${quoteArg(host)}: ${why}; expected unix:///path/to/control.sock, a path ending in .sock, or HOST:PORT`);
  };
  if (host.startsWith('unix:')) {
    const path = host.replace(/^unix:(\/\/)?/, '');
    if (path === '') bad('the socket path is empty');
    return unixTarget(path, dataDir);
  }
  if (host.endsWith('.sock') || host.startsWith('/') || host.startsWith('./')) return unixTarget(host, dataDir);
  const hp = host.replace(/^tcp:\/\//, '');
  const split = splitHostPort(hp);
  if (!split) return bad('not a host name or address');
  const port = split.port ?? DEFAULT_PORT;
  if (!validPort(port)) bad(`port ${port} is out of range 1..65535`);
  const address = `${split.host}:${port}`;
  return { kind: 'tcp', address, display: address, dataDir };
}

function readCertFile(dataDir: string, rel: string, target: Target): string {
  const path = join(dataDir, rel);
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new CliError(
        `cannot connect to ${target.display} over mutual TLS: ${path} does not exist; a TCP --host needs the data dir of a node of the cluster (--data-dir DIR or FLOTILLA_DATA_DIR)`,
      );
    }
    if (code === 'EACCES') throw new CliError(`cannot read ${path} (permission denied): run the command as a user that can read the data dir ${dataDir}`);
    throw new CliError(`cannot read ${path}: ${(err as Error).message}`);
  }
}

/** The node's certificate and key for a TCP target (read, not yet parsed); none over the unix socket. */
interface TlsFiles {
  caCertPem: string;
  certPem: string;
  keyPem: string;
}

function tlsFilesFor(target: Target): TlsFiles | null {
  if (target.kind === 'unix') return null;
  return {
    caCertPem: readCertFile(target.dataDir, CERT_FILES.caCert, target),
    certPem: readCertFile(target.dataDir, CERT_FILES.cert, target),
    keyPem: readCertFile(target.dataDir, CERT_FILES.key, target),
  };
}

// Answers may be large (a page of 5,000 tasks with long specs): SwarmKit's 128 MB, not gRPC's 4 MB default.
const MAX_RECEIVE_BYTES = 128 * 1024 * 1024;

/** How a stream ended: OK (or cancelled by us), or the failed status. */
type StreamEnd = { ok: true } | { ok: false; code: number; details: string; metadata: Metadata };

/** An open server stream: `ended` settles once, when it ends. */
interface StreamCall {
  ended: Promise<StreamEnd>;
  cancel(): void;
}

/** How calls reach the manager: serialized request in, response bytes or the failed status out. */
interface Transport {
  unary(path: string, request: Buffer, deadline: Date): Promise<UnaryResult>;
  /** A server-streaming call, without a deadline (a followed stream lasts until the user stops it). */
  stream(path: string, request: Buffer, onMessage: (message: Buffer) => void): Promise<StreamCall>;
  close(): void;
}

const passBytes = (b: Buffer): Buffer => b;

/** A server-streaming call on a grpc-js client, bytes in and out. */
function grpcStream(client: Client, path: string, request: Buffer, onMessage: (message: Buffer) => void): StreamCall {
  const call = client.makeServerStreamRequest(path, passBytes, passBytes, request, new Metadata(), {});
  let cancelled = false;
  const ended = new Promise<StreamEnd>((resolvePromise) => {
    call.on('data', (m: Buffer) => {
      if (!cancelled) onMessage(m);
    });
    call.on('error', (err: ServiceError) =>
      resolvePromise(cancelled && err.code === status.CANCELLED ? { ok: true } : { ok: false, code: err.code, details: err.details, metadata: err.metadata ?? new Metadata() }),
    );
    call.on('status', (st: StatusObject) => {
      if (st.code === status.OK) resolvePromise({ ok: true });
    });
  });
  return {
    ended,
    cancel: () => {
      cancelled = true;
      call.cancel();
    },
  };
}

/**
 * grpc-js with the node's mutual TLS, for a TCP target: loaded only then (it
 * and the certificate code are most of what a command would load; the local
 * socket needs neither, see h2-unary.ts).
 */
async function grpcTransport(target: Target, tls: TlsFiles): Promise<Transport> {
  const grpc = await import('@grpc/grpc-js');
  const { NODE_CHANNEL_OPTIONS, NodeCertificateProvider, channelCredentials } = await import('../manager/ca/tls.js');
  let credentials: ChannelCredentials;
  try {
    credentials = channelCredentials(new NodeCertificateProvider(tls));
  } catch (err) {
    throw new CliError(`cannot use the node certificate in ${join(target.dataDir, 'certificates')}: ${(err as Error).message}`);
  }
  const client = new grpc.Client(target.address, credentials, { ...NODE_CHANNEL_OPTIONS, 'grpc.max_receive_message_length': MAX_RECEIVE_BYTES });
  return {
    unary: (path, request, deadline) =>
      new Promise((resolvePromise) => {
        client.makeUnaryRequest(path, passBytes, passBytes, request, new Metadata(), { deadline }, (err, res) => {
          if (err) resolvePromise({ ok: false, code: err.code, details: err.details, metadata: err.metadata ?? new Metadata() });
          else if (res === undefined) resolvePromise({ ok: false, code: status.INTERNAL, details: 'empty response', metadata: new Metadata() });
          else resolvePromise({ ok: true, message: res });
        });
      }),
    stream: (path, request, onMessage) => Promise.resolve(grpcStream(client, path, request, onMessage)),
    close: () => client.close(),
  };
}

/** The local socket: unary calls over node:http2 (h2-unary.ts); a stream loads grpc-js for itself. */
function socketTransport(target: Target): Transport {
  const channel = new H2UnaryChannel(target.address.slice('unix://'.length), MAX_RECEIVE_BYTES);
  let streams: Promise<Client> | null = null;
  let closed = false;
  const streamClient = (): Promise<Client> =>
    (streams ??= import('@grpc/grpc-js').then((grpc) => {
      const client = new grpc.Client(target.address, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': MAX_RECEIVE_BYTES });
      if (closed) client.close();
      return client;
    }));
  return {
    unary: (path, request, deadline) => channel.unary(path, request, deadline),
    stream: async (path, request, onMessage) => grpcStream(await streamClient(), path, request, onMessage),
    close: () => {
      closed = true;
      channel.close();
      void streams?.then((c) => c.close());
    },
  };
}

function openTransport(target: Target, tls: TlsFiles | null): Promise<Transport> {
  return tls ? grpcTransport(target, tls) : Promise.resolve(socketTransport(target));
}

// ------------------------------------------------------------ typed calls

/**
 * What a Control method sends and answers, from the generated definition of
 * the service (src/api/wire.ts): the request as proto-loader accepts it, the
 * response as it hands it out (every field present, see convert.ts).
 */
export type Request<M extends ControlMethod> = Parameters<control.ControlDefinition[M]['requestSerialize']>[0];
export type Response<M extends ControlMethod> = ReturnType<control.ControlDefinition[M]['responseDeserialize']>;

/** A connection to the Control API of one manager. */
export interface Control {
  readonly target: Target;
  readonly timeoutMs: number;
  /** One unary call with the deadline; rejects with an RpcError. */
  call<M extends ControlMethod>(method: M, request: Request<M>): Promise<Response<M>>;
  /**
   * A server-streaming call, without a deadline (it follows until it ends):
   * `onMessage` for each message; `done` resolves when the stream ends OK or
   * is cancelled, rejects with an RpcError otherwise.
   */
  stream<M extends ControlStreamMethod>(method: M, request: Request<M>, onMessage: (m: Response<M>) => void): { done: Promise<void>; cancel(): void };
  /** What error messages need to know about this connection. */
  errorContext(): ErrorContext;
  close(): void;
}

class ControlConnection implements Control {
  private transport: Promise<Transport> | null = null;
  private opened: Transport | null = null;
  private closed = false;

  constructor(
    readonly target: Target,
    readonly timeoutMs: number,
    private readonly tls: TlsFiles | null,
  ) {}

  /** The transport, opened by the first call. */
  private open(): Promise<Transport> {
    this.transport ??= openTransport(this.target, this.tls).then((t) => {
      if (this.closed) t.close();
      this.opened = t;
      return t;
    });
    return this.transport;
  }

  /** The method's codecs; `encode` and `decode` fail as grpc-js's own serializers do, in its words. */
  private async codec<M extends ControlMethod>(method: M): Promise<{ path: string; encode(r: Request<M>): Buffer; decode(b: Buffer): Response<M> }> {
    // The codecs (protobufjs) load with the first call: help and usage errors do without them.
    const { controlClientMethod } = await import('../api/control-client.js');
    const def = await controlClientMethod(method);
    const fail = (what: string, err: unknown): RpcError => new RpcError(method, status.INTERNAL, `${what}: ${err instanceof Error ? err.message : String(err)}`, new Metadata());
    return {
      path: def.path,
      encode: (r) => {
        try {
          return def.requestSerialize(r);
        } catch (err) {
          throw fail('Request message serialization failure', err);
        }
      },
      decode: (b) => {
        try {
          return def.responseDeserialize(b) as Response<M>;
        } catch (err) {
          throw fail('Response message parsing error', err);
        }
      },
    };
  }

  async call<M extends ControlMethod>(method: M, request: Request<M>): Promise<Response<M>> {
    const c = await this.codec(method);
    const bytes = c.encode(request);
    const transport = await this.open();
    const r = await transport.unary(c.path, bytes, new Date(Date.now() + this.timeoutMs));
    if (!r.ok) throw new RpcError(method, r.code, r.details, r.metadata);
    return c.decode(r.message);
  }

  stream<M extends ControlStreamMethod>(method: M, request: Request<M>, onMessage: (m: Response<M>) => void): { done: Promise<void>; cancel(): void } {
    let call: StreamCall | null = null;
    let cancelled = false;
    const done = (async () => {
      const c = await this.codec(method);
      const bytes = c.encode(request);
      let broken: unknown;
      const opened: StreamCall = await (await this.open()).stream(c.path, bytes, (b) => {
        try {
          onMessage(c.decode(b));
        } catch (err) {
          // An undecodable message (or a failing consumer) ends the stream with that error.
          broken ??= err;
          opened.cancel();
        }
      });
      call = opened;
      if (cancelled) opened.cancel();
      const end = await opened.ended;
      if (broken !== undefined) throw broken;
      if (!end.ok) throw new RpcError(method, end.code, end.details, end.metadata);
    })();
    return {
      done,
      cancel: () => {
        cancelled = true;
        call?.cancel();
      },
    };
  }

  errorContext(): ErrorContext {
    return { target: this.target.display, kind: this.target.kind, dataDir: this.target.dataDir, timeoutMs: this.timeoutMs };
  }

  close(): void {
    this.closed = true;
    this.opened?.close();
  }
}

/** Resolve the target and read its certificates (TCP); the channel is opened by the first call. */
export function connect(opts: ConnectionOptions): Control {
  const target = resolveTarget(opts);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new ControlConnection(target, timeoutMs, tlsFilesFor(target));
}
