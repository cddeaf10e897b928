// `flotilla service create | ls | inspect | update | rollback | promote | scale | rm | ps | logs`, like `docker service`
// (logs: logs-command.ts; create, update, rollback, promote, scale: service-update-commands.ts, loaded when one runs).
import {
  TaskState,
  taskStateName,
  type FileReference,
  type Network,
  type Node,
  type PortConfig,
  type Service,
  type Task,
  type UpdateConfig,
  type UpdateState,
} from '../api/objects.js';
import { configFilePath, DEFAULT_DRAIN_PERIOD_MS, DEFAULT_LB_WEIGHT, secretFilePath } from '../api/validate.js';
import { filterGroups, labelMatches, quoteArg, UsageError, type FlagSpec } from './args.js';
import { type CommandContext, type CommandDef, type CommandGroup, type LazyCommand } from './command.js';
import { CliError } from './errors.js';
import {
  ago,
  bytesSize,
  checkInspectFormat,
  cpus,
  FORMAT_FLAG,
  formatInspect,
  formatRows,
  humanDuration,
  INSPECT_FORMAT_FLAG,
  keyValues,
  labelList,
  naturalCompare,
  NO_TRUNC_FLAG,
  outputFormat,
  QUIET_FLAG,
  renderTable,
  shortId,
  TASK_FILTER_FLAG,
  titleCase,
} from './format.js';
import { serviceInspectJson } from './docker-shapes.js';
import { findService, listNetworks, listNodes, listServicesWithStatus, listTasks, networkName } from './lookup.js';
import { logs } from './logs-command.js';

function serviceMode(s: Service): 'replicated' | 'global' {
  return 'global' in s.spec.mode ? 'global' : 'replicated';
}

// ------------------------------------------------------------ ls

const SERVICE_FILTER: FlagSpec = { name: 'filter', short: 'f', kind: 'list', metavar: 'KEY=VALUE', help: 'filter: id=, name=, label=KEY[=VALUE], mode=replicated|global' };

export function serviceFilter(specs: readonly string[]): (s: Service) => boolean {
  const byKey = filterGroups(specs, ['id', 'label', 'mode', 'name']);
  for (const v of byKey.get('mode') ?? []) if (v !== 'replicated' && v !== 'global') throw new UsageError(`invalid --filter mode ${quoteArg(v)}: mode is replicated or global`);
  const test = (key: string, v: string, s: Service): boolean => {
    switch (key) {
      case 'id':
        return s.id.startsWith(v);
      case 'name':
        return s.spec.name.startsWith(v);
      case 'mode':
        return serviceMode(s) === v;
      default:
        return labelMatches(s.spec.labels, v);
    }
  };
  return (s) => [...byKey].every(([key, values]) => values.some((v) => test(key, v, s)));
}

/**
 * An image as docker's ls and ps show it: a tagged reference without its
 * digest, familiar ('nginx:1' for 'docker.io/library/nginx:1@sha256:...');
 * anything else as it is.
 */
export function displayImage(image: string): string {
  const at = image.indexOf('@');
  const ref = at >= 0 ? image.slice(0, at) : image;
  if (ref.lastIndexOf(':') <= ref.lastIndexOf('/')) return image;
  for (const prefix of ['docker.io/library/', 'index.docker.io/library/', 'docker.io/', 'index.docker.io/']) {
    if (ref.startsWith(prefix)) return ref.slice(prefix.length);
  }
  return ref;
}

/** 'running/desired': tasks that should run and do, over the replicas (global: over the tasks that should run). */
export function replicasColumn(s: Service, tasks: readonly Task[]): string {
  const mine = tasks.filter((t) => t.serviceId === s.id && t.desiredState === TaskState.RUNNING);
  const running = mine.filter((t) => t.status.state === TaskState.RUNNING).length;
  const desired = 'replicated' in s.spec.mode ? s.spec.mode.replicated.replicas : mine.length;
  return `${running}/${desired}`;
}

/** The ports a service publishes: the resolved ones (published ports the cluster assigned), else its spec's. */
export function servicePorts(s: Service): PortConfig[] {
  return s.endpoint?.ports ?? s.spec.endpoint.ports;
}

/**
 * docker's PORTS column of `service ls` (cli/command/service/formatter.go):
 * ingress ports only (a host-mode port is bound on its tasks' nodes, not
 * cluster-wide: docker shows none), sorted by protocol then published port,
 * consecutive ones folded into ranges ('*:8000-8001->80-81/tcp'); a port
 * without a published port yet is left out.
 */
