// RaftNode's loop (persist -> send -> apply -> advance, promises, reads,
// membership, snapshots) with an in-memory storage and an in-process
// transport. The LevelDB storage and the gRPC transport have their own tests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RaftNode, type RaftMetrics, type RaftStorageLike, type RaftTransportLike, type StateMachine } from '../../src/raft/node.js';
import { NotLeaderError } from '../../src/raft/errors.js';
import type { Entry, HardState, Message, NodeId, Snapshot } from '../../src/raft/types.js';
import { emptyDisk, persistReady, persistSnapshot, type MemDisk } from './mem-disk.js';

/** RaftStorageLike over the shared in-memory disk (the Ready contract in test/raft/mem-disk.ts). */
class MemStorage implements RaftStorageLike {
  disk: MemDisk = emptyDisk();
  get snapshot(): Snapshot | null {
    return this.disk.snapshot;
  }
  load() {
    return { hardState: { ...this.disk.hardState }, snapshot: this.disk.snapshot, entries: this.disk.entries.slice() };
  }
  async save(rd: { hardState: HardState | null; entries: Entry[]; snapshot: Snapshot | null }): Promise<void> {
    persistReady(this.disk, rd);
  }
  async saveSnapshot(s: Snapshot): Promise<void> {
    persistSnapshot(this.disk, s);
  }
}

/** In-process transport: delivers on the next turn of the event loop to whichever node is registered. */
class Switchboard {
  nodes = new Map<NodeId, RaftNode<string>>();
  cut = new Set<NodeId>();
  transport(self: NodeId): RaftTransportLike {
    return {
      send: (msgs: Message[]) => {
        for (const m of msgs) {
          if (this.cut.has(self) || this.cut.has(m.to)) continue;
          setImmediate(() => this.nodes.get(m.to)?.receive([m]));
        }
      },
      addPeer: () => {},
      updatePeer: () => {},
      removePeer: () => {},
    };
  }
}

/** A replicated list of strings: apply returns the new length. */
class ListMachine implements StateMachine<string> {
  items: string[] = [];
  apply(data: Uint8Array): string {
    this.items.push(new TextDecoder().decode(data));
    return `#${this.items.length}`;
  }
  snapshot(): Uint8Array {
    return new TextEncoder().encode(JSON.stringify(this.items));
  }
  restore(data: Uint8Array): void {
    this.items = JSON.parse(new TextDecoder().decode(data)) as string[];
  }
}

const enc = (s: string) => new TextEncoder().encode(s);

function cluster(ids: NodeId[], opts: { snapshotEvery?: number; metrics?: (id: NodeId) => RaftMetrics } = {}) {
  const sb = new Switchboard();
  const storages = new Map<NodeId, MemStorage>();
  const machines = new Map<NodeId, ListMachine>();
  const boot = new Map(ids.map((id) => [id, `addr-${id}`]));
  const start = (id: NodeId, bootstrap: Map<NodeId, string> | undefined) => {
    const storage = storages.get(id) ?? new MemStorage();
    storages.set(id, storage);
    const sm = new ListMachine();
    machines.set(id, sm);
    const n = RaftNode.start<string>({ id, address: `addr-${id}`, storage, transport: sb.transport(id), stateMachine: sm, bootstrap, tickMs: 5, snapshotEvery: opts.snapshotEvery, metrics: opts.metrics?.(id) });
    sb.nodes.set(id, n);
    return n;
  };
  for (const id of ids) start(id, boot);
  return { sb, storages, machines, start, stopAll: async () => Promise.all([...sb.nodes.values()].map((n) => n.stop())) };
}

