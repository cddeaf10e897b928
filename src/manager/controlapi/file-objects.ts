// What the Control API's secrets and configs share (secrets.ts, configs.ts
// map their RPCs onto it): both are a name, labels and up to 500 KiB
// (secrets) or 1000 KiB (configs) of data that containers read as files;
// immutable but for their labels; refused removal while a service uses them;
// and, beyond Swarm, rotated: the next version takes the name and every
// service that used the previous one rolls to it through its update config.
//
// A secret's data never leaves the store through this API (the dispatcher
// hands it to the nodes whose tasks use it); no log line or error message
// here carries data of either kind.
//
// Also the resolution of a service spec's references (resolveFileRefs): a
// name (or id, or id prefix) becomes the object's id and name, the target
// its default, and a missing object refuses the spec before anything is
// written.
import type { Logger } from 'pino';
import * as grpc from '@grpc/grpc-js';
import { requireVersion } from '../../api/convert.js';
import type { control } from '../../api/wire.js';
import { ApiError } from '../grpc-status.js';
import { generateId } from '../ca/ca.js';
import { createAction, deleteAction, updateAction, VersionConflictError, type Action, type ClusterStore } from '../store/store.js';
import { jsonEqual } from '../../api/shared-specs.js';
import type { Config, FileReference, KindMap, Secret, SecretSpec, Service, ServiceSpec } from '../../api/objects.js';
import { historyName, validateServiceSpec, type FileObjectKind } from '../../api/validate.js';
import { quoteInput, ValidationError } from '../../api/input.js';
import type { LeaderWriter } from '../leader-writer.js';
import type { ReplicatedStore } from '../replicated-store.js';
import { checkVersion, findNamed, KindApi, labelsMatch, refuseInUse, resolveNamed } from './common.js';

/** A service spec's references of one kind (none when the spec has none). */
export function fileRefsOf(spec: ServiceSpec, kind: FileObjectKind): readonly FileReference[] {
  const c = spec.taskTemplate.container;
  return (kind === 'secret' ? c.secrets : c.configs) ?? [];
}

/** The spec with the references of `kind` replaced (the key left out when there are none, as the validator does). */
function withFileRefs(spec: ServiceSpec, kind: FileObjectKind, refs: FileReference[]): ServiceSpec {
  const key = kind === 'secret' ? 'secrets' : 'configs';
  const { [key]: _old, ...container } = spec.taskTemplate.container;
  return { ...spec, taskTemplate: { ...spec.taskTemplate, container: refs.length > 0 ? { ...container, [key]: refs } : container } };
}

/** The name of the object's line of versions: NAME for NAME~N (an earlier version), else its own name. */
function baseName(name: string): string {
  return historyName(name)?.base ?? name;
}

/** A reference's default target: the name (a file under /run/secrets/) for a secret, '/' + the name for a config, as Swarm's. */
function defaultTarget(kind: FileObjectKind, name: string): string {
  return kind === 'secret' ? name : `/${name}`;
}

function resolveFileRef(store: ClusterStore, kind: FileObjectKind, r: FileReference, field: string): FileReference {
  const obj = r.id ? store.get(kind, r.id) : findNamed(store, kind, r.name);
  if (obj === undefined) {
    const shown = r.id && !r.name ? r.id : r.name;
    const how = r.id ? `see \`flotilla ${kind} ls\`` : `create it with \`flotilla ${kind} create ${r.name} FILE\`, or see \`flotilla ${kind} ls\``;
    throw new ValidationError(field, `${kind}-not-found`, `${kind} ${quoteInput(shown)} not found: ${how}`);
  }
  const base = baseName(obj.spec.name);
  // A reference sent back with its id (an update of another field) keeps the name it has while the object is an
  // earlier version of that name (a rolled-back spec): a name alone never restarts tasks.
  const name = r.id && r.name === base ? r.name : obj.spec.name;
  return { ...r, id: obj.id, name, target: r.target || defaultTarget(kind, base) };
}

