// The node's DNS server for its containers (service discovery). Each container gets it as its only
// nameserver; it answers the cluster's own names through the `resolve` function it is given and
// forwards every other query to the node's upstream nameservers, the way Docker's embedded DNS
// server (127.0.0.11) does on user-defined networks. It knows nothing of services or tasks: the
// integrator's `resolve` decides what a name means and in which order its addresses come.
import dgram from 'node:dgram';
import net from 'node:net';
import { randomInt } from 'node:crypto';
import dnsPacket from 'dns-packet';
import type { Answer, DecodedPacket, Packet, Question } from 'dns-packet';
import { pino, type Logger } from 'pino';

/**
 * What `resolve` says of a name. `addresses` (IPv4) are answered as A records in the order given; an
 * empty list is a name that exists with no address now (NOERROR, no answer). `nxdomain`: the name is
 * ours and does not exist, so the query is not forwarded either.
 */
export type DnsAnswer = { kind: 'addresses'; addresses: string[]; ttl?: number } | { kind: 'nxdomain' };

export interface DnsQuery {
  /** The name asked, lower-cased, without the trailing dot. */
  name: string;
  /** The record type as dns-packet names it: 'A', 'AAAA', 'MX', ... ('UNKNOWN_n' for types it has no name for). */
  type: 'A' | 'AAAA' | (string & NonNullable<unknown>);
  /** The asker's IP address (IPv4-mapped IPv6 addresses are given as IPv4): tells which container asks. */
  client: string;
}

/** Our answer for a query, or undefined when the name is not ours and the query goes to the upstreams. */
export type DnsResolve = (query: DnsQuery) => DnsAnswer | undefined | Promise<DnsAnswer | undefined>;

export interface DnsServerOptions {
  /** An IP address (IPv4 or IPv6) to listen on, UDP and TCP. */
  host: string;
  /** 53 in production; 0 picks a free port (the same for UDP and TCP), which `address()` then tells. */
  port: number;
  resolve: DnsResolve;
  /** Nameservers for the names `resolve` leaves alone, tried in turn: 'IP', 'IP:PORT' or '[IPv6]:PORT'. */
  upstreams?: string[];
  /** How long each upstream is waited for before the next is tried. Default 2000 ms. */
  forwardTimeoutMs?: number;
  /** Forwarded queries in flight at once; past that a query is answered SERVFAIL at once. Default 256. */
  maxForwards?: number;
  /** A TCP connection idle this long is closed. Default 10,000 ms. */
  tcpIdleTimeoutMs?: number;
  logger?: Logger;
}

interface Upstream {
  host: string;
  port: number;
  family: 4 | 6;
  label: string;
}

type Transport = 'udp' | 'tcp';

const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4 } as const;
const OPCODE_QUERY = 0;
const HEADER_BYTES = 12;
// Without EDNS a UDP reply may not exceed 512 bytes (RFC 1035). With EDNS we take what the client
// offers up to 1232 bytes, the size that avoids IP fragmentation on any common path (DNS flag day 2020).
const UDP_PLAIN_LIMIT = 512;
const UDP_EDNS_LIMIT = 1232;
const TCP_LIMIT = 65535;

/** The UDP and TCP DNS server of one node; see the file's header. */
export class DnsServer {
  private readonly host: string;
  private readonly family: 4 | 6;
  private readonly requestedPort: number;
  private readonly resolve: DnsResolve;
  private readonly upstreams: Upstream[];
  private readonly forwardTimeoutMs: number;
  private readonly maxForwards: number;
  private readonly tcpIdleTimeoutMs: number;
  private readonly log: Logger;

  private udp: dgram.Socket | undefined;
  private tcp: net.Server | undefined;
  private port: number | undefined;
  private closed = false;
  private forwarding = 0;
  private readonly conns = new Set<net.Socket>();
  /** Ends an exchange with an upstream in flight (close() ends them all). */
  private readonly exchanges = new Set<() => void>();
  /** Upstreams that did not answer their last query: warned about once, not once per query. */
  private readonly silent = new Set<string>();

  constructor(options: DnsServerOptions) {
    const family = net.isIP(options.host);
    if (family === 0) throw new Error(`dns server: host must be an IP address, not "${options.host}"`);
    this.host = options.host;
    this.family = family as 4 | 6;
    this.requestedPort = options.port;
    this.resolve = options.resolve;
    this.upstreams = (options.upstreams ?? []).map(parseUpstream);
    this.forwardTimeoutMs = options.forwardTimeoutMs ?? 2000;
    this.maxForwards = options.maxForwards ?? 256;
    this.tcpIdleTimeoutMs = options.tcpIdleTimeoutMs ?? 10_000;
    this.log = (options.logger ?? pino({ level: 'silent' })).child({ component: 'dns' });
  }

