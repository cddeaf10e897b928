// The cluster CA: root CA creation and loading, node certificates whose identity
// the CA decides, verification, renewal timing, and real mutual TLS with them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { X509Certificate, createPrivateKey, randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import * as tls from 'node:tls';
import {
  CA_DIGEST_LENGTH,
  CertificateError,
  caDigest,
  createCSR,
  createRootCA,
  generateId,
  toBase36,
  generateNodeKey,
  loadRootCA,
  needsRenewal,
  parseNodeCert,
  renewalTime,
  signNodeCSR,
  verifyNodeCert,
  type CertificateErrorCode,
  type NodeRole,
} from '../../src/manager/ca/ca.js';

const CLUSTER = 'c1';
const root = await createRootCA({ clusterId: CLUSTER });
const ca = loadRootCA(root.certPem, root.keyPem);
// Another CA for the same cluster id, so its subject (issuer name) is identical: only the signature differs.
const otherRoot = await createRootCA({ clusterId: CLUSTER });

async function issue(role: NodeRole, nodeId: string, from = root, validityHours?: number): Promise<{ keyPem: string; certPem: string }> {
  const keyPem = generateNodeKey();
  const certPem = await signNodeCSR(from, await createCSR(keyPem), { nodeId, role, clusterId: CLUSTER, validityHours });
  return { keyPem, certPem };
}

