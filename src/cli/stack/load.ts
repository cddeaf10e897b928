// `stack deploy`'s reading of compose files: parse (YAML 1.1, as docker's
// go-yaml), interpolate variables, check each file against the compose
// specification's schema, merge the files, and convert to a StackModel. Pure:
// files are read through the injected readFile (the .env next to the first
// file, env_file, secret and config files). Every failure is a StackFileError
// of one line naming the file, the service and the key.
import path from 'node:path';
import { parseDocument, visit, type Tags } from 'yaml';
import { convertService, DEPRECATED_PROPERTIES, IGNORED_NETWORK_OPTIONS, objectName, listOrDict, UNSUPPORTED_PROPERTIES, type ConvertContext, type Obj, type Path } from './convert.js';
import { StackFileError, pathText } from './errors.js';
import { interpolateTree, parseEnvFile } from './interpolate.js';
import { mergeComposeFiles } from './merge.js';
import { STACK_NAMESPACE_LABEL, type StackFileObject, type StackModel, type StackNetwork, type StackService, type StackVolume } from './model.js';
import { castValues, validateComposeFile } from './schema.js';

export interface LoadOptions {
  env: Record<string, string | undefined>;
  readFile: (path: string) => Buffer;
}

const isObj = (x: unknown): x is Obj => x !== null && typeof x === 'object' && !Array.isArray(x);

// YAML as docker's go-yaml v2 reads it: 1.1 (0644 is octal, yes/on are
// true), but without 1.1's base-60 numbers and timestamps, which go-yaml
// leaves as strings (`- 8080:80` is a port mapping, not 484880).
const yamlTags = (tags: Tags): Tags => tags.filter((t) => !(typeof t === 'object' && (t.format === 'TIME' || t.tag === 'tag:yaml.org,2002:timestamp')));

/** The YAML of one file as plain data; a syntax error is one line with its position. */
function parseYaml(file: string, content: string): Obj {
  const doc = parseDocument(content, { version: '1.1', merge: true, uniqueKeys: true, customTags: yamlTags });
  const err = doc.errors[0];
  if (err) throw new StackFileError(file, '', `invalid YAML: ${err.message.split('\n')[0].replace(/:$/, '')}`);
  // The 1.1 float pattern of the yaml package reads "." or "._" as NaN; go-yaml only reads .nan so.
  visit(doc, {
    Scalar(_key, node) {
      if (typeof node.value === 'number' && Number.isNaN(node.value) && node.source !== undefined && !/^\.(?:nan|NaN|NAN)$/.test(node.source)) node.value = node.source;
    },
  });
  const data: unknown = doc.toJS({ maxAliasCount: 10_000 });
  if (data === null || data === undefined) throw new StackFileError(file, '', 'the file is empty: expected a compose file with services:');
  if (!isObj(data)) throw new StackFileError(file, '', 'expected a mapping of top-level keys (services:, networks:, ...)');
  return data;
}