export function portsColumn(ports: readonly PortConfig[]): string {
  const sorted = [...ports].sort((a, b) => (a.protocol === b.protocol ? a.publishedPort - b.publishedPort : a.protocol < b.protocol ? -1 : 1));
  // Go's uint32 difference: a port below the range's end is a gap too.
  const gap = (a: number, b: number): number => (a - b) >>> 0;
  const out: string[] = [];
  const shown = (lo: number, hi: number): string => (hi > lo ? `${lo}-${hi}` : `${lo}`);
  let pr = { pStart: 0, pEnd: 0, tStart: 0, tEnd: 0, protocol: '' };
  const flush = (): void => {
    if (pr.pStart > 0) out.push(`*:${shown(pr.pStart, pr.pEnd)}->${shown(pr.tStart, pr.tEnd)}/${pr.protocol}`);
  };
  for (const p of sorted) {
    if (p.publishMode !== 'ingress') continue;
    const isRange = pr.tEnd !== pr.tStart;
    if (p.protocol !== pr.protocol || gap(p.publishedPort, pr.pEnd) > 1 || gap(p.targetPort, pr.tEnd) > 1 || (isRange && p.targetPort <= pr.tEnd)) {
      flush();
      pr = { pStart: p.publishedPort, pEnd: p.publishedPort, tStart: p.targetPort, tEnd: p.targetPort, protocol: p.protocol };
      continue;
    }
    pr.pEnd = p.publishedPort;
    pr.tEnd = p.targetPort;
  }
  flush();
  return out.join(', ');
}

/** Every port on one line, for --pretty: '*:30000->80/tcp, 5353->53/udp (host)' ('?' for a published port not assigned yet). */
export function portsLine(ports: readonly PortConfig[]): string {
  return ports
    .map((p) => {
      const published = p.publishedPort === 0 ? '?' : String(p.publishedPort);
      return p.publishMode === 'ingress' ? `*:${published}->${p.targetPort}/${p.protocol}` : `${published}->${p.targetPort}/${p.protocol} (host)`;
    })
    .join(', ');
}

/** What REPLICAS says of an update that has not completed (docker appends notes there too, e.g. "(max 1 per node)"). */
const UPDATE_NOTES: Partial<Record<UpdateState, string>> = {
  updating: 'updating',
  paused: 'update paused',
  rollback_started: 'rolling back',
  rollback_paused: 'rollback paused',
};

/** ' (update paused)' while an update has not completed; '' otherwise. */
export function updateNote(s: Service): string {
  const note = s.updateStatus ? UPDATE_NOTES[s.updateStatus.state] : undefined;
  return note === undefined ? '' : ` (${note})`;
}

/** ' (max 2 per node)': docker's note after REPLICAS for a replicated service with a per-node limit; '' otherwise. */
export function maxPerNodeNote(s: Service): string {
  const max = s.spec.taskTemplate.placement.maxReplicas ?? 0;
  return max > 0 && 'replicated' in s.spec.mode ? ` (max ${max} per node)` : '';
}

/** One row of `service ls`: docker's fields (ID, Image, Mode, Name, Ports, Replicas, in the order of its JSON; Replicas with docker's per-node note). */
export function serviceRow(s: Service, replicas: string, noTrunc = false): Record<string, string> {
  return {
    ID: shortId(s.id, noTrunc),
    Image: displayImage(s.spec.taskTemplate.container.image),
    Mode: serviceMode(s),
    Name: s.spec.name,
    Ports: portsColumn(servicePorts(s)),
    Replicas: replicas + maxPerNodeNote(s),
  };
}

export const SERVICE_HEADERS = { ID: 'ID', Name: 'NAME', Mode: 'MODE', Replicas: 'REPLICAS', Image: 'IMAGE', Ports: 'PORTS' };

/**
 * docker's `service ls` table. `replicas`: the tasks to count, or each
 * service's REPLICAS text (from the manager's ServiceStatus); an update that
 * has not completed is noted after it (the table only: the rows keep docker's
 * "running/desired").
 */
