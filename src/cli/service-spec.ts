// From `service create` / `service update` flags to a complete ServiceSpec:
// the flags fill a draft, validateServiceSpec fills in the defaults and checks
// it, and any ValidationError becomes a UsageError naming the flag. Pure: no
// I/O, so the tests cover it directly.
import { randomBytes } from 'node:crypto';
import type { Flags, FlagSpec } from './args.js';
import {
  parseChoice,
  parseCpus,
  parseDuration,
  parseInteger,
  parseKeyValue,
  parseNumber,
  parseSize,
  splitShellWords,
  UsageError,
} from './args.js';
import type { Env } from './connection.js';
import { validationToUsage } from './errors.js';
import { QUIET_FLAG } from './format.js';
import type { HealthCheck, Mount, PortConfig, PortProtocol, PublishMode, ServiceSpec, UpdateConfig } from '../manager/store/types.js';
import { MAX_REPLICAS, ValidationError, validateServiceSpec } from '../manager/store/validate.js';

// ------------------------------------------------------------ flags

const DUR = 'DURATION';

/** Flags that set a field, for create and update alike. */
const SHARED_FLAGS: FlagSpec[] = [
  { name: 'workdir', short: 'w', kind: 'string', metavar: 'DIR', help: 'working directory inside the container' },
  { name: 'user', short: 'u', kind: 'string', metavar: 'USER', help: 'user name or UID[:GID] to run as' },
  { name: 'entrypoint', kind: 'string', metavar: 'CMD', help: "override the image's ENTRYPOINT" },
  { name: 'limit-cpu', kind: 'string', metavar: 'CPUS', help: 'CPU limit, e.g. 0.5' },
  { name: 'limit-memory', kind: 'string', metavar: 'BYTES', help: 'memory limit, e.g. 64m, 1g' },
  { name: 'reserve-cpu', kind: 'string', metavar: 'CPUS', help: 'CPUs to reserve' },
  { name: 'reserve-memory', kind: 'string', metavar: 'BYTES', help: 'memory to reserve' },
  { name: 'restart-condition', kind: 'string', metavar: 'COND', help: 'restart when: none, on-failure or any (default any)' },
  { name: 'restart-delay', kind: 'string', metavar: DUR, help: 'delay between restart attempts (default 5s)' },
  { name: 'restart-max-attempts', kind: 'string', metavar: 'N', help: 'maximum restarts before giving up (0 = unlimited)' },
  { name: 'restart-window', kind: 'string', metavar: DUR, help: 'window used to evaluate the restart policy' },
  { name: 'health-cmd', kind: 'string', metavar: 'CMD', help: 'command to run to check health (run by a shell)' },
  { name: 'health-interval', kind: 'string', metavar: DUR, help: 'time between running the check' },
  { name: 'health-timeout', kind: 'string', metavar: DUR, help: 'maximum time to allow one check to run' },
  { name: 'health-retries', kind: 'string', metavar: 'N', help: 'consecutive failures needed to report unhealthy' },
  { name: 'health-start-period', kind: 'string', metavar: DUR, help: 'start period during which failures are not counted' },
  { name: 'no-healthcheck', kind: 'bool', help: 'disable any container-specified HEALTHCHECK' },
  { name: 'stop-grace-period', kind: 'string', metavar: DUR, help: 'time to wait before force killing a container (default 10s)' },
  ...(['update', 'rollback'] as const).flatMap((k): FlagSpec[] => [
    { name: `${k}-parallelism`, kind: 'string', metavar: 'N', help: `tasks ${k === 'update' ? 'updated' : 'rolled back'} at once (0 = all; default 1)` },
    { name: `${k}-delay`, kind: 'string', metavar: DUR, help: `delay between ${k}s` },
    {
      name: `${k}-failure-action`,
      kind: 'string',
      metavar: 'ACTION',
      help: k === 'update' ? 'action on update failure: pause, continue or rollback (default pause)' : 'action on rollback failure: pause or continue (default pause)',
    },
    { name: `${k}-monitor`, kind: 'string', metavar: DUR, help: `time to monitor each task for failure after its ${k} (default 5s)` },
    { name: `${k}-max-failure-ratio`, kind: 'string', metavar: 'RATIO', help: `failure rate to tolerate during ${k === 'update' ? 'an update' : 'a rollback'} (0..1)` },
    { name: `${k}-order`, kind: 'string', metavar: 'ORDER', help: `${k} order: stop-first or start-first (default stop-first)` },
  ]),
  { name: 'detach', short: 'd', kind: 'bool', help: 'return at once instead of waiting for the service to converge' },
  QUIET_FLAG,
];