/** The variables: the environment first, then the .env next to the first compose file (missing is fine). */
function variables(files: readonly { path: string }[], o: LoadOptions): (name: string) => string | undefined {
  const envFile = path.join(path.dirname(files[0].path), '.env');
  let dotenv = new Map<string, string>();
  let text: string | undefined;
  try {
    text = o.readFile(envFile).toString('utf8');
  } catch (err) {
    if ((err as { code?: string }).code !== 'ENOENT') throw new StackFileError(envFile, '', `cannot read: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (text !== undefined) dotenv = parseEnvFile(text, envFile, { quotes: true, fallback: (k) => o.env[k] });
  return (name) => (Object.hasOwn(o.env, name) && o.env[name] !== undefined ? o.env[name] : dotenv.get(name));
}

function valueAt(doc: unknown, p: Path): unknown {
  let x = doc;
  for (const k of p) x = x !== null && typeof x === 'object' ? (x as Record<string | number, unknown>)[k] : undefined;
  return x;
}

export function loadStack(stack: string, files: { path: string; content: string }[], o: LoadOptions): StackModel {
  if (files.length === 0) throw new StackFileError('(no file)', '', 'give at least one compose file with -c');
  const lookup = variables(files, o);
  const docs = files.map((f) => {
    const doc = castValues(interpolateTree(parseYaml(f.path, f.content), lookup, f.path)) as Obj;
    validateComposeFile(doc, f.path);
    return doc;
  });
  const merged = mergeComposeFiles(docs);

  // The file an error is about: the last one that sets the key (or the nearest key above it).
  const fileOf = (at: Path): string => {
    for (let n = at.length; n > 0; n--) {
      for (let i = docs.length - 1; i >= 0; i--) if (valueAt(docs[i], at.slice(0, n)) !== undefined) return files[i].path;
    }
    return files[0].path;
  };
  const fail = (at: Path, detail: string): never => {
    throw new StackFileError(fileOf(at), pathText(at), detail);
  };

  const services = isObj(merged.services) ? merged.services : {};
  const section = (k: string): Obj => (isObj(merged[k]) ? (merged[k] as Obj) : {});
  const ctx: ConvertContext = {
    stack,
    baseDir: path.resolve(path.dirname(files[0].path)),
    env: (k) => o.env[k],
    readFile: o.readFile,
    fail,
    top: { networks: section('networks'), volumes: section('volumes'), secrets: section('secrets'), configs: section('configs') },
    serviceKeys: new Set(Object.keys(services)),
  };

  const used = { networks: [] as string[], volumes: [] as string[], secrets: [] as string[], configs: [] as string[] };
  const out: StackService[] = [];
  for (const [key, svc] of Object.entries(services)) {
    const c = convertService(key, isObj(svc) ? svc : {}, ctx);
    out.push({ key, spec: c.spec, dependsOn: c.dependsOn });
    for (const k of ['networks', 'volumes', 'secrets', 'configs'] as const) for (const n of c[k]) if (!used[k].includes(n)) used[k].push(n);
  }
  checkCycles(out, fail);

  return {
    stack,
    services: out,
    networks: used.networks.map((k) => network(ctx, k)),
    volumes: used.volumes.map((k) => volume(ctx, k)),
    secrets: used.secrets.map((k) => fileObject(ctx, 'secrets', k)),
    configs: used.configs.map((k) => fileObject(ctx, 'configs', k)),
    warnings: warnings(services),
  };
}

/**
 * docker's warnings, in its words: keys Swarm ignores and deprecated ones,
 * over every service; then, beyond docker (which ignores them silently), the
 * per-network options flotilla ignores, in the same form.
 */
function warnings(services: Obj): string[] {
  const unsupported = new Set<string>();
  const deprecated = new Set<string>();
  const networkOptions = new Set<string>();
  for (const svc of Object.values(services)) {
    if (!isObj(svc)) continue;
    for (const k of Object.keys(svc)) {
      if (UNSUPPORTED_PROPERTIES.includes(k)) unsupported.add(k);
      if (Object.hasOwn(DEPRECATED_PROPERTIES, k)) deprecated.add(k);
    }
    const networks = isObj(svc.networks) ? Object.values(svc.networks) : [];
    for (const opts of networks) if (isObj(opts)) for (const k of Object.keys(opts)) if (IGNORED_NETWORK_OPTIONS.includes(k)) networkOptions.add(k);
  }
  const out: string[] = [];
  if (unsupported.size > 0) out.push(`Ignoring unsupported options: ${[...unsupported].sort().join(', ')}`);
  if (deprecated.size > 0) out.push(`Ignoring deprecated options:\n\n${[...deprecated].sort().map((k) => `${k}: ${DEPRECATED_PROPERTIES[k]}`).join('\n')}`);
  if (networkOptions.size > 0) out.push(`Ignoring unsupported network options: ${[...networkOptions].sort().join(', ')}`);
  return out;
}

function labelsOf(x: unknown): Record<string, string> {
  return Object.fromEntries(Object.entries(listOrDict(x)).map(([k, v]) => [k, v === null || v === undefined ? '' : String(v)]));
}

/** Options of a top-level object flotilla cannot honour: an error naming the first. */
function refuseKeys(ctx: ConvertContext, at: Path, def: Obj, allowed: readonly string[]): void {
  for (const k of Object.keys(def)) {
    if (!allowed.includes(k) && !k.startsWith('x-')) ctx.fail([...at, k], `not supported by flotilla (supported: ${allowed.join(', ')})`);
  }
}

function network(ctx: ConvertContext, key: string): StackNetwork {
  const def = ctx.top.networks[key];
  const o = isObj(def) ? def : {};
  refuseKeys(ctx, ['networks', key], o, ['driver', 'external', 'name', 'labels']);
  if (o.driver !== undefined && o.driver !== 'overlay') ctx.fail(['networks', key, 'driver'], `flotilla's networks are overlay networks: use driver: overlay or leave it out, got ${JSON.stringify(o.driver)}`);
  const { name, external } = objectName(ctx.stack, key, def);
  return { key, name, external, labels: external ? {} : { ...labelsOf(o.labels), [STACK_NAMESPACE_LABEL]: ctx.stack } };
}

function volume(ctx: ConvertContext, key: string): StackVolume {
  const def = ctx.top.volumes[key];
  const o = isObj(def) ? def : {};
  refuseKeys(ctx, ['volumes', key], o, ['driver', 'external', 'name']);
  if (o.driver !== undefined && o.driver !== 'local') ctx.fail(['volumes', key, 'driver'], `flotilla mounts local Docker volumes: use driver: local or leave it out, got ${JSON.stringify(o.driver)}`);
  return { key, ...objectName(ctx.stack, key, def) };
}

function fileObject(ctx: ConvertContext, kind: 'secrets' | 'configs', key: string): StackFileObject {
  const def = (kind === 'secrets' ? ctx.top.secrets : ctx.top.configs)[key];
  const o = isObj(def) ? def : {};
  const at: Path = [kind, key];
  refuseKeys(ctx, at, o, ['file', 'external', 'name', 'labels']);
  const { name, external } = objectName(ctx.stack, key, def);
  const what = kind === 'secrets' ? 'secret' : 'config';
  if (external) {
    if (o.file !== undefined) ctx.fail([...at, 'file'], `an external ${what} has no file: it exists already`);
    return { key, name, external, labels: {} };
  }
  if (typeof o.file !== 'string') ctx.fail(at, `missing key "file": give the ${what}'s file, or external: true for one that exists`);
  const file = path.resolve(ctx.baseDir, o.file as string);
  let data: Buffer;
  try {
    data = ctx.readFile(file);
  } catch (err) {
    const code = (err as { code?: string }).code;
    return ctx.fail([...at, 'file'], `cannot read the file of ${what} ${JSON.stringify(key)} at ${file}: ${code === 'ENOENT' ? 'no such file' : err instanceof Error ? err.message : String(err)}`);
  }
  return { key, name, external, data, file, labels: { ...labelsOf(o.labels), [STACK_NAMESPACE_LABEL]: ctx.stack } };
}

/** depends_on must not loop: the deployer starts services in its order. */
function checkCycles(services: readonly StackService[], fail: (at: Path, detail: string) => never): void {
  const deps = new Map(services.map((s) => [s.key, s.dependsOn.map((d) => d.service)]));
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (key: string, trail: string[]): void => {
    if (state.get(key) === 'done') return;
    if (state.get(key) === 'visiting') {
      const loop = [...trail.slice(trail.indexOf(key)), key];
      fail(['services', loop[0], 'depends_on'], `depends_on makes a cycle: ${loop.join(' -> ')}`);
    }
    state.set(key, 'visiting');
    for (const d of deps.get(key) ?? []) visit(d, [...trail, key]);
    state.set(key, 'done');
  };
  for (const s of services) visit(s.key, []);
}