export function serviceTable(services: readonly Service[], replicas: readonly Task[] | ((s: Service) => string), noTrunc = false): string {
  const count = typeof replicas === 'function' ? replicas : (s: Service): string => replicasColumn(s, replicas);
  return renderTable(
    ['ID', 'NAME', 'MODE', 'REPLICAS', 'IMAGE', 'PORTS'],
    services.map((s) => {
      const r = serviceRow(s, count(s), noTrunc);
      return [r.ID, r.Name, r.Mode, r.Replicas + updateNote(s), r.Image, r.Ports];
    }),
  );
}

const ls: CommandDef = {
  name: 'ls',
  aliases: ['list'],
  usage: 'flotilla service ls [OPTIONS]',
  summary: 'List services.',
  flags: [SERVICE_FILTER, FORMAT_FLAG, QUIET_FLAG, NO_TRUNC_FLAG],
  args: { min: 0, max: 0 },
  async run(ctx) {
    const filter = serviceFilter(ctx.flags.list('filter'));
    const format = outputFormat(ctx.flags);
    const noTrunc = ctx.flags.bool('no-trunc');
    const control = ctx.control();
    const listed = await listServicesWithStatus(control);
    const services = listed.map((l) => l.service).filter(filter).sort((a, b) => naturalCompare(a.spec.name, b.spec.name));
    // The manager counts the replicas (docker's ServiceStatus): no list of every task, which for a service of
    // 100,000 replicas is tens of megabytes.
    const status = new Map(listed.map((l) => [l.service.id, l.status]));
    const replicas = (s: Service): string => {
      const st = status.get(s.id);
      return st ? `${st.runningTasks}/${st.desiredTasks}` : '?';
    };
    if (ctx.flags.bool('quiet')) ctx.io.out(services.map((s) => `${s.id}\n`).join(''));
    else {
      const rows = services.map((s) => serviceRow(s, replicas(s), noTrunc));
      ctx.io.out(formatRows(format, rows, { headers: SERVICE_HEADERS, typeName: 'service', table: () => serviceTable(services, replicas, noTrunc) }));
    }
    return 0;
  },
};

// ------------------------------------------------------------ inspect

