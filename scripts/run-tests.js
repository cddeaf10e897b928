#!/usr/bin/env node
// Runs every compiled test file (dist/test/**/*.test.js) with node's test runner.
// Node 20's `node --test` takes paths, not globs, so the list is built here.
// Extra arguments are passed through (e.g. --test-name-pattern).
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
const result = spawnSync(process.execPath, ['--test', `--test-concurrency=${Math.max(2, availableParallelism())}`, ...process.argv.slice(2), ...files], { stdio: 'inherit' });
process.exit(result.status ?? 1);
