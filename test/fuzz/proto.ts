// Fuzzing a protobuf API from its .proto file, with protobufjs reflection:
//
// - messageArb(type): arbitrary well-formed messages of any request type,
//   built field by field from the reflected schema (a field added to the
//   proto is fuzzed without touching this file): strings (huge, unicode,
//   empty, invalid UTF-8), int64 over its whole range (non-safe integers,
//   negatives), unknown enum numbers, absent sub-messages, maps with
//   prototype keys. Field-name hints add values that mean something to the
//   server (references to real ids, the version the object has).
// - mutationsArb(type): changes to a valid baseline message, one field (at
//   any depth) at a time.
// - byteMutationArb(): malformed bytes: random, truncated, wire types
//   flipped, length prefixes past the end, overlong varints, field 0, deep
//   nesting (groups or length-delimited), unknown fields, duplicates.
// - classifyWire(bytes, type): what a strict decoder must say about bytes:
//   'valid', 'invalid' (must be refused: wrong wire type, truncation, bad
//   UTF-8, unknown enum value, ...) or 'ambiguous' (unknown groups, varints
//   out of the field's range: a strict decoder may refuse or accept).
//
// Values in the model are plain data so that fast-check can print and shrink
// them: int64 as bigint, maps as [key, value] pairs (so '__proto__' is a
// key like any other), placeholders ({ $ref }, { $ver }, { $fresh },
// { $utf8 }) for what is only known when the case runs; resolve() replaces
// them and encode() writes the message.
import fc from 'fast-check';
import protobuf from 'protobufjs';
import { protoPath } from '../../src/common/protos.js';
import { nastyBytes, nastyDouble, nastyEnum, nastyInt32, nastyInt64, nastyString, nastyUint32, nastyUint64 } from './nasty.js';

export type Model = { [key: string]: ModelValue };
export type ModelValue = string | number | bigint | boolean | Uint8Array | null | ModelValue[] | Model;

let root: protobuf.Root | null = null;

/** proto/<file> loaded by protobufjs (field names in camelCase, as proto-loader's keepCase: false). */
export function loadRoot(file = 'control.proto'): protobuf.Root {
  if (root) return root;
  root = protobuf.loadSync(protoPath(file));
  root.resolveAll();
  return root;
}

/** The number of an enum value by its name in the proto ('NodeRole', 'NODE_ROLE_MANAGER'): the suites follow the proto's numbering. */
export function enumValue(enumName: string, valueName: string, pkg = 'flotilla.control'): number {
  const v = loadRoot().lookupEnum(`${pkg}.${enumName}`).values[valueName];
  if (v === undefined) throw new Error(`${enumName} has no value ${valueName}`);
  return v;
}

/** Request and response types of every method of a service. */
export function serviceMethods(r: protobuf.Root, service: string): { name: string; path: string; req: protobuf.Type; res: protobuf.Type }[] {
  const svc = r.lookupService(service);
  return svc.methodsArray.map((m) => {
    m.resolve();
    return { name: m.name, path: `/${service}/${m.name}`, req: m.resolvedRequestType as protobuf.Type, res: m.resolvedResponseType as protobuf.Type };
  });
}

// ------------------------------------------------------------ placeholders

/** A reference to a live object's id (or name), resolved when the case runs. */
export interface Ref {
  $ref: string;
  /** exact | prefix (n chars) | upper | suffix (the id plus 'x') | name/hostname */
  how: string;
  n: number;
}
/** The version of the object the request targets: current, current - 1 (stale) or current + 1000 (future). */
export interface VerRef {
  $ver: 'current' | 'stale' | 'future';
}
/** A service name that does not exist yet: 'fz-' + suffix. */
export interface Fresh {
  $fresh: string;
}
/** A string field whose bytes on the wire are these (invalid UTF-8). */
export interface Utf8 {
  $utf8: number[];
}

