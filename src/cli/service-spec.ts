// From `service create` / `service update` flags to a complete ServiceSpec:
// the flags fill a draft, validateServiceSpec fills in the defaults and checks
// it, and any ValidationError becomes a UsageError naming the flag. Pure: no
// I/O, so the tests cover it directly.
import { randomBytes } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { Flags, FlagSpec } from './args.js';
import {
  invalidValue,
  parseBool,
  parseChoice,
  parseCpus,
  parseDuration,
  parseInteger,
  parseKeyValue,
  parseNumber,
  parseRemovalKey,
  parseSize,
  quoteArg,
  splitFields,
  splitShellWords,
  UsageError,
} from './args.js';
import type { Env } from './connection.js';
import { validationDetail, validationToUsage } from './errors.js';
import { QUIET_FLAG } from './format.js';
import type { FileReference, HealthCheck, LbPolicy, Mount, PortConfig, PortProtocol, ProxyProtocol, PublishMode, ResolutionMode, ServiceSpec, UpdateConfig } from '../api/objects.js';
import { parseConstraint } from '../api/constraint.js';
import {
  configFilePath,
  DEFAULT_DRAIN_PERIOD_MS,
  DEFAULT_LB_WEIGHT,
  MAX_EXPOSED_PORTS,
  MAX_ID_LENGTH,
  MAX_LB_WEIGHT,
  MAX_REPLICAS,
  NAME_PATTERN,
  secretFilePath,
  validateNetworkAlias,
  validateServiceSpec,
} from '../api/validate.js';
import { ValidationError } from '../api/input.js';

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
  {
    name: 'restart-max-delay',
    kind: 'string',
    metavar: DUR,
    help: 'crash-loop back-off: the restart delay doubles per consecutive failure of a task, up to this (default 5m)',
  },
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
  // Beyond docker: canaries and a progress deadline (a rollback has neither canaries nor flags of its own for them).
  { name: 'update-canary', kind: 'string', metavar: 'N', help: 'tasks of the new spec started beside the old ones first, kept until promoted (0 = none; replicated services)' },
  { name: 'update-auto-promote', kind: 'bool', help: 'promote the canaries once they have run healthy for the monitor period, without `service promote`' },
  { name: 'update-progress-deadline', kind: 'string', metavar: DUR, help: 'run the failure action when no task of the update becomes running for this long (0 = no deadline)' },
  {
    name: 'endpoint-mode',
    kind: 'string',
    metavar: 'MODE',
    help: "how the service's name resolves on its networks: vip (default; one virtual IP, balanced over the tasks) or dnsrr (the tasks' own addresses; no ingress ports)",
  },
  // Beyond docker: how the routing mesh and the virtual IPs balance connections, and how tasks leave the rotation.
  { name: 'lb-policy', kind: 'string', metavar: 'POLICY', help: 'how a node picks a task for a new connection: round-robin (default), least-conn, random or weighted (by --lb-weight)' },
  {
    name: 'lb-weight',
    kind: 'string',
    metavar: 'N',
    help: `the tasks' weight under --lb-policy weighted (0..${MAX_LB_WEIGHT}, default ${DEFAULT_LB_WEIGHT}; 0: no new connections); a new weight rolls out like any task change`,
  },
  { name: 'proxy-protocol', kind: 'string', metavar: 'VERSION', help: "send each connection's client address to the task in a PROXY protocol header: none (default), v1 or v2" },
  {
    name: 'drain-period',
    kind: 'string',
    metavar: DUR,
    help: `how long a task keeps its open connections after it leaves the rotation, before it is stopped (default ${DEFAULT_DRAIN_PERIOD_MS / 1000}s)`,
  },
  { name: 'detach', short: 'd', kind: 'bool', help: 'return at once instead of waiting for the service to converge' },
  QUIET_FLAG,
];

export const CREATE_FLAGS: readonly FlagSpec[] = [
  { name: 'name', kind: 'string', metavar: 'NAME', help: 'service name (default: the image name and a random suffix)' },
  { name: 'mode', kind: 'string', metavar: 'MODE', help: 'replicated (default) or global' },
  { name: 'replicas', kind: 'string', metavar: 'N', help: 'number of tasks (default 1)' },
  { name: 'replicas-max-per-node', kind: 'string', metavar: 'N', help: 'maximum number of tasks per node (default 0 = unlimited)' },
  { name: 'env', short: 'e', kind: 'list', metavar: 'KEY=VALUE', help: 'set an environment variable' },
  { name: 'label', short: 'l', kind: 'list', metavar: 'KEY=VALUE', help: 'set a service label' },
  { name: 'container-label', kind: 'list', metavar: 'KEY=VALUE', help: "set a label of the service's containers" },
  { name: 'expose', kind: 'list', metavar: 'PORT[/PROTO]', help: "serve a port (or range) on the service's virtual IP beyond the image's EXPOSE" },
  { name: 'constraint', kind: 'list', metavar: 'EXPR', help: 'placement constraint, e.g. node.role==worker' },
  { name: 'placement-pref', kind: 'list', metavar: 'PREF', help: 'placement preference, e.g. spread=node.labels.zone' },
  {
    name: 'publish',
    short: 'p',
    kind: 'list',
    metavar: 'PORT',
    help: 'publish a port: [PUBLISHED:]TARGET[/PROTO] or [published=P,]target=T[,protocol=udp][,mode=host]; without a published port the cluster assigns one (ingress only)',
  },
  { name: 'mount', kind: 'list', metavar: 'MOUNT', help: 'attach a mount: type=bind|volume,source=SRC,target=DST[,readonly]' },
  {
    name: 'network',
    kind: 'list',
    metavar: 'NETWORK',
    help: 'attach the tasks to a network: NAME or name=NAME[,alias=ALIAS...]; services on it reach this one by its name (and its aliases there)',
  },
  {
    name: 'secret',
    kind: 'list',
    metavar: 'SECRET',
    help: 'give the tasks a secret as a file: NAME (/run/secrets/NAME) or source=NAME[,target=PATH][,uid=UID][,gid=GID][,mode=0400]',
  },
  { name: 'config', kind: 'list', metavar: 'CONFIG', help: 'give the tasks a config as a file: NAME (/NAME) or source=NAME[,target=PATH][,uid=UID][,gid=GID][,mode=0444]' },
  ...SHARED_FLAGS,
];

