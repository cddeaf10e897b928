// The Raft transport: carries the core's messages between manager nodes over
// gRPC (proto/raft.proto).
//
// Sending: one bounded FIFO queue and one long-lived client-streaming call
// (`Stream`) per peer. send() only appends to queues, so it never blocks and
// never throws for a dead peer; a per-peer pump drains the queue into batches
// on that peer's own channel, so a slow or dead peer delays nobody else.
// Snapshots go on a separate `InstallSnapshot` call, in chunks, with their
// SHA-256 in the header.
//
// Receiving: service() gives the daemon the Raft service for its shared
// grpc.Server. Every message is validated by codec.fromProto before it reaches
// the handler.
import type { raft } from '../api/wire.js';
import { createHash, timingSafeEqual } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { pino, type Logger } from 'pino';
import { InvalidRequestError } from './errors.js';
import { MessageType } from './types.js';
import type { Message, NodeId } from './types.js';
import {
  MalformedMessageError,
  MAX_SNAPSHOT_BYTES,
  fromProto,
  loadRaftProto,
  snapshotHeaderFromProto,
  snapshotMetaToProto,
  toProto,
} from './codec.js';
import type { SnapshotHeader } from './codec.js';
import { isHostPort } from '../common/address.js';
import { withStrictWire } from '../common/strict-wire.js';
import { widenReceiveWindows } from './receive-window.js';

export interface RaftTransportHandler {
  /** Valid messages addressed to this node, in the order each peer sent them. */
  onMessages(ms: Message[]): void;
  /** A peer could not be reached, or messages to it were dropped: Raft should fall back to probing it. */
  onUnreachable(peer: NodeId): void;
  /** Outcome of one Snap message handed to send(): exactly one call per Snap message. */
  onSnapshotStatus(peer: NodeId, ok: boolean): void;
}

export interface RaftTransportOptions {
  id: NodeId;
  logger?: Logger;
  /** Per peer; when full, new messages to that peer are dropped. Default 4096. */
  maxQueuedMessages?: number;
  /** Per peer, estimated bytes of queued messages; when exceeded, new messages are dropped. Default 64 MiB. */
  maxQueuedBytes?: number;
  /** Largest gRPC message sent or received (channel limits). Default 64 MiB. */
  maxMessageBytes?: number;
  /** Size of the data chunks of a snapshot. Default 1 MiB. */
  snapshotChunkBytes?: number;
  /** Default: insecure. The daemon passes mutual TLS with the cluster CA. */
  credentials?: grpc.ChannelCredentials;
  /** Extra options for the channels to peers (e.g. the TLS target name). */
  channelOptions?: grpc.ChannelOptions;
  /** Reconnect delays, doubled after each failure, with jitter. Default 50..2000 ms. */
  backoff?: { initialMs: number; maxMs: number };
  /** Deadline of one InstallSnapshot call. Default 60 s plus 1 s per MiB of snapshot. */
  snapshotTimeoutMs?: number;
}

export interface PeerStatus {
  id: NodeId;
  address: string;
  /** Messages waiting in this peer's queue. */
  queued: number;
  /** Estimated bytes of the queued messages. */
  queuedBytes: number;
  /** The peer's server accepted the current stream. */
  connected: boolean;
  snapshotInFlight: boolean;
  /** Messages dropped since the peer was added (queue full, oversized). */
  dropped: number;
}

export const DEFAULT_MAX_QUEUED_MESSAGES = 4096;
export const DEFAULT_MAX_QUEUED_BYTES = 64 << 20;
export const DEFAULT_MAX_MESSAGE_BYTES = 64 << 20;
export const DEFAULT_SNAPSHOT_CHUNK_BYTES = 1 << 20;
export const DEFAULT_BACKOFF = { initialMs: 50, maxMs: 2000 } as const;
export const KEEPALIVE_TIME_MS = 10_000;
export const KEEPALIVE_TIMEOUT_MS = 5_000;

/**
 * Batches are cut at this size (unless one message alone is bigger) so that
 * they fit the default 4 MiB receive limit of a gRPC server that was not given
 * raftServerOptions().
 */
