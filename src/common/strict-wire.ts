// Malformed request bytes are refused, on every gRPC service, with
// INVALID_ARGUMENT and a one-line reason, before anything decodes them.
//
// Why a check of our own: protobufjs (under @grpc/proto-loader) reads what it
// is given leniently. It does not check a known field's wire type (`0f 00`,
// field 1 with wire type 7, is read as a varint into field 1), it skips field
// number 0 as an unknown field, it recurses into groups, it replaces invalid
// UTF-8, and it hands out enum numbers the enum does not declare; and proto3
// fills every field it did not see with its default. So garbage decoded to
// "an empty request", which for RotateJoinToken meant "rotate the worker
// token". And when a decoder does throw, grpc-js answers INTERNAL ("Error
// deserializing request"), hard-coded: a throwing deserializer can never
// yield INVALID_ARGUMENT.
//
// Hence two parts, set up in one place for every service:
// - strictServiceDefinition() wraps each method's requestDeserialize: the bytes
//   pass checkWire() (one linear pass, no allocation per field, driven by the
//   protobufjs reflection of the request type) and are then decoded as
//   before; a deserializer never throws, it returns a MalformedRequest that
//   carries the reason instead.
// - withStrictWire() puts a server interceptor in front of every handler: a
//   MalformedRequest never reaches a handler; the call ends with
//   INVALID_ARGUMENT (a stream, too: it stops reading, and its handler sees the
//   call cancelled).
//
// The rules (checkWire):
// - every tag has a field number >= 1 and a wire type in {0, 1, 2, 5}: groups
//   (3, 4) and the undefined 6, 7 are refused;
// - a known field has the wire type its declared type has; a repeated scalar
//   may also come packed (length-delimited);
// - varints end within 10 bytes and 64 bits; 32-bit fields and enums hold a
//   32-bit value; fixed-size values and length-delimited fields fit in what
//   is left of their message;
// - nested messages and map entries are checked the same way, at most
//   MAX_NESTING_DEPTH levels deep;
// - strings are valid UTF-8;
// - enums are closed: a number the enum does not declare is refused, never
//   defaulted;
// - a well-formed field with an unknown number is skipped (a newer peer may
//   send fields this version does not know); its bytes are not looked into.
// Bytes fields (Raft entries, snapshot chunks, forwarded transactions) are
// opaque: only their length is checked.
import { isUtf8 } from 'node:buffer';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import protobuf from 'protobufjs';
import { protoRoot } from './proto-reflection.js';

/** Nested messages deeper than this (below the request itself) are refused. */
export const MAX_NESTING_DEPTH = 32;

// ------------------------------------------------------------ compiled plans

// What a field holds, as the checker sees it.
const K_VARINT = 0; // int64, uint64, sint64, bool: any varint of at most 64 bits
const K_INT32 = 1; // int32: a sign-extended 32-bit value
const K_UINT32 = 2; // uint32, sint32 (zigzag): at most 32 bits
const K_ENUM = 3; // an int32 the enum declares
const K_FIXED64 = 4; // fixed64, sfixed64, double
const K_FIXED32 = 5; // fixed32, sfixed32, float
const K_STRING = 6;
const K_BYTES = 7;
const K_MESSAGE = 8; // a message, or a map entry

const W_VARINT = 0;
const W_I64 = 1;
const W_LEN = 2;
const W_I32 = 5;

const WIRE_NAMES = ['varint', '64-bit', 'length-delimited', 'start-group', 'end-group', '32-bit', 'wire type 6', 'wire type 7'];

const SCALARS: Readonly<Record<string, number>> = {
  double: K_FIXED64,
  float: K_FIXED32,
  int32: K_INT32,
  uint32: K_UINT32,
  sint32: K_UINT32,
  fixed32: K_FIXED32,
  sfixed32: K_FIXED32,
  int64: K_VARINT,
  uint64: K_VARINT,
  sint64: K_VARINT,
  fixed64: K_FIXED64,
  sfixed64: K_FIXED64,
  bool: K_VARINT,
  string: K_STRING,
  bytes: K_BYTES,
};

