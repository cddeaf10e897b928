// End-to-end benchmark of flotilla's Raft against etcd, on this machine:
// a 3-node cluster of real processes (the raftkv fixture server: LevelDB
// storage synced on every Ready, gRPC transport) and a 3-member etcd cluster
// (WAL fsync on every Ready, as etcd always does), both on loopback, both
// driven by the same closed-loop load: C clients, each doing sequential
// 256-byte puts on random keys among 1000. Then leader failover: kill -9 the
// leader under load, time until the first write the new leader acknowledges.
// Flotilla runs as managers do, with encryption at rest (Raft entries and
// snapshots sealed with AES-256-GCM; raftkv --encrypt).
//
// Then the cost of encryption at rest: two flotilla clusters, one encrypted
// and one not, measured in alternation (off, on, on, off, ...: drift of the
// machine falls on both) at the --encryption-clients points; one line per
// round, one per mode over all rounds, and the ratio on/off (target: the
// throughput at 64 clients drops by at most 10%).
//
//   npm run bench:raft [-- --seconds S] [--clients 1,16,64] [--skip-etcd]
//                      [--warmup S] [--failovers N]
//                      [--encryption-clients 64] [--encryption-rounds N] [--skip-encryption]
//                      [--encryption-only]
//
// One JSON line per result on stdout; progress on stderr. Every process it
// starts is killed on exit (normal, error, SIGINT/SIGTERM), temp dirs removed.
//
// Client side: flotilla is driven with one KvTestClient (one gRPC channel)
// per server address, shared by all C workers, the workers sharing one
// leader hint; etcd with one Etcd3 client (one channel per member) shared by
// all C workers, which is how the etcd3 client is meant to be used. In both
// cases all calls to one server are multiplexed over one HTTP/2 connection.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { Etcd3, type IOptions, type IPutResponse } from 'etcd3';
import { ProcessCluster } from '../src/testing/process-cluster.js';
import { KvTestClient, type KvCallError } from '../src/testing/raftkv/proto.js';

// ------------------------------------------------------------------ options

interface Args {
  seconds: number;
  warmup: number;
  clients: number[];
  skipEtcd: boolean;
  failovers: number;
  encryptionClients: number[];
  encryptionRounds: number;
  skipEncryption: boolean;
  /** Only the on/off comparison (no flotilla-vs-etcd runs). */
  encryptionOnly: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { seconds: 10, warmup: 1, clients: [1, 16, 64], skipEtcd: false, failovers: 3, encryptionClients: [64], encryptionRounds: 2, skipEncryption: false, encryptionOnly: false };
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i];
    const v = argv[i + 1];
    const num = (): number => {
      if (!v || !/^\d+(\.\d+)?$/.test(v)) throw new Error(`${f} needs a number`);
      i++;
      return Number(v);
    };
    if (f === '--seconds') a.seconds = num();
    else if (f === '--warmup') a.warmup = num();
    else if (f === '--failovers') a.failovers = Math.floor(num());
    else if (f === '--skip-etcd') a.skipEtcd = true;
    else if (f === '--skip-encryption') a.skipEncryption = true;
    else if (f === '--encryption-only') a.encryptionOnly = true;
    else if (f === '--encryption-rounds') a.encryptionRounds = Math.max(1, Math.floor(num()));
    else if (f === '--clients' || f === '--encryption-clients') {
      if (!v || !/^\d+(,\d+)*$/.test(v)) throw new Error(`${f} needs a list like 1,16,64`);
      const list = v.split(',').map(Number).filter((n) => n > 0);
      if (f === '--clients') a.clients = list;
      else a.encryptionClients = list;
      i++;
    } else throw new Error(`unknown option ${f}`);
  }
  if (a.seconds <= 0) throw new Error('--seconds must be positive');
  return a;
}

// ------------------------------------------------------------------ output

const KEYS = 1000;
const VALUE_BYTES = 256;
const OP_TIMEOUT_MS = 5000;
/**
 * Per-put deadline while measuring failover, for both systems. An etcd
 * follower forwards a put to the leader it knows; if that leader was just
 * killed the put is lost and only the deadline ends it (with 5 s, every
 * worker ends up stuck in one and the measured failover is just the client
 * timeout). Normal puts take a few ms, so 300 ms only ends lost ones.
 */
const FAILOVER_OP_TIMEOUT_MS = 300;
const FAILOVER_CLIENTS = 16;
const FAILOVER_TIMEOUT_MS = 20_000;

