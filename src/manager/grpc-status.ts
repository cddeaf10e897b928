// The gRPC status of an error thrown while serving a call: the API edge of
// every manager service (Control, CA, Manager, Dispatcher). It lives with the
// manager, not with the contract (src/api), because it knows the manager's
// typed errors (Raft, store, CA).
import * as grpc from '@grpc/grpc-js';
import { ValidationError } from '../api/input.js';
import { NotLeaderError, ProposalDroppedError } from '../raft/errors.js';
import { ProposalLostError, RaftStoppedError, RaftTimeoutError } from '../raft/node.js';
import { CaDigestMismatchError, InvalidTokenError } from './ca/token.js';
import { NameConflictError, NotFoundError, StoreError, VersionConflictError } from './store/store.js';

export interface GrpcStatus {
  code: grpc.status;
  details: string;
  metadata: grpc.Metadata;
}

export const VERSION_CONFLICT_HINT = 'the object changed since you read it; read it again and retry';

export interface ToGrpcStatusOptions {
  /** The address of a node id, for the leader hint of a NotLeaderError that does not carry one. */
  leaderAddress?: (nodeId: string) => string | undefined;
}

/**
 * An error that already knows its gRPC status: a refusal decided by the API
 * itself (a bad token, a change that would break quorum, ...).
 */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly code: grpc.status,
    message: string,
  ) {
    super(message);
  }
}

/** A string as a legal gRPC metadata value: other characters as \uXXXX, at most 1000 characters. */
function printableAscii(s: string): string {
  const ascii = s.replace(/[^ -~]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return ascii.length > 1000 ? `${ascii.slice(0, 1000)}...` : ascii;
}

/**
 * The gRPC status for an error thrown while serving a call. Metadata carries
 * details a client can act on: `field` and `rule` for INVALID_ARGUMENT;
 * `leader-id`, `leader-term` and (when known) `leader-address` for UNAVAILABLE
 * from a manager that is not the leader.
 */
export function toGrpcStatus(err: unknown, opts: ToGrpcStatusOptions = {}): GrpcStatus {
  const metadata = new grpc.Metadata();
  const status = (code: grpc.status, details: string): GrpcStatus => ({ code, details, metadata });
  if (err instanceof ValidationError) {
    // Metadata values must be printable ASCII (grpc-js throws otherwise); the validators keep field paths so (fieldKey).
    metadata.set('field', printableAscii(err.field));
    metadata.set('rule', printableAscii(err.rule));
    return status(grpc.status.INVALID_ARGUMENT, err.message);
  }
  if (err instanceof NotFoundError) return status(grpc.status.NOT_FOUND, err.message);
  if (err instanceof NameConflictError) return status(grpc.status.ALREADY_EXISTS, err.message);
  if (err instanceof VersionConflictError) return status(grpc.status.ABORTED, `${err.message}: ${VERSION_CONFLICT_HINT}`);
  if (err instanceof StoreError) {
    // A bare StoreError (not one of the subclasses above): map by its code.
    const byCode = { 'not-found': grpc.status.NOT_FOUND, 'name-conflict': grpc.status.ALREADY_EXISTS, 'version-conflict': grpc.status.ABORTED, invalid: grpc.status.INVALID_ARGUMENT };
    return status(byCode[err.code], err.message);
  }
  if (err instanceof NotLeaderError) {
    metadata.set('leader-id', err.leader);
    metadata.set('leader-term', String(err.term));
    const addr = err.leader ? err.leaderAddress || opts.leaderAddress?.(err.leader) : undefined;
    if (addr) metadata.set('leader-address', addr);
    return status(grpc.status.UNAVAILABLE, err.message);
  }
  if (err instanceof ApiError) return status(err.code, err.message);
  if (err instanceof ProposalDroppedError || err instanceof RaftStoppedError || err instanceof ProposalLostError) {
    return status(grpc.status.UNAVAILABLE, `${err.message}; retry`);
  }
  if (err instanceof RaftTimeoutError) return status(grpc.status.DEADLINE_EXCEEDED, `${err.message}: is a majority of managers up?`);
  // A malformed token is bad input; a token for another CA is a refusal to trust.
  if (err instanceof InvalidTokenError) return status(grpc.status.INVALID_ARGUMENT, err.message);
  if (err instanceof CaDigestMismatchError) return status(grpc.status.PERMISSION_DENIED, err.message);
  return status(grpc.status.INTERNAL, `internal error: ${err instanceof Error ? err.message : String(err)}`);
}
