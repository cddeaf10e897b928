// Validation of every object and spec the store accepts. Each validator takes
// `unknown` (a transaction decoded from JSON, a control API request) and either
// returns the canonical copy (known fields only, in a fixed key order, defaults
// filled in) or throws a ValidationError naming the field and the rule.
//
// Everything here is pure and deterministic: the store runs it inside apply()
// on every replica, so the same input must give the same verdict everywhere.
// It is part of the contract (src/api): the converters run it on everything
// that arrives from the wire, in the manager, the agent and the CLI alike.
import {
  isTaskState,
  taskStateName,
  type Cluster,
  type Config,
  type ContainerSpec,
  type EndpointSpec,
  type FileReference,
  type HealthCheck,
  type Kind,
  type KindMap,
  type Labels,
  type ManagerStatus,
  type Mount,
  type Network,
  type NetworkAttachment,
  type NetworkConfig,
  type NetworkSpec,
  type Node,
  type PortBinding,
  type ServiceEndpoint,
  type Placement,
  type PlacementPreference,
  type PortConfig,
  type ResourceRequirements,
  type Resources,
  type RestartDecision,
  type RestartPolicy,
  type Secret,
  type SecretSpec,
  type Service,
  type ServiceMode,
  type ServiceSpec,
  type Task,
  type TaskState,
  type TaskStatus,
  type TaskTemplate,
  type UpdateConfig,
  type UpdateStatus,
} from './objects.js';
import { clipInput, describe, fieldKey, itemStr, MAX_STRING_LENGTH, quoteInput, quoteValue, ValidationError } from './input.js';
import { findEqual, type SharedTaskParts } from './shared-specs.js';
import { normalizeDescriptor, parseConstraint } from './constraint.js';

export const MAX_NAME_LENGTH = 63;
export const MAX_LABEL_KEY_LENGTH = 128;
export const MAX_LABEL_VALUE_LENGTH = 4096;
export const MAX_REPLICAS = 100_000;
export const MAX_ID_LENGTH = 128;
export const MAX_IMAGE_NAME_LENGTH = 255;
export const MAX_SECRET_BYTES = 500 * 1024;
export const MAX_CONFIG_BYTES = 1000 * 1024;
/** A task's default weight under the 'weighted' load-balancing policy. */
export const DEFAULT_LB_WEIGHT = 100;
export const MAX_LB_WEIGHT = 1_000_000;
/** A service's aliases on one network (Swarm has no limit; a DNS table of names per network should stay small). */
export const MAX_ALIASES_PER_NETWORK = 32;
/** A DNS name's length in characters (RFC 1035's 255 octets on the wire, less the length bytes). */
export const MAX_DNS_NAME_LENGTH = 253;
/** How long a task stays up after it left the proxies' rotation (the issue's 2 s). */
export const DEFAULT_DRAIN_PERIOD_MS = 2_000;
/** The data plane's ranges when init sets none (documented in the README). */
export const DEFAULT_NETWORK_CONFIG: NetworkConfig = { vipPool: '10.240.0.0/16', vipPoolMaskLength: 24, publishedPortRangeStart: 30000, publishedPortRangeEnd: 32767 };

export const NAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const ID_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

// ---------------------------------------------------------------------------
// Generic readers over JSON-like values

type Obj = Record<string, unknown>;

