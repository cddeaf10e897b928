// The data key ring: files and modes, unlock keys, protect and rotate, each
// change stopped after every durable step (as a crash would stop it), and a
// real kill -9 of a process that rotates in a loop while it writes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  DataKeyring,
  DEK_FILE,
  generateUnlockKey,
  InvalidUnlockKeyError,
  KEK_FILE,
  KeyringError,
  setKeyringStepHook,
  type KeyringStep,
} from '../../../src/manager/encryption/keyring.js';
import { RaftStorage, type ReencryptStep } from '../../../src/raft/storage.js';
import { EntryType, type Entry, type Snapshot } from '../../../src/raft/types.js';
import { scanFiles } from '../../../src/testing/byte-scan.js';
import { WRITER_CONF, writerEntry, writerSnapshotData, writerTerm } from '../../raft/fixtures/storage-writer.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const AAD = enc('a place');

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await fsp.mkdtemp(join(tmpdir(), 'keyring-'));
  try {
    await fn(dir);
  } finally {
    setKeyringStepHook(null);
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

async function exists(path: string): Promise<boolean> {
  return fsp.stat(path).then(
    () => true,
    () => false,
  );
}

async function mode(path: string): Promise<number> {
  return (await fsp.stat(path)).mode & 0o777;
}

/** Load a ring that must be there, unlocking it with `unlockKey` if it is locked. */
async function open(dir: string, unlockKey?: string): Promise<DataKeyring> {
  const l = await DataKeyring.load(dir);
  assert.ok(l, 'a ring is on disk');
  if (!l.locked) return l.keyring;
  assert.ok(unlockKey, 'the ring is locked: an unlock key is needed');
  return l.unlock(unlockKey);
}

/** Stop a change after `at`, as a crash would. */
function crashAt(at: KeyringStep): void {
  setKeyringStepHook((step) => {
    if (step === at) throw new Error(`simulated crash after ${step}`);
  });
}

// ------------------------------------------------------------ create, load

test('create writes the wrapped ring and the node KEK (both 0600, in a 0700 directory); load opens it', async () => {
  await withDir(async (base) => {
    const dir = join(base, 'keys');
    assert.equal(await DataKeyring.load(dir), null, 'no ring yet');
    const k = await DataKeyring.create(dir, { kind: 'node' });
    assert.deepEqual(k.protection, { kind: 'node' });
    assert.equal(k.rotating, false);
    assert.equal(k.keyIds.length, 1);
    assert.equal(await mode(join(dir, KEK_FILE)), 0o600);
    assert.equal(await mode(join(dir, DEK_FILE)), 0o600);
    assert.equal(await mode(dir), 0o700);
    assert.equal((await fsp.readFile(join(dir, KEK_FILE))).byteLength, 32);
    const header = JSON.parse(await fsp.readFile(join(dir, DEK_FILE), 'utf8')) as { protection: unknown };
    assert.deepEqual(header.protection, { kind: 'node' });
    const sealed = k.cipher.seal(enc('hello'), AAD);
    const again = await open(dir);
    assert.deepEqual(again.keyIds, k.keyIds);
    assert.deepEqual(again.cipher.open(sealed, AAD), enc('hello'));
    await assert.rejects(DataKeyring.create(dir, { kind: 'node' }), (e: unknown) => e instanceof KeyringError && /already exists/.test((e as Error).message));
  });
});

test('a missing, foreign or damaged part of the ring is a one-line KeyringError naming the file', async () => {
  await withDir(async (base) => {
    const a = join(base, 'a');
    const b = join(base, 'b');
    await DataKeyring.create(a, { kind: 'node' });
    await DataKeyring.create(b, { kind: 'node' });
    const check = (re: RegExp) => (e: unknown) => e instanceof KeyringError && re.test(e.message) && !e.message.includes('\n');
    await fsp.copyFile(join(b, KEK_FILE), join(a, KEK_FILE));
    await assert.rejects(DataKeyring.load(a), check(/raft-dek\.json does not open with .*raft-kek\.key: the two files do not belong together/));
    await fsp.rm(join(a, KEK_FILE));
    await assert.rejects(DataKeyring.load(a), check(/raft-kek\.key is missing.*restore it/));
    await fsp.writeFile(join(b, DEK_FILE), '{"format": "flotilla-raft-dek", "version": 7}');
    await assert.rejects(DataKeyring.load(b), check(/raft-dek\.json: unknown version 7/));
    await fsp.writeFile(join(b, DEK_FILE), 'not json');
    await assert.rejects(DataKeyring.load(b), check(/raft-dek\.json: not valid JSON/));
  });
});

test('a KEK readable by others is set back to 0600 at load', async () => {
  await withDir(async (dir) => {
    await DataKeyring.create(dir, { kind: 'node' });
    await fsp.chmod(join(dir, KEK_FILE), 0o644);
    await open(dir);
    assert.equal(await mode(join(dir, KEK_FILE)), 0o600);
  });
});

// ---------------------------------------------------------------- protect

test('protect: node KEK -> unlock key -> another unlock key -> node KEK, the same data keys throughout', async () => {
  await withDir(async (dir) => {
    const k = await DataKeyring.create(dir, { kind: 'node' });
    const sealed = k.cipher.seal(enc('kept'), AAD);
    const u1 = generateUnlockKey();
    await k.protect({ kind: 'unlock-key', unlockKey: u1 });
    assert.equal(await exists(join(dir, KEK_FILE)), false, 'no KEK on disk with autolock');
    assert.equal(k.protection.kind, 'unlock-key');
    assert.ok(k.matches(u1));
    assert.equal(k.matches(generateUnlockKey()), false);
    assert.equal(k.matches('garbage'), false);
    const text = await fsp.readFile(join(dir, DEK_FILE), 'utf8');
    assert.equal(text.includes(u1.slice(9)), false, 'the unlock key never touches disk');
    const l = await DataKeyring.load(dir);
    assert.ok(l?.locked);
    await assert.rejects(l.unlock(generateUnlockKey()), (e: unknown) => e instanceof InvalidUnlockKeyError && e.message === 'invalid unlock key: it is not the key this manager is locked with');
    await assert.rejects(l.unlock('FLTKEY-1-nope'), InvalidUnlockKeyError);
    const unlocked = await l.unlock(u1);
    assert.deepEqual(unlocked.protection, k.protection);
    assert.equal((unlocked.protection as { digest: string }).digest.length, 16);
    assert.deepEqual(unlocked.cipher.open(sealed, AAD), enc('kept'));

    const u2 = generateUnlockKey();
    await unlocked.protect({ kind: 'unlock-key', unlockKey: u2 });
    await assert.rejects((await DataKeyring.load(dir).then((x) => (x?.locked ? x : assert.fail('locked')))).unlock(u1), InvalidUnlockKeyError);
    const k2 = await open(dir, u2);
    assert.ok(k2.matches(u2));
    await k2.protect({ kind: 'node' });
    assert.equal(await mode(join(dir, KEK_FILE)), 0o600);
    assert.equal(k2.matches(u2), false);
    const k3 = await open(dir);
    assert.deepEqual(k3.cipher.open(sealed, AAD), enc('kept'));
    assert.deepEqual(k3.keyIds, k.keyIds);
    await assert.rejects(k3.protect({ kind: 'unlock-key', unlockKey: 'FLTKEY-1-short' }), InvalidUnlockKeyError);
    assert.deepEqual((await open(dir)).protection, { kind: 'node' }, 'a refused protect changes nothing');
  });
});

test('protect stopped after each durable step leaves a ring that opens with the old or the new protection', async () => {
  const cases: { from: 'node' | 'unlock-key'; at: KeyringStep; after: 'old' | 'new' }[] = [
    { from: 'node', at: 'protect:wrapped', after: 'new' },
    { from: 'node', at: 'protect:kek-removed', after: 'new' },
    { from: 'unlock-key', at: 'protect:kek-written', after: 'old' },
    { from: 'unlock-key', at: 'protect:wrapped', after: 'new' },
  ];
  for (const c of cases) {
    await withDir(async (dir) => {
      const u = generateUnlockKey();
      const k = await DataKeyring.create(dir, c.from === 'node' ? { kind: 'node' } : { kind: 'unlock-key', unlockKey: u });
      const sealed = k.cipher.seal(enc('kept'), AAD);
      crashAt(c.at);
      await assert.rejects(k.protect(c.from === 'node' ? { kind: 'unlock-key', unlockKey: u } : { kind: 'node' }), /simulated crash/);
      setKeyringStepHook(null);
      const nowKind = (c.after === 'new') === (c.from === 'node') ? 'unlock-key' : 'node';
      const again = await open(dir, u);
      assert.equal(again.protection.kind, nowKind, `${c.from} stopped after ${c.at}`);
      assert.deepEqual(again.cipher.open(sealed, AAD), enc('kept'));
      // A KEK left beside an unlock-key ring is removed: only the unlock key protects it.
      assert.equal(await exists(join(dir, KEK_FILE)), nowKind === 'node', `${c.from} stopped after ${c.at}: the KEK file`);
    });
  }
});

// ----------------------------------------------------------------- rotate

const MARKER = `MARKER-${randomBytes(6).toString('hex')}`;
const ent = (index: number): Entry => ({ index, term: 1 + (index >> 3), type: EntryType.Normal, data: enc(`${MARKER} ${index}`) });
const snapAt = (index: number): Snapshot => ({ meta: { index, term: 1 + (index >> 3), conf: { voters: ['a'], learners: [] } }, data: enc(`${MARKER} state ${index}`) });

test('rotate: new key current, everything re-sealed, the old key retired; the old key no longer opens anything stored', async () => {
  await withDir(async (dir) => {
    const k = await DataKeyring.create(join(dir, 'keys'), { kind: 'node' });
    const st = await RaftStorage.open(join(dir, 'raft'), { cipher: k.cipher });
    await st.save({ hardState: { term: 3, vote: 'a', commit: 20 }, entries: Array.from({ length: 20 }, (_, i) => ent(i + 1)), snapshot: null });
    await st.saveSnapshot(snapAt(10));
    const [old] = k.keyIds;
    await k.rotate(() => st.reencrypt());
    assert.equal(k.rotating, false);
    assert.equal(k.keyIds.length, 1);
    assert.notEqual(k.keyIds[0], old);
    await st.save({ hardState: null, entries: [ent(21)], snapshot: null });
    await st.close();
    const again = await open(join(dir, 'keys'));
    assert.deepEqual(again.keyIds, k.keyIds);
    const st2 = await RaftStorage.open(join(dir, 'raft'), { cipher: again.cipher });
    assert.deepEqual(st2.load().entries, Array.from({ length: 11 }, (_, i) => ent(i + 11)));
    assert.deepEqual(st2.load().snapshot, snapAt(10));
    await st2.close();
    assert.deepEqual(scanFiles(dir, { marker: MARKER }), []);
  });
});

test('rotate stopped at every step (the ring, the re-seal of the snapshot, of the entries, the retirement) loses nothing; the next start finishes it', async () => {
  const points: ({ ring: KeyringStep } | { storage: ReencryptStep } | { reencryptFails: true })[] = [
    { ring: 'rotate:extended' },
    { reencryptFails: true },
    { storage: 'snapshot-resealed' },
    { storage: 'entries-resealed' },
    { ring: 'rotate:reencrypted' },
    { ring: 'rotate:retired' },
  ];
  for (const p of points) {
    const name = JSON.stringify(p);
    await withDir(async (dir) => {
      const keys = join(dir, 'keys');
      const raft = join(dir, 'raft');
      const k = await DataKeyring.create(keys, { kind: 'node' });
      const st = await RaftStorage.open(raft, {
        cipher: k.cipher,
        onReencryptStep: (s) => {
          if ('storage' in p && p.storage === s) throw new Error(`simulated crash after ${s}`);
        },
      });
      await st.save({ hardState: { term: 4, vote: 'a', commit: 30 }, entries: Array.from({ length: 30 }, (_, i) => ent(i + 1)), snapshot: null });
      await st.saveSnapshot(snapAt(12));
      const want = st.lastIndex;
      const [old] = k.keyIds;
      if ('ring' in p) crashAt(p.ring);
      const rotation = k.rotate(async () => {
        if ('reencryptFails' in p) throw new Error('simulated crash in reencrypt');
        await st.reencrypt();
      });
      await assert.rejects(rotation, /simulated crash/, name);
      setKeyringStepHook(null);
      await st.close();

      // The next start: the ring as the crash left it.
      const again = await open(keys);
      const done = 'ring' in p && p.ring === 'rotate:retired';
      assert.equal(again.rotating, !done, `${name}: rotating`);
      assert.equal(again.keyIds.includes(old), !done, `${name}: the old key is kept until everything is re-sealed`);
      const st2 = await RaftStorage.open(raft, { cipher: again.cipher });
      assert.equal(st2.lastIndex, want);
      assert.deepEqual(st2.load().snapshot, snapAt(12), name);
      assert.deepEqual(st2.load().entries, Array.from({ length: 18 }, (_, i) => ent(i + 13)), name);
      await again.finishRotation(() => st2.reencrypt());
      assert.equal(again.rotating, false);
      assert.equal(again.keyIds.length, 1);
      await st2.close();

      const last = await open(keys);
      assert.deepEqual(last.keyIds, again.keyIds);
      const st3 = await RaftStorage.open(raft, { cipher: last.cipher });
      assert.deepEqual(st3.load().entries, Array.from({ length: 18 }, (_, i) => ent(i + 13)), name);
      await st3.close();
      assert.deepEqual(scanFiles(dir, { marker: MARKER }), [], name);
    });
  }
});

test('protectAndRotate (autolock on): stopped after each durable step, the ring opens under the unlock key mid-rotation, and finishing it retires the key the KEK file wrapped', async () => {
  for (const at of ['protect:wrapped', 'protect:kek-removed', 'rotate:reencrypted'] as KeyringStep[]) {
    await withDir(async (dir) => {
      const u = generateUnlockKey();
      const k = await DataKeyring.create(join(dir, 'keys'), { kind: 'node' });
      const st = await RaftStorage.open(join(dir, 'raft'), { cipher: k.cipher });
      await st.save({ hardState: { term: 3, vote: 'a', commit: 12 }, entries: Array.from({ length: 12 }, (_, i) => ent(i + 1)), snapshot: null });
      const [old] = k.keyIds;
      crashAt(at);
      await assert.rejects(k.protectAndRotate({ kind: 'unlock-key', unlockKey: u }, () => st.reencrypt()), /simulated crash/);
      setKeyringStepHook(null);
      await st.close();
      const again = await open(join(dir, 'keys'), u);
      assert.equal(again.protection.kind, 'unlock-key', at);
      assert.equal(await exists(join(dir, 'keys', KEK_FILE)), false, `${at}: no KEK file (a stale one is removed at load)`);
      assert.ok(again.rotating, `${at}: a rotation to finish`);
      assert.notEqual(again.keyIds[again.keyIds.length - 1], old, 'the current key is the new one');
      const st2 = await RaftStorage.open(join(dir, 'raft'), { cipher: again.cipher });
      await again.finishRotation(() => st2.reencrypt());
      assert.equal(again.rotating, false);
      assert.ok(!again.keyIds.includes(old), `${at}: the key the KEK file wrapped is retired`);
      await st2.close();
      const st3 = await RaftStorage.open(join(dir, 'raft'), { cipher: (await open(join(dir, 'keys'), u)).cipher });
      assert.deepEqual(st3.load().entries, Array.from({ length: 12 }, (_, i) => ent(i + 1)));
      await st3.close();
    });
  }
});

test('a ring protected by an unlock key rotates too, and stays protected by it', async () => {
  await withDir(async (dir) => {
    const u = generateUnlockKey();
    const k = await DataKeyring.create(dir, { kind: 'unlock-key', unlockKey: u });
    const before = k.protection;
    await k.rotate(async () => undefined);
    const again = await open(dir, u);
    assert.deepEqual(again.protection, before);
    assert.deepEqual(again.keyIds, k.keyIds);
    assert.equal(await exists(join(dir, KEK_FILE)), false);
  });
});

// ------------------------------------------------------------------ kill -9

test('kill -9 of a process that rotates the data key in a loop while it writes loses no acknowledged entry', { timeout: 120_000 }, async () => {
  await withDir(async (dir) => {
    const script = fileURLToPath(new URL('./fixtures/rotate-writer.js', import.meta.url));
    let top = 0;
    let rotations = 0;
    let interrupted = 0;
    for (let round = 0; round < 5; round++) {
      const child = spawn(process.execPath, [script, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
      const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
      // Once it writes and has rotated at least once, let it run a random while, then pull the plug.
      const deadline = Date.now() + 15_000;
      const lines = (): string[] => out.split('\n').slice(0, -1);
      while (Date.now() < deadline && child.exitCode === null && !(lines().some((l) => /^\d+$/.test(l)) && lines().some((l) => l.startsWith('r')))) {
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.ok(lines().some((l) => l.startsWith('r')), `round ${round}: no rotation completed: ${err}`);
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 400)));
      child.kill('SIGKILL');
      await exited;
      assert.equal(child.signalCode, 'SIGKILL', `round ${round}: the writer stopped by itself: ${err}`);
      const acked = lines().filter((l) => /^\d+$/.test(l)).map(Number);
      rotations += lines().filter((l) => l.startsWith('r')).length;
      if (acked.length > 0) {
        assert.equal(acked[0], top + 1, `round ${round}: acknowledgements continue from ${top}`);
        top = acked[acked.length - 1];
      }

      // What the next start sees: the ring as the kill left it, and every acknowledged entry.
      const l = await DataKeyring.load(join(dir, 'keys'));
      assert.ok(l && !l.locked);
      if (l.keyring.rotating) interrupted++;
      const st = await RaftStorage.open(join(dir, 'raft'), { cipher: l.keyring.cipher });
      const parts = st.load();
      await st.close();
      const snapIndex = parts.snapshot ? parts.snapshot.meta.index : 0;
      if (parts.snapshot) {
        assert.deepEqual(parts.snapshot.meta, { index: snapIndex, term: writerTerm(snapIndex), conf: WRITER_CONF });
        assert.deepEqual(parts.snapshot.data, writerSnapshotData(snapIndex));
      }
      const byIndex = new Map(parts.entries.map((e) => [e.index, e]));
      for (let i = snapIndex + 1; i <= top; i++) assert.deepEqual(byIndex.get(i), writerEntry(i), `round ${round}: acknowledged entry ${i}`);
      assert.ok(parts.entries.length === 0 || parts.entries[parts.entries.length - 1].index <= top + 1);
      // Entries the writer acknowledged in the previous round are still part of the log it continues.
      if (parts.entries.length > 0 && parts.entries[parts.entries.length - 1].index > top) top = parts.entries[parts.entries.length - 1].index;
      assert.deepEqual(scanFiles(dir, { entry: 'entry-', state: 'state-up-to-' }), [], `round ${round}: no plaintext on disk`);
    }
    assert.ok(top > 40, `enough writes to take snapshots (${top})`);
    process.stderr.write(`# kill -9 rounds: ${top} entries, ${rotations} completed rotations, ${interrupted} kills left a rotation to finish\n`);
  });
});