export const CREATE_FLAGS: readonly FlagSpec[] = [
  { name: 'name', kind: 'string', metavar: 'NAME', help: 'service name (default: the image name and a random suffix)' },
  { name: 'mode', kind: 'string', metavar: 'MODE', help: 'replicated (default) or global' },
  { name: 'replicas', kind: 'string', metavar: 'N', help: 'number of tasks (default 1)' },
  { name: 'env', short: 'e', kind: 'list', metavar: 'KEY=VALUE', help: 'set an environment variable' },
  { name: 'label', short: 'l', kind: 'list', metavar: 'KEY=VALUE', help: 'set a service label' },
  { name: 'constraint', kind: 'list', metavar: 'EXPR', help: 'placement constraint, e.g. node.role==worker' },
  { name: 'placement-pref', kind: 'list', metavar: 'PREF', help: 'placement preference, e.g. spread=node.labels.zone' },
  { name: 'publish', short: 'p', kind: 'list', metavar: 'PORT', help: 'publish a port: PUBLISHED:TARGET[/PROTO] or published=P,target=T[,protocol=udp][,mode=host]' },
  { name: 'mount', kind: 'list', metavar: 'MOUNT', help: 'attach a mount: type=bind|volume,source=SRC,target=DST[,readonly]' },
  ...SHARED_FLAGS,
];

export const UPDATE_FLAGS: readonly FlagSpec[] = [
  { name: 'image', kind: 'string', metavar: 'IMAGE', help: 'service image' },
  { name: 'args', kind: 'string', metavar: 'ARGS', help: 'service command args (replace them all)' },
  { name: 'replicas', kind: 'string', metavar: 'N', help: 'number of tasks' },
  { name: 'env-add', kind: 'list', metavar: 'KEY=VALUE', help: 'add or update an environment variable' },
  { name: 'env-rm', kind: 'list', metavar: 'KEY', help: 'remove an environment variable' },
  { name: 'label-add', kind: 'list', metavar: 'KEY=VALUE', help: 'add or update a service label' },
  { name: 'label-rm', kind: 'list', metavar: 'KEY', help: 'remove a service label' },
  { name: 'constraint-add', kind: 'list', metavar: 'EXPR', help: 'add a placement constraint' },
  { name: 'constraint-rm', kind: 'list', metavar: 'EXPR', help: 'remove a placement constraint' },
  { name: 'placement-pref-add', kind: 'list', metavar: 'PREF', help: 'add a placement preference' },
  { name: 'placement-pref-rm', kind: 'list', metavar: 'PREF', help: 'remove a placement preference' },
  { name: 'publish-add', kind: 'list', metavar: 'PORT', help: 'add or update a published port' },
  { name: 'publish-rm', kind: 'list', metavar: 'PORT', help: 'remove a published port by its target port: TARGET[/PROTO] (or PUBLISHED:TARGET[/PROTO])' },
  { name: 'mount-add', kind: 'list', metavar: 'MOUNT', help: 'add or update a mount' },
  { name: 'mount-rm', kind: 'list', metavar: 'PATH', help: 'remove a mount by its target path' },
  ...SHARED_FLAGS,
];

/** Flags that are not changes (update with only these is a no-op). */
const NOT_CHANGES = new Set(['detach', 'quiet', 'host', 'data-dir', 'timeout', 'help']);

// ------------------------------------------------------------ value parsers

