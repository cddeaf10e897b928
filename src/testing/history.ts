// Client histories of the key-value store, one JSON object per line (JSONL):
//
//   {"process":0,"type":"invoke","f":"put","key":"a","value":"x","time":12}
//
// A history is what clients observed: every operation appears as an `invoke` record and (normally) a later
// completion record from the same process. The linearizability checker consumes these; the fault-injection
// harness produces them. The parser is strict on purpose: a malformed history silently "passing" the checker
// would be worse than a loud error naming the offending line.

export type OpFunction = 'put' | 'get' | 'append' | 'cas';
export type EventType = 'invoke' | 'ok' | 'fail' | 'info';
export type CompletionType = Exclude<EventType, 'invoke'>;

/** A compare-and-set argument: `[expected, new]`; `expected === null` means "only if the key is absent". */
export type CasValue = readonly [expected: string | null, next: string];

interface EventBase {
  /** The client issuing the operation; it has at most one operation outstanding. */
  readonly process: number;
  readonly key: string;
  /** Non-decreasing across the history, any unit. Only used for reporting; record order is the real order. */
  readonly time: number;
}

/** put and append carry the written string both on invoke and on completion. */
export interface WriteEvent extends EventBase {
  readonly f: 'put' | 'append';
  readonly type: EventType;
  readonly value: string;
}

/** A get carries nothing on invoke (and on fail/info, which observed nothing). */
export interface GetRequestEvent extends EventBase {
  readonly f: 'get';
  readonly type: 'invoke' | 'fail' | 'info';
  readonly value: null;
}

/** A successful get carries the value read; null when the key was absent. */
export interface GetOkEvent extends EventBase {
  readonly f: 'get';
  readonly type: 'ok';
  readonly value: string | null;
}

/** A cas carries `[expected, new]` on every record; `ok` means swapped, `fail` means not swapped. */
export interface CasEvent extends EventBase {
  readonly f: 'cas';
  readonly type: EventType;
  readonly value: CasValue;
}

export type HistoryEvent = WriteEvent | GetRequestEvent | GetOkEvent | CasEvent;

const EVENT_TYPES: readonly EventType[] = ['invoke', 'ok', 'fail', 'info'];
const OP_FUNCTIONS: readonly OpFunction[] = ['put', 'get', 'append', 'cas'];

function fieldError(lineNo: number, field: string, problem: string): Error {
  return new Error(`history line ${lineNo}: field "${field}" ${problem}`);
}

