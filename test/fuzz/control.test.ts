// Property-based fuzzing of every Control RPC (proto/control.proto) against
// real daemons: one manager and one worker on loopback (127.0.0.58-59:7558
// unless FUZZ_FIRST_HOST / FUZZ_PORT say otherwise), called over the
// manager's unix socket and over mutual TLS. Two properties per RPC:
//
// - well-formed requests: messages built from the proto by reflection, either
//   a valid baseline with one to three fields changed (at any depth) or a
//   message of random fields, with hostile values (huge/unicode/empty
//   strings, invalid UTF-8, non-safe and negative int64, unknown enum numbers,
//   absent sub-messages, versions 0/negative/stale/future, ids of nothing,
//   ambiguous id prefixes and hostnames), plus unknown fields; for the
//   spec-carrying calls also the values issue 13 names (a bind mount over /,
//   a 1-byte memory limit, 1e15 nano-CPUs, "A B=c", a renamed service or
//   cluster, a 1 ms heartbeat, version 0 or negative), and for CreateService
//   specs built by the CLI (`flotilla service create` with generated flags);
// - malformed bytes: a valid encoding (or random bytes) truncated, with
//   wire types flipped, lengths past the end, overlong varints, field 0,
//   deep nesting (3,000 and 100,000 levels), bytes flipped.
//
// Invariants checked on every call (see check() for the exact rules):
// - refusal-code:X        a refusal is INVALID_ARGUMENT, FAILED_PRECONDITION,
//                         ABORTED, NOT_FOUND, ALREADY_EXISTS (a name clash) or
//                         RESOURCE_EXHAUSTED; never INTERNAL, UNKNOWN, ...
// - refused-but-changed   a refused call changes no object (nodes, services,
//                         tasks, networks, the cluster with its versions,
//                         join tokens)
// - read-changed-state    a read changes nothing
// - invalid-accepted:X / invalid-refused-with:X
//                         bytes a strict decoder must refuse (wrong wire type,
//                         truncation, invalid UTF-8, unknown enum value, ...)
//                         get INVALID_ARGUMENT
// - error-echoes-input    an error quotes at most ~100 characters of a field
// - version-not-checked   an accepted update carried the version the object had
// - *-not-as-asked, changed-other-objects, noop-update-wrote, service-renamed,
//   cluster-renamed, cluster-spec-out-of-range, implausible-spec-accepted:X,
//   removed-the-only-manager, removed-network-in-use
//                         an accepted call did what it asked and nothing else
// - cli-spec-refused-with:X
//                         a spec the CLI accepted is accepted by the manager, or
//                         refused with INVALID_ARGUMENT (or ALREADY_EXISTS)
// - rollback-*, previous-spec-not-as-asked, update-status-not-as-asked,
//   promote-*             issue 15's rules: a rollback swaps spec and previous
//                         spec, a change of spec keeps the old one as the
//                         previous, PromoteService promotes only canaries
//                         awaiting promotion and changes nothing else
// - daemon-died           every daemon still runs after the call
//
// Agents rewrite their node when they open a session (a new version, same
// content): node changes limited to the version, status and description are
// not counted as changes made by a call.
//
// Successful calls are undone (src: ControlTarget.restore) so that every case
// starts from the same baseline; replicas are capped to 0 in specs the
// validator accepts, the worker is never promoted or force-removed.
import assert from 'node:assert/strict';
import { posix } from 'node:path';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import protobuf from 'protobufjs';
import { parseArgs } from '../../src/cli/args.js';
import { buildCreateSpec, CREATE_FLAGS } from '../../src/cli/service-spec.js';
import { clusterSpecFromProto, configSpecFromProto, networkSpecFromProto, secretSpecFromProto, serviceSpecFromProto, serviceSpecToProto } from '../../src/api/convert.js';
import type { control } from '../../src/api/wire.js';
import type { ClusterSpec, FileReference, NetworkSpec, SecretSpec, ServiceSpec } from '../../src/api/objects.js';
import { historyName, maxFileObjectBytes as maxBytesOf, validateServiceSpec, type SpecRules } from '../../src/api/validate.js';
import {
  ACTIVE,
  ControlTarget,
  diff,
  FILE_KINDS,
  FILE_NAMES,
  fileMethod,
  MANAGER,
  metaOf,
  READY,
  SECRET_MARK,
  stable,
  WORKER,
  type CallResult,
  type FileKind,
  type Obj,
  type Snapshot,
} from './control-target.js';
import { flagTokenArb, renderToken, type FlagToken } from './argv.js';
import { nastyBytes, nastyInt64, nastyString } from './nasty.js';
import {
  applyByteMutations,
  applyMutations,
  byteMutationArb,
  classifyWire,
  decodeExact,
  decodeLikeServer,
  encode,
  enumValue,
  hex,
  loadRoot,
  mapPlaceholders,
  messageArb,
  mutationsArb,
  serviceMethods,
  type ByteMutation,
  type Hint,
  type Model,
  type ModelValue,
  type Mutation,
  type WireVerdict,
} from './proto.js';
import { echoedInput, formatFindings, fuzzProperty, fuzzSettings, summaryLine, type PropertyOutcome, type Violation } from './runner.js';

const settings = fuzzSettings();
const log = (s: string): void => console.log(`# fuzz control: ${s}`);
const target = new ControlTarget({ firstHost: Number(process.env.FUZZ_FIRST_HOST ?? 58), port: Number(process.env.FUZZ_PORT ?? 7558), log });
const root = loadRoot();
const METHODS = serviceMethods(root, 'flotilla.control.Control');
const outcomes: PropertyOutcome[] = [];
const t0 = Date.now();

const ALLOWED = new Set([
  grpc.status.INVALID_ARGUMENT,
  grpc.status.FAILED_PRECONDITION,
  grpc.status.ABORTED,
  grpc.status.NOT_FOUND,
  grpc.status.ALREADY_EXISTS,
  grpc.status.RESOURCE_EXHAUSTED,
]);
const READS = new Set([
  'GetNode',
  'ListNodes',
  'GetService',
  'ListServices',
  'ListTasks',
  'GetCluster',
  'GetJoinTokens',
  'ClusterInfo',
  'GetNetwork',
  'ListNetworks',
  'GetSecret',
  'ListSecrets',
  'GetConfig',
  'ListConfigs',
  'Events',
  'SubscribeLogs',
  // Mints a login link in the answering manager's memory: nothing in the store changes.
  'ConsoleLogin',
]);
const code = (c: number): string => grpc.status[c] ?? String(c);
const MiB = 1024 * 1024;

// ------------------------------------------------------------ generators

const how = fc.constantFrom('exact', 'exact', 'exact', 'prefix', 'upper', 'suffix', 'name');
const nodeRef = fc.record({ $ref: fc.constantFrom('manager', 'worker'), how, n: fc.integer({ min: 1, max: 26 }) });
const serviceRef = fc.record({ $ref: fc.constantFrom('service', 'service', 'ghost'), how, n: fc.integer({ min: 1, max: 26 }) });
const networkRef = fc.record({ $ref: fc.constantFrom('network', 'network', 'netghost'), how, n: fc.integer({ min: 1, max: 26 }) });
const fileRef = (kind: FileKind): fc.Arbitrary<{ $ref: string; how: string; n: number }> =>
  fc.record({ $ref: fc.constantFrom(`${kind}:base`, `${kind}:base`, `${kind}:ghost`), how, n: fc.integer({ min: 1, max: 26 }) });
/** The most bytes a secret or config holds. */
const maxFileObjectBytes = (kind: FileKind): number => maxBytesOf(kind === 'secrets' ? 'secret' : 'config');
/** The kind of secrets and configs a method or message is about (by its name), if any. */
const fileKindOf = (name: string): FileKind | undefined => (/Secrets?(Request)?$|SecretSpec$|SecretReference$/.test(name) ? 'secrets' : /Configs?(Request)?$|ConfigSpec$|ConfigReference$/.test(name) ? 'configs' : undefined);
/** Data for a secret or config: the limits' edges besides nasty bytes. */
const fileData = (kind: FileKind): fc.Arbitrary<ModelValue> =>
  fc.oneof(
    { weight: 3, arbitrary: nastyBytes() },
    { weight: 1, arbitrary: fc.constantFrom(0, 1, maxFileObjectBytes(kind), maxFileObjectBytes(kind) + 1).map((n) => new Uint8Array(n).fill(0x61)) },
  );
const withNasty = (a: fc.Arbitrary<unknown>): fc.Arbitrary<ModelValue> => fc.oneof({ weight: 3, arbitrary: a as fc.Arbitrary<ModelValue> }, { weight: 2, arbitrary: nastyString() });

const IMAGES = ['busybox', 'busybox:latest', 'alpine:3.19', 'registry:5000/team/app:1.0', 'BUSYBOX', 'busybox:', ':latest', 'a'.repeat(300), 'busybox@sha256:abc', 'UPPER/case'];
const PATHS = ['/', '/data', '/etc', '/var/lib/docker', '/var/run/docker.sock', 'relative', '/a/../..', '//', '/.'];
const ENVS = ['A=b', 'A B=c', '=x', 'A', 'PATH=/bin', 'A=', '\u0000=x', 'A\nB=c'];

