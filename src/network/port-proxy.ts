// The mesh's userland L4 proxy for one published port: it listens on
// host:port (TCP or UDP) and forwards each connection, or each UDP flow, to a
// backend chosen by the load-balancing policy (lb.ts), optionally announcing
// the client's real address with a PROXY protocol header (proxy-protocol.ts).
//
// The backend set is replaced live (setBackends): new connections use the new
// set while the connections already open keep their backend, which is what
// lets a task that is leaving the set drain.
//
// TCP: a backend that refuses (or does not answer within the connect timeout)
// is left for the next pick, and ejected for a while so that the connections
// after it do not try it first (passive health checking). Bytes flow by
// socket.pipe, which brings backpressure both ways at no per-chunk cost of our
// own. The proxy runs with half-open sockets, so a client that finishes
// sending (FIN) still gets the rest of the reply.
//
// UDP: a flow per client address and port; its first datagram picks the
// backend and opens a socket connected to it, whose replies go back to the
// client from the listening socket. Flows idle out, swept by one timer.
//
// Nothing is logged per connection above debug: this sits on the data path
// and is measured against HAProxy.
import { createServer, connect, isIPv6, type AddressInfo, type Server, type Socket } from 'node:net';
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { pino, type Logger } from 'pino';
import { connectionClosed, connectionOpened, newLbState, pick, type Backend, type Exclusion, type LbPolicy, type LbState } from './lb.js';
import { encodeProxyHeader, encodeProxyV2, type ProxyProtocolVersion } from './proxy-protocol.js';

export type { Backend, LbPolicy } from './lb.js';
export type { ProxyProtocolVersion } from './proxy-protocol.js';

export type PortProtocol = 'tcp' | 'udp';

export interface PortProxyOptions {
  /** The address to listen on ('0.0.0.0', '::', or one address). */
  host: string;
  /** The port to listen on; 0 picks a free one (see address()). */
  port: number;
  protocol: PortProtocol;
  /** TCP: how long a backend may take to accept a connection before the next one is tried. Default 2000 ms. */
  connectTimeoutMs?: number;
  /** How long a backend that failed to connect is skipped by new connections. Default 5000 ms. */
  ejectMs?: number;
  /** UDP: a flow with no datagram either way for this long is closed (within a quarter more). Default 30 s. */
  udpIdleTimeoutMs?: number;
  /** UDP: the most flows (each holds a socket) at once; datagrams that would open more are dropped. Default 16384. */
  maxUdpFlows?: number;
  /** Where the 'random' policy draws from. Default Math.random. */
  rng?: () => number;
  logger?: Logger;
}

export interface BackendSetOptions {
  policy: LbPolicy;
  /** Announce the client with a PROXY protocol header. UDP takes 'v2' only ('v1' has no UDP and is ignored there). */
  proxyProtocol?: ProxyProtocolVersion | undefined;
}

export interface PortProxyStats {
  /** Connections (TCP: connecting or open; UDP: live flows) to each backend, by id. Those drained from the set count until they close. */
  active: Record<string, number>;
  /** TCP connections accepted, or UDP flows opened, since start. */
  accepted: number;
  /** Backend connection attempts that failed (refused, timed out, unreachable; UDP: refused). */
  connectFailures: number;
  /** Clients turned away for want of a backend (TCP connections closed, UDP datagrams dropped). */
  noBackend: number;
  /** Ids of the backends ejected now. */
  ejected: string[];
  /** UDP flows live now. */
  flows: number;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 2000;
const DEFAULT_EJECT_MS = 5000;
/** A backend that closes a connection this soon after accepting it, without a byte, is ejected (onUpstreamClose). */
const SILENT_CLOSE_MS = 1000;
const DEFAULT_UDP_IDLE_MS = 30_000;
const DEFAULT_MAX_UDP_FLOWS = 16384;
/** Datagrams held for a flow whose backend socket is not connected yet; more are dropped, as a network would. */
const MAX_PENDING_DATAGRAMS = 64;
/** The sweep runs this many times per idle timeout: a flow expires between 1 and 1 + 1/SWEEPS idle timeouts. */
const SWEEPS_PER_IDLE = 4;
/** close() waits at most this long for the listener to let go. */
const CLOSE_BOUND_MS = 2000;

/** One TCP client connection and its current backend attempt (or connection). */
interface Relay {
  client: Socket;
  upstream: Socket | undefined;
  /** The backend of `upstream`, counted in the lb's active counts while set. */
  backend: Backend | undefined;
  connected: boolean;
  /** The PROXY protocol version in force when the backend was picked. */
  proxyProtocol: ProxyProtocolVersion | undefined;
  /** Backends this connection already failed to reach. */
  tried: Set<string> | undefined;
  /** When the backend connected (performance.now()), and whether it has sent a byte since. */
  connectedAt: number;
  answered: boolean;
}

/** One UDP client (address and port) and its socket to its backend. */
interface Flow {
  address: string;
  port: number;
  backend: Backend;
  socket: UdpSocket;
  /** False until the socket is connected; datagrams wait in `pending` meanwhile. */
  ready: boolean;
  pending: Buffer[];
  /** The v2 header prepended to every datagram to the backend, or undefined. */
  header: Buffer | undefined;
  /** The sweep tick of the last datagram either way. */
  seen: number;
  closed: boolean;
}

type State = 'new' | 'starting' | 'listening' | 'closed';

export class PortProxy {
  private readonly host: string;
  private readonly port: number;
  private readonly protocol: PortProtocol;
  private readonly connectTimeoutMs: number;
  private readonly ejectMs: number;
  private readonly udpIdleTimeoutMs: number;
  private readonly maxUdpFlows: number;
  private readonly rng: () => number;
  private readonly log: Logger;

