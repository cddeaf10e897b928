// Control.SubscribeLogs on every manager. The leader's broker reads the lines
// itself; a follower relays the leader's stream. Either way, when the
// leader is lost during the stream (killed, or it stepped down), this
// manager subscribes again at the next one from where each task's lines
// stopped (cursors), so the client's stream goes on, each line once. A call
// forwarded by another manager is served only by the leader (the forwarder
// retries elsewhere). Waiting for a leader lasts at most MAX_WAIT_MS at a
// time.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { loadControlProto } from '../../api/proto.js';
import type { control } from '../../api/wire.js';
import { FORWARDED_HEADER } from '../controlapi/proxy.js';
import { ApiError } from '../grpc-status.js';
import type { PeerClients } from '../peer-clients.js';
import type { LogBroker, LogSink } from './broker.js';
import { MAX_QUEUED_MESSAGES } from './broker.js';
import { LogCursors } from './cursors.js';
import { resubscribeAfter, routeLogs } from './route.js';
import { checkLogRequest, type LogRequest } from './select.js';

const MAX_WAIT_MS = 15_000;
const RETRY_MS = 200;

type Call = grpc.ServerWritableStream<control.SubscribeLogsRequest__Output, control.SubscribeLogsMessage__Output>;

export interface SubscribeLogsOptions {
  /** The running broker (on the leader), or null. */
  broker: () => LogBroker | null;
  leaderAddress: () => string;
  selfAddress: string;
  peers: PeerClients;
  /** The gRPC status of an error (the Control API's mapping). */
  toStatus: (err: unknown) => Partial<grpc.StatusObject>;
  log?: Logger;
}

/** How one attempt ended: the stream is complete, or failed with a status. */
type Outcome = { kind: 'end' } | { kind: 'failed'; status: Partial<grpc.StatusObject> & { code: grpc.status } };

export function subscribeLogsHandler(o: SubscribeLogsOptions): grpc.handleServerStreamingCall<control.SubscribeLogsRequest__Output, control.SubscribeLogsMessage__Output> {
  return (call: Call) => {
    void serve(o, call).catch((err: unknown) => fail(call, o.toStatus(err)));
  };
}

function fail(call: Call, status: Partial<grpc.StatusObject>): void {
  call.emit('error', { code: status.code ?? grpc.status.UNKNOWN, details: status.details ?? 'failed', metadata: status.metadata ?? new grpc.Metadata() });
}

async function serve(o: SubscribeLogsOptions, call: Call): Promise<void> {
  const req = checkLogRequest(call.request);
  const forwarded = call.metadata.get(FORWARDED_HEADER).length > 0;
  const cursors = new LogCursors(req.resume);
  let cancelled = false;
  let abort: (() => void) | null = null;
  call.on('cancelled', () => {
    cancelled = true;
    abort?.();
  });
  /** Relays what an attempt got, each line once. */
  const forward = (msg: control.SubscribeLogsMessage__Output): void => {
    const lines = msg.lines.filter((l) => cursors.admit(l));
    if (lines.length > 0 || msg.tasks.length > 0 || msg.warnings.length > 0) call.write({ tasks: msg.tasks, lines, warnings: msg.warnings });
  };
  let waitingSince = 0;
  while (!cancelled) {
    const broker = o.broker();
    const route = routeLogs({ leading: broker?.isRunning === true, leaderAddress: o.leaderAddress(), selfAddress: o.selfAddress, forwarded });
    let outcome: Outcome | null = null;
    const attempt: LogRequest = { ...req, resume: cursors.list() };
    if (route.kind === 'local' && broker) {
      outcome = await local(broker, attempt, call, forward, (a) => (abort = a));
    } else if (route.kind === 'forward') {
      outcome = await relay(o, route.address, attempt, call, forward, (a) => (abort = a));
    } else if (route.kind === 'refuse') {
      throw new ApiError(grpc.status.UNAVAILABLE, 'this manager is no longer the leader: retry');
    }
    abort = null;
    if (cancelled) return;
    if (outcome?.kind === 'end') {
      call.end();
      return;
    }
    if (outcome && !(resubscribeAfter(outcome.status.code) && !forwarded)) {
      fail(call, outcome.status);
      return;
    }
    // No leader, or the leader went away: wait for the next one, then subscribe again from the cursors.
    if (outcome) {
      o.log?.info({ target: req.target, why: outcome.status.details }, 'log stream interrupted: subscribing again at the next leader');
      waitingSince = 0;
    }
    waitingSince ||= Date.now();
    if (Date.now() - waitingSince > MAX_WAIT_MS) {
      throw new ApiError(grpc.status.UNAVAILABLE, 'no leader elected right now (an election, or no majority of managers up): retry, and check the managers with `flotilla cluster info`');
    }
    await new Promise((r) => setTimeout(r, RETRY_MS));
  }
}

/** One subscription at this (leader) manager's broker. */
function local(broker: LogBroker, req: LogRequest, call: Call, forward: (m: control.SubscribeLogsMessage__Output) => void, onAbort: (a: () => void) => void): Promise<Outcome> {
  return new Promise((resolve) => {
    const sink: LogSink = {
      send: forward,
      congested: () => call.writableLength >= MAX_QUEUED_MESSAGES,
      end: () => resolve({ kind: 'end' }),
      fail: (code, details) => resolve({ kind: 'failed', status: { code, details } }),
    };
    const cancel = broker.subscribe(req, sink);
    onAbort(() => {
      cancel();
      resolve({ kind: 'end' });
    });
  });
}

/** One subscription relayed from the leader at `address`. */
function relay(
  o: SubscribeLogsOptions,
  address: string,
  req: LogRequest,
  call: Call,
  forward: (m: control.SubscribeLogsMessage__Output) => void,
  onAbort: (a: () => void) => void,
): Promise<Outcome> {
  const def = loadControlProto().service.SubscribeLogs as grpc.MethodDefinition<control.SubscribeLogsRequest, control.SubscribeLogsMessage__Output>;
  const md = new grpc.Metadata();
  md.set(FORWARDED_HEADER, o.selfAddress);
  const wire: control.SubscribeLogsRequest = { target: req.target, follow: req.follow, hasTail: req.tail !== undefined, tail: req.tail ?? 0, sinceMs: req.sinceMs, resume: req.resume };
  return new Promise((resolve) => {
    const stream = o.peers.controlClient(address).makeServerStreamRequest(def.path, def.requestSerialize, def.responseDeserialize, wire, md, {});
    let done = false;
    const finish = (out: Outcome): void => {
      if (done) return;
      done = true;
      resolve(out);
    };
    stream.on('data', (m: control.SubscribeLogsMessage__Output) => {
      forward(m);
      // The client reads slowly: stop reading the leader's stream (its broker drops lines then) until it catches up.
      if (call.writableLength >= MAX_QUEUED_MESSAGES) {
        stream.pause();
        call.once('drain', () => stream.resume());
      }
    });
    stream.on('error', (err: grpc.ServiceError) => finish({ kind: 'failed', status: { code: err.code, details: err.details, metadata: err.metadata } }));
    stream.on('status', (s: grpc.StatusObject) => {
      if (s.code === grpc.status.OK) finish({ kind: 'end' });
    });
    onAbort(() => {
      stream.cancel();
      finish({ kind: 'end' });
    });
  });
}