/** Field-name hints: what each named field may hold besides random values. */
const hint: Hint = (f, parent) => {
  if (f instanceof protobuf.MapField) return undefined;
  const p = parent.fullName;
  switch (f.name) {
    case 'nodeId':
      return withNasty(nodeRef);
    case 'serviceId':
    case 'serviceIdOrName':
      return withNasty(serviceRef);
    case 'ids':
      return withNasty(p.includes('ListNodes') ? nodeRef : serviceRef);
    case 'nodeIds':
      return withNasty(nodeRef);
    case 'serviceIds':
      return withNasty(serviceRef);
    case 'names': {
      const fk = fileKindOf(p);
      return withNasty((fk ? fileRef(fk) : p.includes('ListNetworks') ? networkRef : serviceRef).map((r) => ({ ...r, how: 'name' })));
    }
    case 'networkId':
      return withNasty(networkRef);
    case 'idPrefixes': {
      const fk = fileKindOf(p);
      return withNasty((fk ? fileRef(fk) : networkRef).map((r) => ({ ...r, how: 'prefix' })));
    }
    case 'namePrefixes':
      return withNasty(fc.constantFrom('fz', 'fz-', 'FZ-SEC', 'fz-cfgbase', ''));
    case 'secretId':
    case 'configId':
      return withNasty(fileRef(f.name === 'secretId' ? 'secrets' : 'configs'));
    case 'secretName':
    case 'configName':
      return withNasty(fileRef(f.name === 'secretName' ? 'secrets' : 'configs').map((r) => ({ ...r, how: r.how === 'exact' ? 'name' : r.how })));
    case 'data': {
      const fk = fileKindOf(p);
      return fk ? fileData(fk) : undefined;
    }
    case 'uid':
    case 'gid':
      return withNasty(fc.constantFrom('', '0', '33', '-1', 'root', '4294967295', '4294967296'));
    case 'mode':
      if (fileKindOf(p)) return fc.oneof(fc.constantFrom(0, 0o400, 0o444, 0o777, 0o1000, 4294967295), fc.constant(null));
      return undefined;
    case 'networks':
      if (p.endsWith('.TaskTemplate')) return withNasty(networkRef);
      return undefined;
    case 'driver':
      return withNasty(fc.constantFrom('', 'overlay', 'overlay', 'OVERLAY', 'bridge', 'host'));
    case 'labelsRm':
      return withNasty(fc.constantFrom('zone', 'fz', 'nope'));
    case 'labels':
      return withNasty(fc.constantFrom('zone', 'zone=a', 'zone=b', 'fz=base', '=', 'fz'));
    case 'version':
      if (p.endsWith('Request')) return fc.oneof({ weight: 3, arbitrary: fc.record({ $ver: fc.constantFrom('current' as const, 'current' as const, 'stale' as const, 'future' as const) }) }, { weight: 2, arbitrary: nastyInt64() }) as fc.Arbitrary<ModelValue>;
      return undefined;
    case 'name':
      if (p.endsWith('.ServiceSpec')) return fc.oneof(fc.stringMatching(/^[a-z0-9]{1,8}$/).map((s) => ({ $fresh: s })), serviceRef.map((r) => ({ ...r, how: 'name' })), nastyString()) as fc.Arbitrary<ModelValue>;
      if (p.endsWith('.ClusterSpec')) return withNasty(fc.constantFrom('default', 'fuzz'));
      if (p.endsWith('.NetworkSpec')) return fc.oneof(fc.stringMatching(/^[a-z0-9]{1,8}$/).map((s) => ({ $fresh: s })), networkRef.map((r) => ({ ...r, how: 'name' })), nastyString()) as fc.Arbitrary<ModelValue>;
      if (fileKindOf(p)) {
        const fk = fileKindOf(p) as FileKind;
        return fc.oneof(fc.stringMatching(/^[a-z0-9]{1,8}$/).map((s) => ({ $fresh: s })), fileRef(fk).map((r) => ({ ...r, how: 'name' })), fc.constantFrom(`${FILE_NAMES[fk].base}~1`, 'x~1', 'x~0'), nastyString()) as fc.Arbitrary<ModelValue>;
      }
      return undefined;
    case 'image':
      return withNasty(fc.constantFrom(...IMAGES));
    case 'source':
    case 'target':
    case 'dir':
      // SubscribeLogs' target: a service (or a ghost) by id, name or prefix.
      if (p.endsWith('SubscribeLogsRequest')) return withNasty(serviceRef);
      return withNasty(fc.constantFrom(...PATHS, ...(fileKindOf(p) ? ['', 'db', 'a/b', '/run/secrets/x', 'x/'] : [])));
    case 'env':
      return withNasty(fc.constantFrom(...ENVS));
    case 'constraints':
      return withNasty(fc.constantFrom('node.role==manager', 'node.role == worker', 'node.labels.zone==a', 'node.role==boss', 'engine.labels.x!=y', 'node.id=='));
    case 'spread':
      return withNasty(fc.constantFrom('node.labels.zone', 'node.role', 'nope'));
    case 'test':
      return withNasty(fc.constantFrom('CMD', 'CMD-SHELL', 'NONE', 'true'));
    case 'replicas':
      return fc.oneof({ weight: 2, arbitrary: fc.bigInt({ min: 0n, max: 3n }) }, { weight: 2, arbitrary: nastyInt64() });
    case 'memoryBytes':
      return fc.oneof(fc.constantFrom(1n, 4n * BigInt(MiB), 6n * BigInt(MiB), 64n * BigInt(MiB)), nastyInt64());
    case 'nanoCpus':
      return fc.oneof(fc.constantFrom(1n, 500_000_000n, 1_000_000_000_000_000n), nastyInt64());
    case 'heartbeatPeriodMs':
      return fc.oneof(fc.constantFrom(1n, 99n, 100n, 1000n, 3_600_000n, 3_600_001n), nastyInt64());
    case 'heartbeatGrace':
      return fc.oneof(fc.constantFrom(0n, 1n, 3n, 100n, 101n, 1000n), nastyInt64());
    case 'taskHistoryRetention':
      return fc.oneof(fc.constantFrom(0n, 5n, 1000n, 1001n, 1_000_000_000n), nastyInt64());
    case 'nodeCertExpiryHours':
      return fc.oneof(fc.constantFrom(0n, 1n, 2160n, 87_600n, 87_601n), nastyInt64());
    // Issue 15's fields: canaries (at most the replicas, none in a rollback config), deadlines, back-off cap, force.
    case 'canary':
      return fc.oneof({ weight: 2, arbitrary: fc.bigInt({ min: 0n, max: 3n }) }, { weight: 1, arbitrary: nastyInt64() });
    case 'progressDeadlineMs':
    case 'maxDelayMs':
      return fc.oneof(fc.constantFrom(0n, 1n, 999n, 1000n, 300_000n, 315_360_000_000n, 315_360_000_001n), nastyInt64());
    case 'forceUpdate':
      return fc.oneof(fc.constantFrom(0n, 1n, 2n), nastyInt64());
    default:
      return undefined;
  }
};

const BIND = enumValue('MountType', 'MOUNT_TYPE_BIND');
const RESTART_ANY = enumValue('RestartCondition', 'RESTART_CONDITION_ANY');
const updateConfig = (): Model => ({
  parallelism: 1n,
  delayMs: 0n,
  failureAction: enumValue('FailureAction', 'FAILURE_ACTION_PAUSE'),
  monitorMs: 5000n,
  maxFailureRatio: 0,
  order: enumValue('UpdateOrder', 'UPDATE_ORDER_STOP_FIRST'),
});

/** A valid service spec (replicas 0) in model form. */
function serviceSpec(name: ModelValue): Model {
  return {
    name,
    labels: [['fz', 'base']],
    taskTemplate: {
      container: { image: 'busybox:latest', command: [], args: ['sleep', '1000'], env: ['A=b'], dir: '', user: '', mounts: [], stopGracePeriodMs: 10_000n },
      resources: { limits: { nanoCpus: 0n, memoryBytes: 0n }, reservations: { nanoCpus: 0n, memoryBytes: 0n } },
      restartPolicy: { condition: RESTART_ANY, delayMs: 5000n, maxAttempts: 0n, windowMs: 0n },
      placement: { constraints: [], preferences: [] },
    },
    mode: { replicated: { replicas: 0n } },
    updateConfig: updateConfig(),
    rollbackConfig: updateConfig(),
    endpoint: { ports: [] },
  };
}

/** A valid network spec in model form. */
function networkSpec(name: ModelValue): Model {
  return { name, labels: [['fz', 'base']], driver: 'overlay' };
}

/** The data of the baseline config (the baseline secret's is SECRET_MARK). */
const CONFIG_DATA = Buffer.from('listen 80;\n');

/** A valid secret or config spec in model form. */
function fileSpec(kind: FileKind, name: ModelValue): Model {
  return { name, labels: [['fz', 'base']], data: kind === 'secrets' ? SECRET_MARK : CONFIG_DATA };
}

/** A valid request for a secret or config method ('Create', 'Get', ...). */
function fileBaseline(verb: string, kind: FileKind): Model {
  const ref = { $ref: `${kind}:base`, how: 'exact', n: 1 };
  const idField = `${kind === 'secrets' ? 'secret' : 'config'}Id`;
  switch (verb) {
    case 'Create':
      return { spec: fileSpec(kind, { $fresh: kind === 'secrets' ? 'sec' : 'cfg' }) };
    case 'List':
      return { filters: { names: [{ ...ref, how: 'name' }], idPrefixes: [{ ...ref, how: 'prefix', n: 4 }], labels: ['fz=base'], namePrefixes: ['fz'] } };
    case 'Update':
      return { [idField]: ref, version: { $ver: 'current' }, spec: { name: FILE_NAMES[kind].base, labels: [['fz', 'other']], data: new Uint8Array(0) } };
    case 'Rotate':
      return { [idField]: ref, data: Buffer.from('the next version') };
    default:
      return { [idField]: ref };
  }
}

