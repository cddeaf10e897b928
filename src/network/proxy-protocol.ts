// The PROXY protocol (haproxy's doc/proxy-protocol.txt), versions 1 and 2:
// the header a proxy writes ahead of a connection's bytes (or, for UDP in
// version 2, ahead of each datagram) so that the backend learns the client's
// real address instead of the proxy's. Encoding is what the mesh proxy needs;
// the decoder serves tests and test backends, and follows the spec's receiver
// rules closely enough to catch a malformed header.
//
// Addresses are taken as node gives them: an IPv4 client of a dual-stack
// listener shows as '::ffff:a.b.c.d', which is written as the IPv4 address it
// stands for (TCP4), as haproxy does; a missing or unparsable address makes the
// header say UNKNOWN (v1) or LOCAL/UNSPEC (v2), which tells the backend to use
// the connection's own endpoints.
import { isIPv4, isIPv6 } from 'node:net';

export type ProxyProtocolVersion = 'v1' | 'v2';
export type ProxyTransport = 'tcp' | 'udp';
export type ProxyFamily = 'TCP4' | 'TCP6' | 'UDP4' | 'UDP6' | 'UNKNOWN';

export interface ProxyEndpoint {
  address: string;
  port: number;
}

export interface DecodedProxyHeader {
  version: 1 | 2;
  /** 'local': a v2 header sent by the proxy on its own behalf (health checks); the addresses are to be ignored. */
  command: 'proxy' | 'local';
  family: ProxyFamily;
  /** The client; undefined for UNKNOWN, UNSPEC, AF_UNIX and LOCAL. */
  source: ProxyEndpoint | undefined;
  /** The address the client connected to; undefined when `source` is. */
  dest: ProxyEndpoint | undefined;
  /** Bytes the header takes at the start of the buffer (v2: including any TLVs, which are skipped). */
  headerLength: number;
}

/** A header that is not (or cannot become) a valid PROXY protocol header. */
export class ProxyProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProxyProtocolError';
  }
}

/** The twelve bytes every v2 header starts with. */
export const V2_SIGNATURE: Buffer = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
/** The longest v1 line the spec allows, CRLF included. */
export const V1_MAX_LENGTH = 107;

const V2_VERSION = 0x20;
const V2_CMD_LOCAL = 0x00;
const V2_CMD_PROXY = 0x01;
const V2_AF_UNSPEC = 0x00;
const V2_AF_INET = 0x10;
const V2_AF_INET6 = 0x20;
const V2_AF_UNIX = 0x30;
const V2_PROTO_STREAM = 0x01;
const V2_PROTO_DGRAM = 0x02;
/** Address block sizes: two addresses and two ports. */
const V2_LEN_INET = 12;
const V2_LEN_INET6 = 36;

// ---- encoding ----

/** A header of `version` for a connection (or datagram) from `source` to `dest`. */
export function encodeProxyHeader(version: ProxyProtocolVersion, source: Partial<ProxyEndpoint> | undefined, dest: Partial<ProxyEndpoint> | undefined, transport: ProxyTransport = 'tcp'): Buffer {
  return version === 'v1' ? encodeProxyV1(source, dest) : encodeProxyV2(source, dest, transport);
}

/**
 * "PROXY TCP4 src dst sport dport\r\n" (or TCP6), "PROXY UNKNOWN\r\n" when
 * either end is unknown. Version 1 has no UDP.
 */
export function encodeProxyV1(source: Partial<ProxyEndpoint> | undefined, dest: Partial<ProxyEndpoint> | undefined): Buffer {
  const pair = addressPair(source, dest);
  if (pair === undefined) return Buffer.from('PROXY UNKNOWN\r\n', 'latin1');
  const [s, d] = pair;
  const fam = s.length === 4 ? 'TCP4' : 'TCP6';
  return Buffer.from(`PROXY ${fam} ${formatAddress(s)} ${formatAddress(d)} ${source!.port} ${dest!.port}\r\n`, 'latin1');
}

/**
 * The binary header: signature, 0x21 (version 2, PROXY), family and transport,
 * the address block's length, then source and destination addresses and ports
 * in network order. With either end unknown, a LOCAL command with family
 * UNSPEC and no addresses (what haproxy sends when it has none).
 */
