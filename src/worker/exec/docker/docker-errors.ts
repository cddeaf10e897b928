// Turns what dockerode throws (HTTP errors from the engine, socket errors) into
// the executor's typed errors, with the engine's own words kept: "bind source
// path does not exist: /data" is what a person can act on, not "HTTP 400".
import { ContainerNotFoundError, EngineError, EngineUnavailableError, ExecutorError, isAbortError } from '../executor.js';

/** The fields dockerode / docker-modem put on the errors they raise. */
interface DockerodeErrorFields {
  statusCode?: unknown;
  json?: unknown;
  code?: unknown;
  message?: unknown;
  name?: unknown;
}

const UNREACHABLE_CODES = new Set(['ENOENT', 'ECONNREFUSED', 'EACCES', 'ETIMEDOUT', 'ECONNRESET', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

function fields(err: unknown): DockerodeErrorFields {
  return typeof err === 'object' && err !== null ? (err as DockerodeErrorFields) : {};
}

/** The HTTP status the engine answered with; 0 when the error is not an engine answer. */
export function statusCodeOf(err: unknown): number {
  const s = fields(err).statusCode;
  return typeof s === 'number' ? s : 0;
}

/** The engine's message ("No such image: x"), else the error's own message. */
export function engineMessage(err: unknown): string {
  const f = fields(err);
  const json = f.json;
  if (typeof json === 'object' && json !== null) {
    const m = (json as { message?: unknown }).message;
    if (typeof m === 'string' && m.trim()) return m.trim();
  }
  if (typeof json === 'string' && json.trim()) return json.trim();
  if (typeof f.message === 'string') {
    // docker-modem's form: "(HTTP code 404) no such container - No such container: abc "
    return f.message.replace(/^\(HTTP code \d+\)\s*[^-]*-\s*/, '').trim() || f.message.trim();
  }
  return String(err);
}

/**
 * The typed executor error for `err`, raised while trying to `operation`
 * (e.g. "start container 0123abcd"). Executor errors and aborts pass through.
 */
export function toExecutorError(err: unknown, operation: string, endpoint: string, containerId?: string): Error {
  if (err instanceof ExecutorError || isAbortError(err)) return err as Error;
  const status = statusCodeOf(err);
  if (status === 404 && containerId !== undefined) return new ContainerNotFoundError(containerId, { cause: err });
  if (status > 0) return new EngineError(operation, status, engineMessage(err), { cause: err });
  const code = fields(err).code;
  const message = engineMessage(err);
  if ((typeof code === 'string' && UNREACHABLE_CODES.has(code)) || /timeout|socket hang up/i.test(message)) {
    return new EngineUnavailableError(endpoint, message, { cause: err });
  }
  return new EngineError(operation, 0, message, { cause: err });
}
