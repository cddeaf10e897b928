// The node daemon: runs a node from its data dir, in the role its certificate
// gives it, and follows what the cluster says of it:
// - a manager runs the Manager (store, Raft, APIs) and makes sure it is in the
//   Raft group (JoinRaft, retried until the group lists it);
// - every node polls NodeStatus at a manager: a role change (promote/demote)
//   or an aging certificate gets a new certificate, and the node switches role
//   in place; a removed node stops, saying so.
// - every node (managers too) runs the worker agent with the Docker executor,
//   and keeps a session with the leader's dispatcher (src/worker/session.ts);
//   while no Docker engine answers, the agent waits and the node takes no tasks.
// - every node serves its Prometheus metrics on its HTTP listener (http.ts,
//   metrics.ts), bound before anything else starts.
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { rm } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { loadCaProto, loadManagerProto } from '../api/proto.js';
import { createCSR, generateNodeKey, needsRenewal, parseNodeCert, type NodeRole } from '../manager/ca/ca.js';
import { channelCredentials, NODE_CHANNEL_OPTIONS, NodeCertificateProvider } from '../manager/ca/tls.js';
import { Manager } from '../manager/manager.js';
import { DataKeyring } from '../manager/encryption/keyring.js';
import { waitForUnlock } from './locked.js';
import type { ca, manager } from '../api/wire.js';
import { isServiceError, unary } from '../manager/peer-clients.js';
import type { NodeDescription } from '../api/objects.js';
import { Agent } from '../worker/agent.js';
import { DockerExecutor } from '../worker/exec/docker/docker-executor.js';
import { connectEngine } from '../worker/exec/docker/engine.js';
import { ManagerSession } from '../worker/session.js';
import { LogPublisher } from '../worker/log-publisher.js';
import { NodeMesh } from '../network/mesh.js';
import { ClientNetworks } from '../network/client-networks.js';
import { defaultMetricsAddr, defaultPublishAddr, splitHostPort } from '../common/address.js';
import { timedExecutor } from '../worker/exec/timed.js';
import { HttpListener, HttpRouter } from './http.js';
import { WebConsole } from '../console/server/console.js';
import { DaemonMetrics } from './metrics.js';
import { dataDirPaths, loadState, loadTls, saveState, saveTls, type NodeState } from './state.js';

export interface DaemonOptions {
  dataDir: string;
  logger?: Logger;
  /** How often the node asks a manager what the cluster says of it (default 5 s). */
  nodeStatusIntervalMs?: number;
  /** Raft tick (default: RaftNode's). */
  tickMs?: number;
  /** Internal, for init: this manager founds a new cluster. */
  bootstrap?: boolean;
  /** Run the worker agent (default true). */
  agent?: boolean;
  /** Where to serve /metrics, overriding node.json's (tests: port 0); '' for nowhere. */
  metricsAddr?: string;
}

export interface DaemonEvents {
  /** The daemon stopped by itself (e.g. the node was removed); the process should exit with `code`. */
  exit: [code: number, reason: string];
  'role-change': [role: NodeRole];
}

const CALL_TIMEOUT_MS = 5_000;
const ENGINE_RETRY_MS = 2_000;

export class Daemon extends EventEmitter<DaemonEvents> {
  manager: Manager | null = null;
  private statusTimer: NodeJS.Timeout | null = null;
  private joinTimer: NodeJS.Timeout | null = null;
  private checking: Promise<void> | null = null;
  private stopped = false;
  private readonly log?: Logger;
  private readonly clients = new Map<string, grpc.Client>();
  agent: Agent | null = null;
  session: ManagerSession | null = null;
  /** This node's data plane (routing mesh, virtual IPs, DNS for containers). */
  mesh: NodeMesh | null = null;
  /** Reads this node's containers' logs for the leader's log subscriptions (`service logs`). */
  private logs: LogPublisher | null = null;
  private agentTimer: NodeJS.Timeout | null = null;
  /** The node's HTTP routes (GET /metrics; the console adds its own on managers). */
  readonly router = new HttpRouter();
  /** The HTTP listener; null when metrics are off (--metrics-addr off). */
  http: HttpListener | null = null;
  private metrics: DaemonMetrics | null = null;
  /** Stops the metrics' follow of the current manager's store. */
  private unfollowManager: (() => void) | null = null;
  /** The web console (managers with an HTTP listener), and the function that takes its routes away. */
  private console: { web: WebConsole; unroute: () => void } | null = null;