export const UPDATE_FLAGS: readonly FlagSpec[] = [
  { name: 'image', kind: 'string', metavar: 'IMAGE', help: 'service image' },
  { name: 'args', kind: 'string', metavar: 'ARGS', help: 'service command args (replace them all)' },
  { name: 'replicas', kind: 'string', metavar: 'N', help: 'number of tasks' },
  { name: 'replicas-max-per-node', kind: 'string', metavar: 'N', help: 'maximum number of tasks per node (0 = unlimited)' },
  { name: 'env-add', kind: 'list', metavar: 'KEY=VALUE', help: 'add or update an environment variable' },
  { name: 'env-rm', kind: 'list', metavar: 'KEY', help: 'remove an environment variable' },
  { name: 'label-add', kind: 'list', metavar: 'KEY=VALUE', help: 'add or update a service label' },
  { name: 'label-rm', kind: 'list', metavar: 'KEY', help: 'remove a service label' },
  { name: 'container-label-add', kind: 'list', metavar: 'KEY=VALUE', help: 'add or update a container label' },
  { name: 'container-label-rm', kind: 'list', metavar: 'KEY', help: 'remove a container label' },
  { name: 'expose-add', kind: 'list', metavar: 'PORT[/PROTO]', help: 'add an exposed port (or range)' },
  { name: 'expose-rm', kind: 'list', metavar: 'PORT[/PROTO]', help: 'remove an exposed port (or range)' },
  { name: 'constraint-add', kind: 'list', metavar: 'EXPR', help: 'add a placement constraint' },
  { name: 'constraint-rm', kind: 'list', metavar: 'EXPR', help: 'remove a placement constraint' },
  { name: 'placement-pref-add', kind: 'list', metavar: 'PREF', help: 'add a placement preference' },
  { name: 'placement-pref-rm', kind: 'list', metavar: 'PREF', help: 'remove a placement preference' },
  { name: 'publish-add', kind: 'list', metavar: 'PORT', help: 'add or update a published port' },
  { name: 'publish-rm', kind: 'list', metavar: 'PORT', help: 'remove a published port by its target port: TARGET[/PROTO] (or PUBLISHED:TARGET[/PROTO])' },
  { name: 'mount-add', kind: 'list', metavar: 'MOUNT', help: 'add or update a mount' },
  { name: 'mount-rm', kind: 'list', metavar: 'PATH', help: 'remove a mount by its target path' },
  { name: 'network-add', kind: 'list', metavar: 'NETWORK', help: 'attach the tasks to a network, or add aliases on one: NAME or name=NAME[,alias=ALIAS...]' },
  { name: 'network-rm', kind: 'list', metavar: 'NETWORK', help: 'detach the tasks from a network, its aliases with it (name or id)' },
  { name: 'secret-add', kind: 'list', metavar: 'SECRET', help: 'add or replace (at the same file) a secret: NAME or source=NAME[,target=PATH][,uid=][,gid=][,mode=]' },
  { name: 'secret-rm', kind: 'list', metavar: 'SECRET', help: 'remove a secret by its name or target' },
  { name: 'config-add', kind: 'list', metavar: 'CONFIG', help: 'add or replace (at the same file) a config: NAME or source=NAME[,target=PATH][,uid=][,gid=][,mode=]' },
  { name: 'config-rm', kind: 'list', metavar: 'CONFIG', help: 'remove a config by its name or target' },
  { name: 'force', kind: 'bool', help: 'force update even if no changes require it' },
  { name: 'rollback', kind: 'bool', help: 'rollback to previous specification' },
  ...SHARED_FLAGS,
];

/** Flags `service update --rollback` may be given with (docker's: rollback, detach, quiet; ours: the connection's). */
const ROLLBACK_COMPANIONS = new Set(['rollback', 'detach', 'quiet', 'host', 'data-dir', 'timeout', 'help']);

/** `service update --rollback` with another flag: refused, as docker. */
export function checkRollbackAlone(flags: Flags): void {
  if (flags.given().some((f) => !ROLLBACK_COMPANIONS.has(f))) throw new UsageError('other flags may not be combined with --rollback');
}

/** Flags that are not changes (update with only these is a no-op). */
const NOT_CHANGES = new Set(['detach', 'quiet', 'host', 'data-dir', 'timeout', 'help', 'rollback']);

// ------------------------------------------------------------ value parsers

/** A port number as docker reads it (strconv.ParseUint base 10) within 1..65535. */
function portNumber(s: string, what: string, bad: (why: string) => never): number {
  if (!/^[0-9]+$/.test(s)) bad(`${what} port ${quoteArg(s, 20)} is not a number`);
  const n = s.length > 6 ? Infinity : Number(s);
  if (n < 1 || n > 65535) bad(`${what} port ${s.length > 20 ? quoteArg(s, 20) : s} is out of range 1..65535`);
  return n;
}