const BATCH_TARGET_BYTES = 4 << 20;
const MAX_BATCH_MESSAGES = 1024;
/** Batches handed to gRPC whose write has not completed yet; bounds what a stalled peer holds in gRPC buffers. */
const MAX_INFLIGHT_BATCHES = 2;
/** A stream the peer's server has not accepted (sent headers for) by then is abandoned and retried. */
const STREAM_ACCEPT_TIMEOUT_MS = 5_000;

/**
 * Options the daemon should give its shared grpc.Server so that Raft batches
 * and snapshot chunks fit, with the strict wire interceptor that the service's
 * strict request deserializers need (src/common/strict-wire.ts; a server that
 * sets its own interceptors passes them through withStrictWire()).
 */
export function raftServerOptions(maxMessageBytes: number = DEFAULT_MAX_MESSAGE_BYTES): grpc.ServerOptions {
  return withStrictWire({
    'grpc.max_receive_message_length': maxMessageBytes,
    'grpc.max_send_message_length': maxMessageBytes,
    'grpc.keepalive_time_ms': KEEPALIVE_TIME_MS,
    'grpc.keepalive_timeout_ms': KEEPALIVE_TIMEOUT_MS,
  });
}

function checkAddress(address: string): void {
  if (!isHostPort(address)) throw new InvalidRequestError(`raft transport: peer address must be host:port, got ${JSON.stringify(address)}`);
}

function checkPeerId(id: NodeId): void {
  if (typeof id !== 'string' || id.length === 0) throw new InvalidRequestError('raft transport: peer id must be a non-empty string');
}

/** Upper bound of a message's encoded size (protobuf overhead included). */
function estimateSize(m: Message): number {
  let n = 96 + 3 * (m.from.length + m.to.length + m.context.length);
  for (const e of m.entries) n += 48 + e.data.byteLength;
  return n;
}

const HASH_STEP_BYTES = 8 << 20;

/** SHA-256 of `data`, yielding to the event loop every few MiB so that a big snapshot does not stall heartbeats. */
async function sha256InSteps(data: Buffer): Promise<Buffer> {
  const h = createHash('sha256');
  for (let off = 0; off < data.length; off += HASH_STEP_BYTES) {
    if (off > 0) await new Promise<void>((resolve) => setImmediate(resolve));
    h.update(data.subarray(off, off + HASH_STEP_BYTES));
  }
  return h.digest();
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** A FIFO with O(1) push and shift. */
class Fifo<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(v: T): void {
    this.items.push(v);
  }

  peek(): T | undefined {
    return this.items[this.head];
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const v = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return v;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
  }
}

interface OutStream {
  call: grpc.ClientWritableStream<raft.MessageBatch__Output>;
  /** Batches written whose write callback has not fired. */
  inflight: number;
  /** write() returned false: waiting for 'drain'. */
  blocked: boolean;
  /**
   * The server accepted the stream (sent its headers). Nothing is written
   * before: messages stay in the bounded queue rather than vanish into a call
   * that fails, or pile up in gRPC's buffers for a peer that never answers.
   */
  ready: boolean;
}

interface OutSnapshot {
  /** Null while the digest is being computed. */
  call: grpc.ClientWritableStream<raft.SnapshotChunk__Output> | null;
  /** Fails the transfer (reported through onSnapshotStatus unless the peer is closed). */
  abort(): void;
}

class Peer {
  readonly queue = new Fifo<Message>();
  queuedBytes = 0;
  stream: OutStream | null = null;
  snapshot: OutSnapshot | null = null;
  retryTimer: NodeJS.Timeout | null = null;
  pumpScheduled = false;
  unreachableScheduled = false;
  connected = false;
  /** Dropping because the queue is full; cleared once it has drained to half. */
  overflowing = false;
  dropped = 0;
  closed = false;

  constructor(
    readonly id: NodeId,
    public address: string,
    public client: grpc.Client,
    /** Delay before the next reconnect attempt. */
    public backoffMs: number,
  ) {}
}

type ServerFinish = (err: Partial<grpc.StatusObject> | null) => void;