function isObj(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x) && !(x instanceof Uint8Array);
}

// ------------------------------------------------------------ arbitraries

/** A field-specific generator (or undefined for the type's default). */
export type Hint = (field: protobuf.Field, parent: protobuf.Type) => fc.Arbitrary<ModelValue> | undefined;

/** Byte sequences that are not UTF-8: lone continuation bytes, overlong forms, surrogates, truncated sequences, > U+10FFFF. */
export const INVALID_UTF8: readonly number[][] = [
  [0xff],
  [0xfe, 0xff],
  [0x80],
  [0xc0, 0x80], // overlong NUL
  [0xc1, 0xbf],
  [0xe0, 0x80, 0x80],
  [0xed, 0xa0, 0x80], // UTF-16 surrogate D800
  [0xf4, 0x90, 0x80, 0x80], // > U+10FFFF
  [0xe2, 0x82], // truncated
  [0x61, 0xf0, 0x9f, 0x98], // 'a' + truncated emoji
];

export function invalidUtf8Arb(): fc.Arbitrary<ModelValue> {
  return fc.constantFrom(...INVALID_UTF8).map((b) => ({ $utf8: b }) as unknown as ModelValue);
}

function enumValues(e: protobuf.Enum): number[] {
  return Object.values(e.values);
}

/** The arbitrary for one value of a field's type (not repeated / map wrapping). */
function valueArb(field: protobuf.Field, type: string, parent: protobuf.Type, hint: Hint, depth: number): fc.Arbitrary<ModelValue> {
  const h = hint(field, parent);
  if (h) return h;
  const rt = field.resolvedType;
  if (rt instanceof protobuf.Enum) return nastyEnum(enumValues(rt));
  if (rt instanceof protobuf.Type) return messageArb(rt, hint, depth + 1);
  return scalarArb(type);
}

export function scalarArb(type: string): fc.Arbitrary<ModelValue> {
  switch (type) {
    case 'string':
      return fc.oneof({ weight: 9, arbitrary: nastyString() }, { weight: 1, arbitrary: invalidUtf8Arb() });
    case 'bytes':
      return nastyBytes();
    case 'bool':
      return fc.boolean();
    case 'int64':
    case 'sint64':
    case 'sfixed64':
      return nastyInt64();
    case 'uint64':
    case 'fixed64':
      return nastyUint64();
    case 'int32':
    case 'sint32':
    case 'sfixed32':
      return nastyInt32();
    case 'uint32':
    case 'fixed32':
      return nastyUint32();
    case 'double':
    case 'float':
      return nastyDouble();
    default:
      throw new Error(`no arbitrary for proto type ${type}`);
  }
}

/** Arbitrary values for a field as the message holds it: a list for repeated fields, [key, value] pairs for maps. */
export function fieldArb(field: protobuf.Field, parent: protobuf.Type, hint: Hint, depth = 0): fc.Arbitrary<ModelValue> {
  if (field instanceof protobuf.MapField) {
    const key = field.keyType === 'string' ? fc.oneof(nastyString({ maxLength: 8 }), fc.constantFrom('zone', 'fz', '__proto__', 'constructor')) : scalarArb(field.keyType);
    const value = valueArb(field, field.type, parent, hint, depth);
    return fc.array(fc.tuple(key, value), { maxLength: 3 }) as fc.Arbitrary<ModelValue>;
  }
  const one = valueArb(field, field.type, parent, hint, depth);
  if (field.repeated) {
    // Sometimes a long list (3,000 items) of one small value.
    const small = one.filter((v) => approxSize(v) <= 64);
    return fc.oneof({ weight: 6, arbitrary: fc.array(one, { maxLength: 4 }) }, { weight: 1, arbitrary: small.map((v) => Array.from({ length: 3000 }, () => v)) });
  }
  return one;
}

