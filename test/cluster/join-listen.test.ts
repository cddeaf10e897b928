// `init` and `join` check that they can listen before they register anything
// (issue 18): on real daemons on loopback (127.0.0.200-203:7800), a manager
// join whose listen address is taken (the same host's first node holds it)
// fails with one line that says what to do, writes no data dir and leaves no
// node in `node ls`; `init` on a taken address writes nothing either. A worker
// does not listen, so its join on the same address goes through.
//
//   npx tsc -p tsconfig.json && node --test dist/test/cluster/join-listen.test.js
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DaemonCluster } from '../../src/testing/daemon-cluster.js';

const base = mkdtempSync(join(tmpdir(), 'flotilla-join-listen-'));
const c = new DaemonCluster({ baseDir: base, firstHost: 200, port: 7800, nodeStatusMs: 500 });
const taken = '127.0.0.200:7800';

before(async () => {
  await c.init(0);
});

after(async () => {
  await c.stop();
  rmSync(base, { recursive: true, force: true });
});

async function nodeCount(): Promise<number> {
  return (await c.cliOk(0, ['node', 'ls', '-q'])).stdout.trim().split('\n').filter(Boolean).length;
}

test('a manager join on a taken listen address fails in one line, before the cluster records it', async () => {
  const token = (await c.cliOk(0, ['join-token', 'manager', '-q'])).stdout.trim();
  const dir = join(base, 'second-manager');
  const r = await c.cli(0, ['join', '--token', token, '--advertise-addr', '127.0.0.201:7800', '--listen-addr', taken, '--data-dir', dir, taken]);
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stderr, `flotilla join: cannot listen on ${taken}: address already in use; another node on this host? pass --listen-addr\n`);
  assert.ok(!existsSync(dir) || readdirSync(dir).length === 0, `nothing written in ${dir}`);
  assert.equal(await nodeCount(), 1, 'no half-joined node');
});

test('init on a taken listen address writes nothing', async () => {
  const dir = join(base, 'second-cluster');
  const r = await c.cli(0, ['init', '--advertise-addr', '127.0.0.202:7800', '--listen-addr', taken, '--data-dir', dir]);
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stderr, `flotilla init: cannot listen on ${taken}: address already in use; another node on this host? pass --listen-addr\n`);
  assert.ok(!existsSync(dir) || readdirSync(dir).length === 0, `nothing written in ${dir}`);
});

test('a worker does not listen: its join with the same listen address goes through', async () => {
  const token = (await c.cliOk(0, ['join-token', 'worker', '-q'])).stdout.trim();
  const dir = join(base, 'worker');
  // The joined worker runs in the foreground until cli()'s deadline kills it; it has joined well before.
  const r = await c.cli(0, ['join', '--token', token, '--advertise-addr', '127.0.0.203:7800', '--listen-addr', taken, '--data-dir', dir, taken], 8000);
  assert.match(r.stdout, /joined the cluster \S+ as a worker/, r.stderr);
  assert.equal(await nodeCount(), 2);
});
