// The process-level test fixture: one Raft node (LevelDB storage, gRPC
// transport) serving the replicated KV of src/testing/kv.ts over gRPC, all on
// one port. Started by the fault harness as a real process, killed with -9,
// stopped with SIGSTOP, cut off with iptables. Not the product.
//
//   node dist/src/testing/raftkv/server.js --id n1 --listen 127.0.0.2:7001 \
//     --data-dir DIR --bootstrap n1=127.0.0.2:7001,n2=127.0.0.3:7001,n3=127.0.0.4:7001 [--encrypt]
//
// --encrypt: seal the Raft entries and snapshots as a manager does, with a
// data key ring (kind 'node') in DIR/keys, created on first start.
//
// Prints `ready <id> <address>` on stdout once it serves; logs JSON to stderr.
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { pino, type Logger } from 'pino';
import { KvStore, decodeCommand, encodeCommand, type KvCommand, type KvResult, type WriteOp } from '../kv.js';
import { NotLeaderError, ProposalDroppedError, InvalidRequestError } from '../../raft/errors.js';
import { RaftNode, RaftStoppedError, RaftTimeoutError, ProposalLostError, type StateMachine } from '../../raft/node.js';
import { RaftStorage } from '../../raft/storage.js';
import { DataKeyring } from '../../manager/encryption/keyring.js';
import { RaftTransport, raftServerOptions } from '../../raft/transport.js';
import type { NodeId } from '../../raft/types.js';
import { loadKvTestService, type KvTestHandlers } from './proto.js';

export interface ServerArgs {
  id: NodeId;
  listen: string;
  dataDir: string;
  bootstrap: Map<NodeId, string>;
  join: boolean;
  tickMs: number;
  snapshotEvery: number;
  /** Seal what is stored with a data key ring in dataDir/keys. */
  encrypt: boolean;
}

export class UsageError extends Error {}

export function parseServerArgs(argv: string[]): ServerArgs {
  const a: Partial<ServerArgs> = { bootstrap: new Map(), join: false, tickMs: 100, snapshotEvery: 10_000, encrypt: false };
  const need = (flag: string, v: string | undefined): string => {
    if (!v || v.startsWith('--')) throw new UsageError(`${flag} needs a value`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i];
    switch (f) {
      case '--id':
        a.id = need(f, argv[++i]);
        break;
      case '--listen':
        a.listen = need(f, argv[++i]);
        break;
      case '--data-dir':
        a.dataDir = need(f, argv[++i]);
        break;
      case '--bootstrap':
        for (const part of need(f, argv[++i]).split(',')) {
          const [id, addr] = part.split('=');
          if (!id || !addr || !/^[^:]+:\d+$/.test(addr)) throw new UsageError(`--bootstrap: "${part}" is not id=host:port`);
          a.bootstrap!.set(id, addr);
        }
        break;
      case '--join':
        a.join = true;
        break;
      case '--encrypt':
        a.encrypt = true;
        break;
      case '--tick-ms':
        a.tickMs = Number(need(f, argv[++i]));
        if (!Number.isInteger(a.tickMs) || a.tickMs < 1) throw new UsageError('--tick-ms must be a positive integer');
        break;
      case '--snapshot-every':
        a.snapshotEvery = Number(need(f, argv[++i]));
        if (!Number.isInteger(a.snapshotEvery) || a.snapshotEvery < 1) throw new UsageError('--snapshot-every must be a positive integer');
        break;
      default:
        throw new UsageError(`unknown option ${f}`);
    }
  }
  if (!a.id) throw new UsageError('--id is required');
  if (!a.listen || !/^[^:]+:\d+$/.test(a.listen)) throw new UsageError('--listen host:port is required');
  if (!a.dataDir) throw new UsageError('--data-dir is required');
  if (!a.join && !a.bootstrap!.has(a.id)) throw new UsageError('--bootstrap must list this node (or pass --join)');
  return a as ServerArgs;
}

/** What a write returns: the KV's answer and the log index it was applied at. */
type Applied = KvResult & { index: number };

/** The KV store as Raft's state machine. */
class KvMachine implements StateMachine<Applied> {
  kv = new KvStore();
  apply(data: Uint8Array, index: number): Applied {
    return { ...this.kv.apply(index, decodeCommand(data)), index };
  }
  snapshot(): Uint8Array {
    return this.kv.serialize();
  }
  restore(data: Uint8Array): void {
    this.kv = KvStore.restore(data);
  }
}

/** Map an error to a gRPC status; NotLeader carries the leader in trailing metadata for the client to follow. */
function toStatus(err: unknown): Partial<grpc.StatusObject> {
  const md = new grpc.Metadata();
  if (err instanceof NotLeaderError) {
    md.set('leader-id', err.leader);
    if (err.leaderAddress) md.set('leader-address', err.leaderAddress);
    return { code: grpc.status.FAILED_PRECONDITION, details: err.message, metadata: md };
  }
  if (err instanceof RaftTimeoutError) return { code: grpc.status.DEADLINE_EXCEEDED, details: err.message };
  if (err instanceof ProposalLostError || err instanceof ProposalDroppedError) return { code: grpc.status.ABORTED, details: err.message };
  if (err instanceof InvalidRequestError) return { code: grpc.status.INVALID_ARGUMENT, details: err.message };
  if (err instanceof RaftStoppedError) return { code: grpc.status.UNAVAILABLE, details: err.message };
  return { code: grpc.status.INTERNAL, details: err instanceof Error ? err.message : String(err) };
}