function approxSize(v: unknown): number {
  if (typeof v === 'string') return v.length;
  if (v instanceof Uint8Array) return v.length;
  if (Array.isArray(v)) return v.reduce((n: number, x) => n + approxSize(x), 0);
  if (v && typeof v === 'object') return Object.values(v).reduce((n: number, x) => n + approxSize(x), 0);
  return 8;
}

/** Arbitrary well-formed messages of `type`: any subset of its fields, each with any value of its type. */
export function messageArb(type: protobuf.Type, hint: Hint, depth = 0): fc.Arbitrary<Model> {
  if (depth > 6) return fc.constant({});
  const fields: Record<string, fc.Arbitrary<ModelValue>> = {};
  for (const f of type.fieldsArray) fields[f.name] = fc.constant(null).chain(() => fieldArb(f, type, hint, depth));
  return fc.record(fields, { requiredKeys: [] }) as fc.Arbitrary<Model>;
}

/** One change to a message: the value at `path` replaced (or deleted, with value undefined → '$delete'). */
export interface Mutation {
  path: (string | number)[];
  value: ModelValue | '$delete';
}

interface FieldPath {
  path: (string | number)[];
  field: protobuf.Field;
  parent: protobuf.Type;
}

/** Every field path under `type`, through sub-messages and the first element of repeated sub-messages. */
export function fieldPaths(type: protobuf.Type, prefix: (string | number)[] = [], depth = 0): FieldPath[] {
  const out: FieldPath[] = [];
  if (depth > 6) return out;
  for (const f of type.fieldsArray) {
    const path = [...prefix, f.name];
    out.push({ path, field: f, parent: type });
    const rt = f.resolvedType;
    if (rt instanceof protobuf.Type && !(f instanceof protobuf.MapField)) {
      out.push(...fieldPaths(rt, f.repeated ? [...path, 0] : path, depth + 1));
    }
  }
  return out;
}

/** 1..max changes to a baseline message of `type`, each at one field path. */
export function mutationsArb(type: protobuf.Type, hint: Hint, max = 3): fc.Arbitrary<Mutation[]> {
  const paths = fieldPaths(type);
  const one = fc.constantFrom(...paths).chain((p) =>
    fc.oneof({ weight: 5, arbitrary: fieldArb(p.field, p.parent, hint) }, { weight: 1, arbitrary: fc.constant('$delete' as const) }).map((value): Mutation => ({ path: p.path, value })),
  );
  return fc.array(one, { minLength: 1, maxLength: max });
}

/** The baseline with the mutations applied (a copy). */
export function applyMutations(base: Model, muts: readonly Mutation[]): Model {
  const out = structuredClone(base) as Model;
  for (const m of muts) {
    let cur: Record<string | number, unknown> = out;
    for (let i = 0; i < m.path.length - 1; i++) {
      const k = m.path[i];
      const nextKey = m.path[i + 1];
      let next = cur[k];
      if (typeof nextKey === 'number') {
        if (!Array.isArray(next)) next = cur[k] = [];
      } else if (!isObj(next)) {
        next = cur[k] = {};
      }
      cur = next as Record<string | number, unknown>;
    }
    const last = m.path[m.path.length - 1];
    if (m.value === '$delete') {
      if (Array.isArray(cur) && typeof last === 'number') cur.splice(last, 1);
      else delete cur[last];
    } else {
      cur[last] = structuredClone(m.value);
    }
  }
  return out;
}

// ------------------------------------------------------------ resolution and encoding

/** Replace every placeholder with what `f` returns for it (a deep copy). */
export function mapPlaceholders(x: ModelValue, f: (p: Record<string, unknown>) => ModelValue | undefined): ModelValue {
  if (Array.isArray(x)) return x.map((v) => mapPlaceholders(v, f));
  if (isObj(x)) {
    const r = f(x);
    if (r !== undefined) return r;
    const out: Model = {};
    for (const [k, v] of Object.entries(x)) out[k] = mapPlaceholders(v as ModelValue, f);
    return out;
  }
  return x;
}