function at(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

function isObj(x: unknown): x is Obj {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** An own property; null counts as absent. */
function prop(o: Obj, key: string): unknown {
  if (!Object.hasOwn(o, key)) return undefined;
  const v = o[key];
  return v === null ? undefined : v;
}


function asObj(x: unknown, field: string): Obj {
  if (x === undefined || x === null) throw new ValidationError(field, 'required', 'is required');
  if (!isObj(x)) throw new ValidationError(field, 'type', `must be an object, not ${describe(x)}`);
  return x;
}

/** The object at o[key], or {} when absent (so that every field inside takes its default). */
function subObj(o: Obj, key: string, path: string): Obj {
  const v = prop(o, key);
  return v === undefined ? {} : asObj(v, at(path, key));
}

// The readers below build a field's path ('status.message') only to name it in
// an error: they run for every field of every object a manager applies, and
// the strings would be most of what they allocate.

function str(o: Obj, key: string, path: string, def?: string, max = MAX_STRING_LENGTH): string {
  const v = prop(o, key);
  if (typeof v === 'string' && v.length <= max) return v;
  if (v === undefined) {
    if (def === undefined) throw new ValidationError(at(path, key), 'required', 'is required');
    return def;
  }
  if (typeof v !== 'string') throw new ValidationError(at(path, key), 'type', `must be a string, not ${describe(v)}`);
  throw new ValidationError(at(path, key), 'length', `must be at most ${max} characters (got ${v.length})`);
}

interface IntOpts {
  def?: number;
  min?: number;
  max?: number;
  /** The rule named when the value is out of range. */
  rule?: string;
}

function int(o: Obj, key: string, path: string, opts: IntOpts = {}): number {
  const v = prop(o, key);
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= (opts.min ?? 0) && v <= (opts.max ?? Number.MAX_SAFE_INTEGER)) return v;
  if (v === undefined) {
    if (opts.def === undefined) throw new ValidationError(at(path, key), 'required', 'is required');
    return opts.def;
  }
  return checkInt(v, at(path, key), opts);
}

function checkInt(v: unknown, field: string, opts: IntOpts): number {
  const min = opts.min ?? 0;
  const max = opts.max ?? Number.MAX_SAFE_INTEGER;
  const rule = opts.rule ?? 'range';
  if (typeof v !== 'number') throw new ValidationError(field, 'type', `must be a number, not ${describe(v)}`);
  if (!Number.isSafeInteger(v)) throw new ValidationError(field, rule, `must be an integer (got ${v})`);
  if (v < min || v > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in ${min}..${max}`;
    throw new ValidationError(field, rule, `must be ${range} (got ${v})`);
  }
  return v;
}

/** A duration in milliseconds: a non-negative integer. */
function duration(o: Obj, key: string, path: string, def: number): number {
  return int(o, key, path, { def, min: 0, rule: 'duration' });
}

function bool(o: Obj, key: string, path: string, def: boolean): boolean {
  const v = prop(o, key);
  if (v === undefined) return def;
  if (typeof v !== 'boolean') throw new ValidationError(at(path, key), 'type', `must be a boolean, not ${describe(v)}`);
  return v;
}

function oneOf<T extends string>(o: Obj, key: string, path: string, values: readonly T[], def?: T, rule = 'enum'): T {
  const v = prop(o, key);
  if (v === undefined) {
    if (def === undefined) throw new ValidationError(at(path, key), 'required', `is required (one of ${values.join(', ')})`);
    return def;
  }
  if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) {
    throw new ValidationError(at(path, key), rule, `must be one of ${values.join(', ')} (got ${quoteValue(v)})`);
  }
  return v as T;
}

function list<T>(o: Obj, key: string, path: string, item: (x: unknown, field: string) => T): T[] {
  const field = at(path, key);
  const v = prop(o, key);
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new ValidationError(field, 'type', `must be an array, not ${describe(v)}`);
  return v.map((x, i) => item(x, `${field}[${i}]`));
}


function taskState(o: Obj, key: string, path: string, def?: TaskState): TaskState {
  const v = prop(o, key);
  if (v === undefined) {
    if (def === undefined) throw new ValidationError(at(path, key), 'required', 'is required');
    return def;
  }
  if (!isTaskState(v)) throw new ValidationError(at(path, key), 'task-state', `must be a task state value (got ${quoteValue(v)})`);
  return v;
}

// ---------------------------------------------------------------------------
// Leaf rules

/** A service, secret, config or cluster name: 1..63 characters, `^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`. */
export function validateName(name: unknown, field = 'name'): string {
  if (typeof name !== 'string') throw new ValidationError(field, 'type', `must be a string, not ${describe(name)}`);
  if (name.length === 0 || name.length > MAX_NAME_LENGTH) {
    throw new ValidationError(field, 'name-length', `must be 1..${MAX_NAME_LENGTH} characters (got ${name.length})`);
  }
  if (!NAME_PATTERN.test(name)) {
    throw new ValidationError(field, 'name-format', `${quoteInput(name)} must start with a letter or digit and contain only letters, digits, '_', '.', '-'`);
  }
  return name;
}

/** An object id: 1..128 characters, `^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`. */
export function validateId(id: unknown, field = 'id'): string {
  if (id === undefined || id === null || id === '') throw new ValidationError(field, 'required', 'is required');
  if (typeof id !== 'string') throw new ValidationError(field, 'type', `must be a string, not ${describe(id)}`);
  if (id.length > MAX_ID_LENGTH || !ID_PATTERN.test(id)) {
    throw new ValidationError(field, 'id-format', `${quoteInput(id)} is not a valid id (1..${MAX_ID_LENGTH} of [a-zA-Z0-9_.-], starting with a letter or digit)`);
  }
  return id;
}

/** Labels: keys 1..128 characters, values strings of at most 4096. Absent = {}. */
export function validateLabels(labels: unknown, field = 'labels'): Labels {
  if (labels === undefined || labels === null) return {};
  const o = asObj(labels, field);
  const entries: [string, string][] = [];
  for (const key of Object.keys(o)) {
    // The path is built only for an error (this runs for every label of every node applied).
    const f = (): string => fieldKey(field, key);
    if (key.length === 0 || key.length > MAX_LABEL_KEY_LENGTH) {
      throw new ValidationError(f(), 'label-key', `label keys must be 1..${MAX_LABEL_KEY_LENGTH} characters (got ${key.length})`);
    }
    const v = o[key];
    if (typeof v !== 'string') throw new ValidationError(f(), 'type', `label values must be strings, not ${describe(v)}`);
    if (v.length > MAX_LABEL_VALUE_LENGTH) {
      throw new ValidationError(f(), 'label-value', `label values must be at most ${MAX_LABEL_VALUE_LENGTH} characters (got ${v.length})`);
    }
    entries.push([key, v]);
  }
  // fromEntries defines own properties, so even a '__proto__' key stays a plain label.
  return Object.fromEntries(entries);
}

export interface ImageReference {
  /** Registry host[:port], '' when none is given. */
  domain: string;
  /** Repository path, e.g. 'library/redis' or 'redis'. */
  path: string;
  tag: string;
  digest: string;
}

const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN_RE = new RegExp(`^${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*(?::[0-9]{1,5})?$`);
const PATH_COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

/**
 * Parse a Docker image reference, `[registry[:port]/]name[:tag][@sha256:<64 hex>]`,
 * with the Docker grammar: path components are lowercase alphanumerics
 * separated by '.', '_', '__' or dashes; the first component is a registry when
 * it contains '.' or ':' or is 'localhost'.
 */
export function parseImageReference(ref: unknown, field = 'image'): ImageReference {
  if (typeof ref !== 'string') throw new ValidationError(field, 'type', `must be a string, not ${describe(ref)}`);
  if (ref.length === 0) throw new ValidationError(field, 'required', 'is required');
  if (ref.length > MAX_IMAGE_NAME_LENGTH + 1 + 128 + 1 + 71) {
    throw new ValidationError(field, 'image-reference', 'image reference is too long');
  }
  const bad = (why: string): never => {
    // The reference and the part at fault together quote about 100 characters of it.
    throw new ValidationError(field, 'image-reference', `${quoteInput(ref, 60)} is not a valid image reference: ${why}`);
  };
  let rest = ref;
  let digest = '';
  const atSign = rest.indexOf('@');
  if (atSign >= 0) {
    digest = rest.slice(atSign + 1);
    rest = rest.slice(0, atSign);
    if (!DIGEST_RE.test(digest)) bad('the digest must be sha256: followed by 64 lowercase hex digits');
  }
  let tag = '';
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) bad(`invalid tag ${quoteInput(tag, 40)} (1..128 of [A-Za-z0-9_.-], not starting with '.' or '-')`);
  }
  if (rest.length === 0) bad('the name is empty');
  if (rest.length > MAX_IMAGE_NAME_LENGTH) bad(`the name must be at most ${MAX_IMAGE_NAME_LENGTH} characters`);
  const parts = rest.split('/');
  let domain = '';
  if (parts.length > 1 && (parts[0].includes('.') || parts[0].includes(':') || parts[0] === 'localhost')) {
    domain = parts.shift() as string;
    if (!DOMAIN_RE.test(domain)) bad(`invalid registry ${quoteInput(domain, 40)}`);
  }
  for (const c of parts) {
    if (PATH_COMPONENT_RE.test(c)) continue;
    if (PATH_COMPONENT_RE.test(c.toLowerCase())) {
      throw new ValidationError(field, 'image-lowercase', `${quoteInput(ref)}: repository name must be lowercase`);
    }
    bad(`invalid path component ${quoteInput(c, 40)}`);
  }
  return { domain, path: parts.join('/'), tag, digest };
}

export function validateImageReference(ref: unknown, field = 'image'): string {
  parseImageReference(ref, field);
  return ref as string;
}

/** One `KEY=VALUE` environment entry: a non-empty key, which therefore has no '='. */
export function validateEnvEntry(entry: unknown, field = 'env'): string {
  const s = itemStr(entry, field);
  const eq = s.indexOf('=');
  if (eq < 0) throw new ValidationError(field, 'env-format', `${quoteInput(s)} must be KEY=VALUE`);
  if (eq === 0) throw new ValidationError(field, 'env-format', `${quoteInput(s)} has an empty key`);
  if (s.includes('\0')) throw new ValidationError(field, 'env-format', 'must not contain NUL');
  return s;
}


/** The name at o[key]: required, then the name rules. */
function nameAt(o: Obj, key: string, path: string): string {
  const v = prop(o, key);
  if (v === undefined) throw new ValidationError(at(path, key), 'required', 'is required');
  return validateName(v, at(path, key));
}

function absolutePath(s: string, field: string, rule: string): void {
  if (!s.startsWith('/')) throw new ValidationError(field, rule, `${quoteInput(s)} must be an absolute path`);
}

// ---------------------------------------------------------------------------
// Service spec

function parseMount(x: unknown, field: string): Mount {
  const o = asObj(x, field);
  const type = oneOf(o, 'type', field, ['bind', 'volume'] as const, undefined, 'mount-type');
  const source = str(o, 'source', field, '');
  const target = str(o, 'target', field);
  if (target.length === 0) throw new ValidationError(at(field, 'target'), 'required', 'is required');
  absolutePath(target, at(field, 'target'), 'mount-target');
  if (type === 'bind') {
    if (source.length === 0) throw new ValidationError(at(field, 'source'), 'required', 'a bind mount needs a source');
    absolutePath(source, at(field, 'source'), 'mount-source');
  } else if (source.length > 0) {
    validateName(source, at(field, 'source'));
  }
  return { type, source, target, readOnly: bool(o, 'readOnly', field, false) };
}

function parseHealthCheck(o: Obj, path: string): HealthCheck {
  const testField = at(path, 'test');
  const test = list(o, 'test', path, itemStr);
  if (test.length > 0) {
    const kind = test[0];
    const ok = (kind === 'NONE' && test.length === 1) || (kind === 'CMD' && test.length >= 2) || (kind === 'CMD-SHELL' && test.length === 2);
    if (!ok) throw new ValidationError(testField, 'healthcheck-test', `must be [], ["NONE"], ["CMD", arg...] or ["CMD-SHELL", command] (got ${clipInput(JSON.stringify(test))})`);
  }
  return {
    test,
    intervalMs: duration(o, 'intervalMs', path, 0),
    timeoutMs: duration(o, 'timeoutMs', path, 0),
    retries: int(o, 'retries', path, { def: 0, min: 0, rule: 'healthcheck-retries' }),
    startPeriodMs: duration(o, 'startPeriodMs', path, 0),
  };
}

export function validateContainerSpec(x: unknown, path = 'container'): ContainerSpec {
  const o = asObj(x, path);
  const image = validateImageReference(str(o, 'image', path), at(path, 'image'));
  const command = list(o, 'command', path, itemStr);
  const args = list(o, 'args', path, itemStr);
  const env = list(o, 'env', path, validateEnvEntry);
  const dir = str(o, 'dir', path, '');
  if (dir) absolutePath(dir, at(path, 'dir'), 'dir');
  const user = str(o, 'user', path, '');
  const mounts = list(o, 'mounts', path, parseMount);
  const targets = new Set<string>();
  mounts.forEach((m, i) => {
    if (targets.has(m.target)) throw new ValidationError(`${at(path, 'mounts')}[${i}].target`, 'mount-duplicate', `${quoteInput(m.target)} is mounted twice`);
    targets.add(m.target);
  });
  const hcRaw = prop(o, 'healthcheck');
  const healthcheck = hcRaw === undefined ? undefined : parseHealthCheck(asObj(hcRaw, at(path, 'healthcheck')), at(path, 'healthcheck'));
  const stopGracePeriodMs = duration(o, 'stopGracePeriodMs', path, 10_000);
  const secrets = list(o, 'secrets', path, (v, f) => parseFileReference(v, f, 'secret'));
  const configs = list(o, 'configs', path, (v, f) => parseFileReference(v, f, 'config'));
  checkFileTargets(secrets, configs, mounts, path);
  // The canonical key order is the same whether or not there is a health check.
  const base = healthcheck === undefined
    ? { image, command, args, env, dir, user, mounts, stopGracePeriodMs }
    : { image, command, args, env, dir, user, mounts, healthcheck, stopGracePeriodMs };
  const labels = validateLabels(prop(o, 'labels'), at(path, 'labels'));
  const expose = list(o, 'expose', path, validateExposedPort);
  if (expose.length > MAX_EXPOSED_PORTS) throw new ValidationError(at(path, 'expose'), 'expose-count', `at most ${MAX_EXPOSED_PORTS} exposed ports (got ${expose.length})`);
  expose.forEach((p, i) => {
    if (expose.indexOf(p) !== i) throw new ValidationError(`${at(path, 'expose')}[${i}]`, 'expose-duplicate', `${p} is exposed twice`);
  });
  return { ...base, ...nonEmpty('secrets', secrets), ...nonEmpty('configs', configs), ...(Object.keys(labels).length > 0 ? { labels } : {}), ...nonEmpty('expose', expose) };
}

/** A proxy (a listener on every node) per exposed port and service: bounded like published ports. */
export const MAX_EXPOSED_PORTS = 100;

/** An exposed port, "PORT/PROTO" (canonical: the protocol always given, tcp or udp). */
function validateExposedPort(x: unknown, field: string): string {
  const m = typeof x === 'string' ? /^([1-9]\d{0,4})\/(tcp|udp)$/.exec(x) : null;
  if (!m || Number(m[1]) > 65535) throw new ValidationError(field, 'expose', `must be PORT/tcp or PORT/udp with PORT in 1..65535, not ${typeof x === 'string' ? quoteInput(x) : describe(x)}`);
  return x as string;
}

/** Where a secret reference's file is in the container: /run/secrets/TARGET, or TARGET when absolute. */
export function secretFilePath(target: string): string {
  return target.startsWith('/') ? target : `/run/secrets/${target}`;
}

/** Where a config reference's file is in the container: TARGET when absolute, else '/' + TARGET (as docker's CLI does). */
export function configFilePath(target: string): string {
  return target.startsWith('/') ? target : `/${target}`;
}

const NUMERIC_ID_RE = /^\d{1,10}$/;

function parseFileReference(x: unknown, field: string, kind: 'secret' | 'config'): FileReference {
  const o = asObj(x, field);
  const id = str(o, 'id', field, '', 64);
  if (id) validateId(id, at(field, 'id'));
  const name = str(o, 'name', field, '', 80);
  if (!id && !name) throw new ValidationError(at(field, 'name'), 'required', `names no ${kind}: give its name or id`);
  const target = str(o, 'target', field, '', 4096);
  if (target) {
    if (target.split('/').some((part) => part === '..' || part === '.') || target.includes('\0') || target.endsWith('/')) {
      throw new ValidationError(at(field, 'target'), 'file-target', `must be a file name or an absolute file path without "." or ".." parts (got ${quoteInput(target)})`);
    }
    if (kind === 'secret' && !target.startsWith('/') && target.includes('//')) {
      throw new ValidationError(at(field, 'target'), 'file-target', `must be a file name under /run/secrets/ (got ${quoteInput(target)})`);
    }
  }
  const owner = (key: 'uid' | 'gid'): string => {
    const v = str(o, key, field, '0', 16) || '0';
    if (!NUMERIC_ID_RE.test(v) || Number(v) > 0xffffffff) throw new ValidationError(at(field, key), 'file-owner', `must be a numeric ${key === 'uid' ? 'user' : 'group'} id (got ${quoteInput(v)})`);
    return String(Number(v));
  };
  const uid = owner('uid');
  const gid = owner('gid');
  const mode = int(o, 'mode', field, { def: 0o444, min: 0, max: 0o777, rule: 'file-mode' });
  return { id, name, target, uid, gid, mode };
}

/** Two files at one path, or a file where a mount is, would hide one another. */
function checkFileTargets(secrets: FileReference[], configs: FileReference[], mounts: Mount[], path: string): void {
  const seen = new Map<string, string>();
  const files: [FileReference, string, string][] = [
    ...secrets.map((r, i): [FileReference, string, string] => [r, `${at(path, 'secrets')}[${i}].target`, secretFilePath(r.target || r.name)]),
    ...configs.map((r, i): [FileReference, string, string] => [r, `${at(path, 'configs')}[${i}].target`, configFilePath(r.target || r.name)]),
  ];
  for (const [, field, file] of files) {
    if (!file || file === '/' || file === '/run/secrets/') continue;
    const prev = seen.get(file);
    if (prev !== undefined) throw new ValidationError(field, 'file-target-duplicate', `${quoteInput(file)} is already the target of ${prev}`);
    seen.set(file, field);
    for (const m of mounts) {
      if (within(file, m.target)) throw new ValidationError(field, 'file-target-mount', `${quoteInput(file)} is inside the mount at ${quoteInput(m.target)}`);
    }
  }
}

function parseResources(o: Obj, path: string): Resources {
  return {
    nanoCpus: int(o, 'nanoCpus', path, { def: 0, min: 0, rule: 'resources' }),
    memoryBytes: int(o, 'memoryBytes', path, { def: 0, min: 0, rule: 'resources' }),
  };
}

export function validateResources(x: unknown, path = 'resources'): ResourceRequirements {
  const o = x === undefined || x === null ? {} : asObj(x, path);
  const limits = parseResources(subObj(o, 'limits', path), at(path, 'limits'));
  const reservations = parseResources(subObj(o, 'reservations', path), at(path, 'reservations'));
  for (const k of ['nanoCpus', 'memoryBytes'] as const) {
    if (limits[k] > 0 && reservations[k] > 0 && reservations[k] > limits[k]) {
      throw new ValidationError(`${path}.reservations.${k}`, 'reservation-exceeds-limit', `reservation ${reservations[k]} exceeds the limit ${limits[k]}`);
    }
  }
  return { limits, reservations };
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = { condition: 'any', delayMs: 5_000, maxAttempts: 0, windowMs: 0, maxDelayMs: 300_000 };

export function validateRestartPolicy(x: unknown, path = 'restartPolicy'): RestartPolicy {
  const o = x === undefined || x === null ? {} : asObj(x, path);
  const d = DEFAULT_RESTART_POLICY;
  return {
    condition: oneOf(o, 'condition', path, ['none', 'on-failure', 'any'] as const, d.condition, 'restart-condition'),
    delayMs: duration(o, 'delayMs', path, d.delayMs),
    maxAttempts: int(o, 'maxAttempts', path, { def: d.maxAttempts, min: 0, rule: 'restart-max-attempts' }),
    windowMs: duration(o, 'windowMs', path, d.windowMs),
    maxDelayMs: duration(o, 'maxDelayMs', path, d.maxDelayMs),
  };
}

export function validatePlacement(x: unknown, path = 'placement'): Placement {
  const o = x === undefined || x === null ? {} : asObj(x, path);
  const constraints = list(o, 'constraints', path, (c, f) => {
    parseConstraint(c, f);
    return c as string;
  });
  const preferences = list(o, 'preferences', path, (p, f): PlacementPreference => {
    const po = asObj(p, f);
    const spread = str(po, 'spread', f);
    if (normalizeDescriptor(spread) === undefined) {
      throw new ValidationError(at(f, 'spread'), 'spread-descriptor', `${quoteInput(spread)} is not a node descriptor such as node.labels.<key>`);
    }
    return { spread };
  });
  // Absent at its default (see objects.ts).
  return { constraints, preferences, ...unlessDefault('maxReplicas', int(o, 'maxReplicas', path, { def: 0, min: 0, max: MAX_REPLICAS, rule: 'max-replicas' }), 0) };
}

export function validateTaskTemplate(x: unknown, path = 'taskTemplate'): TaskTemplate {
  const o = asObj(x, path);
  return {
    container: validateContainerSpec(prop(o, 'container'), at(path, 'container')),
    resources: validateResources(prop(o, 'resources'), at(path, 'resources')),
    restartPolicy: validateRestartPolicy(prop(o, 'restartPolicy'), at(path, 'restartPolicy')),
    placement: validatePlacement(prop(o, 'placement'), at(path, 'placement')),
    forceUpdate: int(o, 'forceUpdate', path, { def: 0, min: 0, rule: 'force-update' }),
    // Absent at their defaults (see objects.ts).
    ...nonEmpty('networks', list(o, 'networks', path, (v, field) => validateId(v, field))),
    ...unlessDefault('lbWeight', int(o, 'lbWeight', path, { def: DEFAULT_LB_WEIGHT, min: 0, max: MAX_LB_WEIGHT, rule: 'lb-weight' }), DEFAULT_LB_WEIGHT),
    ...networkAliases(o, path),
  };
}

const DNS_LABEL = /^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/;

/**
 * A service's alias on a network: a DNS name (RFC 1123 host name: labels of
 * letters, digits and '-' that neither start nor end with '-', at most 63
 * characters each, 253 in all), matched case-insensitively. Not `tasks.*`:
 * that asks for the tasks of a service.
 */
export function validateNetworkAlias(alias: unknown, field = 'alias'): string {
  if (typeof alias !== 'string') throw new ValidationError(field, 'type', `must be a string, not ${describe(alias)}`);
  if (alias.length === 0 || alias.length > MAX_DNS_NAME_LENGTH) {
    throw new ValidationError(field, 'alias-length', `a network alias must be 1..${MAX_DNS_NAME_LENGTH} characters (got ${alias.length})`);
  }
  if (!alias.split('.').every((label) => DNS_LABEL.test(label))) {
    throw new ValidationError(field, 'alias-format', `${quoteInput(alias)} is not a DNS name: dot-separated labels of letters, digits and '-' (not first or last), at most 63 characters each`);
  }
  if (/^tasks\./i.test(alias)) throw new ValidationError(field, 'alias-format', `${quoteInput(alias)} may not start with "tasks.": that name asks for the tasks of a service`);
  return alias;
}

/**
 * The task template's per-network aliases (see objects.ts): keyed by one of
 * its networks, as spelled there; each network's aliases distinct (case
 * aside), at most MAX_ALIASES_PER_NETWORK. Canonical: in the order of
 * `networks`, without empty lists, absent when there are none.
 */
function networkAliases(o: Obj, path: string): { networkAliases?: Record<string, string[]> } {
  const v = prop(o, 'networkAliases');
  if (v === undefined) return {};
  const field = at(path, 'networkAliases');
  const given = asObj(v, field);
  const networks = list(o, 'networks', path, (n) => n as string);
  const byNetwork = new Map<string, string[]>();
  for (const network of Object.keys(given)) {
    const f = fieldKey(field, network);
    if (!networks.includes(network)) {
      throw new ValidationError(f, 'alias-network', `the service is not attached to network ${quoteInput(network)}: attach it (networks) to give it aliases there`);
    }
    const aliases = given[network];
    if (!Array.isArray(aliases)) throw new ValidationError(f, 'type', `must be an array of aliases, not ${describe(aliases)}`);
    if (aliases.length > MAX_ALIASES_PER_NETWORK) {
      throw new ValidationError(f, 'alias-count', `at most ${MAX_ALIASES_PER_NETWORK} aliases on one network (got ${aliases.length})`);
    }
    const seen = new Set<string>();
    const valid = aliases.map((a, i) => {
      const alias = validateNetworkAlias(a, `${f}[${i}]`);
      if (seen.has(alias.toLowerCase())) throw new ValidationError(`${f}[${i}]`, 'alias-duplicate', `the alias ${quoteInput(alias)} is given twice on this network (aliases are case-insensitive)`);
      seen.add(alias.toLowerCase());
      return alias;
    });
    if (valid.length > 0) byNetwork.set(network, valid);
  }
  const ordered = networks.filter((n) => byNetwork.has(n)).map((n): [string, string[]] => [n, byNetwork.get(n)!]);
  // fromEntries defines own properties, so even a '__proto__' network stays a plain key.
  return ordered.length === 0 ? {} : { networkAliases: Object.fromEntries(ordered) };
}

/** `{[key]: value}` unless the list is empty: a field absent at its default. */
function nonEmpty<K extends string, T>(key: K, value: T[]): { [P in K]?: T[] } {
  return (value.length === 0 ? {} : { [key]: value }) as { [P in K]?: T[] };
}

/** `{[key]: value}` unless it is the default: a field absent at its default. */
function unlessDefault<K extends string, T>(key: K, value: T, def: T): { [P in K]?: T } {
  return (value === def ? {} : { [key]: value }) as { [P in K]?: T };
}

function parseMode(x: unknown, path: string): ServiceMode {
  if (x === undefined || x === null) return { replicated: { replicas: 1 } };
  const o = asObj(x, path);
  const rep = prop(o, 'replicated');
  const glob = prop(o, 'global');
  if ((rep === undefined) === (glob === undefined)) {
    throw new ValidationError(path, 'mode', 'must have exactly one of replicated or global');
  }
  if (glob !== undefined) {
    asObj(glob, at(path, 'global'));
    return { global: {} };
  }
  const ro = asObj(rep, at(path, 'replicated'));
  return { replicated: { replicas: int(ro, 'replicas', at(path, 'replicated'), { def: 1, min: 0, max: MAX_REPLICAS, rule: 'replicas' }) } };
}

export const DEFAULT_UPDATE_CONFIG: UpdateConfig = {
  parallelism: 1,
  delayMs: 0,
  failureAction: 'pause',
  monitorMs: 5_000,
  maxFailureRatio: 0,
  order: 'stop-first',
  canary: 0,
  autoPromote: false,
  progressDeadlineMs: 0,
};

export function validateUpdateConfig(x: unknown, path = 'updateConfig', rollback = false): UpdateConfig {
  const o = x === undefined || x === null ? {} : asObj(x, path);
  const d = DEFAULT_UPDATE_CONFIG;
  const actions = rollback ? (['pause', 'continue'] as const) : (['pause', 'continue', 'rollback'] as const);
  const ratioField = at(path, 'maxFailureRatio');
  const ratio = prop(o, 'maxFailureRatio') ?? d.maxFailureRatio;
  if (typeof ratio !== 'number') throw new ValidationError(ratioField, 'type', `must be a number, not ${describe(ratio)}`);
  if (!Number.isFinite(ratio) || ratio < 0 || ratio > 1) throw new ValidationError(ratioField, 'max-failure-ratio', `must be in 0..1 (got ${ratio})`);
  return {
    parallelism: int(o, 'parallelism', path, { def: d.parallelism, min: 0, rule: 'parallelism' }),
    delayMs: duration(o, 'delayMs', path, d.delayMs),
    failureAction: oneOf(o, 'failureAction', path, actions, d.failureAction, 'failure-action'),
    monitorMs: duration(o, 'monitorMs', path, d.monitorMs),
    maxFailureRatio: ratio,
    order: oneOf(o, 'order', path, ['stop-first', 'start-first'] as const, d.order, 'update-order'),
    canary: int(o, 'canary', path, { def: d.canary, min: 0, max: rollback ? 0 : MAX_REPLICAS, rule: 'canary' }),
    autoPromote: bool(o, 'autoPromote', path, d.autoPromote),
    progressDeadlineMs: duration(o, 'progressDeadlineMs', path, d.progressDeadlineMs),
  };
}

const UPDATE_STATE_VALUES = ['updating', 'paused', 'completed', 'rollback_started', 'rollback_paused', 'rollback_completed'] as const;
const CANARY_STATE_VALUES = ['none', 'deploying', 'awaiting_promotion', 'promoted'] as const;

export function validateUpdateStatus(x: unknown, path = 'updateStatus'): UpdateStatus {
  const o = asObj(x, path);
  return {
    state: oneOf(o, 'state', path, UPDATE_STATE_VALUES, undefined, 'update-state'),
    startedAt: int(o, 'startedAt', path, { def: 0, min: 0, rule: 'timestamp' }),
    completedAt: int(o, 'completedAt', path, { def: 0, min: 0, rule: 'timestamp' }),
    message: str(o, 'message', path, ''),
    startVersion: int(o, 'startVersion', path, { def: 0, min: 0 }),
    canary: oneOf(o, 'canary', path, CANARY_STATE_VALUES, 'none', 'canary-state'),
  };
}

function parsePort(x: unknown, field: string): PortConfig {
  const o = asObj(x, field);
  const port: PortConfig = {
    protocol: oneOf(o, 'protocol', field, ['tcp', 'udp'] as const, 'tcp', 'port-protocol'),
    targetPort: int(o, 'targetPort', field, { min: 1, max: 65535, rule: 'port-range' }),
    // 0: an ingress port whose published port the cluster assigns from its range.
    publishedPort: int(o, 'publishedPort', field, { def: 0, min: 0, max: 65535, rule: 'port-range' }),
    publishMode: oneOf(o, 'publishMode', field, ['ingress', 'host'] as const, 'ingress', 'publish-mode'),
  };
  if (port.publishedPort === 0 && port.publishMode === 'host') {
    throw new ValidationError(at(field, 'publishedPort'), 'port-range', 'a host-mode port needs a published port (1..65535): only ingress ports are assigned one');
  }
  const name = prop(o, 'name');
  return name === undefined ? port : { name: str(o, 'name', field, '', MAX_NAME_LENGTH), ...port };
}

export function validateEndpointSpec(x: unknown, path = 'endpoint'): EndpointSpec {
  const o = x === undefined || x === null ? {} : asObj(x, path);
  const ports = list(o, 'ports', path, parsePort);
  const seen = new Set<string>();
  ports.forEach((p, i) => {
    if (p.publishedPort === 0) return;
    const key = `${p.publishedPort}/${p.protocol}`;
    if (seen.has(key)) throw new ValidationError(`${at(path, 'ports')}[${i}].publishedPort`, 'port-duplicate', `published port ${key} is used twice`);
    seen.add(key);
  });
  const spec: EndpointSpec = {
    ...unlessDefault('mode', oneOf(o, 'mode', path, ['vip', 'dnsrr'] as const, 'vip', 'endpoint-mode'), 'vip'),
    ports,
    ...unlessDefault('lbPolicy', oneOf(o, 'lbPolicy', path, ['round-robin', 'least-conn', 'random', 'weighted'] as const, 'round-robin', 'lb-policy'), 'round-robin'),
    ...unlessDefault('proxyProtocol', oneOf(o, 'proxyProtocol', path, ['none', 'v1', 'v2'] as const, 'none', 'proxy-protocol'), 'none'),
    ...unlessDefault('drainPeriodMs', int(o, 'drainPeriodMs', path, { def: DEFAULT_DRAIN_PERIOD_MS, min: 0, max: MAX_DURATION_MS, rule: 'duration' }), DEFAULT_DRAIN_PERIOD_MS),
  };
  if (spec.mode === 'dnsrr') checkDnsrr(spec, path);
  return spec;
}

/**
 * What a dnsrr service cannot have, since it has no virtual IP and no proxy: its name resolves to its
 * tasks' addresses and clients connect to them directly. An ingress port is refused with SwarmKit's words
 * (the routing mesh balances through a virtual IP); host-mode ports are fine, as in Swarm. A stored rule:
 * no node's data plane ever sees such a service.
 */
function checkDnsrr(e: EndpointSpec, path: string): void {
  const ingress = e.ports.find((p) => p.publishMode === 'ingress');
  if (ingress) {
    throw new ValidationError(
      at(path, 'mode'),
      'endpoint-mode',
      `port published with ingress mode can't be used with dnsrr mode (target port ${ingress.targetPort}/${ingress.protocol}): publish it in host mode, or use the vip endpoint mode`,
    );
  }
  if (e.lbPolicy !== undefined) {
    throw new ValidationError(
      at(path, 'lbPolicy'),
      'endpoint-mode',
      `a dnsrr service has no proxy to balance its connections (clients pick a task's address from DNS): leave the lb policy at round-robin, or use the vip endpoint mode`,
    );
  }
  if (e.proxyProtocol !== undefined) {
    throw new ValidationError(
      at(path, 'proxyProtocol'),
      'endpoint-mode',
      `a dnsrr service has no proxy to send a PROXY protocol header (clients connect to its tasks directly): leave it at none, or use the vip endpoint mode`,
    );
  }
}

/** The resolved endpoint of a stored service (every ingress port with its published port). */
function parseServiceEndpoint(x: unknown, path: string): ServiceEndpoint {
  const o = asObj(x, path);
  return { ports: list(o, 'ports', path, parsePort) };
}

/**
 * Which rules a validator applies. 'stored': what the store can hold (run in
 * apply() on every replica, for every object in the log and in snapshots, and
 * on objects read back from a manager). 'request': those and the request rules
 * below (what a user could mean), for a spec that a client sends: the control
 * API refuses it, and the CLI checks the same before it sends. Tightening a
 * request rule therefore never makes an object already in the log unreadable.
 */
export type SpecRules = 'request' | 'stored';

/** Validate a service spec; returns its canonical copy (defaults filled in). By default a request's spec (see SpecRules). */
export function validateServiceSpec(x: unknown, path = 'spec', rules: SpecRules = 'request'): ServiceSpec {
  const o = asObj(x, path);
  const spec: ServiceSpec = {
    name: nameAt(o, 'name', path),
    labels: validateLabels(prop(o, 'labels'), at(path, 'labels')),
    taskTemplate: validateTaskTemplate(prop(o, 'taskTemplate'), at(path, 'taskTemplate')),
    mode: parseMode(prop(o, 'mode'), at(path, 'mode')),
    updateConfig: validateUpdateConfig(prop(o, 'updateConfig'), at(path, 'updateConfig')),
    rollbackConfig: validateUpdateConfig(prop(o, 'rollbackConfig'), at(path, 'rollbackConfig'), true),
    endpoint: validateEndpointSpec(prop(o, 'endpoint'), at(path, 'endpoint')),
  };
  if (rules === 'request') checkServiceRequest(spec, path);
  return spec;
}

// ---------------------------------------------------------------------------
// Request rules: specs a user would not mean (see SpecRules)

/** Docker's floor for a memory limit or reservation ("Minimum memory limit allowed is 6MB"). */
export const MIN_MEMORY_BYTES = 6 * 1024 * 1024;
/** 4 PiB: the most physical memory x86-64 can address (52 bits); no machine has more. */
export const MAX_MEMORY_BYTES = 2 ** 52;
/** Docker refuses a CPU limit below 0.01 CPU. */
export const MIN_CPU_LIMIT_NANOS = 10_000_000;
/** SwarmKit refuses a CPU value below 0.001 CPU ("invalid cpu value ...: Must be at least 0.001"). */
export const MIN_CPU_RESERVATION_NANOS = 1_000_000;
/** Linux's largest NR_CPUS (x86-64 with MAXSMP): no machine has more CPUs. */
export const MAX_CPUS = 8192;
/** The longest duration a spec may give: a week (timers cannot wait beyond 2^31-1 ms, about 24.8 days). */
export const MAX_DURATION_MS = 7 * 24 * 3_600_000;
/** Health check retries and restart attempts: docker's (int32) bound. */
export const MAX_COUNT = 2 ** 31 - 1;
/** The engine's own directories: a writable bind mount of them (or below) corrupts the engine. /var/run/docker.sock is not among them. */
export const ENGINE_PATHS: readonly string[] = ['/var/lib/docker', '/var/lib/containerd'];

/** '1h', '1h30m', '1.5s', '100ms'. */
export function durationText(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  const sign = ms < 0 ? '-' : '';
  const a = Math.abs(ms);
  if (a < 1000) return `${sign}${a}ms`;
  const h = Math.floor(a / 3_600_000);
  const m = Math.floor((a % 3_600_000) / 60_000);
  const sec = (a % 60_000) / 1000;
  return `${sign}${h ? `${h}h` : ''}${m ? `${m}m` : ''}${sec ? `${sec}s` : ''}`;
}

/** Nano-CPUs as CPUs: 5e8 → '0.5'. */
export function cpusText(nanos: number): string {
  return (nanos / 1e9).toFixed(9).replace(/\.?0+$/, '');
}

function bytesText(n: number): string {
  return n === 1 ? '1 byte' : `${n} bytes`;
}

/** '/a//b/../c/' → '/a/c' (no file system access: only the text). */
function normalizePath(p: string): string {
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return `/${out.join('/')}`;
}

function within(path: string, dir: string): boolean {
  return path === dir || path.startsWith(`${dir}/`);
}

/** Whitespace, control characters and '=' have no place in a label key or an environment variable name. */
const BAD_KEY_CHAR = /[\s\p{Cc}=]/u;

/** A label key a client sends: besides the store's rules, no whitespace, control character or '=' (it could not be written KEY=VALUE, or filtered on). */
export function checkLabelKey(key: string, field: string): void {
  if (BAD_KEY_CHAR.test(key)) {
    throw new ValidationError(field, 'label-key', `label key ${quoteInput(key)} contains whitespace, '=' or a control character: use a key such as com.example.team`);
  }
}

/** The label keys of a request (see checkLabelKey); returns the labels. */
export function checkLabelKeys(labels: Labels, field = 'labels'): Labels {
  for (const key of Object.keys(labels)) checkLabelKey(key, fieldKey(field, key));
  return labels;
}

function checkEnvName(entry: string, field: string): void {
  const name = entry.slice(0, entry.indexOf('='));
  if (BAD_KEY_CHAR.test(name)) {
    throw new ValidationError(field, 'env-name', `environment variable name ${quoteInput(name)} contains whitespace or a control character: use a name such as MY_VAR (letters, digits, '_')`);
  }
}

function checkMount(m: Mount, field: string): void {
  if (normalizePath(m.target) === '/') {
    throw new ValidationError(at(field, 'target'), 'mount-target-root', "invalid mount config: destination can't be '/': mount on a directory inside the container, e.g. /data");
  }
  if (m.type !== 'bind' || m.readOnly) return;
  const source = normalizePath(m.source);
  if (source === '/') {
    throw new ValidationError(
      at(field, 'source'),
      'mount-source-root',
      "a writable bind mount of the host's root directory '/' is refused: bind only the directory the service needs, or make it readonly if the service only reads the host (as node-exporter does)",
    );
  }
  const engine = ENGINE_PATHS.find((d) => within(source, d));
  if (engine !== undefined) {
    throw new ValidationError(
      at(field, 'source'),
      'mount-source-engine',
      `${quoteInput(m.source)} is inside the container engine's own directory ${engine}, and writing there corrupts the engine: use a volume (type=volume) or another host directory, or make it readonly if the service only reads it`,
    );
  }
}

function checkDuration(ms: number, field: string): void {
  if (ms > MAX_DURATION_MS) {
    throw new ValidationError(field, 'duration', `must be at most ${durationText(MAX_DURATION_MS)} (a week) (got ${durationText(ms)}): give a shorter duration`);
  }
}

function checkCount(n: number, max: number, field: string, rule: string, what = ''): void {
  if (n > max) throw new ValidationError(field, rule, `must be an integer in 0..${max}${what} (got ${n})`);
}

function checkMemory(bytes: number, field: string, kind: 'limit' | 'reservation'): void {
  if (bytes === 0) return;
  const none = kind === 'limit' ? 'no limit' : 'no reservation';
  if (bytes < MIN_MEMORY_BYTES) {
    throw new ValidationError(field, 'memory-minimum', `Minimum memory ${kind} allowed is 6MB (got ${bytesText(bytes)}): give at least 6MiB, e.g. 64m, or 0 for ${none}`);
  }
  if (bytes > MAX_MEMORY_BYTES) {
    throw new ValidationError(field, 'memory-maximum', `must be at most 4PiB, more than any machine has (got ${bytesText(bytes)}): give the memory the task needs, e.g. 512m, or 0 for ${none}`);
  }
}

function checkCpus(nanos: number, field: string, kind: 'limit' | 'reservation'): void {
  if (nanos === 0) return;
  const min = kind === 'limit' ? MIN_CPU_LIMIT_NANOS : MIN_CPU_RESERVATION_NANOS;
  if (nanos < min || nanos > MAX_CPUS * 1e9) {
    const none = kind === 'limit' ? 'no limit' : 'no reservation';
    throw new ValidationError(field, 'cpus', `must be between ${cpusText(min)} and ${MAX_CPUS} CPUs, or 0 for ${none} (got ${cpusText(nanos)} CPUs): ${MAX_CPUS} is the most CPUs Linux supports`);
  }
}

function checkUpdateConfig(u: UpdateConfig, path: string): void {
  checkCount(u.parallelism, MAX_REPLICAS, at(path, 'parallelism'), 'parallelism', ' (0 = all at once)');
  checkDuration(u.delayMs, at(path, 'delayMs'));
  checkDuration(u.monitorMs, at(path, 'monitorMs'));
  checkDuration(u.progressDeadlineMs, at(path, 'progressDeadlineMs'));
}

/** The request rules of a (canonical) service spec. */
function checkServiceRequest(spec: ServiceSpec, path: string): void {
  checkLabelKeys(spec.labels, at(path, 'labels'));
  const tPath = at(path, 'taskTemplate');
  const cPath = at(tPath, 'container');
  const c = spec.taskTemplate.container;
  c.env.forEach((e, i) => checkEnvName(e, `${at(cPath, 'env')}[${i}]`));
  c.mounts.forEach((m, i) => checkMount(m, `${at(cPath, 'mounts')}[${i}]`));
  if (c.healthcheck) {
    const hPath = at(cPath, 'healthcheck');
    checkDuration(c.healthcheck.intervalMs, at(hPath, 'intervalMs'));
    checkDuration(c.healthcheck.timeoutMs, at(hPath, 'timeoutMs'));
    checkCount(c.healthcheck.retries, MAX_COUNT, at(hPath, 'retries'), 'healthcheck-retries');
    checkDuration(c.healthcheck.startPeriodMs, at(hPath, 'startPeriodMs'));
  }
  checkDuration(c.stopGracePeriodMs, at(cPath, 'stopGracePeriodMs'));
  const rPath = at(tPath, 'resources');
  const r = spec.taskTemplate.resources;
  checkCpus(r.limits.nanoCpus, `${rPath}.limits.nanoCpus`, 'limit');
  checkMemory(r.limits.memoryBytes, `${rPath}.limits.memoryBytes`, 'limit');
  checkCpus(r.reservations.nanoCpus, `${rPath}.reservations.nanoCpus`, 'reservation');
  checkMemory(r.reservations.memoryBytes, `${rPath}.reservations.memoryBytes`, 'reservation');
  const rpPath = at(tPath, 'restartPolicy');
  const rp = spec.taskTemplate.restartPolicy;
  checkDuration(rp.delayMs, at(rpPath, 'delayMs'));
  checkCount(rp.maxAttempts, MAX_COUNT, at(rpPath, 'maxAttempts'), 'restart-max-attempts', ' (0 = unlimited)');
  checkDuration(rp.windowMs, at(rpPath, 'windowMs'));
  checkDuration(rp.maxDelayMs, at(rpPath, 'maxDelayMs'));
  checkUpdateConfig(spec.updateConfig, at(path, 'updateConfig'));
  checkUpdateConfig(spec.rollbackConfig, at(path, 'rollbackConfig'));
  if ((spec.taskTemplate.placement.maxReplicas ?? 0) > 0 && 'global' in spec.mode) {
    // Docker's CLI refuses it too ("replicas-max-per-node can only be used with replicated ... mode").
    throw new ValidationError(at(at(tPath, 'placement'), 'maxReplicas'), 'max-replicas', 'max replicas per node is for replicated services (a global service runs one task per node): remove it or use replicated mode');
  }
  const canary = spec.updateConfig.canary;
  if (canary > 0) {
    const cField = at(at(path, 'updateConfig'), 'canary');
    if ('global' in spec.mode) throw new ValidationError(cField, 'canary', 'canaries are for replicated services: a global service runs one task per node');
    if (canary > spec.mode.replicated.replicas) {
      throw new ValidationError(cField, 'canary', `${canary} canaries for ${spec.mode.replicated.replicas} replica(s): ask for at most as many canaries as replicas`);
    }
  }
}

/**
 * What an UpdateService may not change, as SwarmKit refuses it: the name
 * ("renaming services is not supported") and the mode ("service mode change
 * is not allowed"). `prev` is the stored spec, `next` the canonical new one.
 */
export function checkServiceSpecChange(prev: ServiceSpec, next: ServiceSpec, path = 'spec'): void {
  if (next.name !== prev.name) {
    throw new ValidationError(
      at(path, 'name'),
      'rename',
      `renaming services is not supported (${quoteInput(prev.name)} to ${quoteInput(next.name)}): create a service with the new name, then remove this one`,
    );
  }
  const mode = (m: ServiceMode): string => ('global' in m ? 'global' : 'replicated');
  if (mode(next.mode) !== mode(prev.mode)) {
    throw new ValidationError(
      at(path, 'mode'),
      'mode-change',
      `service mode change is not allowed (${mode(prev.mode)} to ${mode(next.mode)}): create a ${mode(next.mode)} service, then remove this one`,
    );
  }
}

// ---------------------------------------------------------------------------
// Whole objects

interface MetaFields {
  id: string;
  version: number;
  createdAt: number;
  updatedAt: number;
}

function parseMeta(o: Obj): MetaFields {
  return {
    id: validateId(prop(o, 'id'), 'id'),
    version: int(o, 'version', '', { def: 0, min: 0 }),
    createdAt: int(o, 'createdAt', '', { def: 0, min: 0, rule: 'timestamp' }),
    updatedAt: int(o, 'updatedAt', '', { def: 0, min: 0, rule: 'timestamp' }),
  };
}

function optionalId(o: Obj, key: string, path: string): string {
  const v = str(o, key, path, '');
  return v === '' ? v : validateId(v, at(path, key));
}

function parseManagerStatus(o: Obj, path: string): ManagerStatus {
  return {
    raftId: str(o, 'raftId', path, ''),
    addr: str(o, 'addr', path, ''),
    leader: bool(o, 'leader', path, false),
    reachability: oneOf(o, 'reachability', path, ['unknown', 'unreachable', 'reachable'] as const, 'unknown'),
  };
}

function parseNodeDescription(d: Obj, path: string): Node['description'] {
  const platform = subObj(d, 'platform', path);
  const cpusField = at(path, 'cpus');
  const cpus = prop(d, 'cpus') ?? 0;
  if (typeof cpus !== 'number') throw new ValidationError(cpusField, 'type', `must be a number, not ${describe(cpus)}`);
  if (!Number.isFinite(cpus) || cpus < 0) throw new ValidationError(cpusField, 'resources', `must be >= 0 (got ${cpus})`);
  const description: Node['description'] = {
    hostname: str(d, 'hostname', path, '', 253),
    cpus,
    memoryBytes: int(d, 'memoryBytes', path, { def: 0, min: 0, rule: 'resources' }),
    engineVersion: str(d, 'engineVersion', path, ''),
    platform: { os: str(platform, 'os', at(path, 'platform'), ''), arch: str(platform, 'arch', at(path, 'platform'), '') },
    ...unlessDefault('engineId', str(d, 'engineId', path, '', 256), ''),
  };
  if (prop(d, 'engineLabels') !== undefined) description.engineLabels = validateLabels(prop(d, 'engineLabels'), at(path, 'engineLabels'));
  return description;
}

/** A node description (e.g. a worker's report); ValidationError names the field. */
export function validateNodeDescription(x: unknown, path = 'description'): Node['description'] {
  return parseNodeDescription(x === undefined || x === null ? {} : asObj(x, path), path);
}

export function validateNode(x: unknown): Node {
  const o = asObj(x, '');
  const meta = parseMeta(o);
  const description = parseNodeDescription(subObj(o, 'description', ''), 'description');
  const s = subObj(o, 'status', '');
  const node: Node = {
    ...meta,
    role: oneOf(o, 'role', '', ['manager', 'worker'] as const, 'worker', 'node-role'),
    availability: oneOf(o, 'availability', '', ['active', 'pause', 'drain'] as const, 'active', 'node-availability'),
    labels: validateLabels(prop(o, 'labels'), 'labels'),
    description,
    ...unlessDefault('vipBlock', int(o, 'vipBlock', '', { def: 0, min: 0, max: 2 ** 24, rule: 'vip-block' }), 0),
    status: {
      state: oneOf(s, 'state', 'status', ['ready', 'down', 'unknown'] as const, 'unknown', 'node-state'),
      message: str(s, 'message', 'status', ''),
      address: str(s, 'address', 'status', ''),
    },
  };
  const ms = prop(o, 'managerStatus');
  if (ms !== undefined) node.managerStatus = parseManagerStatus(asObj(ms, 'managerStatus'), 'managerStatus');
  return node;
}

export function validateService(x: unknown): Service {
  const o = asObj(x, '');
  const service: Service = { ...parseMeta(o), spec: validateServiceSpec(prop(o, 'spec'), 'spec', 'stored'), specVersion: int(o, 'specVersion', '', { def: 0, min: 0 }) };
  const previous = prop(o, 'previousSpec');
  if (previous !== undefined && previous !== null) service.previousSpec = validateServiceSpec(previous, 'previousSpec', 'stored');
  const status = prop(o, 'updateStatus');
  if (status !== undefined && status !== null) service.updateStatus = validateUpdateStatus(status);
  const endpoint = prop(o, 'endpoint');
  if (endpoint !== undefined && endpoint !== null) service.endpoint = parseServiceEndpoint(endpoint, 'endpoint');
  return service;
}

/** A task status (e.g. a worker's report); ValidationError names the field. */
export function validateTaskStatus(x: unknown, path = 'status'): TaskStatus {
  return parseTaskStatus(asObj(x, path), path);
}

function parseTaskStatus(o: Obj, path: string): TaskStatus {
  return {
    state: taskState(o, 'state', path),
    message: str(o, 'message', path, ''),
    err: str(o, 'err', path, ''),
    timestamp: int(o, 'timestamp', path, { def: 0, min: 0, rule: 'timestamp' }),
    containerId: str(o, 'containerId', path, '', 256),
    exitCode: int(o, 'exitCode', path, { def: 0, min: -(2 ** 31), max: 2 ** 31 - 1 }),
    health: oneOf(o, 'health', path, ['none', 'starting', 'healthy', 'unhealthy'] as const, 'none', 'task-health'),
    ...nonEmpty('ports', list(o, 'ports', path, parsePortBinding)),
    ...nonEmpty('networks', list(o, 'networks', path, parseNetworkAttachment)),
  };
}

function parsePortBinding(x: unknown, field: string): PortBinding {
  const o = asObj(x, field);
  return {
    protocol: oneOf(o, 'protocol', field, ['tcp', 'udp'] as const, 'tcp', 'port-protocol'),
    targetPort: int(o, 'targetPort', field, { min: 1, max: 65535, rule: 'port-range' }),
    hostIp: str(o, 'hostIp', field, '', 64),
    hostPort: int(o, 'hostPort', field, { min: 1, max: 65535, rule: 'port-range' }),
  };
}

function parseNetworkAttachment(x: unknown, field: string): NetworkAttachment {
  const o = asObj(x, field);
  return { networkId: validateId(prop(o, 'networkId'), at(field, 'networkId')), address: str(o, 'address', field, '', 64) };
}

/**
 * `shared`: canonical, frozen spec parts the store already holds (the task's
 * previous ones, its service's); a spec or endpoint equal to one of them is
 * that object, unvalidated again (see shared-specs.ts).
 */
export function validateTask(x: unknown, shared: readonly SharedTaskParts[] = []): Task {
  const o = asObj(x, '');
  const meta = parseMeta(o);
  const ann = subObj(o, 'serviceAnnotations', '');
  const annName = str(ann, 'name', 'serviceAnnotations', '');
  if (annName) validateName(annName, 'serviceAnnotations.name');
  // Field by field, not `...meta`: the store holds tens of thousands of tasks,
  // and one literal gives them all one shape (cheaper to build and to read).
  return {
    id: meta.id,
    version: meta.version,
    createdAt: meta.createdAt,
    updatedAt: meta.updatedAt,
    serviceId: validateId(prop(o, 'serviceId'), 'serviceId'),
    slot: int(o, 'slot', '', { def: 0, min: 0, max: MAX_REPLICAS, rule: 'slot' }),
    nodeId: optionalId(o, 'nodeId', ''),
    desiredState: taskState(o, 'desiredState', ''),
    status: parseTaskStatus(asObj(prop(o, 'status'), 'status'), 'status'),
    specVersion: int(o, 'specVersion', '', { def: 0, min: 0 }),
    spec: findEqual(prop(o, 'spec'), shared, (p) => p.spec) ?? validateTaskTemplate(prop(o, 'spec'), 'spec'),
    serviceAnnotations: { name: annName },
    endpoint: findEqual(prop(o, 'endpoint'), shared, (p) => p.endpoint) ?? validateEndpointSpec(prop(o, 'endpoint'), 'endpoint'),
    restart: parseRestartDecision(prop(o, 'restart')),
    updateFailure: bool(o, 'updateFailure', '', false),
  };
}

function parseRestartDecision(x: unknown, path = 'restart'): RestartDecision | undefined {
  if (x === undefined || x === null) return undefined;
  const o = asObj(x, path);
  return {
    attempt: int(o, 'attempt', path, { def: 0, min: 0 }),
    delayMs: int(o, 'delayMs', path, { def: 0, min: 0 }),
    nextAt: int(o, 'nextAt', path, { def: 0, min: 0, rule: 'timestamp' }),
    reason: str(o, 'reason', path, ''),
  };
}

/**
 * Standard, padded base64. Not one regular expression with a repeated group:
 * V8 backtracks through one frame per group, ~0.5 s for 1 MB of data and a
 * stack overflow at 4 MB (thrown inside the store's apply).
 */
function isBase64(s: string): boolean {
  if (s.length % 4 !== 0) return false;
  const body = s.endsWith('==') ? s.slice(0, -2) : s.endsWith('=') ? s.slice(0, -1) : s;
  return /^[A-Za-z0-9+/]*$/.test(body);
}

export type FileObjectKind = 'secret' | 'config';

/** The most bytes a secret (500 KiB) or a config (1000 KiB) holds, as Swarm. */
export function maxFileObjectBytes(kind: FileObjectKind): number {
  return kind === 'secret' ? MAX_SECRET_BYTES : MAX_CONFIG_BYTES;
}

/** '500 KiB', '600.5 KiB (614913 bytes)'. */
function kibText(bytes: number): string {
  return bytes % 1024 === 0 ? `${bytes / 1024} KiB` : `${(bytes / 1024).toFixed(1)} KiB (${bytes} bytes)`;
}

/**
 * What is wrong with `bytes` bytes of data for a secret or config (request
 * rules, Swarm's: more than 0 bytes, at most 500 KiB for a secret, 1000 KiB
 * for a config), or undefined. Never quotes the data.
 */
export function fileDataSizeProblem(kind: FileObjectKind, bytes: number): string | undefined {
  const max = maxFileObjectBytes(kind);
  if (bytes === 0) return `a ${kind} needs at least 1 byte of data`;
  if (bytes > max) {
    const instead = kind === 'secret' ? 'keep larger files in a config (up to 1000 KiB) or a volume' : 'keep larger files in a volume or in the image';
    return `${kind} data is ${kibText(bytes)}; a ${kind} holds at most ${kibText(max)}: ${instead}`;
  }
  return undefined;
}

/**
 * The suffix '~N' of an earlier version of a secret or config that `rotate`
 * renamed (NAME~1, NAME~2, ...): allowed in the store, never in a name a
 * client chooses (the name pattern has no '~').
 */
const HISTORY_SUFFIX_RE = /~([1-9][0-9]{0,9})$/;

/** NAME and N of a history name 'NAME~N'; undefined for any other name. */
export function historyName(name: string): { base: string; n: number } | undefined {
  const m = HISTORY_SUFFIX_RE.exec(name);
  return m ? { base: name.slice(0, m.index), n: Number(m[1]) } : undefined;
}

/** A secret's or config's name: a name a client may choose, or (stored rules) such a name with a rotation's '~N'. */
function fileObjectName(o: Obj, path: string, rules: SpecRules): string {
  const v = prop(o, 'name');
  if (v === undefined) throw new ValidationError(at(path, 'name'), 'required', 'is required');
  const h = rules === 'stored' && typeof v === 'string' ? historyName(v) : undefined;
  if (h === undefined) return validateName(v, at(path, 'name'));
  validateName(h.base, at(path, 'name'));
  return v as string;
}

function parseFileObjectSpec(x: unknown, path: string, kind: FileObjectKind, rules: SpecRules): SecretSpec {
  const maxBytes = maxFileObjectBytes(kind);
  const o = asObj(x, path);
  const name = fileObjectName(o, path, rules);
  const labels = validateLabels(prop(o, 'labels'), at(path, 'labels'));
  const dataField = at(path, 'data');
  // Any length here, so that too much data is refused with its size (a gRPC message is at most 4 MiB).
  const data = str(o, 'data', path, '', Number.MAX_SAFE_INTEGER);
  if (!isBase64(data)) throw new ValidationError(dataField, 'base64', 'must be base64 (standard alphabet, padded)');
  const bytes = (data.length / 4) * 3 - (data.endsWith('==') ? 2 : data.endsWith('=') ? 1 : 0);
  if (bytes > maxBytes) throw new ValidationError(dataField, 'data-size', fileDataSizeProblem(kind, bytes) as string);
  if (rules === 'request' && bytes === 0) throw new ValidationError(dataField, 'data-size', fileDataSizeProblem(kind, bytes) as string);
  return { name, labels, data };
}

/**
 * A secret's spec. 'request' (the default): what CreateSecret takes (a name
 * without '~', 1 byte to 500 KiB); 'stored': what the store holds (a rotated
 * NAME~N; data that a read leaves out).
 */
export function validateSecretSpec(x: unknown, path = 'spec', rules: SpecRules = 'request'): SecretSpec {
  return parseFileObjectSpec(x, path, 'secret', rules);
}

/** A config's spec (as validateSecretSpec; at most 1000 KiB). */
export function validateConfigSpec(x: unknown, path = 'spec', rules: SpecRules = 'request'): SecretSpec {
  return parseFileObjectSpec(x, path, 'config', rules);
}

export function validateSecret(x: unknown): Secret {
  const o = asObj(x, '');
  return { ...parseMeta(o), spec: validateSecretSpec(prop(o, 'spec'), 'spec', 'stored') };
}

export function validateConfig(x: unknown): Config {
  const o = asObj(x, '');
  return { ...parseMeta(o), spec: validateConfigSpec(prop(o, 'spec'), 'spec', 'stored') };
}

// The cluster settings a client may set, with the ranges the CLI documents
// (cluster update --help); Swarm's minimum certificate expiry is 1 hour.
export const CLUSTER_SETTING_LIMITS = {
  heartbeatPeriodMs: { min: 100, max: 3_600_000 },
  heartbeatGrace: { min: 1, max: 100 },
  taskHistoryRetention: { min: 0, max: 1000 },
  nodeCertExpiryHours: { min: 1, max: 87_600 },
} as const;

export type ClusterSetting = keyof typeof CLUSTER_SETTING_LIMITS;

const CLUSTER_SETTING_PLACES: { [K in ClusterSetting]: { section: 'dispatcher' | 'orchestration' | 'caConfig'; rule: string } } = {
  heartbeatPeriodMs: { section: 'dispatcher', rule: 'heartbeat-period' },
  heartbeatGrace: { section: 'dispatcher', rule: 'heartbeat-grace' },
  taskHistoryRetention: { section: 'orchestration', rule: 'task-history-limit' },
  nodeCertExpiryHours: { section: 'caConfig', rule: 'cert-expiry' },
};

/** The store field of a cluster setting: 'spec.dispatcher.heartbeatPeriodMs'. */
export function clusterSettingField(key: ClusterSetting, path = 'spec'): string {
  return `${at(path, CLUSTER_SETTING_PLACES[key].section)}.${key}`;
}

/** The message for a cluster setting out of its range (the manager's and the CLI's). */
export function clusterSettingRange(key: ClusterSetting, got: string): string {
  const { min, max } = CLUSTER_SETTING_LIMITS[key];
  if (key === 'heartbeatPeriodMs') return `must be between ${durationText(min)} and ${durationText(max)} (got ${got})`;
  if (key === 'nodeCertExpiryHours') return `must be a whole number of hours between ${min}h and ${max}h (got ${got})`;
  return `must be an integer in ${min}..${max} (got ${got})`;
}

/** A cluster setting a client sends, in its range; ValidationError naming the field otherwise. */
export function checkClusterSetting(key: ClusterSetting, value: number, path = 'spec'): number {
  const { min, max } = CLUSTER_SETTING_LIMITS[key];
  if (Number.isSafeInteger(value) && value >= min && value <= max) return value;
  const got = key === 'heartbeatPeriodMs' ? durationText(value) : key === 'nodeCertExpiryHours' ? `${value}h` : String(value);
  throw new ValidationError(clusterSettingField(key, path), CLUSTER_SETTING_PLACES[key].rule, clusterSettingRange(key, got));
}

/** Validate a cluster spec; returns its canonical copy. By default a request's spec (see SpecRules): the settings in their documented ranges. */
export function validateClusterSpec(x: unknown, path = 'spec', rules: SpecRules = 'request'): Cluster['spec'] {
  const o = asObj(x, path);
  const orch = subObj(o, 'orchestration', path);
  const disp = subObj(o, 'dispatcher', path);
  const ca = subObj(o, 'caConfig', path);
  const request = rules === 'request';
  // A request's value is only read as an integer here, so that one out of range gets the setting's own message.
  const setting = (section: Obj, key: ClusterSetting, def: number, storedRule: string): number => {
    const v = int(section, key, at(path, CLUSTER_SETTING_PLACES[key].section), { def, min: request ? Number.MIN_SAFE_INTEGER : key === 'taskHistoryRetention' ? 0 : 1, rule: storedRule });
    return request ? checkClusterSetting(key, v, path) : v;
  };
  return {
    name: nameAt(o, 'name', path),
    orchestration: { taskHistoryRetention: setting(orch, 'taskHistoryRetention', 5, 'task-history-retention') },
    dispatcher: {
      heartbeatPeriodMs: setting(disp, 'heartbeatPeriodMs', 1_000, 'duration'),
      heartbeatGrace: setting(disp, 'heartbeatGrace', 3, 'heartbeat-grace'),
    },
    caConfig: { nodeCertExpiryHours: setting(ca, 'nodeCertExpiryHours', 2160, 'cert-expiry') },
    network: validateNetworkConfig(prop(o, 'network'), at(path, 'network')),
    ...autoLock(o, path),
  };
}

/** spec.encryption: kept only when autolock is on, so a cluster written before it existed keeps its canonical form. */
function autoLock(o: Obj, path: string): { encryption?: { autoLockManagers: boolean } } {
  const raw = prop(o, 'encryption');
  if (raw === undefined || raw === null) return {};
  const on = bool(asObj(raw, at(path, 'encryption')), 'autoLockManagers', at(path, 'encryption'), false);
  return on ? { encryption: { autoLockManagers: true } } : {};
}

/** The data plane's ranges (defaults: DEFAULT_NETWORK_CONFIG); ValidationError naming the field. */
export function validateNetworkConfig(x: unknown, path = 'spec.network'): NetworkConfig {
  const o = x === undefined || x === null ? {} : asObj(x, path);
  const d = DEFAULT_NETWORK_CONFIG;
  const vipPool = str(o, 'vipPool', path, '', 64) || d.vipPool;
  const pool = parseIPv4Cidr(vipPool);
  if (pool === undefined) throw new ValidationError(at(path, 'vipPool'), 'cidr', `must be an IPv4 range such as ${d.vipPool} (got ${quoteInput(vipPool)})`);
  const mask = int(o, 'vipPoolMaskLength', path, { def: 0, min: 0, max: 30, rule: 'vip-pool-mask-length' }) || d.vipPoolMaskLength;
  if (mask <= pool.prefix || mask > 30) {
    throw new ValidationError(at(path, 'vipPoolMaskLength'), 'vip-pool-mask-length', `must be longer than the pool's /${pool.prefix} and at most 30 (got ${mask})`);
  }
  const start = int(o, 'publishedPortRangeStart', path, { def: 0, min: 0, max: 65535, rule: 'port-range' }) || d.publishedPortRangeStart;
  const end = int(o, 'publishedPortRangeEnd', path, { def: 0, min: 0, max: 65535, rule: 'port-range' }) || d.publishedPortRangeEnd;
  if (end < start) throw new ValidationError(at(path, 'publishedPortRangeEnd'), 'port-range', `the published port range ends before it starts (${start}-${end})`);
  return { vipPool: `${pool.address}/${pool.prefix}`, vipPoolMaskLength: mask, publishedPortRangeStart: start, publishedPortRangeEnd: end };
}

/** '10.240.0.0/16' -> its network address and prefix; undefined if it is not an IPv4 CIDR. */
export function parseIPv4Cidr(text: string): { address: string; prefix: number; base: number } | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(text);
  if (!m) return undefined;
  const octets = m.slice(1, 5).map(Number);
  const prefix = Number(m[5]);
  if (octets.some((n) => n > 255) || prefix > 32) return undefined;
  const value = ((octets[0]! << 24) >>> 0) + (octets[1]! << 16) + (octets[2]! << 8) + octets[3]!;
  const base = prefix === 0 ? 0 : (value & (~0 << (32 - prefix))) >>> 0;
  return { address: [base >>> 24, (base >>> 16) & 255, (base >>> 8) & 255, base & 255].join('.'), prefix, base };
}

