// A manager whose data key is wrapped by the cluster's unlock key (autolock)
// restarts locked: it cannot read its Raft log, so it stays out of the group
// and serves, on its local control socket, only UnlockNode. Every other call
// is refused in one line that says what to do.
import { chmod, rm } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { CONTROL_STREAM_METHODS, CONTROL_UNARY_METHODS, loadControlProto } from '../api/proto.js';
import { withStrictWire } from '../common/strict-wire.js';
import { InvalidUnlockKeyError } from '../manager/encryption/unlock-key.js';

export const LOCKED_MESSAGE = 'this manager is locked: run `flotilla unlock` on it with the cluster\'s unlock key (`flotilla unlock-key` on an unlocked manager shows it)';

/**
 * Serve the locked socket until `unlock` accepts a key; resolves with what it
 * returned. `unlock` throws InvalidUnlockKeyError for a wrong key (the caller
 * gets INVALID_ARGUMENT and may try again).
 */
export async function waitForUnlock<T>(o: { socket: string; unlock: (key: string) => Promise<T>; log?: Logger }): Promise<T> {
  const server = new grpc.Server(withStrictWire({}, o.log));
  let done!: (v: T) => void;
  const result = new Promise<T>((resolve) => (done = resolve));
  let unlocked = false;
  const impl: grpc.UntypedServiceImplementation = {};
  for (const m of CONTROL_UNARY_METHODS) {
    impl[m] = (_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => cb({ code: grpc.status.FAILED_PRECONDITION, details: LOCKED_MESSAGE });
  }
  for (const m of CONTROL_STREAM_METHODS) {
    impl[m] = (call: grpc.ServerWritableStream<unknown, unknown>) => call.emit('error', { code: grpc.status.FAILED_PRECONDITION, details: LOCKED_MESSAGE, metadata: new grpc.Metadata() });
  }
  impl.UnlockNode = (call: grpc.ServerUnaryCall<{ unlockKey?: string }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
    if (unlocked) {
      cb({ code: grpc.status.FAILED_PRECONDITION, details: 'this node is being unlocked already' });
      return;
    }
    o.unlock(String(call.request.unlockKey ?? '')).then(
      (v) => {
        unlocked = true;
        cb(null, {});
        done(v);
      },
      (err: unknown) => {
        if (err instanceof InvalidUnlockKeyError) {
          o.log?.warn('unlock refused: wrong unlock key');
          cb({ code: grpc.status.INVALID_ARGUMENT, details: err.message });
        } else {
          cb({ code: grpc.status.INTERNAL, details: `cannot unlock: ${err instanceof Error ? err.message : String(err)}` });
        }
      },
    );
  };
  server.addService(loadControlProto().service, impl);
  await rm(o.socket, { force: true });
  await new Promise<void>((resolve, reject) => server.bindAsync(`unix:${o.socket}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
  await chmod(o.socket, 0o600);
  o.log?.warn(LOCKED_MESSAGE);
  try {
    return await result;
  } finally {
    // Let the answer to UnlockNode go out, then free the socket for the manager.
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, 1_000);
      server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
    await rm(o.socket, { force: true });
  }
}
