// Docker Swarm mode on the local engine, as a peer for the benchmarks: used
// as it is when the engine is already in a swarm, else made with `docker
// swarm init --advertise-addr 127.0.0.1` and left afterwards (with the
// docker_gwbridge bridge that `swarm init` creates and `swarm leave` keeps,
// when it was not there before). An engine that is in a swarm of its own is
// never left.
import { execFileSync } from 'node:child_process';

export function docker(...args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function gwbridge(): string {
  return docker('network', 'ls', '--quiet', '--filter', 'name=^docker_gwbridge$').trim();
}

/**
 * `fn` with the engine in swarm mode; `cleanUp` (services to remove, say)
 * runs before a swarm made here is left. Throws when the engine cannot be put
 * in swarm mode (its state, or the error of `swarm init`).
 */
export async function withSwarm<T>(say: (s: string) => void, fn: (madeHere: boolean) => Promise<T>, cleanUp: () => void = () => undefined): Promise<T> {
  const state = docker('info', '--format', '{{.Swarm.LocalNodeState}}').trim();
  if (state === 'active') {
    say('swarm: the engine is already in a swarm: using it as it is');
    return fn(false);
  }
  if (state !== 'inactive') throw new Error(`the engine's swarm state is ${state}: not touching it`);
  const hadGwbridge = gwbridge() !== '';
  say('swarm: docker swarm init --advertise-addr 127.0.0.1');
  docker('swarm', 'init', '--advertise-addr', '127.0.0.1');
  try {
    return await fn(true);
  } finally {
    try {
      cleanUp();
    } catch (err) {
      say(`swarm: clean-up failed: ${(err as Error).message.split('\n')[0]}`);
    }
    docker('swarm', 'leave', '--force');
    const bridge = hadGwbridge ? '' : gwbridge();
    if (bridge) {
      try {
        docker('network', 'rm', bridge);
      } catch (err) {
        say(`swarm: docker_gwbridge stays: ${(err as Error).message.split('\n')[0]}`);
      }
    }
  }
}
