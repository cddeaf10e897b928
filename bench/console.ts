// The web console's render benchmark: a real manager daemon (127.0.0.44:7744,
// its console on 127.0.0.44:9324), 20 HOLLOW worker nodes in a child process
// (bench/hollow-agents.ts: real certificates, sessions and agents; executors
// that start nothing), 50 services of 20 replicas (1,000 tasks), and Debian's
// chromium driven by playwright-core. Measured, median of RUNS each:
// - firstRenderMs: a full page load of the services list until all 50 rows
//   show 20/20 (the shell, the app's modules, the session, the stream's
//   snapshot, the render);
// - servicePageMs: the same for one service's page with its 20 task rows;
// - reflectChangeMs: from a scale's write (the Control API's answer) until
//   the open page shows the new desired count; reflectConvergedMs: until it
//   shows the new task running;
// - the peer, in the same run: `flotilla service ls` on the same cluster
//   (the CLI's whole answer), and the ratio of the first render to it.
// One JSON line:
//   {"bench":"console","services":50,"tasks":1000,"firstRenderMs":..,"ratioFirstRenderToCliLs":..}
//
//   npm run bench:console -- [--runs 5] [--services 50] [--replicas 20] [--nodes 20]
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { connect } from '../src/cli/connection.js';
import { findService } from '../src/cli/lookup.js';
import { serviceSpecToProto } from '../src/api/convert.js';
import { validateServiceSpec } from '../src/api/validate.js';
import { DaemonCluster } from '../src/testing/daemon-cluster.js';
import { launchChromium } from '../src/testing/browser.js';
import type { HollowAgentsJob, HollowAgentsReport } from './hollow-agents.js';

