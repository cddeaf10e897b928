// The Control service's name and methods: what both its servers (proto.ts)
// and the CLI's light client (control-client.ts) name, in a module that loads
// nothing, so that neither imports the other.
export const CONTROL_SERVICE_NAME = 'flotilla.control.Control';

export const CONTROL_METHODS = [
  'GetNode',
  'ListNodes',
  'UpdateNode',
  'RemoveNode',
  'CreateService',
  'GetService',
  'ListServices',
  'UpdateService',
  'PromoteService',
  'RemoveService',
  'ListTasks',
  'CreateNetwork',
  'GetNetwork',
  'ListNetworks',
  'RemoveNetwork',
  'CreateSecret',
  'GetSecret',
  'ListSecrets',
  'UpdateSecret',
  'RemoveSecret',
  'RotateSecret',
  'CreateConfig',
  'GetConfig',
  'ListConfigs',
  'UpdateConfig',
  'RemoveConfig',
  'RotateConfig',
  'GetCluster',
  'UpdateCluster',
  'GetJoinTokens',
  'RotateJoinToken',
  'ClusterInfo',
  'GetUnlockKey',
  'RotateUnlockKey',
  'UnlockNode',
  'Events',
  'SubscribeLogs',
  'ConsoleLogin',
] as const;
export type ControlMethod = (typeof CONTROL_METHODS)[number];
/** The Control methods that answer with a stream of messages (every other one answers once). */
export const CONTROL_STREAM_METHODS = ['Events', 'SubscribeLogs'] as const satisfies readonly ControlMethod[];
export type ControlStreamMethod = (typeof CONTROL_STREAM_METHODS)[number];
export type ControlUnaryMethod = Exclude<ControlMethod, ControlStreamMethod>;
/** True for a Control method that answers once. */
export function isUnaryControlMethod(m: ControlMethod): m is ControlUnaryMethod {
  return !(CONTROL_STREAM_METHODS as readonly string[]).includes(m);
}
export const CONTROL_UNARY_METHODS: readonly ControlUnaryMethod[] = CONTROL_METHODS.filter(isUnaryControlMethod);
/**
 * The unary methods the manager a client talks to answers itself, never
 * forwarded to the leader: a console login link is good only on the manager
 * that serves that console.
 */
export const CONTROL_LOCAL_METHODS = ['ConsoleLogin'] as const satisfies readonly ControlUnaryMethod[];
export type ControlLocalMethod = (typeof CONTROL_LOCAL_METHODS)[number];
/** The unary methods the leader answers (a follower forwards them). */
export type ControlLeaderMethod = Exclude<ControlUnaryMethod, ControlLocalMethod>;
export const CONTROL_LEADER_METHODS: readonly ControlLeaderMethod[] = CONTROL_UNARY_METHODS.filter((m): m is ControlLeaderMethod => !(CONTROL_LOCAL_METHODS as readonly string[]).includes(m));