/** `8080`, or a range `8000-8001`. */
function portRange(s: string, what: string, bad: (why: string) => never): [number, number] {
  const r = /^([0-9]+)-([0-9]+)$/.exec(s);
  if (!r) {
    const n = portNumber(s, what, bad);
    return [n, n];
  }
  const lo = portNumber(r[1], what, bad);
  const hi = portNumber(r[2], what, bad);
  if (hi < lo) bad(`the ${what} range ${s} is backwards`);
  return [lo, hi];
}

const PROTOCOLS = ['tcp', 'udp'] as const;

/**
 * The KEY=VALUE fields of docker's long form of an option (csv, see
 * splitFields), keys lower-cased as docker does and `aliases` mapped to
 * their key: [key, value, the key as written]. A field that is not
 * KEY=VALUE, or a key given twice, is refused with `bad`; `keys` lists the
 * known ones for the message.
 */
function keyedFields(value: string, flag: string, keys: string, bad: (why: string) => never, aliases: Readonly<Record<string, string>> = {}): [string, string, string][] {
  const seen = new Set<string>();
  return splitFields(value, flag).map((field): [string, string, string] => {
    const eq = field.indexOf('=');
    if (eq <= 0) bad(`invalid field ${quoteArg(field, 40)}: expected KEY=VALUE (${keys})`);
    const written = field.slice(0, eq).toLowerCase();
    const key = Object.hasOwn(aliases, written) ? aliases[written] : written;
    if (seen.has(key)) bad(`${key}= is given twice`);
    seen.add(key);
    return [key, field.slice(eq + 1), written];
  });
}

/**
 * `-p 8080:80`, `-p 8080:80/udp`, `-p 8000-8001:80-81`, or docker's long
 * syntax `-p published=8080,target=80,protocol=udp,mode=host` (fields read
 * like docker's csv; keys and words in any case, as docker lower-cases them;
 * `name=` is flotilla's). A target alone (`-p 80`, `-p 80-81/udp`,
 * `-p target=80`) is an ingress port whose published port the cluster
 * assigns from its range (publishedPort 0), as docker's; a host-mode port
 * needs its published port. Strict: no blanks, no empty field or protocol, no
 * key twice, ports 1..65535 in decimal.
 */
export function parsePublish(value: string, flag: string): PortConfig[] {
  const bad = (why: string): never => {
    throw invalidValue(flag, value, why);
  };
  if (value === '') bad('expected [PUBLISHED:]TARGET[/PROTO] or [published=P,]target=T[,protocol=udp][,mode=host]');
  if (value.includes('=')) {
    let published: number | undefined;
    let target: number | undefined;
    let protocol: PortProtocol = 'tcp';
    let publishMode: PublishMode = 'ingress';
    let name: string | undefined;
    for (const [key, v] of keyedFields(value, flag, 'published, target, protocol, mode, name', bad)) {
      switch (key) {
        case 'published':
          published = portNumber(v, 'published', bad);
          break;
        case 'target':
          target = portNumber(v, 'target', bad);
          break;
        case 'protocol':
          protocol = parseChoice(v, `${flag} protocol`, PROTOCOLS, { ignoreCase: true });
          break;
        case 'mode':
          publishMode = parseChoice(v, `${flag} mode`, ['ingress', 'host'] as const, { ignoreCase: true });
          break;
        case 'name':
          name = v;
          break;
        default:
          bad(`unknown option ${quoteArg(key, 40)} (use published, target, protocol, mode, name)`);
      }
    }
    if (target === undefined) return bad('target= is required');
    if (published === undefined && publishMode === 'host') return bad('mode=host needs published=PORT, the port to bind on the node of each task (the cluster assigns one to ingress ports only)');
    const p: PortConfig = { protocol, targetPort: target, publishedPort: published ?? 0, publishMode };
    return [name === undefined ? p : { name, ...p }];
  }
  const slash = value.indexOf('/');
  const ports = slash < 0 ? value : value.slice(0, slash);
  let protocol: PortProtocol = 'tcp';
  if (slash >= 0) {
    const proto = value.slice(slash + 1);
    if (proto === '') bad('the protocol after "/" is empty: use tcp or udp');
    protocol = parseChoice(proto, `${flag} protocol`, PROTOCOLS, { ignoreCase: true });
  }
  const parts = ports.split(':');
  if (parts.length > 2) bad('binding a published port to one IP address is not supported: use PUBLISHED:TARGET');
  if (parts.length === 1) {
    // TARGET alone: the cluster assigns each one a published port.
    const [lo, hi] = portRange(parts[0], 'target', bad);
    const out: PortConfig[] = [];
    for (let t = lo; t <= hi; t++) out.push({ protocol, targetPort: t, publishedPort: 0, publishMode: 'ingress' });
    return out;
  }
  if (parts[0] === '') bad('the published port before ":" is empty: use PUBLISHED:TARGET, or TARGET alone for a port assigned by the cluster');
  const [pLo, pHi] = portRange(parts[0], 'published', bad);
  const [tLo, tHi] = portRange(parts[1], 'target', bad);
  if (pHi - pLo !== tHi - tLo) bad('the published and target ranges must have the same length');
  const out: PortConfig[] = [];
  for (let i = 0; i <= pHi - pLo; i++) out.push({ protocol, targetPort: tLo + i, publishedPort: pLo + i, publishMode: 'ingress' });
  return out;
}

/**
 * `--mount type=bind,source=/a,target=/b,readonly` as docker reads it:
 * csv fields; keys type, source|src, target|dst|destination, readonly|ro
 * (case-sensitive, as docker's); the type in any case (docker lower-cases
 * it); readonly alone, or with a Go boolean. Refused: an empty field, a field
 * that is not KEY=VALUE, a key given twice, an unknown key.
 */
