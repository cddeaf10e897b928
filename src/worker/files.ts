// The agent's node-local store of secrets and configs: what the leader sent
// this node because tasks assigned to it reference them
// (proto/dispatcher.proto, SessionMessage.secrets/configs), in memory only,
// never on a disk and never logged (ids and names only, never data). A
// complete set replaces what is held; changes add the newly referenced and
// drop the ids no task references any more.
//
// When a task is prepared, its references are resolved here into the files its
// container reads (TaskFile, with the data); the executor writes them to a
// tmpfs (exec/docker/task-files.ts).
import type { Config, FileReference, Secret, Task } from '../api/objects.js';
import { configFilePath, secretFilePath } from '../api/validate.js';
import type { TaskFile } from './exec/executor.js';

/** The secrets and configs of one assignment message (the whole set's, or what changed). */
export interface AssignedFiles {
  secrets: readonly Secret[];
  removedSecretIds: readonly string[];
  configs: readonly Config[];
  removedConfigIds: readonly string[];
}

export const NO_FILES: AssignedFiles = Object.freeze({ secrets: [], removedSecretIds: [], configs: [], removedConfigIds: [] });

/** A task references a secret or config this node does not hold: the task cannot be prepared (REJECTED). */
export class MissingFileError extends Error {
  constructor(kind: 'secret' | 'config', ref: FileReference) {
    super(
      `${kind} ${JSON.stringify(ref.name)} (id ${ref.id || '?'}) is not on this node: the leader did not send it (it is missing from the cluster's store: removed?), so the task cannot have its file`,
    );
    this.name = 'MissingFileError';
  }
}

export class HeldFiles {
  private readonly secrets = new Map<string, Secret>();
  private readonly configs = new Map<string, Config>();

  /**
   * Takes in one message's secrets and configs: the whole set (`complete`:
   * anything not in it is dropped), or changes. True when the ids held changed.
   */
  apply(f: AssignedFiles, complete: boolean): boolean {
    const secrets = applyTo(this.secrets, f.secrets, f.removedSecretIds, complete);
    const configs = applyTo(this.configs, f.configs, f.removedConfigIds, complete);
    return secrets || configs;
  }

  /** Forgets everything held. */
  clear(): void {
    this.secrets.clear();
    this.configs.clear();
  }

  /** The ids held, sorted (what the agent logs: never the data). */
  ids(): { secretIds: string[]; configIds: string[] } {
    return { secretIds: [...this.secrets.keys()].sort(), configIds: [...this.configs.keys()].sort() };
  }

  hasSecret(id: string): boolean {
    return this.secrets.has(id);
  }

  hasConfig(id: string): boolean {
    return this.configs.has(id);
  }

  /**
   * The files of `task`'s container: its secrets, then its configs, in the
   * order of its spec's references. MissingFileError when this node does not
   * hold one of them.
   */
  forTask(task: Task): TaskFile[] {
    const c = task.spec.container;
    const out: TaskFile[] = [];
    for (const r of c.secrets ?? []) {
      const s = this.secrets.get(r.id);
      if (!s) throw new MissingFileError('secret', r);
      out.push(fileOf('secret', r, s, secretFilePath(r.target || r.name)));
    }
    for (const r of c.configs ?? []) {
      const x = this.configs.get(r.id);
      if (!x) throw new MissingFileError('config', r);
      out.push(fileOf('config', r, x, configFilePath(r.target || r.name)));
    }
    return out;
  }
}

/** Whether a task has any secret or config to be given. */
export function hasFiles(task: Task): boolean {
  const c = task.spec.container;
  return (c.secrets?.length ?? 0) > 0 || (c.configs?.length ?? 0) > 0;
}

function fileOf(kind: 'secret' | 'config', r: FileReference, o: Secret | Config, path: string): TaskFile {
  return { kind, id: o.id, name: o.spec.name, path, uid: Number(r.uid || '0'), gid: Number(r.gid || '0'), mode: r.mode, data: Buffer.from(o.spec.data, 'base64') };
}

function applyTo<T extends { id: string }>(held: Map<string, T>, added: readonly T[], removed: readonly string[], complete: boolean): boolean {
  let changed = false;
  if (complete) {
    const keep = new Set(added.map((o) => o.id));
    for (const id of [...held.keys()]) {
      if (!keep.has(id)) {
        held.delete(id);
        changed = true;
      }
    }
  } else {
    for (const id of removed) if (held.delete(id)) changed = true;
  }
  for (const o of added) {
    if (!held.has(o.id)) changed = true;
    held.set(o.id, o);
  }
  return changed;
}