function fails(code: CertificateErrorCode, pattern: RegExp): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof CertificateError, `expected a CertificateError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.match(err.message, pattern);
    return true;
  };
}

async function rejectsWith(p: Promise<unknown>, code: CertificateErrorCode, pattern: RegExp): Promise<void> {
  await assert.rejects(p, fails(code, pattern));
}

test('the root CA is a self-signed P-256 CA for its cluster', () => {
  const cert = new X509Certificate(root.certPem);
  assert.equal(cert.ca, true);
  assert.equal(cert.subject, `CN=flotilla-root-ca\nO=${CLUSTER}`);
  assert.equal(cert.issuer, cert.subject);
  assert.equal(cert.publicKey.asymmetricKeyType, 'ec');
  assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.equal(ca.clusterId, CLUSTER);
  assert.equal(ca.digest, caDigest(root.certPem));
  const years = (ca.notAfter.getTime() - Date.now()) / (365 * 24 * 3600 * 1000);
  assert.ok(years > 9.9 && years < 10.1, `validity ${years} years`);
});

test('loadRootCA refuses a mismatched key, a non-CA certificate and garbage', async () => {
  const node = await issue('manager', 'n1');
  assert.throws(() => loadRootCA(root.certPem, otherRoot.keyPem), fails('INVALID_CA', /does not belong to the root CA certificate/));
  assert.throws(() => loadRootCA(node.certPem, node.keyPem), fails('INVALID_CA', /not a CA certificate/));
  assert.throws(() => loadRootCA('hello', root.keyPem), fails('INVALID_CA', /not a PEM certificate/));
  assert.throws(() => loadRootCA(root.certPem, 'nope'), fails('INVALID_CA', /not a PEM private key/));
});

test('caDigest is 50 base36 characters over the DER, stable across PEM wrapping, distinct per CA', () => {
  const d = caDigest(root.certPem);
  assert.match(d, /^[0-9a-z]{50}$/);
  assert.equal(d.length, CA_DIGEST_LENGTH);
  const der = new X509Certificate(root.certPem).raw;
  const oneLine = `-----BEGIN CERTIFICATE-----\n${der.toString('base64')}\n-----END CERTIFICATE-----\n`;
  assert.equal(caDigest(oneLine), d);
  assert.notEqual(caDigest(otherRoot.certPem), d);
});

test('the CA signs a node certificate with the documented layout', async () => {
  const { certPem } = await issue('manager', 'node-1');
  const cert = new X509Certificate(certPem);
  assert.equal(cert.subject, `CN=node-1\nOU=flotilla-manager\nO=${CLUSTER}`);
  assert.equal(cert.subjectAltName, 'DNS:node-1, DNS:flotilla-manager');
  assert.equal(cert.ca, false);
  assert.deepEqual(cert.keyUsage?.slice().sort(), ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
  assert.ok(cert.verify(new X509Certificate(root.certPem).publicKey));

  const id = verifyNodeCert(root.certPem, certPem);
  assert.equal(id.nodeId, 'node-1');
  assert.equal(id.role, 'manager');
  assert.equal(id.clusterId, CLUSTER);
  assert.match(id.serial, /^[0-9a-f]+$/);
  assert.equal(id.fingerprint, 'sha256:' + cert.fingerprint256.replace(/:/g, '').toLowerCase());
  const days = (id.notAfter.getTime() - Date.now()) / (24 * 3600 * 1000);
  assert.ok(days > 89.9 && days <= 90, `validity ${days} days`);
  assert.deepEqual(parseNodeCert(cert.raw), id);
});

test('the identity comes from the CA, not from the CSR subject', async () => {
  const keyPem = generateNodeKey();
  const csr = await createCSR(keyPem, { nodeId: 'i-am-the-leader', role: 'manager', clusterId: 'someone-else' });
  const certPem = await signNodeCSR(ca, csr, { nodeId: 'w-7', role: 'worker' });
  const id = verifyNodeCert(root.certPem, certPem);
  assert.deepEqual([id.nodeId, id.role, id.clusterId], ['w-7', 'worker', CLUSTER]);
  assert.equal(new X509Certificate(certPem).subjectAltName, 'DNS:w-7, DNS:flotilla-worker');
  // The certificate is for the CSR's key.
  assert.ok(new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem)));
});

test('a CSR whose signature is broken is refused', async () => {
  const csr = await createCSR(generateNodeKey(), { nodeId: 'node-aaaa' });
  const der = Buffer.from(csr.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  const at = der.indexOf('node-aaaa');
  assert.ok(at > 0);
  der.write('node-bbbb', at); // same length: still well-formed DER, signature no longer matches
  const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
  await rejectsWith(signNodeCSR(ca, tampered, { nodeId: 'n', role: 'worker' }), 'INVALID_CSR', /signature does not verify/);
  await rejectsWith(signNodeCSR(ca, 'not a csr', { nodeId: 'n', role: 'worker' }), 'INVALID_CSR', /not a PEM "CERTIFICATE REQUEST"/);
});

test('signNodeCSR validates what the caller asks for', async () => {
  const csr = await createCSR(generateNodeKey());
  await rejectsWith(signNodeCSR(ca, csr, { nodeId: 'a b', role: 'worker' }), 'INVALID_IDENTITY', /node id "a b" is not valid/);
  await rejectsWith(signNodeCSR(ca, csr, { nodeId: 'n', role: 'admin' as NodeRole }), 'INVALID_IDENTITY', /role "admin"/);
  await rejectsWith(signNodeCSR(ca, csr, { nodeId: 'n', role: 'worker', clusterId: 'c2' }), 'INVALID_IDENTITY', /does not match the root CA's cluster id/);
  await rejectsWith(signNodeCSR({ certPem: root.certPem, keyPem: otherRoot.keyPem }, csr, { nodeId: 'n', role: 'worker' }), 'INVALID_CA', /mismatched/);
  assert.match(generateId(), /^[0-9a-z]{25}$/);
  await signNodeCSR(ca, csr, { nodeId: generateId(), role: 'worker' });
});

test('a node certificate never outlives the root CA', async () => {
  const shortRoot = await createRootCA({ clusterId: CLUSTER, validityDays: 1 });
  const { certPem } = await issue('worker', 'n1', shortRoot);
  assert.equal(parseNodeCert(certPem).notAfter.getTime(), loadRootCA(shortRoot.certPem, shortRoot.keyPem).notAfter.getTime());
  verifyNodeCert(shortRoot.certPem, certPem);
});

test('a certificate from another CA fails verification, even with the same issuer name', async () => {
  const { certPem } = await issue('manager', 'n1', otherRoot);
  assert.equal(new X509Certificate(certPem).issuer, new X509Certificate(root.certPem).subject);
  assert.throws(() => verifyNodeCert(root.certPem, certPem), fails('UNTRUSTED', /not issued by this cluster's CA/));
  // A CA of another cluster: not issued by it either.
  const foreign = await createRootCA({ clusterId: 'c2' });
  assert.throws(() => verifyNodeCert(foreign.certPem, certPem), fails('UNTRUSTED', /not issued/));
});

test('verifyNodeCert checks the validity window at `now`', async () => {
  const { certPem } = await issue('worker', 'n1');
  const id = parseNodeCert(certPem);
  assert.equal(verifyNodeCert(root.certPem, certPem, new Date(id.notAfter.getTime() - 1000)).nodeId, 'n1');
  assert.throws(() => verifyNodeCert(root.certPem, certPem, new Date(id.notAfter.getTime() + 1000)), fails('EXPIRED', /certificate of node n1 expired at/));
  assert.throws(() => verifyNodeCert(root.certPem, certPem, new Date(id.notBefore.getTime() - 1000)), fails('NOT_YET_VALID', /not valid before .* check the clocks/));
});

test('needsRenewal turns true past the given fraction of the lifetime', async () => {
  const { certPem } = await issue('worker', 'n1', root, 100);
  const { notBefore, notAfter } = parseNodeCert(certPem);
  const at = (f: number): Date => new Date(notBefore.getTime() + (notAfter.getTime() - notBefore.getTime()) * f);
  assert.equal(needsRenewal(certPem, at(0.4)), false);
  assert.equal(needsRenewal(certPem, at(0.6)), true);
  assert.equal(needsRenewal(certPem, at(0.6), 0.7), false);
  assert.equal(needsRenewal(certPem, at(1.5)), true);
  assert.equal(needsRenewal(certPem), false);
  assert.equal(renewalTime(certPem, 0.5).getTime(), at(0.5).getTime());
  assert.throws(() => needsRenewal(certPem, new Date(), 0), RangeError);
});

test('parseNodeCert gives a clear error on garbage and on certificates of another shape', () => {
  assert.throws(() => parseNodeCert('garbage'), fails('MALFORMED', /not a PEM certificate/));
  const broken = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n';
  assert.throws(() => parseNodeCert(broken), fails('MALFORMED', /cannot be parsed as an X.509 certificate/));
  assert.throws(() => parseNodeCert(new Uint8Array([1, 2, 3])), fails('MALFORMED', /cannot be parsed/));
  assert.throws(() => parseNodeCert(root.certPem), fails('NOT_A_NODE_CERT', /is not a flotilla node certificate: expected exactly one OU=<role>/));
});

// ---------------------------------------------------------------------------
// mutual TLS with node:tls

interface Endpoint {
  keyPem: string;
  certPem: string;
}

async function startServer(server: Endpoint): Promise<{ srv: tls.Server; port: number }> {
  const srv = tls.createServer({ key: server.keyPem, cert: server.certPem, ca: [root.certPem], requestCert: true, rejectUnauthorized: true }, (socket) => {
    socket.on('error', () => {});
    socket.on('data', (d: Buffer) => socket.write(d)); // echo
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  return { srv, port: (srv.address() as AddressInfo).port };
}

function connect(port: number, client: Endpoint, servername = 'flotilla-manager'): tls.TLSSocket {
  return tls.connect({ host: '127.0.0.1', port, key: client.keyPem, cert: client.certPem, ca: [root.certPem], servername });
}

test('mutual TLS: a manager server and a worker client see each other\'s identity', async () => {
  const manager = await issue('manager', 'mgr-1');
  const worker = await issue('worker', 'wrk-1');
  const { srv, port } = await startServer(manager);
  try {
    const accepted = once(srv, 'secureConnection') as Promise<[tls.TLSSocket]>;
    const client = connect(port, worker);
    await once(client, 'secureConnect');
    const [serverSide] = await accepted;

    assert.equal(client.authorized, true, String(client.authorizationError));
    assert.deepEqual({ ...client.getPeerCertificate().subject }, { CN: 'mgr-1', OU: 'flotilla-manager', O: CLUSTER });
    assert.equal(parseNodeCert(client.getPeerCertificate().raw).role, 'manager');

    assert.equal(serverSide.authorized, true, String(serverSide.authorizationError));
    assert.deepEqual({ ...serverSide.getPeerCertificate().subject }, { CN: 'wrk-1', OU: 'flotilla-worker', O: CLUSTER });
    const peer = parseNodeCert(serverSide.getPeerCertificate().raw);
    assert.deepEqual([peer.nodeId, peer.role, peer.clusterId], ['wrk-1', 'worker', CLUSTER]);

    client.write('ping');
    const [echo] = (await once(client, 'data')) as [Buffer];
    assert.equal(echo.toString(), 'ping');

    const closed = once(client, 'close');
    client.end();
    await closed;
  } finally {
    srv.close();
  }
});

test('mutual TLS: the server rejects a client certificate from another CA', async () => {
  const manager = await issue('manager', 'mgr-1');
  const intruder = await issue('manager', 'mgr-x', otherRoot);
  const { srv, port } = await startServer(manager);
  try {
    let accepted = false;
    srv.on('secureConnection', () => {
      accepted = true;
    });
    const refused = once(srv, 'tlsClientError');
    const client = connect(port, intruder);
    client.on('error', () => {});
    let received = '';
    client.on('data', (d: Buffer) => {
      received += d.toString();
    });
    // Under TLS 1.3 the client finishes its side of the handshake before the
    // server has checked the client certificate; the server then drops it.
    client.on('secureConnect', () => client.write('ping'));
    await refused;
    if (!client.closed) await once(client, 'close');
    assert.equal(accepted, false);
    assert.equal(received, '');
  } finally {
    srv.close();
  }
});

test('mutual TLS: the role SAN lets a client insist on talking to a manager', async () => {
  const worker = await issue('worker', 'wrk-1');
  const other = await issue('worker', 'wrk-2');
  const { srv, port } = await startServer(worker);
  try {
    srv.on('tlsClientError', () => {});
    const client = connect(port, other, 'flotilla-manager');
    const [err] = (await once(client, 'error')) as [NodeJS.ErrnoException];
    assert.equal(err.code, 'ERR_TLS_CERT_ALTNAME_INVALID');
  } finally {
    srv.close();
  }
});

test('toBase36 writes the same digits as a BigInt would, padded to the width; ids are 25 of them and distinct', () => {
  const bigint = (b: Uint8Array, width: number): string => {
    const hex = Buffer.from(b).toString('hex');
    return (hex === '' ? '0' : BigInt('0x' + hex).toString(36)).padStart(width, '0');
  };
  const samples: Uint8Array[] = [new Uint8Array(0), new Uint8Array([0]), new Uint8Array([255]), new Uint8Array(16).fill(255), new Uint8Array(32).fill(255), new Uint8Array([0, 0, 1])];
  for (let i = 0; i < 500; i++) samples.push(randomBytes(1 + (i % 33)));
  for (const b of samples) for (const width of [0, 25, 50]) assert.equal(toBase36(b, width), bigint(b, width), Buffer.from(b).toString('hex'));
  const ids = new Set(Array.from({ length: 1000 }, () => generateId()));
  assert.equal(ids.size, 1000);
  for (const id of ids) assert.match(id, /^[0-9a-z]{25}$/);
});
