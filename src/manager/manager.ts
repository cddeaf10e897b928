// A manager: the replicated store on Raft, and the gRPC services on top of it.
// - TCP (mutual TLS, one port): Raft, Manager (forwarded writes, JoinRaft),
//   CA (open: joins and renewals), Control (forwarded to the leader by
//   followers). The authorizer checks the caller's role on every call.
// - A unix socket in the data dir (mode 0600): Control, for the local CLI.
// - On the leader: the membership reconciler.
// The daemon (src/daemon) creates it from the node's data dir and stops it
// when the node is demoted or removed.
import { chmod, rm } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { withStrictWire } from '../common/strict-wire.js';
import { raftServerOptions } from '../raft/transport.js';
import type { NodeId } from '../raft/types.js';
import { Dispatcher } from './dispatcher/dispatcher.js';
import { dispatcherServerDefinition } from './dispatcher/session-encoding.js';
import { dispatcherImplementation } from './dispatcher/service.js';
import { loadCaProto, loadControlProto, loadDispatcherProto, loadManagerProto } from '../api/proto.js';
import { authorizer, nodeCallRefusal, type AuthorizerOptions } from './authz.js';
import { CaService, caServiceImplementation } from './ca/service.js';
import { channelCredentials, NODE_CHANNEL_OPTIONS, serverCredentials, type NodeCertificateProvider } from './ca/tls.js';
import { controlImplementation, statusOf } from './controlapi/proxy.js';
import { ControlService } from './controlapi/service.js';
import type { ControllerContext, LeaderController } from './controller.js';
import { handOffLeadership } from './handoff.js';
import { LeaderControllers } from './leadership.js';
import { LeaderWriter } from './leader-writer.js';
import { ManagerService, managerServiceImplementation } from './manager-service.js';
import { MembershipReconciler } from './membership.js';
import { PeerClients } from './peer-clients.js';
import { ReplicatedStore } from './replicated-store.js';
import type { DataKeyring } from './encryption/keyring.js';
import { KeyProtectionFollower } from './encryption/protection.js';
import { createOrchestrators } from './orchestrator/index.js';
import { EventJournal } from './events/journal.js';
import { eventsHandler } from './events/stream.js';
import { Scheduler } from './scheduler/scheduler.js';
import { LogBroker } from './logbroker/broker.js';
import { subscribeLogsHandler } from './logbroker/service.js';
import type { Action } from './store/store.js';
import type { ManagerMetrics } from './metrics.js';

export interface ManagerOptions {
  nodeId: NodeId;
  clusterId: string;
  /** Where the Raft log and snapshots live. */
  raftDir: string;
  /** The data keys that seal the Raft log and snapshots on disk (encryption at rest is always on for a manager). */
  keyring: DataKeyring;
  /** host:port the TCP server binds (e.g. 0.0.0.0:4242). */
  listenAddr: string;
  /** host:port other nodes reach this manager at. */
  advertiseAddr: string;
  /** The unix socket for the local control API. */
  controlSocket: string;
  tls: NodeCertificateProvider;
  /** A new cluster: this manager is its only founding member. */
  bootstrap?: boolean;
  /** Known managers (e.g. from the join answer), so a fresh manager can reach the group. */
  peers?: Map<NodeId, string>;
  tickMs?: number;
  snapshotEvery?: number;
  /**
   * Keep the data key wrapped the way the cluster says (autolock; src/manager/encryption/protection.ts).
   * Default true; false for init's short-lived first manager, whose ring the daemon's manager then follows.
   */
  followKeyProtection?: boolean;
  logger?: Logger;
  /** The daemon's metrics (src/daemon/metrics.ts). */
  metrics?: ManagerMetrics;
}

/** What Control.ConsoleLogin answers. */
export interface ConsoleLink {
  consoleUrl: string;
  loginUrl: string;
  expiresAtMs: number;
}

const NO_CONSOLE = 'this manager serves no web console (its HTTP listener is off: --metrics-addr off): restart it with --metrics-addr HOST:PORT, or ask another manager';

export class Manager {
  private stopped = false;
  /** Re-wraps the data key as the cluster's autolock setting says. */
  protection: KeyProtectionFollower | null = null;
  /**
   * Mints a one-time login link to the web console this manager's daemon
   * serves (Control.ConsoleLogin, answered here, never forwarded); null while
   * it serves none. The daemon sets it: the manager knows nothing of HTTP.
   */
  consoleLogin: (() => ConsoleLink) | null = null;