  /** Binds UDP then TCP on the same port; rejects with a one-line error naming host:port when either fails. */
  async start(): Promise<void> {
    if (this.udp || this.closed) throw new Error(`dns server on ${this.hostPort(this.requestedPort)}: start() called twice or after close()`);
    // With port 0 the OS picks UDP's port and TCP takes the same; another socket may hold that TCP
    // port already, so a few picks are tried.
    const tries = this.requestedPort === 0 ? 5 : 1;
    for (let i = 1; ; i++) {
      const udp = dgram.createSocket({ type: this.family === 6 ? 'udp6' : 'udp4' });
      try {
        await new Promise<void>((resolve, reject) => {
          udp.once('error', reject);
          udp.bind({ address: this.host, port: this.requestedPort, exclusive: true }, () => {
            udp.off('error', reject);
            resolve();
          });
        });
      } catch (err) {
        udp.close();
        throw new Error(`dns server cannot listen on ${this.hostPort(this.requestedPort)} (udp): ${oneLine(err)}`);
      }
      const port = udp.address().port;
      const tcp = net.createServer({ allowHalfOpen: true }, (sock) => this.onConnection(sock));
      try {
        await new Promise<void>((resolve, reject) => {
          tcp.once('error', reject);
          tcp.listen({ host: this.host, port, exclusive: true }, () => {
            tcp.off('error', reject);
            resolve();
          });
        });
      } catch (err) {
        udp.close();
        if (i < tries && (err as NodeJS.ErrnoException).code === 'EADDRINUSE') continue;
        throw new Error(`dns server cannot listen on ${this.hostPort(port)} (tcp): ${oneLine(err)}`);
      }
      udp.on('error', (err) => this.log.warn({ err: oneLine(err) }, 'udp socket error'));
      udp.on('message', (msg, rinfo) => this.onDatagram(msg, rinfo));
      tcp.on('error', (err) => this.log.warn({ err: oneLine(err) }, 'tcp server error'));
      this.udp = udp;
      this.tcp = tcp;
      this.port = port;
      this.log.info({ address: this.hostPort(port), upstreams: this.upstreams.map((u) => u.label) }, 'dns server listening');
      return;
    }
  }

  /** Where the server listens (the real port when it was asked for port 0). */
  address(): { host: string; port: number } {
    if (this.port === undefined) throw new Error('dns server: not started');
    return { host: this.host, port: this.port };
  }