function wireOf(kind: number): number {
  if (kind <= K_ENUM) return W_VARINT;
  if (kind === K_FIXED64) return W_I64;
  if (kind === K_FIXED32) return W_I32;
  return W_LEN;
}

interface FieldPlan {
  readonly id: number;
  readonly name: string;
  readonly kind: number;
  /** The wire type of one value. */
  readonly wire: number;
  /** A repeated scalar: it may also come packed, as one length-delimited field. */
  readonly packable: boolean;
  /** K_ENUM: the numbers the enum declares, and its name. */
  readonly enumValues: ReadonlySet<number> | null;
  readonly enumName: string;
  /** K_MESSAGE: the plan of the message (or map entry); set once every plan exists (types may be recursive). */
  sub: MessagePlan | null;
}

interface MessagePlan {
  /** The message's full name, for the reason ('flotilla.control.RotateJoinTokenRequest'). */
  readonly name: string;
  /** Fields by number; numbers beyond DENSE_LIMIT are in `sparse`. */
  readonly byId: (FieldPlan | undefined)[];
  readonly sparse: Map<number, FieldPlan>;
}

const DENSE_LIMIT = 1024;

const plans = new WeakMap<protobuf.Type, MessagePlan>();

function fullName(r: protobuf.ReflectionObject): string {
  return r.fullName.replace(/^\./, '');
}

function scalarField(id: number, name: string, type: string, resolved: protobuf.ReflectionObject | null, repeated: boolean, owner: string): FieldPlan {
  let kind = SCALARS[type];
  let enumValues: Set<number> | null = null;
  let enumName = '';
  let sub: MessagePlan | null = null;
  if (kind === undefined) {
    if (resolved instanceof protobuf.Enum) {
      kind = K_ENUM;
      enumValues = new Set(Object.values(resolved.values));
      enumName = fullName(resolved);
    } else if (resolved instanceof protobuf.Type) {
      kind = K_MESSAGE;
      sub = planOf(resolved);
    } else {
      throw new Error(`strict wire check: ${owner}.${name} has type ${type}, which does not resolve`);
    }
  }
  const wire = wireOf(kind);
  return { id, name, kind, wire, packable: repeated && wire !== W_LEN, enumValues, enumName, sub };
}

/** The checker's plan for a message type, compiled once per type. */
function planOf(type: protobuf.Type): MessagePlan {
  const known = plans.get(type);
  if (known) return known;
  const plan: MessagePlan = { name: fullName(type), byId: [], sparse: new Map() };
  // In the cache before its fields: a message may contain itself.
  plans.set(type, plan);
  for (const field of type.fieldsArray) {
    field.resolve();
    let f: FieldPlan;
    if (field instanceof protobuf.MapField) {
      const entryName = `${plan.name}.${field.name} entry`;
      const entry: MessagePlan = { name: entryName, byId: [], sparse: new Map() };
      entry.byId[1] = scalarField(1, 'key', field.keyType, null, false, entryName);
      entry.byId[2] = scalarField(2, 'value', field.type, field.resolvedType, false, entryName);
      f = { id: field.id, name: field.name, kind: K_MESSAGE, wire: W_LEN, packable: false, enumValues: null, enumName: '', sub: entry };
    } else {
      f = scalarField(field.id, field.name, field.type, field.resolvedType, field.repeated, plan.name);
    }
    if (f.id < DENSE_LIMIT) plan.byId[f.id] = f;
    else plan.sparse.set(f.id, f);
  }
  return plan;
}

// ------------------------------------------------------------ problems

/** What is wrong, where. Built only on the failure path. */
interface Problem {
  text: string;
  /** The field it is about (0: the message as a whole). */
  id: number;
  /** Its name, or null for a field this schema does not know. */
  name: string | null;
  /** Names of the enclosing fields, innermost first (filled in while unwinding). */
  outer: string[];
}

