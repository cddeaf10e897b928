// The Control service's methods as a client calls them, for the CLI: built
// from the reflection JSON that `npm run gen` writes from proto/control.proto
// (src/api/gen/control-descriptor.ts), so that a command neither parses .proto
// text nor loads @grpc/proto-loader when it starts; a method's codec is built
// on its first call. The serializers are proto-loader's own (createSerializer
// and createDeserializer of its index.js) with PROTO_LOADER_OPTIONS: a client
// sends and receives the very objects loadControlProto() (proto.ts) gives, the
// ones the generated types (wire.ts) describe; test/api/control-client.test.ts
// holds the two to that. Servers keep loadControlProto(), with its strict
// request decoding.
import protobuf from 'protobufjs/light.js';
import { PROTO_LOADER_OPTIONS } from '../common/protos.js';
import { CONTROL_DESCRIPTOR_JSON } from './gen/control-descriptor.js';
import type { ControlMethod } from './proto.js';

export const CONTROL_SERVICE_NAME = 'flotilla.control.Control';

/** What a unary call needs of a method (the client half of grpc.MethodDefinition). */
export interface ControlClientMethod {
  /** '/flotilla.control.Control/ListServices' */
  path: string;
  requestSerialize(request: unknown): Buffer;
  responseDeserialize(bytes: Buffer): unknown;
}

let service: protobuf.Service | null = null;
const methods = new Map<ControlMethod, ControlClientMethod>();

/** The client half of one Control method, built once per process. */
export function controlClientMethod(name: ControlMethod): ControlClientMethod {
  const known = methods.get(name);
  if (known) return known;
  service ??= protobuf.Root.fromJSON(JSON.parse(CONTROL_DESCRIPTOR_JSON) as protobuf.INamespace).lookupService(CONTROL_SERVICE_NAME);
  const method = service.methods[name];
  if (!method) throw new Error(`proto/control.proto: ${CONTROL_SERVICE_NAME} has no method ${name}`);
  method.resolve();
  const requestType = method.resolvedRequestType;
  const responseType = method.resolvedResponseType;
  if (!requestType || !responseType) throw new Error(`proto/control.proto: ${CONTROL_SERVICE_NAME}.${name} has unresolved types`);
  const def: ControlClientMethod = {
    path: `/${CONTROL_SERVICE_NAME}/${name}`,
    requestSerialize: (request) => {
      if (Array.isArray(request)) throw new Error(`Failed to serialize message: expected object with ${requestType.name} structure, got array instead`);
      const bytes = requestType.encode(requestType.fromObject(request as Record<string, unknown>)).finish();
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    },
    responseDeserialize: (bytes) => responseType.toObject(responseType.decode(bytes), PROTO_LOADER_OPTIONS),
  };
  methods.set(name, def);
  return def;
}
