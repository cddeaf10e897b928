// Cluster events (`flotilla events`, the Control API's Events stream): their
// shape, which is docker's (Type, Action, Actor{ID, Attributes}, swarm scope,
// time), the filters docker's `events --filter` takes, and the conversion to
// and from the wire. Shared by the manager, which filters before it sends, and
// the CLI, which checks the filters before it asks.
import { quoteValue, ValidationError } from './input.js';
import type { control } from './wire.js';

/** The kinds of object an event is about: docker's swarm types plus 'task' (beyond docker). */
export const EVENT_TYPES = ['service', 'node', 'task', 'secret', 'config', 'network'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** docker's swarm actions (swarmkit's WatchActionKind create, update, remove). */
export const EVENT_ACTIONS = ['create', 'update', 'remove'] as const;
export type EventAction = (typeof EVENT_ACTIONS)[number];

export interface ClusterEvent {
  type: EventType;
  action: EventAction;
  actor: { id: string; attributes: Record<string, string> };
  /** Milliseconds since the epoch. */
  timeMs: number;
  /** Raft index of the change; 0 for what a manager observed itself (a leader change). */
  index: number;
}

/** The filter keys `events --filter` takes (docker's, for the types flotilla has). */
export const EVENT_FILTER_KEYS = ['type', 'service', 'node', 'event'] as const;
export type EventFilterKey = (typeof EVENT_FILTER_KEYS)[number];
/** Values per key: values of one key are OR'ed, different keys AND'ed (docker's semantics). */
export type EventFilters = Partial<Record<EventFilterKey, readonly string[]>>;

/** At most this many filter values in one request (a bound on the work per event). */
export const MAX_EVENT_FILTERS = 64;
const MAX_FILTER_VALUE = 256;

/** Filters from KEY=VALUE pairs; a ValidationError (field 'filters') names the first bad one. */
export function parseEventFilters(pairs: readonly (readonly [string, string])[]): EventFilters {
  if (pairs.length > MAX_EVENT_FILTERS) throw new ValidationError('filters', 'too-many', `at most ${MAX_EVENT_FILTERS} filters, got ${pairs.length}`);
  const out: Partial<Record<EventFilterKey, string[]>> = {};
  pairs.forEach(([key, value], i) => {
    const field = `filters[${i}]`;
    if (!(EVENT_FILTER_KEYS as readonly string[]).includes(key)) {
      throw new ValidationError(field, 'unknown-key', `unknown filter ${quoteValue(key)}: use ${EVENT_FILTER_KEYS.join(', ')}`);
    }
    const k = key as EventFilterKey;
    if (value === '' || value.length > MAX_FILTER_VALUE) throw new ValidationError(field, 'value', `${k}= needs a value of 1 to ${MAX_FILTER_VALUE} characters`);
    if (k === 'type' && !(EVENT_TYPES as readonly string[]).includes(value)) {
      throw new ValidationError(field, 'unknown-type', `unknown event type ${quoteValue(value)}: use ${EVENT_TYPES.join(', ')}`);
    }
    if (k === 'event' && !(EVENT_ACTIONS as readonly string[]).includes(value)) {
      throw new ValidationError(field, 'unknown-event', `unknown event ${quoteValue(value)}: use ${EVENT_ACTIONS.join(', ')}`);
    }
    (out[k] ??= []).push(value);
  });
  return out;
}

/** docker's FuzzyMatch: no values passes; else a value equal to, or a prefix of, one of the sources. */
function fuzzy(values: readonly string[] | undefined, sources: readonly (string | undefined)[]): boolean {
  if (values === undefined) return true;
  return values.some((v) => sources.some((s) => s !== undefined && s !== '' && s.startsWith(v)));
}

/**
 * Whether `ev` passes `f`. As docker: type= and event= match exactly;
 * service= and node= match an id or a name, exactly or by prefix, and only
 * events about a service (a node): a task's events count as its service's
 * and its node's (tasks are beyond docker), every other type is left out.
 */
export function eventMatches(f: EventFilters, ev: ClusterEvent): boolean {
  if (f.type && !f.type.includes(ev.type)) return false;
  if (f.event && !f.event.includes(ev.action)) return false;
  const a = ev.actor.attributes;
  if (f.service) {
    if (ev.type === 'service' && !fuzzy(f.service, [ev.actor.id, a.name])) return false;
    if (ev.type === 'task' && !fuzzy(f.service, [a['service.id'], a['service.name']])) return false;
    if (ev.type !== 'service' && ev.type !== 'task') return false;
  }
  if (f.node) {
    if (ev.type === 'node' && !fuzzy(f.node, [ev.actor.id, a.name])) return false;
    if (ev.type === 'task' && !fuzzy(f.node, [a['node.id'], a['node.name']])) return false;
    if (ev.type !== 'node' && ev.type !== 'task') return false;
  }
  return true;
}

// ------------------------------------------------------------ wire

export function eventToProto(ev: ClusterEvent): control.Event__Output {
  return { type: ev.type, action: ev.action, actor: { id: ev.actor.id, attributes: { ...ev.actor.attributes } }, timeMs: ev.timeMs, index: ev.index };
}

/** An event as the manager sent it; a ValidationError when it is not one. */
export function eventFromProto(x: control.Event__Output): ClusterEvent {
  if (!(EVENT_TYPES as readonly string[]).includes(x.type)) throw new ValidationError('type', 'unknown-type', `unknown event type ${quoteValue(x.type)}`);
  if (!(EVENT_ACTIONS as readonly string[]).includes(x.action)) throw new ValidationError('action', 'unknown-event', `unknown event ${quoteValue(x.action)}`);
  if (!Number.isSafeInteger(x.timeMs) || !Number.isSafeInteger(x.index)) throw new ValidationError('timeMs', 'int64', 'time and index must be safe integers');
  return { type: x.type as EventType, action: x.action as EventAction, actor: { id: x.actor?.id ?? '', attributes: { ...(x.actor?.attributes ?? {}) } }, timeMs: x.timeMs, index: x.index };
}

export interface EventsQuery {
  /** Absent: live events only. */
  sinceMs?: number;
  /** Absent: live until cancelled. */
  untilMs?: number;
  filters: EventFilters;
}

/** Field presence of a proto3 `optional` int64, checked to be a safe integer. */
function optionalTime(x: unknown, field: string): number | undefined {
  if (x === undefined || x === null) return undefined;
  if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) throw new ValidationError(field, 'time', `must be milliseconds since the epoch, got ${quoteValue(String(x))}`);
  return x;
}

export function eventsRequestFromProto(x: control.EventsRequest__Output): EventsQuery {
  const sinceMs = optionalTime(x.sinceMs, 'sinceMs');
  const untilMs = optionalTime(x.untilMs, 'untilMs');
  const filters = parseEventFilters((x.filters ?? []).map((f) => [f.key, f.value] as const));
  return { ...(sinceMs !== undefined ? { sinceMs } : {}), ...(untilMs !== undefined ? { untilMs } : {}), filters };
}

export function eventsRequestToProto(q: EventsQuery): control.EventsRequest {
  const filters = Object.entries(q.filters).flatMap(([key, values]) => (values ?? []).map((value) => ({ key, value })));
  return { ...(q.sinceMs !== undefined ? { sinceMs: q.sinceMs } : {}), ...(q.untilMs !== undefined ? { untilMs: q.untilMs } : {}), filters };
}