export function parseMountFlag(value: string, flag: string): Mount {
  const bad = (why: string): never => {
    throw invalidValue(flag, value, why);
  };
  const mount: Mount = { type: 'volume', source: '', target: '', readOnly: false };
  const seen = new Set<string>();
  const once = (what: string, key: string): void => {
    if (seen.has(what)) bad(`${key}= is given twice (or under another name)`);
    seen.add(what);
  };
  for (const field of splitFields(value, flag)) {
    const eq = field.indexOf('=');
    const key = eq < 0 ? field : field.slice(0, eq);
    if (eq < 0) {
      if (key === 'readonly' || key === 'ro') {
        once('readonly', key);
        mount.readOnly = true;
        continue;
      }
      bad(`invalid field ${quoteArg(field, 40)}: expected KEY=VALUE (type, source, target, readonly)`);
    }
    const v = field.slice(eq + 1);
    switch (key) {
      case 'type':
        once('type', key);
        mount.type = parseChoice(v, `${flag} type`, ['bind', 'volume'] as const, { ignoreCase: true });
        break;
      case 'source':
      case 'src':
        once('source', key);
        mount.source = v;
        break;
      case 'target':
      case 'dst':
      case 'destination':
        once('target', key);
        mount.target = v;
        break;
      case 'readonly':
      case 'ro':
        once('readonly', key);
        mount.readOnly = parseBool(v, `${flag} ${key}`);
        break;
      default:
        bad(`unknown option ${quoteArg(key, 40)} (use type, source, target, readonly)`);
    }
  }
  if (mount.target === '') bad('target= is required');
  return mount;
}

/** `spread=node.labels.zone`, as docker: exactly one '=', the strategy spelled `spread`. */
export function parsePlacementPref(value: string, flag: string): { spread: string } {
  const parts = value.split('=');
  if (parts.length !== 2) throw invalidValue(flag, value, 'expected spread=DESCRIPTOR, e.g. spread=node.labels.zone');
  if (parts[0] !== 'spread') throw invalidValue(flag, value, 'the only strategy is spread (spread=node.labels.KEY)');
  if (parts[1] === '') throw invalidValue(flag, value, 'the descriptor is empty: expected spread=node.labels.KEY');
  return { spread: parts[1] };
}

/** A network as --network and --network-add name it: a name, id or id prefix, and the service's aliases on it. */
export interface NetworkFlag {
  network: string;
  aliases: string[];
}

/**
 * `--network front`, or docker's long form `--network
 * name=front,alias=www,alias=web` (csv fields, keys in any case): a network
 * name, id or id prefix, and names the service answers to on that network
 * alone (DNS names, case-insensitive). docker's driver-opt= is refused
 * (flotilla's networks have no driver options), and so is any other key
 * (ip=, ...: `docker run`'s). `withAliases` false (--network-rm): name= alone.
 */
export function parseNetworkFlag(value: string, flag: string, withAliases = true): NetworkFlag {
  const bad = (why: string): never => {
    throw invalidValue(flag, value, why);
  };
  let ref = value;
  const aliases: string[] = [];
  if (value.includes('=')) {
    let name: string | undefined;
    const keys = withAliases ? 'name=NETWORK[,alias=ALIAS...]' : 'name=NETWORK';
    for (const field of splitFields(value, flag)) {
      const eq = field.indexOf('=');
      if (eq <= 0) bad(`invalid field ${quoteArg(field, 40)}: expected ${keys}`);
      const key = field.slice(0, eq).toLowerCase();
      const v = field.slice(eq + 1);
      if (key === 'name') {
        if (name !== undefined) bad('name= is given twice');
        name = v;
      } else if (key === 'alias' && withAliases) {
        try {
          validateNetworkAlias(v);
        } catch (err) {
          if (err instanceof ValidationError) bad(validationDetail(err.message, err.field, err.rule));
          throw err;
        }
        if (aliases.some((a) => a.toLowerCase() === v.toLowerCase())) bad(`the alias ${quoteArg(v, 40)} is given twice (aliases are case-insensitive)`);
        aliases.push(v);
      } else if (key === 'driver-opt') {
        bad('driver-opt= is not supported: flotilla networks have no driver options');
      } else {
        bad(`${quoteArg(key, 40)} is not supported: ${withAliases ? 'a network takes name= and alias= (name=NETWORK,alias=ALIAS)' : 'a network to detach is named alone (name=NETWORK, or NETWORK)'}`);
      }
    }
    ref = name ?? '';
  }
  if (ref === '') bad('expected the name or id of a network (see: flotilla network ls)');
  if (ref.length > MAX_ID_LENGTH || !NAME_PATTERN.test(ref)) {
    bad(`a network name or id is made of letters, digits, '_', '.' and '-', starts with a letter or digit, and has at most ${MAX_ID_LENGTH} characters`);
  }
  return { network: ref, aliases };
}

/** A secret's or config's name (or id, or id prefix) in a flag: a name as `create` takes it, or an earlier version's NAME~N. */
const FILE_OBJECT_REF = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*(?:~[1-9][0-9]{0,9})?$/;

/**
 * docker's file mode: octal with a leading 0 ('0400'; '0o400' too). docker
 * would read '400' as decimal (0620): refused rather than read either way.
 */
