// What one session's agent holds of its node's assignment set, and what to
// send it next. A session starts with the complete set; afterwards an agent
// that reads incremental messages gets only what changed for it (tasks new in
// the set or changed in what it must do, ids of tasks that left), and one that
// does not gets the complete set again, as before. Either way nothing is sent
// when nothing changed for the agent.
//
// The tasks are the store's frozen objects: a task that did not change is the
// same object, so most of a diff is a reference comparison.
//
// With the tasks go the secrets and configs they reference (files.ts): all of
// them with a complete set, those newly referenced and the ids no longer
// referenced with changes. A message may carry only those (a task that ended
// references nothing any more, though the agent made that change itself).
import { TaskState, type Task } from '../../api/objects.js';
import { isEmptyDelta, NodeFiles, type FileDelta, type FileLookup } from './files.js';

export interface AssignmentMessage {
  /** false: `tasks` is the complete set. */
  incremental: boolean;
  tasks: readonly Task[];
  removedTaskIds: string[];
  /** The secrets and configs: all that the tasks reference (complete set), or what changed. */
  files: FileDelta;
}

const NO_FILES: FileLookup = { secret: () => undefined, config: () => undefined };

export class SessionAssignments {
  /** What the agent holds, by task id. */
  private readonly held = new Map<string, Task>();
  /** The secrets and configs the held tasks reference, and those the agent holds. */
  readonly files: NodeFiles;

  constructor(
    readonly incremental: boolean,
    lookup: FileLookup = NO_FILES,
  ) {
    this.files = new NodeFiles(lookup);
  }

  /** The complete set, which the agent then holds. */
  full(current: readonly Task[]): AssignmentMessage {
    this.held.clear();
    this.files.clear();
    for (const t of current) {
      this.held.set(t.id, t);
      this.files.set(t);
    }
    return { incremental: false, tasks: current, removedTaskIds: [], files: this.files.complete() };
  }

  /**
   * For an incremental agent: the message for the tasks `ids` (those that
   * changed on this node or left it), as stored now, or null when nothing
   * changed for the agent. Costs what changed, not the node's whole set.
   */
  nextFor(ids: Iterable<string>, stored: (id: string) => Task | undefined, nodeId: string): AssignmentMessage | null {
    const changed: Task[] = [];
    const removedTaskIds: string[] = [];
    for (const id of ids) {
      const t = stored(id);
      const had = this.held.get(id);
      if (t !== undefined && t.nodeId === nodeId && t.status.state >= TaskState.ASSIGNED) {
        if (had === t) continue;
        this.held.set(id, t);
        this.files.set(t);
        if (had === undefined || !sameAssignment(had, t)) changed.push(t);
      } else if (had !== undefined) {
        this.held.delete(id);
        this.files.delete(id);
        removedTaskIds.push(id);
      }
    }
    const files = this.files.changes();
    if (changed.length === 0 && removedTaskIds.length === 0 && isEmptyDelta(files)) return null;
    return { incremental: true, tasks: changed, removedTaskIds, files };
  }

  /** The message that brings the agent from what it holds to `current`, or null when nothing changed for it. */
  next(current: readonly Task[]): AssignmentMessage | null {
    const changed: Task[] = [];
    const seen = new Set<string>();
    for (const t of current) {
      seen.add(t.id);
      const had = this.held.get(t.id);
      if (had === t) continue;
      this.held.set(t.id, t);
      this.files.set(t);
      if (had === undefined || !sameAssignment(had, t)) changed.push(t);
    }
    const removedTaskIds: string[] = [];
    for (const id of this.held.keys()) if (!seen.has(id)) removedTaskIds.push(id);
    for (const id of removedTaskIds) {
      this.held.delete(id);
      this.files.delete(id);
    }
    const files = this.files.changes();
    if (changed.length === 0 && removedTaskIds.length === 0 && isEmptyDelta(files)) return null;
    if (this.incremental) return { incremental: true, tasks: changed, removedTaskIds, files };
    // A complete set carries every secret and config its tasks reference (the agent drops the others).
    return { incremental: false, tasks: current, removedTaskIds: [], files: this.files.complete() };
  }
}

/**
 * The same work for the agent: only the observed status (or bookkeeping)
 * differs, and it was already assigned. The agent reads a task's observed
 * status only when it first gets the task (where to resume from), so a status
 * change alone is not sent: the agent made it.
 */
export function sameAssignment(a: Task, b: Task): boolean {
  if (a.nodeId !== b.nodeId || a.desiredState !== b.desiredState || a.specVersion !== b.specVersion) return false;
  if ((a.status.state >= TaskState.ASSIGNED) !== (b.status.state >= TaskState.ASSIGNED)) return false;
  // A status action keeps the stored spec objects as they are: compare references first, text only if they differ.
  return (a.spec === b.spec || JSON.stringify(a.spec) === JSON.stringify(b.spec)) && (a.endpoint === b.endpoint || JSON.stringify(a.endpoint) === JSON.stringify(b.endpoint));
}
