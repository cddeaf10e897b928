// Encryption at rest, end to end through init and the daemon (in-process, real
// gRPC/TLS and LevelDB on 127.0.0.87:7488): a new manager's data dir has its
// key ring (the node KEK mode 0600), and a byte scan of every file in the data
// dir finds neither the CA key, nor the join tokens, nor a secret's value,
// before and after a data key rotation; with autolock, a restarted manager
// waits locked until it is given the unlock key.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { loadControlProto } from '../../src/api/proto.js';
import { unary } from '../../src/manager/peer-clients.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { initCluster } from '../../src/daemon/bootstrap.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { dataDirPaths } from '../../src/daemon/state.js';
import { DataKeyring, generateUnlockKey, KEK_FILE } from '../../src/manager/encryption/keyring.js';
import { createAction } from '../../src/manager/store/store.js';
import { scanFiles } from '../../src/testing/byte-scan.js';

const base = mkdtempSync(join(tmpdir(), 'flotilla-daemon-enc-'));
after(() => rmSync(base, { recursive: true, force: true }));

const ADDR = '127.0.0.87:7488';
const T0 = Date.now();

/** The base64 lines of a PEM's body (each one a needle: the JSON of a transaction keeps the lines, escaping the newlines). */
function pemLines(pem: string): string[] {
  return pem
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length >= 32 && !l.startsWith('-----'));
}

function secret(id: string, name: string, value: string): Parameters<typeof createAction<'secret'>>[1] {
  return { id, version: 0, createdAt: T0, updatedAt: T0, spec: { name, labels: {}, data: Buffer.from(value).toString('base64') } };
}

test('a manager keeps no secret, join token or CA key in plaintext in any file of its data dir, across a data key rotation', async () => {
  const dir = join(base, 'm1');
  await initCluster({ dataDir: dir, listenAddr: ADDR, advertiseAddr: ADDR });
  const p = dataDirPaths(dir);
  assert.equal(statSync(p.kek).mode & 0o777, 0o600, 'the node KEK is 0600');
  assert.equal(statSync(p.dataKeys).mode & 0o777, 0o600, 'the wrapped data keys are 0600');
  const loaded = await DataKeyring.load(p.keys);
  assert.ok(loaded && !loaded.locked, 'a ring protected by the node KEK');
  assert.deepEqual(loaded.keyring.protection, { kind: 'node' });

  const values = [`s3cret-before-rotation-${T0}`, `s3cret-after-rotation-${T0}`];
  const d = await Daemon.start({ dataDir: dir, agent: false });
  let needles: Record<string, string> = {};
  let certLines: string[] = [];
  try {
    const m = d.manager;
    assert.ok(m);
    await m.write([createAction('secret', secret('sec1', 'db-password', values[0]))], { timeoutMs: 10_000 });
    const cluster = m.rs.store.list('cluster')[0];
    assert.ok(cluster);
    const keyLines = pemLines(cluster.rootCA.keyPem);
    assert.ok(keyLines.length >= 2, 'the CA key PEM has a body');
    certLines = pemLines(cluster.rootCA.certPem);
    needles = {
      ...Object.fromEntries(keyLines.map((l, i) => [`CA key line ${i}`, l])),
      'worker join token': cluster.joinTokens.worker,
      'manager join token': cluster.joinTokens.manager,
      ...Object.fromEntries(values.flatMap((v, i) => [[`secret ${i}`, v], [`secret ${i} base64`, Buffer.from(v).toString('base64')]])),
    };
    const before = m.keyring.keyIds;
    await m.rotateDataKey();
    assert.equal(m.keyring.keyIds.length, 1);
    assert.notDeepEqual(m.keyring.keyIds, before, 'a new data key');
    await m.write([createAction('secret', secret('sec2', 'api-key', values[1]))], { timeoutMs: 10_000 });
  } finally {
    await d.stop();
  }

  // The scan can find what is there: the CA certificate (public) is in certificates/root-ca.crt.
  const control = scanFiles(dir, Object.fromEntries(certLines.map((l, i) => [`CA cert line ${i}`, l])));
  assert.ok(control.some((h) => h.file === join('certificates', 'root-ca.crt')), `the scan reads the files: ${JSON.stringify(control)}`);
  assert.deepEqual(scanFiles(dir, needles), [], 'nothing secret is in plaintext in the data dir');

  // Restarted, the manager reads it all back.
  const again = await Daemon.start({ dataDir: dir, agent: false });
  try {
    const store = again.manager!.rs.store;
    assert.deepEqual(['sec1', 'sec2'].map((id) => Buffer.from(store.get('secret', id)!.spec.data, 'base64').toString()), values);
  } finally {
    await again.stop();
  }
  assert.deepEqual(scanFiles(dir, needles), []);
});