/**
 * The model as protobufjs input: bigints as decimal strings (protobufjs
 * writes them through Long), [key, value] pairs as objects (own properties,
 * '__proto__' included), and { $utf8 } strings as unique markers of the same
 * byte length, patched afterwards.
 */
function toProtobufjs(type: protobuf.Type, m: Model, patches: Map<string, number[]>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(m)) {
    const f = type.fields[k];
    if (!f || v === null || v === undefined) continue;
    const conv = (x: ModelValue, ft: string, rt: protobuf.Type | protobuf.Enum | null): unknown => {
      if (rt instanceof protobuf.Type) return isObj(x) ? toProtobufjs(rt, x as Model, patches) : {};
      if (typeof x === 'bigint') return x.toString();
      if (isObj(x) && Array.isArray((x as Record<string, unknown>).$utf8)) {
        const bytes = (x as unknown as Utf8).$utf8;
        const marker = markerOf(patches.size, Math.max(bytes.length, 4));
        patches.set(marker, bytes);
        return marker;
      }
      if (ft === 'string' && typeof x !== 'string') return String(x);
      return x;
    };
    if (f instanceof protobuf.MapField) {
      const obj: Record<string, unknown> = {};
      for (const pair of Array.isArray(v) ? v : []) {
        if (!Array.isArray(pair) || pair.length !== 2) continue;
        const key = conv(pair[0], f.keyType, null);
        Object.defineProperty(obj, String(key), { value: conv(pair[1], f.type, f.resolvedType), enumerable: true, configurable: true, writable: true });
      }
      out[k] = obj;
    } else if (f.repeated) {
      out[k] = (Array.isArray(v) ? v : [v]).map((x) => conv(x, f.type, f.resolvedType));
    } else {
      out[k] = conv(Array.isArray(v) ? (v[0] ?? null) : v, f.type, f.resolvedType);
      if (out[k] === null) delete out[k];
    }
  }
  return out;
}

function markerOf(i: number, len: number): string {
  // \x01 + index digits + '#' padding: ASCII, so its UTF-8 is itself, and unlike any generated string.
  const s = `\x01${i}\x01`;
  return s.length >= len ? s : s + '#'.repeat(len - s.length);
}

function patch(bytes: Uint8Array, patches: Map<string, number[]>): Uint8Array {
  for (const [marker, repl] of patches) {
    const m = Buffer.from(marker, 'utf8');
    const at = Buffer.from(bytes).indexOf(m);
    if (at < 0) continue;
    const r = [...repl];
    while (r.length < m.length) r.unshift(0x61); // pad with 'a' before the bad bytes: same length
    bytes.set(r.slice(0, m.length), at);
  }
  return bytes;
}

/** The wire bytes of a (resolved) model of `type`. */
export function encode(type: protobuf.Type, m: Model): Uint8Array {
  const patches = new Map<string, number[]>();
  const obj = toProtobufjs(type, m, patches);
  const bytes = type.encode(obj).finish();
  return patch(Uint8Array.from(bytes), patches);
}

/** Decoded like @grpc/proto-loader does for the server (longs as numbers, enums as numbers, defaults filled in). */
export function decodeLikeServer(type: protobuf.Type, bytes: Uint8Array): Record<string, unknown> {
  return type.toObject(type.decode(bytes), { longs: Number, enums: Number, defaults: true, arrays: true, objects: true, oneofs: true }) as Record<string, unknown>;
}

/** Decoded exactly: int64 as decimal strings. */
export function decodeExact(type: protobuf.Type, bytes: Uint8Array): Record<string, unknown> {
  return type.toObject(type.decode(bytes), { longs: String, enums: Number, defaults: true, arrays: true, objects: true, oneofs: true }) as Record<string, unknown>;
}

// ------------------------------------------------------------ wire classification

