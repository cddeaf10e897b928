// The data dir's files are written atomically (temporary file, fsync, rename).
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { writeFileAtomic } from '../../src/daemon/state.js';

const dir = mkdtempSync(join(tmpdir(), 'flotilla-state-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('concurrent writes of one file all succeed, the last one asked wins, and no temporary file is left', async () => {
  // Seen under load: the session's save of the manager list and the node status check's save of the role ran at
  // once, shared one temporary name, and the second rename failed with ENOENT, which killed the daemon.
  const path = join(dir, 'node.json');
  await Promise.all(Array.from({ length: 20 }, (_, i) => writeFileAtomic(path, JSON.stringify({ i }))));
  assert.deepEqual(JSON.parse(readFileSync(path, 'utf8')), { i: 19 });
  assert.deepEqual(readdirSync(dir), ['node.json']);
});