/** A valid request for each method: what mutations start from. */
function baseline(method: string): Model {
  const ver = { $ver: 'current' };
  const worker = { $ref: 'worker', how: 'exact', n: 1 };
  const service = { $ref: 'service', how: 'exact', n: 1 };
  const network = { $ref: 'network', how: 'exact', n: 1 };
  switch (method) {
    case 'GetNode':
      return { nodeId: worker };
    case 'ListNodes':
      return { filters: { ids: [], roles: [WORKER], availabilities: [ACTIVE], labels: ['zone=a'] } };
    case 'UpdateNode':
      return { nodeId: worker, version: ver, hasAvailability: true, availability: ACTIVE, hasRole: false, role: WORKER, labelsAdd: [], labelsRm: [], force: false };
    case 'RemoveNode':
      return { nodeId: worker, force: false };
    case 'CreateService':
      return { spec: serviceSpec({ $fresh: 'new' }) };
    case 'GetService':
      return { serviceIdOrName: service };
    case 'ListServices':
      return { filters: { ids: [service], names: [], labels: [] } };
    case 'UpdateService':
      return { serviceId: service, version: ver, spec: serviceSpec('fz-base') };
    case 'PromoteService':
      return { serviceId: service, version: ver };
    case 'RemoveService':
      return { serviceId: service };
    case 'ListTasks':
      return { filters: { serviceIds: [service], nodeIds: [worker], desiredStates: [enumValue('TaskState', 'TASK_STATE_RUNNING')] } };
    case 'SubscribeLogs':
      return { target: service, follow: false, hasTail: true, tail: 5n, sinceMs: 0n, resume: [] };
    case 'UpdateCluster': {
      const s = target.baseline.clusterSpec;
      const o = s.orchestration as Obj;
      const d = s.dispatcher as Obj;
      const ca = s.caConfig as Obj;
      return {
        version: ver,
        spec: {
          name: String(s.name),
          orchestration: { taskHistoryRetention: BigInt(String(o.taskHistoryRetention)) },
          dispatcher: { heartbeatPeriodMs: BigInt(String(d.heartbeatPeriodMs)), heartbeatGrace: BigInt(String(d.heartbeatGrace)) },
          caConfig: { nodeCertExpiryHours: BigInt(String(ca.nodeCertExpiryHours)) },
        },
      };
    }
    case 'RotateJoinToken':
      return { role: WORKER };
    case 'CreateNetwork':
      return { spec: networkSpec({ $fresh: 'net' }) };
    case 'GetNetwork':
      return { networkId: network };
    case 'ListNetworks':
      return { filters: { names: [{ ...network, how: 'name' }], idPrefixes: [{ ...network, how: 'prefix', n: 4 }] } };
    case 'RemoveNetwork':
      return { networkId: network };
    default: {
      const fk = fileKindOf(method);
      return fk ? fileBaseline(method.replace(/(Secrets?|Configs?)$/, ''), fk) : {};
    }
  }
}

/** Unknown fields appended to an encoding (valid protobuf: a decoder skips them). */
const unknownFields = fc.array(
  fc.record({ op: fc.constant('appendUnknown' as const), field: fc.constantFrom(16, 99, 1000, 2 ** 29 - 1), wt: fc.constantFrom(0, 1, 2, 5), payload: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 12 }) }),
  { maxLength: 1 },
);

interface Input {
  msg: Model;
  /** Byte-level changes after encoding (empty for the well-formed property, apart from unknown fields). */
  bytes: ByteMutation[];
  tls: boolean;
  /** CreateService only: the spec is what `flotilla service create FLAGS IMAGE` builds (msg is then unused). */
  cli?: { tokens: FlagToken[]; image: string };
}

/** `service create` flags that shape the spec (not the CLI's own behaviour). */
const CLI_CREATE_FLAGS = CREATE_FLAGS.filter((f) => !['detach', 'quiet'].includes(f.name));

/** The CreateService request `flotilla service create` would send for these flags, or null when the CLI refuses them. */
function cliCreateRequest(cli: NonNullable<Input['cli']>): { proto: control.ServiceSpec__Output; replicas: number } | null {
  try {
    const argv = [...cli.tokens.flatMap((t) => renderToken(t, CLI_CREATE_FLAGS)), cli.image];
    const { flags, positionals } = parseArgs(argv, CLI_CREATE_FLAGS, { command: 'flotilla service create', stopAtPositional: true });
    if (positionals.length < 1) return null;
    const spec = buildCreateSpec(positionals[0], positionals.slice(1), flags, {}, () => 'fz-cli');
    const replicas = 'replicated' in spec.mode ? spec.mode.replicated.replicas : 0;
    if ('replicated' in spec.mode) spec.mode = { replicated: { replicas: 0 } };
    // At most as many canaries as replicas: capped with them (a spec the CLI accepted stays valid).
    spec.updateConfig.canary = 0;
    return { proto: serviceSpecToProto(spec), replicas };
  } catch {
    return null;
  }
}

const MOUNT = (type: number, source: string, target: string): Model => ({ type, source, target, readOnly: false });
const SPEC = ['spec', 'taskTemplate'];

/**
 * Changes the issue names (13, items 2, 3 and 5): values a user would not
 * mean, or that the CLI refuses but the API took. Random mutations find them
 * rarely; these are tried as often as a random change.
 */
const TARGETED: Record<string, Mutation[]> = {
  CreateService: [
    { path: [...SPEC, 'container', 'mounts'], value: [MOUNT(BIND, '/', '/')] },
    { path: [...SPEC, 'container', 'mounts'], value: [MOUNT(BIND, '/tmp', '/')] },
    { path: [...SPEC, 'container', 'mounts'], value: [MOUNT(BIND, '/var/lib/docker', '/data')] },
    { path: [...SPEC, 'resources', 'limits', 'memoryBytes'], value: 1n },
    { path: [...SPEC, 'resources', 'limits', 'memoryBytes'], value: 4n * BigInt(MiB) },
    { path: [...SPEC, 'resources', 'limits', 'nanoCpus'], value: 1_000_000_000_000_000n },
    { path: [...SPEC, 'container', 'env'], value: ['A B=c'] },
    { path: [...SPEC, 'container', 'env'], value: ['A\tB=c'] },
    // Issue 17: references by name, id prefix, a removed one, two at one file, a config's relative target.
    { path: [...SPEC, 'container', 'secrets'], value: [{ secretName: { $ref: 'secrets:base', how: 'name', n: 1 } }] },
    { path: [...SPEC, 'container', 'secrets'], value: [{ secretName: { $ref: 'secrets:base', how: 'prefix', n: 5 }, target: '/etc/pw', uid: '33', mode: 0o400 }] },
    { path: [...SPEC, 'container', 'secrets'], value: [{ secretId: { $ref: 'secrets:ghost', how: 'exact', n: 1 } }] },
    { path: [...SPEC, 'container', 'secrets'], value: [{ secretName: { $ref: 'secrets:base', how: 'name', n: 1 } }, { secretId: { $ref: 'secrets:base', how: 'exact', n: 1 } }] },
    { path: [...SPEC, 'container', 'configs'], value: [{ configName: { $ref: 'configs:base', how: 'name', n: 1 }, target: 'app.conf' }] },
  ],
  UpdateCluster: [
    { path: ['spec', 'dispatcher', 'heartbeatPeriodMs'], value: 1n },
    { path: ['spec', 'dispatcher', 'heartbeatGrace'], value: 1000n },
    { path: ['spec', 'orchestration', 'taskHistoryRetention'], value: 1_000_000_000n },
    { path: ['spec', 'name'], value: 'renamed' },
    { path: ['version'], value: 0n },
    { path: ['version'], value: -1n },
  ],
  UpdateNode: [
    { path: ['version'], value: 0n },
    { path: ['version'], value: -5n },
    { path: ['availability'], value: 2 },
    { path: ['labelsRm'], value: [''] },
    { path: ['labelsAdd'], value: [['__proto__', 'x']] },
  ],
};
TARGETED.UpdateService = [
  ...TARGETED.CreateService,
  { path: ['spec', 'name'], value: 'fz-renamed' },
  { path: ['version'], value: 0n },
  { path: ['version'], value: -1n },
  // Issue 15: a rollback (with the same spec, or none), canaries beyond the replicas.
  { path: ['rollback'], value: true },
  { path: ['spec', 'updateConfig', 'canary'], value: 1n },
  { path: ['spec', 'rollbackConfig', 'canary'], value: 1n },
];
for (const kind of FILE_KINDS) {
  const max = maxFileObjectBytes(kind);
  const sized = (n: number): Uint8Array => new Uint8Array(n).fill(0x62);
  TARGETED[fileMethod('Create', kind)] = [
    { path: ['spec', 'data'], value: sized(0) },
    { path: ['spec', 'data'], value: sized(max + 1) },
    { path: ['spec', 'name'], value: `${FILE_NAMES[kind].base}~1` },
    { path: ['spec', 'name'], value: FILE_NAMES[kind].base.toUpperCase() },
  ];
  TARGETED[fileMethod('Rotate', kind)] = [{ path: ['data'], value: sized(0) }, { path: ['data'], value: sized(max + 1) }, { path: ['data'], value: sized(max) }];
  TARGETED[fileMethod('Update', kind)] = [
    { path: ['spec', 'name'], value: 'fz-renamed' },
    { path: ['spec', 'data'], value: Buffer.from('other data') },
    { path: ['version'], value: 0n },
  ];
}
TARGETED.PromoteService = [
  { path: ['version'], value: 0n },
  { path: ['version'], value: -1n },
  { path: ['serviceId'], value: '' },
];