export type WireVerdict = { kind: 'valid' } | { kind: 'invalid'; reason: string } | { kind: 'ambiguous'; reason: string };

class Malformed extends Error {}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function expectedWireTypes(f: protobuf.Field): number[] {
  if (f instanceof protobuf.MapField) return [2];
  if (f.resolvedType instanceof protobuf.Type) return [2];
  const base = f.resolvedType instanceof protobuf.Enum ? 0 : scalarWireType(f.type);
  return f.repeated && base !== 2 ? [base, 2] : [base];
}

function scalarWireType(t: string): number {
  switch (t) {
    case 'double':
    case 'fixed64':
    case 'sfixed64':
      return 1;
    case 'float':
    case 'fixed32':
    case 'sfixed32':
      return 5;
    case 'string':
    case 'bytes':
      return 2;
    default:
      return 0;
  }
}

class WireReader {
  constructor(
    readonly buf: Uint8Array,
    public pos: number,
    readonly end: number,
  ) {}

  varint(): bigint {
    let result = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new Malformed('truncated varint');
      const b = this.buf[this.pos++];
      result |= BigInt(b & 0x7f) << BigInt(7 * i);
      if ((b & 0x80) === 0) {
        if (i === 9 && b > 1) throw new Malformed('varint overflows 64 bits');
        return result;
      }
    }
    throw new Malformed('varint longer than 10 bytes');
  }

  skip(n: number): void {
    if (n > this.end - this.pos) throw new Malformed('truncated field');
    this.pos += n;
  }
}

/**
 * What a strict proto3 decoder must make of `bytes` as a `type` message, with
 * the project's closed enums: unknown enum numbers are invalid input.
 */
export function classifyWire(bytes: Uint8Array, type: protobuf.Type): WireVerdict {
  const ambiguous: string[] = [];
  try {
    readMessage(new WireReader(bytes, 0, bytes.length), type, ambiguous);
  } catch (err) {
    if (err instanceof Malformed) return { kind: 'invalid', reason: err.message };
    throw err;
  }
  return ambiguous.length > 0 ? { kind: 'ambiguous', reason: ambiguous[0] } : { kind: 'valid' };
}

function readMessage(r: WireReader, type: protobuf.Type | 'mapEntry', ambiguous: string[], map?: protobuf.MapField): void {
  while (r.pos < r.end) {
    const tag = r.varint();
    const no = Number(tag >> 3n);
    const wt = Number(tag & 7n);
    if (tag >> 3n > 0x1fffffffn) throw new Malformed('field number out of range');
    if (no === 0) throw new Malformed('field number 0');
    if (wt === 6 || wt === 7) throw new Malformed(`wire type ${wt} does not exist`);
    if (wt === 4) throw new Malformed('end-group without a start-group');
    let field: { name: string; wts: number[]; check: (r: WireReader, wt: number) => void } | undefined;
    if (type === 'mapEntry' && map) {
      if (no === 1) field = { name: 'key', wts: [scalarWireType(map.keyType)], check: (rr, w) => readScalar(rr, w, map.keyType, null, 'map key', ambiguous) };
      if (no === 2) {
        const rt = map.resolvedType;
        field =
          rt instanceof protobuf.Type
            ? { name: 'value', wts: [2], check: (rr) => readNested(rr, rt, ambiguous) }
            : { name: 'value', wts: [rt instanceof protobuf.Enum ? 0 : scalarWireType(map.type)], check: (rr, w) => readScalar(rr, w, map.type, rt, 'map value', ambiguous) };
      }
    } else if (type !== 'mapEntry') {
      const f = type.fieldsById[no];
      if (f) field = { name: f.name, wts: expectedWireTypes(f), check: (rr, w) => readField(rr, w, f, ambiguous) };
    }
    if (!field) {
      skipUnknown(r, no, wt, ambiguous);
      continue;
    }
    if (!field.wts.includes(wt)) throw new Malformed(`field ${field.name} (${no}) has wire type ${wt}, expected ${field.wts.join(' or ')}`);
    field.check(r, wt);
  }
}

