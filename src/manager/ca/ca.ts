// The cluster certificate authority: a root CA (ECDSA P-256, self-signed) that
// issues node certificates carrying node id, role and cluster id, in the style
// of Docker Swarm's node PKI.
//
// Node certificate layout (like swarmkit's `CN=<node id>, OU=swarm-manager|
// swarm-worker, O=<cluster id>`):
//
//   subject   CN=<nodeId>, OU=flotilla-manager | flotilla-worker, O=<clusterId>
//   SAN       DNS:<nodeId>, DNS:flotilla-<role>
//   EKU       serverAuth, clientAuth
//   KU        digitalSignature, keyEncipherment (critical)
//   basic     CA:false (critical)
//   validity  backdated by CERT_BACKDATE_MS for clock skew, `validityHours`
//             (default 2160 h = 90 days) and never beyond the root CA itself.
//
// The root CA's subject is `CN=flotilla-root-ca, O=<clusterId>`.
//
// The CA, not the node, decides the identity: the CSR only proves possession of
// the private key (its signature is checked) and supplies the public key; its
// subject and extensions are ignored.
//
// Peers dial each other by address, not by node id, so a TLS client checks the
// server's name against the role SAN: `servername: 'flotilla-manager'` with
// node:tls, `grpc.ssl_target_name_override: 'flotilla-manager'` with grpc-js.
// The role that authorizes a call comes from parseNodeCert() over the peer
// certificate (grpc-js: `call.getAuthContext().sslPeerCertificate.raw`).
//
// Creation and signing are async (WebCrypto through @peculiar/x509); parsing and
// verification are synchronous (node:crypto) so they fit TLS callbacks.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import {
  X509Certificate as NodeX509Certificate,
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  webcrypto,
  type KeyObject,
} from 'node:crypto';

// The WebCrypto types of @peculiar/x509 come from the DOM lib, which this project does not load.
type WebCrypto = ReturnType<typeof x509.cryptoProvider.get>;
type CryptoKeyPair = Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['keys'];

x509.cryptoProvider.set(webcrypto as unknown as WebCrypto);

export type NodeRole = 'manager' | 'worker';

/** A root CA as PEM: the certificate and its PKCS#8 private key. */
export interface CaKeyPair {
  certPem: string;
  keyPem: string;
}

/** A root CA that loadRootCA() has validated. */
export interface RootCA extends CaKeyPair {
  clusterId: string;
  /** caDigest() of the certificate: what join tokens carry. */
  digest: string;
  notBefore: Date;
  notAfter: Date;
}

/** The identity a node certificate carries, and facts about the certificate. */
export interface NodeIdentity {
  nodeId: string;
  role: NodeRole;
  clusterId: string;
  notBefore: Date;
  notAfter: Date;
  /** The serial number, lowercase hex. */
  serial: string;
  /** `sha256:<64 lowercase hex>` over the certificate's DER. */
  fingerprint: string;
}

export type CertificateErrorCode =
  | 'MALFORMED' // not parseable as the expected PEM/DER object
  | 'NOT_A_NODE_CERT' // parses, but is not a flotilla node certificate
  | 'INVALID_CA' // the root CA certificate or its key is unusable
  | 'INVALID_KEY' // a private key is unusable
  | 'INVALID_CSR' // the CSR is malformed, uses a wrong key type or its signature is broken
  | 'INVALID_IDENTITY' // a node id / cluster id / role the caller asked for is not acceptable
  | 'UNTRUSTED' // not issued by this cluster's CA
  | 'WRONG_CLUSTER' // issued for another cluster id
  | 'NOT_YET_VALID'
  | 'EXPIRED';

