// The manager's own Control API (src/manager/controlapi over an in-memory
// store, controlapi/fixtures.ts) served over gRPC on a unix socket, and the
// CLI run against it in-process: for CLI tests that check what the real
// manager does with what the CLI sends.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { main } from '../../src/cli/main.js';
import { CONTROL_LEADER_METHODS, loadControlProto } from '../../src/api/proto.js';
import { EventJournal } from '../../src/manager/events/journal.js';
import { eventsHandler } from '../../src/manager/events/stream.js';
import { withStrictWire } from '../../src/common/strict-wire.js';
import { toGrpcStatus } from '../../src/manager/grpc-status.js';
import { controlHarness, type ControlHarness } from '../manager/controlapi/fixtures.js';

export interface CliRun {
  code: number;
  out: string;
  err: string;
}

export interface ManagerServer {
  manager: ControlHarness;
  /** The events of the manager's store (the Events call). */
  events: EventJournal;
  /** The data dir whose control.sock the manager listens on. */
  dir: string;
  /** `flotilla --data-dir DIR ARGV...`; `stdin`: what `-` reads. */
  cli(argv: readonly string[], stdin?: Buffer): Promise<CliRun>;
  /** cli(), which must succeed without a word on stderr; its stdout. */
  ok(argv: readonly string[], stdin?: Buffer): Promise<string>;
  stop(): Promise<void>;
}

/** `now`: the CLI's clock (for its relative times). */
export async function startManagerServer(now: () => number, prefix = 'flotilla-cli-mgr-'): Promise<ManagerServer> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const manager = controlHarness();
  const server = new grpc.Server(withStrictWire());
  const impl: grpc.UntypedServiceImplementation = {};
  const events = new EventJournal(manager.local.store, now);
  events.start();
  for (const method of CONTROL_LEADER_METHODS) {
    impl[method] = (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      const handler = manager.control[method] as (req: unknown) => Promise<unknown>;
      handler.call(manager.control, call.request).then(
        (res) => cb(null, res),
        (err: unknown) => cb(toGrpcStatus(err)),
      );
    };
  }
  impl.Events = eventsHandler({ journal: events, now });
  server.addService(loadControlProto().service, impl);
  const socket = join(dir, 'control.sock');
  await new Promise<void>((resolve, reject) => server.bindAsync(`unix://${socket}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
  const cli = async (argv: readonly string[], stdin?: Buffer): Promise<CliRun> => {
    let out = '';
    let err = '';
    const input = async function* (): AsyncGenerator<Uint8Array> {
      if (stdin) yield stdin;
    };
    const io = { out: (s: string) => void (out += s), err: (s: string) => void (err += s), env: {}, now, stdin: input };
    const code = await main(['--data-dir', dir, ...argv], io);
    return { code, out, err };
  };
  return {
    manager,
    events,
    dir,
    cli,
    ok: async (argv, stdin) => {
      const r = await cli(argv, stdin);
      assert.equal(r.err, '', `${argv.join(' ')}: nothing on stderr`);
      assert.equal(r.code, 0);
      return r.out;
    },
    stop: async () => {
      events.stop();
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
