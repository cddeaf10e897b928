// The cluster store, replicated: every write is a transaction proposed through
// Raft and applied by every manager in log order; reads are served from the
// local copy, made linearizable on demand with barrier() (ReadIndex).
// One per manager. The daemon adds raftService() to its gRPC server.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { RecordCipher } from '../raft/cipher.js';
import { RaftNode, type RaftMetrics, type RaftNodeOptions } from '../raft/node.js';
import { RaftStorage } from '../raft/storage.js';
import { RaftTransport } from '../raft/transport.js';
import type { NodeId, Status } from '../raft/types.js';
import { ClusterStore, encodeTx, unwrapTx, type Action, type TxResult } from './store/store.js';
import type { StoreObject } from '../api/objects.js';

export interface ReplicatedStoreOptions {
  id: NodeId;
  /** host:port where peers reach this manager's gRPC server. */
  address: string;
  dataDir: string;
  /** Seals the Raft entries and snapshots on disk (a manager's DataKeyring.cipher); absent: plaintext. */
  cipher?: RecordCipher;
  /** Founding managers (id -> address) of a new cluster; ignored once the data dir holds state. */
  bootstrap?: Map<NodeId, string>;
  /** Known managers (id -> address), e.g. from a join response. */
  peers?: Map<NodeId, string>;
  tickMs?: number;
  /** Raft settings for this manager (default: the daemon's MANAGER_RAFT). */
  raft?: RaftNodeOptions<TxResult>['raft'];
  snapshotEvery?: number;
  /** Credentials for connections to other managers (mTLS in the daemon; insecure by default). */
  channelCredentials?: grpc.ChannelCredentials;
  /** Extra options for the channels to other managers. */
  channelOptions?: grpc.ChannelOptions;
  logger?: Logger;
  /** The daemon's metrics (src/manager/metrics.ts). */
  metrics?: { raft: RaftMetrics; storeWrite(seconds: number): void };
}

export class ReplicatedStore {
  readonly store: ClusterStore;
  readonly raft: RaftNode<TxResult>;
  private readonly storage: RaftStorage;
  private readonly transport: RaftTransport;
  private readonly metrics?: ReplicatedStoreOptions['metrics'];

  private constructor(store: ClusterStore, raft: RaftNode<TxResult>, storage: RaftStorage, transport: RaftTransport, metrics?: ReplicatedStoreOptions['metrics']) {
    this.metrics = metrics;
    this.store = store;
    this.raft = raft;
    this.storage = storage;
    this.transport = transport;
  }

  /** Open the manager's Raft state from its data dir (creating it for a founding manager) and start. */
  static async open(o: ReplicatedStoreOptions): Promise<ReplicatedStore> {
    const log = o.logger?.child({ component: 'replicated-store', nodeId: o.id });
    const storage = await RaftStorage.open(o.dataDir, { logger: o.logger, cipher: o.cipher });
    const store = new ClusterStore({ logger: log });
    let raft: RaftNode<TxResult> | null = null;
    const transport = new RaftTransport(
      { id: o.id, logger: o.logger, credentials: o.channelCredentials, channelOptions: o.channelOptions },
      {
        onMessages: (ms) => raft?.receive(ms),
        onUnreachable: (peer) => raft?.reportUnreachable(peer),
        onSnapshotStatus: (peer, ok) => raft?.reportSnapshot(peer, ok),
      },
    );
    try {
      raft = RaftNode.start<TxResult>({
        id: o.id,
        address: o.address,
        storage,
        transport,
        stateMachine: store,
        bootstrap: o.bootstrap,
        peers: o.peers,
        tickMs: o.tickMs,
        raft: o.raft,
        snapshotEvery: o.snapshotEvery,
        logger: o.logger,
        metrics: o.metrics?.raft,
      });
    } catch (err) {
      await transport.stop();
      await storage.close();
      throw err;
    }
    return new ReplicatedStore(store, raft, storage, transport, o.metrics);
  }

  /** The Raft service for the daemon's shared gRPC server. */
  raftService(): { definition: grpc.ServiceDefinition; implementation: grpc.UntypedServiceImplementation } {
    return this.transport.service();
  }

  /**
   * Commit a transaction (all actions or none) and return the objects as
   * stored. Throws the store's typed errors (ValidationError,
   * NameConflictError, VersionConflictError, NotFoundError) or Raft's
   * (NotLeaderError with the leader's address, timeouts, stopped).
   */
  async write(actions: readonly Action[], opts: { timeoutMs?: number } = {}): Promise<StoreObject[]> {
    const started = performance.now();
    try {
      const result = await this.raft.propose(encodeTx(actions), { timeoutMs: opts.timeoutMs ?? 10_000 });
      return unwrapTx(result);
    } finally {
      this.metrics?.storeWrite((performance.now() - started) / 1000);
    }
  }

  /** After this resolves, local reads reflect every write committed before it was called. */
  barrier(opts: { timeoutMs?: number } = {}): Promise<void> {
    return this.raft.read({ timeoutMs: opts.timeoutMs ?? 5_000 });
  }

  isLeader(): boolean {
    return this.raft.status().role === 'leader';
  }

  /** The current leader's id and address ('' when unknown). */
  leader(): { id: NodeId; address: string } {
    const st = this.raft.status();
    return { id: st.leader, address: st.leader ? this.raft.addressOf(st.leader) : '' };
  }

  /** Raft's status, with the members' addresses. */
  status(): Status & { addresses: Record<NodeId, string> } {
    return this.raft.status();
  }

  /**
   * Re-seal every stored entry and the snapshot with the cipher's current key
   * (a data key rotation), in the storage's queue of writes, beside Raft's.
   */
  reencrypt(): Promise<void> {
    return this.storage.reencrypt();
  }

  async close(): Promise<void> {
    await this.raft.stop();
    await this.transport.stop();
    await this.storage.close();
  }
}