/** `-p 8080:80`, `-p 8080:80/udp`, `-p 8000-8001:80-81`, `-p published=8080,target=80,protocol=tcp,mode=host`. */
export function parsePublish(value: string, flag: string): PortConfig[] {
  const bad = (why: string): never => {
    throw new UsageError(`invalid ${flag} ${JSON.stringify(value)}: ${why}`);
  };
  const port = (s: string, what: string): number => {
    if (!/^\d{1,5}$/.test(s)) bad(`${what} port ${JSON.stringify(s)} is not a number`);
    const n = Number(s);
    if (n < 1 || n > 65535) bad(`${what} port ${n} is out of range 1..65535`);
    return n;
  };
  if (value.includes('=')) {
    let published: number | undefined;
    let target: number | undefined;
    let protocol: PortProtocol = 'tcp';
    let publishMode: PublishMode = 'ingress';
    let name: string | undefined;
    for (const part of value.split(',')) {
      const [k, v] = parseKeyValue(part.trim(), flag);
      switch (k.toLowerCase()) {
        case 'published':
          published = port(v, 'published');
          break;
        case 'target':
          target = port(v, 'target');
          break;
        case 'protocol':
          protocol = parseChoice(v, `${flag} protocol`, ['tcp', 'udp'] as const);
          break;
        case 'mode':
          publishMode = parseChoice(v, `${flag} mode`, ['ingress', 'host'] as const);
          break;
        case 'name':
          name = v;
          break;
        default:
          bad(`unknown option ${JSON.stringify(k)} (use published, target, protocol, mode)`);
      }
    }
    if (target === undefined) return bad('target= is required');
    if (published === undefined) return bad('published= is required (flotilla does not pick a published port)');
    const p: PortConfig = { protocol, targetPort: target, publishedPort: published, publishMode };
    return [name === undefined ? p : { name, ...p }];
  }
  const m = /^(?:(.+):)?([^:/]+)(?:\/(.+))?$/.exec(value.trim());
  if (!m) return bad('expected PUBLISHED:TARGET[/PROTO]');
  const protocol = m[3] === undefined ? 'tcp' : parseChoice(m[3], `${flag} protocol`, ['tcp', 'udp'] as const);
  if (m[1] === undefined) return bad('the published port is missing: use PUBLISHED:TARGET (flotilla does not pick a published port)');
  if (m[1].includes(':')) return bad('binding a published port to one IP address is not supported: use PUBLISHED:TARGET');
  const range = (s: string, what: string): [number, number] => {
    const r = /^(\d+)-(\d+)$/.exec(s);
    if (!r) {
      const n = port(s, what);
      return [n, n];
    }
    const lo = port(r[1], what);
    const hi = port(r[2], what);
    if (hi < lo) bad(`the ${what} range ${s} is backwards`);
    return [lo, hi];
  };
  const [pLo, pHi] = range(m[1], 'published');
  const [tLo, tHi] = range(m[2], 'target');
  if (pHi - pLo !== tHi - tLo) bad('the published and target ranges must have the same length');
  const out: PortConfig[] = [];
  for (let i = 0; i <= pHi - pLo; i++) out.push({ protocol, targetPort: tLo + i, publishedPort: pLo + i, publishMode: 'ingress' });
  return out;
}

/** `--mount type=bind,source=/a,target=/b,readonly` (docker's keys: src, dst, destination, ro too). */
export function parseMountFlag(value: string, flag: string): Mount {
  const bad = (why: string): never => {
    throw new UsageError(`invalid ${flag} ${JSON.stringify(value)}: ${why}`);
  };
  const mount: Mount = { type: 'volume', source: '', target: '', readOnly: false };
  for (const raw of value.split(',')) {
    const part = raw.trim();
    if (part === '') continue;
    const eq = part.indexOf('=');
    const key = (eq < 0 ? part : part.slice(0, eq)).toLowerCase();
    const v = eq < 0 ? undefined : part.slice(eq + 1);
    const need = (): string => (v === undefined ? bad(`${key} needs a value (${key}=...)`) : v);
    switch (key) {
      case 'type':
        mount.type = parseChoice(need(), `${flag} type`, ['bind', 'volume'] as const);
        break;
      case 'source':
      case 'src':
        mount.source = need();
        break;
      case 'target':
      case 'dst':
      case 'destination':
        mount.target = need();
        break;
      case 'readonly':
      case 'ro': {
        const b = (v ?? 'true').toLowerCase();
        if (!['true', '1', 'false', '0'].includes(b)) bad(`${key} must be true or false`);
        mount.readOnly = b === 'true' || b === '1';
        break;
      }
      default:
        bad(`unknown option ${JSON.stringify(key)} (use type, source, target, readonly)`);
    }
  }
  if (mount.target === '') bad('target= is required');
  return mount;
}

