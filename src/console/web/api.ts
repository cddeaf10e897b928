// Calls to the console's JSON API (notes: console-api.md). Every write sends the
// session's CSRF token; a failure becomes an ApiError whose message is the
// server's one line (the CLI's words), ready for the alert region.
import type { CreateServiceRequest, Session, TaskHistory } from './types.js';

export const API = '/console/api';

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

let session: Session | null = null;

/** GET /session: the CSRF token for writes and the node the console talks to. */
export async function loadSession(): Promise<Session> {
  session = await request<Session>('GET', '/session');
  return session;
}

export function currentSession(): Session | null {
  return session;
}

async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (method !== 'GET') {
    headers['Content-Type'] = 'application/json';
    if (session) headers['X-CSRF-Token'] = session.csrfToken;
  }
  let res: Response;
  try {
    res = await fetch(`${API}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
  } catch {
    throw new ApiError('cannot reach the manager: check that its daemon is running, then retry', 0);
  }
  const text = await res.text();
  let json: unknown = null;
  if (text !== '') {
    try {
      json = JSON.parse(text);
    } catch {
      json = null;
    }
  }
  if (!res.ok) throw new ApiError(errorLine(json, res), res.status);
  return json as T;
}

function errorLine(json: unknown, res: Response): string {
  if (json && typeof json === 'object' && typeof (json as { error?: unknown }).error === 'string') {
    // One line: the server's words, without a trailing newline or a second line of detail.
    return (json as { error: string }).error.split('\n')[0].trim();
  }
  return `the manager answered ${res.status} ${res.statusText}`.trim();
}

/** A write; a 403 (the CSRF token rotated, e.g. after the daemon restarted) refetches the session once and retries. */
async function write<T>(method: 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
  if (!session) await loadSession();
  try {
    return await request<T>(method, path, body);
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 403) throw err;
    const before = session?.csrfToken;
    await loadSession();
    if (session?.csrfToken === before) throw err;
    return request<T>(method, path, body);
  }
}

const svc = (id: string): string => `/services/${encodeURIComponent(id)}`;

export const api = {
  taskHistory: (id: string) => request<TaskHistory>('GET', `/tasks/${encodeURIComponent(id)}/history`),
  createService: (req: CreateServiceRequest) => write<{ id?: string }>('POST', '/services', req),
  scale: (id: string, replicas: number) => write<object>('POST', `${svc(id)}/scale`, { replicas }),
  setImage: (id: string, image: string) => write<object>('POST', `${svc(id)}/image`, { image }),
  rollback: (id: string) => write<object>('POST', `${svc(id)}/rollback`, {}),
  promote: (id: string) => write<object>('POST', `${svc(id)}/promote`, {}),
  removeService: (id: string) => write<object>('DELETE', svc(id)),
  setAvailability: (id: string, availability: 'active' | 'pause' | 'drain') =>
    write<object>('POST', `/nodes/${encodeURIComponent(id)}/availability`, { availability }),
  logout: () => write<object>('POST', '/logout', {}),
};

/** The URL of a log stream: a service's, or one task's. */
export function logsUrl(serviceId: string, taskId?: string, tail = 100): string {
  const q = new URLSearchParams({ service: serviceId });
  if (taskId) q.set('task', taskId);
  q.set('tail', String(tail));
  return `${API}/logs?${q.toString()}`;
}