  private constructor(
    private readonly o: DaemonOptions,
    public state: NodeState,
    readonly tls: NodeCertificateProvider,
  ) {
    super();
    this.log = o.logger?.child({ component: 'daemon', nodeId: state.nodeId });
  }

  static async start(o: DaemonOptions): Promise<Daemon> {
    const state = await loadState(o.dataDir);
    const tls = new NodeCertificateProvider(await loadTls(o.dataDir));
    const id = tls.identity();
    if (id.nodeId !== state.nodeId || id.clusterId !== state.clusterId) {
      throw new Error(`the certificate in ${o.dataDir} is for node ${id.nodeId} of cluster ${id.clusterId}, not node ${state.nodeId}: the data dir is damaged`);
    }
    const d = new Daemon(o, { ...state, role: id.role }, tls);
    await d.startMetrics();
    try {
      if (id.role === 'manager') await d.startManager(o.bootstrap ?? false);
    } catch (err) {
      await d.http?.close();
      throw err;
    }
    d.statusTimer = setInterval(() => void d.checkNodeStatus(), o.nodeStatusIntervalMs ?? 5_000);
    if (o.agent !== false) void d.startAgent();
    d.log?.info({ role: id.role, cluster: state.clusterId }, 'node started');
    return d;
  }

  get nodeId(): string {
    return this.state.nodeId;
  }

  /**
   * Where this node binds published ports: the operator's --publish-addr, else its own address when that is a
   * loopback one (several nodes on one host each bind their own), else every address.
   */
  private publishAddr(dataAddr: string): string {
    return this.state.publishAddr ?? defaultPublishAddr(dataAddr);
  }

  /** Bind the HTTP listener first: a node that cannot serve its metrics says so at once and starts nothing. */
  private async startMetrics(): Promise<void> {
    const addr = this.o.metricsAddr ?? this.state.metricsAddr ?? defaultMetricsAddr(splitHostPort(this.state.advertiseAddr)?.host ?? '');
    if (addr === '') return;
    const metrics = new DaemonMetrics({
      manager: () => this.manager,
      agent: () => this.agent,
      node: () => ({ id: this.nodeId, role: this.state.role }),
    });
    this.router.route('GET', '/metrics', async (_req, res) => {
      const { contentType, body } = await metrics.scrape();
      res.writeHead(200, { 'Content-Type': contentType }).end(body);
    });
    this.http = await HttpListener.listen(addr, this.router, this.log);
    this.metrics = metrics;
    this.log?.info({ metrics: `http://${this.http.address}/metrics` }, 'serving metrics');
  }

  private async startManager(bootstrap: boolean): Promise<void> {
    const p = dataDirPaths(this.o.dataDir);
    const peers = new Map(this.state.managers.filter((m) => m.id !== this.state.nodeId).map((m) => [m.id, m.address] as [string, string]));
    const keyring = await openKeyring(p.keys, p.controlSocket, this.o.logger);
    this.manager = await Manager.start({
      nodeId: this.state.nodeId,
      clusterId: this.state.clusterId,
      raftDir: p.raft,
      keyring,
      listenAddr: this.state.listenAddr,
      advertiseAddr: this.state.advertiseAddr,
      controlSocket: p.controlSocket,
      tls: this.tls,
      bootstrap,
      peers,
      tickMs: this.o.tickMs,
      logger: this.o.logger,
      metrics: this.metrics?.manager,
    });
    this.unfollowManager = this.metrics?.followManager(this.manager) ?? null;
    this.startConsole(this.manager, p.controlSocket);
    this.manager.onRemoved(() => {
      this.log?.warn('this manager was taken out of the Raft group; asking the cluster what it is now');
      void this.checkNodeStatus();
    });
    if (!bootstrap) this.ensureInRaft();
  }

