// HTTP/2 receive windows for the Raft streams a manager serves.
//
// A follower's gRPC server advertises Node's default HTTP/2 windows (64 KiB
// per stream and per connection), and Node only opens a window again once the
// JavaScript side has consumed what arrived. A follower busy applying
// transactions takes one event-loop turn per 64 KiB, so megabytes of appended
// entries trickled in over seconds, and the leader's heartbeats, queued behind
// them, arrived too late: elections under load. grpc-js has no server option
// for the windows, so the Raft service widens them on the HTTP/2 session of
// each incoming Raft call, once per session.
//
// This reaches under grpc-js's public API (see common/grpc-internals.ts); when
// the shape is not the expected one, it does nothing and the defaults stay.
import type * as http2 from 'node:http2';
import { http2StreamOf } from '../common/grpc-internals.js';

/** Per-stream window advertised to the peer (bytes). */
export const RAFT_STREAM_WINDOW_BYTES = 16 << 20;
/** Connection-level window (bytes): several streams' worth. */
export const RAFT_CONNECTION_WINDOW_BYTES = 64 << 20;

const widened = new WeakSet<object>();

interface SessionLike {
  setLocalWindowSize(size: number): void;
  settings(settings: http2.Settings): void;
  destroyed: boolean;
}

function isSession(x: unknown): x is SessionLike {
  return typeof x === 'object' && x !== null && typeof (x as SessionLike).setLocalWindowSize === 'function' && typeof (x as SessionLike).settings === 'function';
}

/** The HTTP/2 session under a grpc-js server call (through its interceptor chain), if it can be found. */
export function http2SessionOf(call: unknown): SessionLike | undefined {
  const session = http2StreamOf(call)?.session;
  return isSession(session) ? session : undefined;
}

/** Widen the receive windows of the session a Raft call arrived on, once per session. */
export function widenReceiveWindows(call: unknown): 'widened' | 'already' | 'unavailable' {
  const session = http2SessionOf(call);
  if (!session || session.destroyed) return 'unavailable';
  if (widened.has(session)) return 'already';
  widened.add(session);
  try {
    session.setLocalWindowSize(RAFT_CONNECTION_WINDOW_BYTES);
    session.settings({ initialWindowSize: RAFT_STREAM_WINDOW_BYTES });
    return 'widened';
  } catch {
    return 'unavailable';
  }
}
