// One merged, interpolated and schema-checked compose service to a complete
// ServiceSpec, the way docker's cli/compose/convert does it, through the CLI's
// own value parsers (durations, sizes, CPUs, ports mean what they mean on
// `service create`) and the project's spec validator. Every refusal names the
// key (services.web.deploy.resources.limits.memory).
import path from 'node:path';
import type { FileReference, Mount, PortConfig, ResolutionMode, ServiceSpec } from '../../api/objects.js';
import { validateNetworkAlias, validateServiceSpec } from '../../api/validate.js';
import { ValidationError } from '../../api/input.js';
import { parseCpus, parseDuration, parseSize, splitShellWords, UsageError } from '../args.js';
import { parseExpose, parsePublish } from '../service-spec.js';
import { validationDetail } from '../errors.js';
import { parseEnvFile, type Lookup } from './interpolate.js';
import { STACK_NAMESPACE_LABEL, type DependsOnCondition } from './model.js';

export type Obj = Record<string, unknown>;
export type Path = (string | number)[];

/** What the conversion needs from the loader. */
export interface ConvertContext {
  stack: string;
  /** The first compose file's directory (relative paths are against it). */
  baseDir: string;
  /** The environment (for `environment: [KEY]` and env_file lines without a value). */
  env: Lookup;
  readFile: (file: string) => Buffer;
  /** Throws a StackFileError naming the file that set `at`. */
  fail: (at: Path, detail: string) => never;
  /** The merged top-level sections. */
  top: { networks: Obj; volumes: Obj; secrets: Obj; configs: Obj };
  /** Keys of every service of the stack. */
  serviceKeys: ReadonlySet<string>;
}

/** What one service uses, by top-level key, besides its spec. */
export interface ConvertedService {
  spec: ServiceSpec;
  dependsOn: { service: string; condition: DependsOnCondition }[];
  networks: string[];
  volumes: string[];
  secrets: string[];
  configs: string[];
}

// Docker's lists (cli/compose/types: UnsupportedProperties,
// DeprecatedProperties, ForbiddenProperties): keys `stack deploy` warns about
// and ignores, or refuses with these words.
export const UNSUPPORTED_PROPERTIES: readonly string[] = [
  'build', 'cap_add', 'cap_drop', 'cgroup_parent', 'devices', 'domainname', 'external_links', 'ipc', 'links', 'mac_address',
  'network_mode', 'pid', 'privileged', 'restart', 'security_opt', 'shm_size', 'sysctls', 'ulimits', 'userns_mode',
];
export const DEPRECATED_PROPERTIES: Readonly<Record<string, string>> = {
  container_name: 'Setting the container name is not supported.',
};
export const FORBIDDEN_PROPERTIES: Readonly<Record<string, string>> = {
  extends: 'Support for `extends` is not implemented yet.',
  volume_driver: 'Instead of setting the volume driver on the service, define a volume using the top-level `volumes` option and specify the driver there.',
  volumes_from: "To share a volume between services, define it using the top-level `volumes` option and reference it from each service that shares it using the service-level `volumes` option.",
  cpu_quota: 'Set resource limits using deploy.resources',
  cpu_shares: 'Set resource limits using deploy.resources',
  cpuset: 'Set resource limits using deploy.resources',
  mem_limit: 'Set resource limits using deploy.resources',
  memswap_limit: 'Set resource limits using deploy.resources',
};
/** The service keys flotilla maps onto a ServiceSpec. */
export const SUPPORTED_SERVICE_KEYS: ReadonlySet<string> = new Set([
  'image', 'command', 'entrypoint', 'environment', 'env_file', 'ports', 'labels', 'healthcheck', 'stop_grace_period', 'user',
  'working_dir', 'volumes', 'secrets', 'configs', 'networks', 'depends_on', 'deploy',
  // Docker warns that `expose` is unnecessary (its IPVS virtual IP forwards every port); flotilla's virtual IP
  // serves the ports it knows, and these are among them (ContainerSpec.expose).
  'expose',
]);

