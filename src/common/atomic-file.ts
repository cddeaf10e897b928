// Crash-safe file replacement, for every layer that keeps small files on disk
// (the daemon's node.json and certificates, the manager's key ring): write a
// temporary file beside the target, fsync it, rename it over the target, fsync
// the directory. A crash at any point leaves the old version or the new one,
// never a mix; at worst a `<name>.tmp-*` file is left behind.
import { open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

/** The last write queued per path: writes of one file happen one after another, in the order asked. */
const writesByPath = new Map<string, Promise<void>>();
let tmpCounter = 0;

/** Replace `path` atomically with `data`, the file getting `mode` (0644 by default). */
export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  // Two writes of one file at once (the manager list saved by the session while the node status check saves its
  // role) shared one temporary name: the second rename found it gone (ENOENT) and the daemon died.
  const prev = writesByPath.get(path) ?? Promise.resolve();
  const next = prev.catch(() => undefined).then(() => writeOnce(path, data, mode));
  writesByPath.set(path, next);
  void next
    .finally(() => {
      if (writesByPath.get(path) === next) writesByPath.delete(path);
    })
    .catch(() => undefined);
  return next;
}

/** True for the temporary files writeFileAtomic leaves when a process dies in the middle of a write. */
export function isAtomicTempFile(name: string): boolean {
  return /\.tmp-\d+-\d+$/.test(name);
}

async function writeOnce(path: string, data: string | Uint8Array, mode: number): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${++tmpCounter}`;
  // Created here ('wx'), so that it gets `mode`: a file left under the same name by an earlier process would keep its own.
  await rm(tmp, { force: true });
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => undefined);
    await rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
  await fh.close();
  await rename(tmp, path);
  await syncDir(dirname(path));
}

/** Make a directory entry (create, rename, unlink) durable. */
export async function syncDir(path: string): Promise<void> {
  const dh = await open(path, 'r');
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}