export function validateNetworkSpec(x: unknown, path = 'spec'): NetworkSpec {
  const o = asObj(x, path);
  const driver = str(o, 'driver', path, '', 64) || 'overlay';
  if (driver !== 'overlay') {
    throw new ValidationError(at(path, 'driver'), 'network-driver', `must be "overlay", the driver of a cluster network (got ${quoteInput(driver)})`);
  }
  return { name: nameAt(o, 'name', path), labels: validateLabels(prop(o, 'labels'), at(path, 'labels')), driver };
}

export function validateNetwork(x: unknown): Network {
  const o = asObj(x, '');
  return { ...parseMeta(o), spec: validateNetworkSpec(prop(o, 'spec')) };
}

/** A network's name and driver are fixed (as in Swarm); its labels may change. */
export function validateNetworkUpdate(prev: Network, next: unknown): Network {
  const n = validateNetwork(next);
  immutable(prev.id, n.id, 'id');
  immutable(prev.spec.name, n.spec.name, 'spec.name');
  return n;
}

/** The cluster's name is fixed (as in Swarm): an update must send the name it read. */
export function checkClusterSpecChange(prev: Cluster['spec'], next: Cluster['spec'], path = 'spec'): void {
  if (JSON.stringify(next.network) !== JSON.stringify(prev.network)) {
    throw new ValidationError(
      at(path, 'network'),
      'cluster-network',
      `the data plane's ranges are fixed at init (VIP pool ${prev.network.vipPool}, a /${prev.network.vipPoolMaskLength} per node, published ports ${prev.network.publishedPortRangeStart}-${prev.network.publishedPortRangeEnd}): send the spec you read with only the settings you mean to change`,
    );
  }
  if (next.name !== prev.name) {
    throw new ValidationError(
      at(path, 'name'),
      'cluster-name',
      `the cluster's name cannot be changed (it is ${quoteInput(prev.name)}, the request has ${quoteInput(next.name)}): send the spec you read with only the settings you mean to change`,
    );
  }
}

