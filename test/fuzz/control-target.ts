// The system under test for the Control fuzz suite: a real cluster (one
// manager, one worker: `flotilla` daemons on loopback), raw Control calls
// (bytes in, bytes out: requestSerialize is the identity) over the manager's
// unix socket or over mutual TLS, snapshots of every object the Control API
// shows (nodes, services, tasks, networks, secrets, configs, the cluster, the
// join tokens), and the restoration of a baseline after a call that changed
// something.
import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type protobuf from 'protobufjs';
import { DaemonCluster } from '../../src/testing/daemon-cluster.js';
import { channelCredentials, NODE_CHANNEL_OPTIONS, NodeCertificateProvider } from '../../src/manager/ca/tls.js';
import { encode, enumValue, loadRoot, serviceMethods, type Model } from './proto.js';
import { CONTROL_STREAM_METHODS, type ControlStreamMethod } from '../../src/api/proto.js';

/** Enum numbers used by the suite, from the proto. */
export const WORKER = enumValue('NodeRole', 'NODE_ROLE_WORKER');
export const MANAGER = enumValue('NodeRole', 'NODE_ROLE_MANAGER');
export const ACTIVE = enumValue('NodeAvailability', 'NODE_AVAILABILITY_ACTIVE');
export const READY = enumValue('NodeState', 'NODE_STATE_READY');

export type Obj = Record<string, unknown>;

export interface CallResult {
  code: number;
  details: string;
  response: Buffer | null;
  ms: number;
}

/** What the Control API shows, in proto form (managerStatus left out: it is computed per call, not stored). */
export interface Snapshot {
  nodes: Obj[];
  services: Obj[];
  tasks: Obj[];
  networks: Obj[];
  secrets: Obj[];
  configs: Obj[];
  cluster: Obj;
  tokens: { worker: string; manager: string };
}

/** The kinds of secrets and configs, as the snapshot holds them. */
export type FileKind = 'secrets' | 'configs';
export const FILE_KINDS: readonly FileKind[] = ['secrets', 'configs'];

/** The bytes of the baseline secret: no answer, error or log may ever carry them. */
export const SECRET_MARK = Buffer.from('fz-secret-data-5b1e7c');

export const CONTROL = 'flotilla.control.Control';
/**
 * How long a streaming call is read before it is cancelled: a followed log stream or a live events stream does not
 * end by itself; a log stream's first lines wait for the nodes to answer (seconds), events are there at once.
 */
const STREAM_LOOK_MS: Readonly<Record<ControlStreamMethod, number>> = { Events: 300, SubscribeLogs: 3_000 };

/** Stable JSON (object keys sorted), for comparisons. */
export function stable(x: unknown): string {
  return JSON.stringify(x, (_k, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const o = v as Obj;
      return Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]));
    }
    return typeof v === 'bigint' ? v.toString() : v;
  });
}

export function metaOf(o: Obj): { id: string; version: string } {
  const m = (o.meta ?? {}) as Obj;
  return { id: String(m.id ?? ''), version: String(m.version ?? '') };
}

function byId(list: Obj[]): Map<string, Obj> {
  return new Map(list.map((o) => [metaOf(o).id, o]));
}

/**
 * What the dispatcher writes on its own: when an agent opens a session it
 * rewrites its node (description, status 'ready', a new version) even when
 * nothing changed. Comparisons that look for changes made by a Control call
 * leave these fields out of nodes.
 */
export function withoutAgentFields(node: Obj): Obj {
  const { meta, status: _s, description: _d, ...rest } = node;
  const { version: _v, updatedAt: _u, ...m } = (meta ?? {}) as Obj;
  return { ...rest, meta: m };
}

