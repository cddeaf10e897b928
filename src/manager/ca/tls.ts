// Mutual TLS between nodes, on top of the cluster CA.
//
// One port per node serves every gRPC service, so the server asks for a client
// certificate but does not require one: the CA service must answer a joining
// node that has none yet. Every other service checks the caller's certificate
// itself, per call (see ./authz.ts). Certificates live in a provider that the
// daemon updates in place when it renews, so servers and channels pick up the
// new certificate without a restart.
import type { PeerCertificate } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { socketOf } from '../../common/grpc-internals.js';
import { CertificateError, parseNodeCert, type NodeIdentity, type NodeRole } from './ca.js';

type CertificateProvider = grpc.experimental.CertificateProvider;
type CaListener = grpc.experimental.CaCertificateUpdateListener;
type IdentityListener = grpc.experimental.IdentityCertificateUpdateListener;

/** A node's TLS material as PEM. */
export interface NodeTlsMaterial {
  caCertPem: string;
  certPem: string;
  keyPem: string;
}

/**
 * Holds the root CA and this node's certificate; grpc-js listens to it, so
 * update() swaps the certificate under every server and channel built from it
 * (new connections use the new one).
 */
export class NodeCertificateProvider implements CertificateProvider {
  private material: NodeTlsMaterial;
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();

  constructor(material: NodeTlsMaterial) {
    this.material = material;
  }

  get current(): NodeTlsMaterial {
    return this.material;
  }

  /** The identity of this node's current certificate. */
  identity(): NodeIdentity {
    return parseNodeCert(this.material.certPem);
  }

  update(material: NodeTlsMaterial): void {
    const caChanged = material.caCertPem !== this.material.caCertPem;
    this.material = material;
    if (caChanged) for (const l of this.caListeners) l(this.caUpdate());
    for (const l of this.identityListeners) l(this.identityUpdate());
  }

  // grpc-js registers its own watcher only after adding these listeners, so the
  // first update must come asynchronously or it is lost (the server would then
  // drop every connection as "credentials not loaded").
  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    queueMicrotask(() => {
      if (this.caListeners.has(listener)) listener(this.caUpdate());
    });
  }
  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
  }
  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    queueMicrotask(() => {
      if (this.identityListeners.has(listener)) listener(this.identityUpdate());
    });
  }
  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
  }

  private caUpdate(): grpc.experimental.CaCertificateUpdate {
    return { caCertificate: Buffer.from(this.material.caCertPem) };
  }
  private identityUpdate(): grpc.experimental.IdentityCertificateUpdate {
    return { certificate: Buffer.from(this.material.certPem), privateKey: Buffer.from(this.material.keyPem) };
  }
}

/**
 * Options for every channel to a node: TLS server name (SNI) is a host name,
 * never an IP address (RFC 6066), and the name check is serverIdentityCheck's
 * anyway; so every channel names the role it expects instead.
 */
export const NODE_CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.ssl_target_name_override': 'flotilla-manager',
  // gRPC's reconnect backoff grows to 120 s: a channel to a manager that was
  // cut off for 20 s would refuse calls for seconds after it came back (an
  // agent's session, a forwarded write). Managers are few; retry them often.
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 2_000,
};

/** Server side: present this node's certificate; request (not require) the peer's. */
export function serverCredentials(provider: NodeCertificateProvider): grpc.ServerCredentials {
  return grpc.experimental.createCertificateProviderServerCredentials(provider, provider, false);
}

/**
 * The check that replaces hostname verification: peers are addressed by IP or
 * host name, but a node certificate names the node (CN, SAN) and its role, so
 * what matters is the role and the cluster (the chain is already verified).
 */
function serverIdentityCheck(expect: { role?: NodeRole; clusterId?: string }) {
  return (_host: string, cert: PeerCertificate): Error | undefined => {
    let id: NodeIdentity;
    try {
      id = parseNodeCert(cert.raw);
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err));
    }
    if (expect.role && id.role !== expect.role) {
      return new CertificateError('NOT_A_NODE_CERT', `the peer is a ${id.role}, expected a ${expect.role}`);
    }
    if (expect.clusterId && id.clusterId !== expect.clusterId) {
      return new CertificateError('WRONG_CLUSTER', `the peer belongs to cluster ${id.clusterId}, not ${expect.clusterId}`);
    }
    return undefined;
  };
}

/** Client side, mutual: present this node's certificate; the server must be a node (by default a manager) of our cluster. */
export function channelCredentials(provider: NodeCertificateProvider, expectRole: NodeRole = 'manager'): grpc.ChannelCredentials {
  const clusterId = provider.identity().clusterId;
  return grpc.experimental.createCertificateProviderChannelCredentials(provider, provider, {
    checkServerIdentity: serverIdentityCheck({ role: expectRole, clusterId }),
  });
}

/** Client side without a certificate of our own (joining): trust only `caCertPem`, talk only to a manager. */
export function anonymousChannelCredentials(caCertPem: string): grpc.ChannelCredentials {
  return grpc.credentials.createSsl(Buffer.from(caCertPem), null, null, { checkServerIdentity: serverIdentityCheck({ role: 'manager' }) });
}

/**
 * Client side that trusts nobody yet: only for fetching the root CA, whose
 * digest the caller then checks against the join token before it sends
 * anything secret (as `docker swarm join` does).
 */
export function unverifiedChannelCredentials(): grpc.ChannelCredentials {
  return grpc.credentials.createSsl(null, null, null, { rejectUnauthorized: false, checkServerIdentity: () => undefined });
}

/**
 * The verified identity of the caller of a gRPC call, or null when it showed
 * no certificate (or one the handshake did not verify against the cluster CA:
 * grpc-js reports only authorized peers).
 */
export function peerIdentity(call: { getAuthContext(): { sslPeerCertificate?: PeerCertificate } }): NodeIdentity | null {
  // The certificate of a connection does not change (TLS 1.3 has no
  // renegotiation), and getAuthContext() builds a new certificate object on
  // every call: heartbeats and status reports of a thousand nodes pay it. So
  // the identity is kept per connection while it lives.
  const socket = socketOf(call);
  if (socket !== undefined) {
    const known = identityBySocket.get(socket);
    if (known !== undefined) return known;
    const id = identityOfCall(call);
    identityBySocket.set(socket, id);
    return id;
  }
  return identityOfCall(call);
}

const identityBySocket = new WeakMap<object, NodeIdentity | null>();

function identityOfCall(call: { getAuthContext(): { sslPeerCertificate?: PeerCertificate } }): NodeIdentity | null {
  const raw = call.getAuthContext().sslPeerCertificate?.raw;
  if (!raw) return null;
  // Parsing a certificate costs far more than a call: every heartbeat and
  // status report would pay it. The TLS handshake already verified it, so the
  // parsed identity can be kept (keyed by the whole DER) for the next calls.
  const key = raw.toString('base64');
  const hit = identityCache.get(key);
  if (hit !== undefined) {
    identityCache.delete(key);
    identityCache.set(key, hit);
    return hit;
  }
  let id: NodeIdentity | null;
  try {
    id = parseNodeCert(raw);
  } catch {
    id = null;
  }
  identityCache.set(key, id);
  if (identityCache.size > IDENTITY_CACHE_SIZE) identityCache.delete(identityCache.keys().next().value as string);
  return id;
}

const IDENTITY_CACHE_SIZE = 16_384;
/** Least recently used first (Map keeps insertion order). */
const identityCache = new Map<string, NodeIdentity | null>();
