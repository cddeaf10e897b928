// The proto enums and the store's string values, number by number. Each table
// is a Record over the generated enum's numbers, so a value added to a proto
// enum and not mapped here fails the type check. Task states need no table:
// they travel with their SwarmKit numbers, the store's own (objects.ts).
import type {
  FailureAction,
  MountType,
  NodeAvailability,
  NodeRole,
  NodeState,
  PortProtocol,
  PublishMode,
  Reachability,
  RestartCondition,
  TaskHealth,
  UpdateOrder,
  UpdateState,
  CanaryState,
  LbPolicy,
  ProxyProtocol,
  ResolutionMode,
} from './objects.js';
import { quoteValue, ValidationError } from './input.js';
import type { control } from './wire.js';

/** One proto enum: the store value at each number, and back. */
export interface EnumTable<P extends number, T extends string> {
  readonly byNumber: ReadonlyMap<number, T>;
  readonly byValue: ReadonlyMap<T, P>;
}

function table<P extends number, T extends string>(byNumber: Record<P, T>): EnumTable<P, T> {
  // Integer keys enumerate in ascending order: the order error messages list them in.
  const entries = Object.entries(byNumber).map(([n, v]) => [Number(n) as P, v as T] as const);
  return { byNumber: new Map(entries), byValue: new Map(entries.map(([n, v]) => [v, n])) };
}

export const NODE_ROLES = table<control.NodeRole__Output, NodeRole>({ 0: 'worker', 1: 'manager' });
export const NODE_AVAILABILITIES = table<control.NodeAvailability__Output, NodeAvailability>({ 0: 'active', 1: 'pause', 2: 'drain' });
export const NODE_STATES = table<control.NodeState__Output, NodeState>({ 0: 'unknown', 1: 'down', 2: 'ready' });
export const REACHABILITIES = table<control.Reachability__Output, Reachability>({ 0: 'unknown', 1: 'unreachable', 2: 'reachable' });
export const TASK_HEALTHS = table<control.TaskHealth__Output, TaskHealth>({ 0: 'none', 1: 'starting', 2: 'healthy', 3: 'unhealthy' });
export const MOUNT_TYPES = table<control.MountType__Output, MountType>({ 0: 'bind', 1: 'volume' });
export const RESTART_CONDITIONS = table<control.RestartCondition__Output, RestartCondition>({ 0: 'none', 1: 'on-failure', 2: 'any' });
export const FAILURE_ACTIONS = table<control.FailureAction__Output, FailureAction>({ 0: 'pause', 1: 'continue', 2: 'rollback' });
export const UPDATE_ORDERS = table<control.UpdateOrder__Output, UpdateOrder>({ 0: 'stop-first', 1: 'start-first' });
export const UPDATE_STATES = table<Exclude<control.UpdateState__Output, 0>, UpdateState>({
  1: 'updating',
  2: 'paused',
  3: 'completed',
  4: 'rollback_started',
  5: 'rollback_paused',
  6: 'rollback_completed',
});
export const CANARY_STATES = table<control.CanaryState__Output, CanaryState>({ 0: 'none', 1: 'deploying', 2: 'awaiting_promotion', 3: 'promoted' });
export const PORT_PROTOCOLS = table<control.PortProtocol__Output, PortProtocol>({ 0: 'tcp', 1: 'udp' });
export const PUBLISH_MODES = table<control.PublishMode__Output, PublishMode>({ 0: 'ingress', 1: 'host' });
export const LB_POLICIES = table<control.LbPolicy__Output, LbPolicy>({ 0: 'round-robin', 1: 'least-conn', 2: 'random', 3: 'weighted' });
export const PROXY_PROTOCOLS = table<control.ProxyProtocol__Output, ProxyProtocol>({ 0: 'none', 1: 'v1', 2: 'v2' });
export const RESOLUTION_MODES = table<control.ResolutionMode__Output, ResolutionMode>({ 0: 'vip', 1: 'dnsrr' });

export function enumToProto<P extends number, T extends string>(t: EnumTable<P, T>, value: T): P {
  const n = t.byValue.get(value);
  if (n === undefined) throw new Error(`no proto enum value for ${JSON.stringify(value)}`);
  return n;
}

/** The store value for a received enum number; a ValidationError naming `field` if there is none. */
export function enumFromProto<P extends number, T extends string>(t: EnumTable<P, T>, value: unknown, field: string): T {
  const v = typeof value === 'number' ? t.byNumber.get(value) : undefined;
  if (v === undefined) {
    const known = [...t.byNumber].map(([n, s]) => `${n} (${s})`).join(', ');
    throw new ValidationError(field, 'enum', `must be one of ${known} (got ${quoteValue(value)})`);
  }
  return v;
}

export function nodeRoleToProto(role: NodeRole): control.NodeRole__Output {
  return enumToProto(NODE_ROLES, role);
}
export function nodeRoleFromProto(value: unknown, field = 'role'): NodeRole {
  return enumFromProto(NODE_ROLES, value, field);
}
export function nodeAvailabilityToProto(a: NodeAvailability): control.NodeAvailability__Output {
  return enumToProto(NODE_AVAILABILITIES, a);
}
export function nodeAvailabilityFromProto(value: unknown, field = 'availability'): NodeAvailability {
  return enumFromProto(NODE_AVAILABILITIES, value, field);
}
export function reachabilityToProto(r: Reachability): control.Reachability__Output {
  return enumToProto(REACHABILITIES, r);
}