const isObj = (x: unknown): x is Obj => x !== null && typeof x === 'object' && !Array.isArray(x);

/** A list_or_dict (labels, environment) as a map; `KEY` alone in a list is null. */
export function listOrDict(x: unknown): Record<string, unknown> {
  if (Array.isArray(x)) {
    const out: Record<string, unknown> = {};
    for (const item of x) {
      const s = String(item);
      const eq = s.indexOf('=');
      if (eq < 0) out[s] = null;
      else out[s.slice(0, eq)] = s.slice(eq + 1);
    }
    return out;
  }
  return isObj(x) ? { ...x } : {};
}

/** A scalar of a list_or_dict as a string (null stays null). */
function scalar(v: unknown): string | null {
  return v === null || v === undefined ? null : String(v);
}

/** The full name of a top-level object, as docker stack names it. */
export function objectName(stack: string, key: string, def: unknown): { name: string; external: boolean } {
  const o = isObj(def) ? def : {};
  const ext = o.external;
  const external = ext === true || isObj(ext);
  if (isObj(ext) && typeof ext.name === 'string') return { name: ext.name, external };
  if (typeof o.name === 'string' && o.name !== '') return { name: o.name, external };
  return { name: external ? key : `${stack}_${key}`, external };
}

/** Runs one of the CLI's flag parsers; its UsageError becomes an error naming `at`. */
function parsed<T>(ctx: ConvertContext, at: Path, fn: (flag: string) => T): T {
  try {
    return fn('VALUE');
  } catch (err) {
    if (err instanceof UsageError) return ctx.fail(at, err.message.replace(/^invalid VALUE\b/, 'invalid value'));
    throw err;
  }
}

export function convertService(key: string, svc: Obj, ctx: ConvertContext): ConvertedService {
  const at = (...p: Path): Path => ['services', key, ...p];
  for (const k of Object.keys(svc)) {
    if (k.startsWith('x-') || SUPPORTED_SERVICE_KEYS.has(k) || UNSUPPORTED_PROPERTIES.includes(k) || k in DEPRECATED_PROPERTIES) continue;
    if (k in FORBIDDEN_PROPERTIES) ctx.fail(at(k), `not supported by stack deploy: ${FORBIDDEN_PROPERTIES[k]}`);
    ctx.fail(at(k), `not supported by flotilla's services (remove it; supported: ${[...SUPPORTED_SERVICE_KEYS].join(', ')})`);
  }
  if (svc.image === undefined) ctx.fail(at(), 'missing key "image": stack deploy runs images and does not build them (build and push the image, then name it in image:)');

  const used = { networks: [] as string[], volumes: [] as string[], secrets: [] as string[], configs: [] as string[] };
  const deploy = isObj(svc.deploy) ? svc.deploy : {};

  const container: Obj = {
    image: svc.image,
    command: commandWords(ctx, svc.entrypoint, at('entrypoint')),
    args: commandWords(ctx, svc.command, at('command')),
    env: environment(ctx, svc, at),
    dir: svc.working_dir ?? '',
    user: svc.user ?? '',
    mounts: (Array.isArray(svc.volumes) ? svc.volumes : []).map((v, i) => mount(ctx, v, at('volumes', i), used.volumes)),
  };
  if (svc.healthcheck !== undefined) container.healthcheck = healthcheck(ctx, isObj(svc.healthcheck) ? svc.healthcheck : {}, at('healthcheck'));
  if (svc.stop_grace_period !== undefined) container.stopGracePeriodMs = parsed(ctx, at('stop_grace_period'), (f) => parseDuration(String(svc.stop_grace_period), f));
  const secrets = fileRefs(ctx, svc.secrets, at('secrets'), 'secret', used.secrets);
  if (secrets.length > 0) container.secrets = secrets;
  const configs = fileRefs(ctx, svc.configs, at('configs'), 'config', used.configs);
  if (configs.length > 0) container.configs = configs;
  // A service's `labels:` are its containers' (docker stack); deploy.labels are the service's.
  const containerLabels = labelMap(svc.labels);
  if (Object.keys(containerLabels).length > 0) container.labels = containerLabels;
  const expose = (Array.isArray(svc.expose) ? svc.expose : []).flatMap((x, i) => parsed(ctx, at('expose', i), (f) => parseExpose(String(x), f)));
  if (expose.length > 0) container.expose = [...new Set(expose)];

  const networks = serviceNetworks(ctx, svc.networks, at('networks'), used.networks);

  const draft = {
    name: `${ctx.stack}_${key}`,
    labels: { ...labelMap(deploy.labels), [STACK_NAMESPACE_LABEL]: ctx.stack },
    taskTemplate: {
      container,
      resources: resources(ctx, deploy.resources, at('deploy', 'resources')),
      restartPolicy: restartPolicy(ctx, deploy.restart_policy, at('deploy', 'restart_policy')),
      placement: placement(deploy.placement),
      forceUpdate: 0,
      networks: networks.names,
      networkAliases: networks.aliases,
    },
    mode: mode(ctx, deploy, at('deploy')),
    updateConfig: updateConfig(ctx, deploy.update_config, at('deploy', 'update_config')),
    rollbackConfig: updateConfig(ctx, deploy.rollback_config, at('deploy', 'rollback_config')),
    endpoint: { mode: endpointMode(ctx, deploy.endpoint_mode, at('deploy', 'endpoint_mode')), ports: (Array.isArray(svc.ports) ? svc.ports : []).flatMap((p, i) => ports(ctx, p, at('ports', i))) },
  };

  let spec: ServiceSpec;
  try {
    spec = validateServiceSpec(draft);
  } catch (err) {
    if (err instanceof ValidationError) ctx.fail(composePathOf(key, err.field), validationDetail(err.message, err.field, err.rule));
    throw err;
  }
  return { spec, dependsOn: dependsOn(ctx, key, svc.depends_on), ...used };
}

