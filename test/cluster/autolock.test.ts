// Autolock and encryption at rest (issue 17) on real daemons: three managers on
// loopback (127.0.0.220-222:7720), every operator action through the CLI.
// - init --autolock prints the unlock key once; `unlock-key -q` shows the same;
//   every manager's data key ends up wrapped by it (no key file left in any
//   data dir);
// - a manager killed with SIGKILL and restarted stays out of Raft, locked, and
//   says so in one line to every CLI call; `unlock` with a wrong key is refused
//   in one line; with the right key it rejoins, with everything written before;
// - unlock-key --rotate with a manager killed right after (at several
//   moments): it comes back with the new key or, if it had not re-wrapped yet,
//   the old one (as Swarm's), and nothing is lost;
// - autolock off: the key files come back and a restarted manager needs no key;
//   autolock on again: the data key is rotated, and a kill -9 in the middle of
//   it loses nothing;
// - a byte scan of every file in every data dir and every daemon log finds
//   neither the CA key's PEM body (read back by decrypting the store with the
//   node's keys) nor the unlock key.
//
//   npx tsc -p tsconfig.json && node --test dist/test/cluster/autolock.test.js
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DaemonCluster } from '../../src/testing/daemon-cluster.js';
import { generateUnlockKey } from '../../src/manager/encryption/unlock-key.js';
import { readManagerStore } from '../../src/testing/manager-store.js';

const base = mkdtempSync(join(tmpdir(), 'flotilla-autolock-'));
const c = new DaemonCluster({ baseDir: base, firstHost: 220, port: 7720, nodeStatusMs: 500 });
const MANAGERS = [0, 1, 2];
let initKey = '';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const kekFile = (i: number): string => join(c.node(i).dataDir, 'keys', 'raft-kek.key');
/**
 * Manager i's data keys are wrapped by its key file again (autolock off). The key file alone does not say so:
 * it is written first, and the ring re-wrapped with it after (src/manager/encryption/keyring.ts).
 */
function wrappedByKeyFile(i: number): boolean {
  try {
    const ring = JSON.parse(readFileSync(join(c.node(i).dataDir, 'keys', 'raft-dek.json'), 'utf8')) as { protection?: { kind?: string } };
    return ring.protection?.kind === 'node' && existsSync(kekFile(i));
  } catch {
    return false;
  }
}

async function unlockKey(i = 0): Promise<string> {
  return (await c.cliOk(i, ['unlock-key', '-q'])).stdout.trim();
}

/** Every manager reachable, as node i sees the cluster. */
async function allReachable(i: number): Promise<boolean> {
  const r = await c.cli(i, ['cluster', 'info', '--format', 'json']);
  if (r.code !== 0) return false;
  const info = JSON.parse(r.stdout) as { leaderId: string; managers: { reachability: string }[] };
  return info.leaderId !== '' && info.managers.length === MANAGERS.length && info.managers.every((m) => m.reachability === 'reachable');
}

async function networks(i: number): Promise<string[]> {
  const lines = (await c.cliOk(i, ['network', 'ls', '--format', 'json'])).stdout.trim().split('\n').filter(Boolean);
  return lines.map((l) => (JSON.parse(l) as { Name: string }).Name).sort();
}

/** Restart manager i after a kill; unlock it with the first of `keys` it accepts; resolves with the key that worked ('' if it came up unlocked). */
async function restartAndUnlock(i: number, keys: string[]): Promise<string> {
  await c.restart(i);
  let key = '';
  await c.waitFor(
    async () => {
      const r = await c.cli(i, ['cluster', 'info', '--format', 'json']);
      if (r.code === 0) return true;
      if (!/this manager is locked/.test(r.stderr)) return false;
      for (const k of keys) {
        const u = await c.cli(i, ['unlock'], 30_000, `${k}\n`);
        if (u.code === 0) {
          key = k;
          return true;
        }
        assert.match(u.stderr, /^flotilla: invalid unlock key[^\n]*\n$/);
      }
      throw new Error(`manager ${i} refused every key`);
    },
    30_000,
    `manager ${i} to start or unlock`,
    c.node(i),
  );
  await c.waitFor(() => allReachable(i), 30_000, `manager ${i} back in the group`, c.node(i));
  return key;
}

before(async () => {
  await c.init(0, ['--autolock']);
  initKey = /\n {4}(FLTKEY-1-[A-Z2-7]{52})\n/.exec(c.node(0).stdout)?.[1] ?? '';
  await c.join(1, 'manager');
  await c.join(2, 'manager');
  await c.waitFor(() => allReachable(0), 60_000, 'three reachable managers');
});

after(async () => {
  await c.stop();
  if (process.env.KEEP_CLUSTER_DIRS !== '1') rmSync(base, { recursive: true, force: true });
});

test('init --autolock prints the key; every manager wraps its data key with it (no key file left)', async () => {
  assert.match(initKey, /^FLTKEY-1-/, c.node(0).stdout);
  assert.equal(await unlockKey(0), initKey);
  assert.equal(await unlockKey(2), initKey, 'any manager shows it');
  await c.waitFor(() => MANAGERS.every((i) => !existsSync(kekFile(i))), 30_000, 'every manager to drop its key file');
});

