// Several -c files merged as docker does: a later file overrides the keys of
// an earlier one, services merged key by key; environment and labels merge
// per variable; volumes merge by target, secrets and configs by source, ports
// and depends_on/networks lists are joined; other lists are replaced.
import { listOrDict, type Obj } from './convert.js';

const isObj = (x: unknown): x is Obj => x !== null && typeof x === 'object' && !Array.isArray(x);

/** Lists of a service merged by a key rather than replaced. */
const KEYED_LISTS: Readonly<Record<string, (item: unknown) => string>> = {
  volumes: (v) => (typeof v === 'string' ? (v.split(':')[1] ?? v.split(':')[0]) : isObj(v) ? String(v.target) : JSON.stringify(v)),
  secrets: (v) => (typeof v === 'string' ? v : isObj(v) ? String(v.source) : JSON.stringify(v)),
  configs: (v) => (typeof v === 'string' ? v : isObj(v) ? String(v.source) : JSON.stringify(v)),
  ports: (v) => JSON.stringify(v),
};

/** The maps docker merges entry by entry, whichever syntax each file uses. */
const DICT_KEYS = new Set(['environment', 'labels']);

function mergeKeyed(a: unknown[], b: unknown[], keyOf: (item: unknown) => string): unknown[] {
  const out = new Map<string, unknown>();
  for (const item of [...a, ...b]) out.set(keyOf(item), item);
  return [...out.values()];
}

/** A list or a map of names (networks, depends_on) as a map, to merge per name. */
function namesAsMap(x: unknown): Obj {
  return Array.isArray(x) ? Object.fromEntries(x.map((k) => [String(k), null])) : isObj(x) ? x : {};
}

function mergeService(a: Obj, b: Obj): Obj {
  const out: Obj = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    if (prev === undefined) out[k] = v;
    else if (DICT_KEYS.has(k)) out[k] = { ...listOrDict(prev), ...listOrDict(v) };
    else if (k === 'networks' || k === 'depends_on') out[k] = Array.isArray(prev) && Array.isArray(v) ? [...new Set([...prev, ...v])] : deepMerge(namesAsMap(prev), namesAsMap(v));
    else if (k in KEYED_LISTS && Array.isArray(prev) && Array.isArray(v)) out[k] = mergeKeyed(prev, v, KEYED_LISTS[k]);
    else if (k === 'deploy' && isObj(prev) && isObj(v)) out[k] = mergeDeploy(prev, v);
    else out[k] = deepMerge(prev, v);
  }
  return out;
}

function mergeDeploy(a: Obj, b: Obj): Obj {
  const out = deepMerge(a, b) as Obj;
  if (a.labels !== undefined && b.labels !== undefined) out.labels = { ...listOrDict(a.labels), ...listOrDict(b.labels) };
  return out;
}

/** Maps merge key by key; anything else: the later value. */
function deepMerge(a: unknown, b: unknown): unknown {
  if (!isObj(a) || !isObj(b)) return b;
  const out: Obj = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = k in out ? deepMerge(out[k], v) : v;
  return out;
}

/** The documents (each already interpolated and checked) merged in order. */
export function mergeComposeFiles(docs: readonly Obj[]): Obj {
  const out: Obj = {};
  for (const doc of docs) {
    for (const [section, value] of Object.entries(doc)) {
      if (section === 'services' && isObj(value)) {
        const services: Obj = isObj(out.services) ? { ...out.services } : {};
        for (const [key, svc] of Object.entries(value)) {
          const prev = services[key];
          services[key] = isObj(prev) && isObj(svc) ? mergeService(prev, svc) : svc;
        }
        out.services = services;
      } else {
        out[section] = deepMerge(out[section], value);
      }
    }
  }
  return out;
}