function wellFormedArb(method: string, req: protobuf.Type): fc.Arbitrary<Input> {
  const base = baseline(method);
  const msgs: fc.Arbitrary<Model>[] = [fc.constant(base)];
  const targeted = TARGETED[method];
  if (targeted) msgs.push(fc.constantFrom(...targeted).map((m) => applyMutations(base, [m])));
  if (req.fieldsArray.length > 0) {
    msgs.push(mutationsArb(req, hint).map((m) => applyMutations(base, m)), mutationsArb(req, hint).map((m) => applyMutations(base, m)), mutationsArb(req, hint).map((m) => applyMutations(base, m)), messageArb(req, hint));
  }
  const plain = fc.record({ msg: fc.oneof(...msgs), bytes: unknownFields, tls: fc.boolean() });
  if (method !== 'CreateService') return plain;
  const cli = fc.record({
    msg: fc.constant({}),
    bytes: fc.constant<ByteMutation[]>([]),
    tls: fc.boolean(),
    cli: fc.record({ tokens: fc.array(flagTokenArb(CLI_CREATE_FLAGS), { maxLength: 5 }), image: fc.constantFrom('busybox', 'busybox:latest', 'alpine:3.19') }),
  });
  return fc.oneof({ weight: 3, arbitrary: plain }, { weight: 1, arbitrary: cli });
}

function malformedArb(method: string, req: protobuf.Type): fc.Arbitrary<Input> {
  const base = baseline(method);
  return fc.record({
    msg: fc.oneof({ weight: 3, arbitrary: fc.constant(base) }, { weight: 1, arbitrary: messageArb(req, hint) }),
    bytes: fc.array(byteMutationArb(), { minLength: 1, maxLength: 3 }),
    tls: fc.boolean(),
  });
}

// ------------------------------------------------------------ resolution

function nodes(s: Snapshot): Obj[] {
  return s.nodes;
}

function hostname(n: Obj): string {
  return String(((n.description ?? {}) as Obj).hostname ?? '');
}

function serviceName(s: Obj): string {
  return String(((s.spec ?? {}) as Obj).name ?? '');
}

/** The node the server resolves `ref` to (exact id, unique id prefix, unique hostname), as NodesApi.resolveNode (src/manager/controlapi/nodes.ts). */
function resolveNode(s: Snapshot, ref: string): Obj | undefined {
  const ns = nodes(s);
  const direct = ns.find((n) => metaOf(n).id === ref);
  if (direct) return direct;
  const byPrefix = ref ? ns.filter((n) => metaOf(n).id.startsWith(ref)) : [];
  if (byPrefix.length === 1) return byPrefix[0];
  const byHost = ns.filter((n) => hostname(n) === ref);
  return byHost.length === 1 ? byHost[0] : undefined;
}

/** The service the server resolves `ref` to (exact id, name in any case, unique id prefix). */
function resolveService(s: Snapshot, ref: string): Obj | undefined {
  const direct = s.services.find((x) => metaOf(x).id === ref) ?? s.services.find((x) => serviceName(x).toLowerCase() === ref.toLowerCase());
  if (direct) return direct;
  const byPrefix = ref ? s.services.filter((x) => metaOf(x).id.startsWith(ref)) : [];
  return byPrefix.length === 1 ? byPrefix[0] : undefined;
}

function networkName(n: Obj): string {
  return String(((n.spec ?? {}) as Obj).name ?? '');
}

/** The network the server resolves `ref` to (exact id, name in any case, unique id prefix), as findNetwork (src/manager/controlapi/networks.ts). */
function resolveNetwork(s: Snapshot, ref: string): Obj | undefined {
  if (!ref) return undefined;
  const direct = s.networks.find((x) => metaOf(x).id === ref) ?? s.networks.find((x) => networkName(x).toLowerCase() === ref.toLowerCase());
  if (direct) return direct;
  const byPrefix = s.networks.filter((x) => metaOf(x).id.startsWith(ref));
  return byPrefix.length === 1 ? byPrefix[0] : undefined;
}

function fileName(o: Obj): string {
  return String(((o.spec ?? {}) as Obj).name ?? '');
}

/** The secret or config the server resolves `ref` to (exact id, name in any case, unique id prefix). */
function resolveFile(s: Snapshot, kind: FileKind, ref: string): Obj | undefined {
  if (!ref) return undefined;
  const list = s[kind];
  const direct = list.find((x) => metaOf(x).id === ref) ?? list.find((x) => fileName(x).toLowerCase() === ref.toLowerCase());
  if (direct) return direct;
  const byPrefix = list.filter((x) => metaOf(x).id.startsWith(ref));
  return byPrefix.length === 1 ? byPrefix[0] : undefined;
}

/** A service spec's references of a kind, in proto form (secretId, secretName, target, ...). */
function refsOf(spec: unknown, kind: FileKind): Obj[] {
  const c = ((((spec ?? {}) as Obj).taskTemplate ?? {}) as Obj).container as Obj | undefined;
  const refs = c?.[kind];
  return Array.isArray(refs) ? (refs as Obj[]) : [];
}

function usesFile(spec: unknown, kind: FileKind, id: string): boolean {
  return refsOf(spec, kind).some((r) => (kind === 'secrets' ? r.secretId : r.configId) === id);
}

/**
 * What the manager stores for a spec's references (the oracle's own reading
 * of issue 17): each names an object (by id; else by name, id or unique id
 * prefix), whose id and name it takes (a name sent with the id it has is kept
 * while the object is an earlier version of it), and the default target
 * (the name; '/' + the name for a config). A reason when the spec must be
 * refused instead.
 */
function expectedSpec(spec: ServiceSpec, s: Snapshot): ServiceSpec | string {
  const out = structuredClone(spec);
  const c = out.taskTemplate.container;
  for (const kind of FILE_KINDS) {
    const refs: FileReference[] | undefined = kind === 'secrets' ? c.secrets : c.configs;
    for (const r of refs ?? []) {
      const o = r.id ? s[kind].find((x) => metaOf(x).id === r.id) : resolveFile(s, kind, r.name);
      if (!o) return `a reference to ${r.id || r.name}, which does not exist`;
      const name = fileName(o);
      const base = historyName(name)?.base ?? name;
      r.name = r.id && r.name === base ? r.name : name;
      r.id = metaOf(o).id;
      r.target ||= kind === 'secrets' ? base : `/${base}`;
    }
  }
  try {
    return validateServiceSpec(out);
  } catch (err) {
    return `the resolved spec is invalid: ${String(err)}`;
  }
}

function refValue(p: { $ref: string; how: string; n: number }, s: Snapshot): string {
  const nodeOf = (id: string): Obj | undefined => s.nodes.find((n) => metaOf(n).id === id);
  let id: string;
  let name: string;
  switch (p.$ref) {
    case 'manager':
    case 'worker': {
      id = p.$ref === 'manager' ? target.managerId : target.workerId;
      name = hostname(nodeOf(id) ?? {});
      break;
    }
    case 'ghost':
      id = target.ghostServiceId;
      name = 'fz-ghost';
      break;
    case 'network':
      id = target.networkId;
      name = 'fz-netbase';
      break;
    case 'netghost':
      id = target.ghostNetworkId;
      name = 'fz-netghost';
      break;
    case 'secrets:base':
    case 'configs:base':
    case 'secrets:ghost':
    case 'configs:ghost': {
      const [kind, which] = p.$ref.split(':') as [FileKind, 'base' | 'ghost'];
      id = which === 'base' ? target.fileIds[kind] : target.ghostFileIds[kind];
      name = FILE_NAMES[kind][which];
      break;
    }
    default:
      id = target.serviceId;
      name = 'fz-base';
  }
  switch (p.how) {
    case 'prefix':
      return id.slice(0, p.n);
    case 'upper':
      return id.toUpperCase();
    case 'suffix':
      return `${id}x`;
    case 'name':
      return name;
    default:
      return id;
  }
}

/** The model with its placeholders replaced by what they mean now. */
function resolve(method: string, m: Model, s: Snapshot): Model {
  const first = mapPlaceholders(m, (p) => {
    if (typeof p.$ref === 'string') return refValue(p as { $ref: string; how: string; n: number }, s);
    if (typeof p.$fresh === 'string') return `fz-${p.$fresh}`;
    return undefined;
  }) as Model;
  const targetVersion = (): bigint => {
    let o: Obj | undefined;
    if (method === 'UpdateNode') o = typeof first.nodeId === 'string' ? resolveNode(s, first.nodeId) : undefined;
    else if (method === 'UpdateService' || method === 'PromoteService') o = typeof first.serviceId === 'string' ? resolveService(s, first.serviceId) : undefined;
    else if (method === 'UpdateSecret') o = typeof first.secretId === 'string' ? resolveFile(s, 'secrets', first.secretId) : undefined;
    else if (method === 'UpdateConfig') o = typeof first.configId === 'string' ? resolveFile(s, 'configs', first.configId) : undefined;
    else o = s.cluster;
    return BigInt(o ? metaOf(o).version || '1' : '1');
  };
  return mapPlaceholders(first, (p) => {
    if (typeof p.$ver !== 'string') return undefined;
    const v = targetVersion();
    return p.$ver === 'stale' ? v - 1n : p.$ver === 'future' ? v + 1000n : v;
  }) as Model;
}

// ------------------------------------------------------------ one case

