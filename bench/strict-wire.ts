// Cost of the strict wire check (src/common/strict-wire.ts) on the largest
// requests a manager decodes all the time: a Raft append (MessageBatch) and a
// dispatcher status report of 2,000 tasks (UpdateTaskStatusRequest). For each:
// the check alone, the decode alone (proto-loader's deserializer, as before),
// and the strict deserializer (check + decode), per message, and the check's
// share of the strict deserializer. Prints one JSON line per case.
//
//   npm run build && node dist/bench/strict-wire.js [--seconds S]
import { performance } from 'node:perf_hooks';
import { protoRoot } from '../src/common/proto-reflection.js';
import { checkWire, isMalformedRequest } from '../src/common/strict-wire.js';
import { loadDispatcherProto } from '../src/api/proto.js';
import { loadRaftProto } from '../src/raft/codec.js';
import { MessageType } from '../src/raft/types.js';

function parseSeconds(argv: string[]): number {
  const i = argv.indexOf('--seconds');
  if (i < 0) return 1;
  const v = Number(argv[i + 1]);
  if (!Number.isFinite(v) || v <= 0) throw new Error('--seconds needs a positive number');
  return v;
}

/** Mean µs per call of `fn` over about `seconds` (after a warm-up). */
function timeIt(fn: () => unknown, seconds: number): number {
  for (let i = 0; i < 50; i++) fn();
  let n = 0;
  const start = performance.now();
  const stop = start + seconds * 1000;
  let now = start;
  while (now < stop) {
    for (let i = 0; i < 10; i++) fn();
    n += 10;
    now = performance.now();
  }
  return ((now - start) * 1000) / n;
}

function raftAppend(entries: number, entryBytes: number): Buffer {
  const data = Buffer.alloc(entryBytes, 0x61);
  const msg = {
    type: MessageType.App,
    from: 'manager-aaaaaaaaaaaaaaaaaaaa',
    to: 'manager-bbbbbbbbbbbbbbbbbbbb',
    term: 7,
    logTerm: 7,
    index: 100_000,
    entries: Array.from({ length: entries }, (_, i) => ({ term: 7, index: 100_001 + i, type: 0, data })),
    commit: 99_999,
    reject: false,
    rejectHint: 0,
    context: '',
    snapshotMeta: null,
  };
  return loadRaftProto().service.Stream.requestSerialize({ messages: [msg] });
}

function statusReport(count: number): Buffer {
  const updates = Array.from({ length: count }, (_, i) => ({
    taskId: `task${String(i).padStart(21, '0')}`,
    status: {
      state: 512,
      message: 'started',
      err: '',
      timestamp: 1_700_000_000_000 + i,
      containerId: 'c'.repeat(64),
      exitCode: 0,
      health: 2,
    },
  }));
  return loadDispatcherProto().service.UpdateTaskStatus.requestSerialize({ sessionId: 'session-0123456789abcdef', updates });
}

function run(name: string, file: string, typeName: string, method: { requestDeserialize: (b: Buffer) => unknown }, bytes: Buffer, decodeOnly: (b: Buffer) => unknown, seconds: number): void {
  const type = protoRoot(file).lookupType(typeName);
  if (checkWire(type, bytes) !== null) throw new Error(`${name}: the benchmark's own message is refused: ${checkWire(type, bytes)}`);
  if (isMalformedRequest(method.requestDeserialize(bytes))) throw new Error(`${name}: refused`);
  const checkUs = timeIt(() => checkWire(type, bytes), seconds);
  const decodeUs = timeIt(() => decodeOnly(bytes), seconds);
  const strictUs = timeIt(() => method.requestDeserialize(bytes), seconds);
  console.log(
    JSON.stringify({
      bench: 'strict-wire',
      case: name,
      bytes: bytes.length,
      checkUs: Number(checkUs.toFixed(1)),
      decodeUs: Number(decodeUs.toFixed(1)),
      strictDeserializeUs: Number(strictUs.toFixed(1)),
      checkMBps: Number((bytes.length / checkUs).toFixed(0)),
      checkShareOfDeserialize: Number((checkUs / strictUs).toFixed(3)),
    }),
  );
}

const seconds = parseSeconds(process.argv.slice(2));
// proto-loader's own deserializer (what every service used before), without the check.
const raftType = protoRoot('raft.proto').lookupType('flotilla.raft.MessageBatch');
const dispatcherType = protoRoot('dispatcher.proto').lookupType('flotilla.dispatcher.UpdateTaskStatusRequest');
const opts = { longs: Number, enums: Number, defaults: true, arrays: true, oneofs: true };
const plainRaft = (b: Buffer): unknown => raftType.toObject(raftType.decode(b), opts);
const plainDispatcher = (b: Buffer): unknown => dispatcherType.toObject(dispatcherType.decode(b), opts);

run('raft append 1000 x 1 KiB', 'raft.proto', 'flotilla.raft.MessageBatch', loadRaftProto().service.Stream, raftAppend(1000, 1024), plainRaft, seconds);
run('raft append 64 x 16 KiB', 'raft.proto', 'flotilla.raft.MessageBatch', loadRaftProto().service.Stream, raftAppend(64, 16 * 1024), plainRaft, seconds);
run('raft append 5000 x 64 B', 'raft.proto', 'flotilla.raft.MessageBatch', loadRaftProto().service.Stream, raftAppend(5000, 64), plainRaft, seconds);
run('UpdateTaskStatus 2000 statuses', 'dispatcher.proto', 'flotilla.dispatcher.UpdateTaskStatusRequest', loadDispatcherProto().service.UpdateTaskStatus, statusReport(2000), plainDispatcher, seconds);