/** deploy.endpoint_mode: vip (the default) or dnsrr, lower-cased as docker's compose conversion does. */
function endpointMode(ctx: ConvertContext, x: unknown, at: Path): ResolutionMode {
  if (x === undefined || x === null) return 'vip';
  const mode = typeof x === 'string' ? x.toLowerCase() : x;
  if (mode !== 'vip' && mode !== 'dnsrr') return ctx.fail(at, `must be vip or dnsrr, got ${JSON.stringify(x)}`);
  return mode;
}

function labelMap(x: unknown): Record<string, string> {
  return Object.fromEntries(Object.entries(listOrDict(x)).map(([k, v]) => [k, scalar(v) ?? '']));
}

/** command / entrypoint: a string is split as a shell would (no expansion), a list is taken as is. */
function commandWords(ctx: ConvertContext, x: unknown, at: Path): string[] {
  if (x === undefined || x === null) return [];
  if (Array.isArray(x)) return x.map(String);
  return parsed(ctx, at, (f) => splitShellWords(String(x), f));
}

/** env_file entries, then environment over them; sorted as docker does, so that an unchanged file gives the same spec. */
function environment(ctx: ConvertContext, svc: Obj, at: (...p: Path) => Path): string[] {
  const env = new Map<string, string>();
  const files = svc.env_file === undefined ? [] : Array.isArray(svc.env_file) ? svc.env_file : [svc.env_file];
  files.forEach((f, i) => {
    const p = Array.isArray(svc.env_file) ? at('env_file', i) : at('env_file');
    const file = path.resolve(ctx.baseDir, String(f));
    const text = readOrFail(ctx, file, p, `env file ${JSON.stringify(String(f))}`).toString('utf8');
    for (const [k, v] of parseEnvFile(text, file, { quotes: false, fallback: ctx.env })) env.set(k, v);
  });
  for (const [k, v] of Object.entries(listOrDict(svc.environment))) {
    const s = scalar(v) ?? ctx.env(k);
    if (s === undefined) env.delete(k);
    else env.set(k, s);
  }
  return [...env].map(([k, v]) => `${k}=${v}`).sort();
}