function emit(o: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify({ bench: 'raft', ...o }) + '\n');
}

function progress(msg: string): void {
  process.stderr.write(`[bench:raft] ${msg}\n`);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function errMsg(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

const round2 = (x: number): number => Math.round(x * 100) / 100;

function randomValue(): string {
  // 256 printable bytes (the fixture's value is a proto string).
  return randomBytes(VALUE_BYTES).toString('base64').slice(0, VALUE_BYTES);
}

// ------------------------------------------------------------- load driver

interface LoadResult {
  clients: number;
  seconds: number;
  ops: number;
  throughput: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

/** A put against some system; resolves with who acknowledged it (for failover). */
type PutFn = (worker: number, key: string) => Promise<string>;
/** Called after a failed put; returns how long to back off. */
type OnError = (worker: number, err: unknown) => number;

/**
 * Closed loop: `clients` workers, each one put at a time, for warm-up +
 * measured seconds. Ops are counted (and their latency recorded) when they
 * complete inside the measured window.
 */
async function runLoad(clients: number, warmupS: number, seconds: number, put: PutFn, onError: OnError): Promise<LoadResult> {
  let lat = new Float64Array(1 << 16);
  let n = 0;
  let errors = 0;
  const t0 = performance.now();
  const tStart = t0 + warmupS * 1000;
  const tEnd = tStart + seconds * 1000;
  let firstError = '';
  const worker = async (w: number): Promise<void> => {
    while (true) {
      const s = performance.now();
      if (s >= tEnd) return;
      const key = `k${Math.floor(Math.random() * KEYS)}`;
      try {
        await put(w, key);
        const e = performance.now();
        if (e >= tStart && e <= tEnd) {
          if (n === lat.length) {
            const bigger = new Float64Array(lat.length * 2);
            bigger.set(lat);
            lat = bigger;
          }
          lat[n++] = e - s;
        }
      } catch (err) {
        const e = performance.now();
        if (e >= tStart && e <= tEnd) {
          errors++;
          if (!firstError) firstError = errMsg(err);
        }
        const back = onError(w, err);
        if (back > 0) await sleep(back);
      }
    }
  };
  await Promise.all(Array.from({ length: clients }, (_, i) => worker(i)));
  if (firstError) progress(`first error in the measured window: ${firstError}`);
  const sorted = lat.subarray(0, n).sort();
  return {
    clients,
    seconds,
    ops: n,
    throughput: round2(n / seconds),
    p50Ms: round2(percentile(sorted, 50)),
    p99Ms: round2(percentile(sorted, 99)),
    errors,
  };
}

/**
 * Failover under load: FAILOVER_CLIENTS workers put continuously; after a
 * warm-up, `kill()` kills the leader; the result is the time from the kill
 * to the first put acknowledged as the new leader's (`isNew(who)`).
 */
async function measureFailover(put: PutFn, onError: OnError, kill: () => Promise<(who: string) => boolean>): Promise<number> {
  let stop = false;
  let killAt = 0;
  let isNew: ((who: string) => boolean) | null = null;
  let resolveAck: (t: number) => void = () => undefined;
  const acked = new Promise<number>((r) => (resolveAck = r));
  const worker = async (w: number): Promise<void> => {
    while (!stop) {
      const key = `k${Math.floor(Math.random() * KEYS)}`;
      try {
        const who = await put(w, key);
        const e = performance.now();
        if (isNew && killAt > 0 && e > killAt && isNew(who)) resolveAck(e);
      } catch (err) {
        const back = onError(w, err);
        if (back > 0) await sleep(back);
      }
    }
  };
  const workers = Promise.all(Array.from({ length: FAILOVER_CLIENTS }, (_, i) => worker(i)));
  try {
    await sleep(1000);
    killAt = performance.now();
    isNew = await kill();
    const timeout = sleep(FAILOVER_TIMEOUT_MS).then(() => -1);
    const t = await Promise.race([acked, timeout]);
    if (t < 0) throw new Error(`no write acknowledged by a new leader within ${FAILOVER_TIMEOUT_MS} ms of the kill`);
    return round2(t - killAt);
  } finally {
    stop = true;
    await workers;
  }
}

// ----------------------------------------------------------------- cleanup

const tempDirs = new Set<string>();
const children = new Set<ChildProcess>();

function cleanupSync(): void {
  for (const c of children) {
    try {
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    } catch {
      // Already gone.
    }
  }
  children.clear();
  for (const d of tempDirs) {
    try {
      rmSync(d, { recursive: true, force: true });
    } catch {
      // Best effort.
    }
  }
  tempDirs.clear();
}

process.on('exit', cleanupSync);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    progress(`${sig}: cleaning up`);
    cleanupSync();
    process.exit(130);
  });
}

function freshTempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(d);
  return d;
}

function removeTempDir(d: string): void {
  rmSync(d, { recursive: true, force: true });
  tempDirs.delete(d);
}

// ---------------------------------------------------------------- flotilla

interface SideResult {
  load: Map<number, LoadResult>;
  failovers: number[];
}

/** Shared leader-following router over one channel per node. */
class FlotillaRouter {
  readonly conns: KvTestClient[];
  leader = 0;

  constructor(addresses: string[], leaderAddress: string) {
    this.conns = addresses.map((a) => new KvTestClient(a));
    this.leader = Math.max(0, addresses.indexOf(leaderAddress));
  }

  /** After a failed call on conns[i]: follow the hint, or move on once (not once per worker). */
  follow(i: number, err: KvCallError): number {
    const hinted = err.leaderAddress ? this.conns.findIndex((c) => c.address === err.leaderAddress) : -1;
    if (hinted >= 0) {
      this.leader = hinted;
      return 0;
    }
    if (this.leader === i) this.leader = (i + 1) % this.conns.length;
    return 10;
  }

  close(): void {
    for (const c of this.conns) c.close();
  }
}

function flotillaClient(router: FlotillaRouter, clients: number, tag: string, opTimeoutMs = OP_TIMEOUT_MS): { put: PutFn; onError: OnError } {
  const value = randomValue();
  const sessions = Array.from({ length: clients }, (_, w) => `bench-${tag}-${w}-${randomBytes(4).toString('hex')}`);
  const seqs = new Array<number>(clients).fill(0);
  const lastConn = new Array<number>(clients).fill(0);
  return {
    put: async (w, key) => {
      const i = router.leader;
      lastConn[w] = i;
      const c = router.conns[i];
      await c.write({ session: { client: sessions[w], seq: ++seqs[w] }, op: 'put', key, value, hasExpected: false, expected: '' }, opTimeoutMs);
      return c.address;
    },
    onError: (w, err) => {
      const e = err as KvCallError;
      if (e.code === grpc.status.INVALID_ARGUMENT) throw err;
      return router.follow(lastConn[w], e);
    },
  };
}

async function leaderAddress(cluster: ProcessCluster, timeoutMs = 15_000): Promise<{ id: string; address: string }> {
  const id = await cluster.waitForLeader(timeoutMs);
  return { id, address: cluster.node(id).address };
}

/** Every running node agrees on the leader and has applied what the leader committed (at the time). */
async function waitSettled(cluster: ProcessCluster, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const ids = [...cluster.nodes.values()].filter((n) => n.proc).map((n) => n.id);
    const sts = await Promise.all(ids.map((id) => cluster.status(id, 500)));
    const leader = sts.find((s) => s?.role === 'leader');
    if (leader && sts.every((s) => s && s.leader === leader.id && s.term === leader.term && s.applied >= leader.commit - 10)) return;
    await sleep(100);
  }
  throw new Error(`cluster did not settle within ${timeoutMs} ms`);
}