function lengthDelimited(r: WireReader): WireReader {
  const len = r.varint();
  if (len > BigInt(r.end - r.pos)) throw new Malformed('length past the end of the message');
  const sub = new WireReader(r.buf, r.pos, r.pos + Number(len));
  r.pos += Number(len);
  return sub;
}

function readNested(r: WireReader, t: protobuf.Type, ambiguous: string[]): void {
  readMessage(lengthDelimited(r), t, ambiguous);
}

function readField(r: WireReader, wt: number, f: protobuf.Field, ambiguous: string[]): void {
  if (f instanceof protobuf.MapField) return readMessage(lengthDelimited(r), 'mapEntry', ambiguous, f);
  const rt = f.resolvedType;
  if (rt instanceof protobuf.Type) return readNested(r, rt, ambiguous);
  if (f.repeated && wt === 2 && scalarWireType(f.type) !== 2) {
    // packed
    const sub = lengthDelimited(r);
    const w = rt instanceof protobuf.Enum ? 0 : scalarWireType(f.type);
    while (sub.pos < sub.end) readScalar(sub, w, f.type, rt, f.name, ambiguous);
    return;
  }
  readScalar(r, wt, f.type, rt, f.name, ambiguous);
}

function readScalar(r: WireReader, wt: number, t: string, rt: protobuf.ReflectionObject | null, name: string, ambiguous: string[]): void {
  if (wt === 1) return r.skip(8);
  if (wt === 5) return r.skip(4);
  if (wt === 2) {
    const sub = lengthDelimited(r);
    if (t === 'string') {
      try {
        utf8.decode(sub.buf.subarray(sub.pos, sub.end));
      } catch {
        throw new Malformed(`field ${name} is not valid UTF-8`);
      }
    }
    return;
  }
  const v = r.varint();
  if (rt instanceof protobuf.Enum) {
    const n = BigInt.asIntN(32, v);
    if (BigInt.asIntN(64, v) !== n) ambiguous.push(`enum ${name} varint beyond int32`);
    if (!Object.values(rt.values).includes(Number(n))) throw new Malformed(`field ${name}: ${n} is not a ${rt.name} value`);
    return;
  }
  if (t === 'bool' && v > 1n) ambiguous.push(`bool ${name} = ${v}`);
  if ((t === 'int32' || t === 'sint32') && BigInt.asIntN(64, v) !== BigInt.asIntN(32, v)) ambiguous.push(`int32 ${name} varint beyond int32`);
  if (t === 'uint32' && v > 0xffffffffn) ambiguous.push(`uint32 ${name} varint beyond uint32`);
}

/** Skip an unknown field; groups iteratively (they nest without bound). */
function skipUnknown(r: WireReader, no: number, wt: number, ambiguous: string[]): void {
  if (wt === 0) return void r.varint();
  if (wt === 1) return r.skip(8);
  if (wt === 5) return r.skip(4);
  if (wt === 2) return void lengthDelimited(r);
  // wt 3: a group, which proto3 does not have; a decoder may skip it (protobuf's rule) or refuse it.
  ambiguous.push(`unknown field ${no} is a group`);
  const open = [no];
  while (open.length > 0) {
    const tag = r.varint();
    const n = Number(tag >> 3n);
    const w = Number(tag & 7n);
    if (n === 0) throw new Malformed('field number 0');
    if (w === 6 || w === 7) throw new Malformed(`wire type ${w} does not exist`);
    if (w === 3) open.push(n);
    else if (w === 4) {
      if (open.pop() !== n) throw new Malformed('end-group does not match its start-group');
    } else if (w === 0) r.varint();
    else if (w === 1) r.skip(8);
    else if (w === 5) r.skip(4);
    else lengthDelimited(r);
  }
  if (open.length > 64) ambiguous.push('deeply nested groups');
}