/** Every failure of this module. `code` tells the kind; the message says what to do. */
export class CertificateError extends Error {
  override readonly name = 'CertificateError';
  constructor(
    readonly code: CertificateErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Organizational unit of each role, as in swarmkit's swarm-manager / swarm-worker. */
export const ROLE_OU: Readonly<Record<NodeRole, string>> = { manager: 'flotilla-manager', worker: 'flotilla-worker' };
export const ROOT_CA_CN = 'flotilla-root-ca';
/** Node certificates start this long before they are signed, to absorb clock skew (swarmkit: 1 h). */
export const CERT_BACKDATE_MS = 60 * 60 * 1000;
/** Length of caDigest(): base36 of a 256-bit number needs at most 50 digits (36^50 > 2^256). */
export const CA_DIGEST_LENGTH = 50;

const MAX_PEM_LENGTH = 64 * 1024;
const ID_RE = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const SIGNING_ALG = { name: 'ECDSA', hash: 'SHA-256' } as const;
const EC_ALG = { name: 'ECDSA', namedCurve: 'P-256' } as const;

// ---------------------------------------------------------------------------
// encodings

/** Big-endian bytes as a base36 number (0-9a-z), left-padded with '0' to `width`. */
export function toBase36(bytes: Uint8Array, width: number): string {
  // Long division by 36 over 16-bit limbs (big-endian): the same digits as
  // BigInt(...).toString(36), without building a BigInt from a hex string
  // (ids are made 50,000 at a time for a large service).
  const limbs: number[] = [];
  if (bytes.length % 2 === 1) limbs.push(bytes[0]);
  for (let i = bytes.length % 2; i < bytes.length; i += 2) limbs.push((bytes[i] << 8) | bytes[i + 1]);
  let digits = '';
  let first = 0;
  while (first < limbs.length) {
    let rem = 0;
    for (let i = first; i < limbs.length; i++) {
      const cur = rem * 65536 + limbs[i];
      limbs[i] = Math.floor(cur / 36);
      rem = cur % 36;
    }
    digits = BASE36[rem] + digits;
    while (first < limbs.length && limbs[first] === 0) first++;
  }
  return (digits === '' ? '0' : digits).padStart(width, '0');
}

const BASE36 = '0123456789abcdefghijklmnopqrstuvwxyz';

/** Random bytes for ids, drawn from a pool: one call into the CSPRNG per 256 ids rather than one per id. */
const ID_POOL_BYTES = 4096;
let idPool = Buffer.alloc(0);
let idPoolOffset = 0;

function randomIdBytes(): Uint8Array {
  if (idPoolOffset + 16 > idPool.length) {
    idPool = randomBytes(ID_POOL_BYTES);
    idPoolOffset = 0;
  }
  const out = idPool.subarray(idPoolOffset, idPoolOffset + 16);
  idPoolOffset += 16;
  return out;
}

/**
 * The root CA digest carried by join tokens: SHA-256 over the certificate's DER
 * encoding, written as a base36 number (0-9a-z) left-padded with zeros to 50
 * characters. (Swarm does the same over the PEM bytes; hashing the DER makes the
 * digest independent of PEM line wrapping.) This encoding is part of the token
 * format `FLT-1-...`: changing it needs a new token version.
 */
export function caDigest(caCertPem: string): string {
  const der = certificateDer(caCertPem, 'the root CA certificate');
  return toBase36(createHash('sha256').update(der).digest(), CA_DIGEST_LENGTH);
}

/** A random id: 128 bits as 25 base36 characters (like swarmkit's identity.NewID). Valid as node or cluster id. */
export function generateId(): string {
  return toBase36(randomIdBytes(), 25);
}

// ---------------------------------------------------------------------------
// keys

/** A new ECDSA P-256 private key, PKCS#8 PEM. */
export function generateNodeKey(): string {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

function loadP256Key(keyPem: string, what: string, code: CertificateErrorCode): KeyObject {
  if (typeof keyPem !== 'string' || keyPem.length > MAX_PEM_LENGTH || !keyPem.includes('PRIVATE KEY-----')) {
    throw new CertificateError(code, `${what} is not a PEM private key`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch (err) {
    throw new CertificateError(code, `${what} cannot be read: ${(err as Error).message}`);
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new CertificateError(code, `${what} must be an ECDSA P-256 key, not ${describeKey(key)}`);
  }
  return key;
}

function describeKey(key: KeyObject): string {
  const curve = key.asymmetricKeyDetails?.namedCurve;
  return curve ? `${key.asymmetricKeyType} ${curve}` : String(key.asymmetricKeyType);
}

async function importKeyPair(key: KeyObject): Promise<CryptoKeyPair> {
  const pkcs8 = key.export({ type: 'pkcs8', format: 'der' });
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  const subtle = webcrypto.subtle;
  const privateKey = await subtle.importKey('pkcs8', pkcs8, EC_ALG, false, ['sign']);
  const publicKey = await subtle.importKey('spki', spki, EC_ALG, true, ['verify']);
  return { privateKey, publicKey } as unknown as CryptoKeyPair;
}

// ---------------------------------------------------------------------------
// root CA

function checkId(value: unknown, what: string): string {
  if (typeof value !== 'string' || !ID_RE.test(value)) {
    throw new CertificateError(
      'INVALID_IDENTITY',
      `${what} ${JSON.stringify(value)} is not valid: use 1-63 letters, digits and inner dashes (a DNS label)`,
    );
  }
  return value;
}

function checkRole(value: unknown): NodeRole {
  if (value !== 'manager' && value !== 'worker') {
    throw new CertificateError('INVALID_IDENTITY', `role ${JSON.stringify(value)} is not valid: use "manager" or "worker"`);
  }
  return value;
}

/** Whole seconds: X.509 times carry no milliseconds. */
function floorSeconds(t: number): Date {
  return new Date(Math.floor(t / 1000) * 1000);
}

/** A random positive 127-bit serial number, hex, whose first byte is non-zero (minimal DER). */
function newSerial(): string {
  const b = randomBytes(16);
  b[0] = (b[0] & 0x7f) || 0x01;
  return b.toString('hex');
}

/** Creates a new self-signed root CA (ECDSA P-256, CA:true, keyCertSign) for a cluster. */
export async function createRootCA(opts: { clusterId: string; validityDays?: number; now?: Date }): Promise<CaKeyPair> {
  const clusterId = checkId(opts?.clusterId, 'cluster id');
  const validityDays = opts.validityDays ?? 3650;
  if (!Number.isFinite(validityDays) || validityDays <= 0) {
    throw new RangeError(`validityDays must be a positive number, got ${validityDays}`);
  }
  const now = (opts.now ?? new Date()).getTime();
  const key = createPrivateKey(generateNodeKey());
  const keys = await importKeyPair(key);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: newSerial(),
    name: [{ CN: [ROOT_CA_CN] }, { O: [clusterId] }],
    notBefore: floorSeconds(now - CERT_BACKDATE_MS),
    notAfter: floorSeconds(now + validityDays * 24 * 3600 * 1000),
    signingAlgorithm: SIGNING_ALG,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

/**
 * Validates a root CA read from storage: the certificate parses, is a
 * self-signed CA allowed to sign certificates, carries a cluster id, and the
 * key is its ECDSA P-256 private key. Throws CertificateError('INVALID_CA').
 */
export function loadRootCA(certPem: string, keyPem: string): RootCA {
  const der = certificateDer(certPem, 'the root CA certificate', 'INVALID_CA');
  const nodeCert = new NodeX509Certificate(der);
  const cert = new x509.X509Certificate(der);
  if (!nodeCert.ca) {
    throw new CertificateError('INVALID_CA', `the root CA certificate (${cert.subject}) is not a CA certificate (basic constraints CA:false)`);
  }
  const ku = cert.getExtension(x509.KeyUsagesExtension);
  if (ku && (ku.usages & x509.KeyUsageFlags.keyCertSign) === 0) {
    throw new CertificateError('INVALID_CA', `the root CA certificate (${cert.subject}) may not sign certificates (no keyCertSign key usage)`);
  }
  if (!nodeCert.checkIssued(nodeCert) || !nodeCert.verify(nodeCert.publicKey)) {
    throw new CertificateError('INVALID_CA', `the root CA certificate (${cert.subject}) is not self-signed`);
  }
  const clusterIds = cert.subjectName.getField('O');
  if (clusterIds.length !== 1 || !ID_RE.test(clusterIds[0])) {
    throw new CertificateError('INVALID_CA', `the root CA certificate (${cert.subject}) carries no cluster id (O=<cluster id>)`);
  }
  const key = loadP256Key(keyPem, 'the root CA key', 'INVALID_CA');
  if (!nodeCert.checkPrivateKey(key)) {
    throw new CertificateError('INVALID_CA', 'the root CA key does not belong to the root CA certificate: the files are mismatched');
  }
  return {
    certPem: cert.toString('pem'),
    keyPem,
    clusterId: clusterIds[0],
    digest: toBase36(createHash('sha256').update(der).digest(), CA_DIGEST_LENGTH),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
  };
}

// ---------------------------------------------------------------------------
// CSR and signing

/**
 * A PKCS#10 CSR signed with `keyPem`. The subject is informational only (the
 * CA ignores it); every field may be omitted, e.g. when the node id is not
 * known yet.
 */
export async function createCSR(keyPem: string, subject: { nodeId?: string; role?: NodeRole; clusterId?: string } = {}): Promise<string> {
  const key = loadP256Key(keyPem, 'the node key', 'INVALID_KEY');
  const name: Record<string, string[]>[] = [];
  if (subject.nodeId !== undefined) name.push({ CN: [checkId(subject.nodeId, 'node id')] });
  if (subject.role !== undefined) name.push({ OU: [ROLE_OU[checkRole(subject.role)]] });
  if (subject.clusterId !== undefined) name.push({ O: [checkId(subject.clusterId, 'cluster id')] });
  const keys = await importKeyPair(key);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name, keys, signingAlgorithm: SIGNING_ALG });
  return csr.toString('pem');
}

export interface SignNodeOptions {
  nodeId: string;
  role: NodeRole;
  /** Must equal the CA's cluster id when given; defaults to it. */
  clusterId?: string;
  /** Default 2160 h (90 days, as Swarm). Clamped to the root CA's own expiry. */
  validityHours?: number;
  now?: Date;
}

/**
 * Issues a node certificate for the public key of `csrPem`. The identity
 * (node id, role, cluster id) comes from `opts` only: whatever the CSR's
 * subject or requested extensions say is ignored. The CSR must be a P-256
 * CSR whose signature verifies (proof of key possession).
 */
export async function signNodeCSR(ca: CaKeyPair, csrPem: string, opts: SignNodeOptions): Promise<string> {
  const root = loadRootCA(ca.certPem, ca.keyPem);
  const nodeId = checkId(opts?.nodeId, 'node id');
  const role = checkRole(opts.role);
  if (opts.clusterId !== undefined && opts.clusterId !== root.clusterId) {
    throw new CertificateError('INVALID_IDENTITY', `cluster id ${JSON.stringify(opts.clusterId)} does not match the root CA's cluster id ${root.clusterId}`);
  }
  const validityHours = opts.validityHours ?? 2160;
  if (!Number.isFinite(validityHours) || validityHours <= 0) {
    throw new RangeError(`validityHours must be a positive number, got ${validityHours}`);
  }
  const now = (opts.now ?? new Date()).getTime();
  if (now > root.notAfter.getTime()) {
    throw new CertificateError('INVALID_CA', `the cluster root CA expired at ${root.notAfter.toISOString()}: it cannot issue certificates`);
  }

  const csr = parseCSR(csrPem);
  let signatureOk = false;
  try {
    signatureOk = await csr.verify();
  } catch {
    signatureOk = false;
  }
  if (!signatureOk) {
    throw new CertificateError('INVALID_CSR', 'the certificate signing request signature does not verify: it was altered or not signed by its key');
  }

  const caCert = new x509.X509Certificate(root.certPem);
  const caKeys = await importKeyPair(createPrivateKey(root.keyPem));
  const notAfter = Math.min(now + validityHours * 3600 * 1000, root.notAfter.getTime());
  const caSki = caCert.getExtension(x509.SubjectKeyIdentifierExtension);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: newSerial(),
    subject: [{ CN: [nodeId] }, { OU: [ROLE_OU[role]] }, { O: [root.clusterId] }],
    issuer: caCert.subjectName,
    notBefore: floorSeconds(Math.max(now - CERT_BACKDATE_MS, root.notBefore.getTime())),
    notAfter: floorSeconds(notAfter),
    signingAlgorithm: SIGNING_ALG,
    publicKey: csr.publicKey,
    signingKey: caKeys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension([
        { type: 'dns', value: nodeId },
        { type: 'dns', value: ROLE_OU[role] },
      ]),
      await x509.SubjectKeyIdentifierExtension.create(csr.publicKey),
      ...(caSki ? [new x509.AuthorityKeyIdentifierExtension(caSki.keyId)] : []),
    ],
  });
  return cert.toString('pem');
}

function parseCSR(csrPem: string): x509.Pkcs10CertificateRequest {
  if (typeof csrPem !== 'string' || csrPem.length > MAX_PEM_LENGTH || !/-----BEGIN (NEW )?CERTIFICATE REQUEST-----/.test(csrPem)) {
    throw new CertificateError('INVALID_CSR', 'the certificate signing request is not a PEM "CERTIFICATE REQUEST"');
  }
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch (err) {
    throw new CertificateError('INVALID_CSR', `the certificate signing request cannot be parsed: ${(err as Error).message}`);
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: 'der', type: 'spki' });
  } catch (err) {
    throw new CertificateError('INVALID_CSR', `the certificate signing request's public key cannot be read: ${(err as Error).message}`);
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new CertificateError('INVALID_CSR', `the certificate signing request must carry an ECDSA P-256 key, not ${describeKey(key)}`);
  }
  return csr;
}

