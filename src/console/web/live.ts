// The one live connection: an EventSource on /console/api/stream. The server
// sends a snapshot first (and again after a resync or a reconnect), then
// patches and timeline entries. EventSource reconnects by itself after a
// dropped connection; when it gives up (an HTTP error such as 401), this
// opens a new one after a growing pause.
import { API } from './api.js';
import type { ClusterEvent, Patch, Snapshot } from './types.js';

export type LiveStatus = 'connecting' | 'live' | 'reconnecting' | 'offline';

export interface LiveHandlers {
  snapshot(s: Snapshot): void;
  patch(p: Patch): void;
  events(e: ClusterEvent[]): void;
  status(s: LiveStatus): void;
}

const MIN_RETRY_MS = 1000;
const MAX_RETRY_MS = 30_000;

export function connectLive(handlers: LiveHandlers): () => void {
  let source: EventSource | null = null;
  let retryMs = MIN_RETRY_MS;
  let timer = 0;
  let stopped = false;

  const open = (): void => {
    handlers.status(source ? 'reconnecting' : 'connecting');
    const es = new EventSource(`${API}/stream`);
    source = es;
    es.addEventListener('open', () => {
      retryMs = MIN_RETRY_MS;
      handlers.status('live');
    });
    const on = <T>(name: string, apply: (v: T) => void): void => {
      es.addEventListener(name, (ev) => {
        let value: T;
        try {
          value = JSON.parse((ev as MessageEvent<string>).data) as T;
        } catch {
          // A message we cannot read leaves the model behind the server: start over with a fresh snapshot.
          return restart();
        }
        apply(value);
      });
    };
    on<Snapshot>('snapshot', handlers.snapshot);
    on<Patch>('patch', handlers.patch);
    on<ClusterEvent[]>('events', handlers.events);
    es.addEventListener('error', () => {
      if (es !== source) return;
      handlers.status('reconnecting');
      if (es.readyState === EventSource.CLOSED) restart();
    });
  };

  const restart = (): void => {
    source?.close();
    if (stopped) return;
    clearTimeout(timer);
    handlers.status('reconnecting');
    timer = window.setTimeout(open, retryMs);
    retryMs = Math.min(retryMs * 2, MAX_RETRY_MS);
  };

  open();
  return () => {
    stopped = true;
    clearTimeout(timer);
    source?.close();
  };
}
