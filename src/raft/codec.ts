// Mapping between the Raft core's types (types.ts) and the objects that
// @grpc/proto-loader produces for proto/raft.proto (typed by the types generated
// from it, src/api/wire.ts), plus the loader itself.
//
// Everything that arrives from the network goes through a *FromProto function,
// which checks every field and throws MalformedMessageError on the first
// problem: the core trusts what it is handed, so nothing unchecked may reach it.
import { constants as bufferConstants } from 'node:buffer';
import * as protoLoader from '@grpc/proto-loader';
import { PROTO_LOADER_OPTIONS, protoPath } from '../common/protos.js';
import { strictServiceDefinition } from '../common/strict-wire.js';
import type * as grpc from '@grpc/grpc-js';
import { EntryType, MessageType } from './types.js';
import type { ConfState, Entry, Message, NodeId, SnapshotMeta } from './types.js';
import type { raft } from '../api/wire.js';

/** Input from the network that does not make a valid Raft message. */
export class MalformedMessageError extends Error {
  override readonly name = 'MalformedMessageError';
}

// ------------------------------------------------------------ limits

/** Longest node id accepted from the network, in UTF-16 code units. */
export const MAX_NODE_ID_LENGTH = 128;
/** Longest `context` accepted from the network. */
export const MAX_CONTEXT_LENGTH = 4096;
/** Largest snapshot a receiver accepts: it is assembled in one Buffer. */
export const MAX_SNAPSHOT_BYTES = bufferConstants.MAX_LENGTH;
export const SHA256_BYTES = 32;

// ------------------------------------------------------------ loading

/** Absolute path of proto/raft.proto. */
export function raftProtoPath(): string {
  return protoPath('raft.proto');
}

export const RAFT_SERVICE_NAME = 'flotilla.raft.Raft';

export interface RaftProto {
  packageDefinition: protoLoader.PackageDefinition;
  /**
   * The `Raft` service: methods `Stream` and `InstallSnapshot`, with their
   * (de)serializers; strict ones for requests (src/common/strict-wire.ts):
   * serve it from a server made with withStrictWire().
   */
  service: grpc.ServiceDefinition;
}

let loaded: RaftProto | null = null;

/** Loads proto/raft.proto once per process. */
export function loadRaftProto(): RaftProto {
  if (loaded) return loaded;
  const packageDefinition = protoLoader.loadSync(raftProtoPath(), PROTO_LOADER_OPTIONS);
  const def = packageDefinition[RAFT_SERVICE_NAME];
  if (!def || typeof def !== 'object' || !('Stream' in def) || !('InstallSnapshot' in def)) {
    throw new Error(`${RAFT_SERVICE_NAME} with Stream and InstallSnapshot is missing from raft.proto`);
  }
  loaded = { packageDefinition, service: strictServiceDefinition(def as grpc.ServiceDefinition, 'raft.proto', RAFT_SERVICE_NAME) };
  return loaded;
}

// ------------------------------------------------------------ encoding

