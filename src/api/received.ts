// Reading a received message (a request, an assignment, a report) field by
// field, so that a converter handles every field of the proto or fails the
// type check.
//
// A converter from the wire destructures the fields it handles and passes the
// rest to noFieldsLeft: a field added to the .proto and not handled is then a
// tsc error naming it ("Property 'stopSignal' is incompatible with index
// signature"), not a field silently dropped on its way to the store. The values
// stay `unknown` (Received<T>): what arrives is checked by the validators, as
// if nothing were known of it.
import { ValidationError } from './input.js';

/** A received message of generated type T: every field of T, each value still unchecked. */
export type Received<T> = { readonly [K in keyof T]-?: unknown };

/** The fields a converter left unhandled: none, or tsc names them here. */
export function noFieldsLeft(_rest: Record<string, never>): void {
  // Type-level only: the received object's other fields (if any) are ignored at run time, as before.
}

function isObj(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** A received sub-message of type T: an object, or undefined when unset (null); ValidationError naming `field` otherwise. */
export function sub<T>(x: unknown, field: string): Received<T> | undefined {
  if (x === undefined || x === null) return undefined;
  if (!isObj(x)) throw new ValidationError(field, 'type', 'must be a message');
  return x as Received<T>;
}

/** `path.key`, or `key` at the top. */
export function at(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

/** A list of received messages, each converted; anything that is not an array is passed on for the validator to name. */
export function items<T>(x: unknown, field: string, each: (item: Received<T>, field: string) => unknown): unknown {
  if (!Array.isArray(x)) return x;
  return x.map((item: unknown, i) => {
    const f = `${field}[${i}]`;
    const o = sub<T>(item, f);
    if (o === undefined) throw new ValidationError(f, 'required', 'is required');
    return each(o, f);
  });
}
