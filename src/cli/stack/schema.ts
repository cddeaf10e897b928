// Validation of one compose file against the compose specification's JSON
// schema, with ajv, and the first problem as one line naming the key.
//
// The schema (compose-spec.ts) is vendored from Debian's docker-compose
// package (1.29.2): /usr/lib/python3/dist-packages/compose/config/compose_spec.json,
// which is the compose specification's schema (https://github.com/compose-spec/compose-spec),
// licensed under the Apache License 2.0, as Flotilla is. It is draft 2019-09,
// hence ajv's 2019 build; strict mode off because it uses `id` and the
// `duration`/`ports`/... formats, which are not checked here (the conversion
// parses those values and names the key when one is wrong).
import Ajv2019Module from 'ajv/dist/2019.js';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { COMPOSE_SPEC } from './compose-spec.js';
import { StackFileError, pathText } from './errors.js';

// ajv is CommonJS: under Node's ESM the default import is module.exports, whose .default is the class.
const Ajv2019 = Ajv2019Module.default;

let compiled: ValidateFunction | undefined;

function validator(): ValidateFunction {
  if (!compiled) {
    const ajv = new Ajv2019({ strict: false, allErrors: true, validateFormats: false, logger: false });
    compiled = ajv.compile(forAjv(COMPOSE_SPEC) as object);
  }
  return compiled as ValidateFunction;
}

/**
 * The vendored schema as ajv takes it: without "$schema" (it ends in '#',
 * which ajv does not know as the 2019-09 meta-schema; the 2019 build checks
 * against 2019-09 anyway) and without the draft-04 `id` annotations
 * ("#/definitions/service"), which ajv 8 refuses; nothing refers to them.
 */
function forAjv(x: unknown, top = true): unknown {
  if (Array.isArray(x)) return x.map((v) => forAjv(v, false));
  if (x === null || typeof x !== 'object') return x;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(x)) {
    if (top && k === '$schema') continue;
    if (k === 'id' && typeof v === 'string') continue;
    out[k] = forAjv(v, false);
  }
  return out;
}

// Values docker converts after interpolation (its interpolateTypeCastMapping),
// so that `replicas: ${N}` is an integer; '*' is any key or index. A string
// that does not read as the type is left for the schema to refuse by name.
const CASTS: [string[], 'int' | 'float' | 'bool' | 'mode'][] = [
  [['services', '*', 'configs', '*', 'mode'], 'mode'],
  [['services', '*', 'secrets', '*', 'mode'], 'mode'],
  [['services', '*', 'healthcheck', 'retries'], 'int'],
  [['services', '*', 'healthcheck', 'disable'], 'bool'],
  [['services', '*', 'deploy', 'replicas'], 'int'],
  [['services', '*', 'deploy', 'update_config', 'parallelism'], 'int'],
  [['services', '*', 'deploy', 'update_config', 'max_failure_ratio'], 'float'],
  [['services', '*', 'deploy', 'rollback_config', 'parallelism'], 'int'],
  [['services', '*', 'deploy', 'rollback_config', 'max_failure_ratio'], 'float'],
  [['services', '*', 'deploy', 'restart_policy', 'max_attempts'], 'int'],
  [['services', '*', 'deploy', 'placement', 'max_replicas_per_node'], 'int'],
  [['services', '*', 'ports', '*', 'target'], 'int'],
  [['services', '*', 'ports', '*', 'published'], 'int'],
  [['services', '*', 'read_only'], 'bool'],
  [['services', '*', 'volumes', '*', 'read_only'], 'bool'],
  [['services', '*', 'volumes', '*', 'volume', 'nocopy'], 'bool'],
  [['networks', '*', 'external'], 'bool'],
  [['networks', '*', 'internal'], 'bool'],
  [['networks', '*', 'attachable'], 'bool'],
  [['volumes', '*', 'external'], 'bool'],
  [['secrets', '*', 'external'], 'bool'],
  [['configs', '*', 'external'], 'bool'],
];

