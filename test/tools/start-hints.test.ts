// What `npm start` prints once the cluster is up: the console line with the
// login link from `flotilla console -q` (or how to get one when that fails),
// and the `npx flotilla` lines to try.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { consoleLoginLine, displayDir, hintLines } from '../../src/tools/start-hints.js';
import { packageRoot } from '../../src/common/protos.js';

/** A fake CLI entry point (an .mjs file run with node) whose body sees `args` (the CLI's arguments). */
function fakeCli(t: { after(fn: () => void): void }, body: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-hints-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'cli.mjs');
  writeFileSync(file, `const args = process.argv.slice(2);\n${body}\n`);
  return file;
}

test('consoleLoginLine: the one URL that `console -q --data-dir DIR` prints', async (t) => {
  const bin = fakeCli(t, `
if (args.join(' ') !== 'console -q --data-dir /data/n1') { process.stderr.write('unexpected ' + args.join(' ')); process.exit(3); }
process.stdout.write('http://127.0.0.181:9324/console/login#t=abc123\\n');`);
  assert.equal(await consoleLoginLine(bin, '/data/n1'), 'http://127.0.0.181:9324/console/login#t=abc123');
});

test('consoleLoginLine: undefined when the command fails, prints more than a URL, or hangs', async (t) => {
  assert.equal(await consoleLoginLine(fakeCli(t, `process.stderr.write('flotilla: unknown command "console"\\n'); process.exit(2);`), '/d'), undefined);
  assert.equal(await consoleLoginLine(fakeCli(t, `console.log('Open this link:'); console.log('http://x/console/login#t=1');`), '/d'), undefined);
  assert.equal(await consoleLoginLine(fakeCli(t, `console.log('not a url');`), '/d'), undefined);
  assert.equal(await consoleLoginLine(fakeCli(t, `setTimeout(() => console.log('http://late/'), 60_000);`), '/d', 300), undefined);
});

test('consoleLoginLine: the real CLI with no node behind the data dir gives no link, and does not throw', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-hints-empty-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  assert.equal(await consoleLoginLine(join(packageRoot(), 'bin', 'flotilla.js'), dir), undefined);
});

test('displayDir: relative inside the directory, absolute outside, quoted for the shell when needed', () => {
  assert.equal(displayDir('/work/app/.flotilla-local/n1', '/work/app'), '.flotilla-local/n1');
  assert.equal(displayDir('/tmp/cluster/n1', '/work/app'), '/tmp/cluster/n1');
  assert.equal(displayDir('/work/app', '/work/app'), '/work/app');
  assert.equal(displayDir("/tmp/my dir/it's/n1", '/work/app'), `'/tmp/my dir/it'\\''s/n1'`);
});

test('hintLines: the console with its login link, then npx flotilla lines on the first manager', () => {
  const lines = hintLines({ consoleUrl: 'http://127.0.0.181:9324/console/', loginLink: 'http://127.0.0.181:9324/console/login#t=1', dataDir: '.flotilla-local/n1', image: 'flotilla/busybox:test' });
  assert.equal(lines[0], 'Console:  http://127.0.0.181:9324/console/   (login: http://127.0.0.181:9324/console/login#t=1)');
  assert.equal(lines[1], 'Try:      npx flotilla --data-dir .flotilla-local/n1 service create --name web --replicas 3 flotilla/busybox:test httpd -f -p 8080');
  for (const c of ['service ls', 'service ps web', 'node ls', 'service logs web']) {
    assert.ok(lines.includes(`          npx flotilla --data-dir .flotilla-local/n1 ${c}`), c);
  }
  assert.match(lines[lines.length - 1], /export FLOTILLA_DATA_DIR=\.flotilla-local\/n1/);
});

test('hintLines: without a login link, how to get one', () => {
  const [consoleLine] = hintLines({ consoleUrl: 'http://127.0.0.181:9324/console/', loginLink: undefined, dataDir: '.flotilla-local/n1', image: 'x' });
  assert.equal(consoleLine, 'Console:  http://127.0.0.181:9324/console/   (login: run `npx flotilla --data-dir .flotilla-local/n1 console` for a login link)');
});