function readOrFail(ctx: ConvertContext, file: string, at: Path, what: string): Buffer {
  try {
    return ctx.readFile(file);
  } catch (err) {
    const code = (err as { code?: string }).code;
    const why = code === 'ENOENT' ? 'no such file' : err instanceof Error ? err.message : String(err);
    return ctx.fail(at, `cannot read ${what} at ${file}: ${why}`);
  }
}

function mount(ctx: ConvertContext, v: unknown, at: Path, usedVolumes: string[]): Mount {
  let type: string;
  let source: string;
  let target: string;
  let readOnly = false;
  if (typeof v === 'string') {
    const parts = v.split(':');
    if (parts.length === 1) {
      [type, source, target] = ['volume', '', parts[0]];
    } else {
      if (parts.length > 3) ctx.fail(at, `expected [SOURCE:]TARGET[:MODE], got ${JSON.stringify(v)}`);
      [source, target] = parts;
      type = /^[./~]/.test(source) ? 'bind' : 'volume';
      for (const opt of (parts[2] ?? '').split(',').filter((o) => o !== '')) {
        if (opt === 'ro') readOnly = true;
        else if (opt !== 'rw') ctx.fail(at, `mode ${JSON.stringify(opt)} is not supported: use ro or rw`);
      }
    }
  } else {
    const o = isObj(v) ? v : {};
    for (const k of ['bind', 'volume', 'tmpfs']) {
      if (o[k] !== undefined) ctx.fail([...at, k], `${k} options are not supported by flotilla's mounts`);
    }
    type = String(o.type);
    source = o.source === undefined ? '' : String(o.source);
    target = String(o.target ?? '');
    readOnly = o.read_only === true;
  }
  if (type !== 'volume' && type !== 'bind') ctx.fail(at, `mount type ${JSON.stringify(type)} is not supported: use volume or bind`);
  if (type === 'bind') {
    if (source.startsWith('~')) source = path.join(ctx.env('HOME') ?? '~', source.slice(1));
    source = path.resolve(ctx.baseDir, source);
  } else if (source !== '') {
    if (!Object.hasOwn(ctx.top.volumes, source)) ctx.fail(at, `volume ${JSON.stringify(source)} is not declared under the top-level volumes:`);
    if (!usedVolumes.includes(source)) usedVolumes.push(source);
    source = objectName(ctx.stack, source, ctx.top.volumes[source]).name;
  }
  return { type: type as Mount['type'], source, target, readOnly };
}

function healthcheck(ctx: ConvertContext, hc: Obj, at: Path): Obj {
  const dur = (k: string): number => (hc[k] === undefined ? 0 : parsed(ctx, [...at, k], (f) => parseDuration(String(hc[k]), f)));
  let test: string[] = [];
  if (hc.disable === true) {
    if (hc.test !== undefined) ctx.fail([...at, 'disable'], 'disable: true cannot be combined with test');
    test = ['NONE'];
  } else if (typeof hc.test === 'string') {
    test = ['CMD-SHELL', hc.test];
  } else if (Array.isArray(hc.test)) {
    test = hc.test.map(String);
  }
  return { test, intervalMs: dur('interval'), timeoutMs: dur('timeout'), retries: hc.retries ?? 0, startPeriodMs: dur('start_period') };
}

function fileRefs(ctx: ConvertContext, x: unknown, at: Path, kind: 'secret' | 'config', usedList: string[]): FileReference[] {
  if (!Array.isArray(x)) return [];
  const section = kind === 'secret' ? ctx.top.secrets : ctx.top.configs;
  return x.map((item, i) => {
    const o: Obj = typeof item === 'string' ? { source: item } : isObj(item) ? item : {};
    const source = String(o.source ?? '');
    if (!Object.hasOwn(section, source)) ctx.fail([...at, i], `${kind} ${JSON.stringify(source)} is not declared under the top-level ${kind}s:`);
    if (!usedList.includes(source)) usedList.push(source);
    return {
      id: '',
      name: objectName(ctx.stack, source, section[source]).name,
      // docker stack's default target is the key under secrets:/configs:, not the full name.
      target: o.target === undefined ? source : String(o.target),
      uid: o.uid === undefined ? '0' : String(o.uid),
      gid: o.gid === undefined ? '0' : String(o.gid),
      mode: o.mode === undefined ? 0o444 : (o.mode as number),
    };
  });
}

