// Variable interpolation as docker/compose does it, on the values (never the
// keys) of a parsed compose file: $VAR, ${VAR}, ${VAR:-default} (unset or
// empty), ${VAR-default} (unset), ${VAR:?err} (unset or empty: an error),
// ${VAR?err} (unset: an error), $$ for a literal $. One departure: docker
// warns about a variable that is not set and substitutes "", which deploys a
// service with a silently empty image tag or password; here it is an error
// naming the file and the key (issue 20: undefined variables are errors).
import { StackFileError, pathText } from './errors.js';

export type Lookup = (name: string) => string | undefined;

const NAME = /^[_a-zA-Z][_a-zA-Z0-9]*$/;

/** One string interpolated; `fail(detail)` throws the caller's error. */
export function interpolateString(s: string, lookup: Lookup, fail: (detail: string) => never): string {
  let out = '';
  let i = 0;
  while (i < s.length) {
    const dollar = s.indexOf('$', i);
    if (dollar < 0) {
      out += s.slice(i);
      break;
    }
    out += s.slice(i, dollar);
    const next = s[dollar + 1];
    if (next === '$') {
      out += '$';
      i = dollar + 2;
      continue;
    }
    if (next === '{') {
      const close = s.indexOf('}', dollar + 2);
      if (close < 0) fail(`invalid interpolation format in ${JSON.stringify(s)}: "\${" without "}" (write $$ for a literal $)`);
      out += substitute(s.slice(dollar + 2, close), lookup, fail, s);
      i = close + 1;
      continue;
    }
    const m = /^[_a-zA-Z][_a-zA-Z0-9]*/.exec(s.slice(dollar + 1));
    if (!m) fail(`invalid interpolation format in ${JSON.stringify(s)}: "$" must start $VAR or \${VAR} (write $$ for a literal $)`);
    const name = m[0];
    const v = lookup(name);
    if (v === undefined) fail(unsetMessage(name));
    out += v;
    i = dollar + 1 + name.length;
  }
  return out;
}

function unsetMessage(name: string): string {
  return `variable ${name} is not set: set it in the environment or in .env, or give a default with \${${name}:-default}`;
}

/** The inside of ${...}. */
function substitute(inner: string, lookup: Lookup, fail: (detail: string) => never, whole: string): string {
  const m = /^([^:?-]*)(:?[-?])?([\s\S]*)$/.exec(inner);
  const name = m ? m[1] : inner;
  if (!m || !NAME.test(name)) fail(`invalid interpolation format in ${JSON.stringify(whole)}: \${${inner}} is not \${VAR}, \${VAR:-default} or \${VAR:?error}`);
  const op = m[2];
  const arg = m[3];
  if (op === undefined && arg !== '') fail(`invalid interpolation format in ${JSON.stringify(whole)}`);
  const v = lookup(name);
  switch (op) {
    case undefined:
      if (v === undefined) fail(unsetMessage(name));
      return v;
    case ':-':
      return v === undefined || v === '' ? interpolateString(arg, lookup, fail) : v;
    case '-':
      return v === undefined ? interpolateString(arg, lookup, fail) : v;
    case ':?':
      if (v === undefined || v === '') fail(`required variable ${name} is missing a value${arg ? `: ${arg}` : ''}`);
      return v;
    case '?':
      if (v === undefined) fail(`required variable ${name} is missing a value${arg ? `: ${arg}` : ''}`);
      return v;
    default:
      return fail(`invalid interpolation format in ${JSON.stringify(whole)}`);
  }
}

/** A parsed compose document with every string value interpolated (a new tree). */
export function interpolateTree(doc: unknown, lookup: Lookup, file: string): unknown {
  const walk = (x: unknown, path: (string | number)[]): unknown => {
    if (typeof x === 'string') {
      if (!x.includes('$')) return x;
      return interpolateString(x, lookup, (detail) => {
        throw new StackFileError(file, pathText(path), detail);
      });
    }
    if (Array.isArray(x)) return x.map((v, i) => walk(v, [...path, i]));
    if (x !== null && typeof x === 'object') {
      return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, walk(v, [...path, k])]));
    }
    return x;
  };
  return walk(doc, []);
}

/**
 * A .env or env_file: KEY=VALUE lines, blank lines and # comments; `export `
 * before a key is allowed; a value in matching quotes loses them (.env, as
 * compose reads it; `quotes: false` for env_file, which docker takes literally).
 * A line with a key alone takes the key's value from `fallback` (dropped when unset).
 */
export function parseEnvFile(text: string, file: string, opts: { quotes: boolean; fallback: Lookup }): Map<string, string> {
  const out = new Map<string, string>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/^\s+/, '');
    if (line === '' || line.startsWith('#')) return;
    const body = line.startsWith('export ') ? line.slice(7).trimStart() : line;
    const eq = body.indexOf('=');
    const key = (eq < 0 ? body : body.slice(0, eq)).trimEnd();
    if (!/^[^\s=]+$/.test(key)) throw new StackFileError(file, `line ${i + 1}`, `expected KEY=VALUE, got ${JSON.stringify(raw.slice(0, 80))}`);
    if (eq < 0) {
      const v = opts.fallback(key);
      if (v !== undefined) out.set(key, v);
      return;
    }
    let value = body.slice(eq + 1);
    if (opts.quotes) {
      value = value.trim();
      const q = value[0];
      if ((q === '"' || q === "'") && value.length >= 2 && value.endsWith(q)) value = value.slice(1, -1);
      else value = value.replace(/\s+#.*$/, '');
    }
    out.set(key, value);
  });
  return out;
}
