// Creating a node's data dir: `init` (a new cluster) and `join` (an existing
// one, with a token). Both write node.json last: until then the dir is not a
// node, and a failure removes what was written so the command can be re-run.
import { cpus, hostname, totalmem, networkInterfaces, platform, arch } from 'node:os';
import * as grpc from '@grpc/grpc-js';
import { splitHostPort, validPort } from '../common/address.js';
import type { Logger } from 'pino';
import { loadCaProto } from '../api/proto.js';
import { caDigest, createCSR, createRootCA, generateId, generateNodeKey, parseNodeCert, signNodeCSR, type NodeRole } from '../manager/ca/ca.js';
import { anonymousChannelCredentials, NODE_CHANNEL_OPTIONS, NodeCertificateProvider, unverifiedChannelCredentials } from '../manager/ca/tls.js';
import { checkCaDigest, formatJoinToken, generateJoinSecret, parseJoinToken } from '../manager/ca/token.js';
import { Manager } from '../manager/manager.js';
import { DataKeyring } from '../manager/encryption/keyring.js';
import type { ca } from '../api/wire.js';
import { unary } from '../manager/peer-clients.js';
import { createAction } from '../manager/store/store.js';
import type { Cluster, NetworkConfig, Node } from '../api/objects.js';
import { validateClusterSpec } from '../api/validate.js';
import { generateUnlockKey } from '../manager/encryption/unlock-key.js';
import { checkCanListen, GRPC_LISTENER } from './listen-check.js';
import { checkFreshDataDir, dataDirPaths, removeNodeFiles, saveState, saveTls, type PeerAddress } from './state.js';

export const DEFAULT_PORT = 4242;

export class BootstrapError extends Error {
  override readonly name = 'BootstrapError';
}

/** HOST[:PORT] → host:port (default port 4242); a clear error for anything else. */
export function normalizeAddr(addr: string, what: string, defaultPort = DEFAULT_PORT): string {
  const v = addr.trim();
  const hp = splitHostPort(v);
  if (!hp) throw new BootstrapError(`invalid ${what} ${JSON.stringify(addr)}: expected HOST[:PORT]`);
  if (hp.port === undefined) return `${v}:${defaultPort}`;
  if (!validPort(hp.port)) throw new BootstrapError(`invalid ${what} ${JSON.stringify(addr)}: the port must be 1-65535`);
  return v;
}

function hostOf(addr: string): string {
  return addr.slice(0, addr.lastIndexOf(':'));
}
function portOf(addr: string): number {
  return Number(addr.slice(addr.lastIndexOf(':') + 1));
}

/**
 * The advertise address when none is given: the listen address when it names
 * a host, else the first non-internal IPv4 address of this machine (as docker
 * swarm does), with the listen port.
 */
export function defaultAdvertiseAddr(listenAddr: string): string {
  const host = hostOf(listenAddr);
  if (host !== '0.0.0.0' && host !== '[::]' && host !== '::') return listenAddr;
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.family === 'IPv4' && !a.internal) return `${a.address}:${portOf(listenAddr)}`;
    }
  }
  throw new BootstrapError('cannot pick an address to advertise: give --advertise-addr HOST[:PORT]');
}

export interface InitOptions {
  dataDir: string;
  listenAddr: string;
  advertiseAddr: string;
  clusterName?: string;
  /** The cluster's data plane ranges (`init --vip-pool ...`); absent fields take DEFAULT_NETWORK_CONFIG's. */
  network?: Partial<NetworkConfig>;
  /** Where this node binds published ports (`--publish-addr`); saved in node.json (NodeState.publishAddr). */
  publishAddr?: string;
  /** `init --autolock`: the cluster starts with autolock on and an unlock key (InitResult.unlockKey). */
  autolock?: boolean;
  logger?: Logger;
}

export interface InitResult {
  clusterId: string;
  nodeId: string;
  workerToken: string;
  managerToken: string;
  /** With autolock: the unlock key, to show the operator once. */
  unlockKey?: string;
}