export class RaftTransport {
  readonly id: NodeId;
  private readonly log: Logger;
  private readonly handler: RaftTransportHandler;
  private readonly maxQueued: number;
  private readonly maxQueuedBytes: number;
  private readonly maxMessageBytes: number;
  private readonly batchBytes: number;
  private readonly chunkBytes: number;
  private readonly credentials: grpc.ChannelCredentials;
  private readonly backoff: { initialMs: number; maxMs: number };
  private readonly snapshotTimeoutMs: number | undefined;
  private readonly channelOptions: grpc.ChannelOptions;
  private readonly proto = loadRaftProto();
  private readonly streamMethod: grpc.MethodDefinition<raft.MessageBatch__Output, raft.StreamAck__Output>;
  private readonly snapshotMethod: grpc.MethodDefinition<raft.SnapshotChunk__Output, raft.StreamAck__Output>;
  private readonly peerMap = new Map<NodeId, Peer>();
  /** Incoming server calls still open, to end them on stop(). */
  private readonly incoming = new Set<ServerFinish>();
  private stopped = false;
  private windowWarned = false;

  constructor(opts: RaftTransportOptions, handler: RaftTransportHandler) {
    checkPeerId(opts.id);
    this.id = opts.id;
    this.handler = handler;
    this.log = (opts.logger ?? pino({ level: 'silent' })).child({ component: 'raft-transport', nodeId: opts.id });
    const positive = (v: number | undefined, dflt: number, name: string): number => {
      const n = v ?? dflt;
      if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidRequestError(`raft transport: ${name} must be a positive integer, got ${String(v)}`);
      return n;
    };
    this.maxQueued = positive(opts.maxQueuedMessages, DEFAULT_MAX_QUEUED_MESSAGES, 'maxQueuedMessages');
    this.maxQueuedBytes = positive(opts.maxQueuedBytes, DEFAULT_MAX_QUEUED_BYTES, 'maxQueuedBytes');
    this.maxMessageBytes = positive(opts.maxMessageBytes, DEFAULT_MAX_MESSAGE_BYTES, 'maxMessageBytes');
    this.batchBytes = Math.min(this.maxMessageBytes, BATCH_TARGET_BYTES);
    this.chunkBytes = positive(opts.snapshotChunkBytes, DEFAULT_SNAPSHOT_CHUNK_BYTES, 'snapshotChunkBytes');
    if (this.chunkBytes > this.maxMessageBytes - 64) throw new InvalidRequestError('raft transport: snapshotChunkBytes must leave room under maxMessageBytes');
    const backoff = opts.backoff ?? DEFAULT_BACKOFF;
    this.backoff = { initialMs: positive(backoff.initialMs, 50, 'backoff.initialMs'), maxMs: positive(backoff.maxMs, 2000, 'backoff.maxMs') };
    if (this.backoff.maxMs < this.backoff.initialMs) throw new InvalidRequestError('raft transport: backoff.maxMs must be at least backoff.initialMs');
    this.snapshotTimeoutMs = opts.snapshotTimeoutMs === undefined ? undefined : positive(opts.snapshotTimeoutMs, 1, 'snapshotTimeoutMs');
    this.credentials = opts.credentials ?? grpc.credentials.createInsecure();
    this.channelOptions = {
      'grpc.max_send_message_length': this.maxMessageBytes,
      'grpc.max_receive_message_length': this.maxMessageBytes,
      'grpc.keepalive_time_ms': KEEPALIVE_TIME_MS,
      'grpc.keepalive_timeout_ms': KEEPALIVE_TIMEOUT_MS,
      'grpc.keepalive_permit_without_calls': 1,
      // gRPC's own reconnect backoff (1 s up to 120 s by default) would
      // otherwise dominate ours: a peer that comes back must be found quickly.
      'grpc.initial_reconnect_backoff_ms': this.backoff.initialMs,
      'grpc.max_reconnect_backoff_ms': this.backoff.maxMs,
      // One connection per peer channel, closed with it.
      'grpc.use_local_subchannel_pool': 1,
      ...opts.channelOptions,
    };
    const stream = this.proto.service.Stream;
    const snapshot = this.proto.service.InstallSnapshot;
    if (!stream?.requestStream || stream.responseStream || !snapshot?.requestStream || snapshot.responseStream) {
      throw new Error('raft.proto: Stream and InstallSnapshot must be client-streaming');
    }
    this.streamMethod = stream as grpc.MethodDefinition<raft.MessageBatch__Output, raft.StreamAck__Output>;
    this.snapshotMethod = snapshot as grpc.MethodDefinition<raft.SnapshotChunk__Output, raft.StreamAck__Output>;
  }

  // ------------------------------------------------------------ peers