function fieldProblem(f: FieldPlan, text: string): Problem {
  return { text, id: f.id, name: f.name, outer: [] };
}

function unknownProblem(id: number, text: string): Problem {
  return { text, id, name: null, outer: [] };
}

function messageProblem(text: string): Problem {
  return { text, id: 0, name: null, outer: [] };
}

function dotted(names: string[]): string {
  return names.length <= 8 ? names.join('.') : `${names.slice(0, 3).join('.')}.….${names.slice(-3).join('.')}`;
}

function describeProblem(typeName: string, p: Problem): string {
  const outer = p.outer.slice().reverse();
  let where: string;
  if (p.id === 0) where = outer.length > 0 ? `in ${dotted(outer)}: ` : '';
  else if (p.name !== null) where = `field ${p.id} (${dotted([...outer, p.name])}) `;
  else where = outer.length > 0 ? `field ${p.id} of ${dotted(outer)} ` : `field ${p.id} `;
  return `malformed ${typeName}: ${where}${p.text}`;
}

// ------------------------------------------------------------ the pass

// The last varint read, as two unsigned 32-bit halves (module state rather
// than an object per varint: the pass allocates nothing unless it fails).
let vlo = 0;
let vhi = 0;
const V_TRUNCATED = -1;
const V_OVERLONG = -2;

/** Reads a varint at `pos` into vlo/vhi; the position after it, or V_TRUNCATED / V_OVERLONG. */
function readVarint(b: Uint8Array, pos: number, end: number): number {
  // Most varints (small numbers, short lengths) are one byte.
  if (pos < end && b[pos] < 0x80) {
    vlo = b[pos];
    vhi = 0;
    return pos + 1;
  }
  let lo = 0;
  let byte = 0;
  for (let shift = 0; shift < 28; shift += 7) {
    if (pos >= end) return V_TRUNCATED;
    byte = b[pos++];
    lo |= (byte & 0x7f) << shift;
    if (byte < 0x80) {
      vlo = lo >>> 0;
      vhi = 0;
      return pos;
    }
  }
  if (pos >= end) return V_TRUNCATED;
  byte = b[pos++];
  lo |= (byte & 0x0f) << 28;
  let hi = (byte & 0x7f) >> 4;
  if (byte < 0x80) {
    vlo = lo >>> 0;
    vhi = hi;
    return pos;
  }
  for (let shift = 3; shift < 32; shift += 7) {
    if (pos >= end) return V_TRUNCATED;
    byte = b[pos++];
    // The tenth byte holds bit 63 only: anything more is beyond 64 bits.
    if (shift === 31 && byte > 1) return V_OVERLONG;
    hi |= (byte & 0x7f) << shift;
    if (byte < 0x80) {
      vlo = lo >>> 0;
      vhi = hi >>> 0;
      return pos;
    }
  }
  return V_OVERLONG;
}

function varintProblem(f: FieldPlan, code: number): Problem {
  return fieldProblem(f, code === V_TRUNCATED ? 'is truncated (the message ends inside its varint)' : 'is not a valid varint (more than 64 bits)');
}

/** The last varint, read as an int32 (sign-extended to 64 bits when negative), or NaN when it is not one. */
function int32Value(): number {
  if (vhi === 0) return vlo < 0x80000000 ? vlo : NaN;
  return vhi === 0xffffffff && vlo >= 0x80000000 ? vlo | 0 : NaN;
}

/** Checks the varint just read against what `f` may hold. */
function varintValueProblem(f: FieldPlan): Problem | null {
  switch (f.kind) {
    case K_INT32:
      return Number.isNaN(int32Value()) ? fieldProblem(f, 'is out of the int32 range') : null;
    case K_UINT32:
      return vhi !== 0 ? fieldProblem(f, 'is out of the 32-bit range') : null;
    case K_ENUM: {
      const v = int32Value();
      if (Number.isNaN(v)) return fieldProblem(f, `is out of the int32 range of enum ${f.enumName}`);
      return f.enumValues!.has(v) ? null : fieldProblem(f, `holds ${v}, which is not a value of ${f.enumName}`);
    }
    default:
      return null;
  }
}

