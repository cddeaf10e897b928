// Which secrets and configs a node needs, and what of them to send its agent
// (proto/dispatcher.proto, SessionMessage.secrets/configs): only those that
// tasks in the node's assignment set reference, each once, with its data.
//
// "A task references a secret" precisely: the task is in the node's set
// (assigned to the node, observed ASSIGNED or later: assignments.ts), its spec
// names the secret (container.secrets[].id), and the agent may still have to
// create or start its container, that is
//   - it has not ended: observed state before COMPLETE, and
//   - it is not told to stop: desired state at most RUNNING (READY counts:
//     the container is created, waiting to start).
// A task that ended (COMPLETE, FAILED, SHUTDOWN, REJECTED, ORPHANED) or is
// desired SHUTDOWN/REMOVE references nothing: its agent never creates or
// starts a container for it again. A container that is still running while it
// is being stopped keeps its files: they are on the node's tmpfs, bind-mounted,
// and go away with the container, whatever the agent holds in memory.
// Configs likewise.
//
// Pure bookkeeping, no store: the dispatcher hands in tasks and a lookup.
import { TaskState, type Config, type ContainerSpec, type Secret, type Task } from '../../api/objects.js';

/** The ids of the secrets and configs one task references (each once). */
export interface FileIds {
  readonly secrets: readonly string[];
  readonly configs: readonly string[];
}

const NONE: FileIds = Object.freeze({ secrets: Object.freeze([]), configs: Object.freeze([]) });

/** The task may still need its container's files: not ended, not told to stop (see the top of this file). */
export function referencesFiles(t: Task): boolean {
  return t.status.state < TaskState.COMPLETE && t.desiredState <= TaskState.RUNNING;
}

/** Per stored container spec (frozen, shared by a service's tasks): the ids it names. */
const specIds = new WeakMap<ContainerSpec, FileIds>();

function idsOfSpec(c: ContainerSpec): FileIds {
  if (!c.secrets?.length && !c.configs?.length) return NONE;
  let ids = specIds.get(c);
  if (ids === undefined) {
    ids = { secrets: [...new Set((c.secrets ?? []).map((r) => r.id))], configs: [...new Set((c.configs ?? []).map((r) => r.id))] };
    specIds.set(c, ids);
  }
  return ids;
}

/**
 * The secrets and configs `t` references now (none when it ended or is told to
 * stop). The same object for tasks of one spec: comparing references tells
 * whether a task's change changed what it references.
 */
export function taskFileIds(t: Task): FileIds {
  return referencesFiles(t) ? idsOfSpec(t.spec.container) : NONE;
}

/** A change of `a` into `b` changes what it references (an observed state that reached COMPLETE, ...). */
export function fileRefsChanged(a: Task, b: Task): boolean {
  return taskFileIds(a) !== taskFileIds(b);
}

/** Where the objects are read: the store, now. */
export interface FileLookup {
  secret(id: string): Secret | undefined;
  config(id: string): Config | undefined;
}

/** What an assignment message carries of secrets and configs. */
export interface FileDelta {
  secrets: Secret[];
  removedSecretIds: string[];
  configs: Config[];
  removedConfigIds: string[];
}

export function emptyDelta(): FileDelta {
  return { secrets: [], removedSecretIds: [], configs: [], removedConfigIds: [] };
}

export function isEmptyDelta(d: FileDelta): boolean {
  return d.secrets.length === 0 && d.removedSecretIds.length === 0 && d.configs.length === 0 && d.removedConfigIds.length === 0;
}

/** How many tasks reference each id, and the ids whose count left or reached 0 since they were last looked at. */
class RefCounts {
  private readonly counts = new Map<string, number>();
  readonly touched = new Set<string>();

  add(ids: readonly string[]): void {
    for (const id of ids) {
      const n = this.counts.get(id) ?? 0;
      this.counts.set(id, n + 1);
      if (n === 0) this.touched.add(id);
    }
  }

  remove(ids: readonly string[]): void {
    for (const id of ids) {
      const n = this.counts.get(id) ?? 0;
      if (n <= 1) {
        this.counts.delete(id);
        if (n === 1) this.touched.add(id);
      } else {
        this.counts.set(id, n - 1);
      }
    }
  }

