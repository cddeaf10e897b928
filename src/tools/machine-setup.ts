// `npm start`'s machine check around the pure decision of machine-check.ts:
// probe the machine (docker, the test image, root, apt-get), run
// scripts/setup-machine.sh when the decision says so, probe again, and return
// ready or the one line that says what is missing and what to do.
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { DEFAULT_TEST_IMAGE, planMachine, type EngineProbe, type MachineProbes } from './machine-check.js';

/** How long one docker probe may take: a wedged engine must not hang `npm start`. */
const PROBE_TIMEOUT_MS = 20_000;

export interface MachineDeps {
  /** Probe the machine now (everything but the set-up's outcome). */
  probe(): Omit<MachineProbes, 'setup'>;
  /** Run scripts/setup-machine.sh, its output streaming to this process's; returns its exit code. */
  runSetup(): number;
  /** One line of progress for the operator. */
  say(line: string): void;
}

export type MachineResult = { ok: true } | { ok: false; line: string };

/** Probe, decide, and run the set-up at most once; the caller starts nothing unless this says ok. */
export function ensureMachine(deps: MachineDeps): MachineResult {
  let probes: MachineProbes = deps.probe();
  for (;;) {
    const plan = planMachine(probes);
    if (plan.kind === 'ready') return { ok: true };
    if (plan.kind === 'cannot') return { ok: false, line: plan.reason };
    deps.say(`npm start: ${plan.missing}: running scripts/setup-machine.sh (the set-up CI runs) ...`);
    const exitCode = deps.runSetup();
    probes = { ...deps.probe(), setup: { exitCode } };
  }
}

/** `command` is an executable file in one of PATH's directories. */
export function onPath(command: string, path: string | undefined): boolean {
  for (const dir of (path ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

/** What `docker version --format '{{.Server.Version}}'` says about the engine. */
export function probeEngine(env: NodeJS.ProcessEnv = process.env): EngineProbe {
  const r = spawnSync('docker', ['version', '--format', '{{.Server.Version}}'], { encoding: 'utf8', timeout: PROBE_TIMEOUT_MS, env });
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') return 'no-cli';
  if (r.status === 0 && r.stdout.trim() !== '') return 'answers';
  return /permission denied/i.test(r.stderr ?? '') ? 'denied' : 'down';
}

/** The machine as it is now; `env` gives PATH and FLOTILLA_TEST_IMAGE. */
export function probeMachine(env: NodeJS.ProcessEnv = process.env): Omit<MachineProbes, 'setup'> {
  const imageName = env.FLOTILLA_TEST_IMAGE || DEFAULT_TEST_IMAGE;
  const engine = probeEngine(env);
  const image = engine === 'answers' && spawnSync('docker', ['image', 'inspect', imageName], { stdio: 'ignore', timeout: PROBE_TIMEOUT_MS, env }).status === 0;
  return { engine, imageName, image, root: process.getuid?.() === 0, aptGet: onPath('apt-get', env.PATH) };
}

/** Run `bash <script>` with this process's stdio (the script prefixes its own lines: "== setup-machine: ..."). */
export function runSetupScript(script: string, env: NodeJS.ProcessEnv = process.env): number {
  const r = spawnSync('bash', [script], { stdio: 'inherit', env });
  if (r.error) return 127;
  return r.status ?? 1;
}
