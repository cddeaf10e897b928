// A node's data dir: who the node is, and its certificates. `flotilla daemon`
// restarts from it. Layout:
//   node.json                   identity and addresses (written last by init/join:
//                               its presence means the node is complete)
//   certificates/root-ca.crt    the cluster's root CA
//   certificates/node.crt       this node's certificate (node id, role, cluster id)
//   certificates/node.key       its private key (mode 0600)
//   raft/                       managers: the Raft log, snapshots (LevelDB), sealed by the data keys
//   keys/raft-dek.json          managers: the data keys, wrapped (src/manager/encryption/keyring.ts)
//   keys/raft-kek.key           managers: the node key that wraps them (mode 0600; absent with autolock)
//   control.sock                managers: the local control API
// Every file is replaced atomically (write to a temp file, fsync, rename, fsync
// the directory), so a crash leaves the old version or the new one.
import { open, mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../common/atomic-file.js';
import { parseNodeCert, type NodeRole } from '../manager/ca/ca.js';
import { DEK_FILE, KEK_FILE } from '../manager/encryption/keyring.js';
import type { NodeTlsMaterial } from '../manager/ca/tls.js';

export const STATE_VERSION = 1;

export interface PeerAddress {
  id: string;
  address: string;
}

export interface NodeState {
  version: typeof STATE_VERSION;
  nodeId: string;
  clusterId: string;
  /** The role of the current certificate. */
  role: NodeRole;
  /** host:port the node's gRPC server binds (managers). */
  listenAddr: string;
  /** host:port other nodes reach it at ('' = none: a worker that cannot be promoted). */
  advertiseAddr: string;
  /** Managers last known, so a restarted node can reach the cluster. */
  managers: PeerAddress[];
  /**
   * The address this node's routing mesh binds published ports on (`--publish-addr` of init, join or daemon);
   * absent: defaultPublishAddr(the advertise host) in src/common/address.ts.
   */
  publishAddr?: string;
  /**
   * host:port of the node's HTTP listener (/metrics), from `--metrics-addr` of init, join or daemon; '' = none;
   * absent: defaultMetricsAddr(the advertise host) in src/common/address.ts.
   */
  metricsAddr?: string;
}

export class DataDirError extends Error {
  override readonly name = 'DataDirError';
}

export interface DataDirPaths {
  dir: string;
  state: string;
  certs: string;
  caCert: string;
  cert: string;
  key: string;
  raft: string;
  /** The manager's data key ring (a directory): DataKeyring.load/create take it. */
  keys: string;
  /** In keys/: the wrapped data keys. */
  dataKeys: string;
  /** In keys/: the node key-encryption key (mode 0600). */
  kek: string;
  controlSocket: string;
}

export function dataDirPaths(dir: string): DataDirPaths {
  const certs = join(dir, 'certificates');
  return {
    dir,
    state: join(dir, 'node.json'),
    certs,
    caCert: join(certs, 'root-ca.crt'),
    cert: join(certs, 'node.crt'),
    key: join(certs, 'node.key'),
    raft: join(dir, 'raft'),
    keys: join(dir, 'keys'),
    dataKeys: join(dir, 'keys', DEK_FILE),
    kek: join(dir, 'keys', KEK_FILE),
    controlSocket: join(dir, 'control.sock'),
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    await (await open(path, 'r')).close();
    return true;
  } catch {
    return false;
  }
}

/** True when the dir holds a complete node (init or join finished there). */
export async function hasNode(dir: string): Promise<boolean> {
  return exists(dataDirPaths(dir).state);
}

/** Refuse to init or join into a dir that already holds a node, or is half-made. */
export async function checkFreshDataDir(dir: string): Promise<void> {
  const p = dataDirPaths(dir);
  if (await exists(p.state)) {
    throw new DataDirError(`${dir} already holds a node of a cluster: start it with \`flotilla daemon --data-dir ${dir}\`, or pick another --data-dir`);
  }
  if ((await exists(p.cert)) || (await exists(join(p.raft, 'CURRENT'))) || (await exists(p.dataKeys))) {
    throw new DataDirError(`${dir} holds a node whose init or join did not finish: remove the directory and run the command again`);
  }
}

/** Re-exported: the daemon's files are replaced atomically (src/common/atomic-file.ts). */
export { writeFileAtomic };

export async function saveTls(dir: string, m: NodeTlsMaterial): Promise<void> {
  const p = dataDirPaths(dir);
  await mkdir(p.certs, { recursive: true, mode: 0o700 });
  // The key first: a certificate on disk always has its key beside it.
  await writeFileAtomic(p.key, m.keyPem, 0o600);
  await writeFileAtomic(p.cert, m.certPem);
  await writeFileAtomic(p.caCert, m.caCertPem);
}

export async function loadTls(dir: string): Promise<NodeTlsMaterial> {
  const p = dataDirPaths(dir);
  const read = async (path: string, what: string): Promise<string> => {
    try {
      return await readFile(path, 'utf8');
    } catch (err) {
      throw new DataDirError(`cannot read ${what} ${path}: ${(err as Error).message}`);
    }
  };
  const m = { caCertPem: await read(p.caCert, 'the root CA certificate'), certPem: await read(p.cert, 'the node certificate'), keyPem: await read(p.key, 'the node key') };
  try {
    parseNodeCert(m.certPem);
  } catch (err) {
    throw new DataDirError(`${p.cert} is not a usable node certificate (${(err as Error).message}): the data dir is damaged`);
  }
  return m;
}

export async function saveState(dir: string, s: NodeState): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFileAtomic(dataDirPaths(dir).state, JSON.stringify(s, null, 2) + '\n');
}

