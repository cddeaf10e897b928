// The "one valid but large request" scenario (issue 13), on real daemons: a
// service of 100,000 replicas whose image no node has. What it must not do:
// mark a node down, close an agent's session, wedge the Docker engine. What it
// measures: the time to create, place and reject every task, and to remove
// them; the leader's peak RSS. test/cluster/big-service.test.ts asserts the
// checks; bench/big-service.ts prints the figures.
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { connect, type Control } from '../cli/connection.js';
import { nodeRoleToProto } from '../api/enums.js';
import { parseTaskState, TaskState } from '../api/objects.js';
import type { DaemonCluster } from './daemon-cluster.js';

export interface BigServiceOptions {
  replicas: number;
  /** Default: an image no registry here has. */
  image?: string;
  /** Restart policy condition of the big service ('none': each slot gets one task, which makes the phases countable). */
  restartCondition?: 'none' | 'on-failure' | 'any';
  /** How long to keep the service once its tasks are all rejected (churn under the restart policy), in ms. */
  holdMs?: number;
  /** Bound of each phase, in ms. */
  phaseTimeoutMs?: number;
  /** Drain the managers first, so that the tasks land on the workers only (as an operator of a small cluster runs it). */
  drainManagers?: boolean;
  /** The image and command of the small service created after the removal. */
  smallImage: string;
  log?: (line: string) => void;
}

export interface BigServiceResult {
  /** Seconds from `service create` to every task created, placed (ASSIGNED or later), and rejected. */
  createdS: number;
  placedS: number;
  rejectedS: number;
  /** Seconds from `service rm` to the last of its tasks gone from the store. */
  removedS: number;
  /** Seconds from the small service's create to its replicas RUNNING. */
  smallConvergedS: number;
  /** The leader's peak resident set (VmHWM), in bytes. */
  leaderPeakRssBytes: number;
  /** Checks: what went wrong, by the daemons' own logs and the node list (empty when nothing did). */
  nodesMarkedDown: string[];
  sessionsLost: string[];
  engineAnsweredMs: number;
}

interface Counts {
  total: number;
  placed: number;
  rejected: number;
}

/** Tasks of the service per state, from the manager's count (GetService's ServiceStatus): no list of 100,000 tasks. */
async function count(control: Control, serviceId: string): Promise<Counts> {
  const res = await control.call('GetService', { serviceIdOrName: serviceId });
  const c: Counts = { total: 0, placed: 0, rejected: 0 };
  for (const [name, n] of Object.entries(res.service?.serviceStatus?.tasksByState ?? {})) {
    const state = parseTaskState(name) ?? 0;
    c.total += n;
    if (state >= TaskState.ASSIGNED) c.placed += n;
    if (state === TaskState.REJECTED) c.rejected += n;
  }
  return c;
}

/** Whether any task of a removed service is left: a page of one task, not a list of up to 100,000. */
async function anyLeft(control: Control, serviceId: string): Promise<boolean> {
  return (await control.call('ListTasks', { filters: { serviceIds: [serviceId] }, pageSize: 1 })).tasks.length > 0;
}

