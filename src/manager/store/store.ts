// The replicated cluster store: the state machine applied from the Raft log.
//
// A write is a transaction (see encodeTx): a list of create / update / delete
// actions that apply() runs atomically, all or none. apply() is synchronous
// and deterministic (no clock, no randomness, sorted output), and never throws
// on a bad transaction: every replica must reach the same verdict, so the
// verdict is returned as a TxResult. Objects get `version` = the Raft index of
// the transaction that last changed them, which is what optimistic concurrency
// (`expectedVersion`) compares against.
//
// Reads return deeply frozen objects; clone before modifying. Watchers hear
// about committed changes, in order, right after the transaction that made them
// (watch.ts delivers them).
import type { Logger } from 'pino';
import type { StateMachine } from '../../raft/node.js';
import {
  KINDS,
  NAMED_KINDS,
  type Kind,
  type KindMap,
  type Labels,
  type Node,
  type NodeRole,
  type Service,
  type StoreObject,
  type Task,
  type TaskState,
  type TaskStatus,
} from '../../api/objects.js';
import { jsonEqual, type SharedTaskParts } from '../../api/shared-specs.js';
import { StoreWatch, type ObjectEvent, type Op, type WatchFilter, type WatchListener } from './watch.js';
import { validateId, validateObject, validateTask, validateTaskAssignment, validateTaskStatusUpdate, validateTaskUpdate, validateUpdate } from '../../api/validate.js';
import { ValidationError } from '../../api/input.js';

// ---------------------------------------------------------------------------
// Transactions

/**
 * What an action may do: an Op, or, for tasks only, one of the writes that
 * make up the bulk of all writes, sent without the task's spec (the same for
 * every task of a service, and most of a task's bytes):
 * - 'spawn': a new task of its service's current spec: the store copies the
 *   service's task template, endpoint and name into it, and refuses it
 *   (version-conflict) unless the service is still at the task's
 *   specVersion. Watched as a 'create';
 * - 'status': a status report (the observed status alone, forward-only).
 *   Watched as an 'update';
 * - 'assign': a scheduling decision (the node and the observed status,
 *   forward-only), conditional on the version the scheduler read. Watched as
 *   an 'update'.
 */
export type ActionOp = Op | 'spawn' | 'status' | 'assign';
const OPS: readonly ActionOp[] = ['create', 'update', 'delete', 'spawn', 'status', 'assign'];
const TASK_ONLY_OPS: readonly ActionOp[] = ['spawn', 'status', 'assign'];

/** One step of a transaction. */
export type Action = {
  [K in Kind]:
    | { kind: K; op: 'create'; object: KindMap[K] }
    /** Replaces the whole object. Without expectedVersion the write is unconditional. */
    | { kind: K; op: 'update'; object: KindMap[K]; expectedVersion?: number }
    | { kind: K; op: 'delete'; object: { id: string }; expectedVersion?: number };
}[Kind]
  | { kind: 'task'; op: 'spawn'; object: Omit<Task, 'spec' | 'endpoint' | 'serviceAnnotations'> }
  | { kind: 'task'; op: 'status'; object: { id: string; status: TaskStatus; updatedAt: number }; expectedVersion?: number }
  | { kind: 'task'; op: 'assign'; object: { id: string; nodeId: string; status: TaskStatus; updatedAt: number }; expectedVersion: number };

/** An action whose envelope is valid; the object itself is validated when applied. */
export interface DecodedAction {
  kind: Kind;
  op: ActionOp;
  object: Record<string, unknown>;
  expectedVersion?: number;
}

/** Version of the transaction encoding. */
export const TX_VERSION = 1;

export type TxErrorCode = 'version-conflict' | 'not-found' | 'name-conflict' | 'invalid';

export interface TxError {
  code: TxErrorCode;
  message: string;
  /** The offending field ('spec.name', 'status.state', ...), when there is one. */
  field?: string;
  /** For 'invalid': the validation rule broken ('name-format', 'forward-only', ...). */
  rule?: string;
  /** Position of the failing action in the transaction. */
  action?: number;
}

export type TxResult =
  | { ok: true; index: number; objects: StoreObject[] }
  | { ok: false; index: number; error: TxError };

