// The Control service's methods as a client calls them, for the CLI: the
// codecs are protobufjs's own generated functions (the ones its reflection
// builds at run time, Type#setup), written out as source by `npm run gen`
// from proto/control.proto, one module per method (src/api/gen/control-codecs/),
// so that a command neither parses .proto text, nor loads @grpc/proto-loader
// or protobufjs's reflection, nor builds one when it starts: it loads
// protobufjs/minimal (the Writer, Reader and util those functions use), the
// modules of the methods it calls, and compiles a function the first time a
// call needs it, as protobufjs itself does. The serializers do what
// proto-loader's createSerializer and createDeserializer (its index.js) do,
// with PROTO_LOADER_OPTIONS: a client sends and receives the very objects
// loadControlProto() (proto.ts) gives, the ones the generated types (wire.ts)
// describe; test/api/control-client.test.ts holds the two to that. Servers
// keep loadControlProto(), with its strict request decoding.
import $protobuf from 'protobufjs/minimal.js';
import { PROTO_LOADER_OPTIONS } from '../common/protos.js';
import { CONTROL_CODEC_MODULES, type ControlCodecSource } from './gen/control-codecs.js';
import { CONTROL_SERVICE_NAME, type ControlMethod } from './control-methods.js';

export { CONTROL_SERVICE_NAME }; // the tests name the path through the client

/** What a unary call needs of a method (the client half of grpc.MethodDefinition). */
export interface ControlClientMethod {
  /** '/flotilla.control.Control/ListServices' */
  path: string;
  requestSerialize(request: unknown): Buffer;
  responseDeserialize(bytes: Buffer): unknown;
}

/** One message type's codec (the functions protobufjs's Type#setup makes, those a client needs), or an enum's values. */
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

/**
 * The codecs of one method's table; each function compiled on first use,
 * with the scope protobufjs's codegen gives it (Writer, Reader, util, and
 * `types`: the codecs of the type's fields, in field order).
 */
export function controlCodecs(table: readonly ControlCodecSource[]): ControlMessageCodec[] {
  const codecs = table.map((source) => ({ name: source.name, values: source.values }) as ControlMessageCodec);
  table.forEach((source, i) => {
    let types: (ControlMessageCodec | null)[] | undefined;
    for (const key of CODEC_FUNCTIONS) {
      const text = source[key];
      if (text === undefined) continue;
      Object.defineProperty(codecs[i], key, {
        configurable: true,
        get() {
          types ??= (source.fieldTypes ?? []).map((j) => (j < 0 ? null : codecs[j]));
          // Our own build's code (scripts/gen-api.js), compiled the way protobufjs's codegen compiles it.
          const fn = new Function('Writer', 'Reader', 'util', 'types', `return ${text}`)($protobuf.Writer, $protobuf.Reader, $protobuf.util, types) as unknown;
          Object.defineProperty(codecs[i], key, { value: fn });
          return fn;
        },
      });
    }
  });
  return codecs;
}

const methods = new Map<ControlMethod, Promise<ControlClientMethod>>();

/** The client half of one Control method, built once per process. */
export function controlClientMethod(name: ControlMethod): Promise<ControlClientMethod> {
  let known = methods.get(name);
  if (!known) {
    known = buildMethod(name);
    methods.set(name, known);
  }
  return known;
}

async function buildMethod(name: ControlMethod): Promise<ControlClientMethod> {
  const load = Object.hasOwn(CONTROL_CODEC_MODULES, name) ? CONTROL_CODEC_MODULES[name] : undefined;
  if (!load) throw new Error(`proto/control.proto: ${CONTROL_SERVICE_NAME} has no method ${name}`);
  const { CODECS } = await load();
  const codecs = controlCodecs(CODECS.table);
  const requestType = codecs[CODECS.request];
  const responseType = codecs[CODECS.response];
  return {
    path: `/${CONTROL_SERVICE_NAME}/${name}`,
    requestSerialize: (request) => {
      if (Array.isArray(request)) throw new Error(`Failed to serialize message: expected object with ${requestType.name.split('.').pop()} structure, got array instead`);
      const bytes = requestType.encode(requestType.fromObject(request as Record<string, unknown>)).finish();
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    },
    responseDeserialize: (bytes) => responseType.toObject(responseType.decode(bytes), PROTO_LOADER_OPTIONS),
  };
}
