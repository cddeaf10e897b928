// The chaos scenarios of issue 7, each a fault and its heal; the runner
// (runner.ts) supplies the workload, the waits and the common checks. Every
// wait here is bounded and says what it waited for.
import { nodeFromProto } from '../../api/convert.js';
import { reachabilityToProto } from '../../api/enums.js';
import type { ComposeCluster, ManagerName, NodeName, WorkerName } from '../compose-cluster.js';
import { MANAGERS, NODE_NAMES, WORKERS } from '../compose-cluster.js';
import { fail, pass } from './checks.js';
import type { Scenario, ScenarioContext } from './runner.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** How long a leader may be dead or cut off before another manager must lead. */
const ELECTION_BOUND_MS = 30_000;
/** How long the service may take to run its replicas elsewhere after a worker is lost. */
const RESCHEDULE_BOUND_MS = 30_000;

/** The worker that runs the most of the service's tasks (the fault hurts most there). */
function busiestWorker(x: ScenarioContext): WorkerName {
  const counts = new Map<string, number>();
  for (const t of x.monitor.view?.running ?? []) counts.set(t.nodeId, (counts.get(t.nodeId) ?? 0) + 1);
  return [...WORKERS].sort((a, b) => (counts.get(x.c.nodeIdOf(b)) ?? 0) - (counts.get(x.c.nodeIdOf(a)) ?? 0))[0];
}

async function waitNewLeader(x: ScenarioContext, not: ManagerName, via: readonly ManagerName[]): Promise<ManagerName> {
  return (await x.c.waitLeader({ not, via, timeoutMs: ELECTION_BOUND_MS })) as ManagerName;
}

async function waitNodeState(x: ScenarioContext, name: NodeName, state: 'down' | 'ready', timeoutMs: number): Promise<void> {
  const id = x.c.nodeIdOf(name);
  await x.c.waitFor(`node ${name} ${state}`, () => x.monitor.nodes.find((n) => n.id === id)?.status.state === state, timeoutMs);
}

/** The service's tasks run every slot once (the store's view: a cut-off worker's containers may still run). */
async function waitTasksReplaced(x: ScenarioContext): Promise<void> {
  await x.c.waitFor(
    `${x.service}: ${x.replicas} tasks RUNNING, one per slot, on reachable nodes`,
    () => {
      const slots = (x.monitor.view?.running ?? []).map((t) => t.slot).sort((a, b) => a - b);
      const downIds = new Set(x.monitor.nodes.filter((n) => n.status.state !== 'ready').map((n) => n.id));
      return slots.length === x.replicas && slots.every((s, i) => s === i + 1) && (x.monitor.view?.running ?? []).every((t) => !downIds.has(t.nodeId));
    },
    RESCHEDULE_BOUND_MS,
  );
}

/**
 * What manager m says through its own unix socket (docker exec: works while
 * it is cut off the network): the leader, or '' when it cannot answer (the
 * answer needs a barrier, so a majority, within the CLI's 2 s).
 */
async function localLeader(c: ComposeCluster, m: ManagerName): Promise<{ leader: string; term: number }> {
  const r = await c.cli(m, ['--timeout', '2s', 'cluster', 'info', '--format', 'json'], 10_000);
  if (r.code !== 0) return { leader: '', term: 0 };
  const info = JSON.parse(r.stdout) as { leaderId: string; term: number };
  return { leader: info.leaderId, term: info.term };
}

/** When `m`'s daemon logged that it stopped its leader controllers, at or after `since` (its pino line's time). */
async function leadershipLostAt(c: ComposeCluster, m: ManagerName, since: number): Promise<number | undefined> {
  for (const line of (await c.logs(m, 500)).split('\n')) {
    if (!line.includes('not the leader any more')) continue;
    try {
      const time = (JSON.parse(line) as { time?: unknown }).time;
      if (typeof time === 'number' && time >= since) return time;
    } catch {
      // not a log line of the daemon
    }
  }
  return undefined;
}

/**
 * Waits (bounded) until the old leader `m` says in its log that it stopped
 * its leader controllers (dispatcher, orchestrators, scheduler) after `since`;
 * notes it and adds the check.
 */
async function checkStepsDown(x: ScenarioContext, m: ManagerName, since: number, boundMs: number, how: string): Promise<void> {
  const name = `the old leader ${m} stops acting as leader ${how}`;
  try {
    const at = await x.c.waitFor(`${m} to log that it stopped leading`, () => leadershipLostAt(x.c, m, since), boundMs, 500);
    x.c.note(`${m} stopped its leader controllers`);
    x.checks.push(pass(name, `it stopped its leader controllers ${((at - since) / 1000).toFixed(1)} s ${how}`));
  } catch {
    x.checks.push(fail(name, `${m} did not log that it stopped its leader controllers within ${boundMs / 1000} s`));
  }
}

