// The Control service's methods as a client calls them, for the CLI: the
// codecs are protobufjs's own generated functions (the ones its reflection
// builds at run time, Type#setup), written out as source by `npm run gen`
// from proto/control.proto (src/api/gen/control-codecs.ts), so that a command
// neither parses .proto text, nor loads @grpc/proto-loader or protobufjs's
// reflection, nor builds one when it starts: it loads protobufjs/minimal (the
// Writer, Reader and util those functions use) and compiles a function the
// first time a call needs it, as protobufjs itself does. The serializers do
// what proto-loader's createSerializer and createDeserializer (its index.js)
// do, with PROTO_LOADER_OPTIONS: a client sends and receives the very objects
// loadControlProto() (proto.ts) gives, the ones the generated types (wire.ts)
// describe; test/api/control-client.test.ts holds the two to that. Servers
// keep loadControlProto(), with its strict request decoding.
import $protobuf from 'protobufjs/minimal.js';
import { PROTO_LOADER_OPTIONS } from '../common/protos.js';
import { CONTROL_CODEC_TABLE, CONTROL_METHOD_TYPES, type ControlCodecSource } from './gen/control-codecs.js';
import type { ControlMethod } from './proto.js';

export const CONTROL_SERVICE_NAME = 'flotilla.control.Control';

/** What a unary call needs of a method (the client half of grpc.MethodDefinition). */
export interface ControlClientMethod {
  /** '/flotilla.control.Control/ListServices' */
  path: string;
  requestSerialize(request: unknown): Buffer;
  responseDeserialize(bytes: Buffer): unknown;
}

/** One message type's codec (the functions protobufjs's Type#setup makes), or an enum's values. */
export interface ControlMessageCodec {
  /** 'flotilla.control.ListServicesRequest' */
  readonly name: string;
  readonly values?: Record<string, string | number>;
  fromObject(object: Record<string, unknown>): object;
  encode(message: object): { finish(): Uint8Array };
  decode(bytes: Uint8Array): object;
  toObject(message: object, options: object): unknown;
}

const CODEC_FUNCTIONS = ['ctor', 'encode', 'decode', 'fromObject', 'toObject'] as const;
const codecs: ControlMessageCodec[] = [];

/**
 * The codec of CONTROL_CODEC_TABLE[i]; each function compiled on first use,
 * with the scope protobufjs's codegen gives it (Writer, Reader, util, and
 * `types`: the codecs of the type's fields, in field order).
 */
function codecAt(i: number): ControlMessageCodec {
  if (codecs[i]) return codecs[i];
  const source: ControlCodecSource = CONTROL_CODEC_TABLE[i];
  const codec = { name: source.name, values: source.values } as ControlMessageCodec;
  codecs[i] = codec;
  let types: (ControlMessageCodec | null)[] | undefined;
  for (const key of CODEC_FUNCTIONS) {
    const text = source[key];
    if (text === undefined) continue;
    Object.defineProperty(codec, key, {
      configurable: true,
      get() {
        types ??= (source.fieldTypes ?? []).map((j) => (j < 0 ? null : codecAt(j)));
        // Our own build's code (scripts/gen-api.js), compiled the way protobufjs's codegen compiles it.
        const fn = new Function('Writer', 'Reader', 'util', 'types', `return ${text}`)($protobuf.Writer, $protobuf.Reader, $protobuf.util, types) as unknown;
        Object.defineProperty(codec, key, { value: fn });
        return fn;
      },
    });
  }
  return codec;
}

/** The codec of a Control message or enum type by full name ('flotilla.control.Service'), for tests. */
export function controlTypeCodec(name: string): ControlMessageCodec | undefined {
  const i = CONTROL_CODEC_TABLE.findIndex((t) => t.name === name);
  return i < 0 ? undefined : codecAt(i);
}

/** The full names of every Control message and enum type, for tests. */
export function controlTypeNames(): string[] {
  return CONTROL_CODEC_TABLE.map((t) => t.name);
}

const methods = new Map<ControlMethod, ControlClientMethod>();

/** The client half of one Control method, built once per process. */
export function controlClientMethod(name: ControlMethod): ControlClientMethod {
  const known = methods.get(name);
  if (known) return known;
  const types = Object.hasOwn(CONTROL_METHOD_TYPES, name) ? CONTROL_METHOD_TYPES[name] : undefined;
  if (!types) throw new Error(`proto/control.proto: ${CONTROL_SERVICE_NAME} has no method ${name}`);
  const requestType = codecAt(types[0]);
  const responseType = codecAt(types[1]);
  const def: ControlClientMethod = {
    path: `/${CONTROL_SERVICE_NAME}/${name}`,
    requestSerialize: (request) => {
      if (Array.isArray(request)) throw new Error(`Failed to serialize message: expected object with ${requestType.name.split('.').pop()} structure, got array instead`);
      const bytes = requestType.encode(requestType.fromObject(request as Record<string, unknown>)).finish();
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    },
    responseDeserialize: (bytes) => responseType.toObject(responseType.decode(bytes), PROTO_LOADER_OPTIONS),
  };
  methods.set(name, def);
  return def;
}