  /** Adds a peer, or changes its address if it is known under another one. */
  addPeer(id: NodeId, address: string): void {
    checkPeerId(id);
    checkAddress(address);
    if (this.stopped) return;
    const p = this.peerMap.get(id);
    if (p) {
      if (p.address !== address) this.updatePeer(id, address);
      return;
    }
    this.peerMap.set(id, new Peer(id, address, this.newClient(address), this.backoff.initialMs));
    this.log.info({ peer: id, address }, 'raft peer added');
  }

  /** Points a peer at a new address; queued messages are kept and sent there. Adds the peer if unknown. */
  updatePeer(id: NodeId, address: string): void {
    checkPeerId(id);
    checkAddress(address);
    if (this.stopped) return;
    const p = this.peerMap.get(id);
    if (!p) {
      this.addPeer(id, address);
      return;
    }
    if (p.address === address) return;
    this.log.info({ peer: id, from: p.address, address }, 'raft peer address changed');
    this.closeCalls(p);
    p.client.close();
    p.address = address;
    p.client = this.newClient(address);
    p.backoffMs = this.backoff.initialMs;
    this.schedulePump(p);
  }

  /** Forgets a peer: its queue is dropped and its calls and channel closed. */
  removePeer(id: NodeId): void {
    const p = this.peerMap.get(id);
    if (!p) return;
    this.peerMap.delete(id);
    this.closePeer(p);
    this.log.info({ peer: id }, 'raft peer removed');
  }

  peers(): PeerStatus[] {
    return [...this.peerMap.values()].map((p) => ({
      id: p.id,
      address: p.address,
      queued: p.queue.length,
      queuedBytes: p.queuedBytes,
      connected: p.connected,
      snapshotInFlight: p.snapshot !== null,
      dropped: p.dropped,
    }));
  }

  // ------------------------------------------------------------ sending

  /**
   * Queues messages for their destinations and returns at once. Never throws
   * for a dead or unknown peer: messages to unknown peers are dropped, and
   * messages to a peer whose queue is full are dropped with onUnreachable.
   */
  send(msgs: Message[]): void {
    if (this.stopped) {
      if (msgs.length > 0) this.log.debug({ count: msgs.length }, 'transport stopped: dropping messages');
      return;
    }
    for (const m of msgs) {
      const p = this.peerMap.get(m.to);
      if (!p) {
        this.log.debug({ to: m.to, type: MessageType[m.type] }, 'dropping message to unknown peer');
        continue;
      }
      if (m.type === MessageType.Snap) {
        this.sendSnapshot(p, m);
        continue;
      }
      const size = estimateSize(m);
      if (size > this.maxMessageBytes) {
        p.dropped++;
        this.log.warn({ peer: p.id, type: MessageType[m.type], bytes: size, max: this.maxMessageBytes }, 'dropping message larger than maxMessageBytes');
        this.scheduleUnreachable(p);
        continue;
      }
      if (p.queue.length >= this.maxQueued || p.queuedBytes + size > this.maxQueuedBytes) {
        p.dropped++;
        if (!p.overflowing) {
          p.overflowing = true;
          this.log.warn({ peer: p.id, queued: p.queue.length, queuedBytes: p.queuedBytes }, 'send queue full: dropping new messages to peer');
        }
        this.scheduleUnreachable(p);
        continue;
      }
      p.queue.push(m);
      p.queuedBytes += size;
      this.schedulePump(p);
    }
  }

  private newClient(address: string): grpc.Client {
    return new grpc.Client(address, this.credentials, this.channelOptions);
  }

  /** Pumps on a microtask, so that the messages of several send() calls in one turn share a batch. */
  private schedulePump(p: Peer): void {
    if (p.pumpScheduled) return;
    p.pumpScheduled = true;
    queueMicrotask(() => {
      p.pumpScheduled = false;
      this.pump(p);
    });
  }

  /** Writes queued messages to the peer's stream while it takes them. Runs from events: never throws. */
  private pump(p: Peer): void {
    try {
      this.pumpUnsafe(p);
    } catch (e) {
      this.log.error({ peer: p.id, err: errText(e) }, 'raft transport pump failed');
    }
  }