async function runFlotilla(args: Args): Promise<SideResult> {
  const res: SideResult = { load: new Map(), failovers: [] };
  const dir = freshTempDir('flotilla-bench-raft-');
  const cluster = new ProcessCluster({ size: 3, baseDir: dir, firstHost: 50, port: 7450, tickMs: 100, encrypt: true });
  try {
    progress(`flotilla: starting 3 nodes (encrypted storage) on ${cluster.addresses().join(', ')} (data in ${dir})`);
    await cluster.start();
    let lead = await leaderAddress(cluster);
    progress(`flotilla: leader is ${lead.id} at ${lead.address}`);
    for (const c of args.clients) {
      try {
        lead = await leaderAddress(cluster);
        const router = new FlotillaRouter(cluster.addresses(), lead.address);
        try {
          progress(`flotilla: ${c} client(s), ${args.warmup} s warm-up + ${args.seconds} s`);
          const { put, onError } = flotillaClient(router, c, `c${c}`);
          const r = await runLoad(c, args.warmup, args.seconds, put, onError);
          res.load.set(c, r);
          emit({ system: 'flotilla', encryption: 'on', ...r });
        } finally {
          router.close();
        }
      } catch (e) {
        emit({ system: 'flotilla', clients: c, error: errMsg(e) });
      }
    }
    for (let rep = 1; rep <= args.failovers; rep++) {
      try {
        await waitSettled(cluster);
        lead = await leaderAddress(cluster);
        const router = new FlotillaRouter(cluster.addresses(), lead.address);
        const killed = lead;
        try {
          progress(`flotilla: failover ${rep}/${args.failovers}: ${FAILOVER_CLIENTS} clients writing, then kill -9 ${killed.id} (leader)`);
          const { put, onError } = flotillaClient(router, FAILOVER_CLIENTS, `f${rep}`, FAILOVER_OP_TIMEOUT_MS);
          const ms = await measureFailover(put, onError, async () => {
            await cluster.kill(killed.id);
            return (who) => who !== killed.address;
          });
          res.failovers.push(ms);
          emit({ system: 'flotilla', metric: 'failover', run: rep, ms, opDeadlineMs: FAILOVER_OP_TIMEOUT_MS });
        } finally {
          router.close();
          if (!cluster.node(killed.id).proc) await cluster.startNode(killed.id);
        }
      } catch (e) {
        emit({ system: 'flotilla', metric: 'failover', run: rep, error: errMsg(e) });
      }
    }
    if (res.failovers.length > 0) emit({ system: 'flotilla', metric: 'failover', runs: res.failovers.length, medianMs: round2(median(res.failovers)) });
  } finally {
    await cluster.stop().catch(() => cluster.cleanupSync());
    removeTempDir(dir);
  }
  return res;
}

// ------------------------------------------------ encryption at rest: on/off

type Mode = 'off' | 'on';

/**
 * Two flotilla clusters, unencrypted (127.0.0.50-52) and encrypted
 * (127.0.0.53-55), loaded in alternation, `rounds` times per client count:
 * off, on, then on, off, ... Each round starts from a settled cluster.
 */
async function runEncryption(args: Args): Promise<void> {
  const dir = freshTempDir('flotilla-bench-raft-enc-');
  const clusters: Record<Mode, ProcessCluster> = {
    off: new ProcessCluster({ size: 3, baseDir: join(dir, 'off'), firstHost: 50, port: 7450, tickMs: 100, firstGid: 43_100 }),
    on: new ProcessCluster({ size: 3, baseDir: join(dir, 'on'), firstHost: 53, port: 7450, tickMs: 100, firstGid: 43_110, encrypt: true }),
  };
  try {
    progress(`encryption: starting two clusters, off on ${clusters.off.addresses().join(', ')}, on on ${clusters.on.addresses().join(', ')}`);
    await Promise.all([clusters.off.start(), clusters.on.start()]);
    for (const c of args.encryptionClients) {
      const rounds: Record<Mode, LoadResult[]> = { off: [], on: [] };
      for (let round = 1; round <= args.encryptionRounds; round++) {
        const order: Mode[] = round % 2 === 1 ? ['off', 'on'] : ['on', 'off'];
        for (const mode of order) {
          const cluster = clusters[mode];
          try {
            await waitSettled(cluster);
            const lead = await leaderAddress(cluster);
            const router = new FlotillaRouter(cluster.addresses(), lead.address);
            try {
              progress(`encryption ${mode}: ${c} client(s), round ${round}/${args.encryptionRounds}, ${args.warmup} s warm-up + ${args.seconds} s`);
              const { put, onError } = flotillaClient(router, c, `enc-${mode}-${c}-${round}`);
              const r = await runLoad(c, args.warmup, args.seconds, put, onError);
              rounds[mode].push(r);
              emit({ system: 'flotilla', metric: 'encryption-round', encryption: mode, round, ...r });
            } finally {
              router.close();
            }
          } catch (e) {
            emit({ system: 'flotilla', metric: 'encryption-round', encryption: mode, round, clients: c, error: errMsg(e) });
          }
        }
      }
      const total: Partial<Record<Mode, { throughput: number; p99Ms: number; p50Ms: number; ops: number; errors: number }>> = {};
      for (const mode of ['off', 'on'] as const) {
        const rs = rounds[mode];
        if (rs.length === 0) continue;
        const ops = rs.reduce((n, r) => n + r.ops, 0);
        const secs = rs.reduce((n, r) => n + r.seconds, 0);
        total[mode] = {
          throughput: round2(ops / secs),
          p50Ms: round2(median(rs.map((r) => r.p50Ms))),
          p99Ms: round2(median(rs.map((r) => r.p99Ms))),
          ops,
          errors: rs.reduce((n, r) => n + r.errors, 0),
        };
        emit({ system: 'flotilla', metric: 'encryption', encryption: mode, clients: c, rounds: rs.length, seconds: secs, ...total[mode] });
      }
      const off = total.off;
      const on = total.on;
      if (off && on) {
        const throughputRatio = off.throughput > 0 ? round2(on.throughput / off.throughput) : null;
        const p99Ratio = off.p99Ms > 0 ? round2(on.p99Ms / off.p99Ms) : null;
        const line: Record<string, unknown> = { metric: 'encryption-ratio', clients: c, throughputRatio, p99Ratio };
        if (c === 64) {
          line.target = { throughputAtLeast: 0.9 };
          line.met = throughputRatio !== null && throughputRatio >= 0.9;
        }
        emit(line);
      }
    }
  } finally {
    await Promise.all([clusters.off.stop().catch(() => clusters.off.cleanupSync()), clusters.on.stop().catch(() => clusters.on.cleanupSync())]);
    removeTempDir(dir);
  }
}

