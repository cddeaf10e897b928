// The Control service's methods as a client calls them, for the CLI: the
// codecs are static code that `npm run gen` writes from proto/control.proto
// (src/api/gen/control-codecs.ts: protobufjs's own generated functions, the
// ones its reflection builds at run time), so that a command neither parses
// .proto text, nor loads @grpc/proto-loader or protobufjs's reflection, nor
// builds one when it starts: only protobufjs/minimal. The serializers do what
// proto-loader's createSerializer and createDeserializer (its index.js) do,
// with PROTO_LOADER_OPTIONS: a client sends and receives the very objects
// loadControlProto() (proto.ts) gives, the ones the generated types (wire.ts)
// describe; test/api/control-client.test.ts holds the two to that. Servers
// keep loadControlProto(), with its strict request decoding.
import { PROTO_LOADER_OPTIONS } from '../common/protos.js';
import { CONTROL_METHOD_CODECS } from './gen/control-codecs.js';
import type { ControlMethod } from './proto.js';

export const CONTROL_SERVICE_NAME = 'flotilla.control.Control';

/** What a unary call needs of a method (the client half of grpc.MethodDefinition). */
export interface ControlClientMethod {
  /** '/flotilla.control.Control/ListServices' */
  path: string;
  requestSerialize(request: unknown): Buffer;
  responseDeserialize(bytes: Buffer): unknown;
}

/** One message type's generated codec (the functions protobufjs's Type#setup makes). */
export interface ControlMessageCodec {
  /** 'flotilla.control.ListServicesRequest' */
  name: string;
  fromObject(object: Record<string, unknown>): object;
  encode(message: object): { finish(): Uint8Array };
  decode(bytes: Uint8Array): object;
  toObject(message: object, options: object): unknown;
}

const codecs = CONTROL_METHOD_CODECS as unknown as Record<string, { request: ControlMessageCodec; response: ControlMessageCodec } | undefined>;
const methods = new Map<ControlMethod, ControlClientMethod>();

/** The client half of one Control method, built once per process. */
export function controlClientMethod(name: ControlMethod): ControlClientMethod {
  const known = methods.get(name);
  if (known) return known;
  const codec = Object.hasOwn(codecs, name) ? codecs[name] : undefined;
  if (!codec) throw new Error(`proto/control.proto: ${CONTROL_SERVICE_NAME} has no method ${name}`);
  const { request: requestType, response: responseType } = codec;
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