  private pumpUnsafe(p: Peer): void {
    if (p.closed || this.stopped || p.retryTimer !== null || p.queue.length === 0) return;
    const s = p.stream ?? this.openStream(p);
    while (p.queue.length > 0 && s.ready && !s.blocked && s.inflight < MAX_INFLIGHT_BATCHES && p.stream === s) {
      const batch: raft.Message__Output[] = [];
      let bytes = 0;
      while (batch.length < MAX_BATCH_MESSAGES) {
        const m = p.queue.peek();
        if (m === undefined) break;
        const size = estimateSize(m);
        if (batch.length > 0 && bytes + size > this.batchBytes) break;
        p.queue.shift();
        p.queuedBytes -= size;
        bytes += size;
        batch.push(toProto(m));
      }
      if (p.overflowing && p.queue.length <= this.maxQueued / 2) p.overflowing = false;
      s.inflight++;
      const more = s.call.write({ messages: batch }, () => {
        if (p.stream !== s) return;
        s.inflight--;
        this.pump(p);
      });
      if (!more) s.blocked = true;
    }
  }

  private openStream(p: Peer): OutStream {
    const m = this.streamMethod;
    const call = p.client.makeClientStreamRequest<raft.MessageBatch__Output, raft.StreamAck__Output>(
      m.path,
      m.requestSerialize,
      m.responseDeserialize,
      new grpc.Metadata(),
      {},
      (err) => this.onStreamEnd(p, s, err),
    );
    const s: OutStream = { call, inflight: 0, blocked: false, ready: false };
    p.stream = s;
    const acceptTimer = setTimeout(() => {
      if (p.stream !== s || s.ready) return;
      this.log.debug({ peer: p.id, address: p.address, ms: STREAM_ACCEPT_TIMEOUT_MS }, 'peer did not accept the raft stream in time: retrying');
      call.cancel(); // ends in onStreamEnd: unreachable, backoff, retry
      // The channel may be stuck in a TCP connect to a host that vanished (no
      // RST, SYN retries for minutes; grpc-js has no connect timeout): start
      // over with a new channel, so a peer that comes back is found at once.
      if (!p.closed && !this.stopped) {
        p.client.close();
        p.client = this.newClient(p.address);
      }
    }, STREAM_ACCEPT_TIMEOUT_MS);
    acceptTimer.unref();
    call.on('status', () => clearTimeout(acceptTimer));
    call.on('error', () => {
      // Reported through the callback above.
    });
    call.on('drain', () => {
      if (p.stream !== s) return;
      s.blocked = false;
      this.pump(p);
    });
    // The server sends its headers as soon as it accepts the stream: we are connected.
    call.on('metadata', () => {
      clearTimeout(acceptTimer);
      if (p.stream !== s) return;
      if (!p.connected) this.log.debug({ peer: p.id, address: p.address }, 'raft stream connected');
      p.connected = true;
      p.backoffMs = this.backoff.initialMs;
      s.ready = true;
      this.pump(p);
    });
    return s;
  }

  private onStreamEnd(p: Peer, s: OutStream, err: grpc.ServiceError | null): void {
    if (p.stream !== s) return; // closed by us
    p.stream = null;
    const wasConnected = p.connected;
    p.connected = false;
    if (p.closed || this.stopped) return;
    const delay = this.jitter(p.backoffMs);
    p.backoffMs = Math.min(p.backoffMs * 2, this.backoff.maxMs);
    const info = { peer: p.id, address: p.address, code: err?.code ?? grpc.status.OK, details: err?.details ?? 'stream closed by peer', retryInMs: delay };
    if (wasConnected) this.log.warn(info, 'raft stream to peer lost');
    else this.log.debug(info, 'raft stream to peer failed');
    // Whatever was written on the stream may be lost: Raft resends once it knows.
    this.scheduleUnreachable(p);
    p.retryTimer = setTimeout(() => {
      p.retryTimer = null;
      this.schedulePump(p);
    }, delay);
  }

  /** A delay in [base/2, base]: spreads the reconnects of many nodes. */
  private jitter(base: number): number {
    return Math.round(base / 2 + Math.random() * (base / 2));
  }

  private scheduleUnreachable(p: Peer): void {
    if (p.unreachableScheduled) return;
    p.unreachableScheduled = true;
    // Deferred: the handler is the Raft runtime, which may be inside send() right now.
    setImmediate(() => {
      p.unreachableScheduled = false;
      if (p.closed || this.stopped) return;
      this.callHandler('onUnreachable', () => this.handler.onUnreachable(p.id));
    });
  }