const { values } = parseArgs({ options: { runs: { type: 'string' }, services: { type: 'string' }, replicas: { type: 'string' }, nodes: { type: 'string' } } });
const RUNS = Number(values.runs ?? 5);
const SERVICES = Number(values.services ?? 50);
const REPLICAS = Number(values.replicas ?? 20);
const NODES = Number(values.nodes ?? 20);
const TASKS = SERVICES * REPLICAS;
const say = (s: string): void => void process.stderr.write(`# ${s}\n`);
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const base = mkdtempSync(join(tmpdir(), 'flotilla-bench-console-'));
const c = new DaemonCluster({ baseDir: base, firstHost: 44, port: 7744, logLevel: 'warn' });
const CONSOLE = 'http://127.0.0.44:9324/console/';
let child: ChildProcess | null = null;
const browser = await launchChromium();
try {
  say('starting a manager (drained) and its console');
  await c.init(0);
  const self = (await c.cliOk(0, ['node', 'ls', '-q'])).stdout.trim();
  await c.cliOk(0, ['node', 'update', '--availability', 'drain', self]);
  const token = (await c.cliOk(0, ['join-token', 'worker', '-q'])).stdout.trim();
  const caCertPem = readFileSync(join(c.node(0).dataDir, 'certificates', 'root-ca.crt'), 'utf8');
  const clusterId = (JSON.parse((await c.cliOk(0, ['cluster', 'info', '--format', 'json'])).stdout) as { cluster: { id: string } }).cluster.id;
  say(`joining ${NODES} hollow nodes`);
  let report: HollowAgentsReport = { joined: 0, started: 0, runningAcked: 0 };
  child = fork(fileURLToPath(new URL('./hollow-agents.js', import.meta.url)), [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  child.on('message', (r: HollowAgentsReport) => (report = r));
  child.send({ first: 0, count: NODES, token, caCertPem, clusterId, managers: [{ id: '', address: c.node(0).address }] } satisfies HollowAgentsJob);
  await waitFor(`${NODES} hollow nodes joined`, () => report.joined >= NODES, 120_000);

  const control = connect({ host: `unix://${join(c.node(0).dataDir, 'control.sock')}`, env: {}, timeoutMs: 30_000 });
  say(`creating ${SERVICES} services of ${REPLICAS} replicas`);
  for (let i = 0; i < SERVICES; i++) {
    const spec = validateServiceSpec({ name: `svc${String(i).padStart(2, '0')}`, taskTemplate: { container: { image: 'hollow/bench:1' } }, mode: { replicated: { replicas: REPLICAS } } });
    await control.call('CreateService', { spec: serviceSpecToProto(spec) });
  }
  await waitFor(`${TASKS} tasks running`, () => report.runningAcked >= TASKS, 300_000);

  // The peer: the CLI's answer to `service ls` on the same cluster.
  const cliMs: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const t0 = performance.now();
    await c.cliOk(0, ['service', 'ls']);
    cliMs.push(performance.now() - t0);
  }

  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  await page.goto((await c.cliOk(0, ['console', '-q'])).stdout.trim());
  const allRows = (n: number, want: string): Promise<unknown> =>
    page.waitForFunction(
      ([count, text]) => {
        const d = (globalThis as unknown as { document: { querySelectorAll(s: string): ArrayLike<{ textContent: string | null }> } }).document;
        const cells = Array.from(d.querySelectorAll('[data-testid^="service-row-"] [data-testid="replicas"]'));
        return cells.length === count && cells.every((x) => x.textContent?.startsWith(text));
      },
      [n, want] as const,
      { polling: 'raf', timeout: 30_000 },
    );
  const firstRender: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const t0 = performance.now();
    await page.goto(`${CONSOLE}#/services`, { waitUntil: 'commit' });
    await page.reload({ waitUntil: 'commit' });
    await allRows(SERVICES, `${REPLICAS}/${REPLICAS}`);
    firstRender.push(performance.now() - t0);
  }
  const servicePage: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const t0 = performance.now();
    await page.goto(`${CONSOLE}#/services/svc00`, { waitUntil: 'commit' });
    await page.reload({ waitUntil: 'commit' });
    await page.waitForFunction(
      (n) => (globalThis as unknown as { document: { querySelectorAll(s: string): ArrayLike<unknown> } }).document.querySelectorAll('[data-testid="current-tasks"] tbody tr').length === n,
      REPLICAS,
      { polling: 'raf', timeout: 30_000 },
    );
    servicePage.push(performance.now() - t0);
  }

  await page.goto(`${CONSOLE}#/services`);
  await allRows(SERVICES, `${REPLICAS}/${REPLICAS}`);
  const reflect: number[] = [];
  const converged: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const replicas = REPLICAS + (r % 2 === 0 ? 1 : 0);
    const svc = await findService(control, 'svc01');
    const spec = { ...svc.spec, mode: { replicated: { replicas } } };
    const cell = page.getByTestId('service-row-svc01').getByTestId('replicas');
    await control.call('UpdateService', { serviceId: svc.id, version: svc.version, spec: serviceSpecToProto(spec) });
    const t0 = performance.now();
    await cell.filter({ hasText: new RegExp(`/${replicas}\\b`) }).waitFor({ timeout: 30_000 });
    reflect.push(performance.now() - t0);
    await cell.filter({ hasText: new RegExp(`^${replicas}/${replicas}\\b`) }).waitFor({ timeout: 60_000 });
    converged.push(performance.now() - t0);
  }
  control.close();
  const out = {
    bench: 'console',
    services: SERVICES,
    tasks: TASKS,
    nodes: NODES,
    runs: RUNS,
    firstRenderMs: Math.round(median(firstRender)),
    servicePageMs: Math.round(median(servicePage)),
    reflectChangeMs: Math.round(median(reflect)),
    reflectConvergedMs: Math.round(median(converged)),
    peer: 'flotilla service ls (same cluster)',
    cliServiceLsMs: Math.round(median(cliMs)),
    ratioFirstRenderToCliLs: Number((median(firstRender) / median(cliMs)).toFixed(2)),
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
} finally {
  await browser.close().catch(() => undefined);
  child?.send('stop');
  await c.stop();
  rmSync(base, { recursive: true, force: true });
}