  /** Stops listening, drops TCP connections and abandons forwarded queries; resolves within a few ms. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const end of [...this.exchanges]) end();
    for (const sock of this.conns) sock.destroy();
    const udp = this.udp;
    const tcp = this.tcp;
    await Promise.all([
      udp ? new Promise<void>((resolve) => udp.close(() => resolve())) : undefined,
      tcp ? new Promise<void>((resolve) => tcp.close(() => resolve())) : undefined,
    ]);
    this.log.info({ address: this.hostPort(this.port ?? this.requestedPort) }, 'dns server closed');
  }

  private hostPort(port: number): string {
    return this.family === 6 ? `[${this.host}]:${port}` : `${this.host}:${port}`;
  }

  private onDatagram(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const query = parseQuery(msg);
    if (!query) {
      // Dropped, not answered: a reply to junk would make us a reflector for whoever forged its source.
      this.log.debug({ client: rinfo.address, bytes: msg.length }, 'malformed udp query dropped');
      return;
    }
    void this.answer(msg, query, clientAddress(rinfo.address), 'udp').then((reply) => {
      if (!this.closed) this.udp?.send(reply, rinfo.port, rinfo.address);
    });
  }

  private onConnection(sock: net.Socket): void {
    if (this.closed) {
      sock.destroy();
      return;
    }
    this.conns.add(sock);
    const client = clientAddress(sock.remoteAddress ?? '');
    let pending = 0;
    let ended = false;
    let buffered = Buffer.alloc(0);
    sock.setTimeout(this.tcpIdleTimeoutMs, () => sock.destroy());
    sock.on('close', () => this.conns.delete(sock));
    sock.on('error', (err) => this.log.debug({ client, err: oneLine(err) }, 'tcp connection error'));
    // A client may half-close after its queries (allowHalfOpen): the replies still owed are written first.
    sock.on('end', () => {
      ended = true;
      if (pending === 0) sock.end();
    });
    sock.on('data', (chunk) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      // Each message is preceded by its length on two bytes (RFC 1035 4.2.2); several may be pipelined
      // and are answered as they complete, possibly out of order (RFC 7766 6.2.1.1).
      while (buffered.length >= 2) {
        const length = buffered.readUInt16BE(0);
        if (buffered.length < 2 + length) break;
        const msg = Buffer.from(buffered.subarray(2, 2 + length));
        buffered = buffered.subarray(2 + length);
        const query = parseQuery(msg);
        if (!query) {
          // The stream cannot be trusted past a bad message: close rather than guess at framing.
          this.log.debug({ client, bytes: msg.length }, 'malformed tcp query: connection closed');
          sock.destroy();
          return;
        }
        pending++;
        void this.answer(msg, query, client, 'tcp').then((reply) => {
          pending--;
          if (sock.destroyed) return;
          const framed = Buffer.alloc(2 + reply.length);
          framed.writeUInt16BE(reply.length, 0);
          reply.copy(framed, 2);
          sock.write(framed);
          if (ended && pending === 0) sock.end();
        });
      }
    });
  }

  /** The reply to a well-formed query; never rejects (an unexpected failure is a SERVFAIL). */
  private async answer(msg: Buffer, query: DecodedPacket, client: string, transport: Transport): Promise<Buffer> {
    try {
      const opcode = (msg[2] >> 3) & 0x0f;
      if (opcode !== OPCODE_QUERY) return reply(query, RCODE.NOTIMP, [], transport);
      const question = query.questions?.[0];
      if (!question) return reply(query, RCODE.FORMERR, [], transport);
      // Only the first question is answered: no resolver sends more than one (RFC 9619).
      // Other classes than IN (CHAOS's version.bind, say) are not ours: they go upstream.
      const ours = (question.class ?? 'IN') === 'IN' ? await this.resolve({ name: normalizeName(question.name), type: question.type, client }) : undefined;
      if (ours === undefined) return await this.forward(msg, query, transport);
      if (ours.kind === 'nxdomain') return reply(query, RCODE.NXDOMAIN, [], transport, true);
      if (question.type !== 'A') {
        // The name is ours but has no record of this type (AAAA most of all): NOERROR with no answer,
        // so that the client falls back to A, as with Docker's embedded DNS. NXDOMAIN would tell it
        // that the name does not exist at all.
        return reply(query, RCODE.NOERROR, [], transport, true);
      }
      // TTL 0 by default: a service's endpoints change as its tasks move, and a cached answer would keep
      // sending clients to a task that is gone. Asking the node's own server again is cheap.
      const ttl = Math.max(0, Math.floor(ours.ttl ?? 0));
      const answers: Answer[] = [];
      for (const address of ours.addresses) {
        if (net.isIPv4(address)) answers.push({ type: 'A', class: 'IN', name: question.name, ttl, data: address });
        else this.log.warn({ name: question.name, address }, 'resolve gave an address that is not IPv4: left out');
      }
      return reply(query, RCODE.NOERROR, answers, transport, true);
    } catch (err) {
      this.log.warn({ client, err: oneLine(err) }, 'query failed: SERVFAIL');
      return reply(query, RCODE.SERVFAIL, [], transport);
    }
  }

  /**
   * Forwards the query as it came to each upstream in turn over UDP (a TCP client's query is asked
   * again over TCP when the UDP reply is truncated), and relays the first reply under the client's id.
   */
  private async forward(msg: Buffer, query: DecodedPacket, transport: Transport): Promise<Buffer> {
    if (this.upstreams.length === 0) return reply(query, RCODE.SERVFAIL, [], transport);
    if (this.forwarding >= this.maxForwards) {
      this.log.warn({ inFlight: this.forwarding }, 'too many forwarded queries in flight: SERVFAIL');
      return reply(query, RCODE.SERVFAIL, [], transport);
    }
    this.forwarding++;
    try {
      for (const upstream of this.upstreams) {
        if (this.closed) break;
        const relayed = await this.ask(upstream, msg, transport);
        if (relayed) {
          relayed.writeUInt16BE(query.id ?? 0, 0);
          return relayed;
        }
      }
      return reply(query, RCODE.SERVFAIL, [], transport);
    } finally {
      this.forwarding--;
    }
  }