function describe(value: unknown): string {
  if (value === undefined) return 'missing';
  return `got ${JSON.stringify(value)}`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseProcess(raw: unknown, lineNo: number): number {
  if (typeof raw !== 'number' || !Number.isSafeInteger(raw) || raw < 0) {
    throw fieldError(lineNo, 'process', `must be a non-negative integer, ${describe(raw)}`);
  }
  return raw;
}

function parseType(raw: unknown, lineNo: number): EventType {
  const found = EVENT_TYPES.find((t) => t === raw);
  if (found === undefined) throw fieldError(lineNo, 'type', `must be one of ${EVENT_TYPES.join('|')}, ${describe(raw)}`);
  return found;
}

function parseFunction(raw: unknown, lineNo: number): OpFunction {
  const found = OP_FUNCTIONS.find((f) => f === raw);
  if (found === undefined) throw fieldError(lineNo, 'f', `must be one of ${OP_FUNCTIONS.join('|')}, ${describe(raw)}`);
  return found;
}

function parseKey(raw: unknown, lineNo: number): string {
  if (typeof raw !== 'string') throw fieldError(lineNo, 'key', `must be a string, ${describe(raw)}`);
  return raw;
}

function parseTime(raw: unknown, lineNo: number): number {
  if (typeof raw !== 'number' || !Number.isFinite(raw)) {
    throw fieldError(lineNo, 'time', `must be a finite number, ${describe(raw)}`);
  }
  return raw;
}

function parseCasValue(raw: unknown, lineNo: number): CasValue {
  const shapeOk = Array.isArray(raw) && raw.length === 2 && (raw[0] === null || typeof raw[0] === 'string') && typeof raw[1] === 'string';
  if (!shapeOk) throw fieldError(lineNo, 'value', `of a cas must be [expected: string|null, new: string], ${describe(raw)}`);
  const [expected, next] = raw as [string | null, string];
  return [expected, next];
}

/** Builds the typed event, checking that `value` has the shape its f/type combination requires. */
function buildEvent(base: EventBase, f: OpFunction, type: EventType, raw: unknown, lineNo: number): HistoryEvent {
  switch (f) {
    case 'put':
    case 'append':
      if (typeof raw !== 'string') throw fieldError(lineNo, 'value', `of a ${f} must be the written string, ${describe(raw)}`);
      return { ...base, f, type, value: raw };
    case 'get':
      if (type === 'ok') {
        if (raw !== null && typeof raw !== 'string') throw fieldError(lineNo, 'value', `of a get ok must be a string or null, ${describe(raw)}`);
        return { ...base, f, type, value: raw };
      }
      if (raw !== null) throw fieldError(lineNo, 'value', `of a get ${type} must be null, ${describe(raw)}`);
      return { ...base, f, type, value: null };
    case 'cas':
      return { ...base, f, type, value: parseCasValue(raw, lineNo) };
  }
}

/**
 * Parses and validates one JSONL record. `lineNo` (1-based) only goes into error messages.
 * Unknown extra fields are ignored so that producers may annotate records (e.g. with an error text).
 */
export function parseHistoryLine(line: string, lineNo: number): HistoryEvent {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch (err) {
    throw new Error(`history line ${lineNo}: invalid JSON (${(err as Error).message})`);
  }
  if (!isPlainObject(parsed)) throw new Error(`history line ${lineNo}: expected a JSON object, ${describe(parsed)}`);
  const base: EventBase = {
    process: parseProcess(parsed.process, lineNo),
    key: parseKey(parsed.key, lineNo),
    time: parseTime(parsed.time, lineNo),
  };
  const type = parseType(parsed.type, lineNo);
  const f = parseFunction(parsed.f, lineNo);
  // `value` must be present even where it is null: a missing field is more likely a producer bug than intent.
  if (!('value' in parsed)) throw fieldError(lineNo, 'value', 'is missing');
  return buildEvent(base, f, type, parsed.value, lineNo);
}

/** Parses a whole JSONL history; blank lines are skipped, and `time` must never decrease. */
export function parseHistory(text: string): HistoryEvent[] {
  const events: HistoryEvent[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '') continue;
    const event = parseHistoryLine(line, i + 1);
    const previous = events.at(-1);
    if (previous !== undefined && event.time < previous.time) {
      throw fieldError(i + 1, 'time', `must be non-decreasing, got ${event.time} after ${previous.time}`);
    }
    events.push(event);
  }
  return events;
}

/** Serializes events as JSONL with a stable field order, one event per line, with a trailing newline. */
export function formatHistory(events: readonly HistoryEvent[]): string {
  let out = '';
  for (const e of events) {
    out += JSON.stringify({ process: e.process, type: e.type, f: e.f, key: e.key, value: e.value, time: e.time }) + '\n';
  }
  return out;
}

interface OperationBase {
  readonly process: number;
  readonly key: string;
  /** How the operation ended; an invoke that never completed counts as `info` (outcome unknown). */
  readonly result: CompletionType;
  readonly invokeTime: number;
  /** Infinity when the outcome is unknown (`info` or never completed): it may take effect at any later time. */
  readonly returnTime: number;
  /** Position of the invoke record in the event list: the real-time order used by the checker. */
  readonly invokeIndex: number;
  /** Position of the completion record; Infinity when the invoke never completed. */
  readonly returnIndex: number;
}

export interface WriteOperation extends OperationBase {
  readonly f: 'put' | 'append';
  readonly invokeValue: string;
  /** The completion's value (same as the invoke's); null when the invoke never completed. */
  readonly outputValue: string | null;
}

export interface GetOperation extends OperationBase {
  readonly f: 'get';
  readonly invokeValue: null;
  /** The value read for `ok`; null otherwise (and when the key was absent). */
  readonly outputValue: string | null;
}