export function validateCluster(x: unknown): Cluster {
  const o = asObj(x, '');
  const meta = parseMeta(o);
  const spec = validateClusterSpec(prop(o, 'spec'), 'spec', 'stored');
  const ca = subObj(o, 'rootCA', '');
  const jt = subObj(o, 'joinTokens', '');
  return {
    ...meta,
    spec,
    rootCA: {
      certPem: str(ca, 'certPem', 'rootCA', ''),
      keyPem: str(ca, 'keyPem', 'rootCA', ''),
      digest: str(ca, 'digest', 'rootCA', ''),
    },
    joinTokens: { worker: str(jt, 'worker', 'joinTokens', ''), manager: str(jt, 'manager', 'joinTokens', '') },
    removedNodes: list(o, 'removedNodes', '', (v, field) => validateId(v, field)),
    ...unlockKeyOf(o),
  };
}

function unlockKeyOf(o: Obj): { unlockKey?: string } {
  const k = str(o, 'unlockKey', '', '', 256);
  return k ? { unlockKey: k } : {};
}

const VALIDATORS: { [K in Kind]: (x: unknown) => KindMap[K] } = {
  node: validateNode,
  service: validateService,
  task: validateTask,
  secret: validateSecret,
  config: validateConfig,
  cluster: validateCluster,
  network: validateNetwork,
};

