// The process-level fault harness: N real Raft processes (the raftkv fixture
// server) on distinct loopback addresses, and the faults to inject into them:
// kill -9, SIGSTOP/SIGCONT, restart, and network partitions made of iptables
// DROP rules (real packet loss). Every fault is undone by stop(), and by the
// process exit hooks if the caller dies first.
//
// Partitions: an outgoing loopback connection gets the source address
// 127.0.0.1 whatever the node listens on (and gRPC cannot bind a source), so
// rules cannot match on source addresses. Instead each node runs under its
// own group id and a rule drops what that group's processes send to the other
// side's address (`-m owner --gid-owner G -d ADDR -j DROP`): every connection
// between the two sides then loses one direction, as in a real partition.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { NodeId } from '../raft/types.js';
import { packageRoot } from '../common/protos.js';
import { KvTestClient, type StatusResponse } from './raftkv/proto.js';

export interface ProcessClusterOptions {
  size: number;
  /** Data dirs go under it, one per node. */
  baseDir: string;
  /** The first node listens on 127.0.0.<firstHost>, the next on the next address. */
  firstHost?: number;
  port?: number;
  tickMs?: number;
  snapshotEvery?: number;
  logLevel?: string;
  /** Group ids for the partition rules start here. */
  firstGid?: number;
  /** Seal the nodes' Raft storage as managers do (raftkv --encrypt). */
  encrypt?: boolean;
}

export interface ProcessNode {
  id: NodeId;
  host: string;
  address: string;
  dataDir: string;
  gid: number;
  proc: ChildProcess | null;
  paused: boolean;
  /** stderr of the current incarnation, for a failing test's report. */
  stderr: string;
}

interface Rule {
  gid: number;
  dest: string;
}

const liveClusters = new Set<ProcessCluster>();
let hooksInstalled = false;

/** Undo every fault of every cluster if the process exits without stop(). */
function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  const cleanup = (): void => {
    for (const c of liveClusters) c.cleanupSync();
  };
  process.on('exit', cleanup);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      cleanup();
      process.exit(130);
    });
  }
}

export class ProcessCluster {
  readonly nodes = new Map<NodeId, ProcessNode>();
  private rules: Rule[] = [];
  private readonly opts: Required<ProcessClusterOptions>;
  private readonly serverPath: string;

  constructor(opts: ProcessClusterOptions) {
    this.opts = { firstHost: 2, port: 7400, tickMs: 100, snapshotEvery: 10_000, logLevel: 'warn', firstGid: 43_000, encrypt: false, ...opts };
    this.serverPath = join(packageRoot(), 'dist', 'src', 'testing', 'raftkv', 'server.js');
    for (let i = 0; i < this.opts.size; i++) {
      const id = `n${i + 1}`;
      const host = `127.0.0.${this.opts.firstHost + i}`;
      const dataDir = join(this.opts.baseDir, id);
      mkdirSync(dataDir, { recursive: true });
      this.nodes.set(id, { id, host, address: `${host}:${this.opts.port}`, dataDir, gid: this.opts.firstGid + i, proc: null, paused: false, stderr: '' });
    }
    installExitHooks();
    liveClusters.add(this);
  }

  /** Start every node and wait until each serves. */
  async start(): Promise<void> {
    await Promise.all([...this.nodes.keys()].map((id) => this.startNode(id)));
  }

  private bootstrapArg(): string {
    return [...this.nodes.values()].map((n) => `${n.id}=${n.address}`).join(',');
  }