/** Past its ASCII prefix, a string with more than this left is checked by Node's (vectorized) isUtf8 rather than byte by byte here. */
const NATIVE_UTF8_FROM = 256;

function validUtf8(b: Uint8Array, pos: number, end: number): boolean {
  // Nearly every string is ASCII: that is the fast path, 8 bytes at a time.
  const end8 = end - 7;
  while (pos < end8 && ((b[pos] | b[pos + 1] | b[pos + 2] | b[pos + 3] | b[pos + 4] | b[pos + 5] | b[pos + 6] | b[pos + 7]) & 0x80) === 0) pos += 8;
  while (pos < end && b[pos] < 0x80) pos++;
  if (pos === end) return true;
  if (end - pos >= NATIVE_UTF8_FROM) return isUtf8(b.subarray(pos, end));
  while (pos < end) {
    const c = b[pos];
    if (c < 0x80) {
      pos++;
      continue;
    }
    if (c < 0xc2) return false; // a continuation byte, or an overlong 2-byte form
    if (c < 0xe0) {
      if (pos + 1 >= end || (b[pos + 1] & 0xc0) !== 0x80) return false;
      pos += 2;
      continue;
    }
    if (c < 0xf0) {
      if (pos + 2 >= end) return false;
      const c1 = b[pos + 1];
      if ((c1 & 0xc0) !== 0x80 || (b[pos + 2] & 0xc0) !== 0x80) return false;
      if (c === 0xe0 && c1 < 0xa0) return false; // overlong
      if (c === 0xed && c1 >= 0xa0) return false; // UTF-16 surrogates
      pos += 3;
      continue;
    }
    if (c < 0xf5) {
      if (pos + 3 >= end) return false;
      const c1 = b[pos + 1];
      if ((c1 & 0xc0) !== 0x80 || (b[pos + 2] & 0xc0) !== 0x80 || (b[pos + 3] & 0xc0) !== 0x80) return false;
      if (c === 0xf0 && c1 < 0x90) return false; // overlong
      if (c === 0xf4 && c1 >= 0x90) return false; // beyond U+10FFFF
      pos += 4;
      continue;
    }
    return false;
  }
  return true;
}

/** A packed repeated scalar occupying b[pos, end). */
function packedProblem(f: FieldPlan, b: Uint8Array, pos: number, end: number): Problem | null {
  if (f.wire === W_I64) return (end - pos) % 8 === 0 ? null : fieldProblem(f, 'is packed in a length that is not a multiple of 8');
  if (f.wire === W_I32) return (end - pos) % 4 === 0 ? null : fieldProblem(f, 'is packed in a length that is not a multiple of 4');
  const checkValues = f.kind !== K_VARINT;
  while (pos < end) {
    const p = readVarint(b, pos, end);
    if (p < 0) return varintProblem(f, p);
    if (checkValues) {
      const bad = varintValueProblem(f);
      if (bad) return bad;
    }
    pos = p;
  }
  return null;
}

/**
 * Checks the message b[pos, end) against `plan`; null when it is well formed.
 * `depth` is the nesting level of this message (the request itself is 0).
 */