  /**
   * The web console under /console/ of the HTTP listener, on a manager only
   * (it reads and acts through this manager's Control socket); `flotilla
   * console` gets its login links from the manager (Control.ConsoleLogin).
   */
  private startConsole(m: Manager, controlSocket: string): void {
    if (!this.http || this.console) return;
    const hp = splitHostPort(this.http.address);
    // A listener on every address is reached at the node's own address.
    const wildcard = !hp || hp.host === '0.0.0.0' || hp.host === '[::]' || hp.host === '::';
    const host = wildcard ? (splitHostPort(this.state.advertiseAddr)?.host ?? '127.0.0.1') : hp.host;
    const web = new WebConsole({
      controlSocket,
      baseUrl: `http://${host}:${hp?.port ?? ''}`,
      node: { id: this.nodeId, hostname: hostname() },
      log: this.o.logger?.child({ component: 'console', nodeId: this.nodeId }),
    });
    const unroute = this.router.routePrefix('/console', (req, res) => web.handle(req, res));
    m.consoleLogin = () => web.mintLogin();
    this.console = { web, unroute };
    this.log?.info({ console: web.consoleUrl }, 'serving the web console');
  }

  private stopConsole(): void {
    this.console?.unroute();
    this.console?.web.close();
    this.console = null;
  }

  /** The agent and its session with the leader; retried while the Docker engine does not answer. */
  private async startAgent(): Promise<void> {
    if (this.stopped || this.agent) return;
    const logger = this.o.logger;
    const docker = connectEngine();
    const dataAddr = splitHostPort(this.state.advertiseAddr)?.host ?? '127.0.0.1';
    let engineId = '';
    const mesh = new NodeMesh({
      nodeId: this.nodeId,
      publishAddr: this.publishAddr(dataAddr),
      engineId: () => engineId,
      clientNetworks: (address) => clientNetworks.of(address),
      onNetworks: (ids) => void executor.pruneNetworks(this.state.clusterId, ids),
      logger,
    });
    const clientNetworks = new ClientNetworks(docker, this.state.clusterId);
    const executor = new DockerExecutor({ docker, logger, nodeId: this.nodeId, dataPlane: () => ({ dataAddr, dnsServer: mesh.dnsServer }) });
    const metrics = this.metrics;
    const session: ManagerSession = new ManagerSession({
      credentials: channelCredentials(this.tls),
      channelOptions: NODE_CHANNEL_OPTIONS,
      managers: this.state.managers,
      assign: (tasks, files): Promise<void> => agent.assign(tasks, files),
      assignChanges: (changed, removed, files): Promise<void> => agent.assignChanges(changed, removed, files),
      describe: (): Promise<NodeDescription> => agent.describe(),
      onDataPlane: (plane) => void mesh.apply(plane),
      onLogSubscriptions: (added, cancelled) => logs.apply(added, cancelled),
      onManagers: (managers) => {
        this.state = { ...this.state, managers };
        void saveState(this.o.dataDir, this.state).catch(() => undefined);
      },
      logger: logger?.child({ nodeId: this.nodeId }),
    });
    const logs = new LogPublisher({ executor, open: (answered) => session.publishLogs(answered), logger: logger?.child({ nodeId: this.nodeId }) });
    const agent: Agent = new Agent({
      executor: metrics ? timedExecutor(executor, metrics.executorCall) : executor,
      nodeId: this.nodeId,
      clusterId: this.state.clusterId,
      reporter: session.report,
      logger,
      metrics: metrics?.agent,
    });
    try {
      await agent.start();
      engineId = (await executor.describe()).engineId ?? '';
    } catch (err) {
      this.log?.error({ err: String(err) }, 'the Docker engine does not answer: this node takes no tasks until it does');
      if (!this.stopped) this.agentTimer = setTimeout(() => void this.startAgent(), ENGINE_RETRY_MS);
      return;
    }
    if (this.stopped) {
      await agent.stop();
      return;
    }
    this.agent = agent;
    this.session = session;
    this.mesh = mesh;
    this.logs = logs;
    session.start();
  }