function parseFileMode(value: string, flag: string): number {
  const m = /^0o?([0-7]{1,4})$/.exec(value) ?? (value === '0' ? ['0', '0'] : null);
  if (!m) {
    const hint = /^[1-7][0-7]{0,3}$/.test(value) ? ` (docker would read ${value} as a decimal number: write 0${value})` : '';
    throw invalidValue(flag, value, `expected an octal file mode with a leading 0, such as 0400 or 0444${hint}`);
  }
  const mode = parseInt(m[1], 8);
  if (mode > 0o777) throw invalidValue(flag, value, 'a file mode is at most 0777 (permission bits only)');
  return mode;
}

/**
 * `--secret NAME` / `--config NAME`, or docker's long form
 * `source=NAME,target=PATH,uid=UID,gid=GID,mode=0400` (csv fields; keys in
 * any case, src for source; target defaults on the manager to the name for a
 * secret, /NAME for a config). The manager resolves the name to the object.
 */
export function parseFileRefFlag(value: string, flag: string, kind: 'secret' | 'config'): FileReference {
  const bad = (why: string): never => {
    throw invalidValue(flag, value, why);
  };
  const ref: FileReference = { id: '', name: value, target: '', uid: '0', gid: '0', mode: 0o444 };
  if (value.includes('=')) {
    ref.name = '';
    for (const [canonical, v, key] of keyedFields(value, flag, 'source, target, uid, gid, mode', bad, { src: 'source' })) {
      switch (canonical) {
        case 'source':
          ref.name = v;
          break;
        case 'target':
          if (v === '') bad('target= is empty: leave it out for the default');
          ref.target = v;
          break;
        case 'uid':
        case 'gid':
          if (!/^[0-9]{1,10}$/.test(v)) bad(`${canonical}= must be a numeric ${canonical === 'uid' ? 'user' : 'group'} id`);
          ref[canonical] = v;
          break;
        case 'mode':
          ref.mode = parseFileMode(v, `${flag} mode`);
          break;
        default:
          bad(`unknown option ${quoteArg(key, 40)} (use source, target, uid, gid, mode)`);
      }
    }
    if (ref.name === '') bad(`source= is required: the name of the ${kind}`);
  }
  if (ref.name === '') bad(`expected the name of a ${kind} (see: flotilla ${kind} ls)`);
  if (ref.name.length > MAX_ID_LENGTH || !FILE_OBJECT_REF.test(ref.name)) {
    bad(`a ${kind} name or id is made of letters, digits, '_', '.' and '-', starts with a letter or digit, and has at most ${MAX_ID_LENGTH} characters`);
  }
  return ref;
}

/** Where a reference puts its file (its target, or the default from its name), to match replacements and removals. */
function refFile(r: FileReference, kind: 'secret' | 'config'): string {
  return kind === 'secret' ? secretFilePath(r.target || r.name) : configFilePath(r.target || r.name);
}

/**
 * `--secret-add`/`--secret-rm` (or the config pair) applied to `refs`:
 * removals by name, target (as given or as the file's path) or id; an
 * addition replaces the reference to the same file (in place) or is
 * appended. Naming one name in both is refused.
 */
function updateFileRefs(refs: readonly FileReference[], flags: Flags, kind: 'secret' | 'config'): FileReference[] {
  const rm = flags.list(`${kind}-rm`).map((v) => {
    if (v === '') throw invalidValue(`--${kind}-rm`, v, `expected the name or target of a ${kind} to remove, got nothing`);
    return v;
  });
  const add = flags.list(`${kind}-add`).map((v) => parseFileRefFlag(v, `--${kind}-add`, kind));
  refuseBoth(add.map((r) => r.name), rm, `--${kind}-add`, `--${kind}-rm`, kind);
  const removed = (r: FileReference): boolean => rm.some((v) => v === r.name || v === r.id || v === r.target || v === refFile(r, kind));
  const out = refs.filter((r) => !removed(r));
  for (const r of add) {
    const at = out.find((x) => refFile(x, kind) === refFile(r, kind));
    // What the service has already (resolved, with its id): kept as it is, so that nothing changes.
    const same = at !== undefined && at.name === r.name && (r.target === '' || r.target === at.target) && at.uid === r.uid && at.gid === r.gid && at.mode === r.mode;
    if (!same) upsert(out, r, (x) => x === at);
  }
  return out;
}

/** The networks `service update --network-add/--network-rm` name, checked (UsageError), for the command to resolve to ids. */
export function networkUpdateRefs(flags: Flags): { add: string[]; rm: string[] } {
  return { add: networkAdds(flags).map((a) => a.network), rm: flags.list('network-rm').map((x) => parseNetworkFlag(x, '--network-rm', false).network) };
}

function networkAdds(flags: Flags): NetworkFlag[] {
  return flags.list('network-add').map((x) => parseNetworkFlag(x, '--network-add'));
}

/** `-e KEY=VALUE`, or `-e KEY` to take KEY from the CLI's own environment (as docker does). */
export function envEntry(value: string, env: Env): string {
  if (value.includes('=')) return value;
  const v = Object.hasOwn(env, value) ? env[value] : undefined;
  return typeof v === 'string' ? `${value}=${v}` : value;
}

function envKey(entry: string): string {
  const eq = entry.indexOf('=');
  return eq < 0 ? entry : entry.slice(0, eq);
}

/** Set a label as an own property, even '__proto__'. */
function setLabel(labels: Record<string, string>, key: string, value: string): void {
  Object.defineProperty(labels, key, { value, enumerable: true, writable: true, configurable: true });
}

/** A removal that names what an add of the same command sets: contradictory, refused (docker's order differs per flag). */
/**
 * `--expose PORT[/PROTO]` or `LO-HI[/PROTO]` (docker run's syntax; tcp by default) as the spec's canonical
 * "PORT/PROTO" entries. A range is bounded by what a service may expose.
 */
