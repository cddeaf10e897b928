// gRPC clients from this manager to other managers, one channel per address,
// over mutual TLS with this node's certificate. Used to forward writes
// (Manager.Propose) and control calls to the leader.
import * as grpc from '@grpc/grpc-js';
import { loadControlProto, loadManagerProto } from '../api/proto.js';
import { NODE_CHANNEL_OPTIONS } from './ca/tls.js';

export class PeerClients {
  private readonly manager = new Map<string, grpc.Client>();
  private readonly control = new Map<string, grpc.Client>();
  private closed = false;

  constructor(private readonly credentials: grpc.ChannelCredentials) {}

  managerClient(address: string): grpc.Client {
    return this.get(this.manager, address, () => new (loadManagerProto().Client)(address, this.credentials, NODE_CHANNEL_OPTIONS));
  }

  controlClient(address: string): grpc.Client {
    return this.get(this.control, address, () => new (loadControlProto().Client)(address, this.credentials, NODE_CHANNEL_OPTIONS));
  }

  private get(pool: Map<string, grpc.Client>, address: string, make: () => grpc.Client): grpc.Client {
    if (this.closed) throw new Error('peer clients are closed');
    let c = pool.get(address);
    if (!c) {
      c = make();
      pool.set(address, c);
    }
    return c;
  }

  close(): void {
    this.closed = true;
    for (const c of [...this.manager.values(), ...this.control.values()]) c.close();
    this.manager.clear();
    this.control.clear();
  }
}

/** A unary call as a promise. */
export function unary<Req, Res>(client: grpc.Client, method: string, request: Req, opts: { deadlineMs: number; metadata?: grpc.Metadata }): Promise<Res> {
  return new Promise<Res>((resolve, reject) => {
    const fn = (client as unknown as Record<string, grpc.requestCallback<Res> | undefined>)[method] as unknown as
      | ((req: Req, md: grpc.Metadata, options: grpc.CallOptions, cb: grpc.requestCallback<Res>) => grpc.ClientUnaryCall)
      | undefined;
    if (typeof fn !== 'function') {
      reject(new Error(`no method ${method} on this client`));
      return;
    }
    fn.call(client, request, opts.metadata ?? new grpc.Metadata(), { deadline: Date.now() + opts.deadlineMs }, (err, res) => {
      if (err) reject(err);
      else resolve(res as Res);
    });
  });
}

export function isServiceError(err: unknown): err is grpc.ServiceError {
  return err instanceof Error && typeof (err as Partial<grpc.ServiceError>).code === 'number' && 'metadata' in err;
}

/**
 * True when a call to another manager certainly did not run there: it answered
 * that it is not the leader (leader-id metadata), or no connection was made.
 * A connection lost mid-call is not such a case: the call may have run.
 */
export function notDelivered(err: unknown): boolean {
  if (!isServiceError(err) || err.code !== grpc.status.UNAVAILABLE) return false;
  return err.metadata.get('leader-id').length > 0 || /No connection established|ECONNREFUSED|Failed to connect/i.test(err.details);
}