/** `spread=node.labels.zone` */
export function parsePlacementPref(value: string, flag: string): { spread: string } {
  const [k, v] = parseKeyValue(value, flag);
  if (k.trim().toLowerCase() !== 'spread') throw new UsageError(`invalid ${flag} ${JSON.stringify(value)}: the only strategy is spread (spread=node.labels.KEY)`);
  return { spread: v.trim() };
}

/** `-e KEY=VALUE`, or `-e KEY` to take KEY from the CLI's own environment (as docker does). */
export function envEntry(value: string, env: Env): string {
  if (value.includes('=')) return value;
  const v = env[value];
  return v === undefined ? value : `${value}=${v}`;
}

function envKey(entry: string): string {
  const eq = entry.indexOf('=');
  return eq < 0 ? entry : entry.slice(0, eq);
}

// ------------------------------------------------------------ building

/** A default name from the image: 'registry:5000/team/web:1.2' → 'web-k3j2a'. */
export function defaultServiceName(image: string, suffix = randomBytes(4).toString('hex').slice(0, 5)): string {
  const base = image.split('@')[0].split('/').pop() ?? 'service';
  const name = base.replace(/:[^:]*$/, '').replace(/[^a-zA-Z0-9_.-]/g, '-').replace(/^[^a-zA-Z0-9]+/, '').slice(0, 50);
  return `${name || 'service'}-${suffix}`;
}

/** Names of flags in ValidationError messages, for update (where the image and args have flags). */
const UPDATE_FIELD_FLAGS = {
  IMAGE: '--image',
  'COMMAND/ARG': '--args',
  '--env': '--env-add',
  '--label': '--label-add',
  '--constraint': '--constraint-add',
  '--placement-pref': '--placement-pref-add',
  '--publish': '--publish-add',
  '--mount': '--mount-add',
};

function validated(spec: unknown, overrides: Readonly<Record<string, string>> = {}): ServiceSpec {
  try {
    return validateServiceSpec(spec);
  } catch (err) {
    if (err instanceof ValidationError) throw validationToUsage(err, overrides);
    throw err;
  }
}

function healthFlagsGiven(flags: Flags): boolean {
  return ['health-cmd', 'health-interval', 'health-timeout', 'health-retries', 'health-start-period'].some((f) => flags.has(f));
}

