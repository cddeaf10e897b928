// The files of task containers' secrets and configs, on a tmpfs only: a secret
// is never written to a disk. Layout, under a root on a tmpfs the node's
// engine sees at the same path (default /dev/shm/flotilla, Linux's tmpfs for
// shared memory: no mount of our own, so no CAP_SYS_ADMIN):
//
//   <root>/                              0700 root
//   <root>/<nodeId>/                     0700 root: one node's (nodes may share an engine and a host)
//   <root>/<nodeId>/<taskId>.<nonce>/    0700 root: one container's, made fresh by each prepare
//   <root>/<nodeId>/<taskId>.<nonce>/<i> the i-th file of the task's references (secrets, then configs),
//                                        owned by the reference's uid/gid, with its mode
//
// Each file is bind-mounted read-only at its path in the container
// (secretFilePath / configFilePath of its target), so `docker inspect` shows
// the source path and nothing of the data. One directory per container, not
// per task: two containers of one task (a duplicate an agent discards) never
// share one. It is removed with the container; at agent start, directories
// that no container of the node mounts any more are removed, and those of
// existing containers are kept (a running container's bind mounts keep its
// files alive, but a restarted engine mounts them again from here).
//
// Before writing, the directory's filesystem is checked (statfs): tmpfs or
// ramfs, else the task is refused (TaskFilesError), never a file on a disk.
import { randomBytes } from 'node:crypto';
import { chmod, chown, lstat, mkdir, readdir, rm, statfs, writeFile } from 'node:fs/promises';
import { join, sep } from 'node:path';
import type Dockerode from 'dockerode';
import type { Logger } from 'pino';
import { TaskFilesError, type TaskFile } from '../executor.js';

/** Linux's filesystem magic numbers (statfs f_type) of filesystems that live in memory only. */
export const TMPFS_MAGIC = 0x01021994;
export const RAMFS_MAGIC = 0x858458f6;

export const DEFAULT_FILES_ROOT = '/dev/shm/flotilla';

const UNSAFE = /[^a-zA-Z0-9_-]/g;

/** A component of a path made of an id: nothing that could climb out of the directory. */
function component(id: string): string {
  return id.replace(UNSAFE, '_') || '_';
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class TaskFileStore {
  constructor(
    readonly root: string,
    private readonly log: Logger,
  ) {}

  nodeDir(nodeId: string): string {
    return join(this.root, component(nodeId));
  }

  /** `dir` is one of this store's container directories (a mount source under it). */
  owns(path: string): boolean {
    return path.startsWith(this.root + sep);
  }

  /** The container directory of a file path of this store (its parent), or undefined. */
  dirOf(source: string): string | undefined {
    if (!this.owns(source)) return undefined;
    const rel = source.slice(this.root.length + 1).split(sep);
    return rel.length === 3 ? join(this.root, rel[0], rel[1]) : undefined;
  }

  /** A directory of ours, 0700 root, not a symlink; made when missing. */
  private async ensureDir(dir: string): Promise<void> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const st = await lstat(dir);
    if (!st.isDirectory()) throw new Error(`${dir} is not a directory`);
    await chmod(dir, 0o700);
  }

  /** Refuses a directory whose filesystem may be a disk. */
  private async checkMemoryOnly(dir: string): Promise<void> {
    const st = await statfs(dir);
    if (st.type !== TMPFS_MAGIC && st.type !== RAMFS_MAGIC) {
      throw new TaskFilesError(
        `secrets and configs are kept on a tmpfs only, and ${dir} is not on one (filesystem type 0x${st.type.toString(16)}): give the executor a files directory on a tmpfs (default ${DEFAULT_FILES_ROOT})`,
      );
    }
  }

  private async writeOne(path: string, f: TaskFile): Promise<void> {
    // Created 0600 root, then given its owner, then its mode: never readable by anyone else on the way.
    await writeFile(path, f.data, { mode: 0o600, flag: 'wx' });
    await chown(path, f.uid, f.gid);
    await chmod(path, f.mode);
  }

  /**
   * Writes a new container's files; returns its directory and the read-only
   * bind mounts of its files. TaskFilesError when they cannot be kept on a tmpfs.
   */
  async write(nodeId: string, taskId: string, files: readonly TaskFile[]): Promise<{ dir: string; mounts: Dockerode.MountSettings[] }> {
    const nodeDir = this.nodeDir(nodeId);
    try {
      await this.ensureDir(this.root);
      await this.ensureDir(nodeDir);
    } catch (err) {
      throw new TaskFilesError(`cannot make the directory for the task's secrets and configs under ${this.root}: ${messageOf(err)}`, { cause: err });
    }
    await this.checkMemoryOnly(nodeDir);
    const dir = join(nodeDir, `${component(taskId)}.${randomBytes(4).toString('hex')}`);
    const mounts: Dockerode.MountSettings[] = [];
    try {
      await mkdir(dir, { mode: 0o700 });
      await chmod(dir, 0o700);
      for (const [i, f] of files.entries()) {
        const source = join(dir, String(i));
        try {
          await this.writeOne(source, f);
        } catch (err) {
          throw new TaskFilesError(`cannot write the file of ${f.kind} ${JSON.stringify(f.name)} (for ${f.path}): ${messageOf(err)}`, { cause: err });
        }
        mounts.push({ Type: 'bind', Source: source, Target: f.path, ReadOnly: true });
      }
    } catch (err) {
      await this.remove(dir);
      if (err instanceof TaskFilesError) throw err;
      throw new TaskFilesError(`cannot make the directory for the task's secrets and configs: ${messageOf(err)}`, { cause: err });
    }
    return { dir, mounts };
  }

  /**
   * Writes those of `files` that are missing at their sources (the container's
   * bind mounts, by target), leaving those present as they are: the data of a
   * secret or config never changes.
   */
  async restore(mounts: readonly { Source?: string; Destination?: string }[], files: readonly TaskFile[]): Promise<number> {
    let written = 0;
    for (const f of files) {
      const m = mounts.find((x) => x.Destination === f.path);
      const source = m?.Source;
      const dir = source === undefined ? undefined : this.dirOf(source);
      // Only ever our own files: a mount that is not one of ours is left alone.
      if (source === undefined || dir === undefined) continue;
      try {
        await this.ensureDir(this.root);
        await this.ensureDir(join(dir, '..'));
        await this.checkMemoryOnly(join(dir, '..'));
        await this.ensureDir(dir);
        await this.writeOne(source, f);
        written++;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
        if (err instanceof TaskFilesError) throw err;
        throw new TaskFilesError(`cannot put back the file of ${f.kind} ${JSON.stringify(f.name)} (for ${f.path}): ${messageOf(err)}`, { cause: err });
      }
    }
    return written;
  }

  /** Removes a container's directory and its files; never throws. */
  async remove(dir: string): Promise<void> {
    if (!this.dirOf(join(dir, '0'))) return;
    try {
      await rm(dir, { recursive: true, force: true });
    } catch (err) {
      this.log.warn({ dir, err: messageOf(err) }, "removing a container's secret and config files failed");
    }
  }

  /** Removes the node's container directories not in `keep`; returns those removed. */
  async sweep(nodeId: string, keep: ReadonlySet<string>): Promise<string[]> {
    const nodeDir = this.nodeDir(nodeId);
    let names: string[];
    try {
      names = await readdir(nodeDir);
    } catch {
      return [];
    }
    const removed: string[] = [];
    for (const n of names) {
      const dir = join(nodeDir, n);
      if (keep.has(dir)) continue;
      await this.remove(dir);
      removed.push(dir);
    }
    return removed;
  }
}