function invalid(details: string): Partial<grpc.StatusObject> {
  return { code: grpc.status.INVALID_ARGUMENT, details };
}

export async function runServer(args: ServerArgs, log: Logger): Promise<{ stop: () => Promise<void>; node: RaftNode<Applied> }> {
  let cipher: DataKeyring['cipher'] | undefined;
  if (args.encrypt) {
    const keysDir = join(args.dataDir, 'keys');
    const loaded = await DataKeyring.load(keysDir, log);
    if (loaded?.locked) throw new Error(`${keysDir} is protected by an unlock key: not supported here`);
    const keyring = loaded ? loaded.keyring : await DataKeyring.create(keysDir, { kind: 'node' }, log);
    cipher = keyring.cipher;
  }
  const storage = await RaftStorage.open(args.dataDir, { logger: log, cipher });
  const sm = new KvMachine();
  let node: RaftNode<Applied> | null = null;
  const transport = new RaftTransport(
    { id: args.id, logger: log },
    {
      onMessages: (ms) => node?.receive(ms),
      onUnreachable: (peer) => node?.reportUnreachable(peer),
      onSnapshotStatus: (peer, ok) => node?.reportSnapshot(peer, ok),
    },
  );
  node = RaftNode.start<Applied>({
    id: args.id,
    address: args.listen,
    storage,
    transport,
    stateMachine: sm,
    bootstrap: args.join ? undefined : args.bootstrap,
    peers: args.bootstrap,
    tickMs: args.tickMs,
    snapshotEvery: args.snapshotEvery,
    logger: log,
  });
  const n = node;
  const handlers: KvTestHandlers = {
    write: async (req) => {
      const s = req.session;
      if (!s || !s.client || !Number.isSafeInteger(s.seq) || s.seq < 1) throw invalid('session.client and session.seq >= 1 are required');
      if (!['put', 'append', 'cas'].includes(req.op)) throw invalid(`op must be put, append or cas, not "${req.op}"`);
      if (!req.key) throw invalid('key is required');
      const cmd: KvCommand = { client: s.client, seq: s.seq, f: req.op as WriteOp, key: req.key, value: req.value, expected: req.op === 'cas' && req.hasExpected ? req.expected : null };
      try {
        const r = await n.propose(encodeCommand(cmd), { timeoutMs: 5000 });
        return { ok: r.ok, index: r.index };
      } catch (err) {
        throw toStatus(err);
      }
    },
    get: async (req) => {
      if (!req.key) throw invalid('key is required');
      try {
        await n.read({ timeoutMs: 5000 });
      } catch (err) {
        throw toStatus(err);
      }
      const v = sm.kv.get(req.key);
      return { found: v !== null, value: v ?? '' };
    },
    status: async () => {
      const st = n.status();
      return {
        id: st.id,
        role: st.role,
        term: st.term,
        leader: st.leader,
        leaderAddress: st.leader ? (st.addresses[st.leader] ?? '') : '',
        commit: st.commit,
        applied: st.applied,
        voters: st.conf.voters,
        learners: st.conf.learners,
      };
    },
    member: async (req) => {
      try {
        switch (req.action) {
          case 'add-learner':
            if (!req.id || !/^[^:]+:\d+$/.test(req.address)) throw invalid('add-learner needs id and address host:port');
            await n.addLearner(req.id, req.address);
            break;
          case 'promote':
            await n.promote(req.id);
            break;
          case 'remove':
            await n.removeMember(req.id);
            break;
          case 'transfer':
            n.transferLeadership(req.id);
            break;
          default:
            throw invalid(`action must be add-learner, promote, remove or transfer, not "${req.action}"`);
        }
        return {};
      } catch (err) {
        if (typeof err === 'object' && err !== null && 'code' in err) throw err;
        throw toStatus(err);
      }
    },
  };
  // raftServerOptions() carries the strict wire interceptor the services' request deserializers need.
  const server = new grpc.Server(raftServerOptions());
  const raft = transport.service();
  server.addService(raft.definition, raft.implementation);
  const kv = loadKvTestService(handlers);
  server.addService(kv.definition, kv.implementation);
  await new Promise<void>((resolve, reject) => {
    server.bindAsync(args.listen, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve()));
  });
  node.on('removed', () => log.warn('this node was removed from the cluster'));
  const stop = async (): Promise<void> => {
    await n.stop();
    await new Promise<void>((r) => server.tryShutdown(() => r()));
    await transport.stop();
    await storage.close();
  };
  return { stop, node: n };
}

async function main(): Promise<void> {
  let args: ServerArgs;
  try {
    args = parseServerArgs(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`raftkv-server: ${err.message}\n`);
    process.exitCode = 2;
    return;
  }
  const log = pino({ level: process.env.LOG_LEVEL ?? 'warn', base: { nodeId: args.id } }, pino.destination(2));
  const { stop } = await runServer(args, log);
  process.stdout.write(`ready ${args.id} ${args.listen}\n`);
  const shutdown = (): void => {
    void stop().finally(() => process.exit(0));
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

if (process.argv[1] && new URL(import.meta.url).pathname === process.argv[1]) {
  main().catch((err: unknown) => {
    process.stderr.write(`raftkv-server: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