/** Apply the flags shared by create and update to a complete spec (in place). */
function applyShared(spec: ServiceSpec, flags: Flags): void {
  const c = spec.taskTemplate.container;
  const str = (name: string): string | undefined => flags.str(name);
  const dur = (name: string): number | undefined => {
    const v = str(name);
    return v === undefined ? undefined : parseDuration(v, `--${name}`);
  };
  const int = (name: string, min = 0, max?: number): number | undefined => {
    const v = str(name);
    return v === undefined ? undefined : parseInteger(v, `--${name}`, min, max);
  };

  const workdir = str('workdir');
  if (workdir !== undefined) c.dir = workdir;
  const user = str('user');
  if (user !== undefined) c.user = user;
  const entrypoint = str('entrypoint');
  if (entrypoint !== undefined) c.command = splitShellWords(entrypoint, '--entrypoint');
  const grace = dur('stop-grace-period');
  if (grace !== undefined) c.stopGracePeriodMs = grace;

  const res = spec.taskTemplate.resources;
  const v = (name: string, parse: (x: string, f: string) => number): number | undefined => {
    const x = str(name);
    return x === undefined ? undefined : parse(x, `--${name}`);
  };
  res.limits.nanoCpus = v('limit-cpu', parseCpus) ?? res.limits.nanoCpus;
  res.limits.memoryBytes = v('limit-memory', parseSize) ?? res.limits.memoryBytes;
  res.reservations.nanoCpus = v('reserve-cpu', parseCpus) ?? res.reservations.nanoCpus;
  res.reservations.memoryBytes = v('reserve-memory', parseSize) ?? res.reservations.memoryBytes;

  const rp = spec.taskTemplate.restartPolicy;
  const cond = str('restart-condition');
  if (cond !== undefined) rp.condition = parseChoice(cond, '--restart-condition', ['none', 'on-failure', 'any'] as const);
  rp.delayMs = dur('restart-delay') ?? rp.delayMs;
  rp.maxAttempts = int('restart-max-attempts') ?? rp.maxAttempts;
  rp.windowMs = dur('restart-window') ?? rp.windowMs;

  if (flags.bool('no-healthcheck')) {
    if (healthFlagsGiven(flags)) throw new UsageError('--no-healthcheck conflicts with the --health-* options');
    c.healthcheck = { test: ['NONE'], intervalMs: 0, timeoutMs: 0, retries: 0, startPeriodMs: 0 };
  } else if (healthFlagsGiven(flags)) {
    const hc: HealthCheck = c.healthcheck ? { ...c.healthcheck, test: [...c.healthcheck.test] } : { test: [], intervalMs: 0, timeoutMs: 0, retries: 0, startPeriodMs: 0 };
    // As docker: changing a disabled health check enables it again.
    if (hc.test[0] === 'NONE') hc.test = [];
    const cmd = str('health-cmd');
    if (cmd !== undefined) hc.test = cmd.trim() === '' ? [] : ['CMD-SHELL', cmd];
    hc.intervalMs = dur('health-interval') ?? hc.intervalMs;
    hc.timeoutMs = dur('health-timeout') ?? hc.timeoutMs;
    hc.retries = int('health-retries', 0, 2 ** 31 - 1) ?? hc.retries;
    hc.startPeriodMs = dur('health-start-period') ?? hc.startPeriodMs;
    c.healthcheck = hc;
  }

  const updateConfig = (k: 'update' | 'rollback', u: UpdateConfig): void => {
    u.parallelism = int(`${k}-parallelism`) ?? u.parallelism;
    u.delayMs = dur(`${k}-delay`) ?? u.delayMs;
    const fa = str(`${k}-failure-action`);
    if (fa !== undefined) {
      u.failureAction = k === 'update' ? parseChoice(fa, `--${k}-failure-action`, ['pause', 'continue', 'rollback'] as const) : parseChoice(fa, `--${k}-failure-action`, ['pause', 'continue'] as const);
    }
    u.monitorMs = dur(`${k}-monitor`) ?? u.monitorMs;
    const ratio = str(`${k}-max-failure-ratio`);
    if (ratio !== undefined) u.maxFailureRatio = parseNumber(ratio, `--${k}-max-failure-ratio`, 0, 1);
    const order = str(`${k}-order`);
    if (order !== undefined) u.order = parseChoice(order, `--${k}-order`, ['stop-first', 'start-first'] as const);
  };
  updateConfig('update', spec.updateConfig);
  updateConfig('rollback', spec.rollbackConfig);
}

function replicasFlag(flags: Flags): number | undefined {
  const r = flags.str('replicas');
  return r === undefined ? undefined : parseInteger(r, '--replicas', 0, MAX_REPLICAS);
}

/**
 * The complete spec for `service create [flags] IMAGE [COMMAND] [ARG...]`.
 * COMMAND and ARG become the container's args (the image's CMD), like docker;
 * --entrypoint sets its command.
 */
export function buildCreateSpec(image: string, args: readonly string[], flags: Flags, env: Env, defaultName = defaultServiceName): ServiceSpec {
  const mode = flags.str('mode');
  const global = mode !== undefined && parseChoice(mode, '--mode', ['replicated', 'global'] as const) === 'global';
  const replicas = replicasFlag(flags);
  if (global && replicas !== undefined) throw new UsageError('--replicas can only be used with replicated mode');
  const labels: Record<string, string> = {};
  for (const l of flags.list('label')) {
    const [k, v] = parseKeyValue(l, '--label', '');
    labels[k] = v;
  }
  const draft = {
    name: flags.str('name') ?? defaultName(image),
    labels,
    taskTemplate: {
      container: { image, args: [...args], env: flags.list('env').map((e) => envEntry(e, env)), mounts: flags.list('mount').map((m) => parseMountFlag(m, '--mount')) },
      placement: { constraints: flags.list('constraint'), preferences: flags.list('placement-pref').map((p) => parsePlacementPref(p, '--placement-pref')) },
    },
    mode: global ? { global: {} } : { replicated: { replicas: replicas ?? 1 } },
    endpoint: { ports: flags.list('publish').flatMap((p) => parsePublish(p, '--publish')) },
  };
  const spec = validated(draft);
  applyShared(spec, flags);
  return validated(spec);
}

