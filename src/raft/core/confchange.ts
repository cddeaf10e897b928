// Encoding of membership changes inside log entries, and the pure function
// that applies one to a membership. The byte layout is tiny and versioned so
// that a node can reject an entry it does not understand instead of guessing.
import { InvalidRequestError, CorruptStateError } from '../errors.js';
import { ConfChangeType, type ConfChange, type ConfState } from '../types.js';

const VERSION = 1;
const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

/** [version u8][type u8][id length u16 BE][id utf8][context bytes...] */
export function encodeConfChange(cc: ConfChange): Uint8Array {
  const id = utf8.encode(cc.nodeId);
  if (id.length === 0 || id.length > 0xffff) throw new InvalidRequestError('conf change: node id must be 1..65535 bytes');
  const out = new Uint8Array(4 + id.length + cc.context.length);
  out[0] = VERSION;
  out[1] = cc.type;
  out[2] = id.length >> 8;
  out[3] = id.length & 0xff;
  out.set(id, 4);
  out.set(cc.context, 4 + id.length);
  return out;
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  if (data.length < 4 || data[0] !== VERSION) throw new CorruptStateError(`conf change entry: unknown encoding (version ${data[0]})`);
  const type = data[1];
  if (type !== ConfChangeType.AddLearner && type !== ConfChangeType.Promote && type !== ConfChangeType.Remove && type !== ConfChangeType.AddVoter) {
    throw new CorruptStateError(`conf change entry: unknown type ${type}`);
  }
  const n = (data[2] << 8) | data[3];
  if (4 + n > data.length) throw new CorruptStateError('conf change entry: truncated node id');
  return {
    type,
    nodeId: fromUtf8.decode(data.subarray(4, 4 + n)),
    context: data.slice(4 + n),
  };
}

/** Why `cc` cannot apply to `conf`, or null if it can. */
export function confChangeError(conf: ConfState, cc: ConfChange): string | null {
  const isVoter = conf.voters.includes(cc.nodeId);
  const isLearner = conf.learners.includes(cc.nodeId);
  switch (cc.type) {
    case ConfChangeType.AddLearner:
    case ConfChangeType.AddVoter:
      return isVoter || isLearner ? `${cc.nodeId} is already a member` : null;
    case ConfChangeType.Promote:
      return isLearner ? null : `${cc.nodeId} is not a learner`;
    case ConfChangeType.Remove:
      if (!isVoter && !isLearner) return `${cc.nodeId} is not a member`;
      if (isVoter && conf.voters.length === 1) return `${cc.nodeId} is the last voter`;
      return null;
  }
}

/** The membership after `cc`. A change that does not apply (checked at proposal) leaves it as is. */
export function applyConfChange(conf: ConfState, cc: ConfChange): ConfState {
  if (confChangeError(conf, cc) !== null) return conf;
  const voters = conf.voters.filter((v) => v !== cc.nodeId);
  const learners = conf.learners.filter((v) => v !== cc.nodeId);
  if (cc.type === ConfChangeType.AddLearner) learners.push(cc.nodeId);
  if (cc.type === ConfChangeType.Promote || cc.type === ConfChangeType.AddVoter) voters.push(cc.nodeId);
  return { voters: voters.sort(), learners: learners.sort() };
}