/**
 * The spec with its secret and config references resolved: the object each
 * names (by id; by name, id or unique id prefix when the request gave no
 * id), its id and name, the default target filled in. A missing one is a
 * ValidationError naming the reference; targets that now clash are refused
 * as the validator refuses them.
 */
export function resolveFileRefs(store: ClusterStore, spec: ServiceSpec): ServiceSpec {
  let out = spec;
  for (const kind of ['secret', 'config'] as const) {
    const refs = fileRefsOf(spec, kind);
    if (refs.length === 0) continue;
    const key = kind === 'secret' ? 'secrets' : 'configs';
    out = withFileRefs(out, kind, refs.map((r, i) => resolveFileRef(store, kind, r, `spec.taskTemplate.container.${key}[${i}]`)));
  }
  // Two references that named one file in different words (a name and an id prefix) clash only now.
  return out === spec ? spec : validateServiceSpec(out);
}

/** Rotations tried when a service changed between the read and the write. */
const ROTATE_ATTEMPTS = 5;

type FileObject<K extends FileObjectKind> = KindMap[K] & (Secret | Config);

type ListFilters = Partial<NonNullable<control.ListSecretsRequest__Output['filters']>>;

/** The shared handlers, each taking what its RPC's request holds (converted) and answering store objects. */
export abstract class FileObjectsApi<K extends FileObjectKind> extends KindApi {
  protected constructor(
    rs: ReplicatedStore,
    writer: LeaderWriter,
    log: Logger | undefined,
    private readonly kind: K,
  ) {
    super(rs, writer, log);
  }

  protected async create(spec: SecretSpec): Promise<FileObject<K>> {
    await this.rs.barrier();
    const now = Date.now();
    const obj = { id: generateId(), version: 0, createdAt: now, updatedAt: now, spec } as FileObject<K>;
    // The store refuses a second object of one name (case-insensitive), naming it.
    const [stored] = await this.writer.write([createAction(this.kind, obj)]);
    this.log?.info({ [`${this.kind}Id`]: obj.id, name: spec.name }, `${this.kind} created`);
    return stored as FileObject<K>;
  }

  protected async get(ref: string): Promise<FileObject<K>> {
    await this.rs.barrier();
    return this.resolve(ref);
  }

  /** Every filter given must match: a name (any case), an id prefix, a name prefix (any case) of those listed; every label. */
  protected async list(f: ListFilters = {}): Promise<FileObject<K>[]> {
    await this.rs.barrier();
    const anyOf = (values: readonly string[] | undefined, test: (v: string) => boolean): boolean => !values?.length || values.some(test);
    return (this.rs.store.list(this.kind) as FileObject<K>[])
      .filter((o) => {
        const name = o.spec.name.toLowerCase();
        return (
          anyOf(f.names, (n) => name === n.toLowerCase()) &&
          anyOf(f.idPrefixes, (p) => o.id.startsWith(p)) &&
          anyOf(f.namePrefixes, (p) => name.startsWith(p.toLowerCase())) &&
          labelsMatch(o.spec.labels, f.labels ?? [])
        );
      })
      .sort((a, b) => (a.spec.name < b.spec.name ? -1 : a.spec.name > b.spec.name ? 1 : 0));
  }

  /** Labels only (as SwarmKit): a request whose name or (non-empty) data differs is INVALID_ARGUMENT. */
  protected async update(ref: string, rawVersion: unknown, spec: SecretSpec): Promise<FileObject<K>> {
    const kind = this.kind;
    const version = requireVersion(rawVersion, kind, kind === 'secret' ? 'GetSecret' : 'GetConfig');
    await this.rs.barrier();
    const obj = this.resolve(ref);
    checkVersion(kind, obj, version);
    if (spec.name !== obj.spec.name) {
      throw new ValidationError('spec.name', 'immutable', `only the labels of a ${kind} can change: its name is ${quoteInput(obj.spec.name)}, not ${quoteInput(spec.name)}`);
    }
    // Never quoted: the data is compared, and left out of the answer either way.
    if (spec.data !== '' && spec.data !== obj.spec.data) {
      throw new ValidationError('spec.data', 'immutable', `only the labels of a ${kind} can change (send the data empty): to change its data, rotate it (\`flotilla ${kind} rotate ${obj.spec.name} FILE\`)`);
    }
    if (jsonEqual(spec.labels, obj.spec.labels)) return obj;
    const next = { ...obj, spec: { ...obj.spec, labels: spec.labels }, updatedAt: Date.now() } as FileObject<K>;
    const [stored] = await this.writer.write([updateAction(kind, next, version)]);
    return stored as FileObject<K>;
  }