  private scheduleSnapshotStatus(p: Peer, ok: boolean): void {
    setImmediate(() => {
      if (p.closed || this.stopped) return;
      this.callHandler('onSnapshotStatus', () => this.handler.onSnapshotStatus(p.id, ok));
    });
  }

  private callHandler(what: string, f: () => void): void {
    try {
      f();
    } catch (e) {
      this.log.error({ err: errText(e) }, `raft transport handler ${what} threw`);
    }
  }

  // ------------------------------------------------------------ snapshots

  private sendSnapshot(p: Peer, m: Message): void {
    const snap = m.snapshot;
    if (!snap) {
      this.log.warn({ peer: p.id }, 'Snap message without a snapshot: dropped');
      this.scheduleSnapshotStatus(p, false);
      return;
    }
    if (p.snapshot) {
      this.log.warn({ peer: p.id, index: snap.meta.index }, 'a snapshot is already being sent to this peer: refusing another');
      this.scheduleSnapshotStatus(p, false);
      return;
    }
    const data = Buffer.from(snap.data.buffer, snap.data.byteOffset, snap.data.byteLength);
    const started = Date.now();
    let finished = false;
    const out: OutSnapshot = { call: null, abort: () => finish(new Error('cancelled')) };
    p.snapshot = out;
    const finish = (err: Error | null): void => {
      if (finished) return;
      finished = true;
      if (p.snapshot === out) p.snapshot = null;
      out.call?.cancel();
      const info = { peer: p.id, index: snap.meta.index, bytes: data.length, ms: Date.now() - started };
      if (err) this.log.warn({ ...info, err: err.message }, 'sending snapshot failed');
      else this.log.info(info, 'snapshot sent');
      this.scheduleSnapshotStatus(p, err === null);
    };
    this.log.info({ peer: p.id, index: snap.meta.index, term: snap.meta.term, bytes: data.length }, 'sending snapshot');
    sha256InSteps(data).then(
      (sha256) => {
        if (finished) return;
        const header: raft.SnapshotHeader__Output = {
          message: { ...toProto({ ...m, snapshot: null }), snapshotMeta: snapshotMetaToProto(snap.meta) },
          totalSize: data.length,
          sha256,
        };
        this.streamSnapshot(p, out, header, data, started, finish);
      },
      (e: unknown) => finish(e instanceof Error ? e : new Error(String(e))),
    );
  }

  /** Writes header, data chunks and trailer on one InstallSnapshot call, respecting backpressure. */
  private streamSnapshot(p: Peer, out: OutSnapshot, header: raft.SnapshotHeader__Output, data: Buffer, started: number, finish: (err: Error | null) => void): void {
    const method = this.snapshotMethod;
    const timeoutMs = this.snapshotTimeoutMs ?? 60_000 + Math.ceil(data.length / (1 << 20)) * 1000;
    let done = false;
    const call = p.client.makeClientStreamRequest<raft.SnapshotChunk__Output, raft.StreamAck__Output>(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      new grpc.Metadata(),
      { deadline: started + timeoutMs },
      (err) => {
        done = true;
        finish(err ? new Error(`${grpc.status[err.code] ?? err.code}: ${err.details}`) : null);
      },
    );
    out.call = call;
    call.on('error', () => {
      // Reported through the callback above.
    });
    let stage: 'header' | 'data' | 'trailer' | 'end' = 'header';
    let offset = 0;
    const writeMore = (): void => {
      while (!done && p.snapshot === out) {
        let chunk: raft.SnapshotChunk__Output;
        if (stage === 'header') {
          chunk = { header };
          stage = 'data';
        } else if (stage === 'data') {
          if (offset >= data.length) {
            stage = 'trailer';
            continue;
          }
          chunk = { data: data.subarray(offset, offset + this.chunkBytes) };
          offset += this.chunkBytes;
        } else if (stage === 'trailer') {
          chunk = { trailer: {} };
          stage = 'end';
        } else {
          call.end();
          return;
        }
        if (!call.write(chunk)) {
          call.once('drain', writeMore);
          return;
        }
      }
    };
    writeMore();
  }

  // ------------------------------------------------------------ receiving