export function describeThisHost(): Node['description'] {
  return { hostname: hostname(), cpus: cpus().length, memoryBytes: totalmem(), engineVersion: '', platform: { os: platform(), arch: arch() } };
}

/** Create a cluster in `dataDir`: root CA, the first manager, join tokens. The node is then started with Daemon.start. */
export async function initCluster(o: InitOptions): Promise<InitResult> {
  await checkFreshDataDir(o.dataDir);
  await checkCanListen(o.listenAddr, GRPC_LISTENER);
  const spec = validateClusterSpec({ name: o.clusterName ?? 'default', network: o.network, ...(o.autolock ? { encryption: { autoLockManagers: true } } : {}) });
  // The manager's data key starts wrapped by its key file; its key-protection follower re-wraps it with this key
  // (and rotates the data key) as soon as it runs (src/manager/encryption/protection.ts).
  const unlockKey = o.autolock ? generateUnlockKey() : undefined;
  const clusterId = generateId();
  const nodeId = generateId();
  const ca = await createRootCA({ clusterId });
  const keyPem = generateNodeKey();
  const certPem = await signNodeCSR(ca, await createCSR(keyPem), { nodeId, role: 'manager', clusterId, validityHours: spec.caConfig.nodeCertExpiryHours });
  const tls = new NodeCertificateProvider({ caCertPem: ca.certPem, certPem, keyPem });
  const p = dataDirPaths(o.dataDir);
  let manager: Manager | null = null;
  try {
    await saveTls(o.dataDir, tls.current);
    // The cluster object (the CA key, the join tokens) is sealed on disk from its first write.
    const keyring = await DataKeyring.create(p.keys, { kind: 'node' }, o.logger);
    manager = await Manager.start({
      nodeId,
      clusterId,
      raftDir: p.raft,
      keyring,
      // This manager only writes the first objects; the daemon's manager wraps the ring as the cluster says.
      followKeyProtection: false,
      listenAddr: o.listenAddr,
      advertiseAddr: o.advertiseAddr,
      controlSocket: p.controlSocket,
      tls,
      bootstrap: true,
      logger: o.logger,
    });
    const now = Date.now();
    const cluster: Cluster = {
      id: clusterId,
      version: 0,
      createdAt: now,
      updatedAt: now,
      spec,
      rootCA: { certPem: ca.certPem, keyPem: ca.keyPem, digest: caDigest(ca.certPem) },
      joinTokens: { worker: generateJoinSecret(), manager: generateJoinSecret() },
      removedNodes: [],
      ...(unlockKey ? { unlockKey } : {}),
    };
    const node: Node = {
      id: nodeId,
      version: 0,
      createdAt: now,
      updatedAt: now,
      role: 'manager',
      availability: 'active',
      labels: {},
      description: describeThisHost(),
      status: { state: 'ready', message: 'created the cluster', address: o.advertiseAddr },
    };
    await manager.write([createAction('cluster', cluster), createAction('node', node)], { timeoutMs: 30_000 });
    await manager.stop();
    manager = null;
    await saveState(o.dataDir, {
      version: 1,
      nodeId,
      clusterId,
      role: 'manager',
      listenAddr: o.listenAddr,
      advertiseAddr: o.advertiseAddr,
      managers: [{ id: nodeId, address: o.advertiseAddr }],
      ...(o.publishAddr === undefined ? {} : { publishAddr: o.publishAddr }),
    });
    return {
      clusterId,
      nodeId,
      workerToken: formatJoinToken(cluster.rootCA.digest, cluster.joinTokens.worker),
      managerToken: formatJoinToken(cluster.rootCA.digest, cluster.joinTokens.manager),
      ...(unlockKey ? { unlockKey } : {}),
    };
  } catch (err) {
    await manager?.stop().catch(() => undefined);
    await removeNodeFiles(o.dataDir);
    throw err;
  }
}

