// The cluster store replicated through Raft, on real LevelDB and gRPC (three
// managers in one process on 127.0.0.20-22): writes through the leader, typed
// conflicts, NotLeader with the leader's address on a follower, linearizable
// reads after barrier(), and everything back after all managers restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { ReplicatedStore } from '../../src/manager/replicated-store.js';
import { createAction, updateAction, NameConflictError, VersionConflictError } from '../../src/manager/store/store.js';
import type { Service } from '../../src/api/objects.js';
import { NotLeaderError } from '../../src/raft/errors.js';
import { raftServerOptions } from '../../src/raft/transport.js';
import { service } from './store-fixtures.js';

const ids = ['m1', 'm2', 'm3'];
const addr = (i: number) => `127.0.0.${20 + i}:7420`;
const founders = new Map(ids.map((id, i) => [id, addr(i)]));

interface Running {
  rs: ReplicatedStore;
  server: grpc.Server;
}

async function startAll(dir: string, bootstrap: boolean, snapshotEvery = 10_000): Promise<Running[]> {
  return Promise.all(
    ids.map(async (id, i) => {
      const rs = await ReplicatedStore.open({ id, address: addr(i), dataDir: join(dir, id), bootstrap: bootstrap ? founders : undefined, peers: founders, tickMs: 20, snapshotEvery });
      const server = new grpc.Server(raftServerOptions());
      const raft = rs.raftService();
      server.addService(raft.definition, raft.implementation);
      await new Promise<void>((res, rej) => server.bindAsync(addr(i), grpc.ServerCredentials.createInsecure(), (e) => (e ? rej(e) : res())));
      return { rs, server };
    }),
  );
}

/** A barrier on a node that may not know the leader yet (just restarted): retry until it does. */
async function settledBarrier(rs: ReplicatedStore, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      return await rs.barrier();
    } catch (err) {
      if (!(err instanceof NotLeaderError) || Date.now() > end) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

async function stopAll(all: Running[]): Promise<void> {
  for (const { rs, server } of all) {
    await rs.close();
    server.forceShutdown();
  }
}

async function leaderOf(all: Running[], ms = 10_000): Promise<ReplicatedStore> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const l = all.find((r) => r.rs.isLeader());
    if (l) return l.rs;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('no leader');
}

test('writes replicate to every manager; conflicts are typed; a follower names the leader', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-rstore-'));
  let all = await startAll(dir, true);
  try {
    const leader = await leaderOf(all);
    const [created] = (await leader.write([createAction('service', service('s1', 'web'))])) as Service[];
    assert.ok(created.version > 0, 'version is the Raft index of the write');
    await assert.rejects(() => leader.write([createAction('service', service('s2', 'WEB'))]), NameConflictError);
    const stale = { ...created, spec: { ...created.spec, labels: { a: 'b' } } };
    const [updated] = (await leader.write([updateAction('service', stale)])) as Service[];
    assert.ok(updated.version > created.version);
    await assert.rejects(() => leader.write([updateAction('service', stale)]), VersionConflictError, 'a write based on a stale read is refused');
    for (const { rs } of all) {
      await rs.barrier();
      assert.deepEqual(rs.store.get('service', 's1')?.spec.labels, { a: 'b' }, 'every manager sees the write after a barrier');
    }
    const follower = all.find((r) => r.rs !== leader)!.rs;
    await assert.rejects(
      () => follower.write([createAction('service', service('s3', 'api'))]),
      (err: unknown) => err instanceof NotLeaderError && err.leader === leader.status().id && err.message.includes(leader.leader().address),
    );

    // Restart every manager from its data dir (no bootstrap): the state is all there.
    await stopAll(all);
    all = await startAll(dir, false);
    const again = await leaderOf(all);
    await settledBarrier(again);
    const back = again.store.get('service', 's1') as Service | undefined;
    assert.equal(back?.version, updated.version);
    assert.deepEqual(back?.spec.labels, { a: 'b' });
  } finally {
    await stopAll(all);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('with frequent snapshots, a restart restores the store from the snapshot and the log after it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-rstore-snap-'));
  let all = await startAll(dir, true, 5);
  try {
    const leader = await leaderOf(all);
    for (let i = 0; i < 23; i++) await leader.write([createAction('service', service(`s${i}`, `svc-${i}`))]);
    assert.ok(leader.status().firstIndex > 10, `the log was compacted by a snapshot (first index ${leader.status().firstIndex})`);
    await stopAll(all);
    all = await startAll(dir, false, 5);
    await leaderOf(all);
    for (const { rs } of all) {
      await settledBarrier(rs);
      assert.equal(rs.store.list('service').length, 23, 'all services after the restart');
    }
  } finally {
    await stopAll(all);
    rmSync(dir, { recursive: true, force: true });
  }
});
