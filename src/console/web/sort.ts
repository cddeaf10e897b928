// The orders docker's listings use, so the console reads like the CLI: names
// in natural order ("web2" before "web10"), tasks by slot then newest first,
// the timeline newest first. Pure (no DOM), tested under node.
import type { ClusterEvent, NodeView, ServiceView, TaskView } from './types.js';

const DIGITS = /^\d+/;

/** Natural order (github.com/fvbommel/sortorder, as docker uses): runs of digits compare as numbers. */
export function naturalCompare(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const da = DIGITS.exec(a.slice(i));
    const db = DIGITS.exec(b.slice(j));
    if (da && db) {
      const na = da[0].replace(/^0+/, '');
      const nb = db[0].replace(/^0+/, '');
      if (na.length !== nb.length) return na.length - nb.length;
      if (na !== nb) return na < nb ? -1 : 1;
      // Equal values: fewer leading zeros first, as sortorder does.
      if (da[0].length !== db[0].length) return da[0].length - db[0].length;
      i += da[0].length;
      j += db[0].length;
      continue;
    }
    if (a[i] !== b[j]) return a[i] < b[j] ? -1 : 1;
    i++;
    j++;
  }
  return a.length - i - (b.length - j);
}

/** docker service ls: by name. */
export function sortServices(services: Iterable<ServiceView>): ServiceView[] {
  return [...services].sort((a, b) => naturalCompare(a.name, b.name) || compareStrings(a.id, b.id));
}

/** docker node ls: by hostname. */
export function sortNodes(nodes: Iterable<NodeView>): NodeView[] {
  return [...nodes].sort((a, b) => naturalCompare(a.hostname, b.hostname) || compareStrings(a.id, b.id));
}

const TERMINAL_DESIRED = new Set(['shutdown', 'remove', 'complete', 'failed', 'rejected', 'orphaned']);

/** A task the orchestrator still wants (its desired state is not one of the end states): the "current" tasks. */
export function isCurrent(t: TaskView): boolean {
  return !TERMINAL_DESIRED.has(t.desiredState);
}

/** docker service ps's order: by service name, slot (a global task: its node), then newest first. */
export function compareTasks(a: TaskView, b: TaskView): number {
  return (
    naturalCompare(a.serviceName, b.serviceName) ||
    a.slot - b.slot ||
    compareStrings(a.nodeId, b.nodeId) ||
    timeOf(b.createdAt) - timeOf(a.createdAt) ||
    compareStrings(a.id, b.id)
  );
}

/** A service's tasks for its detail page: the current ones first, then the history, each in docker's order. */
export function splitTasks(tasks: Iterable<TaskView>): { current: TaskView[]; history: TaskView[] } {
  const current: TaskView[] = [];
  const history: TaskView[] = [];
  for (const t of tasks) (isCurrent(t) ? current : history).push(t);
  current.sort(compareTasks);
  history.sort(compareTasks);
  return { current, history };
}

/** Newest first. */
export function compareTasksNewestFirst(a: TaskView, b: TaskView): number {
  return timeOf(b.createdAt) - timeOf(a.createdAt) || compareStrings(b.id, a.id);
}

/** The timeline, newest first, optionally of one type ('' for all). */
export function eventsNewestFirst(events: readonly ClusterEvent[], type: string): ClusterEvent[] {
  const out: ClusterEvent[] = [];
  for (let i = events.length - 1; i >= 0; i--) if (!type || events[i].type === type) out.push(events[i]);
  return out;
}

function timeOf(iso: string): number {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? 0 : t;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