export function encodeProxyV2(source: Partial<ProxyEndpoint> | undefined, dest: Partial<ProxyEndpoint> | undefined, transport: ProxyTransport = 'tcp'): Buffer {
  const pair = addressPair(source, dest);
  if (pair === undefined) {
    const h = Buffer.allocUnsafe(16);
    V2_SIGNATURE.copy(h, 0);
    h[12] = V2_VERSION | V2_CMD_LOCAL;
    h[13] = V2_AF_UNSPEC;
    h.writeUInt16BE(0, 14);
    return h;
  }
  const [s, d] = pair;
  const alen = s.length;
  const blockLen = alen === 4 ? V2_LEN_INET : V2_LEN_INET6;
  const h = Buffer.allocUnsafe(16 + blockLen);
  V2_SIGNATURE.copy(h, 0);
  h[12] = V2_VERSION | V2_CMD_PROXY;
  h[13] = (alen === 4 ? V2_AF_INET : V2_AF_INET6) | (transport === 'udp' ? V2_PROTO_DGRAM : V2_PROTO_STREAM);
  h.writeUInt16BE(blockLen, 14);
  s.copy(h, 16);
  d.copy(h, 16 + alen);
  h.writeUInt16BE(source!.port!, 16 + 2 * alen);
  h.writeUInt16BE(dest!.port!, 18 + 2 * alen);
  return h;
}

/**
 * Both ends as raw addresses of one family, or undefined when either is
 * missing or invalid. IPv4-mapped IPv6 becomes IPv4; when one end is IPv4 and
 * the other IPv6, the IPv4 one is mapped into IPv6 (a header has one family).
 */
function addressPair(source: Partial<ProxyEndpoint> | undefined, dest: Partial<ProxyEndpoint> | undefined): [Buffer, Buffer] | undefined {
  if (!validPort(source?.port) || !validPort(dest?.port)) return undefined;
  let s = addressBytes(source!.address);
  let d = addressBytes(dest!.address);
  if (s === undefined || d === undefined) return undefined;
  if (s.length !== d.length) {
    if (s.length === 4) s = mapToV6(s);
    else d = mapToV6(d);
  }
  return [s, d];
}

function validPort(p: unknown): p is number {
  return typeof p === 'number' && Number.isInteger(p) && p >= 0 && p <= 65535;
}

/** 4 bytes for IPv4 (IPv4-mapped IPv6 included), 16 for IPv6, undefined for anything else (names too). */
export function addressBytes(address: string | undefined): Buffer | undefined {
  if (typeof address !== 'string') return undefined;
  if (isIPv4(address)) return Buffer.from(address.split('.').map(Number));
  // A zone (fe80::1%eth0) means nothing to the backend, and the header has no room for it.
  const pct = address.indexOf('%');
  const a = pct >= 0 ? address.slice(0, pct) : address;
  if (!isIPv6(a)) return undefined;
  const b = ipv6Bytes(a);
  return isV4Mapped(b) ? b.subarray(12) : b;
}

/** The 16 bytes of a valid IPv6 address (net.isIPv6 already said yes). */
function ipv6Bytes(a: string): Buffer {
  let text = a;
  // A dotted IPv4 tail (::ffff:1.2.3.4, ::1.2.3.4) stands for the last two groups.
  const lastColon = text.lastIndexOf(':');
  if (text.indexOf('.', lastColon) >= 0) {
    const [b0, b1, b2, b3] = text.slice(lastColon + 1).split('.').map(Number);
    text = `${text.slice(0, lastColon + 1)}${((b0 << 8) | b1).toString(16)}:${((b2 << 8) | b3).toString(16)}`;
  }
  const groups = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const dbl = text.indexOf('::');
  const head = groups(dbl >= 0 ? text.slice(0, dbl) : text);
  const tail = dbl >= 0 ? groups(text.slice(dbl + 2)) : [];
  const all = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  const out = Buffer.allocUnsafe(16);
  for (let i = 0; i < 8; i++) out.writeUInt16BE(all[i], 2 * i);
  return out;
}

function isV4Mapped(b: Buffer): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

function mapToV6(v4: Buffer): Buffer {
  const out = Buffer.alloc(16);
  out[10] = 0xff;
  out[11] = 0xff;
  v4.copy(out, 12);
  return out;
}

/** Text for 4 or 16 address bytes; IPv6 in RFC 5952's canonical form (longest zero run as '::', lower case). */
export function formatAddress(b: Buffer): string {
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  if (isV4Mapped(b)) return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push(b.readUInt16BE(i));
  let bestAt = -1;
  let bestLen = 1; // a single zero group is not shortened (RFC 5952 4.2.2)
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (xs: number[]): string => xs.map((x) => x.toString(16)).join(':');
  if (bestAt < 0) return hex(g);
  return `${hex(g.slice(0, bestAt))}::${hex(g.slice(bestAt + bestLen))}`;
}

// ---- decoding ----

/**
 * The PROXY header at the start of `buf`: 'incomplete' when `buf` is a prefix
 * of one (read more and call again); throws ProxyProtocolError when it is not
 * a header at all or a malformed one.
 */
