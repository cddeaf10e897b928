#!/usr/bin/env node
// Entry point of the `flotilla` command: runs the compiled CLI (npm run build).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('flotilla: not built yet; run `npm run build` first\n');
  process.exit(2);
}
// `flotilla node ls | head -1`: a closed pipe ends the command quietly.
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});
const { main } = await import(entry.href);
process.exit(await main(process.argv.slice(2)));
