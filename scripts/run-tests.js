#!/usr/bin/env node
// Runs every compiled test file (dist/test/**/*.test.js) with node's test runner.
// Node 20's `node --test` takes paths, not globs, so the list is built here.
// Extra arguments are passed through (e.g. --test-name-pattern). Two batches:
// everything but the container cluster in parallel, then the container cluster.
import { readdirSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';

const root = 'dist/test';
if (!existsSync(root)) {
  process.stderr.write('dist/test is missing: run `npm run build` first\n');
  process.exit(2);
}
const files = [];
(function walk(dir) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.js')) files.push(p);
  }
})(root);
// The container cluster (dist/test/compose: six flotilla containers, then the
// chaos scenarios, whose checks bound recovery times) runs last, alone: beside
// the other process-cluster tests, two cores would be shared three ways.
// The 100,000-replica service (dist/test/cluster/big-service.test.js) too: it asserts that no heartbeat is missed
// while two cores carry five daemons through 100,000 tasks, which must not be shared with other clusters' tests.
const alone = files.filter((f) => f.startsWith(join(root, 'compose')) || f === join(root, 'cluster', 'big-service.test.js'));
const together = files.filter((f) => !alone.includes(f));
const args = process.argv.slice(2);
let status = 0;
for (const [batch, concurrency] of [[together, Math.max(2, availableParallelism())], [alone, 1]]) {
  if (batch.length === 0) continue;
  const result = spawnSync(process.execPath, ['--test', `--test-concurrency=${concurrency}`, ...args, ...batch], { stdio: 'inherit' });
  if ((result.status ?? 1) !== 0) status = result.status ?? 1;
}
process.exit(status);