/** Takes the leader out with `inject`, waits for another manager to be elected, and keeps it out until `holdMs` after the fault. */
async function leaderOut(x: ScenarioContext, inject: (m: ManagerName) => Promise<void>, holdMs: number, meanwhile?: () => Promise<void>): Promise<void> {
  x.picked = [x.leader];
  await inject(x.leader);
  await waitNewLeader(x, x.leader, MANAGERS.filter((m) => m !== x.leader));
  await meanwhile?.();
  await sleep(Math.max(0, x.faultAt + holdMs - Date.now()));
}

export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'leader-killed',
    title: '1. the leader container is killed',
    fast: true,
    async fault(x) {
      // The cluster works on with two managers for 10 s.
      await leaderOut(x, (m) => x.c.kill(m), 10_000);
    },
    async heal(x) {
      await x.c.start(x.leader);
    },
  },
  {
    name: 'leader-paused',
    title: '2. the leader is paused 30 s, then resumed',
    fast: false,
    async fault(x) {
      await leaderOut(x, (m) => x.c.pause(m), 30_000);
    },
    async heal(x) {
      await x.c.unpause(x.leader);
      // It wakes believing it leads in its old term, with every worker's heartbeat overdue: the new leader's higher term must depose it at once.
      await checkStepsDown(x, x.leader, x.healAt, 15_000, 'after it wakes');
    },
    async afterHeal(x) {
      // Its dispatcher woke with every heartbeat deadline past: had it acted as leader, workers would have been marked down.
      const downs = x.c.events.filter((e) => e.at >= x.healAt && / marked down$/.test(e.what)).map((e) => e.what);
      x.checks.push(
        downs.length
          ? fail('no node is marked down after the old leader wakes', downs.join('; '))
          : pass('no node is marked down after the old leader wakes', 'every node stayed ready'),
      );
      const after = await x.c.ask(x.leader, (api) => api.call('ClusterInfo', {}));
      x.checks.push(
        after && after.term > x.term && after.leaderId !== x.c.nodeIdOf(x.leader)
          ? pass('the woken leader follows the new leader', `through ${x.leader}: leader ${x.c.nameOf(after.leaderId) ?? after.leaderId}, term ${after.term} (it led term ${x.term})`)
          : fail('the woken leader follows the new leader', after ? `through ${x.leader}: leader ${x.c.nameOf(after.leaderId) ?? after.leaderId}, term ${after.term} (it led term ${x.term})` : `${x.leader} does not answer`),
      );
    },
  },
  {
    name: 'worker-killed',
    title: '3. a worker host is lost (its daemon and its task containers)',
    fast: true,
    async fault(x) {
      const w = busiestWorker(x);
      x.picked = [w];
      await x.c.loseHost(w);
      await waitNodeState(x, w, 'down', 20_000);
      await waitTasksReplaced(x);
    },
    async heal(x) {
      await x.c.start(x.picked[0]);
      await waitNodeState(x, x.picked[0], 'ready', 60_000);
    },
  },
  {
    name: 'worker-partitioned',
    title: '4. a worker is cut from the network, then reconnected',
    fast: true,
    duplicatesUntilHeal: true,
    async fault(x) {
      const w = busiestWorker(x) as WorkerName;
      x.picked = [w];
      const before = await x.c.taskContainers({ node: w, service: x.service });
      await x.c.disconnect(w);
      await waitNodeState(x, w, 'down', 20_000);
      await waitTasksReplaced(x);
      // A partitioned host's containers keep running: nobody can reach it to stop them.
      const still = new Set((await x.c.taskContainers({ node: w, service: x.service })).map((c) => c.Id));
      const gone = before.filter((c) => !still.has(c.Id));
      x.checks.push(
        gone.length
          ? fail(`the partitioned worker's containers keep running`, `${gone.length} of ${before.length} stopped while ${w} was cut off`)
          : pass(`the partitioned worker's containers keep running`, `${before.length} containers on ${w} ran through the partition`),
      );
    },
    async heal(x) {
      const w = x.picked[0] as WorkerName;
      await x.c.connect(w);
      const t0 = Date.now();
      const name = `the reconnected worker's stale tasks are shut down`;
      try {
        await x.c.waitFor(`${w}'s stale containers stopped`, async () => (await x.c.taskContainers({ node: w, service: x.service })).length === 0, 60_000);
        x.c.note(`stale tasks on ${w} shut down`);
        x.checks.push(pass(name, `${w} stopped them ${((Date.now() - t0) / 1000).toFixed(1)} s after it was reconnected`));
      } catch (err) {
        x.checks.push(fail(name, (err as Error).message));
      }
    },
  },
  {
    name: 'partition-minority',
    title: '5a. a minority partition: the leader alone is cut off',
    fast: true,
    async fault(x) {
      await leaderOut(x, (m) => x.c.disconnect(m), 20_000, () => checkStepsDown(x, x.leader, x.faultAt, 20_000, 'once it is cut off from the majority'));
    },
    async heal(x) {
      await x.c.connect(x.leader);
    },
  },
  {
    name: 'partition-majority',
    title: '5b. a majority partition: the leader and a follower are cut off, no side has a quorum',
    fast: false,
    async fault(x) {
      const follower = MANAGERS.find((m) => m !== x.leader) as ManagerName;
      const alone = MANAGERS.find((m) => m !== x.leader && m !== follower) as ManagerName;
      x.picked = [x.leader, follower];
      await x.c.disconnect(x.leader);
      await x.c.disconnect(follower);
      await checkStepsDown(x, x.leader, x.faultAt, 20_000, 'once no majority is reachable');
      // 20 s without a majority anywhere: nobody leads, nothing is acknowledged.
      await sleep(Math.max(0, x.faultAt + 20_000 - Date.now()));
      // Through each manager's own socket (the network is cut): a leader needs a majority to answer at all.
      const views = await Promise.all(MANAGERS.map(async (m) => ({ m, ...(await localLeader(x.c, m)) })));
      const leading = views.filter((v) => v.leader);
      x.checks.push(
        leading.length
          ? fail('no manager leads without a majority', leading.map((v) => `${v.m} follows ${x.c.nameOf(v.leader) ?? v.leader} (term ${v.term})`).join('; '))
          : pass('no manager leads without a majority', `${MANAGERS.join(', ')} know no leader 20 s into the partition (${alone} alone on the network)`),
      );
      const quiet = x.faultAt + 10_000;
      const acked = x.workload.ackedWriteTimes.filter((t) => t > quiet);
      x.checks.push(
        acked.length
          ? fail('no write is acknowledged without a majority', `${acked.length} writes acknowledged from 10 s into the partition on`)
          : pass('no write is acknowledged without a majority', 'none from 10 s into the partition to the heal'),
      );
    },
    async heal(x) {
      for (const m of x.picked) await x.c.connect(m);
    },
  },
  {
    name: 'managers-rolling-restart',
    title: '6. every manager restarted, one at a time',
    fast: false,
    async fault(x) {
      x.picked = [...MANAGERS];
      for (const m of MANAGERS) {
        await x.c.restart(m, 5);
        await x.c.waitFor(
          `${m} back as one of 3 reachable managers with a leader`,
          async () => {
            const info = await x.c.ask(m, (api) => api.call('ClusterInfo', {}));
            return !!info?.leaderId && info.managers.filter((k) => k.reachability === reachabilityToProto('reachable')).length === 3;
          },
          60_000,
          500,
        );
        x.c.note(`${m} is back`);
      }
    },
    async heal() {
      // Nothing left to undo: each manager came back before the next went.
    },
  },
  {
    name: 'all-restarted',
    title: '7. every container restarted at once (kill -9 of all six, then start)',
    fast: false,
    async fault(x) {
      x.picked = [...NODE_NAMES];
      await Promise.all(NODE_NAMES.map((n) => x.c.kill(n)));
      await sleep(2_000);
    },
    async heal(x) {
      await Promise.all(NODE_NAMES.map((n) => x.c.start(n)));
      await x.c.waitLeader({ timeoutMs: 60_000 });
      // Every node is known again (the monitor polls through a manager that answers).
      await x.c.waitFor('6 ready nodes', async () => {
        const nodes = await x.c.ask(MANAGERS[0], async (api) => (await api.call('ListNodes', {})).nodes.map(nodeFromProto));
        return nodes?.filter((n) => n.status.state === 'ready').length === NODE_NAMES.length;
      }, 60_000, 500);
    },
  },
];

export function scenarioNamed(name: string): Scenario | undefined {
  return SCENARIOS.find((s) => s.name === name);
}
