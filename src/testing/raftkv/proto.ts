// Typed loading of proto/kvtest.proto: the service definition with handlers
// for the fixture server, and a small client that follows the leader.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { PROTO_LOADER_OPTIONS, protoPath } from '../../common/protos.js';
import { strictServiceDefinition } from '../../common/strict-wire.js';

export interface Session {
  client: string;
  seq: number;
}
export interface WriteRequest {
  session: Session | null;
  op: string;
  key: string;
  value: string;
  hasExpected: boolean;
  expected: string;
}
export interface WriteResponse {
  ok: boolean;
  index: number;
}
export interface GetRequest {
  key: string;
}
export interface GetResponse {
  found: boolean;
  value: string;
}
export interface StatusResponse {
  id: string;
  role: string;
  term: number;
  leader: string;
  leaderAddress: string;
  commit: number;
  applied: number;
  voters: string[];
  learners: string[];
}
export interface MemberRequest {
  id: string;
  address: string;
  action: string;
}

/** Handlers throw a Partial<grpc.StatusObject> to answer with an error status. */
export interface KvTestHandlers {
  write(req: WriteRequest): Promise<WriteResponse>;
  get(req: GetRequest): Promise<GetResponse>;
  status(req: object): Promise<StatusResponse>;
  member(req: MemberRequest): Promise<object>;
}

let cached: grpc.ServiceClientConstructor | null = null;

function serviceCtor(): grpc.ServiceClientConstructor {
  if (cached) return cached;
  const def = protoLoader.loadSync(protoPath('kvtest.proto'), PROTO_LOADER_OPTIONS);
  const pkg = grpc.loadPackageDefinition(def) as unknown as { flotilla: { kvtest: { KvTest: grpc.ServiceClientConstructor } } };
  cached = pkg.flotilla.kvtest.KvTest;
  return cached;
}

function unary<Req, Res>(fn: (req: Req) => Promise<Res>): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    fn(call.request).then(
      (res) => callback(null, res),
      (err: unknown) => {
        if (typeof err === 'object' && err !== null && 'code' in err) callback(err as Partial<grpc.StatusObject>, null);
        else callback({ code: grpc.status.INTERNAL, details: err instanceof Error ? err.message : String(err) }, null);
      },
    );
  };
}

export function loadKvTestService(h: KvTestHandlers): { definition: grpc.ServiceDefinition; implementation: grpc.UntypedServiceImplementation } {
  return {
    definition: strictServiceDefinition(serviceCtor().service, 'kvtest.proto', 'flotilla.kvtest.KvTest'),
    implementation: {
      Write: unary(h.write),
      Get: unary(h.get),
      Status: unary(h.status),
      Member: unary(h.member),
    },
  };
}

/** A gRPC error status with the leader hint a follower attaches to FAILED_PRECONDITION. */
export interface KvCallError extends Error {
  code: grpc.status;
  details: string;
  leaderAddress: string;
}

function asCallError(err: grpc.ServiceError): KvCallError {
  const addr = err.metadata?.get('leader-address')[0];
  return Object.assign(err, { leaderAddress: typeof addr === 'string' ? addr : '' });
}

/** A client of one fixture server. Every call has a deadline. */
export class KvTestClient {
  private readonly client: grpc.Client & Record<string, grpc.MethodDefinition<unknown, unknown> | ((...a: unknown[]) => unknown)>;

  constructor(readonly address: string) {
    const Ctor = serviceCtor();
    this.client = new Ctor(address, grpc.credentials.createInsecure()) as unknown as typeof this.client;
  }

  private call<Req, Res>(method: string, req: Req, timeoutMs: number): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      const fn = this.client[method] as (req: Req, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: Res) => void) => void;
      fn.call(this.client, req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => (err ? reject(asCallError(err)) : resolve(res)));
    });
  }

  write(req: WriteRequest, timeoutMs = 6000): Promise<WriteResponse> {
    return this.call('Write', req, timeoutMs);
  }
  get(key: string, timeoutMs = 6000): Promise<GetResponse> {
    return this.call('Get', { key }, timeoutMs);
  }
  status(timeoutMs = 2000): Promise<StatusResponse> {
    return this.call('Status', {}, timeoutMs);
  }
  member(req: MemberRequest, timeoutMs = 10000): Promise<object> {
    return this.call('Member', req, timeoutMs);
  }
  close(): void {
    this.client.close();
  }
}
