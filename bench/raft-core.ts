// Benchmark of the pure Raft core: 3 cores in one process, messages handed
// over in memory, no faults, batching on. Measures entries committed (and
// applied on every node) per second. Prints one JSON line per configuration.
//
//   npm run bench:raft-core [-- --seconds S] [--batch B] [--bytes N]
import { Prng } from '../src/testing/prng.js';
import { RaftCore } from '../src/raft/core/raft.js';
import { DEFAULT_CONFIG, Role, type Message, type NodeId } from '../src/raft/types.js';

interface Args {
  seconds: number;
  batches: number[];
  bytes: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { seconds: 3, batches: [64, 256, 1024], bytes: 64 };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    const num = (): number => {
      if (!v || !/^\d+(\.\d+)?$/.test(v)) throw new Error(`${argv[i]} needs a number`);
      i++;
      return Number(v);
    };
    if (argv[i] === '--seconds') a.seconds = num();
    else if (argv[i] === '--batch') a.batches = [num()];
    else if (argv[i] === '--bytes') a.bytes = num();
    else throw new Error(`unknown option ${argv[i]}`);
  }
  return a;
}

function run(seconds: number, batch: number, bytes: number): Record<string, unknown> {
  const ids: NodeId[] = ['a', 'b', 'c'];
  const rng = new Prng(7);
  const cores = new Map<NodeId, RaftCore>();
  const applied = new Map<NodeId, number>();
  for (const id of ids) {
    cores.set(id, new RaftCore({ ...DEFAULT_CONFIG, id, rng: rng.fork() }, { hardState: { term: 0, vote: '', commit: 0 }, snapshot: null, entries: [], conf: { voters: ids, learners: [] } }));
    applied.set(id, 0);
  }
  let inbox: Message[] = [];
  const pump = (): void => {
    for (let moved = true; moved; ) {
      moved = false;
      for (const [id, core] of cores) {
        if (!core.hasReady()) continue;
        moved = true;
        const rd = core.ready();
        // "Persist" is free here: the benchmark measures the core, not the disk.
        for (const m of rd.messages) inbox.push(m);
        applied.set(id, applied.get(id)! + rd.committedEntries.length);
        core.advance();
        const st = core.log;
        // Keep memory bounded as a long-running node would: snapshot and compact.
        if (st.applied - st.snapIndex > 200_000 && st.stable >= st.applied) core.createSnapshot(st.applied, new Uint8Array(0));
      }
      const batchMsgs = inbox;
      inbox = [];
      for (const m of batchMsgs) {
        moved = true;
        cores.get(m.to)!.step(m);
      }
    }
  };
  const leader = cores.get('a')!;
  while (leader.role !== Role.Leader) {
    leader.tick();
    pump();
  }
  const payloads = Array.from({ length: batch }, () => new Uint8Array(bytes).fill(7));
  const base = Math.min(...[...applied.values()]);
  const heapBefore = process.memoryUsage().heapUsed;
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  let proposed = 0;
  let rounds = 0;
  while (performance.now() < deadline) {
    // Keep a few batches in flight so that batching and pipelining both work.
    for (let k = 0; k < 4; k++) {
      leader.proposeBatch(payloads);
      proposed += batch;
    }
    pump();
    if (++rounds % 64 === 0) {
      for (const c of cores.values()) c.tick();
    }
  }
  pump();
  const secs = (performance.now() - t0) / 1000;
  const committedEverywhere = Math.min(...[...applied.values()]) - base;
  return {
    bench: 'raft-core',
    nodes: 3,
    entryBytes: bytes,
    batch,
    seconds: Number(secs.toFixed(2)),
    proposed,
    committed: committedEverywhere,
    entriesPerSec: Math.round(committedEverywhere / secs),
    target: 300_000,
    ratioToTarget: Number((committedEverywhere / secs / 300_000).toFixed(2)),
    heapDeltaMB: Number(((process.memoryUsage().heapUsed - heapBefore) / 1048576).toFixed(1)),
    node: process.version,
  };
}

const args = parseArgs(process.argv.slice(2));
for (const b of args.batches) process.stdout.write(JSON.stringify(run(args.seconds, b, args.bytes)) + '\n');