function messageProblemAt(plan: MessagePlan, b: Uint8Array, pos: number, end: number, depth: number): Problem | null {
  const byId = plan.byId;
  while (pos < end) {
    // The tag: almost always one byte.
    let tag = b[pos];
    if (tag < 0x80) {
      pos++;
    } else {
      const p = readVarint(b, pos, end);
      if (p === V_TRUNCATED) return messageProblem('truncated: the message ends inside a field tag');
      if (p < 0 || vhi !== 0) return messageProblem('a field tag is not a valid varint');
      tag = vlo;
      pos = p;
    }
    const id = tag >>> 3;
    const wt = tag & 7;
    if (id === 0) return messageProblem(`field number 0 is not valid (tag byte 0x${tag.toString(16).padStart(2, '0')})`);
    const f = id < DENSE_LIMIT ? byId[id] : plan.sparse.get(id);

    if (f === undefined) {
      // A field this version does not know: skipped when well formed.
      switch (wt) {
        case W_VARINT: {
          const p = readVarint(b, pos, end);
          if (p < 0) return unknownProblem(id, p === V_TRUNCATED ? 'is truncated (the message ends inside its varint)' : 'is not a valid varint (more than 64 bits)');
          pos = p;
          break;
        }
        case W_I64:
        case W_I32: {
          const n = wt === W_I64 ? 8 : 4;
          if (end - pos < n) return unknownProblem(id, `is truncated (${WIRE_NAMES[wt]} value, ${end - pos} bytes left)`);
          pos += n;
          break;
        }
        case W_LEN: {
          const p = readVarint(b, pos, end);
          if (p < 0) return unknownProblem(id, 'is truncated (the message ends inside its length)');
          if (vhi !== 0 || vlo > end - p) return unknownProblem(id, `is truncated (its length is ${vhi !== 0 ? 'beyond 2^32' : vlo} bytes, ${end - p} are left)`);
          pos = p + vlo;
          break;
        }
        case 3:
        case 4:
          return unknownProblem(id, `has wire type ${wt} (${WIRE_NAMES[wt]}): groups are not accepted`);
        default:
          return unknownProblem(id, `has wire type ${wt}, which does not exist`);
      }
      continue;
    }

    if (wt === f.wire) {
      switch (wt) {
        case W_VARINT: {
          const p = readVarint(b, pos, end);
          if (p < 0) return varintProblem(f, p);
          if (f.kind !== K_VARINT) {
            const bad = varintValueProblem(f);
            if (bad) return bad;
          }
          pos = p;
          break;
        }
        case W_I64:
        case W_I32: {
          const n = wt === W_I64 ? 8 : 4;
          if (end - pos < n) return fieldProblem(f, `is truncated (${WIRE_NAMES[wt]} value, ${end - pos} bytes left)`);
          pos += n;
          break;
        }
        default: {
          const p = readVarint(b, pos, end);
          if (p < 0) return fieldProblem(f, 'is truncated (the message ends inside its length)');
          if (vhi !== 0 || vlo > end - p) return fieldProblem(f, `is truncated (its length is ${vhi !== 0 ? 'beyond 2^32' : vlo} bytes, ${end - p} are left)`);
          const stop = p + vlo;
          if (f.kind === K_STRING) {
            if (!validUtf8(b, p, stop)) return fieldProblem(f, 'is not valid UTF-8');
          } else if (f.kind === K_MESSAGE) {
            if (depth >= MAX_NESTING_DEPTH) return fieldProblem(f, `nests messages deeper than ${MAX_NESTING_DEPTH} levels`);
            const inner = messageProblemAt(f.sub!, b, p, stop, depth + 1);
            if (inner) {
              inner.outer.push(f.name);
              return inner;
            }
          }
          pos = stop;
        }
      }
      continue;
    }

    if (wt === W_LEN && f.packable) {
      const p = readVarint(b, pos, end);
      if (p < 0) return fieldProblem(f, 'is truncated (the message ends inside its length)');
      if (vhi !== 0 || vlo > end - p) return fieldProblem(f, `is truncated (its length is ${vhi !== 0 ? 'beyond 2^32' : vlo} bytes, ${end - p} are left)`);
      const stop = p + vlo;
      const bad = packedProblem(f, b, p, stop);
      if (bad) return bad;
      pos = stop;
      continue;
    }

    return fieldProblem(f, `has wire type ${wt}, expected ${WIRE_NAMES[f.wire]}`);
  }
  return null;
}

/**
 * Why `bytes` is not a well-formed encoding of `type` (a one-line reason that
 * starts with "malformed <type name>"), or null when it is. See the rules at
 * the top of this file.
 */