export type DecodedTx = { ok: true; actions: DecodedAction[] } | { ok: false; error: TxError };

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Encode a transaction: UTF-8 JSON `{"v":1,"actions":[{kind,op,object,expectedVersion?},...]}`. */
export function encodeTx(actions: readonly Action[]): Uint8Array {
  return utf8.encode(JSON.stringify({ v: TX_VERSION, actions }));
}

export function createAction<K extends Kind>(kind: K, object: KindMap[K]): Action {
  return { kind, op: 'create', object } as Action;
}

/** An update conditional on the version the writer read (`object.version` by default); null = unconditional. */
export function updateAction<K extends Kind>(kind: K, object: KindMap[K], expectedVersion: number | null = object.version): Action {
  return (expectedVersion === null ? { kind, op: 'update', object } : { kind, op: 'update', object, expectedVersion }) as Action;
}

/** A task's status report: forward-only, checked by the store; unconditional unless expectedVersion is given. */
export function statusAction(id: string, status: TaskStatus, updatedAt: number, expectedVersion?: number): Action {
  const object = { id, status, updatedAt };
  return expectedVersion === undefined ? { kind: 'task', op: 'status', object } : { kind: 'task', op: 'status', object, expectedVersion };
}

/** A new task of its service's current spec, written without the spec (see ActionOp); `task.specVersion` must be the service's specVersion. */
export function spawnAction(task: Task): Action {
  const { spec: _spec, endpoint: _endpoint, serviceAnnotations: _annotations, ...object } = task;
  return { kind: 'task', op: 'spawn', object };
}

/** A scheduling decision: the task's node and observed status (forward-only), if the task is still at `expectedVersion`. */
export function assignAction(task: Pick<Task, 'id' | 'nodeId' | 'status' | 'updatedAt'>, expectedVersion: number): Action {
  return { kind: 'task', op: 'assign', object: { id: task.id, nodeId: task.nodeId, status: task.status, updatedAt: task.updatedAt }, expectedVersion };
}