// ------------------------------------------------------------ malformed bytes

export type ByteMutation =
  | { op: 'replace'; bytes: number[] }
  | { op: 'truncate'; perMille: number }
  | { op: 'flipWireType'; field: number; to: number }
  | { op: 'bitflip'; at: number; bit: number }
  | { op: 'lengthPastEnd'; field: number; extra: number }
  | { op: 'overlongTag' }
  | { op: 'fieldZero' }
  | { op: 'nest'; style: 'group' | 'length' | 'firstField'; depth: number; field: number }
  | { op: 'appendUnknown'; field: number; wt: number; payload: number[] }
  | { op: 'duplicate' };

export function byteMutationArb(): fc.Arbitrary<ByteMutation> {
  const depth = fc.constantFrom(1, 2, 10, 100, 3_000, 100_000);
  return fc.oneof(
    fc.record({ op: fc.constant('replace' as const), bytes: fc.oneof(fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 48 }), fc.constantFrom<number[][]>([0x0f, 0x00], [0x00, 0x01], [0x08], [0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])) }),
    fc.record({ op: fc.constant('truncate' as const), perMille: fc.integer({ min: 0, max: 999 }) }),
    fc.record({ op: fc.constant('flipWireType' as const), field: fc.nat(20), to: fc.integer({ min: 0, max: 7 }) }),
    fc.record({ op: fc.constant('bitflip' as const), at: fc.nat(400), bit: fc.integer({ min: 0, max: 7 }) }),
    fc.record({ op: fc.constant('lengthPastEnd' as const), field: fc.nat(20), extra: fc.constantFrom(1, 100, 2 ** 31 - 1, 2 ** 32) }),
    fc.constant({ op: 'overlongTag' as const }),
    fc.constant({ op: 'fieldZero' as const }),
    fc.record({ op: fc.constant('nest' as const), style: fc.constantFrom('group' as const, 'length' as const, 'firstField' as const), depth, field: fc.constantFrom(1, 2, 3, 15, 99) }),
    fc.record({
      op: fc.constant('appendUnknown' as const),
      field: fc.constantFrom(16, 99, 1000, 2 ** 29 - 1),
      wt: fc.constantFrom(0, 1, 2, 5),
      payload: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 12 }),
    }),
    fc.constant({ op: 'duplicate' as const }),
  );
}

function tagBytes(no: number, wt: number): number[] {
  return varintBytes(BigInt(no) * 8n + BigInt(wt));
}

function varintBytes(v: bigint | number): number[] {
  let x = BigInt.asUintN(64, BigInt(v));
  const out: number[] = [];
  do {
    let b = Number(x & 0x7fn);
    x >>= 7n;
    if (x > 0n) b |= 0x80;
    out.push(b);
  } while (x > 0n);
  return out;
}

interface TopField {
  start: number;
  tagEnd: number;
  /** Where the payload starts (after the length prefix for wire type 2). */
  valueStart: number;
  end: number;
  no: number;
  wt: number;
}

/** The top-level fields of valid bytes (stops at the first thing it cannot read). */
function topFields(b: Uint8Array): TopField[] {
  const out: TopField[] = [];
  const r = new WireReader(b, 0, b.length);
  try {
    while (r.pos < r.end) {
      const start = r.pos;
      const tag = r.varint();
      const tagEnd = r.pos;
      const wt = Number(tag & 7n);
      let valueStart = tagEnd;
      if (wt === 0) r.varint();
      else if (wt === 1) r.skip(8);
      else if (wt === 5) r.skip(4);
      else if (wt === 2) {
        const len = r.varint();
        valueStart = r.pos;
        r.skip(Number(len));
      } else break;
      out.push({ start, tagEnd, valueStart, end: r.pos, no: Number(tag >> 3n), wt });
    }
  } catch {
    // keep what was read
  }
  return out;
}