  /** Until the Raft group lists this manager, ask the leader to add it (JoinRaft is idempotent). */
  private ensureInRaft(): void {
    const attempt = async (): Promise<void> => {
      const m = this.manager;
      if (!m || this.stopped) return;
      const st = m.rs.status();
      if (st.conf.voters.includes(this.nodeId) || st.conf.learners.includes(this.nodeId)) return;
      const targets = [m.rs.leader().address, ...this.state.managers.map((x) => x.address)].filter((a) => a && a !== this.state.advertiseAddr);
      for (const addr of new Set(targets)) {
        try {
          await unary<manager.JoinRaftRequest, manager.JoinRaftResponse__Output>(this.client('manager', addr), 'JoinRaft', { address: this.state.advertiseAddr }, { deadlineMs: 15_000 });
          this.log?.info({ via: addr }, 'joined the Raft group as a learner');
          return;
        } catch (err) {
          const hint = isServiceError(err) ? err.metadata.get('leader-address')[0] : undefined;
          if (typeof hint === 'string' && hint) {
            try {
              await unary<manager.JoinRaftRequest, manager.JoinRaftResponse__Output>(this.client('manager', hint), 'JoinRaft', { address: this.state.advertiseAddr }, { deadlineMs: 15_000 });
              return;
            } catch {
              /* try the next manager */
            }
          }
          this.log?.debug({ via: addr, err: String(err) }, 'JoinRaft failed; trying another manager');
        }
      }
      if (!this.stopped) this.joinTimer = setTimeout(() => void attempt(), 500);
    };
    void attempt();
  }

  /** Ask the cluster what it says of this node, and act on it. Runs one at a time. */
  checkNodeStatus(): Promise<void> {
    this.checking ??= this.doCheckNodeStatus().finally(() => {
      this.checking = null;
    });
    return this.checking;
  }

  private async doCheckNodeStatus(): Promise<void> {
    if (this.stopped) return;
    let status: ca.NodeStatusResponse__Output | null = null;
    let via = '';
    for (const addr of this.managerAddresses()) {
      try {
        status = await unary(this.client('ca', addr), 'NodeStatus', {}, { deadlineMs: CALL_TIMEOUT_MS });
        via = addr;
        break;
      } catch (err) {
        this.log?.debug({ via: addr, err: String(err) }, 'NodeStatus failed; trying another manager');
      }
    }
    if (!status || this.stopped) return;
    if (status.removed) {
      this.log?.error('this node was removed from the cluster');
      await this.stop();
      this.emit('exit', 1, `this node (${this.nodeId}) was removed from the cluster: to join again, remove ${this.o.dataDir} and run \`flotilla join\``);
      return;
    }
    const managers = status.managers.filter((m) => m.address);
    if (managers.length > 0 && JSON.stringify(managers) !== JSON.stringify(this.state.managers)) {
      this.state = { ...this.state, managers };
      await saveState(this.o.dataDir, this.state);
    }
    const role = status.role === 'manager' ? 'manager' : 'worker';
    const current = this.tls.identity().role;
    if (role !== current || needsRenewal(this.tls.current.certPem)) await this.renew(via);
  }