// ---------------------------------------------------------------------------
// parsing and verification

/** DER of a certificate given as PEM text or DER bytes. */
function certificateDer(input: string | Uint8Array, what: string, code: CertificateErrorCode = 'MALFORMED'): Buffer {
  if (typeof input === 'string') {
    if (input.length > MAX_PEM_LENGTH || !input.includes('-----BEGIN CERTIFICATE-----')) {
      throw new CertificateError(code, `${what} is not a PEM certificate (no "-----BEGIN CERTIFICATE-----" block)`);
    }
  } else if (!(input instanceof Uint8Array) || input.length > MAX_PEM_LENGTH) {
    throw new CertificateError(code, `${what} is neither PEM text nor DER bytes`);
  }
  try {
    return new NodeX509Certificate(typeof input === 'string' ? input : Buffer.from(input)).raw;
  } catch (err) {
    throw new CertificateError(code, `${what} cannot be parsed as an X.509 certificate: ${(err as Error).message}`);
  }
}

function parsePeculiar(der: Buffer, what: string): x509.X509Certificate {
  try {
    return new x509.X509Certificate(der);
  } catch (err) {
    throw new CertificateError('MALFORMED', `${what} cannot be parsed as an X.509 certificate: ${(err as Error).message}`);
  }
}

/**
 * The identity a node certificate carries. Accepts PEM text or DER bytes (e.g. a
 * TLS peer certificate's `raw`). Checks the shape only, not the signature or
 * validity: use verifyNodeCert() for a certificate that is not already verified
 * by a TLS handshake against the cluster CA.
 */