function bytesToWire(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

export function entryToProto(e: Entry): raft.Entry__Output {
  return { term: e.term, index: e.index, type: e.type, data: bytesToWire(e.data) };
}

export function confStateToProto(c: ConfState): raft.ConfState__Output {
  return { voters: [...c.voters], learners: [...c.learners] };
}

export function snapshotMetaToProto(m: SnapshotMeta): raft.SnapshotMeta__Output {
  return { index: m.index, term: m.term, conf: confStateToProto(m.conf) };
}

/** The wire form of `m`. A snapshot's data is left out: it travels on InstallSnapshot. */
export function toProto(m: Message): raft.Message__Output {
  return {
    type: m.type,
    from: m.from,
    to: m.to,
    term: m.term,
    logTerm: m.logTerm,
    index: m.index,
    entries: m.entries.map(entryToProto),
    commit: m.commit,
    reject: m.reject,
    rejectHint: m.rejectHint,
    context: m.context,
    snapshotMeta: m.snapshot ? snapshotMetaToProto(m.snapshot.meta) : null,
  };
}

// ------------------------------------------------------------ validation

function fail(what: string): never {
  throw new MalformedMessageError(what);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function uint(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) fail(`${field}: expected an integer, got ${describe(v)}`);
  if (v < 0) fail(`${field}: must not be negative (${v})`);
  if (!Number.isSafeInteger(v)) fail(`${field}: ${v} is beyond 2^53-1`);
  return v;
}

function bool(v: unknown, field: string): boolean {
  if (typeof v !== 'boolean') fail(`${field}: expected a boolean, got ${describe(v)}`);
  return v;
}

function bytes(v: unknown, field: string): Uint8Array {
  if (!(v instanceof Uint8Array)) fail(`${field}: expected bytes, got ${describe(v)}`);
  // A plain Uint8Array view (no copy): the core and storage expect Uint8Array, not Buffer.
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

function str(v: unknown, field: string, maxLength: number): string {
  if (typeof v !== 'string') fail(`${field}: expected a string, got ${describe(v)}`);
  if (v.length > maxLength) fail(`${field}: longer than ${maxLength} characters (${v.length})`);
  return v;
}

// Printable ASCII without spaces: ids appear in logs, metrics and file names.
const NODE_ID_RE = /^[\x21-\x7e]+$/;

function nodeId(v: unknown, field: string): NodeId {
  const s = str(v, field, MAX_NODE_ID_LENGTH);
  if (s.length === 0) fail(`${field}: empty node id`);
  if (!NODE_ID_RE.test(s)) fail(`${field}: node id ${JSON.stringify(s)} has characters other than printable ASCII`);
  return s;
}

function array(v: unknown, field: string): unknown[] {
  if (!Array.isArray(v)) fail(`${field}: expected a list, got ${describe(v)}`);
  return v;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'number' || typeof v === 'boolean') return `${typeof v} ${String(v)}`;
  return typeof v;
}

const MESSAGE_TYPES = new Set<number>(Object.values(MessageType).filter((v): v is number => typeof v === 'number'));
const ENTRY_TYPES = new Set<number>(Object.values(EntryType).filter((v): v is number => typeof v === 'number'));

export function entryFromProto(p: raft.Entry__Output, field = 'entry'): Entry {
  const o: unknown = p;
  if (!isObject(o)) fail(`${field}: expected an entry, got ${describe(o)}`);
  const type = o.type;
  if (typeof type !== 'number' || !ENTRY_TYPES.has(type)) fail(`${field}.type: unknown entry type ${String(type)}`);
  const term = uint(o.term, `${field}.term`);
  const index = uint(o.index, `${field}.index`);
  if (term === 0) fail(`${field}.term: must be at least 1`);
  if (index === 0) fail(`${field}.index: must be at least 1`);
  return { term, index, type: type as EntryType, data: bytes(o.data, `${field}.data`) };
}

export function confStateFromProto(p: raft.ConfState__Output, field = 'conf'): ConfState {
  const o: unknown = p;
  if (!isObject(o)) fail(`${field}: expected a membership, got ${describe(o)}`);
  const voters = array(o.voters, `${field}.voters`).map((v, i) => nodeId(v, `${field}.voters[${i}]`));
  const learners = array(o.learners, `${field}.learners`).map((v, i) => nodeId(v, `${field}.learners[${i}]`));
  const seen = new Set<NodeId>();
  for (const id of [...voters, ...learners]) {
    if (seen.has(id)) fail(`${field}: node ${id} is listed twice`);
    seen.add(id);
  }
  return { voters, learners };
}

export function snapshotMetaFromProto(p: raft.SnapshotMeta__Output, field = 'snapshotMeta'): SnapshotMeta {
  const o: unknown = p;
  if (!isObject(o)) fail(`${field}: expected snapshot metadata, got ${describe(o)}`);
  const index = uint(o.index, `${field}.index`);
  const term = uint(o.term, `${field}.term`);
  if (index === 0) fail(`${field}.index: a snapshot covers at least index 1`);
  if (term === 0) fail(`${field}.term: must be at least 1`);
  if (o.conf === null || o.conf === undefined) fail(`${field}.conf: missing`);
  return { index, term, conf: confStateFromProto(o.conf as raft.ConfState__Output, `${field}.conf`) };
}

/**
 * Validates and converts a received message. A Snap message needs its data,
 * which arrives on the InstallSnapshot stream: pass it as `snapshotData`;
 * without it a Snap message is malformed (snapshots never ride on Stream).
 */
export function fromProto(p: raft.Message__Output, snapshotData?: Uint8Array): Message {
  const o: unknown = p;
  if (!isObject(o)) fail(`message: expected a message, got ${describe(o)}`);
  const type = o.type;
  if (typeof type !== 'number' || !MESSAGE_TYPES.has(type)) fail(`message.type: unknown message type ${String(type)}`);
  const name = MessageType[type];
  const from = nodeId(o.from, `${name}.from`);
  const to = nodeId(o.to, `${name}.to`);
  if (from === to) fail(`${name}: from and to are both ${from}`);
  const term = uint(o.term, `${name}.term`);
  const logTerm = uint(o.logTerm, `${name}.logTerm`);
  const index = uint(o.index, `${name}.index`);
  const commit = uint(o.commit, `${name}.commit`);
  const rejectHint = uint(o.rejectHint, `${name}.rejectHint`);
  const reject = bool(o.reject, `${name}.reject`);
  const context = str(o.context, `${name}.context`, MAX_CONTEXT_LENGTH);

  const rawEntries = array(o.entries, `${name}.entries`);
  if (rawEntries.length > 0 && type !== MessageType.App) fail(`${name}: only App messages carry entries (got ${rawEntries.length})`);
  const entries = rawEntries.map((e, i) => entryFromProto(e as raft.Entry__Output, `${name}.entries[${i}]`));
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    const want = i === 0 ? index + 1 : entries[i - 1].index + 1;
    if (e.index !== want) {
      fail(i === 0 ? `${name}.entries[0].index: ${e.index} does not follow the message index ${index}` : `${name}.entries: not contiguous (index ${e.index} after ${entries[i - 1].index})`);
    }
    if (i > 0 && e.term < entries[i - 1].term) fail(`${name}.entries[${i}].term: ${e.term} is below the previous entry's term ${entries[i - 1].term}`);
    if (e.term > term) fail(`${name}.entries[${i}].term: ${e.term} is beyond the message term ${term}`);
    if (!Number.isSafeInteger(e.index + 1)) fail(`${name}.entries[${i}].index: too large`);
  }

  let snapshot: Message['snapshot'] = null;
  const meta = o.snapshotMeta;
  if (type === MessageType.Snap) {
    if (meta === null || meta === undefined) fail(`${name}: missing snapshot metadata`);
    if (snapshotData === undefined) fail(`${name}: a snapshot must arrive on InstallSnapshot, not on Stream`);
    snapshot = { meta: snapshotMetaFromProto(meta as raft.SnapshotMeta__Output, `${name}.snapshotMeta`), data: bytes(snapshotData, `${name}.data`) };
    if (snapshot.meta.term > term) fail(`${name}.snapshotMeta.term: ${snapshot.meta.term} is beyond the message term ${term}`);
  } else if (meta !== null && meta !== undefined) {
    fail(`${name}: only Snap messages carry snapshot metadata`);
  }

  return { type: type as MessageType, from, to, term, logTerm, index, entries, commit, reject, rejectHint, snapshot, context };
}