  /** Get a new certificate (new key) with the role the cluster gives this node; switch role if it changed. */
  private async renew(via: string): Promise<void> {
    const keyPem = generateNodeKey();
    const csrPem = await createCSR(keyPem);
    const res = await unary<ca.IssueRequest, ca.IssueResponse__Output>(
      this.client('ca', via),
      'IssueNodeCertificate',
      { csrPem, token: '', advertiseAddr: this.state.advertiseAddr, hostname: hostname() },
      { deadlineMs: CALL_TIMEOUT_MS },
    );
    const id = parseNodeCert(res.certPem);
    if (id.nodeId !== this.nodeId) throw new Error(`the CA issued a certificate for ${id.nodeId}, not ${this.nodeId}`);
    const material = { caCertPem: res.rootCaPem, certPem: res.certPem, keyPem };
    await saveTls(this.o.dataDir, material);
    const before = this.state.role;
    this.tls.update(material);
    this.state = { ...this.state, role: id.role };
    await saveState(this.o.dataDir, this.state);
    this.log?.info({ role: id.role, notAfter: id.notAfter.toISOString() }, 'certificate renewed');
    if (id.role !== before) await this.switchRole(id.role);
  }

  private async switchRole(role: NodeRole): Promise<void> {
    this.log?.info({ role }, 'switching role');
    if (role === 'manager' && !this.manager) {
      await this.startManager(false);
    } else if (role === 'worker' && this.manager) {
      const m = this.manager;
      this.manager = null;
      this.stopFollowingManager();
      this.stopConsole();
      await m.stop();
      // A demoted manager's log is of no use: promoted again, it joins as a fresh learner, with new data keys.
      // The log first: keys without a log are harmless, a sealed log without its keys is not.
      const p = dataDirPaths(this.o.dataDir);
      await rm(p.raft, { recursive: true, force: true });
      await rm(p.keys, { recursive: true, force: true });
    }
    this.emit('role-change', role);
  }

  /** Where to ask the cluster about this node: other managers first (this one's store may be stale if it was just removed). */
  private managerAddresses(): string[] {
    const others = this.state.managers.map((m) => m.address).filter((a) => a && a !== this.state.advertiseAddr);
    const self = this.manager ? [this.state.advertiseAddr] : [];
    return [...new Set([...others, ...self])];
  }

  private client(kind: 'ca' | 'manager', address: string): grpc.Client {
    const key = `${kind}|${address}`;
    let c = this.clients.get(key);
    if (!c) {
      const Ctor = kind === 'ca' ? loadCaProto().Client : loadManagerProto().Client;
      c = new Ctor(address, channelCredentials(this.tls), NODE_CHANNEL_OPTIONS);
      this.clients.set(key, c);
    }
    return c;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.statusTimer) clearInterval(this.statusTimer);
    if (this.joinTimer) clearTimeout(this.joinTimer);
    if (this.agentTimer) clearTimeout(this.agentTimer);
    this.logs?.stop();
    this.session?.stop();
    await this.agent?.stop();
    await this.mesh?.close();
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
    const m = this.manager;
    this.manager = null;
    this.stopFollowingManager();
    this.stopConsole();
    await m?.stop();
    await this.http?.close();
  }

  private stopFollowingManager(): void {
    this.unfollowManager?.();
    this.unfollowManager = null;
  }
}

/**
 * The data key ring of this node's manager, created (protected by a node key)
 * when there is none: a new manager (init, join, promotion), or one from
 * before encryption at rest (its plaintext Raft data is encrypted at start).
 */
async function openKeyring(keysDir: string, controlSocket: string, logger: Logger | undefined): Promise<DataKeyring> {
  const loaded = await DataKeyring.load(keysDir, logger);
  if (loaded === null) return DataKeyring.create(keysDir, { kind: 'node' }, logger);
  if (!loaded.locked) return loaded.keyring;
  // Autolock: the ring is wrapped by the cluster's unlock key. Nothing of the manager (nor the agent) starts until
  // the operator gives it (`flotilla unlock`, on the local control socket).
  const keyring = await waitForUnlock({ socket: controlSocket, unlock: (key) => loaded.unlock(key), log: logger?.child({ component: 'locked' }) });
  logger?.info('manager unlocked');
  return keyring;
}
