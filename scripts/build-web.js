#!/usr/bin/env node
// Builds the web console (src/console/web) into dist/src/console/web/: the
// TypeScript modules through tsconfig.web.json into assets/ (ES modules for
// the browser), index.html beside assets/, style.css into assets/ (the page
// loads /console/assets/style.css). `npm run build` runs this after the node
// build; run it alone with `npm run build:web`.
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src', 'console', 'web');
const out = join(root, 'dist', 'src', 'console', 'web');
const assets = join(out, 'assets');

// Stale modules of a renamed file must not be served.
rmSync(assets, { recursive: true, force: true });
mkdirSync(assets, { recursive: true });
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const result = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.web.json')], { stdio: 'inherit' });
if (result.status !== 0) {
  process.stderr.write('build-web: tsc -p tsconfig.web.json failed (errors above)\n');
  process.exit(result.status ?? 1);
}
copyFileSync(join(src, 'index.html'), join(out, 'index.html'));
copyFileSync(join(src, 'style.css'), join(assets, 'style.css'));
