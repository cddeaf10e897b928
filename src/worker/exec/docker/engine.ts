// The connection to the Docker engine: where it is, and whether it answers.
// docker-modem already understands DOCKER_HOST (unix://, tcp://, DOCKER_CERT_PATH);
// this adds an endpoint name for messages and a bounded "is anyone there?".
import Docker from 'dockerode';

export interface EngineOptions {
  /** A unix socket path; default: DOCKER_HOST, else /var/run/docker.sock. */
  socketPath?: string;
}

// No client-wide request timeout on purpose: `wait` and `logs --follow` are
// long polls. Calls that must be bounded pass their own abort signal.

export function connectEngine(options: EngineOptions = {}): Docker {
  const opts: Docker.DockerOptions = {};
  if (options.socketPath) opts.socketPath = options.socketPath;
  return new Docker(opts);
}

/** 'unix:///var/run/docker.sock' or 'http://host:port', for error messages. */
export function engineEndpoint(docker: Docker): string {
  const m = docker.modem as { socketPath?: unknown; host?: unknown; port?: unknown; protocol?: unknown };
  if (typeof m.host === 'string' && m.host) return `${typeof m.protocol === 'string' ? m.protocol : 'http'}://${m.host}:${String(m.port ?? '')}`;
  if (typeof m.socketPath === 'string') return `unix://${m.socketPath}`;
  return process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock';
}

export type EnginePing = { ok: true; version: string; apiVersion: string } | { ok: false; reason: string };

/** Asks the engine for its version, giving up after `timeoutMs`. Never throws. */
export async function pingEngine(docker: Docker, timeoutMs = 3000): Promise<EnginePing> {
  try {
    // dockerode takes an abortSignal here though its types do not say so.
    const version = docker.version.bind(docker) as unknown as (opts: { abortSignal: AbortSignal }) => Promise<Docker.DockerVersion>;
    const v = await version({ abortSignal: AbortSignal.timeout(timeoutMs) });
    return { ok: true, version: v.Version, apiVersion: v.ApiVersion };
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    return { ok: false, reason: `${engineEndpoint(docker)}: ${reason}` };
  }
}