/** The differences between two snapshots, one line each (none when equal); nodes are compared without what agents change. */
export function diff(a: Snapshot, b: Snapshot, ignore: (kind: string, id: string) => boolean = () => false): string[] {
  const out: string[] = [];
  for (const kind of ['nodes', 'services', 'tasks', 'networks', 'secrets', 'configs'] as const) {
    const x = byId(a[kind]);
    const y = byId(b[kind]);
    const view = kind === 'nodes' ? withoutAgentFields : (o: Obj): Obj => o;
    for (const [id, o] of x) {
      if (ignore(kind, id)) continue;
      const p = y.get(id);
      if (!p) out.push(`${kind} ${id} removed`);
      else if (stable(view(o)) !== stable(view(p))) out.push(`${kind} ${id} changed: ${fieldsChanged(o, p)}`);
    }
    for (const id of y.keys()) if (!x.has(id) && !ignore(kind, id)) out.push(`${kind} ${id} created`);
  }
  if (!ignore('cluster', '') && stable(a.cluster) !== stable(b.cluster)) out.push(`cluster changed: ${fieldsChanged(a.cluster, b.cluster)}`);
  if (!ignore('tokens', '') && stable(a.tokens) !== stable(b.tokens)) {
    out.push(`join tokens changed: ${['worker', 'manager'].filter((r) => a.tokens[r as 'worker'] !== b.tokens[r as 'worker']).join(', ')}`);
  }
  return out;
}

/** 'meta.version 5 → 7, availability 0 → 2' (leaf paths, values cut short). */
export function fieldsChanged(a: unknown, b: unknown, path = ''): string {
  const parts: string[] = [];
  const walk = (x: unknown, y: unknown, p: string): void => {
    if (stable(x) === stable(y)) return;
    if (x && y && typeof x === 'object' && typeof y === 'object' && !Array.isArray(x) && !Array.isArray(y)) {
      for (const k of new Set([...Object.keys(x as Obj), ...Object.keys(y as Obj)])) walk((x as Obj)[k], (y as Obj)[k], p ? `${p}.${k}` : k);
      return;
    }
    const s = (v: unknown): string => {
      const t = stable(v) ?? 'undefined';
      return t.length > 60 ? `${t.slice(0, 60)}…` : t;
    };
    parts.push(`${p || '(root)'} ${s(x)} → ${s(y)}`);
  };
  walk(a, b, path);
  return parts.join(', ');
}

function identity(b: Buffer): Buffer {
  return b;
}

export interface TargetOptions {
  firstHost: number;
  port: number;
  log: (s: string) => void;
}

/** The baseline the suite restores after a call changed something. */
export interface Baseline {
  /** Labels of the worker node (the manager has none). */
  workerLabels: Record<string, string>;
  /** The spec of the service every run starts with (replicas 0). */
  serviceSpec: Model;
  /** The cluster spec as the cluster was created (proto form). */
  clusterSpec: Obj;
  /** The spec of the network every run starts with (used by no service). */
  networkSpec: Model;
  /** The specs of the secret and the config every run starts with (used by no service). */
  fileSpecs: Record<FileKind, Model>;
}

/** Names of the baseline objects, and of those that existed and were removed. */
export const FILE_NAMES: Record<FileKind, { base: string; ghost: string }> = {
  secrets: { base: 'fz-secbase', ghost: 'fz-secghost' },
  configs: { base: 'fz-cfgbase', ghost: 'fz-cfgghost' },
};

/** CreateSecret / CreateConfig, ... */
export function fileMethod(verb: string, kind: FileKind): string {
  return `${verb}${kind === 'secrets' ? 'Secret' : 'Config'}`;
}

export class ControlTarget {
  readonly cluster: DaemonCluster;
  private readonly base: string;
  private unixClient: grpc.Client | null = null;
  private tlsClient: grpc.Client | null = null;
  private readonly types = new Map<string, { req: protobuf.Type; res: protobuf.Type; path: string }>();
  managerId = '';
  workerId = '';
  /** Node index (in the DaemonCluster) of the worker now in use. */
  workerIndex = 1;
  serviceId = '';
  /** The id of a service that existed and was removed. */
  ghostServiceId = '';
  networkId = '';
  /** The id of a network that existed and was removed. */
  ghostNetworkId = '';
  /** The ids of the baseline secret and config, and of one of each that existed and was removed. */
  fileIds: Record<FileKind, string> = { secrets: '', configs: '' };
  ghostFileIds: Record<FileKind, string> = { secrets: '', configs: '' };
  baseline!: Baseline;
  /** Snapshot taken after the last case (valid while nothing else changes the cluster). */
  last: Snapshot | null = null;
  /** Calls made to restore the baseline, for the summary. */
  restores = 0;
  broken: string | null = null;