/**
 * A service's per-network options docker stack deploy ignores (Swarm gives
 * the addresses; the schema allows nothing else but aliases and x-*): load.ts
 * warns about them in one line.
 */
export const IGNORED_NETWORK_OPTIONS: readonly string[] = ['ipv4_address', 'ipv6_address', 'link_local_ips', 'priority'];

/**
 * A service's networks: their full names, and its aliases on each (keyed by
 * full name, as the networks; the deployer swaps both for ids).
 */
function serviceNetworks(ctx: ConvertContext, x: unknown, at: Path, usedList: string[]): { names: string[]; aliases: Record<string, string[]> } {
  let keys: string[];
  const aliasesByKey = new Map<string, string[]>();
  if (Array.isArray(x)) {
    keys = x.map(String);
  } else if (isObj(x)) {
    keys = Object.keys(x);
    for (const k of keys) {
      const opts = x[k];
      if (!isObj(opts) || opts.aliases === undefined || opts.aliases === null) continue;
      const list = Array.isArray(opts.aliases) ? opts.aliases : [];
      aliasesByKey.set(
        k,
        list.map((a, i) => {
          try {
            return validateNetworkAlias(String(a));
          } catch (err) {
            if (err instanceof ValidationError) ctx.fail([...at, k, 'aliases', i], validationDetail(err.message, err.field, err.rule));
            throw err;
          }
        }),
      );
    }
  } else {
    keys = ['default'];
  }
  const names = keys.map((k, i) => {
    if (k !== 'default' && !Object.hasOwn(ctx.top.networks, k)) ctx.fail(Array.isArray(x) ? [...at, i] : [...at, k], `network ${JSON.stringify(k)} is not declared under the top-level networks:`);
    if (!usedList.includes(k)) usedList.push(k);
    return objectName(ctx.stack, k, ctx.top.networks[k]).name;
  });
  // fromEntries defines own properties, so even a '__proto__' network stays a plain key.
  const aliases = Object.fromEntries(keys.flatMap((k, i): [string, string[]][] => ((aliasesByKey.get(k) ?? []).length > 0 ? [[names[i], aliasesByKey.get(k) ?? []]] : [])));
  return { names, aliases };
}

function resources(ctx: ConvertContext, x: unknown, at: Path): Obj {
  const r = isObj(x) ? x : {};
  const one = (kind: 'limits' | 'reservations'): Obj => {
    const o = isObj(r[kind]) ? r[kind] : {};
    for (const k of Object.keys(o)) {
      if (k !== 'cpus' && k !== 'memory' && !k.startsWith('x-')) ctx.fail([...at, kind, k], 'not supported by flotilla (only cpus and memory)');
    }
    return {
      nanoCpus: o.cpus === undefined ? 0 : parsed(ctx, [...at, kind, 'cpus'], (f) => parseCpus(String(o.cpus), f)),
      memoryBytes: o.memory === undefined ? 0 : parsed(ctx, [...at, kind, 'memory'], (f) => parseSize(String(o.memory), f)),
    };
  };
  return { limits: one('limits'), reservations: one('reservations') };
}

function restartPolicy(ctx: ConvertContext, x: unknown, at: Path): Obj {
  const r = isObj(x) ? x : {};
  const out: Obj = {};
  if (r.condition !== undefined) out.condition = r.condition;
  if (r.delay !== undefined) out.delayMs = parsed(ctx, [...at, 'delay'], (f) => parseDuration(String(r.delay), f));
  if (r.max_attempts !== undefined) out.maxAttempts = r.max_attempts;
  if (r.window !== undefined) out.windowMs = parsed(ctx, [...at, 'window'], (f) => parseDuration(String(r.window), f));
  return out;
}