  /** The Raft service, for the daemon's shared grpc.Server (see raftServerOptions()). */
  service(): { definition: grpc.ServiceDefinition; implementation: grpc.UntypedServiceImplementation } {
    const implementation: grpc.UntypedServiceImplementation = {
      Stream: (call: grpc.ServerReadableStream<raft.MessageBatch__Output, raft.StreamAck__Output>, callback: grpc.sendUnaryData<raft.StreamAck__Output>) => this.serveStream(call, callback),
      InstallSnapshot: (call: grpc.ServerReadableStream<raft.SnapshotChunk__Output, raft.StreamAck__Output>, callback: grpc.sendUnaryData<raft.StreamAck__Output>) =>
        this.serveSnapshot(call, callback),
    };
    return { definition: this.proto.service, implementation };
  }

  /** Common bookkeeping of an incoming call: answers exactly once, and once more on stop(). */
  private serverCall<Req>(call: grpc.ServerReadableStream<Req, raft.StreamAck__Output>, callback: grpc.sendUnaryData<raft.StreamAck__Output>): { finish: ServerFinish; done: () => boolean } | null {
    if (this.stopped) {
      callback({ code: grpc.status.UNAVAILABLE, details: 'raft transport stopped' });
      return null;
    }
    let done = false;
    const finish: ServerFinish = (err) => {
      if (done) return;
      done = true;
      this.incoming.delete(finish);
      if (err) callback(err);
      else callback(null, {});
    };
    this.incoming.add(finish);
    const forget = (): void => {
      done = true;
      this.incoming.delete(finish);
    };
    call.on('error', forget);
    call.on('cancelled', forget);
    return { finish, done: () => done };
  }

  /** Incoming Raft calls must not be throttled by HTTP/2's default 64 KiB windows (see receive-window.ts). */
  private widenWindows(call: object): void {
    const r = widenReceiveWindows(call);
    if (r === 'unavailable' && !this.windowWarned) {
      this.windowWarned = true;
      this.log.warn('cannot widen the HTTP/2 receive windows of incoming raft streams (grpc-js internals changed?): large appends will be slow on a busy follower');
    }
  }

  private serveStream(call: grpc.ServerReadableStream<raft.MessageBatch__Output, raft.StreamAck__Output>, callback: grpc.sendUnaryData<raft.StreamAck__Output>): void {
    const sc = this.serverCall(call, callback);
    if (!sc) return;
    this.widenWindows(call);
    const remote = call.getPeer();
    call.sendMetadata(new grpc.Metadata());
    call.on('data', (batch: raft.MessageBatch__Output) => {
      if (sc.done()) return;
      const raw: unknown = (batch as unknown as { messages?: unknown } | null)?.messages;
      if (!Array.isArray(raw)) {
        sc.finish({ code: grpc.status.INVALID_ARGUMENT, details: 'MessageBatch without messages' });
        return;
      }
      const ok: Message[] = [];
      let malformed = 0;
      let firstError = '';
      let misaddressed = 0;
      for (const p of raw as raft.Message__Output[]) {
        let m: Message;
        try {
          m = fromProto(p);
        } catch (e) {
          malformed++;
          if (!firstError) firstError = e instanceof MalformedMessageError ? e.message : `unexpected error: ${errText(e)}`;
          continue;
        }
        if (m.to !== this.id) {
          misaddressed++;
          continue;
        }
        ok.push(m);
      }
      if (malformed > 0) this.log.warn({ remote, malformed, of: raw.length, err: firstError }, 'dropped malformed raft messages');
      if (misaddressed > 0) this.log.warn({ remote, misaddressed, of: raw.length }, 'dropped raft messages addressed to another node');
      if (malformed > 0 && malformed === raw.length) {
        // Our own senders never produce a malformed message: a batch of nothing
        // else comes from something that does not speak this protocol.
        sc.finish({ code: grpc.status.INVALID_ARGUMENT, details: `malformed raft messages: ${firstError}` });
        return;
      }
      if (ok.length > 0) this.callHandler('onMessages', () => this.handler.onMessages(ok));
    });
    call.on('end', () => sc.finish(null));
  }

