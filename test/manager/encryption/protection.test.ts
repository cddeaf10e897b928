// The re-wrap decision, transition by transition, and the follower that acts on it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { protectionStep, KeyProtectionFollower, type CurrentProtection, type ProtectedKeyring, type WantedProtection } from '../../../src/manager/encryption/protection.js';
import { generateUnlockKey, unlockKeyDigest } from '../../../src/manager/encryption/unlock-key.js';
import type { Cluster } from '../../../src/api/objects.js';
import { cluster } from '../store-fixtures.js';
import { createAction, updateAction } from '../../../src/manager/store/store.js';
import { LocalStore } from '../local-store.js';

class FakeRing implements ProtectedKeyring {
  protection: CurrentProtection = { kind: 'node' };
  readonly steps: string[] = [];
  failNext = false;
  matches(key: string): boolean {
    return this.protection.kind === 'unlock-key' && this.protection.digest === unlockKeyDigest(key);
  }
  protect(p: WantedProtection): Promise<void> {
    if (this.failNext) {
      this.failNext = false;
      return Promise.reject(new Error('disk full'));
    }
    this.protection = p.kind === 'node' ? p : { kind: 'unlock-key', digest: unlockKeyDigest(p.unlockKey) };
    this.steps.push(`protect:${p.kind}`);
    return Promise.resolve();
  }
  async protectAndRotate(p: WantedProtection, reencrypt: () => Promise<void>): Promise<void> {
    await this.protect(p);
    this.steps.push('rotate');
    await reencrypt();
  }
}

function locked(c: Cluster, key: string): Cluster {
  return { ...c, spec: { ...c.spec, encryption: { autoLockManagers: true } }, unlockKey: key };
}

test('protectionStep: off -> nothing; on -> wrap with the key and rotate once; a new key -> re-wrap only; off again -> key file', () => {
  const ring = new FakeRing();
  const c = cluster('c1', 'default');
  assert.deepEqual(protectionStep(undefined, ring), { action: 'none' });
  assert.deepEqual(protectionStep(c, ring), { action: 'none' });
  const k1 = generateUnlockKey();
  assert.deepEqual(protectionStep(locked(c, k1), ring), { action: 'protect', to: { kind: 'unlock-key', unlockKey: k1 }, rotate: true });
  ring.protection = { kind: 'unlock-key', digest: unlockKeyDigest(k1) };
  assert.deepEqual(protectionStep(locked(c, k1), ring), { action: 'none' });
  const k2 = generateUnlockKey();
  assert.deepEqual(protectionStep(locked(c, k2), ring), { action: 'protect', to: { kind: 'unlock-key', unlockKey: k2 }, rotate: false });
  assert.deepEqual(protectionStep(c, ring), { action: 'protect', to: { kind: 'node' }, rotate: false });
  // Autolock on but no key (cannot happen through the API): nothing to wrap with, so the key file stays.
  ring.protection = { kind: 'node' };
  assert.deepEqual(protectionStep({ ...c, spec: { ...c.spec, encryption: { autoLockManagers: true } } }, ring), { action: 'none' });
});

test('the follower re-wraps as the cluster object changes, rotates the data key once when autolock turns on, and retries after a failure', async () => {
  const local = new LocalStore();
  const store = local.store;
  const ring = new FakeRing();
  let reencrypted = 0;
  const f = new KeyProtectionFollower(store, ring, () => {
    reencrypted++;
    return Promise.resolve();
  });
  f.start();
  const c = cluster('c1', 'default');
  local.applyNow([createAction('cluster', c)]);
  await f.settled();
  assert.deepEqual(ring.steps, []);
  const k1 = generateUnlockKey();
  const v1 = store.list('cluster')[0];
  local.applyNow([updateAction('cluster', locked(v1, k1))]);
  await f.settled();
  assert.deepEqual(ring.steps, ['protect:unlock-key', 'rotate']);
  assert.equal(reencrypted, 1);
  assert.ok(ring.matches(k1));
  const k2 = generateUnlockKey();
  ring.failNext = true;
  local.applyNow([updateAction('cluster', locked(store.list('cluster')[0], k2))]);
  await f.settled();
  assert.ok(ring.matches(k1), 'a failed re-wrap leaves the ring as it was');
  await f.stop();
  // A new follower (after a restart) catches up with the cluster as it is.
  const g = new KeyProtectionFollower(store, ring, () => Promise.resolve());
  g.start();
  await g.settled();
  assert.ok(ring.matches(k2));
  assert.deepEqual(ring.steps, ['protect:unlock-key', 'rotate', 'protect:unlock-key']);
  await g.stop();
});
