// Runs one chaos scenario on a compose cluster that is up and healthy:
//
//   1. a replicated service (6 replicas on the workers) and 3 registers;
//      the monitor and the register clients start; 3 s of calm;
//   2. the scenario's fault (it waits out what the fault should cause);
//   3. the scenario's heal; then a bounded wait for a healthy cluster: every
//      manager answers and agrees on the leader, 3 reachable managers, 6
//      ready nodes, the service converged;
//   4. 3 s more of writes, then the clients stop and every register is read
//      through every manager;
//   5. the checks (checks.ts), the scenario's own checks, and the report:
//      pass or fail, the timeline (seconds from the fault) and the recovery
//      times;
//   6. the services are removed, so the next scenario starts clean.
import { nodeFromProto, serviceSpecToProto } from '../../api/convert.js';
import { reachabilityToProto } from '../../api/enums.js';
import { validateServiceSpec } from '../../api/validate.js';
import type { ComposeCluster, ManagerName, NodeName } from '../compose-cluster.js';
import { MANAGERS, NODE_NAMES } from '../compose-cluster.js';
import type { HistoryEvent } from '../history.js';
import { Prng } from '../prng.js';
import { duplicateEpisodes, duplicatesBounded, fail, linearizable, lostWrites, oneLeaderPerTerm, pass, type CheckResult } from './checks.js';
import { ClusterMonitor } from './monitor.js';
import { RegisterWorkload, type WorkloadStats } from './workload.js';

/** The image of the workload's tasks (scripts/setup-machine.sh builds it offline). */
export const CHAOS_IMAGE = process.env.FLOTILLA_TEST_IMAGE ?? 'flotilla/busybox:test';
export const REPLICAS = 6;
const REGISTERS = 3;
/** A slot may run twice for this long (from the start of the episode, or from the heal when the fault cut a node's containers off). */
export const DUPLICATE_BOUND_MS = 15_000;
/** How long the cluster has to be healthy again after the heal. */
export const HEAL_BOUND_MS = 120_000;

export interface ScenarioContext {
  readonly c: ComposeCluster;
  readonly monitor: ClusterMonitor;
  readonly service: string;
  readonly replicas: number;
  /** The leader when the scenario began. */
  readonly leader: ManagerName;
  /** The term then. */
  readonly term: number;
  /** Scenario-specific checks go here. */
  readonly checks: CheckResult[];
  /** Wall clock (ms) of the fault, once injected (the scenario sets it when the fault is more than one step). */
  faultAt: number;
  /** Wall clock (ms) of the start of the heal. */
  healAt: number;
  /** What the fault picked, for the heal (a worker, the managers cut off, ...). */
  picked: NodeName[];
  /** The register clients' stats so far. */
  readonly workload: WorkloadStats;
}

export interface Scenario {
  /** The id for --only and the report. */
  name: string;
  /** What the issue calls it. */
  title: string;
  /** Fast enough to run in `npm test`. */
  fast: boolean;
  /** The fault cuts a node off with its task containers running: a slot may run twice until the heal (plus the bound). */
  duplicatesUntilHeal?: boolean;
  fault(x: ScenarioContext): Promise<void>;
  heal(x: ScenarioContext): Promise<void>;
  /** Checks once the cluster is healthy again (before the final reads). */
  afterHeal?(x: ScenarioContext): Promise<void>;
}

export interface TimelineEntry {
  /** Seconds from the fault (negative: before it). */
  t: number;
  what: string;
}