  private state: State = 'new';
  private backends: readonly Backend[] = [];
  private policy: LbPolicy = 'round-robin';
  private proxyProtocol: ProxyProtocolVersion | undefined;
  private readonly lb: LbState = newLbState();
  /** Ejected backend ids and when (performance.now()) their ejection ends. */
  private readonly ejectedUntil = new Map<string, number>();
  private readonly ejectedExclusion: Exclusion = { has: (id) => this.isEjected(id) };
  private readonly counters = { accepted: 0, connectFailures: 0, noBackend: 0 };

  // TCP
  private server: Server | undefined;
  /** Every client and backend socket open, for close(). */
  private readonly sockets = new Set<Socket>();
  private readonly untrack: (this: Socket) => void;

  // UDP
  private listener: UdpSocket | undefined;
  private listenAddress: { address: string; port: number } | undefined;
  /** Flows by client address, then port: two lookups and no key string to build per datagram. */
  private readonly flows = new Map<string, Map<number, Flow>>();
  private flowCount = 0;
  private tick = 0;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(options: PortProxyOptions) {
    this.host = options.host;
    this.port = options.port;
    this.protocol = options.protocol;
    this.connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.ejectMs = options.ejectMs ?? DEFAULT_EJECT_MS;
    this.udpIdleTimeoutMs = options.udpIdleTimeoutMs ?? DEFAULT_UDP_IDLE_MS;
    this.maxUdpFlows = options.maxUdpFlows ?? DEFAULT_MAX_UDP_FLOWS;
    this.rng = options.rng ?? Math.random;
    this.log = (options.logger ?? pino({ level: 'silent' })).child({ component: 'mesh-proxy', listen: `${this.protocol} ${hostPort(this.host, this.port)}` });
    const sockets = this.sockets;
    // One listener shared by every socket (`this` is the socket), rather than a closure each.
    this.untrack = function (this: Socket) {
      sockets.delete(this);
    };
  }