/** Validate a whole object of a kind; returns its canonical copy. */
export function validateObject<K extends Kind>(kind: K, x: unknown): KindMap[K] {
  return VALIDATORS[kind](x);
}

// ---------------------------------------------------------------------------
// Update rules (prev is the stored object, next the canonical new one)

function immutable(prev: unknown, next: unknown, field: string): void {
  if (JSON.stringify(prev) !== JSON.stringify(next)) throw new ValidationError(field, 'immutable', 'cannot be changed');
}

export function validateNodeUpdate(prev: Node, next: unknown): Node {
  const node = validateNode(next);
  immutable(prev.id, node.id, 'id');
  return node;
}

export function validateServiceUpdate(prev: Service, next: unknown): Service {
  const service = validateService(next);
  immutable(prev.id, service.id, 'id');
  // Like SwarmKit: a replicated service cannot become global or back.
  immutable(Object.keys(prev.spec.mode)[0], Object.keys(service.spec.mode)[0], 'spec.mode');
  return service;
}

/** Observed state only moves forward; a task stays with its service and slot. */
export function validateTaskUpdate(prev: Task, next: unknown, shared: readonly SharedTaskParts[] = []): Task {
  const task = validateTask(next, shared);
  immutable(prev.id, task.id, 'id');
  immutable(prev.serviceId, task.serviceId, 'serviceId');
  immutable(prev.slot, task.slot, 'slot');
  checkForward(prev.status, task.status);
  return task;
}

