// `flotilla events`: docker's `events` on a swarm manager. The manager the
// CLI talks to streams its events (src/manager/events); this prints them as
// docker does: one line each (`TIME TYPE ACTION ID (k=v, ...)`), or docker's
// JSON message per line with `--format json`. Without --until it follows
// until interrupted (Ctrl-C exits 0).
import { eventFromProto, eventsRequestToProto, parseEventFilters, type ClusterEvent, type EventsQuery } from '../api/events.js';
import { ValidationError } from '../api/input.js';
import { invalidValue, parseDuration, parseFilter, quoteArg, UsageError, type FlagSpec } from './args.js';
import type { CommandContext, CommandDef } from './command.js';
import { CliError } from './errors.js';
import { parseTemplate } from './template.js';

const FLAGS: readonly FlagSpec[] = [
  { name: 'filter', short: 'f', kind: 'list', metavar: 'KEY=VALUE', help: 'filter: type=service|node|task|secret|config|network, service=, node=, event=create|update|remove' },
  { name: 'format', kind: 'string', metavar: 'FORMAT', help: "output format: json for docker's JSON messages, one a line (default: one line each)" },
  { name: 'since', kind: 'string', metavar: 'TIME', help: 'show events since TIME (RFC 3339, a Unix timestamp, or a duration before now such as 10m)' },
  { name: 'until', kind: 'string', metavar: 'TIME', help: 'stream events until TIME, then exit (same forms as --since)' },
];

/**
 * A time as docker's timetypes.GetTimestamp reads it, in (fractional)
 * milliseconds since the epoch: a Go duration before `now` ('10m', '1h30m');
 * RFC 3339 or a prefix of it ('2026-12-06', '2026-12-06T05:00',
 * '2026-12-06T05:00:00.5Z', '...+01:00'; local time without a zone); or a Unix
 * timestamp with optional fraction ('1765000000', '1765000000.123456789').
 */