export interface SnapshotHeader {
  /** The Snap message, with an empty placeholder for the data that follows the header. */
  message: Message;
  totalSize: number;
  sha256: Buffer;
}

/** Validates the first element of an InstallSnapshot stream. */
export function snapshotHeaderFromProto(p: raft.SnapshotHeader__Output, maxSize: number = MAX_SNAPSHOT_BYTES): SnapshotHeader {
  const o: unknown = p;
  if (!isObject(o)) fail(`snapshot header: expected a header, got ${describe(o)}`);
  if (!isObject(o.message)) fail('snapshot header: missing message');
  const message = fromProto(o.message as unknown as raft.Message__Output, new Uint8Array(0));
  if (message.type !== MessageType.Snap) fail(`snapshot header: carries a ${MessageType[message.type]} message, not Snap`);
  const totalSize = uint(o.totalSize, 'snapshot header.totalSize');
  if (totalSize > maxSize) fail(`snapshot header.totalSize: ${totalSize} bytes is more than the ${maxSize} accepted`);
  const digest = bytes(o.sha256, 'snapshot header.sha256');
  if (digest.length !== SHA256_BYTES) fail(`snapshot header.sha256: expected ${SHA256_BYTES} bytes, got ${digest.length}`);
  return { message, totalSize, sha256: Buffer.from(digest) };
}