test('a restarted manager waits locked, refuses a wrong key in one line, and rejoins with the right one', async () => {
  await c.cliOk(0, ['network', 'create', 'before-restart']);
  await c.kill(2);
  await c.restart(2);
  await c.waitFor(async () => /this manager is locked/.test((await c.cli(2, ['node', 'ls'])).stderr), 30_000, 'manager 3 to say it is locked', c.node(2));
  const r = await c.cli(2, ['node', 'ls']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^flotilla: this manager is locked: run `flotilla unlock`[^\n]*\n$/);
  // Out of Raft: the others see it unreachable.
  await c.waitFor(async () => !(await allReachable(0)), 30_000, 'the group to see manager 3 unreachable');
  const wrong = await c.cli(2, ['unlock'], 30_000, `${generateUnlockKey()}\n`);
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /^flotilla: invalid unlock key[^\n]*\n$/);
  const garbage = await c.cli(2, ['unlock'], 30_000, 'hunter2\n');
  assert.equal(garbage.code, 1);
  assert.match(garbage.stderr, /^flotilla: invalid unlock key: an unlock key is FLTKEY-1- [^\n]*\n$/);
  assert.ok(!garbage.stderr.includes('hunter2'));
  const ok = await c.cli(2, ['unlock'], 30_000, `${initKey}\n`);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout, 'manager unlocked\n');
  await c.waitFor(() => allReachable(2), 30_000, 'manager 3 back in the group', c.node(2));
  assert.ok((await networks(2)).includes('before-restart'));
});

test('unlock-key --rotate with a manager killed right after: it opens with the new key or the old one, and loses nothing', async () => {
  let key = await unlockKey(0);
  for (const [round, delayMs] of [0, 30, 150, 600].entries()) {
    await c.cliOk(0, ['network', 'create', `rotate-${round}`]);
    const old = key;
    key = (await c.cliOk(0, ['unlock-key', '--rotate', '-q'])).stdout.trim();
    assert.notEqual(key, old);
    await sleep(delayMs);
    await c.kill(1);
    const used = await restartAndUnlock(1, [key, old]);
    assert.ok(used === key || used === old, `round ${round}: unlocked with ${used ? 'a key' : 'none'}`);
    assert.ok((await networks(1)).includes(`rotate-${round}`), `round ${round}: manager 2 has what was written before`);
    // Once back, it re-wraps with the current key: a restart now needs only that one.
    await sleep(1_000);
    await c.kill(1);
    assert.equal(await restartAndUnlock(1, [key]), key);
  }
});

test('autolock off brings the key files back (a restart needs no key); on again rotates the data key, kill -9 in the middle loses nothing', async () => {
  await c.cliOk(0, ['cluster', 'update', '--autolock=false']);
  await c.waitFor(() => MANAGERS.every(wrappedByKeyFile), 30_000, 'every manager to wrap its data keys with its key file');
  for (const i of MANAGERS) assert.equal(statSync(kekFile(i)).mode & 0o777, 0o600);
  await c.kill(2);
  assert.equal(await restartAndUnlock(2, []), '', 'manager 3 starts without a key');
  for (const [round, delayMs] of [0, 50, 300].entries()) {
    await c.cliOk(0, ['network', 'create', `relock-${round}`]);
    const out = (await c.cliOk(0, ['cluster', 'update', '--autolock=true'])).stdout;
    const key = /\n {4}(FLTKEY-1-[A-Z2-7]{52})\n/.exec(out)?.[1] ?? '';
    assert.ok(key, out);
    await sleep(delayMs);
    await c.kill(2);
    await restartAndUnlock(2, [key]);
    assert.ok((await networks(2)).includes(`relock-${round}`));
    if (round < 2) {
      await c.cliOk(0, ['cluster', 'update', '--autolock=false']);
      await c.waitFor(() => wrappedByKeyFile(2), 30_000, 'manager 3 to wrap its data keys with its key file');
    }
  }
});

test('no data dir file and no daemon log holds the CA key PEM body or the unlock key', async () => {
  const key = await unlockKey(0);
  await c.waitFor(() => MANAGERS.every((i) => !existsSync(kekFile(i))), 30_000, 'every manager wrapped by the unlock key');
  // Stop one manager cleanly to read its store with its keys (LevelDB is locked while it runs).
  await c.kill(1, 'SIGTERM');
  const store = await readManagerStore(c.node(1).dataDir, key);
  const caKeyPem = store.list('cluster')[0]?.rootCA.keyPem ?? '';
  assert.match(caKeyPem, /-----BEGIN PRIVATE KEY-----/);
  const body = caKeyPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
  // A P-256 PKCS#8 key's first 36 bytes (48 base64 characters) are the same for every key (the algorithm's
  // header; node.key starts with them too): the needles are the private scalar, as base64 text and as bytes.
  const der = Buffer.from(body, 'base64');
  const scalar = der.subarray(36, 68);
  const needles: (string | Buffer)[] = [body.slice(48, 90), scalar, key, key.slice('FLTKEY-1-'.length)];
  const files: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) files.push(p);
    }
  };
  for (const i of MANAGERS) {
    walk(c.node(i).dataDir);
    files.push(`${c.node(i).dataDir}.log`);
  }
  assert.ok(files.some((f) => f.includes('.ldb') || f.endsWith('.log')), 'the scan covers LevelDB files');
  for (const f of files) {
    const bytes = readFileSync(f);
    for (const [i, n] of needles.entries()) assert.equal(bytes.indexOf(n), -1, `${f} holds a secret (${i >= 2 ? 'the unlock key' : 'the CA key'})`);
  }
  await restartAndUnlock(1, [key]);
});
