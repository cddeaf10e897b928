// What the CLI says when something fails: one line on stderr starting with
// "flotilla: " that says what went wrong and what to do, and an exit code
// (1 for failures, 2 for mistakes on the command line). Never a stack trace.
import * as grpc from './grpc-codes.js';
import { ValidationError } from '../api/input.js';
import { escapeInvisible, UsageError } from './args.js';

/** A failure the command already described; `exitCode` defaults to 1. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** A failed Control API call, with the gRPC status the manager (or grpc-js) gave. */
export class RpcError extends Error {
  override readonly name = 'RpcError';
  constructor(
    readonly method: string,
    readonly code: grpc.status,
    readonly details: string,
    readonly metadata: grpc.Metadata,
  ) {
    super(`${method}: ${grpc.status[code] ?? code}: ${details}`);
  }

  /** A metadata value as a string ('' when absent). */
  meta(key: string): string {
    const v = this.metadata.get(key)[0];
    return v === undefined ? '' : typeof v === 'string' ? v : v.toString('utf8');
  }
}

/** Where the CLI was talking to, for the messages. */
export interface ErrorContext {
  /** 'unix:///var/lib/flotilla/control.sock' or '10.0.0.1:4242'. */
  target: string;
  kind: 'unix' | 'tcp';
  dataDir: string;
  timeoutMs: number;
}

// Store field paths (from the validators, or the `field` metadata of an
// INVALID_ARGUMENT) to the flag that sets them; the longest prefix wins.
const FIELD_FLAGS: [string, string][] = [
  ['spec.name', '--name'],
  ['spec.labels', '--label'],
  ['spec.taskTemplate.container.labels', '--container-label'],
  ['spec.taskTemplate.container.expose', '--expose'],
  ['spec.taskTemplate.container.image', 'IMAGE'],
  ['spec.taskTemplate.container.command', '--entrypoint'],
  ['spec.taskTemplate.container.args', 'COMMAND/ARG'],
  ['spec.taskTemplate.container.env', '--env'],
  ['spec.taskTemplate.container.dir', '--workdir'],
  ['spec.taskTemplate.container.user', '--user'],
  ['spec.taskTemplate.container.mounts', '--mount'],
  ['spec.taskTemplate.container.secrets', '--secret'],
  ['spec.taskTemplate.container.configs', '--config'],
  ['spec.taskTemplate.container.healthcheck', '--health-cmd'],
  ['spec.taskTemplate.container.healthcheck.test', '--health-cmd'],
  ['spec.taskTemplate.container.healthcheck.intervalMs', '--health-interval'],
  ['spec.taskTemplate.container.healthcheck.timeoutMs', '--health-timeout'],
  ['spec.taskTemplate.container.healthcheck.retries', '--health-retries'],
  ['spec.taskTemplate.container.healthcheck.startPeriodMs', '--health-start-period'],
  ['spec.taskTemplate.container.stopGracePeriodMs', '--stop-grace-period'],
  ['spec.taskTemplate.resources.limits.nanoCpus', '--limit-cpu'],
  ['spec.taskTemplate.resources.limits.memoryBytes', '--limit-memory'],
  ['spec.taskTemplate.resources.reservations.nanoCpus', '--reserve-cpu'],
  ['spec.taskTemplate.resources.reservations.memoryBytes', '--reserve-memory'],
  ['spec.taskTemplate.restartPolicy.condition', '--restart-condition'],
  ['spec.taskTemplate.restartPolicy.delayMs', '--restart-delay'],
  ['spec.taskTemplate.restartPolicy.maxAttempts', '--restart-max-attempts'],
  ['spec.taskTemplate.restartPolicy.windowMs', '--restart-window'],
  ['spec.taskTemplate.restartPolicy.maxDelayMs', '--restart-max-delay'],
  ['spec.updateConfig.canary', '--update-canary'],
  ['spec.updateConfig.autoPromote', '--update-auto-promote'],
  ['spec.updateConfig.progressDeadlineMs', '--update-progress-deadline'],
  ['spec.taskTemplate.placement.constraints', '--constraint'],
  ['spec.taskTemplate.placement.preferences', '--placement-pref'],
  ['spec.taskTemplate.placement.maxReplicas', '--replicas-max-per-node'],
  ['spec.mode', '--mode'],
  ['spec.mode.replicated.replicas', '--replicas'],
  ['spec.endpoint', '--publish'],
  ['spec.endpoint.mode', '--endpoint-mode'],
  ['spec.endpoint.lbPolicy', '--lb-policy'],
  ['spec.endpoint.proxyProtocol', '--proxy-protocol'],
  ['spec.endpoint.drainPeriodMs', '--drain-period'],
  ['spec.taskTemplate.networks', '--network'],
  ['spec.taskTemplate.networkAliases', '--network'],
  ['spec.taskTemplate.lbWeight', '--lb-weight'],
  // cluster update
  ['spec.dispatcher.heartbeatPeriodMs', '--dispatcher-heartbeat'],
  ['spec.dispatcher.heartbeatGrace', '--heartbeat-grace'],
  ['spec.orchestration.taskHistoryRetention', '--task-history-limit'],
  ['spec.caConfig.nodeCertExpiryHours', '--cert-expiry'],
  // node update (UpdateNodeRequest fields)
  ['labelsAdd', '--label-add'],
  ['labelsRm', '--label-rm'],
  ...(['update', 'rollback'] as const).flatMap((k): [string, string][] => [
    [`spec.${k}Config.parallelism`, `--${k}-parallelism`],
    [`spec.${k}Config.delayMs`, `--${k}-delay`],
    [`spec.${k}Config.failureAction`, `--${k}-failure-action`],
    [`spec.${k}Config.monitorMs`, `--${k}-monitor`],
    [`spec.${k}Config.maxFailureRatio`, `--${k}-max-failure-ratio`],
    [`spec.${k}Config.order`, `--${k}-order`],
  ]),
];