  /** Start (or restart) one node from its data dir. */
  async startNode(id: NodeId, timeoutMs = 15_000): Promise<void> {
    const n = this.node(id);
    if (n.proc) throw new Error(`${id} is already running`);
    const args = [
      this.serverPath,
      '--id', id,
      '--listen', n.address,
      '--data-dir', n.dataDir,
      '--bootstrap', this.bootstrapArg(),
      '--tick-ms', String(this.opts.tickMs),
      '--snapshot-every', String(this.opts.snapshotEvery),
      ...(this.opts.encrypt ? ['--encrypt'] : []),
    ];
    const proc = spawn(process.execPath, args, { gid: n.gid, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LOG_LEVEL: this.opts.logLevel } });
    n.proc = proc;
    n.paused = false;
    n.stderr = '';
    proc.stderr!.on('data', (d: Buffer) => {
      n.stderr = (n.stderr + d.toString()).slice(-20_000);
    });
    proc.on('exit', () => {
      if (n.proc === proc) n.proc = null;
    });
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`${id} did not start within ${timeoutMs} ms: ${n.stderr.slice(-2000)}`)), timeoutMs);
      proc.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes(`ready ${id}`)) {
          clearTimeout(timer);
          resolve();
        }
      });
      proc.once('exit', (code, sig) => {
        clearTimeout(timer);
        reject(new Error(`${id} exited during start-up (code ${code}, signal ${sig}): ${n.stderr.slice(-2000)}`));
      });
    });
  }

  /** kill -9: the process dies at once, losing what it had not synced. */
  async kill(id: NodeId): Promise<void> {
    const n = this.node(id);
    const p = n.proc;
    if (!p) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill('SIGKILL');
    await exited;
    n.proc = null;
    n.paused = false;
  }

  async restart(id: NodeId): Promise<void> {
    await this.kill(id);
    await this.startNode(id);
  }

  /** SIGSTOP: the process freezes (timers, sockets) until resume(). */
  pause(id: NodeId): void {
    const n = this.node(id);
    if (!n.proc || n.paused) return;
    n.proc.kill('SIGSTOP');
    n.paused = true;
  }

  resume(id: NodeId): void {
    const n = this.node(id);
    if (!n.proc || !n.paused) return;
    n.proc.kill('SIGCONT');
    n.paused = false;
  }

  /** Cut every link between `side` and `others` (both directions). */
  partition(side: NodeId[], others: NodeId[]): void {
    for (const a of side) {
      for (const b of others) {
        this.drop(this.node(a).gid, this.node(b).host);
        this.drop(this.node(b).gid, this.node(a).host);
      }
    }
  }

  /** Isolate one node from all the others. */
  isolate(id: NodeId): void {
    this.partition([id], [...this.nodes.keys()].filter((x) => x !== id));
  }

  private drop(gid: number, dest: string): void {
    if (this.rules.some((r) => r.gid === gid && r.dest === dest)) return;
    iptables('-A', gid, dest);
    this.rules.push({ gid, dest });
  }

  /** Remove every partition rule this cluster added. */
  heal(): void {
    const rules = this.rules;
    this.rules = [];
    for (const r of rules) {
      try {
        iptables('-D', r.gid, r.dest);
      } catch {
        // Already gone (e.g. removed by hand): nothing to undo.
      }
    }
  }

  async status(id: NodeId, timeoutMs = 1000): Promise<StatusResponse | null> {
    const c = new KvTestClient(this.node(id).address);
    try {
      return await c.status(timeoutMs);
    } catch {
      return null;
    } finally {
      c.close();
    }
  }

  /** Wait for a leader that a majority of running nodes agree on; returns its id. */
  async waitForLeader(timeoutMs = 10_000, exclude: NodeId[] = []): Promise<NodeId> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      const ids = [...this.nodes.values()].filter((n) => n.proc && !n.paused && !exclude.includes(n.id)).map((n) => n.id);
      const sts = (await Promise.all(ids.map((id) => this.status(id, 500)))).filter((s): s is StatusResponse => s !== null);
      const leaders = sts.filter((s) => s.role === 'leader').sort((a, b) => b.term - a.term);
      if (leaders.length > 0) {
        const l = leaders[0];
        const agree = sts.filter((s) => s.leader === l.id && s.term === l.term).length;
        if (agree > this.nodes.size / 2) return l.id;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no leader within ${timeoutMs} ms`);
  }

  node(id: NodeId): ProcessNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  addresses(): string[] {
    return [...this.nodes.values()].map((n) => n.address);
  }

  /** Heal the network, resume and kill every process. Data dirs are left for inspection. */
  async stop(): Promise<void> {
    this.heal();
    for (const n of this.nodes.values()) if (n.paused) this.resume(n.id);
    await Promise.all([...this.nodes.keys()].map((id) => this.kill(id)));
    liveClusters.delete(this);
  }

  /** Synchronous last-resort cleanup for exit hooks. */
  cleanupSync(): void {
    this.heal();
    for (const n of this.nodes.values()) {
      try {
        if (n.paused) n.proc?.kill('SIGCONT');
        n.proc?.kill('SIGKILL');
      } catch {
        // Already dead.
      }
    }
    liveClusters.delete(this);
  }
}

function iptables(action: '-A' | '-D', gid: number, dest: string): void {
  execFileSync('iptables', ['-w', action, 'OUTPUT', '-m', 'owner', '--gid-owner', String(gid), '-d', dest, '-j', 'DROP'], { stdio: 'pipe' });
}

/** Whether iptables rules can be added here (root and the iptables command). */
export function canPartition(): boolean {
  try {
    execFileSync('iptables', ['-w', '-S', 'OUTPUT'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}
