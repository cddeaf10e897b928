// `npm start`: a cluster on this one host, for trying flotilla out. Managers
// and workers are real daemons on loopback addresses (127.0.0.181, .182, ...),
// with their data dirs under ./.flotilla-local (kept across runs: the next
// run restarts the same cluster; --fresh starts over). Runs until Ctrl-C.
// Before any daemon starts, the machine is checked (a Docker engine and the
// offline test image) and, as root with apt-get, set up by
// scripts/setup-machine.sh, the script CI runs (machine-setup.ts).
import { existsSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { defaultMetricsAddr } from '../common/address.js';
import { packageRoot } from '../common/protos.js';
import { DaemonCluster } from '../testing/daemon-cluster.js';
import { DEFAULT_TEST_IMAGE } from './machine-check.js';
import { ensureMachine, probeMachine, runSetupScript } from './machine-setup.js';
import { consoleLoginLine, displayDir, hintLines } from './start-hints.js';

const FIRST_HOST = 181;
const PORT = 4242;

function usage(): string {
  return `usage: npm start -- [--managers N] [--workers N] [--dir DIR] [--fresh] [--no-setup | --check]

Starts a flotilla cluster on this host: N managers (default 3) and N workers
(default 2), each a daemon on its own loopback address (127.0.0.${FIRST_HOST}, ...:${PORT}),
with data dirs under DIR (default ./.flotilla-local). Ctrl-C stops it; the next
run restarts the same cluster from its data dirs (--fresh: a new one).

First it checks the machine: a Docker engine answers and the offline test image
${DEFAULT_TEST_IMAGE} exists. When something is missing and this is root with
apt-get, it runs scripts/setup-machine.sh (what CI runs: Debian packages, dockerd,
the image) and checks again; otherwise it says what to do and starts nothing.

  --no-setup   skip the machine check and start the cluster as it is (without
               an engine, every task fails)
  --check      check (and set up) the machine, then exit without a cluster
`;
}

function count(v: string | undefined, def: number, flag: string, min: number): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > 9) throw new Error(`--${flag} must be an integer from ${min} to 9`);
  return n;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      managers: { type: 'string' },
      workers: { type: 'string' },
      dir: { type: 'string' },
      fresh: { type: 'boolean' },
      'no-setup': { type: 'boolean' },
      check: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(usage());
    return 0;
  }
  const managers = count(values.managers, 3, 'managers', 1);
  const workers = count(values.workers, 2, 'workers', 0);
  const dir = resolve(values.dir ?? '.flotilla-local');
  const say = (s: string): void => void process.stdout.write(s + '\n');
  if (values['no-setup'] && values.check) throw new Error('--no-setup and --check contradict each other: give one');
  if (values['no-setup']) {
    say(`--no-setup: the machine is not checked (tasks need a Docker engine and ${process.env.FLOTILLA_TEST_IMAGE || DEFAULT_TEST_IMAGE})`);
  } else {
    const machine = ensureMachine({ probe: () => probeMachine(), runSetup: () => runSetupScript(join(packageRoot(), 'scripts', 'setup-machine.sh')), say });
    if (!machine.ok) {
      process.stderr.write(`npm start: ${machine.line}\n`);
      return 1;
    }
    if (values.check) {
      say('npm start: the machine is ready (a Docker engine answers, the test image exists)');
      return 0;
    }
  }
  if (values.fresh) rmSync(dir, { recursive: true, force: true });
  const c = new DaemonCluster({ baseDir: dir, firstHost: FIRST_HOST, port: PORT, logLevel: 'info' });
  const total = managers + workers;
  const existing = existsSync(join(dir, 'n1', 'node.json'));
  if (existing) {
    say(`Restarting the cluster in ${dir} ...`);
    for (let i = 0; i < total; i++) {
      if (existsSync(join(c.node(i).dataDir, 'node.json'))) await c.restart(i);
    }
    await c.waitReady(0, 60_000);
  } else {
    say(`Creating a cluster in ${dir}: ${managers} manager(s), ${workers} worker(s) ...`);
    await c.init(0);
    say(`  n1 ${c.node(0).address}: created the cluster (manager)`);
    for (let i = 1; i < total; i++) {
      const role = i < managers ? 'manager' : 'worker';
      await c.join(i, role);
      say(`  n${i + 1} ${c.node(i).address}: joined as ${role}`);
    }
  }
  await c.waitFor(async () => (await c.cli(0, ['node', 'ls', '-q'])).stdout.trim().split('\n').filter(Boolean).length >= total, 60_000, 'every node to be listed');
  say('');
  say((await c.cliOk(0, ['node', 'ls'])).stdout.trimEnd());
  const first = c.node(0);
  const shownDir = displayDir(first.dataDir, process.cwd());
  const hints = hintLines({
    consoleUrl: `http://${defaultMetricsAddr(first.host)}/console/`,
    loginLink: await consoleLoginLine(c.bin, first.dataDir),
    dataDir: shownDir,
    image: process.env.FLOTILLA_TEST_IMAGE || DEFAULT_TEST_IMAGE,
  });
  say(`
The cluster is running (logs: ${dir}/n*.log). In another shell, in this directory:
`);
  for (const line of hints) say(line);
  say(`
Press Ctrl-C to stop every daemon (their data stays in ${dir}).`);
  await new Promise<void>((done) => {
    process.once('SIGINT', () => done());
    process.once('SIGTERM', () => done());
  });
  say('\nStopping ...');
  await c.stop();
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`npm start: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
