// A child process of bench/scheduling.ts hosting a share of the HOLLOW agents
// (real certificates, sessions and agents; executors that start nothing), so
// that the benchmark's own process is not what limits the measurement. It
// joins its nodes, then reports its counters to the parent every 200 ms and
// stops when told to. Input: one JSON message from the parent.
import { pino } from 'pino';
import { loadCaProto } from '../src/api/proto.js';
import { createCSR, generateNodeKey } from '../src/manager/ca/ca.js';
import { anonymousChannelCredentials, channelCredentials, NODE_CHANNEL_OPTIONS, NodeCertificateProvider } from '../src/manager/ca/tls.js';
import { unary } from '../src/manager/peer-clients.js';
import { TaskState } from '../src/api/objects.js';
import { Agent } from '../src/worker/agent.js';
import { ManagerSession } from '../src/worker/session.js';
import { HollowExecutor, type HollowCounters } from './hollow-executor.js';

export interface HollowAgentsJob {
  first: number;
  count: number;
  token: string;
  caCertPem: string;
  clusterId: string;
  managers: { id: string; address: string }[];
}

export interface HollowAgentsReport {
  joined: number;
  started: number;
  runningAcked: number;
}

async function pool<T>(items: T[], width: number, fn: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

async function run(job: HollowAgentsJob): Promise<void> {
  // HOLLOW_LOG=FILE: the agents' warnings and errors (sessions lost, reports failed) go there.
  const silent = process.env.HOLLOW_LOG ? pino({ level: 'warn' }, pino.destination({ dest: `${process.env.HOLLOW_LOG}.${job.first}`, sync: true })) : pino({ level: 'silent' });
  const counters: HollowCounters = { prepared: 0, started: 0 };
  let runningAcked = 0;
  let joined = 0;
  const sessions: ManagerSession[] = [];
  const agents: Agent[] = [];
  const report = (): void => {
    process.send?.({ joined, started: counters.started, runningAcked } satisfies HollowAgentsReport);
  };
  const timer = setInterval(report, 200);
  process.on('message', (m: unknown) => {
    if (m !== 'stop') return;
    clearInterval(timer);
    for (const s of sessions) s.stop();
    void Promise.all(agents.map((a) => a.stop().catch(() => undefined))).then(() => process.exit(0));
  });
  const caClients = job.managers.map((m) => new (loadCaProto().Client)(m.address, anonymousChannelCredentials(job.caCertPem), NODE_CHANNEL_OPTIONS));
  await pool(
    Array.from({ length: job.count }, (_, k) => job.first + k),
    8,
    async (i) => {
      const keyPem = generateNodeKey();
      const res = await unary<object, { nodeId: string; certPem: string; rootCaPem: string }>(
        caClients[i % caClients.length],
        'IssueNodeCertificate',
        { csrPem: await createCSR(keyPem), token: job.token, advertiseAddr: '', hostname: `hollow-${i}` },
        { deadlineMs: 60_000 },
      );
      const tls = new NodeCertificateProvider({ caCertPem: res.rootCaPem, certPem: res.certPem, keyPem });
      const session: ManagerSession = new ManagerSession({
        credentials: channelCredentials(tls),
        channelOptions: NODE_CHANNEL_OPTIONS,
        managers: job.managers,
        assign: (tasks, files) => agent.assign(tasks, files),
        assignChanges: (changed, removed, files) => agent.assignChanges(changed, removed, files),
        describe: () => agent.describe(),
        logger: silent,
      });
      const agent: Agent = new Agent({
        executor: new HollowExecutor(`hollow-${i}`, counters),
        nodeId: res.nodeId,
        clusterId: job.clusterId,
        logger: silent,
        batchMs: 100,
        maxBatch: 500,
        reporter: async (updates) => {
          await session.report(updates);
          for (const u of updates) if (u.status.state === TaskState.RUNNING) runningAcked++;
        },
      });
      await agent.start();
      session.start();
      sessions.push(session);
      agents.push(agent);
      joined++;
    },
  );
  for (const c of caClients) c.close();
  report();
}

process.once('message', (job: HollowAgentsJob) => {
  run(job).catch((err: unknown) => {
    process.stderr.write(`hollow agents: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
});