export function checkWire(type: protobuf.Type, bytes: Uint8Array): string | null {
  const plan = planOf(type);
  const p = messageProblemAt(plan, bytes, 0, bytes.length, 0);
  return p ? describeProblem(plan.name, p) : null;
}

// ------------------------------------------------------------ gRPC

/** What a strict deserializer returns for malformed bytes, in place of throwing. */
export class MalformedRequest {
  constructor(readonly reason: string) {
    Object.freeze(this);
  }
}

export function isMalformedRequest(x: unknown): x is MalformedRequest {
  return x instanceof MalformedRequest;
}

/** `decode` behind checkWire(type): never throws; malformed bytes give a MalformedRequest. */
export function strictDeserializer<T>(type: protobuf.Type, decode: (bytes: Buffer) => T): (bytes: Buffer) => T | MalformedRequest {
  const name = fullName(type);
  planOf(type); // compiled now: a schema the checker cannot follow fails at load, not on a request
  return (bytes: Buffer) => {
    const reason = checkWire(type, bytes);
    if (reason !== null) return new MalformedRequest(reason);
    try {
      return decode(bytes);
    } catch (err) {
      return new MalformedRequest(`malformed ${name}: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
}

/**
 * `service` (as @grpc/proto-loader builds it from proto/<protoFile>) with a
 * strict deserializer on every method's requests. Serve it from a server made
 * with withStrictWire().
 */
export function strictServiceDefinition(service: grpc.ServiceDefinition, protoFile: string, serviceName: string): grpc.ServiceDefinition {
  const reflected = protoRoot(protoFile).lookupService(serviceName);
  const out: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, method] of Object.entries(service)) {
    const requestType = reflected.methods[name]?.resolvedRequestType;
    if (!requestType) throw new Error(`proto/${protoFile}: ${serviceName}.${name} has no request type to check`);
    out[name] = { ...method, requestDeserialize: strictDeserializer(requestType, method.requestDeserialize) };
  }
  return out;
}

/** At most one log line per this many ms about refused requests (a flood of garbage must not flood the log). */
const LOG_EVERY_MS = 1_000;

const strictInterceptors = new WeakSet<grpc.ServerInterceptor>();

/** The server interceptor that answers a MalformedRequest with INVALID_ARGUMENT, so that no handler ever sees one. */
export function strictWireInterceptor(log?: Logger): grpc.ServerInterceptor {
  let lastLog = 0;
  let unlogged = 0;
  const interceptor: grpc.ServerInterceptor = (method, call) =>
    new grpc.ServerInterceptingCall(call, {
      start: (next) => {
        next({
          onReceiveMessage: (message, pass) => {
            if (!(message instanceof MalformedRequest)) {
              pass(message);
              return;
            }
            // Not passed on: the handler never sees it. Sending the status ends
            // the call (a stream stops reading), and its handler is told the
            // call was cancelled.
            call.sendStatus({ code: grpc.status.INVALID_ARGUMENT, details: message.reason, metadata: new grpc.Metadata() });
            if (log) {
              const now = Date.now();
              if (now - lastLog >= LOG_EVERY_MS) {
                log.warn({ method: method.path, peer: call.getPeer(), reason: message.reason, alsoRefused: unlogged }, 'refused a malformed request');
                lastLog = now;
                unlogged = 0;
              } else {
                unlogged++;
              }
            }
          },
        });
      },
    });
  strictInterceptors.add(interceptor);
  return interceptor;
}

/**
 * Server options with the strict wire interceptor first (before the other
 * `options.interceptors`; one already there is replaced by this one).
 */
export function withStrictWire(options: grpc.ServerOptions = {}, log?: Logger): grpc.ServerOptions {
  const others = (options.interceptors ?? []).filter((i) => !strictInterceptors.has(i));
  return { ...options, interceptors: [strictWireInterceptor(log), ...others] };
}