async function waitFor<T>(what: string, fn: () => T | undefined | false, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const leaderOf = (sb: Switchboard) => [...sb.nodes.values()].find((n) => n.status().role === 'leader');

test('a proposal resolves with the apply result once applied; every node applies it', async () => {
  const c = cluster(['a', 'b', 'c']);
  try {
    const l = await waitFor('a leader', () => leaderOf(c.sb));
    assert.equal(await l.propose(enc('x')), '#1');
    assert.equal(await l.propose(enc('y')), '#2');
    await waitFor('all applied', () => [...c.machines.values()].every((m) => m.items.join() === 'x,y'));
    await l.read();
    const follower = [...c.sb.nodes.values()].find((n) => n !== l)!;
    await follower.read();
    assert.deepEqual(c.machines.get(follower.id)!.items, ['x', 'y']);
  } finally {
    await c.stopAll();
  }
});

test('propose on a follower fails with NotLeaderError naming the leader and its address', async () => {
  const c = cluster(['a', 'b', 'c']);
  try {
    const l = await waitFor('a leader', () => leaderOf(c.sb));
    await l.propose(enc('x'));
    const f = [...c.sb.nodes.values()].find((n) => n !== l)!;
    await waitFor('the follower knows the leader', () => f.status().leader === l.id);
    assert.throws(() => f.propose(enc('nope')), (err: unknown) => err instanceof NotLeaderError && err.leader === l.id && err.message.includes(`addr-${l.id}`));
  } finally {
    await c.stopAll();
  }
});

test('stop rejects what is pending; a restart from storage keeps every acknowledged entry', async () => {
  const c = cluster(['a']);
  try {
    const a = await waitFor('a leader', () => leaderOf(c.sb));
    for (let i = 0; i < 20; i++) await a.propose(enc(`v${i}`));
    await a.stop();
    await assert.rejects(() => Promise.resolve().then(() => a.propose(enc('late'))), /stopped/);
    const again = c.start('a', undefined);
    await waitFor('restarted leader', () => again.status().role === 'leader');
    await again.read();
    assert.equal(c.machines.get('a')!.items.length, 20);
  } finally {
    await c.stopAll();
  }
});

test('membership: a learner added by address catches up, is promoted, and counts', async () => {
  const c = cluster(['a', 'b', 'c']);
  try {
    const l = await waitFor('a leader', () => leaderOf(c.sb));
    for (let i = 0; i < 5; i++) await l.propose(enc(`v${i}`));
    c.start('d', undefined);
    await l.addLearner('d', 'addr-d');
    await waitFor('d caught up', () => c.machines.get('d')!.items.length === 5);
    await l.promote('d');
    assert.deepEqual(l.status().conf.voters, ['a', 'b', 'c', 'd']);
    assert.equal(l.addressOf('d'), 'addr-d');
  } finally {
    await c.stopAll();
  }
});

test('snapshots: the log is compacted, and a restarted node restores the state and the address book', async () => {
  const c = cluster(['a', 'b', 'c'], { snapshotEvery: 10 });
  try {
    const l = await waitFor('a leader', () => leaderOf(c.sb));
    for (let i = 0; i < 40; i++) await l.propose(enc(`v${i}`));
    const s = c.storages.get(l.id)!;
    await waitFor('a snapshot', () => s.snapshot !== null && s.snapshot.meta.index >= 30);
    await l.stop();
    c.sb.nodes.delete(l.id);
    const again = c.start(l.id, undefined);
    assert.deepEqual(c.machines.get(l.id)!.items.slice(0, 30), Array.from({ length: 30 }, (_, i) => `v${i}`));
    assert.equal(again.addressOf('b'), 'addr-b');
    await waitFor('rejoined', () => again.status().leader !== '');
  } finally {
    await c.stopAll();
  }
});

test('metrics: proposals and failed ones counted where proposed, commit latency for its own entries, apply on every node, snapshots', async () => {
  const seen = new Map<NodeId, { proposed: number; failed: number; committed: number[]; applied: number; snapshots: number }>();
  const metrics = (id: NodeId): RaftMetrics => {
    const m = { proposed: 0, failed: 0, committed: [] as number[], applied: 0, snapshots: 0 };
    seen.set(id, m);
    return {
      proposed: () => m.proposed++,
      proposalFailed: () => m.failed++,
      committed: (s) => m.committed.push(s),
      applied: () => m.applied++,
      snapshot: () => m.snapshots++,
    };
  };
  const c = cluster(['a', 'b', 'c'], { snapshotEvery: 3, metrics });
  try {
    const l = await waitFor('a leader', () => leaderOf(c.sb));
    for (const v of ['x', 'y', 'z', 'w']) await l.propose(enc(v));
    const f = [...c.sb.nodes.values()].find((n) => n !== l)!;
    await waitFor('the follower knows the leader', () => f.status().leader === l.id);
    assert.throws(() => f.propose(enc('nope')), NotLeaderError);
    await waitFor('all applied', () => [...c.machines.values()].every((m) => m.items.length === 4));
    const lm = seen.get(l.id)!;
    assert.deepEqual([lm.proposed, lm.failed, lm.committed.length], [4, 0, 4]);
    assert.ok(lm.committed.every((s) => s >= 0 && s < 5));
    assert.ok(lm.snapshots >= 1, 'a snapshot after every 3 entries');
    const fm = seen.get(f.id)!;
    assert.deepEqual([fm.proposed, fm.failed, fm.committed.length], [1, 1, 0], "a follower's refused proposal counted as failed");
    await waitFor('every node applied the four entries', () => [...seen.values()].every((m) => m.applied === 4));
  } finally {
    await c.stopAll();
  }
});