  protected async remove(ref: string): Promise<void> {
    await this.rs.barrier();
    const obj = this.resolve(ref);
    const kind = this.kind;
    refuseInUse(
      this.rs.store,
      (spec) => fileRefsOf(spec, kind).some((r) => r.id === obj.id),
      `${kind} ${quoteInput(obj.spec.name)}`,
      (them) => `remove it from ${them} first (flotilla service update --${kind}-rm ${baseName(obj.spec.name)} SERVICE)`,
    );
    await this.writer.write([deleteAction(kind, obj.id)]);
    this.log?.info({ [`${kind}Id`]: obj.id, name: obj.spec.name }, `${kind} removed`);
  }

  /**
   * The next version, in one transaction: the current one is renamed NAME~N
   * (N one more than the highest earlier version kept), a new object takes
   * NAME with the same labels and `data`, and every service whose spec uses
   * the current one is updated to the new one (same target, owner and mode):
   * a spec change like any other, rolled out by the service's update config.
   */
  protected async rotate(ref: string, data: string): Promise<{ object: FileObject<K>; serviceIds: string[] }> {
    // A service's updater writes its update status while it rolls: a rotation that raced one reads again.
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.rotateOnce(ref, data);
      } catch (err) {
        if (!(err instanceof VersionConflictError) || attempt >= ROTATE_ATTEMPTS) throw err;
      }
    }
  }

  private async rotateOnce(ref: string, data: string): Promise<{ object: FileObject<K>; serviceIds: string[] }> {
    const kind = this.kind;
    await this.rs.barrier();
    const store = this.rs.store;
    const old = this.resolve(ref);
    const name = old.spec.name;
    const h = historyName(name);
    if (h !== undefined) {
      throw new ApiError(grpc.status.FAILED_PRECONDITION, `${kind} ${quoteInput(name)} is an earlier version of ${quoteInput(h.base)}: rotate ${quoteInput(h.base)} instead`);
    }
    let n = 1;
    for (const o of store.values(kind)) {
      const oh = historyName(o.spec.name);
      if (oh !== undefined && oh.base.toLowerCase() === name.toLowerCase() && oh.n >= n) n = oh.n + 1;
    }
    const now = Date.now();
    const renamed = { ...old, spec: { ...old.spec, name: `${name}~${n}` }, updatedAt: now } as FileObject<K>;
    const next = { id: generateId(), version: 0, createdAt: now, updatedAt: now, spec: { name, labels: { ...old.spec.labels }, data } } as FileObject<K>;
    const users = store.list('service').filter((s) => fileRefsOf(s.spec, kind).some((r) => r.id === old.id));
    const rolled = users.map((s): Action => {
      const refs = fileRefsOf(s.spec, kind).map((r) => (r.id === old.id ? { ...r, id: next.id, name } : r));
      const svc: Service = { ...s, spec: withFileRefs(s.spec, kind, refs), previousSpec: s.spec, updateStatus: undefined, updatedAt: now };
      return updateAction('service', svc, s.version);
    });
    // The renaming first: the name is free for the new version within the transaction.
    const stored = await this.writer.write([updateAction(kind, renamed, old.version), createAction(kind, next), ...rolled]);
    const serviceIds = users.map((s) => s.id);
    this.log?.info({ [`${kind}Id`]: next.id, previousId: old.id, name, previousName: renamed.spec.name, services: serviceIds.length }, `${kind} rotated`);
    return { object: stored[1] as FileObject<K>, serviceIds };
  }

  private resolve(ref: string): FileObject<K> {
    return resolveNamed(this.rs.store, this.kind, ref, `see \`flotilla ${this.kind} ls\``) as FileObject<K>;
  }
}