/** Whether `service update` was given anything to change. */
export function hasUpdateChanges(flags: Flags): boolean {
  return flags.given().some((f) => !NOT_CHANGES.has(f));
}

function samePort(a: PortConfig, b: PortConfig): boolean {
  return a.publishedPort === b.publishedPort && a.protocol === b.protocol;
}

/** Which ports `--publish-rm VALUE` removes: by target port (and protocol), or by published:target. */
function publishRmMatcher(value: string): (p: PortConfig) => boolean {
  const m = /^(\d{1,5})(?:\/(tcp|udp))?$/i.exec(value.trim());
  if (m) {
    const target = Number(m[1]);
    const proto = m[2]?.toLowerCase();
    return (p) => p.targetPort === target && (proto === undefined || p.protocol === proto);
  }
  const ports = parsePublish(value, '--publish-rm');
  return (p) => ports.some((q) => q.publishedPort === p.publishedPort && q.targetPort === p.targetPort && q.protocol === p.protocol);
}

/**
 * The new spec for `service update`: the flags applied to a copy of the
 * current one. `serviceName` names the service in errors.
 */
export function applyServiceUpdate(current: ServiceSpec, flags: Flags, env: Env): ServiceSpec {
  const spec = structuredClone(current) as ServiceSpec;
  const c = spec.taskTemplate.container;
  const image = flags.str('image');
  if (image !== undefined) c.image = image;
  const args = flags.str('args');
  if (args !== undefined) c.args = splitShellWords(args, '--args');
  const replicas = replicasFlag(flags);
  if (replicas !== undefined) {
    if (!('replicated' in spec.mode)) throw new UsageError(`service ${current.name} is global: --replicas only applies to replicated services`);
    spec.mode = { replicated: { replicas } };
  }

  // env: remove, then add (replacing the same key).
  const envRm = new Set(flags.list('env-rm'));
  let envs = c.env.filter((e) => !envRm.has(envKey(e)));
  for (const raw of flags.list('env-add')) {
    const e = envEntry(raw, env);
    envs = [...envs.filter((x) => envKey(x) !== envKey(e)), e];
  }
  c.env = envs;

  for (const k of flags.list('label-rm')) delete spec.labels[k];
  for (const l of flags.list('label-add')) {
    const [k, v] = parseKeyValue(l, '--label-add', '');
    spec.labels[k] = v;
  }

  const p = spec.taskTemplate.placement;
  const norm = (s: string): string => s.replace(/\s+/g, '');
  const cRm = new Set(flags.list('constraint-rm').map(norm));
  p.constraints = p.constraints.filter((x) => !cRm.has(norm(x)));
  for (const x of flags.list('constraint-add')) if (!p.constraints.some((y) => norm(y) === norm(x))) p.constraints.push(x);
  const prefRm = flags.list('placement-pref-rm').map((x) => parsePlacementPref(x, '--placement-pref-rm').spread);
  p.preferences = p.preferences.filter((x) => !prefRm.includes(x.spread.trim()));
  for (const x of flags.list('placement-pref-add')) p.preferences.push(parsePlacementPref(x, '--placement-pref-add'));

  const portRm = flags.list('publish-rm').map(publishRmMatcher);
  let ports = spec.endpoint.ports.filter((x) => !portRm.some((m) => m(x)));
  for (const add of flags.list('publish-add').flatMap((x) => parsePublish(x, '--publish-add'))) {
    ports = [...ports.filter((x) => !samePort(x, add)), add];
  }
  spec.endpoint.ports = ports;

  const mountRm = new Set(flags.list('mount-rm'));
  let mounts = c.mounts.filter((m) => !mountRm.has(m.target));
  for (const add of flags.list('mount-add').map((x) => parseMountFlag(x, '--mount-add'))) mounts = [...mounts.filter((m) => m.target !== add.target), add];
  c.mounts = mounts;

  applyShared(spec, flags);
  return validated(spec, UPDATE_FIELD_FLAGS);
}
