// Typed errors of the Raft core. The runtime maps them to gRPC status codes.
import type { NodeId } from './types.js';

/**
 * A proposal or request reached a node that is not the leader. `leader` is
 * the hint ('' if unknown); the runtime adds the leader's address when it
 * knows it (the core does not know addresses).
 */
export class NotLeaderError extends Error {
  override readonly name = 'NotLeaderError';
  constructor(
    readonly leader: NodeId,
    readonly term: number,
    readonly leaderAddress = '',
  ) {
    super(
      (leader ? `not the leader; the leader is ${leader} (term ${term})` : `not the leader; no leader is known (term ${term})`) +
        (leader && leaderAddress ? ` at ${leaderAddress}` : ''),
    );
  }
}

/** The core refused a proposal for a reason other than leadership; retrying later may succeed. */
export class ProposalDroppedError extends Error {
  override readonly name = 'ProposalDroppedError';
  constructor(
    readonly reason: string,
    /** Where a retry may succeed (e.g. the transferee of a leadership hand-over), '' if unknown. */
    readonly retryOn: NodeId = '',
  ) {
    super(`proposal dropped: ${reason}`);
  }
}

/** A request that can never succeed as asked (unknown node, bad change). */
export class InvalidRequestError extends Error {
  override readonly name = 'InvalidRequestError';
}

/** Durable state handed to the core contradicts itself (e.g. commit beyond the last entry). */
export class CorruptStateError extends Error {
  override readonly name = 'CorruptStateError';
}
