// What a committed store change means as cluster events: pure functions of
// the change (the object before and after), the names the store knows, and
// the manager's clock (for a removal only, as docker). docker's shapes
// (moby daemon/events.go, logServiceEvent / logNodeEvent / ...): an update
// carries `X.old`/`X.new` attributes for what changed that an operator
// follows (image, replicas, update state; a node's state, availability,
// role); every update of a service, node, network, secret or config is an
// event, as in docker. Beyond docker: tasks, whose events are their state
// changes (observed, desired, health) only, not every write of a task, and
// leader changes (a node update with leader.old/new, as docker shows them).
import type { ClusterEvent, EventAction, EventType } from '../../api/events.js';
import { taskStateName, type Node, type Service, type Task } from '../../api/objects.js';
import type { ObjectEvent } from '../store/watch.js';

/** What the mapping reads besides the change: a node's name (its hostname) by id. */
export interface EventNames {
  nodeName(id: string): string | undefined;
}

const ACTION: Record<ObjectEvent['op'], EventAction> = { create: 'create', update: 'update', delete: 'remove' };

/** docker's eventTimestamp: created at, updated at, or (a removal carries no time) now. */
function timeOf(ev: ObjectEvent, nowMs: number): number {
  if (ev.op === 'delete') return nowMs;
  return ev.op === 'create' ? ev.object.createdAt : ev.object.updatedAt;
}

function one(type: EventType, ev: ObjectEvent, attributes: Record<string, string>, nowMs: number): ClusterEvent[] {
  return [{ type, action: ACTION[ev.op], actor: { id: ev.object.id, attributes }, timeMs: timeOf(ev, nowMs), index: ev.index }];
}

/** `attrs[key.old]`, `attrs[key.new]` when the two differ. */
function changed(attrs: Record<string, string>, key: string, before: string, after: string): void {
  if (before === after) return;
  attrs[`${key}.old`] = before;
  attrs[`${key}.new`] = after;
}

const replicasOf = (s: Service): string | undefined => ('replicated' in s.spec.mode ? String(s.spec.mode.replicated.replicas) : undefined);

function serviceAttributes(s: Service, old: Service | undefined): Record<string, string> {
  const attrs: Record<string, string> = { name: s.spec.name };
  if (!old) return attrs;
  changed(attrs, 'image', old.spec.taskTemplate.container.image, s.spec.taskTemplate.container.image);
  const [r0, r1] = [replicasOf(old), replicasOf(s)];
  if (r0 !== undefined && r1 !== undefined) changed(attrs, 'replicas', r0, r1);
  if (s.updateStatus) {
    if (!old.updateStatus) attrs['updatestate.new'] = s.updateStatus.state;
    else changed(attrs, 'updatestate', old.updateStatus.state, s.updateStatus.state);
    // Beyond docker: the canary phase of an update (issue 15).
    changed(attrs, 'canary', old.updateStatus?.canary ?? 'none', s.updateStatus.canary);
  }
  return attrs;
}

function nodeAttributes(n: Node, old: Node | undefined): Record<string, string> {
  const attrs: Record<string, string> = { name: n.description.hostname };
  if (!old) return attrs;
  changed(attrs, 'availability', old.availability, n.availability);
  changed(attrs, 'role', old.role, n.role);
  changed(attrs, 'state', old.status.state, n.status.state);
  return attrs;
}

/** A task's name as `service ps` shows it: SERVICE.SLOT, or SERVICE.NODEID for a global service's task. */
export function taskEventName(t: Task): string {
  return `${t.serviceAnnotations.name}.${t.slot > 0 ? t.slot : t.nodeId}`;
}

const state = (s: number): string => taskStateName(s).toLowerCase();

function taskAttributes(t: Task, names: EventNames): Record<string, string> {
  const attrs: Record<string, string> = { name: taskEventName(t), 'service.id': t.serviceId, 'service.name': t.serviceAnnotations.name, state: state(t.status.state), desiredstate: state(t.desiredState) };
  if (t.nodeId) {
    attrs['node.id'] = t.nodeId;
    const host = names.nodeName(t.nodeId);
    if (host) attrs['node.name'] = host;
  }
  if (t.slot > 0) attrs.slot = String(t.slot);
  if (t.status.err) attrs.error = t.status.err;
  return attrs;
}

/** A task update is an event when its observed state, desired state, health or node changed. */
function taskEvents(ev: ObjectEvent & { kind: 'task' }, names: EventNames, nowMs: number): ClusterEvent[] {
  const t = ev.object;
  const attrs = taskAttributes(t, names);
  const old = ev.old;
  if (ev.op === 'update' && old) {
    changed(attrs, 'state', state(old.status.state), state(t.status.state));
    changed(attrs, 'desiredstate', state(old.desiredState), state(t.desiredState));
    changed(attrs, 'health', old.status.health, t.status.health);
    changed(attrs, 'node', old.nodeId, t.nodeId);
    if (!Object.keys(attrs).some((k) => k.endsWith('.new'))) return [];
  }
  return one('task', ev, attrs, nowMs);
}

/** The events of one committed change (none for the cluster object: docker has no such events). */
export function eventsOfChange(ev: ObjectEvent, names: EventNames, nowMs: number): ClusterEvent[] {
  switch (ev.kind) {
    case 'service':
      return one('service', ev, serviceAttributes(ev.object, ev.op === 'update' ? ev.old : undefined), nowMs);
    case 'node':
      return one('node', ev, nodeAttributes(ev.object, ev.op === 'update' ? ev.old : undefined), nowMs);
    case 'task':
      return taskEvents(ev, names, nowMs);
    case 'secret':
    case 'config':
    case 'network':
      return one(ev.kind, ev, { name: ev.object.spec.name }, nowMs);
    case 'cluster':
      return [];
  }
}

/** Who leads, as one manager's Raft saw it. */
export interface LeaderView {
  leader: string;
  term: number;
}

/**
 * The events of a change of leader that this manager observed: the new
 * leader's node goes leader false -> true and the previous one's true ->
 * false (docker's node update attributes), with the term beyond docker.
 * None while there is no leader (an election), nor for the same leader
 * seen again.
 */
export function leaderChangeEvents(prev: LeaderView | null, next: LeaderView, names: EventNames, nowMs: number): ClusterEvent[] {
  if (next.leader === '' || (prev && prev.leader === next.leader)) return [];
  const ev = (id: string, was: boolean): ClusterEvent => {
    const name = names.nodeName(id);
    const attributes = { ...(name ? { name } : {}), 'leader.old': String(was), 'leader.new': String(!was), term: String(next.term) };
    return { type: 'node', action: 'update', actor: { id, attributes }, timeMs: nowMs, index: 0 };
  };
  const out: ClusterEvent[] = [];
  if (prev && prev.leader !== '') out.push(ev(prev.leader, true));
  out.push(ev(next.leader, false));
  return out;
}