function nestBytes(style: 'group' | 'length' | 'firstField', depth: number, field: number): number[] {
  if (style === 'group') {
    const start = tagBytes(field, 3);
    const end = tagBytes(field, 4);
    const out: number[] = [];
    for (let i = 0; i < depth; i++) out.push(...start);
    for (let i = 0; i < depth; i++) out.push(...end);
    return out;
  }
  // Length-delimited, inside out: field F { field F { ... } }; only the lengths are needed to write it outside in.
  const tag = tagBytes(field, 2);
  const chunks: number[][] = [];
  let innerLen = 0;
  for (let i = 0; i < depth; i++) {
    const len = varintBytes(innerLen);
    chunks.push([...tag, ...len]);
    innerLen += tag.length + len.length;
  }
  const out: number[] = [];
  for (let i = chunks.length - 1; i >= 0; i--) out.push(...chunks[i]);
  return out;
}

/** `base` with the mutations applied in order. */
export function applyByteMutations(base: Uint8Array, muts: readonly ByteMutation[]): Uint8Array {
  let b = Uint8Array.from(base);
  for (const m of muts) {
    const fields = topFields(b);
    switch (m.op) {
      case 'replace':
        b = Uint8Array.from(m.bytes);
        break;
      case 'truncate':
        b = b.slice(0, Math.floor((b.length * m.perMille) / 1000));
        break;
      case 'flipWireType': {
        if (fields.length === 0) break;
        const f = fields[m.field % fields.length];
        const tag = tagBytes(f.no, m.to);
        b = Uint8Array.from([...b.subarray(0, f.start), ...tag, ...b.subarray(f.tagEnd)]);
        break;
      }
      case 'bitflip':
        if (b.length > 0) b[m.at % b.length] ^= 1 << m.bit;
        break;
      case 'lengthPastEnd': {
        const lds = fields.filter((f) => f.wt === 2);
        if (lds.length === 0) break;
        const f = lds[m.field % lds.length];
        const len = varintBytes(f.end - f.valueStart + m.extra);
        b = Uint8Array.from([...b.subarray(0, f.tagEnd), ...len, ...b.subarray(f.valueStart)]);
        break;
      }
      case 'overlongTag': {
        // Field 1, wire type 0, written in 11 bytes (a varint may have at most 10), then a value.
        b = Uint8Array.from([0x88, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x01, ...b]);
        break;
      }
      case 'fieldZero':
        b = Uint8Array.from([0x00, 0x00, ...b]);
        break;
      case 'nest':
        b = Uint8Array.from([...b, ...nestBytes(m.style === 'firstField' ? 'length' : m.style, m.depth, m.style === 'firstField' ? (fields[0]?.no ?? 1) : m.field)]);
        break;
      case 'appendUnknown': {
        // A valid value for the wire type (a varint of at most 9 bytes, 8 or 4 bytes, or a length-prefixed run).
        const varint = m.payload.slice(0, 9);
        const payload = m.wt === 0 ? (varint.length ? varint.map((x, i, a) => (i < a.length - 1 ? x | 0x80 : x & 0x7f)) : [0]) : m.wt === 1 ? [...m.payload, 0, 0, 0, 0, 0, 0, 0, 0].slice(0, 8) : m.wt === 5 ? [...m.payload, 0, 0, 0, 0].slice(0, 4) : [...varintBytes(m.payload.length), ...m.payload];
        b = Uint8Array.from([...b, ...tagBytes(m.field, m.wt), ...payload]);
        break;
      }
      case 'duplicate':
        b = Uint8Array.from([...b, ...b]);
        break;
    }
  }
  return b;
}

export function hex(b: Uint8Array, max = 64): string {
  const h = Buffer.from(b.subarray(0, max)).toString('hex').replace(/(..)/g, '$1 ').trim();
  return b.length > max ? `${h} … (${b.length} bytes)` : h || '(empty)';
}