/** The server's view of a request, when the bytes decode at all. */
function decodeBoth(req: protobuf.Type, bytes: Uint8Array): { view: Obj; exact: Obj } | null {
  try {
    return { view: decodeLikeServer(req, bytes), exact: decodeExact(req, bytes) };
  } catch {
    return null;
  }
}

/** The local validator's verdict on a spec the server would see. */
function tryServiceSpec(x: unknown): ServiceSpec | Error {
  try {
    return serviceSpecFromProto(x as control.ServiceSpec__Output);
  } catch (err) {
    return err as Error;
  }
}

function tryFileSpec(kind: FileKind, x: unknown, rules: SpecRules = 'request'): SecretSpec | Error {
  try {
    return kind === 'secrets' ? secretSpecFromProto(x as control.SecretSpec__Output, 'spec', rules) : configSpecFromProto(x as control.ConfigSpec__Output, 'spec', rules);
  } catch (err) {
    return err as Error;
  }
}

function tryNetworkSpec(x: unknown): NetworkSpec | Error {
  try {
    return networkSpecFromProto(x as control.NetworkSpec__Output);
  } catch (err) {
    return err as Error;
  }
}

function tryClusterSpec(x: unknown): ClusterSpec | Error {
  try {
    return clusterSpecFromProto(x as control.ClusterSpec__Output);
  } catch (err) {
    return err as Error;
  }
}

/**
 * What must not be sent: a promotion of the worker, a forced removal of the
 * worker, or a valid spec with replicas (their tasks would start containers).
 * For a structured request, the model is changed instead (and a note says
 * so); for bytes, the case is skipped.
 */
function sanitize(method: string, model: Model, view: Obj, s: Snapshot): { model: Model; note: string } | { skip: string } | null {
  const isWorker = (ref: unknown): boolean => typeof ref === 'string' && metaOf(resolveNode(s, ref) ?? {}).id === target.workerId;
  if (method === 'UpdateNode' && view.hasRole === true && view.role === MANAGER && isWorker(view.nodeId)) {
    return { model: { ...model, hasRole: false }, note: 'hasRole cleared (no promotion of the worker)' };
  }
  if (method === 'RemoveNode' && view.force === true && isWorker(view.nodeId)) {
    return { model: { ...model, force: false }, note: 'force cleared (no forced removal of the worker)' };
  }
  if (method === 'CreateService' || method === 'UpdateService') {
    const spec = tryServiceSpec(view.spec);
    if (!(spec instanceof Error) && 'replicated' in spec.mode && spec.mode.replicated.replicas > 0) {
      const m = structuredClone(model);
      const sp = m.spec as Model;
      sp.mode = { replicated: { replicas: 0n } };
      return { model: m, note: `replicas ${spec.mode.replicated.replicas} capped to 0` };
    }
  }
  return null;
}

interface Ran {
  method: string;
  tls: boolean;
  bytes: Uint8Array;
  verdict: WireVerdict;
  decoded: { view: Obj; exact: Obj } | null;
  note: string;
  res: CallResult;
}

function describe(r: Ran): string {
  const view = r.decoded ? stable(r.decoded.exact) : '(does not decode)';
  return [
    `${r.method} over ${r.tls ? 'mTLS' : 'the unix socket'}; wire: ${r.verdict.kind}${r.verdict.kind === 'valid' ? '' : ` (${r.verdict.reason})`}${r.note ? `; ${r.note}` : ''}`,
    `  bytes: ${hex(r.bytes, 48)}`,
    `  request: ${view.length > 400 ? `${view.slice(0, 400)}…` : view}`,
    `  answer: ${code(r.res.code)}${r.res.details ? `: ${r.res.details.length > 300 ? `${r.res.details.slice(0, 300)}… (${r.res.details.length} chars)` : r.res.details}` : ''} (${r.res.ms} ms)`,
  ].join('\n');
}

/** Every string in a decoded request (for the echo check). */
function strings(x: unknown, out: string[] = []): string[] {
  if (typeof x === 'string') out.push(x);
  else if (Array.isArray(x)) for (const v of x) strings(v, out);
  else if (x && typeof x === 'object') {
    for (const [k, v] of Object.entries(x)) {
      out.push(k);
      strings(v, out);
    }
  }
  return out;
}

function reasonClass(reason: string): string {
  if (/UTF-8/.test(reason)) return 'utf8';
  if (/is not a .* value/.test(reason)) return 'unknown-enum';
  if (/has wire type/.test(reason)) return 'wire-type';
  if (/wire type \d does not exist/.test(reason)) return 'wire-type';
  if (/truncated|past the end/.test(reason)) return 'truncated';
  if (/varint/.test(reason)) return 'varint';
  if (/field number/.test(reason)) return 'field-number';
  if (/group/.test(reason)) return 'group';
  return 'other';
}

/** Numbers and bigints as strings, nulls and '_virtual' oneof keys dropped: proto objects from different decoders compare equal. */
function norm(x: unknown): unknown {
  if (typeof x === 'number' || typeof x === 'bigint') return String(x);
  if (Array.isArray(x)) return x.map(norm);
  if (x && typeof x === 'object') {
    const out: Obj = {};
    for (const [k, v] of Object.entries(x)) if (v !== null && v !== undefined && !k.startsWith('_')) out[k] = norm(v);
    return out;
  }
  return x;
}

function implausible(spec: ServiceSpec): string[] {
  const out: string[] = [];
  const c = spec.taskTemplate.container;
  if (c.mounts.some((m) => m.type === 'bind' && posix.normalize(m.target) === '/')) out.push('bind-mount-over-root');
  const lim = spec.taskTemplate.resources.limits;
  if (lim.memoryBytes > 0 && lim.memoryBytes < 6 * MiB) out.push('memory-limit-under-6MiB');
  if (lim.nanoCpus >= 1e15) out.push('cpu-limit-beyond-any-machine');
  // eslint-disable-next-line no-control-regex -- blanks and control characters in a variable name
  if (c.env.some((e) => /[\s\u0000-\u001f]/.test(e.slice(0, Math.max(0, e.indexOf('=')))))) out.push('malformed-env-name');
  return out;
}

function outOfRange(spec: ClusterSpec): string[] {
  const out: string[] = [];
  const d = spec.dispatcher;
  if (d.heartbeatPeriodMs < 100 || d.heartbeatPeriodMs > 3_600_000) out.push(`heartbeat period ${d.heartbeatPeriodMs} ms (CLI: 100ms..1h)`);
  if (d.heartbeatGrace < 1 || d.heartbeatGrace > 100) out.push(`heartbeat grace ${d.heartbeatGrace} (CLI: 1..100)`);
  const h = spec.orchestration.taskHistoryRetention;
  if (h < 0 || h > 1000) out.push(`task history ${h} (CLI: 0..1000)`);
  const e = spec.caConfig.nodeCertExpiryHours;
  if (e < 1 || e > 87_600) out.push(`cert expiry ${e} h (CLI: 1h..87600h)`);
  return out;
}

const UPDATE_PAUSED = enumValue('UpdateState', 'UPDATE_STATE_PAUSED');
const UPDATE_DONE = [enumValue('UpdateState', 'UPDATE_STATE_UNKNOWN'), enumValue('UpdateState', 'UPDATE_STATE_COMPLETED'), enumValue('UpdateState', 'UPDATE_STATE_ROLLBACK_COMPLETED')];
const ROLLBACK_STARTED = enumValue('UpdateState', 'UPDATE_STATE_ROLLBACK_STARTED');
const CANARY_AWAITING = enumValue('CanaryState', 'CANARY_STATE_AWAITING_PROMOTION');
const CANARY_PROMOTED = enumValue('CanaryState', 'CANARY_STATE_PROMOTED');

/**
 * An accepted rollback (src/manager/controlapi/services.ts): spec and previous
 * spec swap, rollback_started "manually requested rollback"; a spec sent with
 * it is the stored one.
 */
function checkRollback(t: Obj, now: Obj | undefined, req: Obj, v: (key: string, why: string) => void): void {
  if (t.previousSpec === null || t.previousSpec === undefined) v('rollback-without-previous-spec', 'a service without a previous spec was rolled back');
  if (req.spec !== null && req.spec !== undefined) {
    const sent = tryServiceSpec(req.spec);
    if (sent instanceof Error || stable(norm(serviceSpecToProto(sent))) !== stable(norm(t.spec))) v('rollback-with-other-changes', 'a rollback with a spec other than the stored one was accepted');
  }
  if (!now) return;
  if (stable(norm(now.spec)) !== stable(norm(t.previousSpec))) v('rollback-not-as-asked', `the spec is not the previous one: ${diffText(norm(t.previousSpec), norm(now.spec))}`);
  if (stable(norm(now.previousSpec)) !== stable(norm(t.spec))) v('rollback-not-as-asked', 'the previous spec is not the spec rolled back from');
  const st = (now.updateStatus ?? {}) as Obj;
  if (Number(st.state) !== ROLLBACK_STARTED || st.message !== 'manually requested rollback') v('rollback-not-as-asked', `update status ${stable(st)}`);
}

/**
 * An accepted change of spec: the old spec becomes the previous one and the
 * update status is reset, unless what tasks run is unchanged while an update
 * is under way or paused (then both are kept). A status the leader's updater
 * wrote since for the new spec (its start version) is not a leftover.
 */