test('init --autolock: the daemon wraps its ring with the unlock key; restarted, it waits locked, refuses a wrong key and opens with the right one', async () => {
  const dir = join(base, 'locked');
  const init = await initCluster({ dataDir: dir, listenAddr: ADDR, advertiseAddr: ADDR, autolock: true });
  const key = init.unlockKey ?? '';
  assert.match(key, /^FLTKEY-1-/);
  const p = dataDirPaths(dir);
  // init's own manager leaves the ring as it was made (node KEK); the daemon's manager follows the cluster.
  const first = await Daemon.start({ dataDir: dir, agent: false });
  try {
    // Once the manager has applied its log (the cluster object), the follower re-wraps the ring.
    let l = await DataKeyring.load(p.keys);
    for (let i = 0; i < 200 && !l?.locked; i++) {
      await new Promise((r) => setTimeout(r, 50));
      await first.manager?.protection?.settled();
      l = await DataKeyring.load(p.keys);
    }
    assert.ok(l?.locked, 'wrapped by the unlock key');
    assert.equal(existsSync(join(p.keys, KEK_FILE)), false, 'no key file left');
  } finally {
    await first.stop();
  }
  // Restarted: it waits, serving only UnlockNode on its control socket.
  const starting = Daemon.start({ dataDir: dir, agent: false });
  let started: Daemon | null = null;
  void starting.then((d) => (started = d));
  const client = new (loadControlProto().Client)(`unix:${p.controlSocket}`, grpc.credentials.createInsecure());
  try {
    const call = <T>(method: string, req: object): Promise<T> => unary<object, T>(client, method, req, { deadlineMs: 5_000 });
    let refusal: unknown;
    for (let i = 0; i < 100 && refusal === undefined; i++) {
      refusal = await call('ListNodes', {}).then(
        () => assert.fail('a locked manager answered ListNodes'),
        (err: grpc.ServiceError) => (err.code === grpc.status.UNAVAILABLE ? undefined : err),
      );
      if (refusal === undefined) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal((refusal as grpc.ServiceError).code, grpc.status.FAILED_PRECONDITION);
    assert.match((refusal as grpc.ServiceError).details, /^this manager is locked: run `flotilla unlock`/);
    await assert.rejects(call('UnlockNode', { unlockKey: generateUnlockKey() }), (err: grpc.ServiceError) => err.code === grpc.status.INVALID_ARGUMENT && /^invalid unlock key: it is not the key/.test(err.details));
    await assert.rejects(call('UnlockNode', { unlockKey: 'letmein' }), (err: grpc.ServiceError) => err.code === grpc.status.INVALID_ARGUMENT && !err.details.includes('letmein'));
    assert.equal(started, null, 'still locked');
    await call('UnlockNode', { unlockKey: key });
  } finally {
    client.close();
  }
  const d = await starting;
  try {
    assert.ok(d.manager, 'the manager runs');
    assert.equal(d.manager.rs.store.list('cluster')[0]?.unlockKey, key, 'and reads its store');
  } finally {
    await d.stop();
  }
});