export function parseNodeCert(cert: string | Uint8Array): NodeIdentity {
  const der = certificateDer(cert, 'the node certificate');
  return identityOf(der, parsePeculiar(der, 'the node certificate'));
}

function identityOf(der: Buffer, cert: x509.X509Certificate): NodeIdentity {
  const bad = (why: string): CertificateError =>
    new CertificateError('NOT_A_NODE_CERT', `${cert.subject || '(empty subject)'} is not a flotilla node certificate: ${why}`);
  const name = cert.subjectName;
  const only = (field: string, label: string): string => {
    const values = name.getField(field);
    if (values.length !== 1) throw bad(`expected exactly one ${field}=<${label}>, found ${values.length}`);
    return values[0];
  };
  const attributes = name.toJSON().reduce((n, rdn) => n + Object.values(rdn).reduce((m, v) => m + v.length, 0), 0);
  const nodeId = only('CN', 'node id');
  const ou = only('OU', 'role');
  const clusterId = only('O', 'cluster id');
  if (attributes !== 3) throw bad('the subject must be exactly CN=<node id>, OU=<role>, O=<cluster id>');
  if (!ID_RE.test(nodeId)) throw bad(`invalid node id ${JSON.stringify(nodeId)}`);
  if (!ID_RE.test(clusterId)) throw bad(`invalid cluster id ${JSON.stringify(clusterId)}`);
  const role = (Object.keys(ROLE_OU) as NodeRole[]).find((r) => ROLE_OU[r] === ou);
  if (!role) throw bad(`OU=${ou} is not a role (expected ${Object.values(ROLE_OU).join(' or ')})`);
  const bc = cert.getExtension(x509.BasicConstraintsExtension);
  if (bc?.ca) throw bad('it is a CA certificate');
  return {
    nodeId,
    role,
    clusterId,
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    serial: cert.serialNumber.toLowerCase(),
    fingerprint: 'sha256:' + createHash('sha256').update(der).digest('hex'),
  };
}