  constructor(private readonly o: TargetOptions) {
    this.base = mkdtempSync(join(tmpdir(), 'flotilla-fuzz-'));
    // The agents use the host's engine (a node is Ready only with one); an accepted global service of a made-up
    // image costs each agent one pull per image at most (the executor's single flight and back-off).
    this.cluster = new DaemonCluster({ baseDir: this.base, firstHost: o.firstHost, port: o.port, logLevel: 'warn', nodeStatusMs: 500 });
    for (const m of serviceMethods(loadRoot(), CONTROL)) this.types.set(m.name, m);
  }

  type(method: string): { req: protobuf.Type; res: protobuf.Type; path: string } {
    const t = this.types.get(method);
    if (!t) throw new Error(`no method ${method}`);
    return t;
  }

  private client(tls: boolean): grpc.Client {
    if (!tls) {
      this.unixClient ??= new grpc.Client(`unix://${join(this.cluster.node(0).dataDir, 'control.sock')}`, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': -1 });
      return this.unixClient;
    }
    if (!this.tlsClient) {
      const dir = join(this.cluster.node(0).dataDir, 'certificates');
      const read = (f: string): string => readFileSync(join(dir, f), 'utf8');
      const provider = new NodeCertificateProvider({ caCertPem: read('root-ca.crt'), certPem: read('node.crt'), keyPem: read('node.key') });
      this.tlsClient = new grpc.Client(this.cluster.node(0).address, channelCredentials(provider), { ...NODE_CHANNEL_OPTIONS, 'grpc.max_send_message_length': -1 });
    }
    return this.tlsClient;
  }

  /**
   * One raw call: `bytes` as the request, the response's bytes back. A
   * streaming method is read for STREAM_LOOK_MS of it, then cancelled: OK
   * if it was still streaming (or ended OK), with its first message.
   */
  raw(method: string, bytes: Uint8Array, opts: { tls?: boolean; timeoutMs?: number } = {}): Promise<CallResult> {
    const t0 = Date.now();
    const path = `/${CONTROL}/${method}`;
    if ((CONTROL_STREAM_METHODS as readonly string[]).includes(method)) return this.rawStream(method as ControlStreamMethod, path, bytes, opts);
    return new Promise((resolve) => {
      this.client(opts.tls ?? false).makeUnaryRequest(path, identity, identity, Buffer.from(bytes), new grpc.Metadata(), { deadline: Date.now() + (opts.timeoutMs ?? 10_000) }, (err, res) =>
        resolve({ code: err ? err.code : grpc.status.OK, details: err ? err.details : '', response: res ?? null, ms: Date.now() - t0 }),
      );
    });
  }

  /**
   * A streaming call (SubscribeLogs): the first message is the response; a
   * stream still open after STREAM_LOOK_MS (a followed one) is cancelled and
   * counts as accepted.
   */
  private rawStream(method: ControlStreamMethod, path: string, bytes: Uint8Array, opts: { tls?: boolean; timeoutMs?: number }): Promise<CallResult> {
    const t0 = Date.now();
    return new Promise((resolve) => {
      const call = this.client(opts.tls ?? false).makeServerStreamRequest(path, identity, identity, Buffer.from(bytes), new grpc.Metadata(), { deadline: Date.now() + (opts.timeoutMs ?? 10_000) });
      let first: Buffer | null = null;
      let done = false;
      const finish = (r: Omit<CallResult, 'ms' | 'response'>): void => {
        if (done) return;
        done = true;
        clearTimeout(look);
        resolve({ ...r, response: first, ms: Date.now() - t0 });
      };
      const look = setTimeout(() => {
        finish({ code: grpc.status.OK, details: '' });
        call.cancel();
      }, STREAM_LOOK_MS[method]);
      call.on('data', (b: Buffer) => (first ??= b));
      call.on('error', (err: grpc.ServiceError) => finish({ code: err.code, details: err.details }));
      call.on('status', (st: grpc.StatusObject) => {
        if (st.code === grpc.status.OK) finish({ code: st.code, details: '' });
      });
    });
  }

  /** A call with a resolved model; throws unless it succeeds; the decoded response. */
  async call(method: string, req: Model): Promise<Obj> {
    const t = this.type(method);
    const r = await this.raw(method, encode(t.req, req));
    if (r.code !== grpc.status.OK || !r.response) throw new Error(`${method} failed: ${grpc.status[r.code]}: ${r.details}`);
    return t.res.toObject(t.res.decode(r.response), { longs: String, enums: Number, defaults: true, arrays: true, objects: true, oneofs: true }) as Obj;
  }

  async snapshot(): Promise<Snapshot> {
    const [n, s, t, w, sec, cfg, c, j] = await Promise.all([
      this.call('ListNodes', {}),
      this.call('ListServices', {}),
      this.call('ListTasks', {}),
      this.call('ListNetworks', {}),
      this.call('ListSecrets', {}),
      this.call('ListConfigs', {}),
      this.call('GetCluster', {}),
      this.call('GetJoinTokens', {}),
    ]);
    const strip = (node: Obj): Obj => {
      const { managerStatus: _m, ...rest } = node;
      return rest;
    };
    const sort = (l: Obj[]): Obj[] => [...l].sort((a, b) => metaOf(a).id.localeCompare(metaOf(b).id));
    const jt = (j.joinTokens ?? {}) as { worker?: string; manager?: string };
    return {
      nodes: sort((n.nodes as Obj[]).map(strip)),
      services: sort(s.services as Obj[]),
      tasks: sort(t.tasks as Obj[]),
      networks: sort(w.networks as Obj[]),
      secrets: sort(sec.secrets as Obj[]),
      configs: sort(cfg.configs as Obj[]),
      cluster: (c.cluster ?? {}) as Obj,
      tokens: { worker: jt.worker ?? '', manager: jt.manager ?? '' },
    };
  }

  /** Until two snapshots `gapMs` apart are equal (background work done); the last one. */
  async settle(timeoutMs = 20_000, gapMs = 100): Promise<Snapshot> {
    const deadline = Date.now() + timeoutMs;
    let prev = await this.snapshot();
    for (;;) {
      await new Promise((r) => setTimeout(r, gapMs));
      const cur = await this.snapshot();
      if (stable(cur) === stable(prev)) return cur;
      if (Date.now() > deadline) throw new Error(`the cluster did not settle within ${timeoutMs} ms: ${diff(prev, cur).join('; ')}`);
      prev = cur;
    }
  }

  /** Start the cluster and lay the baseline. */
  async start(serviceSpec: (name: string) => Model, networkSpec: (name: string) => Model, fileSpec: (kind: FileKind, name: string) => Model): Promise<void> {
    const c = this.cluster;
    await c.init(0);
    await c.join(1, 'worker');
    await c.waitFor(
      async () => {
        const s = await this.snapshot().catch(() => null);
        return !!s && s.nodes.length === 2 && s.nodes.every((n) => ((n.status ?? {}) as Obj).state === READY);
      },
      30_000,
      'both nodes ready',
    );
    const s0 = await this.snapshot();
    this.managerId = metaOf(s0.nodes.find((n) => n.role === MANAGER) as Obj).id;
    this.workerId = metaOf(s0.nodes.find((n) => n.role === WORKER) as Obj).id;
    const worker = s0.nodes.find((n) => metaOf(n).id === this.workerId) as Obj;
    await this.call('UpdateNode', { nodeId: this.workerId, version: BigInt(metaOf(worker).version), labelsAdd: [['zone', 'a']] });
    const ghost = await this.call('CreateService', { spec: serviceSpec('fz-ghost') });
    this.ghostServiceId = metaOf(ghost.service as Obj).id;
    await this.call('RemoveService', { serviceId: this.ghostServiceId });
    const created = await this.call('CreateService', { spec: serviceSpec('fz-base') });
    this.serviceId = metaOf(created.service as Obj).id;
    const ghostNet = await this.call('CreateNetwork', { spec: networkSpec('fz-netghost') });
    this.ghostNetworkId = metaOf(ghostNet.network as Obj).id;
    await this.call('RemoveNetwork', { networkId: this.ghostNetworkId });
    const net = await this.call('CreateNetwork', { spec: networkSpec('fz-netbase') });
    this.networkId = metaOf(net.network as Obj).id;
    for (const kind of FILE_KINDS) {
      const ghost = await this.createFile(kind, fileSpec(kind, FILE_NAMES[kind].ghost));
      this.ghostFileIds[kind] = ghost;
      await this.call(fileMethod('Remove', kind), { [`${kind === 'secrets' ? 'secret' : 'config'}Id`]: ghost });
      this.fileIds[kind] = await this.createFile(kind, fileSpec(kind, FILE_NAMES[kind].base));
    }
    const s1 = await this.settle();
    this.baseline = {
      workerLabels: { zone: 'a' },
      serviceSpec: serviceSpec('fz-base'),
      clusterSpec: s1.cluster.spec as Obj,
      networkSpec: networkSpec('fz-netbase'),
      fileSpecs: { secrets: fileSpec('secrets', FILE_NAMES.secrets.base), configs: fileSpec('configs', FILE_NAMES.configs.base) },
    };
    this.baselineNetwork = (s1.networks.find((x) => metaOf(x).id === this.networkId) as Obj).spec as Obj;
    for (const kind of FILE_KINDS) this.baselineFiles[kind] = (s1[kind].find((x) => metaOf(x).id === this.fileIds[kind]) as Obj).spec as Obj;
    this.baselineStored = stripService(s1.services.find((x) => metaOf(x).id === this.serviceId) as Obj);
    this.last = s1;
    this.o.log(`cluster up: manager ${this.managerId}, worker ${this.workerId}, service ${this.serviceId}, network ${this.networkId} (dir ${this.base})`);
  }

  /** The daemons that are not running (name and last exit code). */
  dead(): string[] {
    return this.cluster.nodes.filter((n, i) => (i === 0 || i === this.workerIndex) && n.proc === null).map((n) => `${n.name} (exit ${n.exitCode})`);
  }

  /** Restart dead daemons (a finding was recorded by the caller). */
  async revive(): Promise<void> {
    const c = this.cluster;
    for (const i of [0, this.workerIndex]) {
      if (c.node(i).proc === null) {
        this.o.log(`restarting ${c.node(i).name}`);
        await c.restart(i);
      }
    }
    await c.waitReady(0, 60_000);
    this.unixClient?.close();
    this.tlsClient?.close();
    this.unixClient = this.tlsClient = null;
  }

  /** Put the cluster back to the baseline (after a call changed it), then wait until it is quiet. */
  async restore(): Promise<Snapshot> {
    this.restores++;
    for (let attempt = 1; ; attempt++) {
      try {
        // Calls undone (or services created): wait for what follows them; else (e.g. a rotated token) one snapshot will do.
        const calls = await this.restoreOnce();
        const s = calls > 0 ? await this.settle() : await this.snapshot();
        if (this.atBaseline(s)) {
          this.last = s;
          return s;
        }
        if (attempt >= 3) throw new Error(`still not at the baseline: ${stable(s).slice(0, 2000)}`);
      } catch (err) {
        if (attempt >= 3) {
          this.broken = `cannot restore the baseline: ${String(err)}`;
          throw err;
        }
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  private atBaseline(s: Snapshot): boolean {
    const svc = s.services.find((x) => metaOf(x).id === this.serviceId);
    const mgr = s.nodes.find((n) => metaOf(n).id === this.managerId);
    const wrk = s.nodes.find((n) => metaOf(n).id === this.workerId);
    const net = s.networks.find((x) => metaOf(x).id === this.networkId);
    const filesAtBaseline = FILE_KINDS.every((kind) => {
      const o = s[kind].find((x) => metaOf(x).id === this.fileIds[kind]);
      return s[kind].length === 1 && !!o && stable(o.spec) === stable(this.baselineFiles[kind]);
    });
    return (
      filesAtBaseline &&
      s.networks.length === 1 &&
      !!net &&
      stable(net.spec) === stable(this.baselineNetwork) &&
      s.services.length === 1 &&
      !!svc &&
      !!mgr &&
      !!wrk &&
      mgr.role === MANAGER &&
      mgr.availability === ACTIVE &&
      stable(mgr.labels) === '{}' &&
      wrk.role === WORKER &&
      wrk.availability === ACTIVE &&
      stable(wrk.labels) === stable(this.baseline.workerLabels) &&
      stable((s.cluster.spec ?? {}) as Obj) === stable(this.baseline.clusterSpec) &&
      s.tasks.length === 0
    );
  }

  /** The calls that put the baseline back; how many it made. */
  private async restoreOnce(): Promise<number> {
    let s = await this.snapshot();
    let calls = 0;
    const call = async (method: string, req: Model): Promise<Obj> => {
      calls++;
      return this.call(method, req);
    };
    if (!s.nodes.some((n) => metaOf(n).id === this.workerId)) {
      calls++;
      await this.rejoinWorker();
    }
    s = await this.snapshot();
    for (const svc of s.services) {
      const id = metaOf(svc).id;
      if (id !== this.serviceId) await call('RemoveService', { serviceId: id });
    }
    const base = s.services.find((x) => metaOf(x).id === this.serviceId);
    if (!base || stable(stripService(base)) !== stable(this.baselineServiceProto())) {
      if (base) await call('RemoveService', { serviceId: this.serviceId });
      const created = await call('CreateService', { spec: this.baseline.serviceSpec });
      this.serviceId = metaOf(created.service as Obj).id;
    }
    // After the services: a network a service uses cannot be removed.
    for (const net of s.networks) {
      const id = metaOf(net).id;
      if (id !== this.networkId) await call('RemoveNetwork', { networkId: id });
    }
    const baseNet = s.networks.find((x) => metaOf(x).id === this.networkId);
    if (!baseNet || stable(baseNet.spec) !== stable(this.baselineNetwork)) {
      if (baseNet) await call('RemoveNetwork', { networkId: this.networkId });
      const created = await call('CreateNetwork', { spec: this.baseline.networkSpec });
      this.networkId = metaOf(created.network as Obj).id;
    }
    // After the services too: a secret or config a service uses cannot be removed.
    for (const kind of FILE_KINDS) {
      const idField = `${kind === 'secrets' ? 'secret' : 'config'}Id`;
      for (const o of s[kind]) {
        const id = metaOf(o).id;
        if (id !== this.fileIds[kind]) await call(fileMethod('Remove', kind), { [idField]: id });
      }
      const base = s[kind].find((x) => metaOf(x).id === this.fileIds[kind]);
      if (!base || stable(base.spec) !== stable(this.baselineFiles[kind])) {
        if (base) await call(fileMethod('Remove', kind), { [idField]: this.fileIds[kind] });
        calls++;
        this.fileIds[kind] = await this.createFile(kind, this.baseline.fileSpecs[kind]);
      }
    }
    for (const n of s.nodes) {
      const id = metaOf(n).id;
      const want: Record<string, string> = id === this.workerId ? this.baseline.workerLabels : {};
      const have = (n.labels ?? {}) as Record<string, string>;
      const rm = Object.keys(have).filter((k) => !(k in want) || have[k] !== want[k]);
      const add = Object.entries(want).filter(([k, v]) => have[k] !== v);
      const wantRole = id === this.managerId ? MANAGER : WORKER;
      if (n.availability !== ACTIVE || rm.length > 0 || add.length > 0 || n.role !== wantRole) {
        await call('UpdateNode', {
          nodeId: id,
          version: BigInt(metaOf(n).version),
          hasAvailability: true,
          availability: ACTIVE,
          labelsRm: rm,
          labelsAdd: add,
          ...(n.role !== wantRole ? { hasRole: true, role: wantRole } : {}),
        });
      }
    }
    if (stable(s.cluster.spec) !== stable(this.baseline.clusterSpec)) {
      await call('UpdateCluster', { version: BigInt(metaOf(s.cluster).version), spec: clusterSpecModel(this.baseline.clusterSpec) });
    }
    return calls;
  }

  private baselineServiceProto(): Obj {
    // What the server stores for the baseline spec: learned from the service as first created.
    return this.baselineStored ?? {};
  }

  /** The stored form of the baseline spec (set by the suite after start()). */
  baselineStored: Obj | null = null;

  /** The stored spec of the baseline network (proto form, as read). */
  baselineNetwork: Obj = {};

  /** The specs of the baseline secret and config as listed (proto form, without their data). */
  baselineFiles: Record<FileKind, Obj> = { secrets: {}, configs: {} };

  /** Create a secret or config; its id. */
  private async createFile(kind: FileKind, spec: Model): Promise<string> {
    const res = await this.call(fileMethod('Create', kind), { spec });
    return metaOf(res[kind === 'secrets' ? 'secret' : 'config'] as Obj).id;
  }

  /** A worker removed by a call: stop its daemon and join a new one in its place. */
  private async rejoinWorker(): Promise<void> {
    const c = this.cluster;
    await c.kill(this.workerIndex, 'SIGKILL');
    this.workerIndex = c.nodes.length;
    this.o.log(`the worker was removed: joining ${c.node(this.workerIndex).name} in its place`);
    await c.join(this.workerIndex, 'worker');
    await c.waitFor(
      async () => {
        const s = await this.snapshot().catch(() => null);
        const w = s?.nodes.find((n) => n.role === WORKER && ((n.status ?? {}) as Obj).state === READY);
        if (w) this.workerId = metaOf(w).id;
        return !!w;
      },
      30_000,
      'the new worker to be ready',
    );
    const s = await this.snapshot();
    const w = s.nodes.find((n) => metaOf(n).id === this.workerId) as Obj;
    await this.call('UpdateNode', { nodeId: this.workerId, version: BigInt(metaOf(w).version), labelsAdd: [['zone', 'a']] });
  }

  async stop(): Promise<void> {
    this.unixClient?.close();
    this.tlsClient?.close();
    await this.cluster.stop();
    if (process.env.KEEP_CLUSTER_DIRS !== '1') rmSync(this.base, { recursive: true, force: true });
  }
}

/** A service's spec without what the server adds (for comparison with the baseline). */
export function stripService(s: Obj): Obj {
  return (s.spec ?? {}) as Obj;
}

/** A cluster spec as read (int64 as strings) back into a model for encode(). */
export function clusterSpecModel(spec: Obj): Model {
  const o = (spec.orchestration ?? {}) as Obj;
  const d = (spec.dispatcher ?? {}) as Obj;
  const ca = (spec.caConfig ?? {}) as Obj;
  return {
    name: String(spec.name ?? ''),
    orchestration: { taskHistoryRetention: BigInt(String(o.taskHistoryRetention ?? 0)) },
    dispatcher: { heartbeatPeriodMs: BigInt(String(d.heartbeatPeriodMs ?? 0)), heartbeatGrace: BigInt(String(d.heartbeatGrace ?? 0)) },
    caConfig: { nodeCertExpiryHours: BigInt(String(ca.nodeCertExpiryHours ?? 0)) },
  };
}