  private constructor(
    readonly rs: ReplicatedStore,
    readonly writer: LeaderWriter,
    readonly ca: CaService,
    private readonly peers: PeerClients,
    private readonly server: grpc.Server,
    private readonly localServer: grpc.Server,
    private readonly reconciler: MembershipReconciler,
    readonly leaders: LeaderControllers,
    private readonly controlSocket: string,
    /** The data keys of this manager's Raft storage. */
    readonly keyring: DataKeyring,
    /** This manager's cluster events (`flotilla events`). */
    readonly events: EventJournal,
    private readonly log?: Logger,
  ) {}

  static async start(o: ManagerOptions): Promise<Manager> {
    const log = o.logger?.child({ component: 'manager', nodeId: o.nodeId });
    const creds = channelCredentials(o.tls);
    const rs = await ReplicatedStore.open({
      id: o.nodeId,
      address: o.advertiseAddr,
      dataDir: o.raftDir,
      cipher: o.keyring.cipher,
      bootstrap: o.bootstrap ? new Map([[o.nodeId, o.advertiseAddr]]) : undefined,
      peers: o.peers,
      channelCredentials: creds,
      channelOptions: NODE_CHANNEL_OPTIONS,
      tickMs: o.tickMs,
      // 2-4 s without a leader before an election (etcd: 1 s, SwarmKit: 10 s): a
      // manager whose event loop is busy applying a large transaction must not
      // lose its leadership for it, and a dead leader is still replaced quickly.
      // A backlog of committed transactions is applied about 1 MiB at a time,
      // with heartbeats and acknowledgements going out in between.
      raft: { electionTicks: 20, maxCommittedBytesPerReady: 1 << 20 },
      snapshotEvery: o.snapshotEvery,
      logger: o.logger,
      metrics: o.metrics,
    });
    if (o.keyring.rotating) {
      // A data key rotation was interrupted (kill -9, power loss): finish it before anything else.
      try {
        await o.keyring.finishRotation(() => rs.reencrypt());
      } catch (err) {
        await rs.close().catch(() => undefined);
        throw err;
      }
    }
    // Events from the store's watch, and the leader as this manager's Raft sees it.
    const events = new EventJournal(rs.store, Date.now, undefined, o.logger?.child({ component: 'events', nodeId: o.nodeId }));
    events.start();
    const onLeader = (leader: string, term: number): void => events.observeLeader({ leader, term });
    rs.raft.on('leader-change', onLeader);
    events.observeLeader({ leader: rs.status().leader, term: rs.status().term });
    const peers = new PeerClients(creds);
    const writer = new LeaderWriter(rs, peers, log);
    const ca = new CaService(rs, writer, () => o.tls.current.caCertPem, o.logger?.child({ component: 'ca', nodeId: o.nodeId }));
    const control = new ControlService(rs, writer, o.logger?.child({ component: 'control', nodeId: o.nodeId }));
    const toStatus = (err: unknown): Partial<grpc.StatusObject> => statusOf(err, rs);
    const managers = (): { id: string; address: string }[] => ca.managers();
    const leaders = new LeaderControllers(rs, (ctx) => leaderControllers(ctx, managers, o.nodeId, o.metrics), o.logger?.child({ nodeId: o.nodeId }));
    let self: Manager | null = null;
    const controlImpl = {
      ...controlImplementation({ service: control, rs, peers, log }),
      ConsoleLogin: (_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<ConsoleLink>) => {
        const mint = self?.consoleLogin;
        if (!mint) cb({ code: grpc.status.FAILED_PRECONDITION, details: NO_CONSOLE });
        else cb(null, mint());
      },
      Events: eventsHandler({ journal: events, log }),
      // Log streams: read by the leader's broker from the agents' sessions, relayed by the other managers (src/manager/logbroker).
      SubscribeLogs: subscribeLogsHandler({
        broker: () => leaders.get<LogBroker>('logbroker'),
        leaderAddress: () => rs.leader().address,
        selfAddress: o.advertiseAddr,
        peers,
        toStatus,
        log: o.logger?.child({ component: 'logbroker', nodeId: o.nodeId }),
      }),
    };

    const authz: AuthorizerOptions = {
      clusterId: o.clusterId,
      isRemoved: (id) => rs.store.list('cluster')[0]?.removedNodes.includes(id) ?? false,
      roleOf: (id) => rs.store.get('node', id)?.role,
    };
    // withStrictWire: malformed request bytes get INVALID_ARGUMENT, on every service (src/common/strict-wire.ts).
    const server = new grpc.Server(withStrictWire({ ...raftServerOptions(), interceptors: [authorizer(authz)] }, log));
    const raft = rs.raftService();
    server.addService(raft.definition, raft.implementation);
    server.addService(loadCaProto().service, caServiceImplementation(ca, toStatus));
    server.addService(loadManagerProto().service, managerServiceImplementation(new ManagerService(rs, log), toStatus));
    server.addService(loadControlProto().service, controlImpl);

    const localServer = new grpc.Server(withStrictWire({}, log));
    localServer.addService(loadControlProto().service, controlImpl);

    const reconciler = new MembershipReconciler(rs, log);
    server.addService(
      dispatcherServerDefinition(loadDispatcherProto().service),
      dispatcherImplementation({
        current: () => leaders.get<Dispatcher>('dispatcher'),
        logs: () => leaders.get<LogBroker>('logbroker'),
        leader: () => rs.leader(),
        toStatus,
        refuse: (peer) => nodeCallRefusal(peer, authz),
        log,
      }),
    );
    const m = new Manager(rs, writer, ca, peers, server, localServer, reconciler, leaders, o.controlSocket, o.keyring, events, log);
    self = m;
    try {
      await bind(server, o.listenAddr, serverCredentials(o.tls));
      // A socket left by a daemon that was killed would make the bind fail.
      await rm(o.controlSocket, { force: true });
      await bind(localServer, `unix:${o.controlSocket}`, grpc.ServerCredentials.createInsecure());
      await chmod(o.controlSocket, 0o600);
    } catch (err) {
      await m.stop();
      throw err;
    }
    reconciler.start();
    leaders.start();
    if (o.followKeyProtection !== false) {
      m.protection = new KeyProtectionFollower(rs.store, o.keyring, () => rs.reencrypt(), o.logger?.child({ component: 'key-protection', nodeId: o.nodeId }));
      m.protection.start();
    }
    log?.info({ listen: o.listenAddr, advertise: o.advertiseAddr, socket: o.controlSocket }, 'manager started');
    return m;
  }

