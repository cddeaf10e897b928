// Where the .proto files are, and how every service loads them. The compiled
// modules live in dist/src/..., the sources in src/...; both find the package
// root by walking up to package.json. Nothing here loads protobufjs (the CLI
// imports this module and must start fast): its reflection of the .proto files
// is proto-reflection.ts.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as protoLoader from '@grpc/proto-loader';

/** One set of loader options for every proto, so all services see the same JS shapes. */
export const PROTO_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: Number,
  enums: Number,
  defaults: true,
  arrays: true,
  oneofs: true,
};

let root: string | null = null;

/** The package root (the directory holding package.json). */
export function packageRoot(): string {
  if (root) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find the package root (package.json) above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
  root = dir;
  return dir;
}

/** Absolute path of proto/<file>; a clear error if it is missing. */
export function protoPath(file: string): string {
  const p = join(packageRoot(), 'proto', file);
  if (!existsSync(p)) throw new Error(`proto/${file} not found under ${packageRoot()}`);
  return p;
}
