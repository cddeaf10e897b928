// A real Prometheus (Debian's `prometheus` package) for tests: started on a
// loopback address with a generated config that scrapes only the given
// targets, its data in a directory of the test's, and no other network use
// (no remote write, no alerting, no service discovery). And `promtool check
// metrics` on an exposition.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const PROMETHEUS_BIN = process.env.PROMETHEUS_BIN ?? '/usr/bin/prometheus';
export const PROMTOOL_BIN = process.env.PROMTOOL_BIN ?? '/usr/bin/promtool';

/** Why Prometheus cannot run here (undefined when it can). */
export function prometheusMissing(): string | undefined {
  const missing = [PROMETHEUS_BIN, PROMTOOL_BIN].filter((p) => !existsSync(p));
  return missing.length ? `${missing.join(' and ')} not found; install Debian's prometheus package (scripts/setup-machine.sh does)` : undefined;
}

/** `promtool check metrics` on `exposition` (read from stdin): its exit code and what it printed. */
export function promtoolCheckMetrics(exposition: string, timeoutMs = 30_000): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const p = spawn(PROMTOOL_BIN, ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    p.stdout.on('data', (b: Buffer) => (output += b.toString('utf8')));
    p.stderr.on('data', (b: Buffer) => (output += b.toString('utf8')));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, output });
    });
    p.stdin.end(exposition);
  });
}

export interface PrometheusOptions {
  /** Its config, data and log go here. */
  dir: string;
  /** HOST:PORT of its web API (a loopback address). */
  listen: string;
  /** HOST:PORT of each /metrics to scrape (job "flotilla"). */
  targets: readonly string[];
  scrapeIntervalSeconds?: number;
}

/** One value of an instant query's answer: its labels and value. */
export interface Sample {
  metric: Record<string, string>;
  value: number;
}

export class PrometheusServer {
  private constructor(
    private proc: ChildProcess | null,
    readonly url: string,
    readonly logPath: string,
  ) {}

  static start(o: PrometheusOptions): PrometheusServer {
    mkdirSync(o.dir, { recursive: true });
    const interval = `${o.scrapeIntervalSeconds ?? 1}s`;
    const config = join(o.dir, 'prometheus.yml');
    writeFileSync(
      config,
      [
        'global:',
        `  scrape_interval: ${interval}`,
        `  scrape_timeout: ${interval}`,
        `  evaluation_interval: ${interval}`,
        'scrape_configs:',
        '  - job_name: flotilla',
        '    static_configs:',
        `      - targets: [${o.targets.map((t) => JSON.stringify(t)).join(', ')}]`,
        '',
      ].join('\n'),
    );
    const logPath = join(o.dir, 'prometheus.log');
    const log = openSync(logPath, 'a');
    const proc = spawn(PROMETHEUS_BIN, [`--config.file=${config}`, `--storage.tsdb.path=${join(o.dir, 'data')}`, `--web.listen-address=${o.listen}`], {
      stdio: ['ignore', log, log],
    });
    closeSync(log);
    return new PrometheusServer(proc, `http://${o.listen}`, logPath);
  }

  get running(): boolean {
    return this.proc !== null && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** An instant query through the HTTP API; throws on an error answer (or none). */
  async query(expr: string): Promise<Sample[]> {
    const res = await fetch(`${this.url}/api/v1/query?query=${encodeURIComponent(expr)}`, { signal: AbortSignal.timeout(5_000) });
    const body = (await res.json()) as { status: string; error?: string; data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] } };
    if (body.status !== 'success' || !body.data) throw new Error(`query ${expr}: ${body.error ?? res.status}`);
    if (body.data.resultType !== 'vector') throw new Error(`query ${expr}: a ${body.data.resultType}, not a vector`);
    return body.data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it exited. */
  async stop(graceMs = 10_000): Promise<void> {
    const p = this.proc;
    this.proc = null;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
    p.kill('SIGTERM');
    const timer = setTimeout(() => p.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
}