export function parseEventTime(value: string, flag: string, now: number): number {
  if (value !== '0' && /^[0-9.]+[a-zµ]/.test(value)) return now - parseDuration(value, flag);
  if (/^[0-9]+(\.[0-9]{1,9})?$/.test(value)) {
    const [s, frac = ''] = value.split('.');
    return Number(s) * 1000 + Number(`0.${frac || '0'}`) * 1000;
  }
  const m = /^(\d{4}-\d{2}-\d{2})(?:T(\d{2}:\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?(Z|[+-]\d{2}:\d{2})?$/.exec(value);
  if (m) {
    const [, date, hm = '00:00', sec = '00', frac = '', zone = ''] = m;
    const ms = Date.parse(`${date}T${hm}:${sec}${zone}`);
    if (Number.isFinite(ms)) return ms + Number(`0.${frac || '0'}`) * 1000;
  }
  throw invalidValue(flag, value, 'expected RFC 3339 (2006-01-02T15:04:05Z), a Unix timestamp (seconds), or a duration before now (10m)');
}

/** The query from the command line; UsageError for a bad one. */
export function eventsQuery(ctx: Pick<CommandContext, 'flags'>, now: number): EventsQuery {
  const since = ctx.flags.str('since');
  const until = ctx.flags.str('until');
  // The store keeps milliseconds: since rounds up, until down, so that the window holds what it says.
  const sinceMs = since === undefined ? undefined : Math.max(0, Math.ceil(parseEventTime(since, '--since', now)));
  const untilMs = until === undefined ? undefined : Math.max(0, Math.floor(parseEventTime(until, '--until', now)));
  if (sinceMs !== undefined && untilMs !== undefined && sinceMs > untilMs) {
    throw new UsageError(`--since (${quoteArg(since ?? '')}) cannot be after --until (${quoteArg(until ?? '')})`);
  }
  let filters;
  try {
    filters = parseEventFilters(ctx.flags.list('filter').map(parseFilter));
  } catch (err) {
    if (err instanceof ValidationError) throw new UsageError(`invalid --filter: ${err.message.replace(/^filters\[\d+\]: /, '').replace(/ \[[a-z-]+\]$/, '')}`);
    throw err;
  }
  return { ...(sinceMs !== undefined ? { sinceMs } : {}), ...(untilMs !== undefined ? { untilMs } : {}), filters };
}

/** docker's jsonmessage.RFC3339NanoFixed in local time: 2006-01-02T15:04:05.000000000Z07:00. */
export function rfc3339NanoFixed(ms: number): string {
  const offsetMin = -new Date(ms).getTimezoneOffset();
  const local = new Date(ms + offsetMin * 60_000).toISOString().slice(0, 19);
  const frac = `${String(((ms % 1000) + 1000) % 1000).padStart(3, '0')}000000`;
  const abs = Math.abs(offsetMin);
  const zone = offsetMin === 0 ? 'Z' : `${offsetMin < 0 ? '-' : '+'}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
  return `${local}.${frac}${zone}`;
}

const sortedKeys = (a: Readonly<Record<string, string>>): string[] => Object.keys(a).sort();

/** docker's line: `TIME TYPE ACTION ID (k=v, k2=v2)`, attributes by key. */
export function eventLine(ev: ClusterEvent): string {
  const a = ev.actor.attributes;
  const attrs = sortedKeys(a).map((k) => `${k}=${a[k]}`);
  return `${rfc3339NanoFixed(ev.timeMs)} ${ev.type} ${ev.action} ${ev.actor.id}${attrs.length > 0 ? ` (${attrs.join(', ')})` : ''}`;
}

/** docker's events.Message as JSON: Type, Action, Actor{ID, Attributes}, scope, time (s), timeNano (exact, beyond 2^53). */
export function eventJson(ev: ClusterEvent): string {
  const a = ev.actor.attributes;
  const attributes = Object.fromEntries(sortedKeys(a).map((k) => [k, a[k]]));
  const head = JSON.stringify({ Type: ev.type, Action: ev.action, Actor: { ID: ev.actor.id, Attributes: attributes }, scope: 'swarm', time: Math.floor(ev.timeMs / 1000) });
  return `${head.slice(0, -1)},"timeNano":${(BigInt(ev.timeMs) * 1_000_000n).toString()}}`;
}

/** An event as docker's templates see it (its events.Message): `{{.Type}} {{.Action}} {{.Actor.Attributes.name}}`. */
function templateView(ev: ClusterEvent): Record<string, unknown> {
  return { Type: ev.type, Action: ev.action, Actor: { ID: ev.actor.id, Attributes: ev.actor.attributes }, Scope: 'swarm', Time: Math.floor(ev.timeMs / 1000), TimeNano: ev.timeMs * 1_000_000 };
}

function eventFormat(f: string | undefined): (ev: ClusterEvent) => string {
  if (f === undefined || f === '') return eventLine;
  if (f === 'json' || f === '{{json .}}') return eventJson;
  const template = parseTemplate(f.replaceAll('\\t', '\t').replaceAll('\\n', '\n'));
  return (ev) => template.execute(templateView(ev), { missing: 'key' });
}

export const EVENTS: CommandDef = {
  name: 'events',
  usage: 'flotilla events [OPTIONS]',
  summary: 'Show the cluster events (services, nodes, tasks, secrets, configs, networks, leader changes) as they happen',
  flags: FLAGS,
  args: { min: 0, max: 0 },
  details: `Without --since, only events from now on; with --since, first the manager's recent events (it keeps
the last 10,000). Without --until, follows until interrupted (Ctrl-C).
Filters: values of one key are OR'ed, different keys AND'ed; service= and node= match an id or a
name (or a prefix), and also the tasks of that service or on that node.`,
  async run(ctx) {
    const print = eventFormat(ctx.flags.str('format'));
    const query = eventsQuery(ctx, ctx.io.now());
    const control = ctx.control();
    let bad: unknown = null;
    const stream = control.stream('Events', eventsRequestToProto(query), (m) => {
      try {
        ctx.io.out(`${print(eventFromProto(m))}\n`);
      } catch (err) {
        bad = err;
        stream.cancel();
      }
    });
    const interrupt = (): void => stream.cancel();
    process.once('SIGINT', interrupt);
    process.once('SIGTERM', interrupt);
    try {
      await stream.done;
    } finally {
      process.off('SIGINT', interrupt);
      process.off('SIGTERM', interrupt);
    }
    // A template that names a field events do not have fails on the first event, as docker's does.
    if (bad instanceof UsageError) throw bad;
    if (bad !== null) throw new CliError(`the manager sent an event this CLI cannot read (${bad instanceof Error ? bad.message : String(bad)}): are the CLI and the manager the same version?`);
    return 0;
  },
};
