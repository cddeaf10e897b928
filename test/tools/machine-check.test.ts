// `npm start`'s machine check: the pure decision (probes in, plan out) transition
// by transition, the loop around it with the probes and the set-up injected, the
// real probes against a fake `docker` on PATH, and local-cluster's wiring with
// --check / --help (none of which starts a daemon).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_TEST_IMAGE, missingClause, planMachine, type EngineProbe, type MachineProbes } from '../../src/tools/machine-check.js';
import { ensureMachine, onPath, probeEngine, probeMachine, runSetupScript, type MachineDeps } from '../../src/tools/machine-setup.js';
import { packageRoot } from '../../src/common/protos.js';

const IMAGE = DEFAULT_TEST_IMAGE;
const base: MachineProbes = { engine: 'answers', imageName: IMAGE, image: true, root: true, aptGet: true };
const probes = (over: Partial<MachineProbes>): MachineProbes => ({ ...base, ...over });

test('ready: an engine answers and the image exists, whoever runs it and whatever apt-get', () => {
  for (const root of [true, false]) {
    for (const aptGet of [true, false]) {
      assert.deepEqual(planMachine(probes({ root, aptGet })), { kind: 'ready' });
    }
  }
});

test('ready after the set-up ran and succeeded', () => {
  assert.deepEqual(planMachine(probes({ setup: { exitCode: 0 } })), { kind: 'ready' });
});

test('root with apt-get runs the set-up for whatever is missing', () => {
  assert.deepEqual(planMachine(probes({ engine: 'down', image: false })), { kind: 'run-setup', missing: 'no Docker engine answers' });
  assert.deepEqual(planMachine(probes({ engine: 'no-cli', image: false })), { kind: 'run-setup', missing: 'no Docker engine is installed (no `docker` command)' });
  assert.deepEqual(planMachine(probes({ image: false })), { kind: 'run-setup', missing: `the offline test image ${IMAGE} is missing` });
});

test('not root: one line that names what is missing and says to run the script with sudo', () => {
  const plan = planMachine(probes({ engine: 'down', image: false, root: false }));
  assert.equal(plan.kind, 'cannot');
  assert.match(plan.kind === 'cannot' ? plan.reason : '', /^no Docker engine answers and this is not root: run `sudo bash scripts\/setup-machine\.sh`, then `npm start` again/);
  const image = planMachine(probes({ image: false, root: false }));
  assert.match(image.kind === 'cannot' ? image.reason : '', new RegExp(`^the offline test image ${IMAGE} is missing and this is not root: run \`sudo bash scripts/setup-machine.sh\``));
});

test('not root and the socket refuses this user: the docker group, or the script with sudo', () => {
  const plan = planMachine(probes({ engine: 'denied', image: false, root: false }));
  assert.equal(plan.kind, 'cannot');
  assert.match(plan.kind === 'cannot' ? plan.reason : '', /permission denied on its socket\) and this is not root: add this user to the docker group .*usermod -aG docker/);
});

test('root without apt-get: says to install an engine and build the image, runs nothing', () => {
  const plan = planMachine(probes({ engine: 'no-cli', image: false, aptGet: false }));
  assert.equal(plan.kind, 'cannot');
  assert.match(plan.kind === 'cannot' ? plan.reason : '', /^no Docker engine is installed .* and apt-get is not available to install it: install and start a Docker engine, then build flotilla\/busybox:test/);
});

test('after the set-up failed: cannot, with its exit code; never a second run', () => {
  const plan = planMachine(probes({ engine: 'down', image: false, setup: { exitCode: 100 } }));
  assert.equal(plan.kind, 'cannot');
  assert.match(plan.kind === 'cannot' ? plan.reason : '', /^no Docker engine answers and scripts\/setup-machine\.sh failed \(exit 100\): fix what it printed above/);
});

test('after the set-up succeeded but something is still missing: cannot, pointing at its output and the engine log', () => {
  const plan = planMachine(probes({ image: false, setup: { exitCode: 0 } }));
  assert.equal(plan.kind, 'cannot');
  assert.match(plan.kind === 'cannot' ? plan.reason : '', /is missing although scripts\/setup-machine\.sh succeeded: see its output above and \/var\/log\/dockerd\.log/);
});