export function parseExpose(value: string, flag: string): string[] {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?(?:\/(tcp|udp))?$/i.exec(value.trim());
  const lo = m ? Number(m[1]) : NaN;
  const hi = m?.[2] === undefined ? lo : Number(m[2]);
  if (!m || lo < 1 || hi > 65535 || hi < lo) {
    throw new UsageError(`invalid ${flag} ${quoteArg(value)}: give PORT[/PROTO] or LO-HI[/PROTO], ports in 1..65535, PROTO tcp or udp`);
  }
  if (hi - lo + 1 > MAX_EXPOSED_PORTS) throw new UsageError(`invalid ${flag} ${quoteArg(value)}: a range of at most ${MAX_EXPOSED_PORTS} ports`);
  const proto = (m[3] ?? 'tcp').toLowerCase();
  const out: string[] = [];
  for (let p = lo; p <= hi; p++) out.push(`${p}/${proto}`);
  return out;
}

/** Each exposed port once, in the order given. */
function uniqueExposed(ports: readonly string[]): string[] {
  return [...new Set(ports)];
}

function refuseBoth(added: readonly string[], removed: readonly string[], addFlag: string, rmFlag: string, what: string): void {
  const rm = new Set(removed);
  const both = added.find((k) => rm.has(k));
  if (both !== undefined) throw new UsageError(`${addFlag} and ${rmFlag} both name the ${what} ${quoteArg(both)}: give only one of them`);
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
  '--container-label': '--container-label-add',
  '--expose': '--expose-add',
  '--constraint': '--constraint-add',
  '--placement-pref': '--placement-pref-add',
  '--publish': '--publish-add',
  '--mount': '--mount-add',
  '--network': '--network-add',
  '--secret': '--secret-add',
  '--config': '--config-add',
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
  rp.maxDelayMs = dur('restart-max-delay') ?? rp.maxDelayMs;

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
  const u = spec.updateConfig;
  u.canary = int('update-canary', 0, MAX_REPLICAS) ?? u.canary;
  if (flags.has('update-auto-promote')) u.autoPromote = flags.bool('update-auto-promote');
  u.progressDeadlineMs = dur('update-progress-deadline') ?? u.progressDeadlineMs;

  const e = spec.endpoint;
  const endpointMode = str('endpoint-mode');
  // The exact words, as every enum flag here (docker's `service update` too; its `create` lower-cases). vip,
  // the default, leaves the field out of the canonical spec.
  if (endpointMode !== undefined) e.mode = parseChoice<ResolutionMode>(endpointMode, '--endpoint-mode', ['vip', 'dnsrr']);
  const policy = str('lb-policy');
  if (policy !== undefined) e.lbPolicy = parseChoice<LbPolicy>(policy, '--lb-policy', ['round-robin', 'least-conn', 'random', 'weighted']);
  const proxy = str('proxy-protocol');
  if (proxy !== undefined) e.proxyProtocol = parseChoice<ProxyProtocol>(proxy, '--proxy-protocol', ['none', 'v1', 'v2']);
  const drain = dur('drain-period');
  if (drain !== undefined) e.drainPeriodMs = drain;
  const weight = int('lb-weight', 0, MAX_LB_WEIGHT);
  if (weight !== undefined) spec.taskTemplate.lbWeight = weight;
}

function replicasFlag(flags: Flags): number | undefined {
  const r = flags.str('replicas');
  return r === undefined ? undefined : parseInteger(r, '--replicas', 0, MAX_REPLICAS);
}

