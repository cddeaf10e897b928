#!/usr/bin/env node
// Generates the TypeScript wire types (src/api/gen/, git-ignored) from
// proto/*.proto with @grpc/proto-loader's proto-loader-gen-types. Every script
// that runs tsc runs this first, so a clean clone builds.
//
// The flags match the runtime loader options (PROTO_LOADER_OPTIONS in
// src/common/protos.ts: camelCase fields, int64 as number, enums as numbers,
// defaults, arrays, oneofs), so that the generated `__Output` types describe
// exactly the objects the code receives. Imports end in .js for NodeNext.
import { readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// Relative to the root (the generator runs there), so the generated files name proto/x.proto, not this machine's path.
const protoDir = 'proto';
const outDir = join('src', 'api', 'gen');
const protos = readdirSync(join(root, protoDir)).filter((f) => f.endsWith('.proto')).sort();

// Stale files of a removed message must not survive a regeneration.
rmSync(join(root, outDir), { recursive: true, force: true });
const bin = join(root, 'node_modules', '@grpc', 'proto-loader', 'build', 'bin', 'proto-loader-gen-types.js');
const args = [
  bin,
  '--longs', 'Number',
  '--enums', 'Number',
  '--defaults',
  '--arrays',
  '--oneofs',
  '--grpcLib', '@grpc/grpc-js',
  '--importFileExtension', '.js',
  '--includeDirs', protoDir,
  '--outDir', outDir,
  ...protos,
];
const r = spawnSync(process.execPath, args, { stdio: 'inherit', cwd: root });
if (r.status !== 0) {
  process.stderr.write(`proto-loader-gen-types failed (exit ${r.status ?? r.signal})\n`);
  process.exit(1);
}