export function deleteAction(kind: Kind, id: string, expectedVersion?: number): Action {
  return (expectedVersion === undefined ? { kind, op: 'delete', object: { id } } : { kind, op: 'delete', object: { id }, expectedVersion }) as Action;
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Decode and check the envelope of a transaction. Never throws. */
export function decodeTx(data: Uint8Array): DecodedTx {
  const bad = (message: string, action?: number): DecodedTx => ({
    ok: false,
    error: { code: 'invalid', message: `malformed transaction: ${message}`, rule: 'encoding', ...(action === undefined ? {} : { action }) },
  });
  if (!(data instanceof Uint8Array)) return bad('not bytes');
  let doc: unknown;
  try {
    doc = JSON.parse(fromUtf8.decode(data));
  } catch (err) {
    return bad(err instanceof Error ? err.message : 'not UTF-8 JSON');
  }
  if (!isPlainObject(doc)) return bad('not a JSON object');
  if (doc.v !== TX_VERSION) return bad(`unsupported version ${JSON.stringify(doc.v)} (this store reads ${TX_VERSION})`);
  const raw = doc.actions;
  if (!Array.isArray(raw)) return bad('actions must be an array');
  if (raw.length === 0) return bad('a transaction needs at least one action');
  const actions: DecodedAction[] = [];
  for (let i = 0; i < raw.length; i++) {
    const a: unknown = raw[i];
    if (!isPlainObject(a)) return bad(`action ${i} is not an object`, i);
    const kind = a.kind;
    if (typeof kind !== 'string' || !(KINDS as readonly string[]).includes(kind)) return bad(`action ${i}: unknown kind ${JSON.stringify(kind)}`, i);
    const op = a.op;
    if (typeof op !== 'string' || !(OPS as readonly string[]).includes(op)) return bad(`action ${i}: unknown op ${JSON.stringify(op)}`, i);
    if (!isPlainObject(a.object)) return bad(`action ${i}: object must be a JSON object`, i);
    const ev = a.expectedVersion;
    if (TASK_ONLY_OPS.includes(op as ActionOp) && kind !== 'task') return bad(`action ${i}: op ${op} applies to tasks only`, i);
    if (op === 'assign' && (ev === undefined || ev === null)) return bad(`action ${i}: op assign needs the expectedVersion the scheduler read`, i);
    const action: DecodedAction = { kind: kind as Kind, op: op as ActionOp, object: a.object };
    if (ev !== undefined && ev !== null) {
      if (op === 'create' || op === 'spawn') return bad(`action ${i}: expectedVersion is meaningless on create`, i);
      if (typeof ev !== 'number' || !Number.isSafeInteger(ev) || ev < 0) return bad(`action ${i}: expectedVersion must be a non-negative integer`, i);
      action.expectedVersion = ev;
    }
    actions.push(action);
  }
  return { ok: true, actions };
}

// ---------------------------------------------------------------------------
// Errors for proposers (the API edge maps these to gRPC codes)

export class StoreError extends Error {
  constructor(
    readonly code: TxErrorCode,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}
export class NameConflictError extends StoreError {
  override readonly name = 'NameConflictError';
}
export class VersionConflictError extends StoreError {
  override readonly name = 'VersionConflictError';
}
export class NotFoundError extends StoreError {
  override readonly name = 'NotFoundError';
}

/** The typed error for a failed transaction ('invalid' becomes a ValidationError). */
export function errorFromTx(error: TxError): Error {
  switch (error.code) {
    case 'name-conflict':
      return new NameConflictError(error.code, error.message, error.field);
    case 'version-conflict':
      return new VersionConflictError(error.code, error.message, error.field);
    case 'not-found':
      return new NotFoundError(error.code, error.message, error.field);
    case 'invalid': {
      const e = new ValidationError(error.field ?? '', error.rule ?? 'invalid', '');
      e.message = error.message; // already names the field and the rule
      return e;
    }
  }
}

/** The objects of a successful result; throws the typed error of a failed one. */
export function unwrapTx(result: TxResult): StoreObject[] {
  if (!result.ok) throw errorFromTx(result.error);
  return result.objects;
}

export interface ListFilter<K extends Kind> {
  /** Exact spec.name, case-insensitive (services, secrets, configs, clusters). */
  name?: string;
  /** spec.name prefix, case-insensitive. */
  namePrefix?: string;
  /** Every label must match (node labels or spec labels). */
  labels?: Labels;
  /** Tasks. */
  serviceId?: string;
  /** Tasks ('' = unassigned). */
  nodeId?: string;
  /** Tasks. */
  desiredState?: TaskState;
  /** Nodes. */
  role?: NodeRole;
  where?: (object: KindMap[K]) => boolean;
}

// ---------------------------------------------------------------------------
// Tables and indexes

function deepFreeze<T>(x: T): T {
  if (typeof x === 'object' && x !== null && !Object.isFrozen(x)) {
    Object.freeze(x);
    for (const v of Object.values(x)) deepFreeze(v);
  }
  return x;
}

function byId(a: StoreObject, b: StoreObject): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

function nameOf(kind: Kind, o: StoreObject): string | undefined {
  return NAMED_KINDS.includes(kind) ? (o as { spec: { name: string } }).spec.name : undefined;
}

function addTo<K>(m: Map<K, Set<string>>, key: K, id: string): void {
  let s = m.get(key);
  if (!s) m.set(key, (s = new Set()));
  s.add(id);
}

function removeFrom<K>(m: Map<K, Set<string>>, key: K, id: string): void {
  const s = m.get(key);
  if (!s) return;
  s.delete(id);
  if (s.size === 0) m.delete(key);
}

function countIn<K>(m: Map<K, number>, key: K, delta: number): void {
  const n = (m.get(key) ?? 0) + delta;
  if (n === 0) m.delete(key);
  else m.set(key, n);
}

const partsOfService = new WeakMap<Service, SharedTaskParts>();

/** A stored (frozen) service's template and endpoint, as one SharedTaskParts object per service version. */
function serviceParts(service: Service): SharedTaskParts {
  let p = partsOfService.get(service);
  if (p === undefined) partsOfService.set(service, (p = { spec: service.spec.taskTemplate, endpoint: service.spec.endpoint }));
  return p;
}

class Tables {
  readonly objects = new Map<Kind, Map<string, StoreObject>>(KINDS.map((k) => [k, new Map()]));
  /** Lowercased spec.name -> id, per named kind. */
  readonly byName = new Map<Kind, Map<string, string>>(NAMED_KINDS.map((k) => [k, new Map()]));
  readonly tasksByService = new Map<string, Set<string>>();
  /** By `serviceId/slot` (replicated slots; global tasks are under slot 0): a slot's tasks without its service's. */
  readonly tasksBySlot = new Map<string, Set<string>>();
  readonly tasksByNode = new Map<string, Set<string>>();
  readonly tasksByDesired = new Map<TaskState, Set<string>>();
  readonly nodesByRole = new Map<NodeRole, Set<string>>();
  /** How many tasks are in each observed state (a count, not a set: status reports move tasks between states all the time). */
  readonly taskStateCounts = new Map<TaskState, number>();

  table(kind: Kind): Map<string, StoreObject> {
    return this.objects.get(kind) as Map<string, StoreObject>;
  }

  /**
   * The canonical spec parts a task written now may share (see
   * shared-specs.ts): its previous ones, then its service's current ones.
   */
  sharedTaskParts(raw: Record<string, unknown>, prev: Task | undefined): SharedTaskParts[] {
    const out: SharedTaskParts[] = prev ? [prev] : [];
    const serviceId = raw.serviceId;
    const service = typeof serviceId === 'string' ? (this.table('service').get(serviceId) as Service | undefined) : undefined;
    if (service) out.push(serviceParts(service));
    return out;
  }

  idForName(kind: Kind, name: string): string | undefined {
    return this.byName.get(kind)?.get(name.toLowerCase());
  }

  /**
   * The set indexes of a kind, each with the key it files an object under.
   * replace() moves an object only in the indexes whose key changed: most
   * writes are task updates that keep the service and the desired state
   * (status reports, assignments), and re-filing a task in sets of tens of
   * thousands costs more than the rest of the write.
   */
  private readonly setIndexes: ReadonlyMap<Kind, ReadonlyArray<[Map<unknown, Set<string>>, (o: StoreObject) => unknown]>> = new Map<
    Kind,
    Array<[Map<unknown, Set<string>>, (o: StoreObject) => unknown]>
  >([
    [
      'task',
      [
        [this.tasksByService, (o) => (o as Task).serviceId],
        [this.tasksBySlot, (o) => slotIndexKey((o as Task).serviceId, (o as Task).slot)],
        [this.tasksByNode, (o) => (o as Task).nodeId],
        [this.tasksByDesired, (o) => (o as Task).desiredState],
      ],
    ],
    ['node', [[this.nodesByRole, (o) => (o as Node).role]]],
  ]);

  /** Replace prev by next (either may be absent), keeping every index right. */
  replace(kind: Kind, id: string, prev: StoreObject | undefined, next: StoreObject | undefined): void {
    if (next) this.table(kind).set(id, next);
    else this.table(kind).delete(id);
    for (const [index, key] of this.setIndexes.get(kind) ?? []) {
      const from = prev === undefined ? undefined : key(prev);
      const to = next === undefined ? undefined : key(next);
      if (prev !== undefined && next !== undefined && from === to) continue;
      if (prev !== undefined) removeFrom(index, from, id);
      if (next !== undefined) addTo(index, to, id);
    }
    if (kind === 'task' && (prev as Task | undefined)?.status.state !== (next as Task | undefined)?.status.state) {
      if (prev !== undefined) countIn(this.taskStateCounts, (prev as Task).status.state, -1);
      if (next !== undefined) countIn(this.taskStateCounts, (next as Task).status.state, 1);
    }
    const names = this.byName.get(kind);
    if (names === undefined) return;
    const oldName = prev === undefined ? undefined : nameOf(kind, prev)?.toLowerCase();
    const newName = next === undefined ? undefined : nameOf(kind, next)?.toLowerCase();
    if (oldName === newName && next !== undefined) return;
    if (oldName !== undefined && names.get(oldName) === id) names.delete(oldName);
    if (newName !== undefined) names.set(newName, id);
  }
}

// ---------------------------------------------------------------------------
// Snapshots

/** Version of the snapshot image. */
export const SNAPSHOT_VERSION = 1;
const SNAPSHOT_FORMAT = 'flotilla-store';

export class StoreSnapshotError extends Error {
  override readonly name = 'StoreSnapshotError';
}

// ---------------------------------------------------------------------------

export interface ClusterStoreOptions {
  /** Where a throwing watcher is reported (watchers must not throw; the store carries on). */
  logger?: Logger;
}

function slotIndexKey(serviceId: string, slot: number): string {
  return `${serviceId}/${slot}`;
}

type Staged = { error: TxError } | { kind: Kind; id: string; prev?: StoreObject; next?: StoreObject; event: ObjectEvent };

export class ClusterStore implements StateMachine<TxResult> {
  private t = new Tables();
  private lastIndex = 0;
  private readonly watchers: StoreWatch;

  constructor(options: ClusterStoreOptions = {}) {
    this.watchers = new StoreWatch(options.logger);
  }

  /** Raft index of the last transaction applied (or of the restored snapshot's). */
  get index(): number {
    return this.lastIndex;
  }

  // -------------------------------------------------------------------------
  // StateMachine

  apply(data: Uint8Array, index: number): TxResult {
    if (!Number.isSafeInteger(index) || index <= this.lastIndex) {
      return { ok: false, index, error: { code: 'invalid', rule: 'index', message: `entry ${index} is not after the last applied index ${this.lastIndex}; ignored` } };
    }
    const fail = (error: TxError): TxResult => ({ ok: false, index, error });
    this.lastIndex = index;
    const decoded = decodeTx(data);
    if (!decoded.ok) return fail(decoded.error);

    const done: Array<{ kind: Kind; id: string; prev?: StoreObject; next?: StoreObject }> = [];
    const events: ObjectEvent[] = [];
    const rollback = (): void => {
      for (let i = done.length - 1; i >= 0; i--) {
        const d = done[i];
        this.t.replace(d.kind, d.id, d.next, d.prev);
      }
    };
    try {
      for (let i = 0; i < decoded.actions.length; i++) {
        const staged = this.stage(decoded.actions[i], index);
        if ('error' in staged) {
          rollback();
          return fail({ ...staged.error, action: i });
        }
        this.t.replace(staged.kind, staged.id, staged.prev, staged.next);
        done.push(staged);
        events.push(staged.event);
      }
    } catch (err) {
      // A bug, not a verdict on the transaction; still the same on every replica.
      rollback();
      return fail({ code: 'invalid', rule: 'internal', message: `internal error: ${err instanceof Error ? err.message : String(err)}` });
    }
    this.watchers.emit(events);
    return { ok: true, index, objects: events.map((e) => e.object) };
  }

  /** A versioned image of everything: UTF-8 JSON, objects sorted by id per kind. */
  snapshot(): Uint8Array {
    const objects: Record<string, StoreObject[]> = {};
    for (const kind of KINDS) objects[kind] = [...this.t.table(kind).values()].sort(byId);
    return utf8.encode(JSON.stringify({ format: SNAPSHOT_FORMAT, v: SNAPSHOT_VERSION, index: this.lastIndex, objects }));
  }

  /** Replace everything by a snapshot's image and rebuild the indexes; emits one 'restored' event. Throws StoreSnapshotError on a bad image (and then changes nothing). */
  restore(data: Uint8Array): void {
    let doc: unknown;
    try {
      doc = JSON.parse(fromUtf8.decode(data));
    } catch (err) {
      throw new StoreSnapshotError(`store snapshot is not UTF-8 JSON: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (!isPlainObject(doc) || doc.format !== SNAPSHOT_FORMAT) throw new StoreSnapshotError('not a store snapshot');
    if (doc.v !== SNAPSHOT_VERSION) throw new StoreSnapshotError(`unsupported store snapshot version ${JSON.stringify(doc.v)} (this store reads ${SNAPSHOT_VERSION})`);
    const index = doc.index;
    if (typeof index !== 'number' || !Number.isSafeInteger(index) || index < 0) throw new StoreSnapshotError('store snapshot has no valid index');
    const objects = doc.objects;
    if (!isPlainObject(objects)) throw new StoreSnapshotError('store snapshot has no objects');
    const t = new Tables();
    for (const kind of KINDS) {
      const list = objects[kind] ?? [];
      if (!Array.isArray(list)) throw new StoreSnapshotError(`store snapshot: ${kind} objects are not a list`);
      for (const raw of list) {
        let o: StoreObject;
        try {
          o = kind === 'task' && isPlainObject(raw) ? validateTask(raw, t.sharedTaskParts(raw, undefined)) : validateObject(kind, raw);
        } catch (err) {
          throw new StoreSnapshotError(`store snapshot: invalid ${kind}: ${err instanceof Error ? err.message : String(err)}`);
        }
        if (o.version < 1 || o.version > index) throw new StoreSnapshotError(`store snapshot: ${kind} ${o.id} has version ${o.version} outside 1..${index}`);
        if (t.table(kind).has(o.id)) throw new StoreSnapshotError(`store snapshot: duplicate ${kind} ${o.id}`);
        const name = nameOf(kind, o);
        if (name !== undefined && t.idForName(kind, name) !== undefined) throw new StoreSnapshotError(`store snapshot: duplicate ${kind} name ${name}`);
        t.replace(kind, o.id, undefined, deepFreeze(o));
      }
    }
    this.t = t;
    this.lastIndex = index;
    this.watchers.emit([{ kind: 'store', op: 'restored', index }]);
  }

  // -------------------------------------------------------------------------
  // Reads (frozen objects; lists sorted by id)

  get<K extends Kind>(kind: K, id: string): KindMap[K] | undefined {
    return this.t.table(kind).get(id) as KindMap[K] | undefined;
  }

  count(kind: Kind): number {
    return this.t.table(kind).size;
  }

  /** Every object of a kind in no particular order, without copying or sorting (passes over a large store). */
  values<K extends Kind>(kind: K): IterableIterator<KindMap[K]> {
    return this.t.table(kind).values() as IterableIterator<KindMap[K]>;
  }

  list<K extends Kind>(kind: K, filter: ListFilter<K> = {}): KindMap[K][] {
    let ids: Iterable<string> | undefined;
    const narrow = (s: Set<string> | undefined): void => {
      const set = s ?? new Set<string>();
      ids = ids === undefined ? set : [...ids].filter((id) => set.has(id));
    };
    if (kind === 'task') {
      if (filter.serviceId !== undefined) narrow(this.t.tasksByService.get(filter.serviceId));
      if (filter.nodeId !== undefined) narrow(this.t.tasksByNode.get(filter.nodeId));
      if (filter.desiredState !== undefined) narrow(this.t.tasksByDesired.get(filter.desiredState));
    }
    if (kind === 'node' && filter.role !== undefined) narrow(this.t.nodesByRole.get(filter.role));
    if (filter.name !== undefined && NAMED_KINDS.includes(kind)) {
      const id = this.t.idForName(kind, filter.name);
      narrow(new Set(id === undefined ? [] : [id]));
    }
    const table = this.t.table(kind);
    let out: StoreObject[] = [];
    if (ids === undefined) out = [...table.values()];
    else for (const id of ids) out.push(table.get(id) as StoreObject);
    const prefix = filter.namePrefix?.toLowerCase();
    const labels = filter.labels ? Object.entries(filter.labels) : undefined;
    out = out.filter((o) => {
      if (prefix !== undefined && !(nameOf(kind, o) ?? '').toLowerCase().startsWith(prefix)) return false;
      if (labels) {
        const have = kind === 'node' ? (o as Node).labels : kind === 'task' ? {} : (o as { spec: { labels: Labels } }).spec.labels;
        if (!labels.every(([k, v]) => Object.hasOwn(have, k) && have[k] === v)) return false;
      }
      return filter.where === undefined || filter.where(o as KindMap[K]);
    });
    return out.sort(byId) as KindMap[K][];
  }

  /** A service, secret, config, cluster or network by spec.name (case-insensitive, as names are unique that way). */
  findByName<K extends 'service' | 'secret' | 'config' | 'cluster' | 'network'>(kind: K, name: string): KindMap[K] | undefined {
    const id = this.t.idForName(kind, name);
    return id === undefined ? undefined : this.get(kind, id);
  }

  findServiceByName(name: string): Service | undefined {
    return this.findByName('service', name);
  }

  /** `sorted: false` skips the sort by id, which costs more than the rest for a service of many tasks. */
  tasksByService(serviceId: string, opts: { sorted?: boolean } = {}): Task[] {
    return this.tasksIn(this.t.tasksByService.get(serviceId), opts.sorted ?? true);
  }

  /** The tasks of one slot of a replicated service (history included), unsorted. */
  tasksBySlot(serviceId: string, slot: number): Task[] {
    return this.tasksIn(this.t.tasksBySlot.get(slotIndexKey(serviceId, slot)), false);
  }

  /** Tasks assigned to a node; tasksByNode('') gives the unassigned ones. */
  tasksByNode(nodeId: string): Task[] {
    return this.tasksIn(this.t.tasksByNode.get(nodeId));
  }

  tasksByDesiredState(state: TaskState): Task[] {
    return this.tasksIn(this.t.tasksByDesired.get(state));
  }

  /** How many tasks are in each observed state (states with none are absent), from an index: for metrics. */
  taskCountsByState(): ReadonlyMap<TaskState, number> {
    return this.t.taskStateCounts;
  }

  nodesByRole(role: NodeRole): Node[] {
    const table = this.t.table('node');
    return [...(this.t.nodesByRole.get(role) ?? [])].map((id) => table.get(id) as Node).sort(byId);
  }

  private tasksIn(ids: Set<string> | undefined, sorted = true): Task[] {
    if (!ids) return [];
    const table = this.t.table('task');
    const out: Task[] = [];
    for (const id of ids) out.push(table.get(id) as Task);
    return sorted ? out.sort(byId) : out;
  }

  /** Recompute every index from the objects and report any difference (for tests and debugging); [] when all is right. */
  checkIndexes(): string[] {
    const problems: string[] = [];
    const fresh = new Tables();
    for (const kind of KINDS) for (const o of this.t.table(kind).values()) fresh.replace(kind, o.id, undefined, o);
    const norm = (m: Map<unknown, Set<string> | string>): string =>
      JSON.stringify([...m.entries()].map(([k, v]) => [k, typeof v === 'string' ? v : [...v].sort()]).sort((a, b) => (String(a[0]) < String(b[0]) ? -1 : 1)));
    const pairs: Array<[string, Map<unknown, Set<string> | string>, Map<unknown, Set<string> | string>]> = [
      ['tasksByService', this.t.tasksByService, fresh.tasksByService],
      ['tasksBySlot', this.t.tasksBySlot, fresh.tasksBySlot],
      ['tasksByNode', this.t.tasksByNode, fresh.tasksByNode],
      ['tasksByDesiredState', this.t.tasksByDesired, fresh.tasksByDesired],
      ['nodesByRole', this.t.nodesByRole, fresh.nodesByRole],
    ];
    for (const kind of NAMED_KINDS) pairs.push([`${kind}ByName`, this.t.byName.get(kind) as Map<unknown, string>, fresh.byName.get(kind) as Map<unknown, string>]);
    for (const [name, have, want] of pairs) if (norm(have) !== norm(want)) problems.push(`${name}: ${norm(have)} != ${norm(want)}`);
    const counts = (m: Map<TaskState, number>): string => JSON.stringify([...m].sort((a, b) => a[0] - b[0]));
    if (counts(this.t.taskStateCounts) !== counts(fresh.taskStateCounts)) problems.push(`taskStateCounts: ${counts(this.t.taskStateCounts)} != ${counts(fresh.taskStateCounts)}`);
    for (const kind of NAMED_KINDS) {
      if ((this.t.byName.get(kind) as Map<string, string>).size !== this.t.table(kind).size) problems.push(`${kind}: names are not unique`);
    }
    return problems;
  }

  // -------------------------------------------------------------------------
  // Watch

  /** Call listener for each committed change that passes the filter (and for every 'restored'); returns the unsubscribe function. */
  watch(listener: WatchListener): () => void;
  watch(filter: WatchFilter | undefined, listener: WatchListener): () => void;
  watch(a: WatchFilter | WatchListener | undefined, b?: WatchListener): () => void {
    return typeof a === 'function' ? this.watchers.add({}, a) : this.watchers.add(a ?? {}, b as WatchListener);
  }

  // -------------------------------------------------------------------------
  // One action, checked against the current (partly staged) state

  private stage(a: DecodedAction, index: number): Staged {
    const { kind } = a;
    const table = this.t.table(kind);
    if (a.op === 'delete') {
      let id: string;
      try {
        id = validateId(a.object.id, 'id');
      } catch (err) {
        return invalid(err);
      }
      const prev = table.get(id);
      if (!prev) return { error: { code: 'not-found', field: 'id', message: `${kind} ${id} not found` } };
      const vc = versionCheck(kind, prev, a.expectedVersion);
      if (vc) return vc;
      return { kind, id, prev, event: { kind, op: 'delete', object: prev, index } as ObjectEvent };
    }

    let next: StoreObject;
    let prev: StoreObject | undefined;
    const creates = a.op === 'create' || a.op === 'spawn';
    try {
      if (a.op === 'spawn') {
        const spawned = this.spawned(a.object);
        if ('error' in spawned) return spawned;
        next = spawned.task;
      } else if (a.op === 'create') {
        next = kind === 'task' ? validateTask(a.object, this.t.sharedTaskParts(a.object, undefined)) : validateObject(kind, a.object);
      } else {
        const id = validateId(a.object.id, 'id');
        prev = table.get(id);
        if (!prev) return { error: { code: 'not-found', field: 'id', message: `${kind} ${id} not found` } };
        const vc = versionCheck(kind, prev, a.expectedVersion);
        if (vc) return vc;
        if (a.op === 'status') next = validateTaskStatusUpdate(prev as Task, a.object);
        else if (a.op === 'assign') next = validateTaskAssignment(prev as Task, a.object);
        else if (kind === 'task') next = validateTaskUpdate(prev as Task, a.object, this.t.sharedTaskParts(a.object, prev as Task));
        else next = validateUpdate(kind as Exclude<Kind, 'task'>, prev as Exclude<StoreObject, Task>, a.object);
      }
    } catch (err) {
      return invalid(err);
    }

    if (creates && table.has(next.id)) {
      return { error: { code: 'name-conflict', field: 'id', message: `${kind} id ${next.id} already exists` } };
    }
    const name = nameOf(kind, next);
    if (name !== undefined) {
      const holder = this.t.idForName(kind, name);
      if (holder !== undefined && holder !== next.id) {
        return { error: { code: 'name-conflict', field: 'spec.name', message: `${kind} name ${JSON.stringify(name)} is already in use by ${holder}` } };
      }
    }
    if (kind === 'task' && creates) {
      const err = this.checkNewTask(next as Task);
      if (err) return { error: err };
    }
    next.version = index;
    if (prev) next.createdAt = prev.createdAt;
    // SwarmKit's SpecVersion: moves with the spec only (an update status or label-free write keeps it).
    if (kind === 'service') {
      const svc = next as Service;
      const before = prev as Service | undefined;
      svc.specVersion = before !== undefined && jsonEqual(before.spec, svc.spec) ? before.specVersion : index;
    }
    deepFreeze(next);
    const event = (prev ? { kind, op: 'update', object: next, old: prev, index } : { kind, op: 'create', object: next, index }) as ObjectEvent;
    return { kind, id: next.id, prev, next, event };
  }

  /** A spawned task: its object with the spec parts of its service, which must be at the task's specVersion. Throws ValidationError. */
  private spawned(raw: Record<string, unknown>): { task: Task } | { error: TxError } {
    const serviceId = validateId(raw.serviceId, 'serviceId');
    const service = this.get('service', serviceId);
    if (!service) return { error: { code: 'not-found', field: 'serviceId', message: `service ${serviceId} of the new task not found` } };
    if (raw.specVersion !== service.specVersion) {
      return { error: { code: 'version-conflict', field: 'specVersion', message: `service ${serviceId} has spec version ${service.specVersion}, not ${JSON.stringify(raw.specVersion)}` } };
    }
    const parts = serviceParts(service);
    // The decoded action is ours alone (fresh from JSON.parse): complete it in place rather than spread it into a copy.
    raw.spec = parts.spec;
    raw.endpoint = parts.endpoint;
    raw.serviceAnnotations = { name: service.spec.name };
    const task = validateTask(raw, [parts]);
    return { task };
  }

  /** A new task belongs to an existing service and fits its mode. */
  private checkNewTask(task: Task): TxError | undefined {
    const service = this.get('service', task.serviceId);
    if (!service) return { code: 'not-found', field: 'serviceId', message: `service ${task.serviceId} of task ${task.id} not found` };
    if ('replicated' in service.spec.mode) {
      if (task.slot < 1) return { code: 'invalid', field: 'slot', rule: 'slot', message: `slot: a task of replicated service ${service.spec.name} needs a slot >= 1` };
    } else {
      if (task.slot !== 0) return { code: 'invalid', field: 'slot', rule: 'slot', message: `slot: a task of global service ${service.spec.name} has slot 0` };
      if (task.nodeId === '') return { code: 'invalid', field: 'nodeId', rule: 'global-node', message: `nodeId: a task of global service ${service.spec.name} names its node` };
    }
    return undefined;
  }
}

function invalid(err: unknown): { error: TxError } {
  if (err instanceof ValidationError) return { error: { code: 'invalid', field: err.field, rule: err.rule, message: err.message } };
  throw err;
}

function versionCheck(kind: Kind, prev: StoreObject, expected: number | undefined): { error: TxError } | undefined {
  if (expected === undefined || expected === prev.version) return undefined;
  return { error: { code: 'version-conflict', field: 'version', message: `${kind} ${prev.id} is at version ${prev.version}, not ${expected}` } };
}