function checkForward(prev: TaskStatus, next: TaskStatus): void {
  if (next.state < prev.state) {
    throw new ValidationError('status.state', 'forward-only', `observed state cannot move backwards from ${taskStateName(prev.state)} to ${taskStateName(next.state)}`);
  }
}

/**
 * A status report applied to a stored task (the 'status' action): only the
 * observed status and updatedAt change, and the state only moves forward.
 */
export function validateTaskStatusUpdate(prev: Task, x: unknown): Task {
  const o = asObj(x, '');
  const status = validateTaskStatus(prop(o, 'status'), 'status');
  checkForward(prev.status, status);
  const updatedAt = int(o, 'updatedAt', '', { def: prev.updatedAt, min: 0, rule: 'timestamp' });
  return { ...prev, status, updatedAt };
}

/**
 * A scheduling decision applied to a stored task (the 'assign' action): only
 * the node, the observed status and updatedAt change, and the state only
 * moves forward (the rules a whole-task update would apply to those fields).
 */
export function validateTaskAssignment(prev: Task, x: unknown): Task {
  const o = asObj(x, '');
  const nodeId = optionalId(o, 'nodeId', '');
  const status = validateTaskStatus(prop(o, 'status'), 'status');
  checkForward(prev.status, status);
  const updatedAt = int(o, 'updatedAt', '', { def: prev.updatedAt, min: 0, rule: 'timestamp' });
  return { ...prev, nodeId, status, updatedAt };
}