export async function loadState(dir: string): Promise<NodeState> {
  const path = dataDirPaths(dir).state;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new DataDirError(`${dir} holds no node (no ${path}): create a cluster with \`flotilla init\` or join one with \`flotilla join\``);
  }
  let x: unknown;
  try {
    x = JSON.parse(text);
  } catch (err) {
    throw new DataDirError(`${path} is not valid JSON (${(err as Error).message}): the data dir is damaged`);
  }
  return validateState(x, path);
}

function validateState(x: unknown, path: string): NodeState {
  const bad = (why: string): DataDirError => new DataDirError(`${path}: ${why}: the data dir is damaged`);
  if (typeof x !== 'object' || x === null) throw bad('not an object');
  const o = x as Record<string, unknown>;
  if (o.version !== STATE_VERSION) throw bad(`unknown version ${JSON.stringify(o.version)} (this flotilla reads ${STATE_VERSION})`);
  const str = (k: string): string => {
    if (typeof o[k] !== 'string') throw bad(`${k} must be a string`);
    return o[k] as string;
  };
  const role = str('role');
  if (role !== 'manager' && role !== 'worker') throw bad(`role must be manager or worker`);
  const managers = Array.isArray(o.managers) ? o.managers : [];
  if (o.publishAddr !== undefined && typeof o.publishAddr !== 'string') throw bad('publishAddr must be a string');
  if (o.metricsAddr !== undefined && typeof o.metricsAddr !== 'string') throw bad('metricsAddr must be a string');
  return {
    version: STATE_VERSION,
    nodeId: str('nodeId'),
    clusterId: str('clusterId'),
    role,
    listenAddr: str('listenAddr'),
    advertiseAddr: str('advertiseAddr'),
    managers: managers
      .filter((m): m is PeerAddress => typeof m === 'object' && m !== null && typeof m.id === 'string' && typeof m.address === 'string')
      .map((m) => ({ id: m.id, address: m.address })),
    ...(typeof o.publishAddr === 'string' ? { publishAddr: o.publishAddr } : {}),
    ...(typeof o.metricsAddr === 'string' ? { metricsAddr: o.metricsAddr } : {}),
  };
}

/** Remove what init/join wrote when they fail half-way, so the command can simply be run again. */
export async function removeNodeFiles(dir: string): Promise<void> {
  const p = dataDirPaths(dir);
  await rm(p.state, { force: true });
  await rm(p.certs, { recursive: true, force: true });
  await rm(p.raft, { recursive: true, force: true });
  await rm(p.keys, { recursive: true, force: true });
  await rm(p.controlSocket, { force: true });
}