function placement(x: unknown): Obj {
  const p = isObj(x) ? x : {};
  const out: Obj = { constraints: p.constraints ?? [], preferences: p.preferences ?? [] };
  // Swarm's Placement.MaxReplicas; validateServiceSpec checks it (0: no limit).
  if (p.max_replicas_per_node !== undefined) out.maxReplicas = p.max_replicas_per_node;
  return out;
}

function mode(ctx: ConvertContext, deploy: Obj, at: Path): Obj {
  const m = deploy.mode ?? 'replicated';
  if (m === 'global') {
    if (deploy.replicas !== undefined) ctx.fail([...at, 'replicas'], 'replicas can only be used with replicated mode');
    return { global: {} };
  }
  if (m !== 'replicated') ctx.fail([...at, 'mode'], `must be replicated or global, got ${JSON.stringify(m)}${String(m).endsWith('-job') ? ' (flotilla has no jobs)' : ''}`);
  return { replicated: deploy.replicas === undefined ? {} : { replicas: deploy.replicas } };
}

function updateConfig(ctx: ConvertContext, x: unknown, at: Path): Obj {
  const u = isObj(x) ? x : {};
  const out: Obj = {};
  if (u.parallelism !== undefined) out.parallelism = u.parallelism;
  if (u.delay !== undefined) out.delayMs = parsed(ctx, [...at, 'delay'], (f) => parseDuration(String(u.delay), f));
  if (u.failure_action !== undefined) out.failureAction = u.failure_action;
  if (u.monitor !== undefined) out.monitorMs = parsed(ctx, [...at, 'monitor'], (f) => parseDuration(String(u.monitor), f));
  if (u.max_failure_ratio !== undefined) out.maxFailureRatio = u.max_failure_ratio;
  if (u.order !== undefined) out.order = u.order;
  return out;
}

function ports(ctx: ConvertContext, p: unknown, at: Path): PortConfig[] {
  if (typeof p === 'number' || typeof p === 'string') return parsed(ctx, at, (f) => parsePublish(String(p), f));
  const o = isObj(p) ? p : {};
  const port: Obj = { protocol: o.protocol ?? 'tcp', targetPort: o.target, publishedPort: o.published === undefined ? 0 : Number(o.published), publishMode: o.mode ?? 'ingress' };
  return [port as unknown as PortConfig];
}

function dependsOn(ctx: ConvertContext, key: string, x: unknown): ConvertedService['dependsOn'] {
  const at: Path = ['services', key, 'depends_on'];
  const entries: [string, unknown, Path][] = Array.isArray(x) ? x.map((s, i) => [String(s), undefined, [...at, i]]) : isObj(x) ? Object.entries(x).map(([k, v]) => [k, v, [...at, k]]) : [];
  return entries.map(([service, opts, p]) => {
    if (!ctx.serviceKeys.has(service)) ctx.fail(p, `service ${JSON.stringify(service)} is not a service of this stack`);
    if (service === key) ctx.fail(p, 'a service cannot depend on itself');
    const condition = isObj(opts) && opts.condition !== undefined ? opts.condition : 'service_started';
    if (condition !== 'service_started' && condition !== 'service_healthy' && condition !== 'service_completed_successfully') {
      ctx.fail([...p, 'condition'], `must be service_started, service_healthy or service_completed_successfully, got ${JSON.stringify(condition)}`);
    }
    return { service, condition };
  });
}

