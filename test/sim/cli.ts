// `npm run sim -- [options]`: run simulated seeds and report violations.
//
//   --seeds N        run N seeds (default 200), starting at --start (default 1)
//   --seed S         run the one seed S (replay)
//   --trace          with --seed: print every event of the run
//   --history FILE   with --seed: write the client history as JSON lines
//   --nodes 3|5|7    force the node count (default: cycles with the seed)
//   --workers K      worker threads (default: number of CPUs)
//   --json           one JSON line per failing seed and a summary line
//
// Exit status: 0 when every seed passed, 1 on a violation, 2 on bad usage.
import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { formatHistory } from '../../src/testing/history.js';
import { formatViolation, runSeed, type SimConfig, type SimResult } from './simulation.js';

interface Options {
  seed: number | null;
  seeds: number;
  start: number;
  trace: boolean;
  history: string | null;
  nodes: number | null;
  workers: number;
  json: boolean;
}

class UsageError extends Error {}

function parseArgs(argv: string[]): Options {
  const o: Options = { seed: null, seeds: 200, start: 1, trace: false, history: null, nodes: null, workers: availableParallelism(), json: false };
  const int = (flag: string, v: string | undefined, min: number): number => {
    if (v === undefined || !/^\d+$/.test(v) || Number(v) < min) throw new UsageError(`${flag} needs an integer >= ${min}, got ${v ?? 'nothing'}`);
    return Number(v);
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    switch (a) {
      case '--seed':
        o.seed = int(a, argv[++i], 0);
        break;
      case '--seeds':
        o.seeds = int(a, argv[++i], 1);
        break;
      case '--start':
        o.start = int(a, argv[++i], 0);
        break;
      case '--trace':
        o.trace = true;
        break;
      case '--history':
        o.history = argv[++i];
        if (!o.history) throw new UsageError('--history needs a file name');
        break;
      case '--nodes':
        o.nodes = int(a, argv[++i], 1);
        if (![3, 5, 7].includes(o.nodes)) throw new UsageError('--nodes must be 3, 5 or 7');
        break;
      case '--workers':
        o.workers = int(a, argv[++i], 1);
        break;
      case '--json':
        o.json = true;
        break;
      case '-h':
      case '--help':
        throw new UsageError('');
      default:
        throw new UsageError(`unknown option ${a}`);
    }
  }
  if ((o.trace || o.history) && o.seed === null) throw new UsageError('--trace and --history replay one run: add --seed S');
  return o;
}

function overrides(o: Options): Partial<SimConfig> {
  return o.nodes ? { nodes: o.nodes } : {};
}

/** One seed, in full: trace and history on request. */
function replay(o: Options): number {
  const r = runSeed(o.seed!, overrides(o), { keepTrace: o.trace });
  if (r.trace) for (const line of r.trace) process.stdout.write(line + '\n');
  if (o.history) {
    writeFileSync(o.history, formatHistory(r.history));
    process.stderr.write(`history: ${r.history.length} events written to ${o.history}\n`);
  }
  report(o, r);
  process.stdout.write(`seed ${r.seed}: ${r.ok ? 'ok' : 'VIOLATION'} trace ${r.traceHash} (${r.stats.events} events, ${r.stats.ops} ops, ${r.stats.elections} elections)\n`);
  return r.ok ? 0 : 1;
}

function report(o: Options, r: SimResult): void {
  if (r.ok) return;
  if (o.json) process.stdout.write(JSON.stringify({ seed: r.seed, violation: r.violation }) + '\n');
  else process.stderr.write(formatViolation(r) + '\n');
}

interface WorkerReply {
  seed: number;
  ok: boolean;
  text: string;
  events: number;
}

function runMany(o: Options): Promise<number> {
  const seeds = Array.from({ length: o.seeds }, (_, i) => o.start + i);
  const workers = Math.max(1, Math.min(o.workers, seeds.length));
  let next = 0;
  let done = 0;
  let failed = 0;
  let events = 0;
  const t0 = performance.now();
  const progress = (): void => {
    if (o.json || !process.stderr.isTTY) return;
    process.stderr.write(`\r${done}/${seeds.length} seeds, ${failed} failed`);
  };
  return new Promise((resolve, reject) => {
    for (let w = 0; w < workers; w++) {
      const worker = new Worker(new URL(import.meta.url), { workerData: { overrides: overrides(o), json: o.json } });
      const feed = (): void => {
        if (next < seeds.length) worker.postMessage(seeds[next++]);
        else void worker.terminate();
      };
      worker.on('message', (m: WorkerReply) => {
        done++;
        events += m.events;
        if (!m.ok) {
          failed++;
          process[o.json ? 'stdout' : 'stderr'].write(m.text + '\n');
        }
        progress();
        feed();
        if (done === seeds.length) {
          const secs = (performance.now() - t0) / 1000;
          const summary = { seeds: seeds.length, start: o.start, failed, events, seconds: Number(secs.toFixed(1)) };
          if (o.json) process.stdout.write(JSON.stringify(summary) + '\n');
          else process.stdout.write(`${progressClear()}${seeds.length} seeds (${o.start}..${o.start + seeds.length - 1}): ${failed} failed, ${events} events in ${secs.toFixed(1)} s\n`);
          resolve(failed === 0 ? 0 : 1);
        }
      });
      worker.on('error', reject);
      feed();
    }
  });
}

function progressClear(): string {
  return process.stderr.isTTY ? '\r\x1b[K' : '';
}

if (!isMainThread) {
  const { overrides: ov, json } = workerData as { overrides: Partial<SimConfig>; json: boolean };
  parentPort!.on('message', (seed: number) => {
    const r = runSeed(seed, ov);
    const reply: WorkerReply = {
      seed,
      ok: r.ok,
      text: r.ok ? '' : json ? JSON.stringify({ seed, violation: r.violation }) : formatViolation(r),
      events: r.stats.events,
    };
    parentPort!.postMessage(reply);
  });
} else {
  let opts: Options | null = null;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    if (err.message) process.stderr.write(`sim: ${err.message}\n`);
    process.stderr.write('usage: npm run sim -- [--seeds N] [--start S] [--seed S [--trace] [--history FILE]] [--nodes 3|5|7] [--workers K] [--json]\n');
    process.exitCode = 2;
  }
  // exitCode, not exit(): exit() would cut off output still queued for a pipe.
  if (opts) process.exitCode = opts.seed !== null ? replay(opts) : await runMany(opts);
}
