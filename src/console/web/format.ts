// Words and numbers as docker prints them: durations ("2 minutes", "Less than a
// second"), task states with their age ("Running 2 minutes ago"), sizes
// ("1.944GiB"), ports ("*:8080->80/tcp"). Pure (no DOM), tested under node.
import type { NodeView, PortView, ServiceView, TaskView, UpdateStatusView } from './types.js';

/** docker's units.HumanDuration (go-units), for a duration in milliseconds; a negative one (clock skew) reads as none. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (!(seconds >= 1)) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.floor(seconds / 60);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.round(ms / 3_600_000);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(Math.floor(ms / 3_600_000) / 24 / 365)} years`;
}

/** "2 minutes ago", "Less than a second ago"; '' for a missing or unreadable time. */
export function ago(iso: string | null | undefined, now: number): string {
  const t = parseTime(iso);
  return t === null ? '' : `${humanDuration(now - t)} ago`;
}

/** docker service ps's CURRENT STATE: "Running 2 minutes ago", "Shutdown less than a second ago". */
export function stateAgo(state: string, since: string | null | undefined, now: number): string {
  const t = parseTime(since);
  const word = capitalize(state);
  return t === null ? word : `${word} ${humanDuration(now - t).toLowerCase()} ago`;
}

/** An ISO time as ms since the epoch, null for '' or garbage (and Go's zero time, year 1). */
export function parseTime(iso: string | null | undefined): number | null {
  if (!iso) return null;
  const t = Date.parse(iso);
  if (Number.isNaN(t) || t <= 0) return null;
  return t;
}

export function capitalize(word: string): string {
  return word ? word[0].toUpperCase() + word.slice(1) : word;
}

const BINARY_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB', 'ZiB', 'YiB'];

/** docker's units.BytesSize: binary units, four significant digits ("1.944GiB", "512MiB", "0B"). */
export function bytesSize(bytes: number): string {
  let size = Math.max(0, bytes);
  let unit = 0;
  while (size >= 1024 && unit < BINARY_UNITS.length - 1) {
    size /= 1024;
    unit++;
  }
  return `${Number(size.toPrecision(4))}${BINARY_UNITS[unit]}`;
}

/** NanoCPUs as a CPU count: 4000000000 -> "4", 1500000000 -> "1.5". */
export function cpus(nanoCpus: number): string {
  return String(Math.round(nanoCpus / 1e7) / 100);
}

/** docker service ls's PORTS cell: "*:8080->80/tcp" (a host-mode port: "8080->80/tcp" without the star). */
export function formatPort(p: PortView): string {
  const published = p.publishedPort ? `${p.publishMode === 'host' ? '' : '*:'}${p.publishedPort}->` : '';
  return `${published}${p.targetPort}/${p.protocol || 'tcp'}`;
}

export function formatPorts(ports: PortView[]): string {
  return ports.map(formatPort).join(', ');
}

/** The REPLICAS cell: "running/desired". */
export function replicas(s: ServiceView): string {
  return `${s.running}/${s.desired}`;
}

/** The update column's words: "updating 3/10", "completed", "rollback_paused: task failed", '' with no update. */
export function updateSummary(u: UpdateStatusView | null): string {
  if (!u) return '';
  const progress = u.total > 0 && !u.state.endsWith('completed') ? ` ${u.updated}/${u.total}` : '';
  return `${u.state.replace(/_/g, ' ')}${progress}`;
}

/** A node's MANAGER STATUS column as docker node ls prints it: Leader, Reachable, Unreachable, or '' for a worker. */
export function managerStatus(n: NodeView): string {
  if (n.role !== 'manager') return '';
  if (n.leader) return 'Leader';
  return capitalize(n.reachability ?? 'unknown');
}

/** "k=v, k2=v2", sorted by key; '' for none. */
export function formatLabels(labels: Record<string, string> | null | undefined): string {
  const all = labels ?? {};
  return Object.keys(all)
    .sort()
    .map((k) => (all[k] === '' ? k : `${k}=${all[k]}`))
    .join(', ');
}

/** An ISO time for a tooltip or a <time datetime>; '' when missing. */
export function isoOrEmpty(iso: string | null | undefined): string {
  return parseTime(iso) === null ? '' : (iso as string);
}

/** A short id as docker shows it (12 characters). */
export function shortId(id: string): string {
  return id.slice(0, 12);
}

/** A task's error/message line for a table: the error when there is one, else the message. */
export function taskNote(t: TaskView): string {
  return t.error || t.message || '';
}