  /** Binds host:port. Rejects, with a one-line message naming host:port, when it cannot (EADDRINUSE, EACCES, ...). */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`mesh proxy ${this.protocol} ${hostPort(this.host, this.port)}: start() called twice`);
    this.state = 'starting';
    try {
      if (this.protocol === 'tcp') await this.listenTcp();
      else await this.listenUdp();
    } catch (err) {
      this.state = 'closed';
      const code = (err as NodeJS.ErrnoException).code;
      const e = new Error(`mesh proxy cannot listen on ${this.protocol} ${hostPort(this.host, this.port)}: ${code ?? (err as Error).message}`, { cause: err });
      (e as NodeJS.ErrnoException).code = code;
      throw e;
    }
    this.state = 'listening';
    this.log.debug('listening');
  }

  /** The address bound (the port chosen when 0 was asked for); undefined before start(). */
  address(): { address: string; port: number } | undefined {
    if (this.server !== undefined) {
      const a = this.server.address() as AddressInfo | null;
      return a === null ? undefined : { address: a.address, port: a.port };
    }
    return this.listenAddress;
  }

  /**
   * Replaces the backend set and policy for new connections and flows. Those
   * already open keep their backend (and header version) until they close.
   */
  setBackends(backends: readonly Backend[], opts: BackendSetOptions): void {
    // A copy, so that the caller changing its array or objects later cannot change the set under us.
    this.backends = backends.map((b) => ({ id: b.id, host: b.host, port: b.port, weight: b.weight }));
    this.policy = opts.policy;
    if (this.protocol === 'udp' && opts.proxyProtocol === 'v1') {
      this.log.debug('PROXY protocol v1 has no UDP: datagrams go without a header');
      this.proxyProtocol = undefined;
    } else {
      this.proxyProtocol = opts.proxyProtocol;
    }
    // Forget ejections of backends that left; one still in the set stays ejected for the rest of its time.
    const ids = new Set(this.backends.map((b) => b.id));
    for (const id of this.ejectedUntil.keys()) if (!ids.has(id)) this.ejectedUntil.delete(id);
  }

  stats(): PortProxyStats {
    const ejected: string[] = [];
    for (const id of [...this.ejectedUntil.keys()]) if (this.isEjected(id)) ejected.push(id);
    return {
      active: Object.fromEntries(this.lb.active),
      accepted: this.counters.accepted,
      connectFailures: this.counters.connectFailures,
      noBackend: this.counters.noBackend,
      ejected,
      flows: this.flowCount,
    };
  }

  /** Stops listening and ends every connection and flow now (no drain: that is setBackends' job). */
  async close(): Promise<void> {
    if (this.state === 'closed' && this.server === undefined && this.listener === undefined) return;
    this.state = 'closed';
    const server = this.server;
    const listener = this.listener;
    this.server = undefined;
    this.listener = undefined;
    if (this.sweeper !== undefined) clearInterval(this.sweeper);
    this.sweeper = undefined;
    const done: Promise<void>[] = [];
    if (server !== undefined) done.push(new Promise<void>((resolve) => server.close(() => resolve())));
    for (const s of this.sockets) s.destroy();
    for (const byPort of this.flows.values()) for (const f of byPort.values()) this.endFlow(f);
    if (listener !== undefined) done.push(new Promise<void>((resolve) => listener.close(() => resolve())));
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), CLOSE_BOUND_MS);
    });
    const r = await Promise.race([Promise.all(done), bound]);
    clearTimeout(timer);
    if (r === 'timeout') this.log.warn({ boundMs: CLOSE_BOUND_MS }, 'listener not closed in time; going on');
  }

  // ---- backend choice and passive health ----

  /**
   * The next backend for a new connection, skipping those it already tried
   * and those ejected; when every one left is ejected, one of those anyway:
   * an ejection is only a guess, and trying beats refusing the client.
   */
  private choose(tried: Set<string> | undefined): Backend | undefined {
    if (this.ejectedUntil.size === 0) return pick(this.lb, this.backends, this.policy, this.rng, tried);
    const skip: Exclusion = tried === undefined ? this.ejectedExclusion : { has: (id) => tried.has(id) || this.isEjected(id) };
    return pick(this.lb, this.backends, this.policy, this.rng, skip) ?? pick(this.lb, this.backends, this.policy, this.rng, tried);
  }

  private isEjected(id: string): boolean {
    const until = this.ejectedUntil.get(id);
    if (until === undefined) return false;
    if (performance.now() < until) return true;
    this.ejectedUntil.delete(id);
    return false;
  }

  private eject(b: Backend, code: string | undefined): void {
    const already = this.isEjected(b.id);
    this.ejectedUntil.set(b.id, performance.now() + this.ejectMs);
    // Once per ejection, not per connection that meets it.
    if (!already) this.log.warn({ backend: b.id, address: hostPort(b.host, b.port), code, ejectMs: this.ejectMs }, 'backend failed to connect: ejected');
  }

  // ---- TCP ----

  private listenTcp(): Promise<void> {
    const server = createServer({ allowHalfOpen: true, noDelay: true }, (client) => this.onConnection(client));
    this.server = server;
    return new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => {
        this.server = undefined;
        server.close();
        reject(err);
      };
      server.once('error', onError);
      server.listen({ host: this.host, port: this.port }, () => {
        server.off('error', onError);
        // After listening, errors are accept failures (EMFILE...): the server goes on.
        server.on('error', (err) => this.log.error({ err }, 'accept failed'));
        resolve();
      });
    });
  }

  private track(s: Socket): void {
    this.sockets.add(s);
    s.once('close', this.untrack);
  }

  private onConnection(client: Socket): void {
    this.counters.accepted++;
    this.track(client);
    // Errors are followed by 'close', where the other side is dealt with.
    client.on('error', ignore);
    const r: Relay = { client, upstream: undefined, backend: undefined, connected: false, proxyProtocol: undefined, tried: undefined, connectedAt: 0, answered: false };
    client.once('close', () => this.onClientClose(r));
    // Until the backend is connected the client is not read from (nothing consumes it yet): what it sends
    // waits in its socket and the kernel, and flows once piped.
    this.connectNext(r);
  }

  private connectNext(r: Relay): void {
    const b = this.choose(r.tried);
    if (b === undefined) {
      this.counters.noBackend++;
      r.client.destroy();
      return;
    }
    connectionOpened(this.lb, b.id);
    const up = connect({ host: b.host, port: b.port, allowHalfOpen: true, noDelay: true });
    r.upstream = up;
    r.backend = b;
    r.proxyProtocol = this.proxyProtocol;
    this.track(up);
    up.setTimeout(this.connectTimeoutMs);
    up.on('timeout', () => this.connectFailed(r, up, 'ETIMEDOUT'));
    up.on('error', (err: NodeJS.ErrnoException) => this.connectFailed(r, up, err.code ?? err.message));
    up.once('connect', () => this.onUpstreamConnect(r, up));
    up.once('close', () => this.onUpstreamClose(r, up));
  }

  private connectFailed(r: Relay, up: Socket, code: string): void {
    // After the connect, errors end the connection through 'close'; a failed attempt is handled once.
    if (r.upstream !== up || r.connected) return;
    const b = r.backend!;
    r.upstream = undefined;
    r.backend = undefined;
    connectionClosed(this.lb, b.id);
    up.destroy();
    this.counters.connectFailures++;
    this.eject(b, code);
    if (r.client.destroyed) return;
    if (this.log.isLevelEnabled('debug')) this.log.debug({ backend: b.id, code }, 'connect failed; trying the next backend');
    (r.tried ??= new Set()).add(b.id);
    this.connectNext(r);
  }

  private onUpstreamConnect(r: Relay, up: Socket): void {
    r.connected = true;
    r.connectedAt = performance.now();
    up.once('data', () => (r.answered = true));
    up.once('end', () => this.checkSilentClose(r));
    up.setTimeout(0);
    const client = r.client;
    if (client.destroyed) {
      up.destroy();
      return;
    }
    if (r.proxyProtocol !== undefined) {
      // The client as seen by the proxy, and the address it connected to.
      up.write(encodeProxyHeader(r.proxyProtocol, { address: client.remoteAddress, port: client.remotePort }, { address: client.localAddress, port: client.localPort }, 'tcp'));
    }
    client.pipe(up);
    up.pipe(client);
  }

  private onClientClose(r: Relay): void {
    const up = r.upstream;
    if (up === undefined) return;
    // Still connecting: nobody to serve any more. Connected: a client that went away before both directions
    // ended (reset, error) takes the backend connection with it; one that ended cleanly has had its FIN
    // forwarded, and the backend side closes on its own once its bytes are flushed.
    if (!r.connected || !endedCleanly(r.client)) up.destroy();
  }

  /**
   * Accepted, then closed at once (FIN or reset) without a byte while the client was still sending: what a node's
   * port forwarder does when the task behind it has just died (the engine's docker-proxy outlives its container for
   * a moment). Ejected like a refusal, so that the next connections do not meet it too. Judged once per connection.
   */
  private checkSilentClose(r: Relay): void {
    if (r.answered || r.backend === undefined || !r.connected) return;
    r.answered = true;
    if (r.client.readableEnded || performance.now() - r.connectedAt >= SILENT_CLOSE_MS) return;
    this.counters.connectFailures++;
    this.eject(r.backend, 'closed without answering');
  }

  private onUpstreamClose(r: Relay, up: Socket): void {
    // A failed attempt's close: already accounted for in connectFailed.
    if (r.upstream !== up) return;
    this.checkSilentClose(r);
    if (r.backend !== undefined) connectionClosed(this.lb, r.backend.id);
    r.backend = undefined;
    if (!endedCleanly(up)) r.client.destroy();
  }

  // ---- UDP ----

  private listenUdp(): Promise<void> {
    const listener = createSocket({ type: isIPv6(this.host) ? 'udp6' : 'udp4' });
    this.listener = listener;
    return new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => {
        this.listener = undefined;
        listener.close();
        reject(err);
      };
      listener.once('error', onError);
      listener.bind({ address: this.host, port: this.port }, () => {
        listener.off('error', onError);
        listener.on('error', (err) => this.log.error({ err }, 'udp listener error'));
        listener.on('message', (msg, rinfo) => this.onDatagram(msg, rinfo));
        const a = listener.address();
        this.listenAddress = { address: a.address, port: a.port };
        const every = Math.max(1, Math.floor(this.udpIdleTimeoutMs / SWEEPS_PER_IDLE));
        this.sweeper = setInterval(() => this.sweep(), every);
        this.sweeper.unref();
        resolve();
      });
    });
  }

  private onDatagram(msg: Buffer, rinfo: RemoteInfo): void {
    let flow = this.flows.get(rinfo.address)?.get(rinfo.port);
    if (flow === undefined) {
      flow = this.openFlow(rinfo);
      if (flow === undefined) {
        this.counters.noBackend++;
        return;
      }
    }
    flow.seen = this.tick;
    if (flow.ready) this.forward(flow, msg);
    else if (flow.pending.length < MAX_PENDING_DATAGRAMS) flow.pending.push(msg);
  }

  private forward(flow: Flow, msg: Buffer): void {
    // A list is sent as one datagram (scatter/gather): the header is not copied in front of each payload.
    if (flow.header !== undefined) flow.socket.send([flow.header, msg]);
    else flow.socket.send(msg);
  }

  private openFlow(rinfo: RemoteInfo): Flow | undefined {
    if (this.flowCount >= this.maxUdpFlows) return undefined;
    const b = this.choose(undefined);
    if (b === undefined) return undefined;
    const socket = createSocket({ type: isIPv6(b.host) ? 'udp6' : 'udp4' });
    const header = this.proxyProtocol === 'v2' ? encodeProxyV2({ address: rinfo.address, port: rinfo.port }, this.listenAddress, 'udp') : undefined;
    const flow: Flow = { address: rinfo.address, port: rinfo.port, backend: b, socket, ready: false, pending: [], header, seen: this.tick, closed: false };
    let byPort = this.flows.get(rinfo.address);
    if (byPort === undefined) this.flows.set(rinfo.address, (byPort = new Map()));
    byPort.set(rinfo.port, flow);
    this.flowCount++;
    this.counters.accepted++;
    connectionOpened(this.lb, b.id);
    socket.on('message', (reply) => {
      flow.seen = this.tick;
      this.listener?.send(reply, flow.port, flow.address);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => this.flowError(flow, err));
    socket.connect(b.port, b.host, (err?: Error) => {
      if (err !== undefined && err !== null) return this.flowError(flow, err);
      if (flow.closed) return;
      flow.ready = true;
      for (const m of flow.pending) this.forward(flow, m);
      flow.pending = [];
    });
    return flow;
  }

  private flowError(flow: Flow, err: NodeJS.ErrnoException): void {
    if (flow.closed) return;
    // A refusal (ICMP port unreachable, reported on the connected socket) means nothing listens there:
    // the same passive ejection as TCP. Anything else (a datagram too big...) is that datagram's loss.
    if (err.code === 'ECONNREFUSED' || err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN' || (err as { syscall?: string }).syscall === 'connect') {
      this.counters.connectFailures++;
      this.eject(flow.backend, err.code);
      this.endFlow(flow);
    } else if (this.log.isLevelEnabled('debug')) {
      this.log.debug({ err, backend: flow.backend.id }, 'udp flow error');
    }
  }

  private endFlow(flow: Flow): void {
    if (flow.closed) return;
    flow.closed = true;
    const byPort = this.flows.get(flow.address);
    if (byPort?.get(flow.port) === flow) {
      byPort.delete(flow.port);
      if (byPort.size === 0) this.flows.delete(flow.address);
    }
    this.flowCount--;
    connectionClosed(this.lb, flow.backend.id);
    flow.pending = [];
    try {
      flow.socket.close();
    } catch {
      // Already closed.
    }
  }

  /** One timer for every flow: a flow not seen for more than SWEEPS_PER_IDLE ticks has idled out. */
  private sweep(): void {
    this.tick++;
    for (const byPort of this.flows.values()) {
      for (const f of byPort.values()) if (this.tick - f.seen > SWEEPS_PER_IDLE) this.endFlow(f);
    }
  }
}

function ignore(): void {}

/** Both directions ended by FIN (not by an error or a destroy). */
function endedCleanly(s: Socket): boolean {
  return s.readableEnded && s.writableFinished;
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
