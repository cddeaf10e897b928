// What `npm start` does about the machine before it starts a cluster, decided
// from what was probed: nothing (ready), run scripts/setup-machine.sh (root with
// apt-get: the script CI runs), or give up with one line that says what is
// missing and what to do. Pure: the probes come in, the plan goes out; the
// caller (machine-setup.ts) probes, runs the script, and probes again.

/** The offline test image (scripts/setup-machine.sh builds it; FLOTILLA_TEST_IMAGE names another, as there). */
export const DEFAULT_TEST_IMAGE = 'flotilla/busybox:test';

/** The command that prepares the machine, as the operator types it. */
export const SETUP_COMMAND = 'bash scripts/setup-machine.sh';

/**
 * What `docker version --format '{{.Server.Version}}'` said:
 * 'answers': an engine answered; 'no-cli': no docker command on PATH;
 * 'denied': the engine's socket refused this user; 'down': no engine answers.
 */
export type EngineProbe = 'answers' | 'no-cli' | 'denied' | 'down';

export interface MachineProbes {
  engine: EngineProbe;
  /** The name of the offline test image looked for. */
  imageName: string;
  /** That image exists (only meaningful when the engine answers). */
  image: boolean;
  /** Running as root (uid 0). */
  root: boolean;
  /** apt-get is on PATH. */
  aptGet: boolean;
  /** The outcome of setup-machine.sh when it already ran in this start; absent before it runs. */
  setup?: { exitCode: number };
}

export type MachinePlan = { kind: 'ready' } | { kind: 'run-setup'; missing: string } | { kind: 'cannot'; reason: string };

/** What is missing, as a clause ('' when nothing is). */
export function missingClause(p: Pick<MachineProbes, 'engine' | 'image' | 'imageName'>): string {
  switch (p.engine) {
    case 'no-cli':
      return 'no Docker engine is installed (no `docker` command)';
    case 'down':
      return 'no Docker engine answers';
    case 'denied':
      return 'the Docker engine refuses this user (permission denied on its socket)';
    case 'answers':
      return p.image ? '' : `the offline test image ${p.imageName} is missing`;
  }
}

/** Decide from the probes. After the set-up ran once, never run it again: ready or cannot. */
export function planMachine(p: MachineProbes): MachinePlan {
  const missing = missingClause(p);
  if (missing === '') return { kind: 'ready' };
  const again = 'then `npm start` again (or `npm start -- --no-setup` to start without Docker)';
  if (p.setup !== undefined) {
    if (p.setup.exitCode !== 0) {
      return { kind: 'cannot', reason: `${missing} and scripts/setup-machine.sh failed (exit ${p.setup.exitCode}): fix what it printed above, ${again}` };
    }
    return { kind: 'cannot', reason: `${missing} although scripts/setup-machine.sh succeeded: see its output above and /var/log/dockerd.log, ${again}` };
  }
  if (!p.root) {
    // A non-root user of an engine that runs is only missing a group (or the image, which needs no apt-get, but the
    // script is the one way to build it and wants root for its other steps).
    if (p.engine === 'denied') {
      return { kind: 'cannot', reason: `${missing} and this is not root: add this user to the docker group (\`sudo usermod -aG docker "$USER"\`, then log in again) or run \`sudo ${SETUP_COMMAND}\`, ${again}` };
    }
    return { kind: 'cannot', reason: `${missing} and this is not root: run \`sudo ${SETUP_COMMAND}\`, ${again}` };
  }
  if (!p.aptGet) {
    return { kind: 'cannot', reason: `${missing} and apt-get is not available to install it: install and start a Docker engine, then build ${p.imageName} as scripts/setup-machine.sh does, ${again}` };
  }
  return { kind: 'run-setup', missing };
}
