// Real `flotilla` daemons on loopback addresses, built the way an operator
// builds a cluster: `flotilla init` on the first node, `flotilla join` with the
// tokens `flotilla join-token` prints on the others, `flotilla daemon` to
// restart one from its data dir. Every operator action goes through the CLI.
// Used by the process-level tests and by `npm start` (a one-host cluster).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../common/protos.js';
import type { Node, Service, Task } from '../api/objects.js';
import { connect, type Control } from '../cli/connection.js';
import { findService, listNodes, listServices, listTasks } from '../cli/lookup.js';

export interface DaemonClusterOptions {
  /** Data dirs go under it, one per node (n1, n2, ...). */
  baseDir: string;
  /** Node i listens on 127.0.0.<firstHost + i>. */
  firstHost: number;
  port: number;
  logLevel?: string;
  /** How often nodes ask a manager about themselves (FLOTILLA_NODE_STATUS_MS); short in tests. */
  nodeStatusMs?: number;
  /** Extra environment for every daemon. */
  env?: Record<string, string>;
  /** Extra node flags for every daemon (e.g. --cpu-prof). */
  nodeArgs?: string[];
}

export interface DaemonNode {
  name: string;
  host: string;
  address: string;
  dataDir: string;
  proc: ChildProcess | null;
  /** Exit code of the last incarnation (null while it runs or when killed by a signal). */
  exitCode: number | null;
  stdout: string;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

const live = new Set<DaemonCluster>();
let hooked = false;

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const c of live) c.killAllSync();
  });
}

export class DaemonCluster {
  readonly nodes: DaemonNode[] = [];
  readonly bin = join(packageRoot(), 'bin', 'flotilla.js');

  constructor(private readonly o: DaemonClusterOptions) {
    mkdirSync(o.baseDir, { recursive: true });
    live.add(this);
    hookExit();
  }

  /** Node `i` (0-based): created on first use. */
  node(i: number): DaemonNode {
    while (this.nodes.length <= i) {
      const k = this.nodes.length;
      const host = `127.0.0.${this.o.firstHost + k}`;
      this.nodes.push({ name: `n${k + 1}`, host, address: `${host}:${this.o.port}`, dataDir: join(this.o.baseDir, `n${k + 1}`), proc: null, exitCode: null, stdout: '' });
    }
    return this.nodes[i];
  }

  private env(): NodeJS.ProcessEnv {
    return {
      ...process.env,
      FLOTILLA_LOG_LEVEL: this.o.logLevel ?? 'info',
      ...(this.o.nodeStatusMs ? { FLOTILLA_NODE_STATUS_MS: String(this.o.nodeStatusMs) } : {}),
      ...this.o.env,
    };
  }

  /** Start `flotilla <args>` as node i's daemon; its log goes to <dataDir>.log. */
  private spawnDaemon(i: number, args: string[]): DaemonNode {
    const n = this.node(i);
    if (n.proc) throw new Error(`${n.name} is already running`);
    const logFd = openSync(`${n.dataDir}.log`, 'a');
    const proc = spawn(process.execPath, [...(this.o.nodeArgs ?? []), this.bin, ...args], { stdio: ['ignore', 'pipe', logFd], env: this.env() });
    closeSync(logFd);
    n.proc = proc;
    n.exitCode = null;
    n.stdout = '';
    proc.stdout?.on('data', (b: Buffer) => (n.stdout += b.toString('utf8')));
    proc.on('exit', (code) => {
      if (n.proc === proc) {
        n.proc = null;
        n.exitCode = code;
      }
    });
    return n;
  }

  private addrArgs(n: DaemonNode): string[] {
    return ['--advertise-addr', n.address, '--listen-addr', n.address, '--data-dir', n.dataDir];
  }

  /** `flotilla init` on node i; resolves once its control socket answers. */
  async init(i: number, extraArgs: readonly string[] = []): Promise<DaemonNode> {
    // Its own VIP pool: clusters of concurrent tests share the machine's loopback interface, where each node adds
    // its DNS address and virtual IPs (10.<firstHost>.0.0/16 is as unique as the loopback addresses themselves).
    const n = this.spawnDaemon(i, ['init', ...this.addrArgs(this.node(i)), '--vip-pool', `10.${this.o.firstHost % 256}.0.0/16`, ...extraArgs]);
    await this.waitFor(() => n.stdout.includes('flotilla join --token'), 30_000, `${n.name} to initialize the cluster`, n);
    await this.waitReady(i);
    return n;
  }

  /** `flotilla join` of node i with a token from `via` (join-token ROLE -q), through the manager at `via`'s address. */
  async join(i: number, role: 'worker' | 'manager', via = 0, extraArgs: readonly string[] = []): Promise<DaemonNode> {
    const token = (await this.cliOk(via, ['join-token', role, '-q'])).stdout.trim();
    const n = await this.joinWith(i, token, this.node(via).address, extraArgs);
    // `joined the cluster` is printed before the daemon opens its control socket: a manager
    // used right after (as the next join's `via`, say) must answer first.
    if (role === 'manager') await this.waitReady(i);
    return n;
  }