export interface ScenarioReport {
  name: string;
  title: string;
  ok: boolean;
  /** Names of the failed checks (and "error" when the scenario could not run to its end). */
  failed: string[];
  error?: string;
  checks: CheckResult[];
  timeline: TimelineEntry[];
  /** Seconds; null when it did not happen. */
  recovery: {
    leaderElectedS: number | null;
    nodeMarkedDownS: number | null;
    firstReplacementRunningS: number | null;
    serviceConvergedS: number | null;
    longestWriteGapS: number | null;
    healthyAfterHealS: number | null;
  };
  workload: WorkloadStats & { operations: number };
  durationS: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves with a description of what is not healthy, or '' when all is well. */
export async function unhealthy(c: ComposeCluster, monitor: ClusterMonitor | null): Promise<string> {
  const infos = await Promise.all(MANAGERS.map((m) => c.ask(m, (api) => api.call('ClusterInfo', {}))));
  const silent = MANAGERS.filter((_, i) => !infos[i]);
  if (silent.length) return `${silent.join(', ')} do not answer`;
  const leaders = new Set(infos.map((i) => i?.leaderId));
  if (leaders.size !== 1 || leaders.has('')) return `the managers name leaders ${[...leaders].map((l) => c.nameOf(l ?? '') ?? (l || 'none')).join(', ')}`;
  const reachable = infos[0]?.managers.filter((m) => m.reachability === reachabilityToProto('reachable')).length ?? 0;
  if (reachable !== 3) return `${reachable} reachable managers`;
  const nodes = await c.ask(MANAGERS[0], async (api) => (await api.call('ListNodes', {})).nodes.map(nodeFromProto));
  const ready = nodes?.filter((n) => n.status.state === 'ready').length ?? 0;
  if (ready !== NODE_NAMES.length) return `${ready} of ${NODE_NAMES.length} nodes ready`;
  if (monitor && !monitor.isConverged) return `the service is not converged (${monitor.view?.running.length ?? 0} running tasks)`;
  return '';
}

async function createService(c: ComposeCluster, name: string, replicas: number, args: string[]): Promise<void> {
  const spec = validateServiceSpec({
    name,
    taskTemplate: { container: { image: CHAOS_IMAGE, args, stopGracePeriodMs: 1_000 } },
    mode: { replicated: { replicas } },
  });
  let lastErr: unknown;
  for (const m of MANAGERS) {
    const api = c.api(m, 10_000);
    try {
      await api.call('CreateService', { spec: serviceSpecToProto(spec) });
      return;
    } catch (err) {
      lastErr = err;
    } finally {
      api.close();
    }
  }
  throw lastErr;
}

async function removeService(c: ComposeCluster, name: string): Promise<void> {
  for (const m of MANAGERS) {
    const api = c.api(m, 10_000);
    try {
      const got = await api.call('GetService', { serviceIdOrName: name });
      if (got.service?.meta) await api.call('RemoveService', { serviceId: got.service.meta.id });
      return;
    } catch {
      // the next manager
    } finally {
      api.close();
    }
  }
}

function firstAfter(timeline: readonly TimelineEntry[], re: RegExp, from = 0): number | null {
  return timeline.find((e) => e.t >= from && re.test(e.what))?.t ?? null;
}

function longestGap(times: readonly number[], from: number, to: number): number | null {
  const ts = times.filter((t) => t >= from && t <= to);
  if (!ts.length) return null;
  let gap = ts[0] - from;
  for (let i = 1; i < ts.length; i++) gap = Math.max(gap, ts[i] - ts[i - 1]);
  return gap / 1000;
}

const round = (s: number | null): number | null => (s === null ? null : Math.round(s * 100) / 100);

export async function runScenario(c: ComposeCluster, s: Scenario, seed = 1): Promise<ScenarioReport> {
  const startedAt = Date.now();
  const service = `web-${s.name}`;
  const registers = Array.from({ length: REGISTERS }, (_, k) => `reg-${s.name}-${k}`);
  const checks: CheckResult[] = [];
  const monitor = new ClusterMonitor(c, { service, replicas: REPLICAS });
  const workload = new RegisterWorkload<ManagerName>({ registers, targets: MANAGERS, api: (m) => c.api(m, 3_000), rng: new Prng(seed) });
  let x: ScenarioContext | undefined;
  let error: string | undefined;
  let healthyAt = 0;
  const finalReads = new Map<ManagerName, Map<string, string | null>>();
  c.note(`scenario ${s.name}: ${s.title}`);
  try {
    const before = await unhealthy(c, null);
    if (before) throw new Error(`the cluster is not healthy before the scenario: ${before}`);
    const info = (await c.ask(MANAGERS[0], (api) => api.call('ClusterInfo', {})))!;
    await createService(c, service, REPLICAS, ['sleep', '3600']);
    for (const r of registers) await createService(c, r, 0, ['true']);
    monitor.start();
    await c.waitFor(`${service} converged before the fault`, () => monitor.isConverged, 60_000);
    monitor.takeBaseline();
    workload.start();
    c.note(`workload: 4 clients on ${REGISTERS} registers`);
    await sleep(3_000);
    x = {
      c,
      monitor,
      service,
      replicas: REPLICAS,
      leader: c.nameOf(info.leaderId) as ManagerName,
      term: info.term,
      checks,
      faultAt: Date.now(),
      healAt: 0,
      picked: [],
      workload: workload.stats,
    };
    await s.fault(x);
    x.healAt = Date.now();
    await s.heal(x);
    let last = '';
    await c.waitFor(() => `a healthy cluster after the heal (last: ${last})`, async () => (last = await unhealthy(c, monitor)) === '', HEAL_BOUND_MS, 500);
    healthyAt = Date.now();
    c.note('healthy: every manager answers, one leader, 6 ready nodes, the service converged');
    if (s.afterHeal) await s.afterHeal(x);
    await sleep(3_000);
  } catch (err) {
    error = (err as Error).message;
    c.note(`error: ${error}`);
  }
  await workload.stop();
  // The final reads, through every manager: the control API answers through each, and nothing acknowledged is lost.
  const answers: string[] = [];
  const silent: string[] = [];
  for (const [i, m] of MANAGERS.entries()) {
    try {
      finalReads.set(m, await workload.finalReads(m, 100 + i, 30_000));
      answers.push(m);
    } catch (err) {
      silent.push(`${m} (${(err as Error).message})`);
    }
  }
  await monitor.stop();
  const events: HistoryEvent[] = workload.events;
  checks.unshift(
    healthyAt ? pass('the service is back to its replicas', `${REPLICAS} of ${REPLICAS} running, each slot once, ${round((healthyAt - (x?.healAt ?? startedAt)) / 1000)} s after the heal`) : fail('the service is back to its replicas', error ?? 'not healthy'),
    duplicatesBounded(duplicateEpisodes(monitor.slotSamples), DUPLICATE_BOUND_MS, s.duplicatesUntilHeal && x?.healAt ? x.healAt : -Infinity),
    silent.length ? fail('the control API answers through every manager', `no answer from ${silent.join('; ')}`) : pass('the control API answers through every manager', `final reads through ${answers.join(', ')}`),
  );
  // A node the fault did not touch must stay ready: marking it down would move its tasks for nothing.
  const downs = c.events.filter((e) => e.at >= (x?.faultAt ?? startedAt) && / marked down$/.test(e.what)).map((e) => e.what.split(' ')[1]);
  const spurious = [...new Set(downs)].filter((n) => !(x?.picked ?? []).includes(n as NodeName));
  checks.push(
    spurious.length
      ? fail('only the nodes the fault took out are marked down', `${spurious.join(', ')} marked down, though the fault took out ${x?.picked.join(', ') || 'no node'}`)
      : pass('only the nodes the fault took out are marked down', downs.length ? `marked down: ${[...new Set(downs)].join(', ')}` : 'no node marked down'),
  );
  const distinct = new Set([...finalReads.values()].map((v) => JSON.stringify([...v])));
  if (distinct.size > 1) checks.push(fail('every manager returns the same values', [...finalReads].map(([m, v]) => `${m}: ${JSON.stringify([...v])}`).join('; ')));
  const lost = finalReads.size ? [...finalReads.values()].flatMap((v) => lostWrites(events, v)) : ['no final read succeeded'];
  checks.push(lost.length ? fail('no acknowledged write is lost', [...new Set(lost)].join('; ')) : pass('no acknowledged write is lost', `${workload.stats.writes.ok} acknowledged writes; every register holds its last one`));
  checks.push(linearizable(events));
  checks.push(oneLeaderPerTerm(monitor.leaders));
  if (error) checks.push(fail('error', error));

  const faultAt = x?.faultAt ?? startedAt;
  const timeline = c.events.filter((e) => e.at >= startedAt).map((e) => ({ t: round((e.at - faultAt) / 1000) ?? 0, what: e.what }));
  const afterFault = (re: RegExp): number | null => firstAfter(timeline, re, 0);
  const lastDiverged = [...timeline].reverse().find((e) => e.t >= 0 && /^not converged/.test(e.what));
  const report: ScenarioReport = {
    name: s.name,
    title: s.title,
    ok: checks.every((k) => k.ok),
    failed: checks.filter((k) => !k.ok).map((k) => k.name),
    ...(error ? { error } : {}),
    checks,
    timeline,
    recovery: {
      leaderElectedS: afterFault(/^leader elected/),
      nodeMarkedDownS: afterFault(/marked down$/),
      firstReplacementRunningS: afterFault(/^replacement RUNNING/),
      serviceConvergedS: lastDiverged ? firstAfter(timeline, /^converged/, lastDiverged.t) : 0,
      longestWriteGapS: round(longestGap(workload.stats.ackedWriteTimes, faultAt, healthyAt || Date.now())),
      healthyAfterHealS: healthyAt && x ? round((healthyAt - x.healAt) / 1000) : null,
    },
    workload: { ...workload.stats, operations: events.filter((e) => e.type === 'invoke').length },
    durationS: round((Date.now() - startedAt) / 1000) ?? 0,
  };
  c.note(`scenario ${s.name}: ${report.ok ? 'PASS' : `FAIL (${report.failed.join('; ')})`}`);
  for (const name of [service, ...registers]) await removeService(c, name);
  await c.waitFor(`the containers of ${service} removed`, async () => (await c.taskContainers({ service, all: true })).length === 0, 60_000).catch((err: Error) => c.note(`cleanup: ${err.message}`));
  return report;
}