  private async ask(upstream: Upstream, msg: Buffer, transport: Transport): Promise<Buffer | undefined> {
    // A fresh random id (and a fresh socket, so a fresh source port) per exchange: a forged reply
    // must guess both, and the client's own id is no guide to ours.
    const id = randomInt(0, 0x10000);
    const out = Buffer.from(msg);
    out.writeUInt16BE(id, 0);
    let got = await this.exchangeUdp(upstream, out, id);
    if (got && transport === 'tcp' && isTruncated(got)) got = (await this.exchangeTcp(upstream, out, id)) ?? got;
    if (!got) {
      if (!this.silent.has(upstream.label) && !this.closed) this.log.warn({ upstream: upstream.label, timeoutMs: this.forwardTimeoutMs }, 'upstream nameserver did not answer');
      this.silent.add(upstream.label);
    } else if (this.silent.delete(upstream.label)) {
      this.log.info({ upstream: upstream.label }, 'upstream nameserver answers again');
    }
    return got;
  }

  private exchangeUdp(upstream: Upstream, out: Buffer, id: number): Promise<Buffer | undefined> {
    return this.exchange((finish) => {
      const sock = dgram.createSocket(upstream.family === 6 ? 'udp6' : 'udp4');
      sock.on('error', (err) => {
        this.log.debug({ upstream: upstream.label, err: oneLine(err) }, 'upstream udp error');
        finish(undefined);
      });
      // A connected socket takes datagrams from the upstream only, and hears its ICMP refusal.
      sock.on('message', (m) => {
        if (isReplyTo(m, id)) finish(m);
      });
      sock.connect(upstream.port, upstream.host, () => sock.send(out));
      return () => sock.close();
    });
  }

  private exchangeTcp(upstream: Upstream, out: Buffer, id: number): Promise<Buffer | undefined> {
    return this.exchange((finish) => {
      const framed = Buffer.alloc(2 + out.length);
      framed.writeUInt16BE(out.length, 0);
      out.copy(framed, 2);
      let buffered = Buffer.alloc(0);
      const sock = net.connect({ host: upstream.host, port: upstream.port }, () => sock.write(framed));
      sock.on('error', (err) => {
        this.log.debug({ upstream: upstream.label, err: oneLine(err) }, 'upstream tcp error');
        finish(undefined);
      });
      sock.on('close', () => finish(undefined));
      sock.on('data', (chunk) => {
        buffered = Buffer.concat([buffered, chunk]);
        if (buffered.length < 2 || buffered.length < 2 + buffered.readUInt16BE(0)) return;
        const m = Buffer.from(buffered.subarray(2, 2 + buffered.readUInt16BE(0)));
        finish(isReplyTo(m, id) ? m : undefined);
      });
      return () => sock.destroy();
    });
  }

  /**
   * Runs one exchange with an upstream, bounded by the forward timeout and ended by close(): `begin`
   * starts it, calls `finish` with the reply (or undefined) and returns how to release its socket.
   */
  private exchange(begin: (finish: (reply: Buffer | undefined) => void) => () => void): Promise<Buffer | undefined> {
    return new Promise((resolve) => {
      let done = false;
      let release: (() => void) | undefined = undefined;
      const finish = (got: Buffer | undefined): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.exchanges.delete(abandon);
        try {
          release?.();
        } catch {
          // already closed
        }
        resolve(got);
      };
      const abandon = (): void => finish(undefined);
      const timer = setTimeout(abandon, this.forwardTimeoutMs);
      this.exchanges.add(abandon);
      release = begin(finish);
      if (done) release();
    });
  }
}

/**
 * The upstream nameservers for containers from the text of the node's /etc/resolv.conf: loopback
 * ones (127.0.0.0/8, ::1) and unspecified ones (0.0.0.0, ::, which mean "this host") are skipped, as
 * Docker does for containers: inside a container's network namespace they would reach the container
 * itself, not the node's resolver. On a host where systemd-resolved puts 127.0.0.53 there, read
 * /run/systemd/resolve/resolv.conf instead. Duplicates are kept once, in the file's order.
 */