  has(id: string): boolean {
    return this.counts.has(id);
  }

  ids(): IterableIterator<string> {
    return this.counts.keys();
  }

  clear(): void {
    this.counts.clear();
    this.touched.clear();
  }
}

type Kind = 'secret' | 'config';

/**
 * One session's view: which secrets and configs the node's set references
 * (counted per task, so a change costs what changed), which of them the agent
 * holds (was sent), and so what to send next. A referenced id missing from the
 * store is not sent (its task is failed by the agent) and counts as not held.
 * A held object that changes in the store (its labels: the data never changes)
 * is not sent again.
 */
export class NodeFiles {
  private readonly byTask = new Map<string, FileIds>();
  private readonly refs: Record<Kind, RefCounts> = { secret: new RefCounts(), config: new RefCounts() };
  private readonly held: Record<Kind, Set<string>> = { secret: new Set(), config: new Set() };

  constructor(private readonly lookup: FileLookup) {}

  /** `t` as it is now (in the node's set). */
  set(t: Task): void {
    const next = taskFileIds(t);
    const prev = this.byTask.get(t.id) ?? NONE;
    if (prev === next) return;
    this.refs.secret.remove(prev.secrets);
    this.refs.config.remove(prev.configs);
    this.refs.secret.add(next.secrets);
    this.refs.config.add(next.configs);
    if (next === NONE) this.byTask.delete(t.id);
    else this.byTask.set(t.id, next);
  }

  /** The task left the node's set. */
  delete(taskId: string): void {
    const prev = this.byTask.get(taskId);
    if (!prev) return;
    this.byTask.delete(taskId);
    this.refs.secret.remove(prev.secrets);
    this.refs.config.remove(prev.configs);
  }

  /** Forget every task (a complete set follows). */
  clear(): void {
    this.byTask.clear();
    this.refs.secret.clear();
    this.refs.config.clear();
  }

  /** The ids referenced now (sorted), for tests and logs. */
  referenced(): { secrets: string[]; configs: string[] } {
    return { secrets: [...this.refs.secret.ids()].sort(), configs: [...this.refs.config.ids()].sort() };
  }

  /** The ids the agent holds (sorted). */
  sent(): { secrets: string[]; configs: string[] } {
    return { secrets: [...this.held.secret].sort(), configs: [...this.held.config].sort() };
  }

  /** Everything referenced, with its data, for a complete set: what the agent then holds. */
  complete(): FileDelta {
    const d = emptyDelta();
    this.refs.secret.touched.clear();
    this.refs.config.touched.clear();
    this.held.secret.clear();
    this.held.config.clear();
    for (const id of this.refs.secret.ids()) {
      const s = this.lookup.secret(id);
      if (s) {
        d.secrets.push(s);
        this.held.secret.add(id);
      }
    }
    for (const id of this.refs.config.ids()) {
      const c = this.lookup.config(id);
      if (c) {
        d.configs.push(c);
        this.held.config.add(id);
      }
    }
    return d;
  }

  /** What changed since the last message: the objects newly referenced, the ids no longer referenced. */
  changes(): FileDelta {
    const d = emptyDelta();
    this.changesOf('secret', d.secrets, d.removedSecretIds);
    this.changesOf('config', d.configs, d.removedConfigIds);
    return d;
  }

  private changesOf<T extends Secret | Config>(kind: Kind, added: T[], removed: string[]): void {
    const refs = this.refs[kind];
    const held = this.held[kind];
    for (const id of refs.touched) {
      if (refs.has(id)) {
        if (held.has(id)) continue;
        const o = (kind === 'secret' ? this.lookup.secret(id) : this.lookup.config(id)) as T | undefined;
        if (!o) continue;
        added.push(o);
        held.add(id);
      } else if (held.delete(id)) {
        removed.push(id);
      }
    }
    refs.touched.clear();
  }
}

/** Roughly how many bytes an object takes in a message (for cutting a message in parts). */
export function wireSize(o: Secret | Config): number {
  let n = 128 + o.id.length + o.spec.name.length + Math.ceil((o.spec.data.length * 3) / 4);
  for (const [k, v] of Object.entries(o.spec.labels)) n += k.length + v.length + 8;
  return n;
}
