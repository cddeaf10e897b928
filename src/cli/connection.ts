// How the CLI reaches the Control API of a manager.
//
// Target, in this order:
// 1. `--host` or FLOTILLA_HOST: `unix:///abs/path/control.sock` (or a plain path
//    ending in .sock) → the unix socket, no TLS; `HOST[:PORT]` (or
//    tcp://HOST[:PORT], default port 4242) → TCP with mutual TLS, using the node
//    certificates in DATA_DIR/certificates (root-ca.crt, node.crt, node.key).
// 2. Otherwise the unix socket DATA_DIR/control.sock of the local daemon.
// DATA_DIR is `--data-dir`, else FLOTILLA_DATA_DIR, else /var/lib/flotilla.
// Every call has a deadline (15 s unless --timeout says otherwise).
import { readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { splitHostPort, validPort } from '../common/address.js';
import type { control } from '../api/wire.js';
import { controlClientMethod } from '../api/control-client.js';
import type { ControlMethod } from '../api/proto.js';
import { quoteArg, UsageError } from './args.js';
import { CliError, RpcError, type ErrorContext } from './errors.js';

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

/** A channel to the target: insecure over the unix socket, mutual TLS over TCP. */
async function openChannel(target: Target, tls: TlsFiles | null): Promise<grpc.Client> {
  // Answers may be large (a page of 5,000 tasks with long specs): SwarmKit's 128 MB, not gRPC's 4 MB default.
  const maxReceive: grpc.ChannelOptions = { 'grpc.max_receive_message_length': 128 * 1024 * 1024 };
  if (!tls) return new grpc.Client(target.address, grpc.credentials.createInsecure(), maxReceive);
  // The certificate code (x509 parsing) is loaded only for a TCP target: the local socket does without it.
  const { NODE_CHANNEL_OPTIONS, NodeCertificateProvider, channelCredentials } = await import('../manager/ca/tls.js');
  let credentials: grpc.ChannelCredentials;
  try {
    credentials = channelCredentials(new NodeCertificateProvider(tls));
  } catch (err) {
    throw new CliError(`cannot use the node certificate in ${join(target.dataDir, 'certificates')}: ${(err as Error).message}`);
  }
  return new grpc.Client(target.address, credentials, { ...NODE_CHANNEL_OPTIONS, ...maxReceive });
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
  /** What error messages need to know about this connection. */
  errorContext(): ErrorContext;
  close(): void;
}

class GrpcControl implements Control {
  private channel: Promise<grpc.Client> | null = null;
  private client: grpc.Client | null = null;
  private closed = false;

  constructor(
    readonly target: Target,
    readonly timeoutMs: number,
    private readonly tls: TlsFiles | null,
  ) {}

  /** The channel, opened by the first call. */
  private open(): Promise<grpc.Client> {
    this.channel ??= openChannel(this.target, this.tls).then((client) => {
      if (this.closed) client.close();
      this.client = client;
      return client;
    });
    return this.channel;
  }

  async call<M extends ControlMethod>(method: M, request: Request<M>): Promise<Response<M>> {
    const def = controlClientMethod(method) as grpc.MethodDefinition<Request<M>, Response<M>>;
    const client = await this.open();
    const deadline = new Date(Date.now() + this.timeoutMs);
    return new Promise((resolvePromise, reject) => {
      client.makeUnaryRequest(def.path, def.requestSerialize, def.responseDeserialize, request, new grpc.Metadata(), { deadline }, (err, res) => {
        if (err) reject(new RpcError(method, err.code, err.details, err.metadata ?? new grpc.Metadata()));
        else if (res === undefined) reject(new RpcError(method, grpc.status.INTERNAL, 'empty response', new grpc.Metadata()));
        else resolvePromise(res);
      });
    });
  }

  errorContext(): ErrorContext {
    return { target: this.target.display, kind: this.target.kind, dataDir: this.target.dataDir, timeoutMs: this.timeoutMs };
  }

  close(): void {
    this.closed = true;
    this.client?.close();
  }
}

/** Resolve the target and read its certificates (TCP); the channel is opened by the first call. */
export function connect(opts: ConnectionOptions): Control {
  const target = resolveTarget(opts);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new GrpcControl(target, timeoutMs, tlsFilesFor(target));
}