function checkHistory(t: Obj, now: Obj, v: (key: string, why: string) => void): void {
  if (stable(norm(t.spec)) === stable(norm(now.spec))) return;
  const spec = (o: Obj): Obj => (o.spec ?? {}) as Obj;
  const tasksChanged = stable(norm(spec(t).taskTemplate)) !== stable(norm(spec(now).taskTemplate)) || stable(norm(spec(t).endpoint)) !== stable(norm(spec(now).endpoint));
  const was = (t.updateStatus ?? null) as Obj | null;
  const keep = !tasksChanged && was !== null && !UPDATE_DONE.includes(Number(was.state));
  const wantPrevious = keep ? t.previousSpec : t.spec;
  if (stable(norm(now.previousSpec)) !== stable(norm(wantPrevious))) v('previous-spec-not-as-asked', `the previous spec after the change: ${diffText(norm(wantPrevious), norm(now.previousSpec))}`);
  const st = (now.updateStatus ?? null) as Obj | null;
  if (keep && stable(norm(st)) !== stable(norm(was))) v('update-status-not-as-asked', `kept? ${stable(was)} → ${stable(st)}`);
  if (!keep && st !== null && String(st.startVersion) !== String(now.specVersion)) v('update-status-not-as-asked', `not reset: ${stable(was)} → ${stable(st)}`);
}

/** The invariants of one call (see the file's header). */
function check(r: Ran, before: Snapshot, after: Snapshot): Violation[] {
  const out: Violation[] = [];
  const v = (key: string, why: string): void => void out.push({ key, message: `${why}\n${describe(r)}` });
  const changes = diff(before, after);
  const ok = r.res.code === grpc.status.OK;
  for (const leak of secretLeaks(r)) v('secret-data-leaked', leak);
  if (!ok) {
    if (!ALLOWED.has(r.res.code)) v(`refusal-code:${code(r.res.code)}`, `refused with ${code(r.res.code)}`);
    else if (r.verdict.kind === 'invalid' && r.res.code !== grpc.status.INVALID_ARGUMENT && r.res.code !== grpc.status.RESOURCE_EXHAUSTED) {
      v(`invalid-refused-with:${code(r.res.code)}`, `malformed input (${r.verdict.reason}) refused with ${code(r.res.code)}, not INVALID_ARGUMENT`);
    }
    if (changes.length > 0) v('refused-but-changed', `refused, yet: ${changes.join('; ')}`);
    const echo = r.decoded ? echoedInput(r.res.details, strings(r.decoded.view)) : undefined;
    if (echo) v('error-echoes-input', `the error quotes ${echo}`);
    else if (r.res.details.length > 1000) v('error-echoes-input', `the error is ${r.res.details.length} characters long`);
    return out;
  }
  if (r.verdict.kind === 'invalid') v(`invalid-accepted:${reasonClass(r.verdict.reason)}`, `accepted malformed input: ${r.verdict.reason}`);
  // Bytes protobufjs cannot decode: what the server made of them is unknown, so only the above applies.
  if (!r.decoded) return out;
  if (READS.has(r.method)) {
    if (changes.length > 0) v('read-changed-state', `a read changed: ${changes.join('; ')}`);
    return out;
  }
  const req = r.decoded?.view ?? {};
  const exact = r.decoded?.exact ?? {};
  const others = (mine: (kind: string, id: string) => boolean): void => {
    const rest = diff(before, after, mine);
    if (rest.length > 0) v('changed-other-objects', `${r.method} also changed: ${rest.join('; ')}`);
  };
  const versionChecked = (o: Obj | undefined): void => {
    if (o && String(exact.version) !== metaOf(o).version) v('version-not-checked', `accepted with version ${String(exact.version)} while the object was at ${metaOf(o).version}`);
  };
  switch (r.method) {
    case 'UpdateNode': {
      const t = resolveNode(before, String(req.nodeId));
      if (!t) return (v('accepted-unresolvable-target', `no node ${JSON.stringify(req.nodeId)} in the snapshot`), out);
      const id = metaOf(t).id;
      versionChecked(t);
      const now = after.nodes.find((n) => metaOf(n).id === id);
      // Through a Map: a label key such as "__proto__" is a label like any other (Object.assign would set the prototype).
      const labelMap = new Map(Object.entries((t.labels ?? {}) as Record<string, string>));
      for (const k of (req.labelsRm as string[]) ?? []) labelMap.delete(k);
      for (const [k, val] of Object.entries((req.labelsAdd ?? {}) as Record<string, string>)) labelMap.set(k, val);
      const labels = Object.fromEntries(labelMap);
      const want = { availability: req.hasAvailability ? req.availability : t.availability, role: req.hasRole ? req.role : t.role, labels };
      const got = now ? { availability: now.availability, role: now.role, labels: now.labels } : null;
      if (stable(want) !== stable(got)) v('update-node-not-as-asked', `wanted ${stable(want)}, got ${stable(got)}`);
      if (id === target.managerId && now && now.role !== MANAGER) v('demoted-the-only-manager', 'the only manager was demoted');
      const same = stable({ availability: t.availability, role: t.role, labels: t.labels ?? {} }) === stable(want);
      if (same && now && metaOf(now).version !== metaOf(t).version) v('noop-update-wrote', `nothing changed, yet node version ${metaOf(t).version} → ${metaOf(now).version}`);
      others((kind, oid) => kind === 'nodes' && oid === id);
      break;
    }
    case 'RemoveNode': {
      const t = resolveNode(before, String(req.nodeId));
      if (!t) return (v('accepted-unresolvable-target', `no node ${JSON.stringify(req.nodeId)}`), out);
      const id = metaOf(t).id;
      if (id === target.managerId) v('removed-the-only-manager', 'the only manager was removed');
      if (after.nodes.some((n) => metaOf(n).id === id)) v('remove-node-not-as-asked', 'the node is still there');
      others((kind, oid) => (kind === 'nodes' && oid === id) || kind === 'cluster' || (kind === 'tasks' && !!before.tasks.find((x) => metaOf(x).id === oid && x.nodeId === id)));
      break;
    }
    case 'CreateService': {
      const created = after.services.filter((x) => !before.services.some((y) => metaOf(y).id === metaOf(x).id));
      if (created.length !== 1) return (v('create-service-not-as-asked', `${created.length} services appeared`), out);
      const id = metaOf(created[0]).id;
      const spec = tryServiceSpec(req.spec);
      if (spec instanceof Error) v('accepted-spec-the-validator-refuses', `the store validator says: ${spec.message}`);
      else {
        const want = expectedSpec(spec, before);
        if (typeof want === 'string') v('accepted-bad-reference', `CreateService accepted ${want}`);
        else if (stable(norm(serviceSpecToProto(want))) !== stable(norm(created[0].spec))) v('create-service-not-as-asked', `stored spec differs: ${diffText(norm(serviceSpecToProto(want)), norm(created[0].spec))}`);
        for (const why of implausible(spec)) v(`implausible-spec-accepted:${why}`, `CreateService accepted a spec with ${why}`);
      }
      others((kind, oid) => (kind === 'services' && oid === id) || (kind === 'tasks' && after.tasks.some((x) => metaOf(x).id === oid && x.serviceId === id)));
      break;
    }
    case 'UpdateService': {
      const t = resolveService(before, String(req.serviceId));
      if (!t) return (v('accepted-unresolvable-target', `no service ${JSON.stringify(req.serviceId)}`), out);
      const id = metaOf(t).id;
      versionChecked(t);
      const now = after.services.find((x) => metaOf(x).id === id);
      if (req.rollback === true) {
        checkRollback(t, now, req, v);
        others((kind, oid) => (kind === 'services' && oid === id) || (kind === 'tasks' && after.tasks.some((x) => metaOf(x).id === oid && x.serviceId === id)));
        break;
      }
      const sent = tryServiceSpec(req.spec);
      const resolved = sent instanceof Error ? sent : expectedSpec(sent, before);
      if (sent instanceof Error) v('accepted-spec-the-validator-refuses', `the store validator says: ${sent.message}`);
      else if (typeof resolved === 'string') v('accepted-bad-reference', `UpdateService accepted ${resolved}`);
      else if (now) {
        const spec = resolved as ServiceSpec;
        checkHistory(t, now, v);
        if (stable(norm(serviceSpecToProto(spec))) !== stable(norm(now.spec))) v('update-service-not-as-asked', `stored spec differs: ${diffText(norm(serviceSpecToProto(spec)), norm(now.spec))}`);
        if (spec.name !== serviceName(t)) v('service-renamed', `renamed ${JSON.stringify(serviceName(t))} → ${JSON.stringify(spec.name)}`);
        for (const why of implausible(spec)) v(`implausible-spec-accepted:${why}`, `UpdateService accepted a spec with ${why}`);
        if (stable(norm(t.spec)) === stable(norm(serviceSpecToProto(spec))) && metaOf(now).version !== metaOf(t).version) {
          v('noop-update-wrote', `the spec did not change, yet service version ${metaOf(t).version} → ${metaOf(now).version}`);
        }
      }
      others((kind, oid) => (kind === 'services' && oid === id) || (kind === 'tasks' && after.tasks.some((x) => metaOf(x).id === oid && x.serviceId === id)));
      break;
    }
    case 'PromoteService': {
      const t = resolveService(before, String(req.serviceId));
      if (!t) return (v('accepted-unresolvable-target', `no service ${JSON.stringify(req.serviceId)}`), out);
      const id = metaOf(t).id;
      versionChecked(t);
      const was = (t.updateStatus ?? null) as Obj | null;
      if (was === null || Number(was.canary) !== CANARY_AWAITING || Number(was.state) === UPDATE_PAUSED) {
        v('promote-without-canaries-awaiting', `promoted an update whose status was ${stable(was)}`);
      }
      const now = after.services.find((x) => metaOf(x).id === id);
      const st = (now?.updateStatus ?? null) as Obj | null;
      if (st === null || Number(st.canary) !== CANARY_PROMOTED) v('promote-not-as-asked', `the status after: ${stable(st)}`);
      if (now && stable(norm(now.spec)) !== stable(norm(t.spec))) v('promote-changed-spec', `PromoteService changed the spec: ${diffText(norm(t.spec), norm(now.spec))}`);
      others((kind, oid) => kind === 'services' && oid === id);
      break;
    }
    case 'RemoveService': {
      const t = resolveService(before, String(req.serviceId));
      if (!t) return (v('accepted-unresolvable-target', `no service ${JSON.stringify(req.serviceId)}`), out);
      const id = metaOf(t).id;
      if (after.services.some((x) => metaOf(x).id === id) || after.tasks.some((x) => x.serviceId === id)) v('remove-service-not-as-asked', 'the service or its tasks are still there');
      others((kind, oid) => (kind === 'services' && oid === id) || (kind === 'tasks' && before.tasks.some((x) => metaOf(x).id === oid && x.serviceId === id)));
      break;
    }
    case 'UpdateCluster': {
      versionChecked(before.cluster);
      const spec = tryClusterSpec(req.spec);
      const was = (before.cluster.spec ?? {}) as Obj;
      if (spec instanceof Error) v('accepted-spec-the-validator-refuses', `the store validator says: ${spec.message}`);
      else {
        const stored = (after.cluster.spec ?? {}) as Obj;
        if (stable(norm(spec)) !== stable(norm(stored))) v('update-cluster-not-as-asked', `stored spec differs: ${diffText(norm(spec), norm(stored))}`);
        if (spec.name !== String(was.name)) v('cluster-renamed', `cluster renamed ${JSON.stringify(was.name)} → ${JSON.stringify(spec.name)}`);
        const bad = outOfRange(spec);
        if (bad.length > 0) v('cluster-spec-out-of-range', `accepted ${bad.join(', ')}`);
        if (stable(norm(was)) === stable(norm(spec)) && metaOf(after.cluster).version !== metaOf(before.cluster).version) {
          v('noop-update-wrote', `the spec did not change, yet cluster version ${metaOf(before.cluster).version} → ${metaOf(after.cluster).version}`);
        }
      }
      others((kind) => kind === 'cluster');
      break;
    }
    case 'RotateJoinToken': {
      const role = req.role === WORKER ? 'worker' : req.role === MANAGER ? 'manager' : null;
      const changed = (['worker', 'manager'] as const).filter((k) => before.tokens[k] !== after.tokens[k]);
      if (role !== null && stable(changed) !== stable([role])) v('rotate-not-as-asked', `asked for ${role}, rotated: ${changed.join(', ') || 'none'}`);
      const cl = fieldsOf(before.cluster, after.cluster).filter((k) => k !== 'meta');
      if (cl.length > 0) v('changed-other-objects', `RotateJoinToken changed the cluster's ${cl.join(', ')}`);
      others((kind) => kind === 'cluster' || kind === 'tokens');
      break;
    }
    case 'CreateNetwork': {
      const created = after.networks.filter((x) => !before.networks.some((y) => metaOf(y).id === metaOf(x).id));
      if (created.length !== 1) return (v('create-network-not-as-asked', `${created.length} networks appeared`), out);
      const id = metaOf(created[0]).id;
      const spec = tryNetworkSpec(req.spec);
      if (spec instanceof Error) v('accepted-spec-the-validator-refuses', `the store validator says: ${spec.message}`);
      else {
        const stored = (created[0].spec ?? {}) as Obj;
        if (stable(norm(spec)) !== stable(norm(stored))) v('create-network-not-as-asked', `stored spec differs: ${diffText(norm(spec), norm(stored))}`);
        if (stored.driver !== 'overlay') v('create-network-not-as-asked', `driver ${JSON.stringify(stored.driver)}, not overlay`);
        const clash = before.networks.find((x) => networkName(x).toLowerCase() === spec.name.toLowerCase());
        if (clash) v('network-name-not-unique', `a second network named ${JSON.stringify(spec.name)} (${metaOf(clash).id} has it)`);
      }
      others((kind, oid) => kind === 'networks' && oid === id);
      break;
    }
    case 'CreateSecret':
    case 'CreateConfig':
    case 'UpdateSecret':
    case 'UpdateConfig':
    case 'RemoveSecret':
    case 'RemoveConfig':
    case 'RotateSecret':
    case 'RotateConfig':
      checkFileCall(r, fileKindOf(r.method) as FileKind, req, exact, before, after, v, others, versionChecked);
      break;
    case 'RemoveNetwork': {
      const t = resolveNetwork(before, String(req.networkId));
      if (!t) return (v('accepted-unresolvable-target', `no network ${JSON.stringify(req.networkId)}`), out);
      const id = metaOf(t).id;
      const uses = (sp: unknown): boolean => {
        const nets = (((sp ?? {}) as Obj).taskTemplate as Obj | undefined)?.networks;
        return Array.isArray(nets) && nets.includes(id);
      };
      const users = before.services.filter((x) => uses(x.spec) || uses(x.previousSpec)).map(serviceName);
      if (users.length > 0) v('removed-network-in-use', `removed network ${JSON.stringify(networkName(t))} while used by ${users.join(', ')}`);
      if (after.networks.some((x) => metaOf(x).id === id)) v('remove-network-not-as-asked', 'the network is still there');
      others((kind, oid) => kind === 'networks' && oid === id);
      break;
    }
  }
  return out;
}