// -------------------------------------------------------------------- etcd

function onPath(cmd: string): string | null {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() ? r.stdout.trim() : null;
}

/** etcd on PATH, installing Debian's etcd-server when it is not. */
function ensureEtcd(): string {
  const found = onPath('etcd');
  if (found) return found;
  const run = (argv: string[]): boolean => {
    progress(`etcd not on PATH: running ${argv.join(' ')}`);
    const r = spawnSync(argv[0], argv.slice(1), { stdio: ['ignore', 2, 2], timeout: 600_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    if (r.error) progress(`${argv[0]} failed: ${r.error.message}`);
    return r.status === 0;
  };
  if (!run(['apt-get', 'install', '-y', '--no-install-recommends', 'etcd-server'])) {
    run(['apt-get', 'update']);
    if (!run(['apt-get', 'install', '-y', '--no-install-recommends', 'etcd-server'])) throw new Error('apt-get install etcd-server failed');
  }
  const after = onPath('etcd');
  if (!after) throw new Error('etcd-server installed but etcd is not on PATH');
  return after;
}

interface EtcdMember {
  name: string;
  host: string;
  clientUrl: string;
  peerUrl: string;
  dataDir: string;
  logFile: string;
  proc: ChildProcess | null;
}

class EtcdCluster {
  readonly members: EtcdMember[] = [];
  private readonly token = `flotilla-bench-${randomBytes(4).toString('hex')}`;

  constructor(
    private readonly bin: string,
    baseDir: string,
    firstHost: number,
    size = 3,
  ) {
    for (let i = 0; i < size; i++) {
      const host = `127.0.0.${firstHost + i}`;
      const name = `e${i + 1}`;
      const dataDir = join(baseDir, name);
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      this.members.push({ name, host, clientUrl: `http://${host}:2379`, peerUrl: `http://${host}:2380`, dataDir, logFile: join(baseDir, `${name}.log`), proc: null });
    }
  }

  clientUrls(): string[] {
    return this.members.map((m) => m.clientUrl);
  }

  startMember(i: number): void {
    const m = this.members[i];
    if (m.proc) throw new Error(`${m.name} is already running`);
    const initialCluster = this.members.map((x) => `${x.name}=${x.peerUrl}`).join(',');
    const argv = [
      '--name', m.name,
      '--data-dir', m.dataDir,
      '--listen-client-urls', m.clientUrl,
      '--advertise-client-urls', m.clientUrl,
      '--listen-peer-urls', m.peerUrl,
      '--initial-advertise-peer-urls', m.peerUrl,
      '--initial-cluster', initialCluster,
      '--initial-cluster-token', this.token,
      '--initial-cluster-state', 'new',
      '--logger', 'zap',
      '--log-outputs', 'stderr',
    ];
    const fd = openSync(m.logFile, 'a');
    try {
      const p = spawn(this.bin, argv, { stdio: ['ignore', fd, fd] });
      children.add(p);
      m.proc = p;
      p.on('exit', () => {
        children.delete(p);
        if (m.proc === p) m.proc = null;
      });
      p.on('error', (e) => progress(`etcd ${m.name}: ${e.message}`));
    } finally {
      closeSync(fd);
    }
  }

  start(): void {
    for (let i = 0; i < this.members.length; i++) this.startMember(i);
  }

  async kill(i: number): Promise<void> {
    const p = this.members[i].proc;
    if (!p) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    await Promise.all(this.members.map((_, i) => this.kill(i)));
  }

  logTail(i: number): string {
    try {
      // The last log line (etcd logs JSON with zap): usually the reason it stopped.
      const lines = readFileSync(this.members[i].logFile, 'utf8').trim().split('\n');
      return lines.slice(-1)[0].slice(0, 600);
    } catch {
      return '';
    }
  }

  private async healthy(m: EtcdMember): Promise<boolean> {
    try {
      const r = await fetch(`${m.clientUrl}/health`, { signal: AbortSignal.timeout(1000) });
      const body = (await r.json()) as { health?: string };
      return r.ok && body.health === 'true';
    } catch {
      return false;
    }
  }

  /** Every running member answers /health with true (it has a leader and serves). */
  async waitHealthy(timeoutMs = 30_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      const dead = this.members.findIndex((m) => !m.proc);
      if (dead >= 0) throw new Error(`etcd ${this.members[dead].name} exited: ${this.logTail(dead)}`);
      const ok = await Promise.all(this.members.map((m) => this.healthy(m)));
      if (ok.every(Boolean)) return;
      await sleep(100);
    }
    throw new Error(`etcd cluster not healthy within ${timeoutMs} ms: ${this.logTail(0)}`);
  }

  /** Index of the leader (as the members see it) and its term. */
  async leader(timeoutMs = 15_000): Promise<{ index: number; term: number }> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      for (let i = 0; i < this.members.length; i++) {
        if (!this.members[i].proc) continue;
        const c = new Etcd3({ hosts: this.members[i].clientUrl, dialTimeout: 1000, defaultCallOptions: () => ({ deadline: Date.now() + 1000 }) });
        try {
          const st = await c.maintenance.status();
          if (st.leader === st.header.member_id && st.leader !== '0') return { index: i, term: Number(st.raftTerm) };
        } catch {
          // Not answering: try the next member.
        } finally {
          c.close();
        }
      }
      await sleep(100);
    }
    throw new Error(`no etcd leader within ${timeoutMs} ms`);
  }
}

