// proto/*.proto as protobufjs reflection, for the code that walks the schema
// itself (the strict wire check, the dispatcher's session encoding).
import protobuf from 'protobufjs';
import { protoPath } from './protos.js';

const roots = new Map<string, protobuf.Root>();

/**
 * proto/<file> (and what it imports, found beside it) as protobufjs
 * reflection, resolved, loaded once per process. Field names are camelCase, as
 * in the objects PROTO_LOADER_OPTIONS (protos.ts) produce.
 */
export function protoRoot(file: string): protobuf.Root {
  const known = roots.get(file);
  if (known) return known;
  const r = protobuf.loadSync(protoPath(file));
  r.resolveAll();
  roots.set(file, r);
  return r;
}