function peakRss(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** How long `docker info` takes (ms), or Infinity when it does not answer within 10 s. */
function engineAnswers(): number {
  const t = Date.now();
  try {
    execFileSync('docker', ['info', '--format', '{{.ServerVersion}}'], { timeout: 10_000, stdio: 'ignore' });
    return Date.now() - t;
  } catch {
    return Infinity;
  }
}

/** Warnings of the kinds that must not happen, from every daemon's log since `sinceMs`. */
function logFindings(c: DaemonCluster, sinceMs: number): { down: string[]; lost: string[] } {
  const down: string[] = [];
  const lost: string[] = [];
  for (const n of c.nodes) {
    let text = '';
    try {
      text = readFileSync(`${n.dataDir}.log`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      if (!line.includes('heartbeat deadline missed') && !line.includes('session closed')) continue;
      let entry: { time?: number; msg?: string; node?: string; why?: string };
      try {
        entry = JSON.parse(line) as typeof entry;
      } catch {
        continue;
      }
      if ((entry.time ?? 0) < sinceMs) continue;
      if (entry.msg === 'heartbeat deadline missed: node down') down.push(`${n.name}: node ${entry.node ?? '?'}`);
      if (entry.msg === 'session closed') lost.push(`${n.name}: ${entry.why ?? ''}`);
    }
  }
  return { down, lost };
}

async function waitUntil(what: string, timeoutMs: number, cond: () => Promise<boolean>, everyMs = 1_000): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    if (await cond()) return (Date.now() - t0) / 1000;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Runs the scenario on a started cluster whose node 0 is the leader. */
export async function runBigService(c: DaemonCluster, o: BigServiceOptions): Promise<BigServiceResult> {
  const say = o.log ?? ((): void => undefined);
  const timeout = o.phaseTimeoutMs ?? 300_000;
  const control = connect({ dataDir: c.node(0).dataDir, env: {}, timeoutMs: 60_000 });
  try {
    await waitUntil('every node ready', 60_000, async () => {
      const nodes = (await control.call('ListNodes', {})).nodes;
      return nodes.length === c.nodes.length && nodes.every((n) => n.status?.state === 2 && n.description?.engineVersion);
    }, 200);
    if (o.drainManagers) {
      for (const n of (await control.call('ListNodes', {})).nodes.filter((x) => x.role === nodeRoleToProto('manager'))) await c.cliOk(0, ['node', 'update', '--availability', 'drain', n.meta?.id ?? '']);
    }
    const since = Date.now();
    let leaderPeak = peakRss(c.node(0).proc?.pid);
    const sample = (): void => void (leaderPeak = Math.max(leaderPeak, peakRss(c.node(0).proc?.pid)));

    say(`creating a service of ${o.replicas} replicas (image ${o.image ?? 'nosuch/image:1'}, restart ${o.restartCondition ?? 'any'})`);
    const t0 = Date.now();
    const created = await c.cliOk(0, [
      'service', 'create', '--detach', '--name', 'big', '--replicas', String(o.replicas),
      '--restart-condition', o.restartCondition ?? 'any', o.image ?? 'nosuch/image:1',
    ]);
    const serviceId = created.stdout.trim();
    let last: Counts = { total: 0, placed: 0, rejected: 0 };
    const phase: Partial<Record<keyof Counts, number>> = {};
    await waitUntil('every task rejected', timeout, async () => {
      last = await count(control, serviceId);
      sample();
      const s = (Date.now() - t0) / 1000;
      for (const k of ['total', 'placed', 'rejected'] as const) if (phase[k] === undefined && last[k] >= o.replicas) phase[k] = s;
      say(`  ${s.toFixed(1)} s: ${last.total} created, ${last.placed} placed, ${last.rejected} rejected`);
      return phase.rejected !== undefined;
    });
    if (o.holdMs) {
      say(`keeping it ${o.holdMs / 1000} s`);
      const end = Date.now() + o.holdMs;
      while (Date.now() < end) {
        sample();
        await new Promise((r) => setTimeout(r, 1_000));
      }
    }
    const engineDuring = engineAnswers();

    say('removing it');
    await c.cliOk(0, ['service', 'rm', 'big']);
    const removedS = await waitUntil('every task of the service gone', timeout, async () => {
      sample();
      return !(await anyLeft(control, serviceId));
    });

    say('creating a 2-replica service');
    await c.cliOk(0, ['service', 'create', '--detach', '--name', 'small', '--replicas', '2', o.smallImage, 'sleep', '3600']);
    const smallConvergedS = await waitUntil(
      'the 2-replica service running',
      60_000,
      async () => {
        const res = await control.call('ListServices', {});
        const st = res.services.find((s) => s.spec?.name === 'small')?.serviceStatus;
        return st?.runningTasks === 2;
      },
      200,
    );
    sample();
    const { down, lost } = logFindings(c, since);
    const nodes = (await control.call('ListNodes', {})).nodes;
    for (const n of nodes) if (n.status?.state !== 2) down.push(`node ${n.meta?.id ?? '?'} is not ready in node ls`);
    return {
      createdS: phase.total ?? NaN,
      placedS: phase.placed ?? NaN,
      rejectedS: phase.rejected ?? NaN,
      removedS,
      smallConvergedS,
      leaderPeakRssBytes: leaderPeak,
      nodesMarkedDown: down,
      sessionsLost: lost,
      engineAnsweredMs: Math.max(engineDuring, engineAnswers()),
    };
  } finally {
    control.close();
  }
}
