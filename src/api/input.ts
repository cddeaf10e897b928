// Errors about input and how they quote it: ValidationError (a field, a rule,
// a message) and the quoting that never echoes more than about 100 characters
// of what a user sent. Its own module so that every validator (the spec
// validator, the constraint grammar) reports the same way without importing
// each other.

/** Any other free-form string. */
export const MAX_STRING_LENGTH = 64 * 1024;

/** A spec or object that breaks a rule. `field` is a path such as 'spec.endpoint.ports[1].publishedPort'. */
export class ValidationError extends Error {
  override readonly name = 'ValidationError';
  constructor(
    readonly field: string,
    readonly rule: string,
    detail: string,
  ) {
    super(`${field || '(root)'}: ${detail} [${rule}]`);
  }
}

// ---------------------------------------------------------------------------
// Quoting what a user sent

/** At most this many characters of a value a user sent are quoted back in an error message. */
export const QUOTE_LIMIT = 100;
/** A label key inside a field path ('labels["key"]') is cut shorter: the path is repeated in the message and the gRPC metadata. */
const FIELD_KEY_LIMIT = 40;

/** The first `limit` characters of `s` (never half of a surrogate pair), and how many were left out. */
function cut(s: string, limit: number): [string, number] {
  if (s.length <= limit) return [s, 0];
  let n = Math.max(0, limit);
  const c = s.charCodeAt(n - 1);
  if (c >= 0xd800 && c <= 0xdbff) n--;
  return [s.slice(0, n), s.length - n];
}

/**
 * A value a user sent, JSON-quoted for an error message: its first
 * QUOTE_LIMIT characters, then `… (N more characters)`, so that a 10 KB
 * argument never comes back whole. Every message that echoes input uses it.
 */
export function quoteInput(s: string, limit = QUOTE_LIMIT): string {
  const [head, rest] = cut(s, limit);
  return rest === 0 ? JSON.stringify(head) : `${JSON.stringify(head)}… (${rest} more characters)`;
}

/** Like quoteInput, without the quotes (for text that is already a rendering, e.g. a JSON array). */
export function clipInput(s: string, limit = QUOTE_LIMIT): string {
  const [head, rest] = cut(s, limit);
  return rest === 0 ? head : `${head}… (${rest} more characters)`;
}

/**
 * A field path with a key a user chose: 'labels["tier"]'. The key is cut
 * shorter than quoteInput's, and kept printable ASCII (\uXXXX escapes, '...'
 * for the cut), because the path also travels as gRPC metadata, where any
 * other character is illegal.
 */
export function fieldKey(path: string, key: string): string {
  const [head, rest] = cut(key, FIELD_KEY_LIMIT);
  const quoted = JSON.stringify(head).replace(/[^ -~]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return `${path}[${quoted}${rest === 0 ? '' : `...+${rest}`}]`;
}

/** Any received value, for an error message: a string quoted by quoteInput, a number or boolean as is, anything else described. */
export function quoteValue(v: unknown): string {
  if (typeof v === 'string') return quoteInput(v);
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return describe(v);
}

// Limits, as in SwarmKit / Docker where they have one.

/** What a received value is, for an error message ('a string', 'nothing', ...). */
export function describe(x: unknown): string {
  if (x === null) return 'null';
  if (x === undefined) return 'nothing';
  if (Array.isArray(x)) return 'an array';
  return typeof x === 'string' ? 'a string' : typeof x === 'object' ? 'an object' : `${typeof x} ${String(x)}`;
}

/** A string item of a list, at most MAX_STRING_LENGTH characters (also the constraint parser's check). */
export function itemStr(x: unknown, field: string): string {
  if (typeof x !== 'string') throw new ValidationError(field, 'type', `must be a string, not ${describe(x)}`);
  if (x.length > MAX_STRING_LENGTH) throw new ValidationError(field, 'length', `must be at most ${MAX_STRING_LENGTH} characters`);
  return x;
}