/** The flag that sets a store field ('spec.taskTemplate.resources.limits.memoryBytes' → '--limit-memory'), if any. */
export function flagForField(field: string, overrides: Readonly<Record<string, string>> = {}): string | undefined {
  const plain = field.replace(/\[[^\]]*\]/g, '');
  let best: [string, string] | undefined;
  for (const [prefix, flag] of FIELD_FLAGS) {
    if ((plain === prefix || plain.startsWith(`${prefix}.`)) && (!best || prefix.length > best[0].length)) best = [prefix, flag];
  }
  if (!best) return undefined;
  return overrides[best[1]] ?? best[1];
}

/** The detail of a ValidationError message ('field: detail [rule]' → 'detail'). */
export function validationDetail(message: string, field: string, rule: string): string {
  let s = message;
  const head = `${field || '(root)'}: `;
  if (s.startsWith(head)) s = s.slice(head.length);
  const tail = ` [${rule}]`;
  if (s.endsWith(tail)) s = s.slice(0, -tail.length);
  return s;
}

/** A ValidationError from building a spec out of flags, as a UsageError naming the flag. */
export function validationToUsage(err: ValidationError, overrides: Readonly<Record<string, string>> = {}): UsageError {
  const flag = flagForField(err.field, overrides);
  const detail = validationDetail(err.message, err.field, err.rule);
  return new UsageError(flag ? `invalid ${flag}: ${detail}` : `invalid service spec: ${err.message}`);
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/** The one-line message for a failed call (without the "flotilla: " prefix). */
export function describeRpcError(err: RpcError, ctx: ErrorContext): string {
  const d = err.details || grpc.status[err.code] || 'unknown error';
  switch (err.code) {
    case grpc.status.UNAVAILABLE: {
      const leaderKnown = err.metadata.get('leader-id').length > 0 || err.metadata.get('leader-term').length > 0;
      if (leaderKnown) {
        const addr = err.meta('leader-address');
        if (addr) return `the manager at ${ctx.target} is not the leader and could not forward the request (${d}): retry with --host ${addr}`;
        return `the cluster has no leader right now (${d}): retry in a few seconds; if it persists, check that a majority of the managers is up (flotilla cluster info)`;
      }
      if (ctx.kind === 'unix') return `cannot reach a manager at ${ctx.target}: is \`flotilla daemon --data-dir ${ctx.dataDir}\` running on a manager?`;
      return `cannot reach a manager at ${ctx.target} (${shortReason(d)}): check the address, and that \`flotilla daemon\` runs on that manager of the cluster of ${ctx.dataDir}`;
    }
    case grpc.status.DEADLINE_EXCEEDED:
      return `no answer from the manager at ${ctx.target} within ${seconds(ctx.timeoutMs)}: it may be overloaded or cut off from the other managers; retry, or allow more time with --timeout`;
    case grpc.status.INVALID_ARGUMENT: {
      // The manager's refusal of a flag's value in the words of the CLI's own check of it
      // (both run the same validators): `invalid --heartbeat-grace: must be an integer in 1..100 (got 1000)`.
      const field = err.meta('field');
      const flag = field ? flagForField(field) : undefined;
      if (flag) return `invalid ${flag}: ${validationDetail(d, field, err.meta('rule'))}`;
      return `the manager rejected the request: ${d}`;
    }
    case grpc.status.NOT_FOUND:
      return `${d}: check the name or id (flotilla node ls, flotilla service ls)`;
    case grpc.status.ALREADY_EXISTS:
      return `${d}: pick another name`;
    case grpc.status.ABORTED:
      return `${d}`;
    case grpc.status.FAILED_PRECONDITION:
      return `${d}`;
    case grpc.status.PERMISSION_DENIED:
    case grpc.status.UNAUTHENTICATED:
      return `the manager at ${ctx.target} refused the request (${d}): use the local control socket of a manager, or --data-dir of a manager node of this cluster`;
    case grpc.status.UNIMPLEMENTED:
      return `the manager at ${ctx.target} does not support ${err.method} (${d}): is it running an older flotilla?`;
    default:
      return `${err.method} failed at ${ctx.target}: ${d}`;
  }
}

/** grpc-js connection errors are long; keep the part that says why. */
function shortReason(details: string): string {
  const m = /Last error: (.*)$/.exec(details);
  return (m ? m[1] : details).replace(/\s*\(.*\)\s*$/, '').trim() || details;
}

/** Any error thrown by a command, as one line (without "flotilla: ") and an exit code. */
export function describeError(err: unknown, ctx?: ErrorContext): { message: string; exitCode: number } {
  if (err instanceof UsageError) return { message: err.message, exitCode: 2 };
  if (err instanceof CliError) return { message: err.message, exitCode: err.exitCode };
  if (err instanceof RpcError) {
    const c = ctx ?? { target: '(unknown)', kind: 'unix', dataDir: '(unknown)', timeoutMs: 0 };
    return { message: describeRpcError(err, c), exitCode: 1 };
  }
  if (err instanceof ValidationError) return { message: `the manager sent an object the CLI cannot read (${err.message}): are the CLI and the daemon the same version?`, exitCode: 1 };
  const msg = err instanceof Error ? err.message : String(err);
  return { message: `unexpected error: ${msg}`, exitCode: 1 };
}

/**
 * One line: newlines and runs of blanks around them become single spaces,
 * and what a terminal would break the line at or not show (other control
 * characters, line and paragraph separators, bidirectional marks, a value
 * a validator quoted as it was sent) becomes a \uXXXX escape.
 */
export function oneLine(s: string): string {
  return escapeInvisible(
    s
      .replace(/\s*\n\s*/g, ' ')
      .trim()
      // eslint-disable-next-line no-control-regex -- control characters are what is escaped
      .replace(/[\u0000-\u0008\u000b-\u001f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`),
  );
}
