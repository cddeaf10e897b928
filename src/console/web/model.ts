// The in-memory model the live stream fills: a snapshot replaces it, a patch
// upserts and removes objects. Pure (no DOM), so node's tests run it. Tasks are
// indexed by service and by node so that a detail view reads its tasks without
// scanning all of them (a view renders 1,000 tasks in one pass).
import type { ClusterEvent, ClusterView, NodeView, Patch, ServiceView, Snapshot, TaskView } from './types.js';

/** How many timeline entries the model keeps (the stream's first batch carries at most 200). */
export const MAX_EVENTS = 1000;

export interface Model {
  /** False until the first snapshot: views say "Loading" rather than "no services". */
  loaded: boolean;
  revision: number;
  cluster: ClusterView | null;
  nodes: Map<string, NodeView>;
  services: Map<string, ServiceView>;
  tasks: Map<string, TaskView>;
  tasksByService: Map<string, Set<string>>;
  tasksByNode: Map<string, Set<string>>;
  /** Oldest first, as the stream delivers them; views reverse for "newest first". */
  events: ClusterEvent[];
  eventKeys: Set<string>;
}

export function emptyModel(): Model {
  return {
    loaded: false,
    revision: 0,
    cluster: null,
    nodes: new Map(),
    services: new Map(),
    tasks: new Map(),
    tasksByService: new Map(),
    tasksByNode: new Map(),
    events: [],
    eventKeys: new Set(),
  };
}

function addToIndex(index: Map<string, Set<string>>, key: string, id: string): void {
  if (!key) return;
  let set = index.get(key);
  if (!set) index.set(key, (set = new Set()));
  set.add(id);
}

function dropFromIndex(index: Map<string, Set<string>>, key: string, id: string): void {
  const set = index.get(key);
  if (!set) return;
  set.delete(id);
  if (set.size === 0) index.delete(key);
}

function putTask(model: Model, task: TaskView): void {
  const old = model.tasks.get(task.id);
  // A task moves between nodes when it is assigned (nodeId '' -> a node): its index entries follow it.
  if (old) removeTask(model, old.id);
  model.tasks.set(task.id, task);
  addToIndex(model.tasksByService, task.serviceId, task.id);
  addToIndex(model.tasksByNode, task.nodeId, task.id);
}

function removeTask(model: Model, id: string): void {
  const old = model.tasks.get(id);
  if (!old) return;
  model.tasks.delete(id);
  dropFromIndex(model.tasksByService, old.serviceId, id);
  dropFromIndex(model.tasksByNode, old.nodeId, id);
}

/** Replaces the model's objects with a snapshot's (the timeline is kept: it is not part of a snapshot). */
export function applySnapshot(model: Model, snap: Snapshot): void {
  model.loaded = true;
  model.revision = snap.revision;
  model.cluster = snap.cluster;
  model.nodes = new Map(snap.nodes.map((n) => [n.id, n]));
  model.services = new Map(snap.services.map((s) => [s.id, s]));
  model.tasks = new Map();
  model.tasksByService = new Map();
  model.tasksByNode = new Map();
  for (const t of snap.tasks) putTask(model, t);
}

/**
 * Applies a patch. Upserts and removals are idempotent, so a repeated patch is harmless; a patch older than
 * the model (a revision below it, which only a resync could produce) is ignored so that it cannot bring back
 * stale objects. Returns whether the patch was applied.
 */
export function applyPatch(model: Model, patch: Patch): boolean {
  if (!model.loaded || patch.revision < model.revision) return false;
  model.revision = patch.revision;
  if (patch.cluster) model.cluster = patch.cluster;
  const up = patch.upsert ?? {};
  const rm = patch.remove ?? {};
  for (const n of up.nodes ?? []) model.nodes.set(n.id, n);
  for (const s of up.services ?? []) model.services.set(s.id, s);
  for (const t of up.tasks ?? []) putTask(model, t);
  for (const id of rm.nodes ?? []) model.nodes.delete(id);
  for (const id of rm.services ?? []) model.services.delete(id);
  for (const id of rm.tasks ?? []) removeTask(model, id);
  return true;
}

function eventKey(e: ClusterEvent): string {
  return `${e.time}\u0000${e.type}\u0000${e.action}\u0000${e.id}`;
}

/**
 * Adds timeline entries (newest last). A reconnect replays the last 200, so entries already held are skipped;
 * the oldest are dropped beyond MAX_EVENTS. Returns how many were new.
 */
export function applyEvents(model: Model, events: ClusterEvent[]): number {
  let added = 0;
  for (const e of events) {
    const key = eventKey(e);
    if (model.eventKeys.has(key)) continue;
    model.eventKeys.add(key);
    model.events.push(e);
    added++;
  }
  if (added > 0) {
    // A replay may interleave with what we hold: keep the list in time order.
    model.events.sort((a, b) => Date.parse(a.time) - Date.parse(b.time));
    if (model.events.length > MAX_EVENTS) {
      for (const e of model.events.splice(0, model.events.length - MAX_EVENTS)) model.eventKeys.delete(eventKey(e));
    }
  }
  return added;
}

/** The tasks of a service, in no particular order. */
export function serviceTasks(model: Model, serviceId: string): TaskView[] {
  return idsToTasks(model, model.tasksByService.get(serviceId));
}

/** The tasks on a node, in no particular order. */
export function nodeTasks(model: Model, nodeId: string): TaskView[] {
  return idsToTasks(model, model.tasksByNode.get(nodeId));
}

function idsToTasks(model: Model, ids: Set<string> | undefined): TaskView[] {
  const out: TaskView[] = [];
  for (const id of ids ?? []) {
    const t = model.tasks.get(id);
    if (t) out.push(t);
  }
  return out;
}

/** The leader's hostname, from the managers list ('' while unknown). */
export function leaderHostname(cluster: ClusterView | null): string {
  if (!cluster) return '';
  const m = cluster.managers.find((x) => x.leader) ?? cluster.managers.find((x) => x.id === cluster.leaderId);
  return m ? m.hostname : '';
}

/** A service by id, or else by name (a URL may carry either). */
export function findService(model: Model, idOrName: string): ServiceView | undefined {
  const byId = model.services.get(idOrName);
  if (byId) return byId;
  for (const s of model.services.values()) if (s.name === idOrName) return s;
  return undefined;
}

/** A node by id, or else by hostname. */
export function findNode(model: Model, idOrHostname: string): NodeView | undefined {
  const byId = model.nodes.get(idOrHostname);
  if (byId) return byId;
  for (const n of model.nodes.values()) if (n.hostname === idOrHostname) return n;
  return undefined;
}