  private serveSnapshot(call: grpc.ServerReadableStream<raft.SnapshotChunk__Output, raft.StreamAck__Output>, callback: grpc.sendUnaryData<raft.StreamAck__Output>): void {
    const sc = this.serverCall(call, callback);
    if (!sc) return;
    this.widenWindows(call);
    const remote = call.getPeer();
    let header: SnapshotHeader | null = null;
    const hash = createHash('sha256');
    const parts: Buffer[] = [];
    let received = 0;
    const reject = (code: grpc.status, details: string): void => {
      this.log.warn({ remote, from: header?.message.from, details }, 'rejected incoming snapshot');
      parts.length = 0;
      sc.finish({ code, details });
    };
    call.on('data', (chunk: raft.SnapshotChunk__Output) => {
      if (sc.done()) return;
      const c = chunk as unknown as Record<string, unknown> | null;
      const kind = c?.chunk ?? (c?.header ? 'header' : c?.data ? 'data' : c?.trailer ? 'trailer' : undefined);
      try {
        if (kind === 'header') {
          if (header) return reject(grpc.status.INVALID_ARGUMENT, 'snapshot stream: second header');
          const h = snapshotHeaderFromProto(c?.header as raft.SnapshotHeader__Output, MAX_SNAPSHOT_BYTES);
          if (h.message.to !== this.id) return reject(grpc.status.FAILED_PRECONDITION, `snapshot addressed to ${h.message.to}, this node is ${this.id}`);
          header = h;
        } else if (kind === 'data') {
          if (!header) return reject(grpc.status.INVALID_ARGUMENT, 'snapshot stream: data before the header');
          const d = c?.data;
          if (!(d instanceof Uint8Array)) return reject(grpc.status.INVALID_ARGUMENT, 'snapshot stream: data chunk is not bytes');
          received += d.byteLength;
          if (received > header.totalSize) return reject(grpc.status.INVALID_ARGUMENT, `snapshot stream: more than the announced ${header.totalSize} bytes`);
          hash.update(d);
          parts.push(Buffer.isBuffer(d) ? d : Buffer.from(d.buffer, d.byteOffset, d.byteLength));
        } else if (kind === 'trailer') {
          if (!header) return reject(grpc.status.INVALID_ARGUMENT, 'snapshot stream: trailer before the header');
          if (received !== header.totalSize) return reject(grpc.status.INVALID_ARGUMENT, `snapshot stream: got ${received} bytes, the header announced ${header.totalSize}`);
          const digest = hash.digest();
          if (!timingSafeEqual(digest, header.sha256)) return reject(grpc.status.DATA_LOSS, 'snapshot stream: SHA-256 mismatch');
          const data = Buffer.concat(parts, received);
          parts.length = 0;
          const m = header.message;
          const snapshot = { meta: m.snapshot!.meta, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
          this.log.info({ from: m.from, index: snapshot.meta.index, term: snapshot.meta.term, bytes: received }, 'snapshot received');
          this.callHandler('onMessages', () => this.handler.onMessages([{ ...m, snapshot }]));
          sc.finish(null);
        } else {
          return reject(grpc.status.INVALID_ARGUMENT, 'snapshot stream: empty chunk');
        }
      } catch (e) {
        if (e instanceof MalformedMessageError) return reject(grpc.status.INVALID_ARGUMENT, e.message);
        this.log.error({ remote, err: errText(e) }, 'unexpected error in InstallSnapshot');
        return reject(grpc.status.INTERNAL, 'unexpected error');
      }
    });
    call.on('end', () => {
      if (!sc.done()) reject(grpc.status.INVALID_ARGUMENT, 'snapshot stream ended before its trailer');
    });
  }

  // ------------------------------------------------------------ shutdown

  private closeCalls(p: Peer): void {
    if (p.retryTimer) clearTimeout(p.retryTimer);
    p.retryTimer = null;
    const s = p.stream;
    p.stream = null;
    p.connected = false;
    s?.call.cancel();
    // An in-flight snapshot fails, which is reported (unless the peer is closed).
    p.snapshot?.abort();
  }

  private closePeer(p: Peer): void {
    p.closed = true;
    this.closeCalls(p);
    p.queue.clear();
    p.queuedBytes = 0;
    p.client.close();
  }

  /** Closes every outgoing call and channel and ends incoming calls. Messages still queued are dropped. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const p of this.peerMap.values()) this.closePeer(p);
    this.peerMap.clear();
    for (const finish of [...this.incoming]) finish({ code: grpc.status.UNAVAILABLE, details: 'raft transport stopped' });
    this.incoming.clear();
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}