/** The answer of an accepted call, decoded. */
function answer(r: Ran): Obj {
  const t = target.type(r.method).res;
  return r.res.response ? (t.toObject(t.decode(r.res.response), { longs: String, enums: Number, defaults: true, arrays: true, objects: true, oneofs: true }) as Obj) : {};
}

/**
 * Where the call let a secret's data out: the baseline secret's bytes (or
 * their base64) in any answer or error, or any data in an answer about
 * secrets (reads and writes alike leave it out).
 */
function secretLeaks(r: Ran): string[] {
  const out: string[] = [];
  const forms = [SECRET_MARK, Buffer.from(SECRET_MARK.toString('base64'))];
  if (r.res.response && forms.some((f) => r.res.response?.includes(f))) out.push(`the answer of ${r.method} carries the baseline secret's data`);
  if (forms.some((f) => r.res.details.includes(f.toString()))) out.push(`the error of ${r.method} carries the baseline secret's data`);
  if (r.res.code === grpc.status.OK && fileKindOf(r.method) === 'secrets') {
    const a = answer(r);
    const secrets = [...((a.secrets as Obj[] | undefined) ?? []), ...(a.secret ? [a.secret as Obj] : [])];
    for (const x of secrets) {
      const data = ((x.spec ?? {}) as Obj).data as Uint8Array | undefined;
      if (data && data.length > 0) out.push(`${r.method} answered the data of secret ${metaOf(x).id} (${data.length} bytes)`);
    }
  }
  return out;
}