test('every combination: ready exactly when engine and image are there; the set-up only as root with apt-get, once; reasons are one line', () => {
  const engines: EngineProbe[] = ['answers', 'no-cli', 'denied', 'down'];
  for (const engine of engines) {
    for (const image of [true, false]) {
      for (const root of [true, false]) {
        for (const aptGet of [true, false]) {
          for (const setup of [undefined, { exitCode: 0 }, { exitCode: 1 }]) {
            const p: MachineProbes = { engine, imageName: IMAGE, image, root, aptGet, ...(setup ? { setup } : {}) };
            const plan = planMachine(p);
            const what = JSON.stringify(p);
            assert.equal(plan.kind === 'ready', engine === 'answers' && image, what);
            if (plan.kind === 'run-setup') assert.ok(root && aptGet && setup === undefined, what);
            if (plan.kind === 'cannot') {
              assert.ok(!plan.reason.includes('\n'), what);
              assert.ok(plan.reason.startsWith(missingClause(p)), what);
              assert.match(plan.reason, /then `npm start` again/, what);
            }
            if (plan.kind !== 'ready' && root && aptGet && setup === undefined) assert.equal(plan.kind, 'run-setup', what);
          }
        }
      }
    }
  }
});

/** Injected probes that return `seq` in turn (the last one again after the end), recording what ran. */
function fakeDeps(seq: Omit<MachineProbes, 'setup'>[], setupExit = 0): MachineDeps & { probed: number; setups: number; said: string[] } {
  const d = {
    probed: 0,
    setups: 0,
    said: [] as string[],
    probe: () => seq[Math.min(d.probed++, seq.length - 1)],
    runSetup: () => (d.setups++, setupExit),
    say: (line: string) => void d.said.push(line),
  };
  return d;
}

test('ensureMachine: ready at once probes once and runs nothing', () => {
  const d = fakeDeps([base]);
  assert.deepEqual(ensureMachine(d), { ok: true });
  assert.equal(d.probed, 1);
  assert.equal(d.setups, 0);
  assert.deepEqual(d.said, []);
});

test('ensureMachine: missing as root runs the set-up once, probes again, and is ready', () => {
  const d = fakeDeps([{ ...base, engine: 'down', image: false }, base]);
  assert.deepEqual(ensureMachine(d), { ok: true });
  assert.equal(d.setups, 1);
  assert.equal(d.probed, 2);
  assert.deepEqual(d.said, ['npm start: no Docker engine answers: running scripts/setup-machine.sh (the set-up CI runs) ...']);
});

test('ensureMachine: still missing after the set-up gives up after one run', () => {
  const d = fakeDeps([{ ...base, image: false }]);
  const r = ensureMachine(d);
  assert.equal(r.ok, false);
  assert.match(r.ok ? '' : r.line, /although scripts\/setup-machine\.sh succeeded/);
  assert.equal(d.setups, 1);
});

test('ensureMachine: a failing set-up gives up with its exit code', () => {
  const d = fakeDeps([{ ...base, engine: 'down', image: false }], 2);
  const r = ensureMachine(d);
  assert.match(r.ok ? '' : r.line, /setup-machine\.sh failed \(exit 2\)/);
  assert.equal(d.setups, 1);
});

test('ensureMachine: not root never runs the set-up', () => {
  const d = fakeDeps([{ ...base, engine: 'down', image: false, root: false }]);
  const r = ensureMachine(d);
  assert.match(r.ok ? '' : r.line, /this is not root: run `sudo bash scripts\/setup-machine\.sh`/);
  assert.equal(d.setups, 0);
});

/** A directory for PATH holding a fake `docker` script (body: sh, gets "$@") and, optionally, a fake apt-get. */
function fakeBin(t: { after(fn: () => void): void }, docker: string | undefined, aptGet = false): string {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-machine-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  if (docker !== undefined) {
    writeFileSync(join(dir, 'docker'), `#!/bin/sh\n${docker}\n`);
    chmodSync(join(dir, 'docker'), 0o755);
  }
  if (aptGet) {
    writeFileSync(join(dir, 'apt-get'), '#!/bin/sh\nexit 1\n');
    chmodSync(join(dir, 'apt-get'), 0o755);
  }
  return dir;
}

const ANSWERS = `case "$1" in version) echo 20.10.24;; image) [ "$3" = "${IMAGE}" ];; *) exit 9;; esac`;

test('probes: onPath finds only executables in PATH directories', (t) => {
  const dir = fakeBin(t, 'exit 0', true);
  writeFileSync(join(dir, 'not-exec'), 'x');
  assert.equal(onPath('apt-get', `/nonexistent:${dir}`), true);
  assert.equal(onPath('docker', dir), true);
  assert.equal(onPath('not-exec', dir), false);
  assert.equal(onPath('apt-get', '/nonexistent'), false);
  assert.equal(onPath('apt-get', undefined), false);
});