/**
 * Verifies that `certPem` is a node certificate issued by the CA `caCertPem`
 * (issuer and signature), for the CA's cluster, and valid at `now` (as is the
 * CA). Returns the identity it carries; throws CertificateError with code
 * UNTRUSTED, WRONG_CLUSTER, NOT_YET_VALID, EXPIRED, MALFORMED or NOT_A_NODE_CERT.
 */
export function verifyNodeCert(caCertPem: string, certPem: string | Uint8Array, now: Date = new Date()): NodeIdentity {
  const caDer = certificateDer(caCertPem, 'the root CA certificate', 'INVALID_CA');
  const caNode = new NodeX509Certificate(caDer);
  const ca = parsePeculiar(caDer, 'the root CA certificate');
  if (!caNode.ca) throw new CertificateError('INVALID_CA', `the root CA certificate (${ca.subject}) is not a CA certificate`);
  const der = certificateDer(certPem, 'the node certificate');
  const nodeCert = new NodeX509Certificate(der);
  const cert = parsePeculiar(der, 'the node certificate');
  if (!nodeCert.checkIssued(caNode) || !nodeCert.verify(caNode.publicKey)) {
    throw new CertificateError('UNTRUSTED', `the certificate of ${cert.subject} was not issued by this cluster's CA (${ca.subject})`);
  }
  const identity = identityOf(der, cert);
  const caClusterIds = ca.subjectName.getField('O');
  if (caClusterIds.length !== 1 || caClusterIds[0] !== identity.clusterId) {
    throw new CertificateError('WRONG_CLUSTER', `the certificate of ${cert.subject} is for cluster ${identity.clusterId}, not ${caClusterIds.join(',') || '(none)'}`);
  }
  const t = now.getTime();
  for (const [who, c] of [['the root CA certificate', ca], [`the certificate of node ${identity.nodeId}`, cert]] as const) {
    if (t < c.notBefore.getTime()) {
      throw new CertificateError('NOT_YET_VALID', `${who} is not valid before ${c.notBefore.toISOString()} (now ${now.toISOString()}): check the clocks`);
    }
    if (t > c.notAfter.getTime()) {
      throw new CertificateError('EXPIRED', `${who} expired at ${c.notAfter.toISOString()} (now ${now.toISOString()})`);
    }
  }
  return identity;
}

// ---------------------------------------------------------------------------
// renewal

function checkFraction(fraction: number): void {
  if (!Number.isFinite(fraction) || fraction <= 0 || fraction > 1) {
    throw new RangeError(`fraction must be in (0, 1], got ${fraction}`);
  }
}

/** When a certificate should be renewed: `fraction` of the way through its lifetime. */
export function renewalTime(certPem: string | Uint8Array, fraction = 0.5): Date {
  checkFraction(fraction);
  const cert = parsePeculiar(certificateDer(certPem, 'the certificate'), 'the certificate');
  const from = cert.notBefore.getTime();
  return new Date(from + (cert.notAfter.getTime() - from) * fraction);
}

/**
 * True once `now` is past `fraction` (default half) of the certificate's
 * lifetime, or the certificate has expired. Swarm renews somewhere between 50 %
 * and 80 %; a caller that wants the spread can pass a random fraction in that range.
 */
export function needsRenewal(certPem: string | Uint8Array, now: Date = new Date(), fraction = 0.5): boolean {
  return now.getTime() >= renewalTime(certPem, fraction).getTime();
}