function duration(ms: number): string {
  if (ms === 0) return '0s';
  const parts: string[] = [];
  let rest = ms;
  for (const [unit, size] of [['h', 3_600_000], ['m', 60_000], ['s', 1000], ['ms', 1]] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return parts.join('');
}

function updateConfigRows(u: UpdateConfig, rollback: boolean): [string, string | null][] {
  const rows: [string, string | null][] = [
    [rollback ? 'RollbackConfig' : 'UpdateConfig', null],
    [' Parallelism', String(u.parallelism)],
    [' Delay', duration(u.delayMs)],
    [' On failure', u.failureAction],
    [' Monitoring Period', duration(u.monitorMs)],
    [' Max failure ratio', String(u.maxFailureRatio)],
    [rollback ? ' Rollback order' : ' Update order', u.order],
  ];
  // A rollback has no canaries; its deadline is shown when the API set one.
  if (!rollback) rows.push([' Canary', String(u.canary)], [' Auto promote', String(u.autoPromote)]);
  if (!rollback || u.progressDeadlineMs > 0) rows.push([' Progress deadline', u.progressDeadlineMs > 0 ? duration(u.progressDeadlineMs) : 'none']);
  return rows;
}

/** docker's UpdateStatus block of `service inspect --pretty`. */
function updateStatusRows(s: Service, now: number): [string, string | null][] {
  const st = s.updateStatus;
  if (!st) return [];
  const rows: [string, string | null][] = [['UpdateStatus', null], [' State', st.state]];
  if (st.canary !== 'none') rows.push([' Canary', st.canary]);
  if (st.startedAt) rows.push([' Started', ago(st.startedAt, now)]);
  if (st.completedAt) rows.push([' Completed', ago(st.completedAt, now)]);
  rows.push([' Message', st.message]);
  return rows;
}

/**
 * The Networks, Endpoint Mode and Endpoint rows of --pretty: the networks by name, docker's "Endpoint Mode"
 * (always, as docker prints it), how connections are balanced and drained. A dnsrr service has no proxy:
 * its block has the drain period alone.
 */
function endpointRows(s: Service, networks: ReadonlyMap<string, Network>): [string, string | null][] {
  const ids = s.spec.taskTemplate.networks ?? [];
  const e = s.spec.endpoint;
  const rows: [string, string | null][] = [];
  const aliases = s.spec.taskTemplate.networkAliases ?? {};
  const attachment = (id: string): string => networkName(networks, id) + (Object.hasOwn(aliases, id) ? ` (aliases ${aliases[id].join(', ')})` : '');
  if (ids.length > 0) rows.push(['Networks', ids.map(attachment).join(' ')]);
  const mode = e.mode ?? 'vip';
  rows.push(['Endpoint Mode', mode]);
  const weight = s.spec.taskTemplate.lbWeight;
  const custom = e.lbPolicy !== undefined || e.proxyProtocol !== undefined || e.drainPeriodMs !== undefined || weight !== undefined;
  if (ids.length === 0 && e.ports.length === 0 && !custom) return rows;
  rows.push(['Endpoint', null]);
  if (mode === 'vip') {
    const policy = e.lbPolicy ?? 'round-robin';
    rows.push([' Load balancing', policy]);
    if (policy === 'weighted' || weight !== undefined) rows.push([' LB weight', String(weight ?? DEFAULT_LB_WEIGHT)]);
    rows.push([' PROXY protocol', e.proxyProtocol ?? 'none']);
  }
  rows.push([' Drain period', duration(e.drainPeriodMs ?? DEFAULT_DRAIN_PERIOD_MS)]);
  return rows;
}

/** ' Secret  db -> /run/secrets/db (uid 0, gid 0, mode 0444)' */
function fileRefLine(r: FileReference, file: string): string {
  return `${r.name} -> ${file} (uid ${r.uid}, gid ${r.gid}, mode ${r.mode.toString(8).padStart(4, '0')})`;
}

/** `networks`: the cluster's networks by id, to name the service's (an id shows when its network is unknown). */
export function prettyService(s: Service, tasks: readonly Task[], now = Date.now(), networks: ReadonlyMap<string, Network> = new Map()): string {
  const t = s.spec.taskTemplate;
  const c = t.container;
  const rows: [string, string | null][] = [
    ['ID', s.id],
    ['Name', s.spec.name],
  ];
  if (Object.keys(s.spec.labels).length > 0) rows.push(['Labels', labelList(s.spec.labels)]);
  rows.push(['Mode', 'replicated' in s.spec.mode ? `Replicated (${s.spec.mode.replicated.replicas} replicas)` : 'Global'], ['Running', replicasColumn(s, tasks)]);
  rows.push(...updateStatusRows(s, now));
  const maxPerNode = t.placement.maxReplicas ?? 0;
  if (t.placement.constraints.length > 0 || t.placement.preferences.length > 0 || maxPerNode > 0) {
    rows.push(['Placement', null]);
    if (t.placement.constraints.length > 0) rows.push([' Constraints', t.placement.constraints.join(', ')]);
    if (t.placement.preferences.length > 0) rows.push([' Preferences', t.placement.preferences.map((p) => `spread=${p.spread}`).join(', ')]);
    // docker's wording (cli/command/service/formatter.go).
    if (maxPerNode > 0) rows.push([' Max Replicas Per Node', String(maxPerNode)]);
  }
  rows.push(...updateConfigRows(s.spec.updateConfig, false), ...updateConfigRows(s.spec.rollbackConfig, true), ['ContainerSpec', null], [' Image', c.image]);
  if (c.command.length > 0) rows.push([' Command', c.command.join(' ')]);
  if (c.args.length > 0) rows.push([' Args', c.args.join(' ')]);
  if (c.env.length > 0) rows.push([' Env', c.env.join(', ')]);
  if (c.dir) rows.push([' Dir', c.dir]);
  if (c.user) rows.push([' User', c.user]);
  if (c.healthcheck) rows.push([' Healthcheck', c.healthcheck.test.length === 0 ? "(the image's)" : c.healthcheck.test.join(' ')]);
  rows.push([' Stop grace period', duration(c.stopGracePeriodMs)]);
  for (const m of c.mounts) rows.push([' Mount', `${m.type} ${m.source || '(anonymous)'} -> ${m.target}${m.readOnly ? ' (read-only)' : ''}`]);
  for (const r of c.secrets ?? []) rows.push([' Secret', fileRefLine(r, secretFilePath(r.target || r.name))]);
  for (const r of c.configs ?? []) rows.push([' Config', fileRefLine(r, configFilePath(r.target || r.name))]);
  const r = t.resources;
  if (r.limits.nanoCpus || r.limits.memoryBytes || r.reservations.nanoCpus || r.reservations.memoryBytes) {
    rows.push(['Resources', null]);
    if (r.limits.nanoCpus) rows.push([' CPU limit', cpus(r.limits.nanoCpus)]);
    if (r.limits.memoryBytes) rows.push([' Memory limit', bytesSize(r.limits.memoryBytes)]);
    if (r.reservations.nanoCpus) rows.push([' CPU reservation', cpus(r.reservations.nanoCpus)]);
    if (r.reservations.memoryBytes) rows.push([' Memory reservation', bytesSize(r.reservations.memoryBytes)]);
  }
  const rp = t.restartPolicy;
  rows.push(['Restart Policy', null], [' Condition', rp.condition], [' Delay', duration(rp.delayMs)], [' Max attempts', String(rp.maxAttempts)], [' Window', duration(rp.windowMs)], [' Max delay', duration(rp.maxDelayMs)]);
  rows.push(...endpointRows(s, networks));
  const ports = servicePorts(s);
  if (ports.length > 0) rows.push(['Ports', portsLine(ports)]);
  return keyValues(rows);
}

const inspect: CommandDef = {
  name: 'inspect',
  usage: 'flotilla service inspect [OPTIONS] SERVICE [SERVICE...]',
  summary: 'Show the details of services (by name, id or id prefix), as a JSON array in the shape of docker\'s.',
  flags: [INSPECT_FORMAT_FLAG, { name: 'pretty', kind: 'bool', help: 'print in a human friendly format' }],
  args: { min: 1 },
  async run(ctx) {
    checkInspectFormat(ctx.flags);
    const control = ctx.control();
    const found: Service[] = [];
    let code = 0;
    for (const ref of ctx.args) {
      try {
        found.push(await findService(control, ref));
      } catch (err) {
        if (!(err instanceof CliError)) throw err;
        code = ctx.report(err);
      }
    }
    if (ctx.flags.bool('pretty')) {
      const tasks = found.length === 0 ? [] : await listTasks(control, { desiredStates: [TaskState.RUNNING] });
      const attached = found.some((s) => (s.spec.taskTemplate.networks ?? []).length > 0);
      const networks = new Map((attached ? await listNetworks(control) : []).map((n) => [n.id, n]));
      ctx.io.out(found.map((s) => prettyService(s, tasks, ctx.io.now(), networks)).join('\n'));
    } else ctx.io.out(formatInspect(ctx.flags, found.map(serviceInspectJson)));
    return code;
  },
};

// ------------------------------------------------------------ rm

const rm: CommandDef = {
  name: 'rm',
  aliases: ['remove'],
  usage: 'flotilla service rm SERVICE [SERVICE...]',
  summary: 'Remove services.',
  flags: [],
  args: { min: 1 },
  async run(ctx) {
    const control = ctx.control();
    let code = 0;
    for (const ref of ctx.args) {
      try {
        const service = await findService(control, ref);
        await control.call('RemoveService', { serviceId: service.id });
        ctx.io.out(`${ref}\n`);
      } catch (err) {
        code = ctx.report(err);
      }
    }
    return code;
  },
};

// ------------------------------------------------------------ ps

const DESIRED_FILTERS: Record<string, number[]> = {
  running: [TaskState.RUNNING],
  shutdown: [TaskState.SHUTDOWN],
  accepted: [TaskState.ACCEPTED],
  ready: [TaskState.READY],
  remove: [TaskState.REMOVE],
};

/** A task's name as docker's filters read it: SERVICE.SLOT.TASKID (SERVICE.NODEID.TASKID for a global service's). */
function taskFullName(t: Task, services: ReadonlyMap<string, Service>): string {
  return `${serviceNameOf(t, services)}.${t.slot > 0 ? t.slot : t.nodeId}.${t.id}`;
}

function serviceNameOf(t: Task, services: ReadonlyMap<string, Service>): string {
  return services.get(t.serviceId)?.spec.name || t.serviceAnnotations.name || t.serviceId;
}

/** `service ps` and `node ps --filter`: docker's keys (desired-state, id, name, node); values of one key OR'ed, keys AND'ed. */
export function taskFilter(specs: readonly string[], nodes: readonly Node[], services: ReadonlyMap<string, Service> = new Map()): (t: Task) => boolean {
  const byKey = filterGroups(specs, ['desired-state', 'id', 'name', 'node']);
  for (const v of byKey.get('desired-state') ?? []) {
    if (!Object.hasOwn(DESIRED_FILTERS, v.toLowerCase())) throw new UsageError(`invalid --filter desired-state ${quoteArg(v)}: one of ${Object.keys(DESIRED_FILTERS).join(', ')}`);
  }
  const hostname = new Map(nodes.map((n) => [n.id, n.description.hostname]));
  const test = (key: string, v: string, t: Task): boolean => {
    switch (key) {
      case 'id':
        return t.id.startsWith(v);
      case 'name':
        return taskFullName(t, services).startsWith(v);
      case 'node':
        return t.nodeId !== '' && (t.nodeId.startsWith(v) || hostname.get(t.nodeId) === v);
      default:
        return DESIRED_FILTERS[v.toLowerCase()].includes(t.desiredState);
    }
  };
  return (t) => [...byKey].every(([key, values]) => values.some((v) => test(key, v, t)));
}

const MAX_ERROR_LENGTH = 30;

/** docker's CURRENT STATE: 'Running 5 minutes ago' (the duration in lower case, as docker's; the state alone when it has no time). */
export function currentState(t: Task, now: number): string {
  const state = titleCase(taskStateName(t.status.state));
  return t.status.timestamp ? `${state} ${humanDuration(Math.max(0, now - t.status.timestamp)).toLowerCase()} ago` : state;
}

/**
 * The default table's CURRENT STATE: docker's, and for the newest task of a
 * slot that ended and whose restart is pending, when and which attempt
 * ('Failed 3 seconds ago, restart in 12 seconds (attempt 3)'): a crash
 * loop's back-off reads at a glance. (The rows keep docker's text.)
 */
export function currentStateNote(t: Task, now: number, newestOfSlot: boolean): string {
  const state = currentState(t, now);
  const r = t.restart;
  if (!newestOfSlot || t.status.state <= TaskState.RUNNING || r === undefined || r.reason !== '' || r.nextAt <= now) return state;
  return `${state}, restart in ${humanDuration(r.nextAt - now).toLowerCase()} (attempt ${r.attempt})`;
}

/** Tasks sorted as `service ps` shows them: by slot (or node for global tasks), newest first; with each one's group. */
function psOrder(tasks: readonly Task[], services: ReadonlyMap<string, Service>): { task: Task; newest: boolean }[] {
  const group = (t: Task): string => `${serviceNameOf(t, services)}.${t.slot > 0 ? String(t.slot).padStart(6, '0') : t.nodeId}`;
  const sorted = [...tasks].sort((a, b) => naturalCompare(group(a), group(b)) || b.status.timestamp - a.status.timestamp || b.createdAt - a.createdAt);
  return sorted.map((task, i) => ({ task, newest: i === 0 || group(sorted[i - 1]) !== group(task) }));
}

/** docker's ERROR: quoted, cut to 30 characters with '…' unless --no-trunc. */
function errorColumn(err: string, noTrunc: boolean): string {
  const e = !noTrunc && err.length > MAX_ERROR_LENGTH ? `${err.slice(0, MAX_ERROR_LENGTH - 1)}…` : err;
  return e ? `"${e}"` : '';
}

/** docker's PORTS of a task: the ports it publishes on its node ('*:8080->80/tcp,*:53->53/udp'). */
function taskPorts(t: Task): string {
  return (t.status.ports ?? []).map((p) => `*:${p.hostPort}->${p.targetPort}/${p.protocol}`).join(',');
}

export const TASK_HEADERS = { ID: 'ID', Name: 'NAME', Image: 'IMAGE', Node: 'NODE', DesiredState: 'DESIRED STATE', CurrentState: 'CURRENT STATE', Error: 'ERROR', Ports: 'PORTS' };

/** A `service ps` / `node ps` row: docker's fields, and what the default table shows of it. */
export interface TaskRow {
  row: Record<string, string>;
  /** The NAME of the table: ' \_ web.1' for an older task of a slot. */
  tableName: string;
  /** The CURRENT STATE of the table, with a pending restart. */
  tableState: string;
}

/** `service ps` / `node ps` rows in docker's order: grouped by slot (or node for global tasks), newest first. */
export function taskRows(tasks: readonly Task[], services: ReadonlyMap<string, Service>, nodes: readonly Node[], now: number, noTrunc = false): TaskRow[] {
  const hostname = new Map(nodes.map((n) => [n.id, n.description.hostname]));
  return psOrder(tasks, services).map(({ task: t, newest }) => {
    const name = `${serviceNameOf(t, services)}.${t.slot > 0 ? t.slot : t.nodeId}`;
    const image = t.spec.container.image;
    return {
      row: {
        CurrentState: currentState(t, now),
        DesiredState: titleCase(taskStateName(t.desiredState)),
        Error: errorColumn(t.status.err, noTrunc),
        ID: shortId(t.id, noTrunc),
        Image: noTrunc ? image : displayImage(image),
        Name: name,
        Node: t.nodeId ? (hostname.get(t.nodeId) ?? t.nodeId) : '',
        Ports: taskPorts(t),
      },
      tableName: newest ? name : ` \\_ ${name}`,
      tableState: currentStateNote(t, now, newest),
    };
  });
}

/** docker's `service ps` table: older tasks of a slot marked '\\_'. */
export function taskTable(tasks: readonly Task[], services: ReadonlyMap<string, Service>, nodes: readonly Node[], now: number, noTrunc = false): string {
  return tasksTable(taskRows(tasks, services, nodes, now, noTrunc));
}

export function tasksTable(rows: readonly TaskRow[]): string {
  return renderTable(
    Object.values(TASK_HEADERS),
    rows.map(({ row: r, tableName, tableState }) => [r.ID, tableName, r.Image, r.Node, r.DesiredState, tableState, r.Error, r.Ports]),
  );
}

/** The output of `service ps` / `node ps` for --format, -q and --no-trunc. */
export function printTasks(ctx: CommandContext, tasks: readonly Task[], services: ReadonlyMap<string, Service>, nodes: readonly Node[]): void {
  const format = outputFormat(ctx.flags);
  const noTrunc = ctx.flags.bool('no-trunc');
  const rows = taskRows(tasks, services, nodes, ctx.io.now(), noTrunc);
  // As docker: -q prints the ids as the table does (12 characters unless --no-trunc).
  if (ctx.flags.bool('quiet')) ctx.io.out(rows.map((r) => `${r.row.ID}\n`).join(''));
  else ctx.io.out(formatRows(format, rows.map((r) => r.row), { headers: TASK_HEADERS, typeName: 'task', table: () => tasksTable(rows) }));
}

const ps: CommandDef = {
  name: 'ps',
  usage: 'flotilla service ps [OPTIONS] SERVICE [SERVICE...]',
  summary: 'List the tasks of services.',
  flags: [TASK_FILTER_FLAG, FORMAT_FLAG, QUIET_FLAG, NO_TRUNC_FLAG],
  args: { min: 1 },
  async run(ctx) {
    outputFormat(ctx.flags);
    const control = ctx.control();
    const services = new Map<string, Service>();
    for (const ref of ctx.args) {
      const s = await findService(control, ref);
      services.set(s.id, s);
    }
    const nodes = await listNodes(control);
    const filter = taskFilter(ctx.flags.list('filter'), nodes, services);
    const tasks = (await listTasks(control, { serviceIds: [...services.keys()] })).filter((t) => services.has(t.serviceId)).filter(filter);
    printTasks(ctx, tasks, services, nodes);
    return 0;
  },
};

// ------------------------------------------------------------ the group

/** The subcommands that change a service's spec, as `flotilla service --help` lists them. */
export const SERVICE_WRITE_SUMMARIES = {
  create: 'Create a service; prints its id.',
  update: 'Update a service: change its spec with the flags and send it with the version read (retried if the service changed meanwhile).',
  rollback: "Revert changes to a service's configuration: back to its previous spec.",
  promote: 'Promote the canaries of an update that awaits it (see --update-canary): the update goes on in batches.',
  scale: 'Set the number of replicas of replicated services.',
};

/**
 * One of the subcommands of service-update-commands.ts, loaded when it runs
 * or shows its help: `service ls` and `service ps` load neither the spec
 * builder (service-spec.ts) nor the convergence watch (start-up time, bench/cli.ts).
 */
function writeCommand(name: keyof typeof SERVICE_WRITE_SUMMARIES): LazyCommand {
  return { name, summary: SERVICE_WRITE_SUMMARIES[name], load: async () => (await import('./service-update-commands.js')).SERVICE_WRITE_COMMANDS[name] };
}

export const SERVICE_GROUP: CommandGroup = {
  name: 'service',
  summary: 'Manage services.',
  commands: [writeCommand('create'), inspect, logs, ls, writeCommand('promote'), ps, rm, writeCommand('rollback'), writeCommand('scale'), writeCommand('update')],
};