test('probes: the engine answers, is down, refuses the user, or is not installed', (t) => {
  assert.equal(probeEngine({ PATH: fakeBin(t, ANSWERS) }), 'answers');
  assert.equal(probeEngine({ PATH: fakeBin(t, 'echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock." >&2; exit 1') }), 'down');
  assert.equal(probeEngine({ PATH: fakeBin(t, 'echo "permission denied while trying to connect to the Docker daemon socket" >&2; exit 1') }), 'denied');
  // A client that prints no server version (docker prints "" for a missing server with --format) is no engine.
  assert.equal(probeEngine({ PATH: fakeBin(t, 'exit 0') }), 'down');
  assert.equal(probeEngine({ PATH: fakeBin(t, undefined) }), 'no-cli');
});

test('probes: the image is looked for by name (FLOTILLA_TEST_IMAGE names another), apt-get on PATH', (t) => {
  const dir = fakeBin(t, ANSWERS, true);
  const root = process.getuid?.() === 0;
  assert.deepEqual(probeMachine({ PATH: dir }), { engine: 'answers', imageName: IMAGE, image: true, root, aptGet: true });
  assert.deepEqual(probeMachine({ PATH: dir, FLOTILLA_TEST_IMAGE: 'other/image:1' }), { engine: 'answers', imageName: 'other/image:1', image: false, root, aptGet: true });
  assert.deepEqual(probeMachine({ PATH: fakeBin(t, undefined) }), { engine: 'no-cli', imageName: IMAGE, image: false, root, aptGet: false });
});

test('runSetupScript: runs the script with bash and returns its exit code', (t) => {
  const dir = fakeBin(t, undefined);
  writeFileSync(join(dir, 'ok.sh'), '[ "$FLAG" = yes ] || exit 4\n');
  assert.equal(runSetupScript(join(dir, 'ok.sh'), { ...process.env, FLAG: 'yes' }), 0);
  assert.equal(runSetupScript(join(dir, 'ok.sh'), { ...process.env, FLAG: 'no' }), 4);
  assert.equal(runSetupScript(join(dir, 'missing.sh')), 127);
});

const LOCAL_CLUSTER = join(packageRoot(), 'dist', 'src', 'tools', 'local-cluster.js');

function localCluster(args: string[], path: string): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [LOCAL_CLUSTER, ...args], { encoding: 'utf8', timeout: 30_000, env: { PATH: path, HOME: tmpdir() } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('local-cluster --check: ready with an engine and the image, exit 0, no cluster', (t) => {
  const dir = join(fakeBin(t, undefined), 'cluster');
  const r = localCluster(['--check', '--dir', dir], fakeBin(t, ANSWERS));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /the machine is ready/);
  assert.equal(existsSync(dir), false);
});

test('local-cluster: without docker or apt-get, one line on stderr, exit 1, nothing started or created', (t) => {
  const dir = join(fakeBin(t, undefined), 'cluster');
  // --check keeps a regression from starting daemons on the shared loopback addresses; a failed check returns
  // before --check is looked at, on the very path of a plain start.
  const r = localCluster(['--check', '--dir', dir], fakeBin(t, undefined));
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
  const why = process.getuid?.() === 0 ? 'apt-get is not available' : 'this is not root: run `sudo bash scripts/setup-machine.sh`';
  assert.ok(r.stderr.startsWith(`npm start: no Docker engine is installed (no \`docker\` command) and ${why}`), r.stderr);
  assert.equal(existsSync(dir), false);
});

test('local-cluster: the image missing, without apt-get: names the image, exit 1', (t) => {
  const dir = join(fakeBin(t, undefined), 'cluster');
  const r = localCluster(['--check', '--dir', dir], fakeBin(t, 'case "$1" in version) echo 20.10.24;; *) exit 1;; esac'));
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`^npm start: the offline test image ${IMAGE} is missing and `));
});

test('local-cluster --no-setup --help: the usage names --no-setup and --check, and checks nothing', (t) => {
  const r = localCluster(['--no-setup', '--help'], fakeBin(t, undefined));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^usage: npm start -- .*\[--no-setup \| --check\]/);
  assert.match(r.stdout, /--no-setup {3}skip the machine check/);
  assert.match(r.stdout, /runs scripts\/setup-machine\.sh/);
});

test('local-cluster: --no-setup with --check is a usage error before anything', (t) => {
  const r = localCluster(['--no-setup', '--check'], fakeBin(t, undefined));
  assert.equal(r.code, 1);
  assert.match(r.stderr, /--no-setup and --check contradict each other/);
});
