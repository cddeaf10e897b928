// Public surface of the Raft package.
export * from './types.js';
export * from './errors.js';
export { RaftCore, emptyMessage, TRANSFER_CONTEXT } from './core/raft.js';
export { encodeConfChange, decodeConfChange, applyConfChange, confChangeError } from './core/confchange.js';
export { RaftNode, RaftStoppedError, RaftTimeoutError, ProposalLostError } from './node.js';
export type { StateMachine, RaftNodeOptions, RaftStorageLike, RaftTransportLike } from './node.js';
export { RaftStorage, StorageError, StorageCorruptError } from './storage.js';
export { RaftTransport, raftServerOptions } from './transport.js';
export { MalformedMessageError } from './codec.js';