/** --replicas-max-per-node (Swarm's Placement.MaxReplicas; 0: no limit). */
function maxPerNodeFlag(flags: Flags): number | undefined {
  const r = flags.str('replicas-max-per-node');
  return r === undefined ? undefined : parseInteger(r, '--replicas-max-per-node', 0, MAX_REPLICAS);
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
  const maxPerNode = maxPerNodeFlag(flags);
  if (global && maxPerNode !== undefined) throw new UsageError('--replicas-max-per-node can only be used with replicated mode');
  const labels: Record<string, string> = {};
  for (const l of flags.list('label')) {
    const [k, v] = parseKeyValue(l, '--label', '');
    setLabel(labels, k, v);
  }
  const containerLabels: Record<string, string> = {};
  for (const l of flags.list('container-label')) {
    const [k, v] = parseKeyValue(l, '--container-label', '');
    setLabel(containerLabels, k, v);
  }
  const attachments = flags.list('network').map((n) => parseNetworkFlag(n, '--network'));
  const networks = attachments.map((a) => a.network);
  const twice = networks.find((n, i) => networks.indexOf(n) !== i);
  if (twice !== undefined) throw new UsageError(`--network names the network ${quoteArg(twice)} twice: give each network once`);
  const networkAliases = Object.fromEntries(attachments.filter((a) => a.aliases.length > 0).map((a) => [a.network, a.aliases]));
  const draft = {
    name: flags.str('name') ?? defaultName(image),
    labels,
    taskTemplate: {
      container: {
        image,
        args: [...args],
        env: flags.list('env').map((e) => envEntry(e, env)),
        mounts: flags.list('mount').map((m) => parseMountFlag(m, '--mount')),
        secrets: flags.list('secret').map((x) => parseFileRefFlag(x, '--secret', 'secret')),
        configs: flags.list('config').map((x) => parseFileRefFlag(x, '--config', 'config')),
        labels: containerLabels,
        expose: uniqueExposed(flags.list('expose').flatMap((x) => parseExpose(x, '--expose'))),
      },
      placement: {
        constraints: flags.list('constraint'),
        preferences: flags.list('placement-pref').map((p) => parsePlacementPref(p, '--placement-pref')),
        // 0 is the default: validation leaves it out.
        maxReplicas: maxPerNode ?? 0,
      },
      networks,
      networkAliases,
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

/**
 * Which port an added one replaces: the one with the same key, i.e. the same
 * published port and protocol; for a port the cluster assigns (published 0),
 * the same target and protocol.
 */
function portKey(p: PortConfig): string {
  return p.publishedPort === 0 ? `0:${p.targetPort}/${p.protocol}` : `${p.publishedPort}/${p.protocol}`;
}

/**
 * Which ports `--publish-rm VALUE` removes: by target port (and protocol),
 * `TARGET[/PROTO]` as docker's publish-rm, or exactly PUBLISHED:TARGET[/PROTO]
 * (or the long syntax). Validated like a port to publish: a removal that
 * can match no port is refused.
 */
function publishRmMatcher(value: string): (p: PortConfig) => boolean {
  const m = /^([0-9]+)(?:\/([^/]*))?$/.exec(value);
  if (m) {
    const bad = (why: string): never => {
      throw invalidValue('--publish-rm', value, why);
    };
    const target = portNumber(m[1], 'target', bad);
    if (m[2] === '') bad('the protocol after "/" is empty: use tcp or udp');
    const proto = m[2] === undefined ? undefined : parseChoice(m[2], '--publish-rm protocol', PROTOCOLS, { ignoreCase: true });
    return (p) => p.targetPort === target && (proto === undefined || p.protocol === proto);
  }
  const ports = parsePublish(value, '--publish-rm');
  return (p) => ports.some((q) => q.publishedPort === p.publishedPort && q.targetPort === p.targetPort && q.protocol === p.protocol);
}

/** A constraint in one canonical spelling ('node.role==worker'), for matching removals; refused if malformed. */
function constraintKey(expr: string, flag: string): string {
  if (expr.trim() === '') throw invalidValue(flag, expr, 'expected a constraint such as node.role==worker, got nothing');
  try {
    const c = parseConstraint(expr, flag);
    return `${c.key}${c.op}${c.value}`;
  } catch (err) {
    if (err instanceof ValidationError) throw new UsageError(`invalid ${flag}: ${validationDetail(err.message, err.field, err.rule)}`);
    throw err;
  }
}

/** The canonical spelling of a constraint already in a spec (they were validated; whitespace-free text otherwise). */
function existingConstraintKey(expr: string): string {
  try {
    const c = parseConstraint(expr);
    return `${c.key}${c.op}${c.value}`;
  } catch {
    return expr.replace(/\s+/g, '');
  }
}

/** Replace the item `same` finds in place (keeping the order, so re-adding what is there changes nothing), or append. */
function upsert<T>(items: T[], item: T, same: (x: T) => boolean): void {
  const i = items.findIndex(same);
  if (i >= 0) items[i] = item;
  else items.push(item);
}

export interface ServiceUpdatePlan {
  /** The complete new spec. */
  spec: ServiceSpec;
  /** false when the flags leave the spec as it is (then nothing needs to be sent). */
  changed: boolean;
}

/**
 * The new spec for `service update`: the flags applied to a copy of the
 * current one, and whether that changes anything. Removals must name
 * something the add flag could set (never empty); removing what is not there
 * is not an error (as docker); adding and removing the same thing in one
 * command is refused. `networkIds` maps the networks that --network-add and
 * --network-rm name to their ids (the spec holds ids; the command looks them
 * up first, see networkUpdateRefs); a name missing from it is sent as it is
 * (the manager resolves names) and removes nothing.
 */
export function planServiceUpdate(current: ServiceSpec, flags: Flags, env: Env, networkIds: ReadonlyMap<string, string> = new Map()): ServiceUpdatePlan {
  const before = validated(structuredClone(current), UPDATE_FIELD_FLAGS);
  const spec = structuredClone(before);
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
  const maxPerNode = maxPerNodeFlag(flags);
  if (maxPerNode !== undefined) {
    if (!('replicated' in spec.mode)) throw new UsageError(`service ${current.name} is global: --replicas-max-per-node only applies to replicated services`);
    // 0 lifts the limit: the canonical spec has no field then (validated() drops it).
    spec.taskTemplate.placement.maxReplicas = maxPerNode;
  }

  // env: remove, then add (replacing the same key where it is).
  const envRm = flags.list('env-rm').map((k) => parseRemovalKey(k, '--env-rm', 'NAME'));
  const envAdd = flags.list('env-add').map((raw) => envEntry(raw, env));
  refuseBoth(envAdd.map(envKey), envRm, '--env-add', '--env-rm', 'variable');
  c.env = c.env.filter((e) => !envRm.includes(envKey(e)));
  for (const e of envAdd) upsert(c.env, e, (x) => envKey(x) === envKey(e));

  const labelRm = flags.list('label-rm').map((k) => parseRemovalKey(k, '--label-rm'));
  const labelAdd = flags.list('label-add').map((l) => parseKeyValue(l, '--label-add', ''));
  refuseBoth(labelAdd.map(([k]) => k), labelRm, '--label-add', '--label-rm', 'label');
  for (const k of labelRm) if (Object.hasOwn(spec.labels, k)) Reflect.deleteProperty(spec.labels, k);
  for (const [k, v] of labelAdd) setLabel(spec.labels, k, v);

  const cLabelRm = flags.list('container-label-rm').map((k) => parseRemovalKey(k, '--container-label-rm'));
  const cLabelAdd = flags.list('container-label-add').map((l) => parseKeyValue(l, '--container-label-add', ''));
  refuseBoth(cLabelAdd.map(([k]) => k), cLabelRm, '--container-label-add', '--container-label-rm', 'label');
  const cLabels: Record<string, string> = { ...(c.labels ?? {}) };
  for (const k of cLabelRm) if (Object.hasOwn(cLabels, k)) Reflect.deleteProperty(cLabels, k);
  for (const [k, v] of cLabelAdd) setLabel(cLabels, k, v);
  c.labels = cLabels;

  const exposeRm = flags.list('expose-rm').flatMap((x) => parseExpose(x, '--expose-rm'));
  const exposeAdd = flags.list('expose-add').flatMap((x) => parseExpose(x, '--expose-add'));
  refuseBoth(exposeAdd, exposeRm, '--expose-add', '--expose-rm', 'port');
  c.expose = uniqueExposed([...(c.expose ?? []).filter((p) => !exposeRm.includes(p)), ...exposeAdd]);

  const p = spec.taskTemplate.placement;
  const cRm = flags.list('constraint-rm').map((x) => constraintKey(x, '--constraint-rm'));
  const cAdd = flags.list('constraint-add');
  refuseBoth(cAdd.map((x) => constraintKey(x, '--constraint-add')), cRm, '--constraint-add', '--constraint-rm', 'constraint');
  p.constraints = p.constraints.filter((x) => !cRm.includes(existingConstraintKey(x)));
  for (const x of cAdd) if (!p.constraints.some((y) => existingConstraintKey(y) === constraintKey(x, '--constraint-add'))) p.constraints.push(x);
  const prefRm = flags.list('placement-pref-rm').map((x) => parsePlacementPref(x, '--placement-pref-rm').spread);
  p.preferences = p.preferences.filter((x) => !prefRm.includes(x.spread));
  for (const x of flags.list('placement-pref-add')) {
    const pref = parsePlacementPref(x, '--placement-pref-add');
    if (!p.preferences.some((y) => y.spread === pref.spread)) p.preferences.push(pref);
  }

  const portRm = flags.list('publish-rm').map(publishRmMatcher);
  const ports = spec.endpoint.ports.filter((x) => !portRm.some((m) => m(x)));
  // Indexed by key: `--publish-add 1-65535:1-65535` is 65,535 ports.
  const at = new Map<string, number>();
  ports.forEach((x, i) => {
    if (!at.has(portKey(x))) at.set(portKey(x), i);
  });
  for (const add of flags.list('publish-add').flatMap((x) => parsePublish(x, '--publish-add'))) {
    const i = at.get(portKey(add));
    if (i === undefined) at.set(portKey(add), ports.push(add) - 1);
    else ports[i] = add;
  }
  spec.endpoint.ports = ports;

  const mountRm = flags.list('mount-rm').map((t) => {
    if (t === '') throw invalidValue('--mount-rm', t, 'expected the target path of a mount, got nothing');
    if (!t.startsWith('/')) throw invalidValue('--mount-rm', t, 'a mount target is an absolute path');
    return t;
  });
  const mountAdd = flags.list('mount-add').map((x) => parseMountFlag(x, '--mount-add'));
  const addTargets = mountAdd.map((m) => m.target);
  const twice = addTargets.find((t, i) => addTargets.indexOf(t) !== i);
  if (twice !== undefined) throw new UsageError(`--mount-add names the target ${quoteArg(twice)} twice`);
  refuseBoth(addTargets, mountRm, '--mount-add', '--mount-rm', 'target');
  c.mounts = c.mounts.filter((m) => !mountRm.includes(m.target));
  for (const add of mountAdd) upsert(c.mounts, add, (m) => m.target === add.target);

  // Networks: by id. As docker, --network-rm first (a network's aliases go with it), then --network-add: naming
  // a network in both re-attaches it, in its place, with the aliases given (how its aliases are replaced); adding
  // a network the service has adds only the aliases it does not have yet (none: nothing changes).
  const id = (ref: string): string => networkIds.get(ref) ?? ref;
  const netRm = flags.list('network-rm').map((x) => id(parseNetworkFlag(x, '--network-rm', false).network));
  const adds = networkAdds(flags);
  const readded = new Set(adds.map((a) => id(a.network)));
  const networks = (spec.taskTemplate.networks ?? []).filter((n) => !netRm.includes(n) || readded.has(n));
  const aliases = new Map(Object.entries(spec.taskTemplate.networkAliases ?? {}).filter(([n]) => !netRm.includes(n)));
  for (const add of adds) {
    const n = id(add.network);
    if (!networks.includes(n)) networks.push(n);
    const have = aliases.get(n) ?? [];
    for (const a of add.aliases) if (!have.some((h) => h.toLowerCase() === a.toLowerCase())) have.push(a);
    aliases.set(n, have);
  }
  spec.taskTemplate.networks = networks;
  // Canonical again through validated(): in the order of the networks, none empty.
  spec.taskTemplate.networkAliases = Object.fromEntries(aliases);

  c.secrets = updateFileRefs(c.secrets ?? [], flags, 'secret');
  c.configs = updateFileRefs(c.configs ?? [], flags, 'config');

  applyShared(spec, flags);
  // docker's --force: a new ForceUpdate redeploys every task though nothing else changes.
  if (flags.bool('force')) spec.taskTemplate.forceUpdate += 1;
  const next = validated(spec, UPDATE_FIELD_FLAGS);
  return { spec: next, changed: !isDeepStrictEqual(next, before) };
}

/** The new spec for `service update` (planServiceUpdate's spec). */
export function applyServiceUpdate(current: ServiceSpec, flags: Flags, env: Env, networkIds?: ReadonlyMap<string, string>): ServiceSpec {
  return planServiceUpdate(current, flags, env, networkIds).spec;
}