function cast(v: string, kind: 'int' | 'float' | 'bool' | 'mode'): unknown {
  switch (kind) {
    case 'int':
      return /^-?[0-9]+$/.test(v) ? Number(v) : v;
    case 'mode':
      // A quoted (or interpolated) file mode: octal when it starts with 0, as in the YAML.
      return /^0[0-7]*$/.test(v) ? parseInt(v, 8) : /^[1-9][0-9]*$/.test(v) ? Number(v) : v;
    case 'float':
      return /^-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)$/.test(v) ? Number(v) : v;
    case 'bool':
      return /^(?:true|yes|on|y)$/i.test(v) ? true : /^(?:false|no|off|n)$/i.test(v) ? false : v;
  }
}

/** A copy of the document with docker's casts applied to string values. */
export function castValues(doc: unknown): unknown {
  const walk = (x: unknown, path: string[]): unknown => {
    if (typeof x === 'string') {
      const rule = CASTS.find(([p]) => p.length === path.length && p.every((seg, i) => seg === '*' || seg === path[i]));
      return rule ? cast(x, rule[1]) : x;
    }
    if (Array.isArray(x)) return x.map((v, i) => walk(v, [...path, String(i)]));
    if (x !== null && typeof x === 'object') return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, walk(v, [...path, k])]));
    return x;
  };
  return walk(doc, []);
}

/** Throws a StackFileError for the first problem the schema finds. */
export function validateComposeFile(doc: unknown, file: string): void {
  const validate = validator();
  if (validate(doc)) return;
  const err = pickError(validate.errors ?? []);
  if (!err) throw new StackFileError(file, '', 'does not match the compose specification');
  const path = pointerPath(err.instancePath);
  throw new StackFileError(file, pathText(path), describeError(err, valueAt(doc, path)));
}

// With oneOf/anyOf every branch reports; the most useful is an unknown key,
// else the deepest problem that is not the summary of a branch.
function pickError(errors: readonly ErrorObject[]): ErrorObject | undefined {
  const unknown = errors.filter((e) => e.keyword === 'additionalProperties');
  const pool = unknown.length > 0 ? unknown : errors.filter((e) => e.keyword !== 'oneOf' && e.keyword !== 'anyOf' && e.keyword !== 'if');
  const candidates = pool.length > 0 ? pool : errors;
  let best: ErrorObject | undefined;
  for (const e of candidates) if (!best || depth(e) > depth(best)) best = e;
  return best;
}

function depth(e: ErrorObject): number {
  return e.instancePath.split('/').length;
}

function pointerPath(pointer: string): (string | number)[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^[0-9]+$/.test(s) ? Number(s) : s));
}

function valueAt(doc: unknown, path: readonly (string | number)[]): unknown {
  let x = doc;
  for (const p of path) x = x !== null && typeof x === 'object' ? (x as Record<string | number, unknown>)[p] : undefined;
  return x;
}

function shown(v: unknown): string {
  if (v === null) return 'null';
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 100 ? `${s.slice(0, 100)}…` : s;
}

function describeError(e: ErrorObject, value: unknown): string {
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties':
      return `unknown key ${JSON.stringify(p.additionalProperty)}`;
    case 'type': {
      const types = Array.isArray(p.type) ? (p.type as string[]) : String(p.type).split(',');
      return `must be ${types.join(' or ')}, got ${shown(value)}`;
    }
    case 'enum':
      return `must be one of ${(p.allowedValues as unknown[]).map((x) => String(x)).join(', ')}, got ${shown(value)}`;
    case 'required':
      return `missing key ${JSON.stringify(p.missingProperty)}`;
    case 'uniqueItems':
      return `has duplicate items (${String(p.j)} and ${String(p.i)})`;
    case 'propertyNames':
    case 'pattern':
      return `invalid key or value ${shown(p.propertyName ?? value)}${e.message ? ` (${e.message})` : ''}`;
    default:
      return `${e.message ?? 'is invalid'}, got ${shown(value)}`;
  }
}
