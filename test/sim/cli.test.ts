import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseHistory } from '../../src/testing/history.js';

const cli = new URL('./cli.js', import.meta.url).pathname;
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });

test('sim CLI: bad flags exit 2 with a message that names the flag', () => {
  for (const [args, needle] of [
    [['--bogus'], 'unknown option --bogus'],
    [['--seeds', 'x'], '--seeds needs an integer'],
    [['--nodes', '4'], '--nodes must be 3, 5 or 7'],
    [['--trace'], 'add --seed S'],
  ] as const) {
    const r = run(...args);
    assert.equal(r.status, 2, args.join(' '));
    assert.match(r.stderr, new RegExp(needle.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    assert.match(r.stderr, /usage: npm run sim/);
  }
});

test('sim CLI: --seed replays a run, --trace prints it, --history exports it as JSON lines', () => {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-sim-'));
  try {
    const file = join(dir, 'h.jsonl');
    const a = run('--seed', '9', '--trace', '--history', file);
    assert.equal(a.status, 0, a.stderr);
    const summary = a.stdout.trim().split('\n').at(-1)!;
    assert.match(summary, /^seed 9: ok trace [0-9a-f]{16} /);
    assert.ok(a.stdout.split('\n').length > 100, 'the trace is printed');
    const b = run('--seed', '9');
    assert.equal(b.stdout.trim().split('\n').at(-1), summary, 'same seed, same trace hash');
    const events = parseHistory(readFileSync(file, 'utf8'));
    assert.ok(events.length > 10);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sim CLI: a range of seeds exits 0 and summarizes', () => {
  const r = run('--seeds', '20', '--start', '100', '--workers', '2', '--json');
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const last = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { seeds: number; failed: number };
  assert.equal(last.seeds, 20);
  assert.equal(last.failed, 0);
});