type FaultHandling = NonNullable<IOptions['faultHandling']>;
type Policy = ReturnType<NonNullable<FaultHandling['host']>>;

/** cockatiel's Policy.noop: run the call, no retry, no circuit breaker. */
const noopPolicy = {
  execute: async <T>(fn: (ctx: { signal: AbortSignal }) => T | Promise<T>): Promise<T> => fn({ signal: new AbortController().signal }),
} as unknown as Policy;

/**
 * One Etcd3 client over all members, shared by every worker. For the load
 * runs it keeps its default fault handling (retry 3 times, a circuit breaker
 * per host). For failover it has none: its breakers open on the errors of
 * an election (the dead leader's refused calls, the followers' lost puts)
 * and then refuse every call for 5 s, so the measurement would be the
 * breaker's 5 s, not etcd's failover. The workers retry on their own.
 */
function etcdClient(urls: string[], opTimeoutMs = OP_TIMEOUT_MS, faultHandling = true): { client: Etcd3; put: PutFn; onError: OnError } {
  const client = new Etcd3({
    hosts: urls,
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + opTimeoutMs }),
    ...(faultHandling ? {} : { faultHandling: { host: () => noopPolicy, global: noopPolicy } }),
  });
  const value = Buffer.from(randomValue());
  return {
    client,
    put: async (_w, key) => {
      const r: IPutResponse = await client.put(`bench/${key}`).value(value);
      return r.header.raft_term;
    },
    onError: () => 10,
  };
}

