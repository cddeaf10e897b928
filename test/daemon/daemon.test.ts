// The daemon in-process, on real gRPC/TLS and LevelDB (127.0.0.86:7486):
// certificate renewal before expiry, and what a damaged data dir says.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { initCluster } from '../../src/daemon/bootstrap.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { checkFreshDataDir, DataDirError, dataDirPaths, loadState } from '../../src/daemon/state.js';
import { createCSR, needsRenewal, parseNodeCert, signNodeCSR } from '../../src/manager/ca/ca.js';

const base = mkdtempSync(join(tmpdir(), 'flotilla-daemon-'));
after(() => rmSync(base, { recursive: true, force: true }));

test('a node renews its certificate before it expires, with a new key, and keeps it on disk', async () => {
  const dir = join(base, 'm1');
  const addr = '127.0.0.86:7486';
  const init = await initCluster({ dataDir: dir, listenAddr: addr, advertiseAddr: addr });
  const d = await Daemon.start({ dataDir: dir, nodeStatusIntervalMs: 100 });
  try {
    const cluster = d.manager?.rs.store.list('cluster')[0];
    assert.ok(cluster);
    // A certificate half-way through its life (1 h, back-dated 1 h): due for renewal now.
    const old = d.tls.current;
    const short = await signNodeCSR(cluster.rootCA, await createCSR(old.keyPem), { nodeId: init.nodeId, role: 'manager', clusterId: init.clusterId, validityHours: 1 });
    assert.ok(needsRenewal(short));
    d.tls.update({ ...old, certPem: short });
    await waitUntil(() => d.tls.current.certPem !== short, 10_000, 'the renewal');
    const renewed = parseNodeCert(d.tls.current.certPem);
    assert.equal(renewed.nodeId, init.nodeId);
    assert.equal(renewed.role, 'manager');
    assert.ok(renewed.notAfter.getTime() - Date.now() > 80 * 24 * 3600 * 1000, 'the cluster default validity (90 days)');
    assert.notEqual(d.tls.current.keyPem, old.keyPem, 'a renewal rotates the key');
    assert.equal(readFileSync(dataDirPaths(dir).cert, 'utf8'), d.tls.current.certPem);
    assert.equal(readFileSync(dataDirPaths(dir).key, 'utf8'), d.tls.current.keyPem);
    assert.equal(needsRenewal(d.tls.current.certPem), false);
  } finally {
    await d.stop();
  }
  await assert.rejects(checkFreshDataDir(dir), (e: Error) => e instanceof DataDirError && /already holds a node/.test(e.message));
});

test('a damaged or missing data dir is a clear error', async () => {
  const empty = join(base, 'empty');
  await assert.rejects(loadState(empty), (e: Error) => e instanceof DataDirError && /flotilla init.*flotilla join/.test(e.message));
  const dir = join(base, 'bad');
  await initCluster({ dataDir: dir, listenAddr: '127.0.0.86:7487', advertiseAddr: '127.0.0.86:7487' });
  writeFileSync(dataDirPaths(dir).state, '{"version": 1, "nodeId": 3');
  await assert.rejects(loadState(dir), (e: Error) => e instanceof DataDirError && /not valid JSON.*damaged/.test(e.message));
  writeFileSync(dataDirPaths(dir).state, JSON.stringify({ version: 9 }));
  await assert.rejects(loadState(dir), (e: Error) => e instanceof DataDirError && /unknown version/.test(e.message));
  writeFileSync(dataDirPaths(dir).state, JSON.stringify({ version: 1, nodeId: 'x', clusterId: 'y', role: 'manager', listenAddr: 'a:1', advertiseAddr: 'a:1', managers: [] }));
  writeFileSync(dataDirPaths(dir).cert, 'not a certificate');
  await assert.rejects(Daemon.start({ dataDir: dir }), (e: Error) => e instanceof DataDirError && /not a usable node certificate/.test(e.message));
});

async function waitUntil(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