export interface JoinOptions {
  dataDir: string;
  token: string;
  /** A manager's host:port. */
  remoteAddr: string;
  listenAddr: string;
  advertiseAddr: string;
  /** Where this node binds published ports (`--publish-addr`); saved in node.json (NodeState.publishAddr). */
  publishAddr?: string;
  timeoutMs?: number;
}

export interface JoinResult {
  nodeId: string;
  clusterId: string;
  role: NodeRole;
  managers: PeerAddress[];
}

/**
 * Join the cluster a manager at `remoteAddr` belongs to: fetch its root CA,
 * check it against the token's digest before sending anything secret, then
 * send a CSR with the token and keep the certificate the CA issues.
 */
export async function joinCluster(o: JoinOptions): Promise<JoinResult> {
  await checkFreshDataDir(o.dataDir);
  const token = parseJoinToken(o.token);
  const deadlineMs = o.timeoutMs ?? 20_000;
  const CaClient = loadCaProto().Client;

  const probe = new CaClient(o.remoteAddr, unverifiedChannelCredentials(), NODE_CHANNEL_OPTIONS);
  let caCertPem: string;
  try {
    caCertPem = (await unary<ca.Empty, ca.RootCA__Output>(probe, 'GetRootCA', {}, { deadlineMs })).certPem;
  } catch (err) {
    throw new BootstrapError(`cannot reach a manager at ${o.remoteAddr} (${grpcDetails(err)}): check the address and that its daemon is running`);
  } finally {
    probe.close();
  }
  checkCaDigest(token, caCertPem);

  const keyPem = generateNodeKey();
  const csrPem = await createCSR(keyPem);
  const client = new CaClient(o.remoteAddr, anonymousChannelCredentials(caCertPem), NODE_CHANNEL_OPTIONS);
  const request: ca.IssueRequest = { csrPem, token: o.token, advertiseAddr: o.advertiseAddr, hostname: hostname() };
  const issue = async (checkOnly: boolean): Promise<ca.IssueResponse__Output> => {
    try {
      return await unary<ca.IssueRequest, ca.IssueResponse__Output>(client, 'IssueNodeCertificate', { ...request, checkOnly }, { deadlineMs });
    } catch (err) {
      throw new BootstrapError(`the manager at ${o.remoteAddr} refused to join this node: ${grpcDetails(err)}`);
    }
  };
  let res: ca.IssueResponse__Output;
  try {
    // The token decides the role; only a manager listens, and it must know it can before the cluster records it.
    if ((await issue(true)).role === 'manager') await checkCanListen(o.listenAddr, GRPC_LISTENER);
    res = await issue(false);
  } finally {
    client.close();
  }
  const id = parseNodeCert(res.certPem);
  if (id.nodeId !== res.nodeId || caDigest(res.rootCaPem) !== token.caDigest) {
    throw new BootstrapError(`the manager at ${o.remoteAddr} answered with a certificate that does not match the request: refusing it`);
  }
  try {
    await saveTls(o.dataDir, { caCertPem: res.rootCaPem, certPem: res.certPem, keyPem });
    await saveState(o.dataDir, {
      version: 1,
      nodeId: id.nodeId,
      clusterId: id.clusterId,
      role: id.role,
      listenAddr: o.listenAddr,
      advertiseAddr: o.advertiseAddr,
      managers: res.managers.length ? res.managers : [{ id: '', address: o.remoteAddr }],
      ...(o.publishAddr === undefined ? {} : { publishAddr: o.publishAddr }),
    });
  } catch (err) {
    await removeNodeFiles(o.dataDir);
    throw err;
  }
  return { nodeId: id.nodeId, clusterId: id.clusterId, role: id.role, managers: res.managers };
}

function grpcDetails(err: unknown): string {
  if (err && typeof err === 'object' && 'details' in err && typeof (err as grpc.ServiceError).details === 'string') {
    // grpc-js appends an empty "Resolution note" to connection errors.
    return (err as grpc.ServiceError).details.replace(/\.?\s*Resolution note:\s*$/, '');
  }
  return err instanceof Error ? err.message : String(err);
}
