// A fake file system for the compose loader's tests: readFile over a map,
// ENOENT (with its code, as node's) for anything else.
import { loadStack } from '../../../src/cli/stack/load.js';
import type { StackModel } from '../../../src/cli/stack/model.js';

export function fakeReadFile(files: Record<string, string>): (path: string) => Buffer {
  return (path) => {
    if (Object.hasOwn(files, path)) return Buffer.from(files[path]);
    throw Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), { code: 'ENOENT' });
  };
}

export const FILE = '/app/docker-compose.yml';

/** One compose file at /app/docker-compose.yml, with other files beside it. */
export function load(yaml: string, opts: { env?: Record<string, string | undefined>; files?: Record<string, string>; stack?: string } = {}): StackModel {
  return loadStack(opts.stack ?? 'st', [{ path: FILE, content: yaml }], { env: opts.env ?? {}, readFile: fakeReadFile(opts.files ?? {}) });
}

/** The one-line message a load fails with (fails the test when it loads). */
export function loadError(yaml: string, opts: Parameters<typeof load>[1] = {}): string {
  try {
    load(yaml, opts);
  } catch (err) {
    const msg = (err as Error).message;
    if (msg.includes('\n')) throw new Error(`not one line: ${msg}`);
    return msg;
  }
  throw new Error('the file loaded');
}