/**
 * Secrets and configs: only labels change (as in SwarmKit); the name and data
 * stay, except that rotate renames the version it replaces NAME~N.
 */
function validateFileObjectUpdate<T extends Secret | Config>(prev: T, next: T): T {
  immutable(prev.id, next.id, 'id');
  const h = historyName(next.spec.name);
  const renamedIntoHistory = historyName(prev.spec.name) === undefined && h !== undefined && h.base === prev.spec.name;
  if (!renamedIntoHistory) immutable(prev.spec.name, next.spec.name, 'spec.name');
  immutable(prev.spec.data, next.spec.data, 'spec.data');
  return next;
}

export function validateSecretUpdate(prev: Secret, next: unknown): Secret {
  return validateFileObjectUpdate(prev, validateSecret(next));
}

export function validateConfigUpdate(prev: Config, next: unknown): Config {
  return validateFileObjectUpdate(prev, validateConfig(next));
}

export function validateClusterUpdate(prev: Cluster, next: unknown): Cluster {
  const c = validateCluster(next);
  immutable(prev.id, c.id, 'id');
  return c;
}

const UPDATE_VALIDATORS: { [K in Kind]: (prev: KindMap[K], x: unknown) => KindMap[K] } = {
  node: validateNodeUpdate,
  service: validateServiceUpdate,
  task: validateTaskUpdate,
  secret: validateSecretUpdate,
  config: validateConfigUpdate,
  cluster: validateClusterUpdate,
  network: validateNetworkUpdate,
};

/** Validate an update of a stored object; returns the canonical new object. */
export function validateUpdate<K extends Kind>(kind: K, prev: KindMap[K], next: unknown): KindMap[K] {
  return UPDATE_VALIDATORS[kind](prev, next);
}