  /** Write a transaction through the leader (from any manager). */
  write(actions: readonly Action[], opts: { timeoutMs?: number } = {}): ReturnType<LeaderWriter['write']> {
    return this.writer.write(actions, opts);
  }

  /**
   * Rotate the data key of this manager's Raft storage: a new key seals from
   * now on, everything stored is re-sealed with it, then the old key is
   * retired. Crash-safe at every step (src/manager/encryption/keyring.ts).
   */
  rotateDataKey(): Promise<void> {
    return this.keyring.rotate(() => this.rs.reencrypt());
  }

  /** Fires when this manager has been taken out of the Raft group (demoted or removed). */
  onRemoved(listener: () => void): void {
    this.rs.raft.on('removed', listener);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    // Before anything stops: the new leader must be able to reach this one's log.
    await handOffLeadership(this.rs.raft, this.log).catch(() => '');
    await this.protection?.stop();
    this.reconciler.stop();
    await this.leaders.stop();
    // Ends the event streams: the servers would otherwise wait for them.
    this.events.stop();
    await Promise.all([shutdown(this.server), shutdown(this.localServer)]);
    this.peers.close();
    await this.rs.close();
    await rm(this.controlSocket, { force: true });
  }
}

function bind(server: grpc.Server, address: string, creds: grpc.ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, creds, (err, port) => {
      if (err) reject(new Error(`cannot listen on ${address}: ${err.message}`));
      else resolve(port);
    });
  });
}

/** Graceful shutdown, forced after a short wait (long-lived Raft streams would hold it open). */
function shutdown(server: grpc.Server): Promise<void> {
  return new Promise((resolve) => {
    const force = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, 1_000);
    server.tryShutdown(() => {
      clearTimeout(force);
      resolve();
    });
  });
}

/** The controllers the leader runs. */
function leaderControllers(ctx: ControllerContext, managers: () => { id: string; address: string }[], localNodeId: string, metrics?: ManagerMetrics): LeaderController[] {
  const dispatcher = new Dispatcher({ ctx, managers, localNodeId, metrics: metrics?.dispatcher });
  return [dispatcher, new LogBroker({ ctx, sessions: () => (dispatcher.isRunning ? dispatcher : null) }), ...createOrchestrators(ctx), new Scheduler(ctx)];
}
