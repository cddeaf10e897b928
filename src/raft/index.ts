// Public surface of the Raft package.
export * from './types.js';
export * from './errors.js';
export { RaftCore, emptyMessage, TRANSFER_CONTEXT } from './core/raft.js';
export { encodeConfChange, decodeConfChange, applyConfChange, confChangeError } from './core/confchange.js';