  async joinWith(i: number, token: string, managerAddr: string, extraArgs: readonly string[] = []): Promise<DaemonNode> {
    const n = this.spawnDaemon(i, ['join', '--token', token, ...this.addrArgs(this.node(i)), ...extraArgs, managerAddr]);
    await this.waitFor(() => n.stdout.includes('joined the cluster') || n.proc === null, 30_000, `${n.name} to join`, n);
    if (!n.proc) throw new Error(`${n.name}: join failed (exit ${n.exitCode}); see ${n.dataDir}.log${logTail(n)}`);
    return n;
  }

  /** `flotilla daemon` for node i (a restart from its data dir). */
  async restart(i: number): Promise<DaemonNode> {
    return this.spawnDaemon(i, ['daemon', '--data-dir', this.node(i).dataDir]);
  }

  /** Wait until node i's control socket answers (managers). */
  async waitReady(i: number, timeoutMs = 30_000): Promise<void> {
    const n = this.node(i);
    await this.waitFor(async () => existsSync(join(n.dataDir, 'control.sock')) && (await this.cli(i, ['cluster', 'info', '--format', 'json'])).code === 0, timeoutMs, `${n.name}'s control API`, n);
  }

  kill(i: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const n = this.node(i);
    const p = n.proc;
    if (!p) return Promise.resolve();
    return new Promise((resolve) => {
      p.once('exit', () => resolve());
      p.kill(signal);
    });
  }

  /** Run the CLI against node i's local control socket (FLOTILLA_DATA_DIR = its data dir). */
  cli(i: number, args: string[], timeoutMs = 30_000, input?: string | Buffer): Promise<CliResult> {
    const n = this.node(i);
    return runCli(this.bin, args, { ...process.env, FLOTILLA_DATA_DIR: n.dataDir, FLOTILLA_HOST: '' }, timeoutMs, input);
  }

  /**
   * One read of node i's Control API over its local socket, closed afterwards:
   * for tests that need the stored objects (the CLI prints docker's shapes).
   */
  async read<T>(i: number, f: (api: Control) => Promise<T>): Promise<T> {
    const api = connect({ dataDir: this.node(i).dataDir, env: {}, timeoutMs: 10_000 });
    try {
      return await f(api);
    } finally {
      api.close();
    }
  }

  /** The nodes as manager i stores them. */
  storedNodes(i: number): Promise<Node[]> {
    return this.read(i, listNodes);
  }

  /** The services as manager i stores them. */
  storedServices(i: number): Promise<Service[]> {
    return this.read(i, listServices);
  }

  /** The tasks of service `ref` (name or id) as manager i stores them. */
  storedTasks(i: number, ref: string): Promise<Task[]> {
    return this.read(i, async (api) => listTasks(api, { serviceIds: [(await findService(api, ref)).id] }));
  }

  /** The CLI, expecting success; throws with its stderr otherwise. */
  async cliOk(i: number, args: string[]): Promise<CliResult> {
    const r = await this.cli(i, args);
    if (r.code !== 0) throw new Error(`flotilla ${args.join(' ')} (on ${this.node(i).name}) exited ${r.code}: ${r.stderr.trim()}`);
    return r;
  }

  async waitFor(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string, n?: DaemonNode): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (await cond()) return;
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${n ? ` (log: ${n.dataDir}.log)${logTail(n)}` : ''}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((_, i) => this.kill(i, 'SIGTERM')));
    live.delete(this);
  }

  killAllSync(): void {
    for (const n of this.nodes) n.proc?.kill('SIGKILL');
  }
}

/**
 * The last lines of a daemon's log and what it printed, for a failure's message: a CI run keeps
 * only the test runner's output, so a failed wait must carry what the daemon said.
 */
function logTail(n: DaemonNode, lines = 12): string {
  let log = '';
  try {
    log = readFileSync(`${n.dataDir}.log`, 'utf8');
  } catch {
    return '';
  }
  const tail = (text: string): string => text.trimEnd().split('\n').slice(-lines).map((l) => `\n  | ${l.slice(0, 400)}`).join('');
  return `${n.proc ? '' : `\n  exited: ${n.exitCode}`}\n  stdout:${tail(n.stdout)}\n  log:${tail(log)}`;
}

/** Run the CLI; `input`, when given, is its standard input (else it has none). */
export function runCli(bin: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 30_000, input?: string | Buffer): Promise<CliResult> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [bin, ...args], { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], env });
    if (input !== undefined) p.stdin?.end(input);
    let stdout = '';
    let stderr = '';
    p.stdout?.on('data', (b: Buffer) => (stdout += b.toString('utf8')));
    p.stderr?.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}