async function runEtcd(args: Args): Promise<SideResult> {
  const res: SideResult = { load: new Map(), failovers: [] };
  const bin = ensureEtcd();
  const ver = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  progress(`etcd: ${bin}: ${(ver.stdout || ver.stderr || '').split('\n')[0]}`);
  const dir = freshTempDir('etcd-bench-raft-');
  const cluster = new EtcdCluster(bin, dir, 60);
  try {
    progress(`etcd: starting 3 members on ${cluster.clientUrls().join(', ')} (data in ${dir})`);
    cluster.start();
    await cluster.waitHealthy();
    const l = await cluster.leader();
    progress(`etcd: leader is ${cluster.members[l.index].name} (term ${l.term})`);
    for (const c of args.clients) {
      const { client, put, onError } = etcdClient(cluster.clientUrls());
      try {
        progress(`etcd: ${c} client(s), ${args.warmup} s warm-up + ${args.seconds} s`);
        const r = await runLoad(c, args.warmup, args.seconds, put, onError);
        res.load.set(c, r);
        emit({ system: 'etcd', ...r });
      } catch (e) {
        emit({ system: 'etcd', clients: c, error: errMsg(e) });
      } finally {
        client.close();
      }
    }
    for (let rep = 1; rep <= args.failovers; rep++) {
      let killedIdx = -1;
      try {
        await cluster.waitHealthy();
        const lead = await cluster.leader();
        killedIdx = lead.index;
        const { client, put, onError } = etcdClient(cluster.clientUrls(), FAILOVER_OP_TIMEOUT_MS, false);
        try {
          progress(`etcd: failover ${rep}/${args.failovers}: ${FAILOVER_CLIENTS} clients writing, then kill -9 ${cluster.members[lead.index].name} (leader, term ${lead.term})`);
          const ms = await measureFailover(put, onError, async () => {
            await cluster.kill(lead.index);
            return (term) => Number(term) > lead.term;
          });
          res.failovers.push(ms);
          emit({ system: 'etcd', metric: 'failover', run: rep, ms, opDeadlineMs: FAILOVER_OP_TIMEOUT_MS });
        } finally {
          client.close();
        }
      } catch (e) {
        emit({ system: 'etcd', metric: 'failover', run: rep, error: errMsg(e) });
      } finally {
        if (killedIdx >= 0 && !cluster.members[killedIdx].proc) cluster.startMember(killedIdx);
      }
    }
    if (res.failovers.length > 0) emit({ system: 'etcd', metric: 'failover', runs: res.failovers.length, medianMs: round2(median(res.failovers)) });
  } finally {
    await cluster.stop();
    removeTempDir(dir);
  }
  return res;
}

// -------------------------------------------------------------------- main

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  let ours: SideResult = { load: new Map(), failovers: [] };
  let theirs: SideResult | null = null;
  if (!args.encryptionOnly) {
    try {
      ours = await runFlotilla(args);
    } catch (e) {
      emit({ system: 'flotilla', error: errMsg(e) });
    }
  }
  if (!args.skipEtcd && !args.encryptionOnly) {
    try {
      theirs = await runEtcd(args);
    } catch (e) {
      emit({ system: 'etcd', error: errMsg(e) });
    }
  }
  if (!args.skipEncryption) {
    try {
      await runEncryption(args);
    } catch (e) {
      emit({ metric: 'encryption', error: errMsg(e) });
    }
  }
  for (const c of args.clients) {
    const a = ours.load.get(c);
    const b = theirs?.load.get(c);
    if (!a || !b) continue;
    const targets: Record<string, number> = c === 64 ? { throughputAtLeast: 1.0, p99AtMost: 1.5 } : { p99AtMost: 1.5 };
    const throughputRatio = b.throughput > 0 ? round2(a.throughput / b.throughput) : null;
    const p99Ratio = b.p99Ms > 0 ? round2(a.p99Ms / b.p99Ms) : null;
    const met = p99Ratio !== null && p99Ratio <= 1.5 && (c !== 64 || (throughputRatio !== null && throughputRatio >= 1.0));
    emit({ metric: 'ratio', clients: c, throughputRatio, p99Ratio, targets, met });
  }
  if (ours.failovers.length > 0) {
    const medianMs = round2(median(ours.failovers));
    const line: Record<string, unknown> = { metric: 'failover', medianMs, target: 1500, met: medianMs <= 1500 };
    if (theirs && theirs.failovers.length > 0) line.etcdMedianMs = round2(median(theirs.failovers));
    emit(line);
  }
}

main()
  .catch((e: unknown) => {
    emit({ error: errMsg(e) });
    process.exitCode = 1;
  })
  .finally(() => {
    cleanupSync();
    // gRPC channels and timers may linger; everything is reported.
    setTimeout(() => process.exit(), 200).unref();
  });