/** The invariants of an accepted write of a secret or config (issue 17). */
function checkFileCall(
  r: Ran,
  kind: FileKind,
  req: Obj,
  exact: Obj,
  before: Snapshot,
  after: Snapshot,
  v: (key: string, why: string) => void,
  others: (mine: (kind: string, id: string) => boolean) => void,
  versionChecked: (o: Obj | undefined) => void,
): void {
  const verb = r.method.replace(/(Secret|Config)$/, '');
  const one = kind === 'secrets' ? 'secret' : 'config';
  const max = maxFileObjectBytes(kind);
  const created = after[kind].filter((x) => !before[kind].some((y) => metaOf(y).id === metaOf(x).id));
  if (verb === 'Create') {
    if (created.length !== 1) return v(`create-${one}-not-as-asked`, `${created.length} ${kind} appeared`);
    const spec = tryFileSpec(kind, req.spec);
    if (spec instanceof Error) v('accepted-spec-the-validator-refuses', `the request validator says: ${spec.message}`);
    else {
      const stored = (created[0].spec ?? {}) as Obj;
      if (stable(norm({ name: spec.name, labels: spec.labels })) !== stable(norm({ name: stored.name, labels: stored.labels }))) {
        v(`create-${one}-not-as-asked`, `stored spec differs: ${diffText(norm({ name: spec.name, labels: spec.labels }), norm({ name: stored.name, labels: stored.labels }))}`);
      }
      const clash = before[kind].find((x) => fileName(x).toLowerCase() === spec.name.toLowerCase());
      if (clash) v(`${one}-name-not-unique`, `a second ${one} named ${JSON.stringify(spec.name)} (${metaOf(clash).id} has it)`);
    }
    others((k, oid) => k === kind && oid === metaOf(created[0]).id);
    return;
  }
  const t = resolveFile(before, kind, String(req[`${one}Id`]));
  if (!t) return v('accepted-unresolvable-target', `no ${one} ${JSON.stringify(req[`${one}Id`])}`);
  const id = metaOf(t).id;
  const now = after[kind].find((x) => metaOf(x).id === id);
  const isBase = id === target.fileIds[kind];
  switch (verb) {
    case 'Update': {
      versionChecked(t);
      const spec = tryFileSpec(kind, req.spec, 'stored');
      if (spec instanceof Error) return v('accepted-spec-the-validator-refuses', `the store validator says: ${spec.message}`);
      if (spec.name !== fileName(t)) v(`${one}-renamed`, `renamed ${JSON.stringify(fileName(t))} → ${JSON.stringify(spec.name)}`);
      const known = isBase ? (kind === 'secrets' ? SECRET_MARK : CONFIG_DATA).toString('base64') : undefined;
      if (spec.data !== '' && known !== undefined && spec.data !== known) v(`${one}-data-changed`, 'an update with other data was accepted');
      if (!now) return v(`update-${one}-not-as-asked`, `the ${one} is gone`);
      if (stable(norm(((now.spec ?? {}) as Obj).labels)) !== stable(norm(spec.labels))) v(`update-${one}-not-as-asked`, `labels ${stable(((now.spec ?? {}) as Obj).labels)}, asked ${stable(spec.labels)}`);
      if (stable(norm(((t.spec ?? {}) as Obj).labels)) === stable(norm(spec.labels)) && metaOf(now).version !== metaOf(t).version) v('noop-update-wrote', `the labels did not change, yet ${one} version ${metaOf(t).version} → ${metaOf(now).version}`);
      others((k, oid) => k === kind && oid === id);
      return;
    }
    case 'Remove': {
      const users = before.services.filter((x) => usesFile(x.spec, kind, id) || usesFile(x.previousSpec, kind, id)).map(serviceName);
      if (users.length > 0) v(`removed-${one}-in-use`, `removed ${one} ${JSON.stringify(fileName(t))} while used by ${users.join(', ')}`);
      if (now) v(`remove-${one}-not-as-asked`, `the ${one} is still there`);
      others((k, oid) => k === kind && oid === id);
      return;
    }
    default: {
      // Rotate.
      const name = fileName(t);
      const size = (exact.data as Uint8Array | undefined)?.length ?? 0;
      if (size === 0 || size > max) v(`rotate-accepted-${size === 0 ? 'empty' : 'oversized'}-data`, `${r.method} accepted ${size} bytes`);
      if (historyName(name) !== undefined) v('rotated-an-earlier-version', `rotated ${JSON.stringify(name)}`);
      const renamed = now ? historyName(fileName(now)) : undefined;
      if (!renamed || renamed.base !== name) v(`rotate-${one}-not-as-asked`, `the previous version is now named ${JSON.stringify(now ? fileName(now) : '(gone)')}, not ${JSON.stringify(name)}~N`);
      if (created.length !== 1) return v(`rotate-${one}-not-as-asked`, `${created.length} ${kind} appeared`);
      const next = created[0];
      const nextId = metaOf(next).id;
      if (fileName(next) !== name || stable(((next.spec ?? {}) as Obj).labels) !== stable(((t.spec ?? {}) as Obj).labels)) {
        v(`rotate-${one}-not-as-asked`, `the new version: ${stable(next.spec)}, the previous: ${stable(t.spec)}`);
      }
      const users = before.services.filter((x) => usesFile(x.spec, kind, id));
      const said = new Set((answer(r).serviceIds as string[] | undefined) ?? []);
      if (stable([...said].sort()) !== stable(users.map((x) => metaOf(x).id).sort())) v(`rotate-${one}-not-as-asked`, `answered services ${[...said].join(', ')}, users ${users.map(serviceName).join(', ')}`);
      const idKey = kind === 'secrets' ? 'secretId' : 'configId';
      const nameKey = kind === 'secrets' ? 'secretName' : 'configName';
      for (const u of users) {
        const got = after.services.find((x) => metaOf(x).id === metaOf(u).id);
        const want = refsOf(u.spec, kind).map((ref) => (ref[idKey] === id ? { ...ref, [idKey]: nextId, [nameKey]: name } : ref));
        if (!got || stable(norm(refsOf(got.spec, kind))) !== stable(norm(want))) v(`rotate-${one}-not-as-asked`, `service ${serviceName(u)} refers to ${stable(refsOf(got?.spec, kind))}`);
        else if (stable(norm(got.previousSpec)) !== stable(norm(u.spec))) v('previous-spec-not-as-asked', `service ${serviceName(u)}: the previous spec is not the spec before the rotation`);
      }
      const moved = new Set(users.map((x) => metaOf(x).id));
      others((k, oid) => (k === kind && (oid === id || oid === nextId)) || (k === 'services' && moved.has(oid)) || (k === 'tasks' && after.tasks.some((x) => metaOf(x).id === oid && moved.has(String(x.serviceId)))));
    }
  }
}

function fieldsOf(a: Obj, b: Obj): string[] {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => stable(a[k]) !== stable(b[k]));
}

function diffText(a: unknown, b: unknown): string {
  const walk = (x: unknown, y: unknown, p: string, acc: string[]): string[] => {
    if (stable(x) === stable(y)) return acc;
    if (x && y && typeof x === 'object' && typeof y === 'object' && !Array.isArray(x) && !Array.isArray(y)) {
      for (const k of new Set([...Object.keys(x as Obj), ...Object.keys(y as Obj)])) walk((x as Obj)[k], (y as Obj)[k], p ? `${p}.${k}` : k, acc);
      return acc;
    }
    acc.push(`${p}: sent ${String(stable(x)).slice(0, 80)}, stored ${String(stable(y)).slice(0, 80)}`);
    return acc;
  };
  return walk(a, b, '', []).join('; ');
}

async function runCase(method: string, input: Input): Promise<Violation[]> {
  if (target.broken) throw new Error(`the cluster is broken: ${target.broken}`);
  const t = target.type(method);
  const before = target.last ?? (await target.restore());
  let model = resolve(method, input.msg, before);
  let note = '';
  let bytes: Uint8Array;
  if (input.cli) {
    const built = cliCreateRequest(input.cli);
    if (!built) return []; // the CLI refused the flags: the CLI suite checks how
    bytes = t.req.encode(t.req.fromObject({ spec: built.proto as unknown as Record<string, unknown> })).finish();
    note = `spec built by \`flotilla service create\`${built.replicas > 0 ? `, replicas ${built.replicas} capped to 0` : ''}`;
  } else {
    bytes = applyByteMutations(encode(t.req, model), input.bytes);
  }
  let decoded = decodeBoth(t.req, bytes);
  if (decoded && !input.cli) {
    const s = sanitize(method, model, decoded.view, before);
    if (s && 'skip' in s) return [];
    if (s) {
      if (input.bytes.some((b) => b.op !== 'appendUnknown')) return []; // a byte-level case that happens to be dangerous: skip it
      model = s.model;
      note = s.note;
      bytes = applyByteMutations(encode(t.req, model), input.bytes);
      decoded = decodeBoth(t.req, bytes);
    }
  }
  const verdict = classifyWire(bytes, t.req);
  const res = await target.raw(method, bytes, { tls: input.tls });
  const ran: Ran = { method, tls: input.tls, bytes, verdict, decoded, note, res };
  const out: Violation[] = [];
  const dead = target.dead();
  if (dead.length > 0) {
    out.push({ key: 'daemon-died', message: `after the call, not running: ${dead.join(', ')}\n${describe(ran)}` });
    await target.revive();
    await target.restore();
    return out;
  }
  let after: Snapshot;
  try {
    after = await target.snapshot();
  } catch (err) {
    out.push({ key: 'unresponsive-after-call', message: `the snapshot after the call failed: ${String(err)}\n${describe(ran)}` });
    await target.revive();
    await target.restore();
    return out;
  }
  out.push(...check(ran, before, after));
  if (input.cli && res.code !== grpc.status.OK && ![grpc.status.INVALID_ARGUMENT, grpc.status.ALREADY_EXISTS, grpc.status.RESOURCE_EXHAUSTED].includes(res.code)) {
    out.push({ key: `cli-spec-refused-with:${code(res.code)}`, message: `a spec the CLI accepted was refused with ${code(res.code)}, not INVALID_ARGUMENT\n${describe(ran)}` });
  }
  if (diff(before, after).length > 0) await target.restore();
  else target.last = after;
  return out;
}

// ------------------------------------------------------------ the tests

before(async () => {
  await target.start(serviceSpec, networkSpec, fileSpec);
}, { timeout: 180_000 });

after(async () => {
  const failing = outcomes.flatMap((o) => o.findings);
  log(summaryLine('control', settings, outcomes, Date.now() - t0) + `, ${target.restores} restores`);
  if (failing.length > 0) log(`failing invariants:\n${formatFindings(failing)}`);
  await target.stop();
});

const RUNS_WELL_FORMED = 15;
const RUNS_MALFORMED = 12;

for (const m of METHODS) {
  const empty = m.req.fieldsArray.length === 0;
  for (const kind of ['well-formed', 'malformed'] as const) {
    test(`Control.${m.name}: ${kind} requests`, { timeout: 600_000 }, async () => {
      const arb = kind === 'well-formed' ? wellFormedArb(m.name, m.req) : malformedArb(m.name, m.req);
      const runs = kind === 'well-formed' ? (empty ? 5 : TARGETED[m.name] ? 2 * RUNS_WELL_FORMED : RUNS_WELL_FORMED) : RUNS_MALFORMED;
      const o = await fuzzProperty(`Control.${m.name} ${kind}`, arb, (input) => runCase(m.name, input), { settings, runs });
      outcomes.push(o);
      log(`${o.property}: ${o.cases} cases, ${o.findings.length} failing invariants, ${(o.ms / 1000).toFixed(1)} s`);
      assert.equal(o.findings.length, 0, `\n${formatFindings(o.findings)}`);
    });
  }
}

test('every daemon is alive and the cluster answers at the end', async () => {
  assert.deepEqual(target.dead(), []);
  const s = await target.snapshot();
  assert.equal(s.nodes.length, 2);
  assert.ok(s.nodes.every((n) => ((n.status ?? {}) as Obj).state === READY), `nodes not ready: ${stable(s.nodes.map((n) => n.status))}`);
});
