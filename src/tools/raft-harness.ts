// `npm run raft-harness -- [options]`: start N real Raft processes (the
// raftkv fixture) on loopback, run concurrent clients while a nemesis injects
// faults, then check the client history for linearizability.
//
//   --nodes N          3 or 5 (default 3)
//   --seconds S        how long the clients run (default 20)
//   --faults LIST      kill,pause,partition (default all; "none" for a clean run)
//   --history FILE     write the history as JSON lines
//   --dir DIR          data dirs (default: a fresh temp dir, removed afterwards)
//   --seed N           client and nemesis randomness (default 1)
//
// Every fault is undone on exit, error or Ctrl-C included. Exit status: 0 when
// the history is linearizable, 1 when it is not, 2 on bad usage.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatHistory } from '../testing/history.js';
import { checkLinearizable } from '../testing/linearizability.js';
import { Prng } from '../testing/prng.js';
import { ProcessCluster, canPartition } from '../testing/process-cluster.js';
import { runWorkload } from '../testing/raftkv/workload.js';

type Fault = 'kill' | 'pause' | 'partition';

interface Options {
  nodes: number;
  seconds: number;
  faults: Fault[];
  history: string | null;
  dir: string | null;
  seed: number;
}

class UsageError extends Error {}

function parse(argv: string[]): Options {
  const o: Options = { nodes: 3, seconds: 20, faults: ['kill', 'pause', 'partition'], history: null, dir: null, seed: 1 };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const v = argv[i + 1];
    const value = (): string => {
      if (v === undefined || v.startsWith('--')) throw new UsageError(`${flag} needs a value`);
      i++;
      return v;
    };
    const int = (min: number, max: number): number => {
      const s = value();
      const n = Number(s);
      if (!/^\d+$/.test(s) || n < min || n > max) throw new UsageError(`${flag} must be an integer from ${min} to ${max}, got ${s}`);
      return n;
    };
    switch (flag) {
      case '--nodes':
        o.nodes = int(3, 5);
        if (o.nodes !== 3 && o.nodes !== 5) throw new UsageError('--nodes must be 3 or 5');
        break;
      case '--seconds':
        o.seconds = int(1, 3600);
        break;
      case '--seed':
        o.seed = int(0, 2 ** 31);
        break;
      case '--faults': {
        const s = value();
        if (s === 'none') o.faults = [];
        else {
          const list = s.split(',');
          for (const f of list) if (!['kill', 'pause', 'partition'].includes(f)) throw new UsageError(`--faults: unknown fault "${f}" (kill, pause, partition or none)`);
          o.faults = list as Fault[];
        }
        break;
      }
      case '--history':
        o.history = value();
        break;
      case '--dir':
        o.dir = value();
        break;
      case '-h':
      case '--help':
        throw new UsageError('');
      default:
        throw new UsageError(`unknown option ${flag}`);
    }
  }
  if (o.faults.includes('partition') && !canPartition()) throw new UsageError('partition faults need iptables as root; pass --faults kill,pause');
  return o;
}

async function run(o: Options): Promise<number> {
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'flotilla-harness-'));
  const t0 = performance.now();
  const at = (): string => `${((performance.now() - t0) / 1000).toFixed(2).padStart(7)}s`;
  const say = (s: string): void => {
    process.stdout.write(`${at()}  ${s}\n`);
  };
  const cluster = new ProcessCluster({ size: o.nodes, baseDir: dir, firstHost: 100, port: 7480 });
  const rng = new Prng(o.seed);
  try {
    say(`starting ${o.nodes} raft processes on ${cluster.addresses().join(' ')} (data in ${dir})`);
    await cluster.start();
    say(`leader elected: ${await cluster.waitForLeader()}`);
    const end = Date.now() + o.seconds * 1000;
    const work = runWorkload({ addresses: cluster.addresses(), clients: 5, keys: 3, durationMs: o.seconds * 1000, seed: o.seed });
    while (o.faults.length > 0 && Date.now() < end - 3000) {
      await sleep(rng.range(800, 2000));
      const fault = rng.pick(o.faults);
      const target = rng.chance(0.6) ? await cluster.waitForLeader(10_000) : rng.pick([...cluster.nodes.keys()]);
      const f0 = performance.now();
      if (fault === 'kill') {
        say(`fault: kill -9 ${target}`);
        await cluster.kill(target);
      } else if (fault === 'pause') {
        say(`fault: SIGSTOP ${target}`);
        cluster.pause(target);
      } else {
        say(`fault: partition ${target} from the rest`);
        cluster.isolate(target);
      }
      const l = await cluster.waitForLeader(15_000, [target]).catch(() => null);
      say(l ? `leader: ${l} (${(performance.now() - f0).toFixed(0)} ms after the fault)` : 'no leader among the others within 15 s');
      await sleep(rng.range(300, 1500));
      if (fault === 'kill') await cluster.startNode(target);
      else if (fault === 'pause') cluster.resume(target);
      else cluster.heal();
      say(`healed: ${target}`);
    }
    const res = await work;
    say(`clients done: ${res.ok} ok, ${res.fail} failed, ${res.info} unknown outcome`);
    if (o.history) {
      writeFileSync(o.history, formatHistory(res.history));
      say(`history: ${res.history.length} events written to ${o.history}`);
    }
    const verdict = checkLinearizable(res.history);
    if (verdict.ok === true) {
      say(`PASS: the history of ${verdict.ops} operations on ${verdict.keys} keys is linearizable`);
      return 0;
    }
    say(`FAIL: ${verdict.ok === false ? 'not linearizable' : 'undecided'}: key ${verdict.key}: ${verdict.reason}`);
    return 1;
  } finally {
    await cluster.stop();
    if (!o.dir) rmSync(dir, { recursive: true, force: true });
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let opts: Options | null = null;
try {
  opts = parse(process.argv.slice(2));
} catch (err) {
  if (!(err instanceof UsageError)) throw err;
  if (err.message) process.stderr.write(`raft-harness: ${err.message}\n`);
  process.stderr.write('usage: npm run raft-harness -- [--nodes 3|5] [--seconds S] [--faults kill,pause,partition|none] [--history FILE] [--dir DIR] [--seed N]\n');
  process.exitCode = 2;
}
if (opts) process.exitCode = await run(opts);