// The validator's field paths (spec.taskTemplate.container.mounts[0].source)
// back to the compose keys that set them; the longest prefix wins, and an
// index right after it carries over where the lists match one to one.
const FIELD_KEYS: [string, string, boolean][] = [
  ['spec.name', '', false],
  ['spec.labels', 'deploy.labels', false],
  ['spec.taskTemplate.container.image', 'image', false],
  ['spec.taskTemplate.container.command', 'entrypoint', false],
  ['spec.taskTemplate.container.args', 'command', false],
  ['spec.taskTemplate.container.env', 'environment', false],
  ['spec.taskTemplate.container.dir', 'working_dir', false],
  ['spec.taskTemplate.container.user', 'user', false],
  ['spec.taskTemplate.container.mounts', 'volumes', true],
  ['spec.taskTemplate.container.secrets', 'secrets', true],
  ['spec.taskTemplate.container.configs', 'configs', true],
  ['spec.taskTemplate.container.labels', 'labels', false],
  ['spec.taskTemplate.container.expose', 'expose', true],
  ['spec.taskTemplate.container.healthcheck', 'healthcheck', false],
  ['spec.taskTemplate.container.healthcheck.test', 'healthcheck.test', false],
  ['spec.taskTemplate.container.healthcheck.intervalMs', 'healthcheck.interval', false],
  ['spec.taskTemplate.container.healthcheck.timeoutMs', 'healthcheck.timeout', false],
  ['spec.taskTemplate.container.healthcheck.retries', 'healthcheck.retries', false],
  ['spec.taskTemplate.container.healthcheck.startPeriodMs', 'healthcheck.start_period', false],
  ['spec.taskTemplate.container.stopGracePeriodMs', 'stop_grace_period', false],
  ['spec.taskTemplate.resources', 'deploy.resources', false],
  ...(['limits', 'reservations'] as const).flatMap((k): [string, string, boolean][] => [
    [`spec.taskTemplate.resources.${k}.nanoCpus`, `deploy.resources.${k}.cpus`, false],
    [`spec.taskTemplate.resources.${k}.memoryBytes`, `deploy.resources.${k}.memory`, false],
  ]),
  ['spec.taskTemplate.restartPolicy.condition', 'deploy.restart_policy.condition', false],
  ['spec.taskTemplate.restartPolicy.delayMs', 'deploy.restart_policy.delay', false],
  ['spec.taskTemplate.restartPolicy.maxAttempts', 'deploy.restart_policy.max_attempts', false],
  ['spec.taskTemplate.restartPolicy.windowMs', 'deploy.restart_policy.window', false],
  ['spec.taskTemplate.placement.constraints', 'deploy.placement.constraints', true],
  ['spec.taskTemplate.placement.preferences', 'deploy.placement.preferences', true],
  ['spec.taskTemplate.placement.maxReplicas', 'deploy.placement.max_replicas_per_node', false],
  ['spec.taskTemplate.networks', 'networks', false],
  ['spec.taskTemplate.networkAliases', 'networks', false],
  ['spec.mode', 'deploy.mode', false],
  ['spec.mode.replicated.replicas', 'deploy.replicas', false],
  ['spec.endpoint', 'ports', false],
  ['spec.endpoint.mode', 'deploy.endpoint_mode', false],
  ...(['update', 'rollback'] as const).flatMap((k): [string, string, boolean][] => [
    [`spec.${k}Config`, `deploy.${k}_config`, false],
    [`spec.${k}Config.parallelism`, `deploy.${k}_config.parallelism`, false],
    [`spec.${k}Config.delayMs`, `deploy.${k}_config.delay`, false],
    [`spec.${k}Config.failureAction`, `deploy.${k}_config.failure_action`, false],
    [`spec.${k}Config.monitorMs`, `deploy.${k}_config.monitor`, false],
    [`spec.${k}Config.maxFailureRatio`, `deploy.${k}_config.max_failure_ratio`, false],
    [`spec.${k}Config.order`, `deploy.${k}_config.order`, false],
  ]),
];

export function composePathOf(key: string, field: string): Path {
  let best: [string, string, boolean] | undefined;
  const plain = field.replace(/\[[^\]]*\]/g, '');
  for (const entry of FIELD_KEYS) {
    const [prefix] = entry;
    if ((plain === prefix || plain.startsWith(`${prefix}.`)) && (!best || prefix.length > best[0].length)) best = entry;
  }
  const out: Path = ['services', key];
  if (!best || best[1] === '') return out;
  out.push(...best[1].split('.'));
  if (best[2] && field.startsWith(`${best[0]}[`)) {
    const m = /^\[([0-9]+)\]/.exec(field.slice(best[0].length));
    if (m) out.push(Number(m[1]));
  }
  return out;
}