export function resolveUpstreams(resolvConfText: string): string[] {
  const local = new net.BlockList();
  local.addSubnet('127.0.0.0', 8, 'ipv4');
  local.addAddress('0.0.0.0', 'ipv4');
  local.addAddress('::1', 'ipv6');
  local.addAddress('::', 'ipv6');
  const found: string[] = [];
  for (const raw of resolvConfText.split(/\r?\n/)) {
    const m = /^\s*nameserver\s+(\S+)/.exec(raw.replace(/[#;].*$/, ''));
    if (!m) continue;
    const address = m[1];
    const bare = address.replace(/%.*$/, ''); // a link-local address's zone (fe80::1%eth0)
    const family = net.isIP(bare);
    if (family === 0) continue;
    if (local.check(bare, family === 4 ? 'ipv4' : 'ipv6')) continue;
    if (!found.includes(address)) found.push(address);
  }
  return found;
}

function parseUpstream(text: string): Upstream {
  let host: string;
  let port = 53;
  if (net.isIP(text.replace(/%.*$/, '')) !== 0) {
    host = text;
  } else {
    const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
    if (!m) throw new Error(`dns server: upstream "${text}" is not IP, IP:PORT or [IPv6]:PORT`);
    host = m[1] ?? m[2];
    port = Number(m[3]);
  }
  const family = net.isIP(host.replace(/%.*$/, ''));
  if (family === 0 || port < 1 || port > 65535) throw new Error(`dns server: upstream "${text}" is not IP, IP:PORT or [IPv6]:PORT`);
  return { host, port, family: family as 4 | 6, label: family === 6 ? `[${host}]:${port}` : `${host}:${port}` };
}

/** The decoded query, or undefined for what is not one (junk, a response): such packets are never answered. */
function parseQuery(msg: Buffer): DecodedPacket | undefined {
  if (msg.length < HEADER_BYTES) return undefined;
  let packet: DecodedPacket;
  try {
    packet = dnsPacket.decode(msg);
  } catch {
    return undefined;
  }
  // A response sent to us is not answered: two servers answering each other's answers would loop.
  return packet.flag_qr ? undefined : packet;
}

/**
 * Our own reply: AA when `resolve` answered (the name is ours), RA (we recurse through the upstreams),
 * RD copied, EDNS echoed, truncated to fit (TC).
 */
function reply(query: DecodedPacket, rcode: number, answers: Answer[], transport: Transport, authoritative = false): Buffer {
  const rd = (query.flags ?? 0) & dnsPacket.RECURSION_DESIRED;
  const flags = (authoritative ? dnsPacket.AUTHORITATIVE_ANSWER : 0) | dnsPacket.RECURSION_AVAILABLE | rd | rcode;
  const opt = query.additionals?.find((a) => a.type === 'OPT');
  const packet: Packet = {
    type: 'response',
    id: query.id,
    flags,
    questions: query.questions?.slice(0, 1) as Question[] | undefined,
    answers,
    // A query with EDNS gets EDNS back (RFC 6891 7): our own payload size, no options.
    additionals: opt ? [{ type: 'OPT', name: '.', udpPayloadSize: UDP_EDNS_LIMIT, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }] : [],
  };
  const offered = opt && 'udpPayloadSize' in opt ? opt.udpPayloadSize : 0;
  const limit = transport === 'tcp' ? TCP_LIMIT : Math.max(UDP_PLAIN_LIMIT, Math.min(offered, UDP_EDNS_LIMIT));
  return encodeWithin(packet, limit);
}

/**
 * The packet encoded within `limit` bytes: when its answers do not all fit, as many as fit are kept
 * and TC is set, so a client that can retries over TCP and one that cannot (musl before 1.2.4) still
 * gets addresses to use.
 */
function encodeWithin(packet: Packet, limit: number): Buffer {
  const answers = packet.answers ?? [];
  if (dnsPacket.encodingLength(packet) <= limit) return dnsPacket.encode(packet);
  let fits = 0;
  let over = answers.length;
  while (over - fits > 1) {
    const mid = (fits + over) >> 1;
    if (dnsPacket.encodingLength({ ...packet, answers: answers.slice(0, mid) }) <= limit) fits = mid;
    else over = mid;
  }
  return dnsPacket.encode({ ...packet, flags: (packet.flags ?? 0) | dnsPacket.TRUNCATED_RESPONSE, answers: answers.slice(0, fits) });
}

function isReplyTo(m: Buffer, id: number): boolean {
  return m.length >= HEADER_BYTES && m.readUInt16BE(0) === id && (m[2] & 0x80) !== 0;
}

function isTruncated(m: Buffer): boolean {
  return (m[2] & 0x02) !== 0;
}

/** Names match case-insensitively (RFC 4343) and with or without the root's trailing dot. */
function normalizeName(name: string): string {
  return name.toLowerCase().replace(/\.+$/, '');
}

/** The asker's address as the integrator knows it: IPv4-mapped IPv6 (a dual-stack socket's view) as IPv4. */
function clientAddress(address: string): string {
  return address.startsWith('::ffff:') && net.isIPv4(address.slice(7)) ? address.slice(7) : address;
}

function oneLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).replace(/\s*\n\s*/g, ' ');
}
