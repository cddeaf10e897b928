// The Control API's Events call (server streaming) on one manager: the
// journal's past events the request asks for, then live ones, written as the
// client reads them. Never forwarded to the leader: this manager's journal is
// the cluster's history as its log applied it.
//
// The queue of events waiting for the client is bounded: a client that falls
// more than MAX_QUEUED live events behind (it stopped reading, or reads slower
// than the cluster changes) is cut off with RESOURCE_EXHAUSTED and a message
// that says how to resume, rather than the manager holding its backlog.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { eventsRequestFromProto, eventToProto, type ClusterEvent } from '../../api/events.js';
import type { control } from '../../api/wire.js';
import { toGrpcStatus } from '../grpc-status.js';
import type { EventJournal } from './journal.js';

export const MAX_QUEUED = 1_000;

export interface EventsStreamOptions {
  journal: EventJournal;
  now?: () => number;
  /** Live events a client may lag behind before it is cut off. */
  maxQueued?: number;
  log?: Logger;
}

type EventsCall = grpc.ServerWritableStream<control.EventsRequest__Output, control.Event__Output>;

export function eventsHandler(o: EventsStreamOptions): (call: EventsCall) => void {
  const now = o.now ?? Date.now;
  const maxQueued = o.maxQueued ?? MAX_QUEUED;
  return (call) => {
    let query;
    try {
      query = eventsRequestFromProto(call.request);
    } catch (err) {
      call.emit('error', toGrpcStatus(err));
      return;
    }
    const pending: ClusterEvent[] = [];
    /** How many of `pending` are past events (they are first): only live ones count against maxQueued. */
    let pastLeft = 0;
    let blocked = false;
    let ending = false;
    let done = false;
    let timer: NodeJS.Timeout | null = null;

    /** Stop following; end the call with `status`, or OK, or (the client went away) not at all. */
    const finish = (status?: { code: grpc.status; details: string } | 'gone'): void => {
      if (done) return;
      done = true;
      sub.unsubscribe();
      if (timer) clearTimeout(timer);
      pending.length = 0;
      if (status === 'gone') return;
      if (status) call.emit('error', { ...status, metadata: new grpc.Metadata() });
      else call.end();
    };
    const flush = (): void => {
      while (!done && !blocked && pending.length > 0) {
        const ev = pending.shift() as ClusterEvent;
        if (pastLeft > 0) pastLeft--;
        if (!call.write(eventToProto(ev))) blocked = true;
      }
      if (!done && ending && pending.length === 0) finish();
    };
    const sub = o.journal.subscribe(
      query,
      (ev) => {
        if (done) return;
        pending.push(ev);
        if (pending.length - pastLeft > maxQueued) {
          o.log?.warn({ maxQueued }, 'events: a reader fell behind; cutting it off');
          finish({
            code: grpc.status.RESOURCE_EXHAUSTED,
            details: `this events reader fell more than ${maxQueued} events behind the cluster and was cut off: read faster, narrow it with --filter, or resume with --since`,
          });
          return;
        }
        flush();
      },
      () => finish({ code: grpc.status.UNAVAILABLE, details: 'the manager is stopping: run the command again against another manager (--host)' }),
    );
    call.on('drain', () => {
      blocked = false;
      flush();
    });
    call.on('cancelled', () => finish('gone'));
    call.on('close', () => finish('gone'));
    for (const ev of sub.past) pending.push(ev);
    pastLeft = pending.length;
    if (query.untilMs !== undefined) {
      const wait = query.untilMs - now();
      if (wait <= 0) ending = true;
      // Timers take at most 2^31-1 ms; a later until ends when the client cancels.
      else if (wait < 2 ** 31) timer = setTimeout(() => {
        ending = true;
        flush();
      }, wait + 1);
    }
    flush();
  };
}