export function decodeProxyHeader(buf: Buffer): DecodedProxyHeader | 'incomplete' {
  if (startsWithPrefixOf(buf, V2_SIGNATURE)) return buf.length < 16 ? 'incomplete' : decodeV2(buf);
  if (startsWithPrefixOf(buf, V1_PREFIX)) return buf.length < V1_PREFIX.length ? 'incomplete' : decodeV1(buf);
  throw new ProxyProtocolError('not a PROXY protocol header');
}

/** True when buf and sig agree on their common length (buf may be shorter or longer). */
function startsWithPrefixOf(buf: Buffer, sig: Buffer): boolean {
  const n = Math.min(buf.length, sig.length);
  return buf.compare(sig, 0, n, 0, n) === 0;
}

function decodeV1(buf: Buffer): DecodedProxyHeader | 'incomplete' {
  const lf = buf.indexOf(0x0a);
  if (lf < 0 || lf >= V1_MAX_LENGTH) {
    if (buf.length >= V1_MAX_LENGTH) throw new ProxyProtocolError(`v1 header longer than ${V1_MAX_LENGTH} bytes`);
    return 'incomplete';
  }
  if (buf[lf - 1] !== 0x0d) throw new ProxyProtocolError('v1 header not terminated by CRLF');
  const line = buf.toString('latin1', 0, lf - 1);
  const headerLength = lf + 1;
  const f = line.split(' ');
  // "PROXY UNKNOWN" may be followed by anything, which the receiver ignores.
  if (f[1] === 'UNKNOWN') return { version: 1, command: 'proxy', family: 'UNKNOWN', source: undefined, dest: undefined, headerLength };
  if (f.length !== 6) throw new ProxyProtocolError(`v1 header has ${f.length} fields, not 6`);
  const [, fam, src, dst, sport, dport] = f;
  if (fam !== 'TCP4' && fam !== 'TCP6') throw new ProxyProtocolError(`v1 header with unknown protocol ${JSON.stringify(fam)}`);
  const valid = fam === 'TCP4' ? isIPv4 : isIPv6;
  if (!valid(src) || !valid(dst)) throw new ProxyProtocolError(`v1 header with an address that is not ${fam}`);
  return { version: 1, command: 'proxy', family: fam, source: { address: src, port: v1Port(sport) }, dest: { address: dst, port: v1Port(dport) }, headerLength };
}

function v1Port(s: string): number {
  if (!/^(0|[1-9][0-9]{0,4})$/.test(s) || Number(s) > 65535) throw new ProxyProtocolError(`v1 header with an invalid port ${JSON.stringify(s)}`);
  return Number(s);
}

function decodeV2(buf: Buffer): DecodedProxyHeader | 'incomplete' {
  const verCmd = buf[12];
  if ((verCmd & 0xf0) !== V2_VERSION) throw new ProxyProtocolError(`v2 header with version ${verCmd >> 4}`);
  const cmd = verCmd & 0x0f;
  if (cmd !== V2_CMD_LOCAL && cmd !== V2_CMD_PROXY) throw new ProxyProtocolError(`v2 header with command ${cmd}`);
  const len = buf.readUInt16BE(14);
  const headerLength = 16 + len;
  if (buf.length < headerLength) return 'incomplete';
  const af = buf[13] & 0xf0;
  const proto = buf[13] & 0x0f;
  if (af > V2_AF_UNIX || proto > V2_PROTO_DGRAM) throw new ProxyProtocolError(`v2 header with family byte 0x${buf[13].toString(16)}`);
  const unknown: DecodedProxyHeader = { version: 2, command: cmd === V2_CMD_LOCAL ? 'local' : 'proxy', family: 'UNKNOWN', source: undefined, dest: undefined, headerLength };
  // LOCAL: the receiver must ignore the addresses. UNSPEC and AF_UNIX: none we can use.
  if (cmd === V2_CMD_LOCAL || (af !== V2_AF_INET && af !== V2_AF_INET6) || proto === 0) return unknown;
  const alen = af === V2_AF_INET ? 4 : 16;
  if (len < 2 * alen + 4) throw new ProxyProtocolError(`v2 header's address block is ${len} bytes, too short for its family`);
  const at = 16;
  const family: ProxyFamily = `${proto === V2_PROTO_DGRAM ? 'UDP' : 'TCP'}${alen === 4 ? '4' : '6'}`;
  return {
    version: 2,
    command: 'proxy',
    family,
    source: { address: formatAddress(buf.subarray(at, at + alen)), port: buf.readUInt16BE(at + 2 * alen) },
    dest: { address: formatAddress(buf.subarray(at + alen, at + 2 * alen)), port: buf.readUInt16BE(at + 2 * alen + 2) },
    headerLength,
  };
}