export interface CasOperation extends OperationBase {
  readonly f: 'cas';
  readonly invokeValue: CasValue;
  /** The completion's value (same as the invoke's); null when the invoke never completed. */
  readonly outputValue: CasValue | null;
}

export type Operation = WriteOperation | GetOperation | CasOperation;

function sameValue(a: HistoryEvent['value'], b: HistoryEvent['value']): boolean {
  if (Array.isArray(a) && Array.isArray(b)) return a[0] === b[0] && a[1] === b[1];
  return a === b;
}

function describeEvent(e: HistoryEvent, index: number): string {
  return `event #${index} (process ${e.process}, ${e.type} ${e.f} key ${JSON.stringify(e.key)})`;
}

/** Joins an invoke with its completion (or with none: `completion` undefined means never completed). */
function makeOperation(invoke: HistoryEvent, invokeIndex: number, completion: HistoryEvent | undefined, returnIndex: number): Operation {
  // pairOperations only passes completions here, never a second invoke.
  const result = (completion?.type ?? 'info') as CompletionType;
  const base: OperationBase = {
    process: invoke.process,
    key: invoke.key,
    result,
    invokeTime: invoke.time,
    returnTime: result === 'info' || completion === undefined ? Infinity : completion.time,
    invokeIndex,
    returnIndex: completion === undefined ? Infinity : returnIndex,
  };
  // The casts are sound: pairOperations checked that both records have the same f, and parsing checked value shapes per f.
  switch (invoke.f) {
    case 'put':
    case 'append':
      return { ...base, f: invoke.f, invokeValue: invoke.value, outputValue: (completion?.value as string | undefined) ?? null };
    case 'get':
      return { ...base, f: 'get', invokeValue: null, outputValue: completion?.type === 'ok' ? (completion.value as string | null) : null };
    case 'cas':
      return { ...base, f: 'cas', invokeValue: invoke.value, outputValue: (completion?.value as CasValue | undefined) ?? null };
  }
}

function checkCompletionMatches(invoke: HistoryEvent, invokeIndex: number, completion: HistoryEvent, index: number): void {
  if (completion.f !== invoke.f || completion.key !== invoke.key) {
    throw new Error(`${describeEvent(completion, index)} does not match the pending ${describeEvent(invoke, invokeIndex)}`);
  }
  // Writes and cas echo their argument on completion; a different value means the producer mixed up operations.
  if (invoke.f !== 'get' && !sameValue(invoke.value, completion.value)) {
    throw new Error(
      `${describeEvent(completion, index)} carries value ${JSON.stringify(completion.value)} but its invoke (event #${invokeIndex}) carried ${JSON.stringify(invoke.value)}`,
    );
  }
}

/**
 * Turns events into operations, ordered by invoke position. Throws on a completion with no pending invoke
 * from its process, on a second invoke while one is outstanding, and on a completion that does not match
 * its invoke (different f, key or written value). Invokes left pending at the end become `info` operations.
 */
export function pairOperations(events: readonly HistoryEvent[]): Operation[] {
  const pending = new Map<number, number>(); // process -> index of its outstanding invoke
  const slots: (Operation | undefined)[] = []; // indexed by invoke order, so output follows invoke order
  const slotOfInvoke = new Map<number, number>();
  for (let i = 0; i < events.length; i++) {
    const e = events[i];
    const open = pending.get(e.process);
    if (e.type === 'invoke') {
      if (open !== undefined) {
        throw new Error(`${describeEvent(e, i)}: process ${e.process} already has an operation outstanding since event #${open}`);
      }
      pending.set(e.process, i);
      slotOfInvoke.set(i, slots.length);
      slots.push(undefined);
      continue;
    }
    if (open === undefined) throw new Error(`${describeEvent(e, i)}: completion without a pending invoke from process ${e.process}`);
    const invoke = events[open];
    checkCompletionMatches(invoke, open, e, i);
    slots[slotOfInvoke.get(open) as number] = makeOperation(invoke, open, e, i);
    pending.delete(e.process);
  }
  for (const open of pending.values()) {
    slots[slotOfInvoke.get(open) as number] = makeOperation(events[open], open, undefined, Infinity);
  }
  return slots as Operation[];
}
