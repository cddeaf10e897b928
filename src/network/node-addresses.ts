// The node's virtual addresses for service discovery. Each node owns one block of the cluster's
// virtual range (10.199.0.0/16 cut in /24s, say); the block's .1 is where the node's DNS server
// listens, and .2 up to the last but one are handed to the node's containers and services. The
// addresses live as /32s on an interface of the node (lo by default), so that the node itself
// answers on them and no other host is told about them.
//
// Two parts: pure helpers (CIDR arithmetic, the node's block, the allocator), and NodeAddresses,
// which adds, removes and lists the /32s with iproute2's `ip` (root, CAP_NET_ADMIN).
import { execFile } from 'node:child_process';
import { pino, type Logger } from 'pino';

// ---------------------------------------------------------------- pure helpers

export interface Ipv4Cidr {
  /** The network address, dotted ("10.199.0.0"). */
  network: string;
  prefixLength: number;
  /** The network address as an unsigned 32-bit number. */
  first: number;
  /** How many addresses the block spans (2^(32 - prefixLength)). */
  size: number;
}

const QUAD_RE = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/;

/** A dotted IPv4 address as an unsigned 32-bit number; throws on anything else (leading zeros too: they read as octal to inet_aton). */
export function parseIpv4(text: string): number {
  const m = QUAD_RE.exec(text);
  const parts = m ? m.slice(1, 5).map(Number) : [];
  if (!m || parts.some((p) => p > 255)) throw new Error(`"${text}" is not an IPv4 address`);
  return ((parts[0] * 256 + parts[1]) * 256 + parts[2]) * 256 + parts[3];
}

export function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** "10.199.0.0/16" parsed; throws when it is not of that shape or has host bits set (a likely typo). */
export function parseCidr(text: string): Ipv4Cidr {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(text.trim());
  if (!m) throw new Error(`"${text}" is not an IPv4 CIDR such as 10.199.0.0/16`);
  const prefixLength = Number(m[2]);
  if (prefixLength > 32) throw new Error(`"${text}": the prefix length must be 0..32`);
  let address: number;
  try {
    address = parseIpv4(m[1]);
  } catch {
    throw new Error(`"${text}" is not an IPv4 CIDR such as 10.199.0.0/16`);
  }
  const size = 2 ** (32 - prefixLength);
  const first = address - (address % size);
  if (first !== address) throw new Error(`"${text}" has host bits set: did you mean ${formatIpv4(first)}/${prefixLength}?`);
  return { network: formatIpv4(first), prefixLength, first, size };
}

/**
 * The block of node number `index` when `clusterRange` is cut in blocks of `prefixLength`: block 3
 * of 10.199.0.0/16 in /24s is 10.199.3.0/24. Throws when the index is outside the range.
 */
export function nodeBlock(clusterRange: string, prefixLength: number, index: number): string {
  const range = parseCidr(clusterRange);
  if (!Number.isInteger(prefixLength) || prefixLength < range.prefixLength || prefixLength > 30) {
    throw new Error(`node block prefix /${prefixLength} must be between /${range.prefixLength} (the cluster range ${clusterRange}) and /30`);
  }
  const blocks = 2 ** (prefixLength - range.prefixLength);
  if (!Number.isInteger(index) || index < 0 || index >= blocks) {
    throw new Error(`node block index ${index} is outside ${range.network}/${range.prefixLength}: it holds ${blocks} blocks of /${prefixLength}, indexes 0..${blocks - 1}`);
  }
  return `${formatIpv4(range.first + index * 2 ** (32 - prefixLength))}/${prefixLength}`;
}

/**
 * Hands out the addresses of one node block: .1 is the node's DNS server's, never handed out; .2 up
 * to the last but one go lowest-free-first (the network and last addresses are left alone, as a
 * subnet's would be), so that addresses stay dense and a released one is the next reused. A key
 * (a task or service id, as the integrator chooses) keeps its address until released.
 */
export class AddressAllocator {
  readonly block: string;
  /** The block's .1: the node's DNS server. */
  readonly dnsAddress: string;
  /** How many addresses can be handed out. */
  readonly capacity: number;
  private readonly first: number;
  private readonly lastOffset: number;
  private readonly byKey = new Map<string, number>();
  private readonly byOffset = new Map<number, string>();
  /** No offset below this one is free: where the next search starts. */
  private lowestFree = 2;

  constructor(blockCidr: string) {
    const cidr = parseCidr(blockCidr);
    if (cidr.prefixLength > 30) throw new Error(`block ${blockCidr} is too small: /30 is the smallest with an address to hand out`);
    this.block = `${cidr.network}/${cidr.prefixLength}`;
    this.first = cidr.first;
    this.dnsAddress = formatIpv4(cidr.first + 1);
    this.lastOffset = cidr.size - 2;
    this.capacity = this.lastOffset - 1;
  }

  /** The key's address: the one it has, else the lowest free one. Throws when the block is full. */
  allocate(key: string): string {
    const had = this.byKey.get(key);
    if (had !== undefined) return formatIpv4(this.first + had);
    let offset = this.lowestFree;
    while (offset <= this.lastOffset && this.byOffset.has(offset)) offset++;
    if (offset > this.lastOffset) throw new Error(`block ${this.block} is full: all ${this.capacity} addresses are in use (cannot allocate one for ${key})`);
    this.take(key, offset);
    this.lowestFree = offset + 1;
    return formatIpv4(this.first + offset);
  }

  /**
   * Gives `key` the given address, as recorded before a restart (the containers kept it). Throws when
   * the address is not one to hand out of this block, or is another key's, or the key has another.
   */
  claim(key: string, address: string): void {
    const offset = parseIpv4(address) - this.first;
    if (offset < 2 || offset > this.lastOffset) throw new Error(`cannot give ${address} to ${key}: not an address to hand out of ${this.block} (.2 to the last but one)`);
    const owner = this.byOffset.get(offset);
    if (owner === key) return;
    if (owner !== undefined) throw new Error(`cannot give ${address} to ${key}: it is ${owner}'s`);
    const had = this.byKey.get(key);
    if (had !== undefined) throw new Error(`cannot give ${address} to ${key}: it has ${formatIpv4(this.first + had)}`);
    this.take(key, offset);
  }

  /** Frees the key's address; false when it had none. */
  release(key: string): boolean {
    const offset = this.byKey.get(key);
    if (offset === undefined) return false;
    this.byKey.delete(key);
    this.byOffset.delete(offset);
    this.lowestFree = Math.min(this.lowestFree, offset);
    return true;
  }

  addressOf(key: string): string | undefined {
    const offset = this.byKey.get(key);
    return offset === undefined ? undefined : formatIpv4(this.first + offset);
  }

  /** Every key with its address, lowest address first. */
  entries(): [key: string, address: string][] {
    return [...this.byOffset.entries()].sort((a, b) => a[0] - b[0]).map(([offset, key]) => [key, formatIpv4(this.first + offset)]);
  }

  get size(): number {
    return this.byKey.size;
  }

  private take(key: string, offset: number): void {
    this.byKey.set(key, offset);
    this.byOffset.set(offset, key);
  }
}

// ---------------------------------------------------------------- the addresses on the interface

export interface NodeAddress {
  address: string;
  prefixLength: number;
}

/** The IPv4 addresses in the output of `ip -j -4 addr show dev DEV`. Throws on output of another shape. */
export function parseIpAddrJson(text: string): NodeAddress[] {
  let links: unknown;
  try {
    links = JSON.parse(text.trim() === '' ? '[]' : text);
  } catch {
    throw new Error('ip -j printed something that is not JSON');
  }
  if (!Array.isArray(links)) throw new Error('ip -j printed JSON that is not a list of interfaces');
  const found: NodeAddress[] = [];
  for (const link of links as { addr_info?: { family?: string; local?: string; prefixlen?: number }[] }[]) {
    for (const a of link?.addr_info ?? []) {
      if (a.family === 'inet' && typeof a.local === 'string' && typeof a.prefixlen === 'number') found.push({ address: a.local, prefixLength: a.prefixlen });
    }
  }
  return found;
}

export interface NodeAddressesOptions {
  /** The interface the /32s go on. Default 'lo'. */
  device?: string;
  /** How long one `ip` command may take. Default 5000 ms. */
  timeoutMs?: number;
  /** The ip command. Default 'ip' (from PATH). */
  ipCommand?: string;
  logger?: Logger;
}

// The wordings of iproute2 for "already there" and "not there", old (RTNETLINK) and new (extack).
const ALREADY_THERE = /File exists|Address already assigned/i;
const NOT_THERE = /Cannot assign requested address|Address not found/i;
const NOT_PERMITTED = /Operation not permitted|Permission denied|EPERM|EACCES/i;
const ROOT_HINT = 'the daemon needs root (CAP_NET_ADMIN) for service discovery';

/** Adds, removes and lists the node's virtual /32 addresses on one interface, through iproute2. */
export class NodeAddresses {
  readonly device: string;
  private readonly timeoutMs: number;
  private readonly ip: string;
  private readonly log: Logger;

  constructor(options: NodeAddressesOptions = {}) {
    this.device = options.device ?? 'lo';
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.ip = options.ipCommand ?? 'ip';
    this.log = (options.logger ?? pino({ level: 'silent' })).child({ component: 'node-addresses', device: this.device });
  }

  /** Adds address/32; one already there is success (adds are repeated after a restart). */
  async add(address: string): Promise<void> {
    parseIpv4(address);
    const r = await this.run(['-4', 'addr', 'add', `${address}/32`, 'dev', this.device]);
    if (r.ok) this.log.info({ address }, 'virtual address added');
    else if (ALREADY_THERE.test(r.reason)) this.log.debug({ address }, 'virtual address already there');
    else throw new Error(this.failure(`cannot add ${address}/32 to ${this.device}`, r.reason));
  }

  /** Removes address/32; one not there is success. */
  async remove(address: string): Promise<void> {
    parseIpv4(address);
    const r = await this.run(['-4', 'addr', 'del', `${address}/32`, 'dev', this.device]);
    if (r.ok) this.log.info({ address }, 'virtual address removed');
    else if (NOT_THERE.test(r.reason)) this.log.debug({ address }, 'virtual address already gone');
    else throw new Error(this.failure(`cannot remove ${address}/32 from ${this.device}`, r.reason));
  }

  /** The interface's IPv4 addresses (the /32s and any other, such as lo's 127.0.0.1/8). */
  async list(): Promise<NodeAddress[]> {
    const r = await this.run(['-j', '-4', 'addr', 'show', 'dev', this.device]);
    if (!r.ok) throw new Error(this.failure(`cannot list the addresses of ${this.device}`, r.reason));
    try {
      return parseIpAddrJson(r.stdout);
    } catch (err) {
      throw new Error(`cannot list the addresses of ${this.device}: ${(err as Error).message}`);
    }
  }

  private failure(what: string, reason: string): string {
    return NOT_PERMITTED.test(reason) ? `${what}: ${reason}; ${ROOT_HINT}` : `${what}: ${reason}`;
  }

  /** Runs ip; never rejects: a failure comes back as a one-line reason. */
  private run(args: string[]): Promise<{ ok: true; stdout: string } | { ok: false; reason: string }> {
    return new Promise((resolve) => {
      execFile(this.ip, args, { timeout: this.timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
        if (!err) {
          resolve({ ok: true, stdout });
          return;
        }
        const e = err as NodeJS.ErrnoException & { killed?: boolean };
        let reason: string;
        if (e.code === 'ENOENT') reason = `${this.ip} not found (install iproute2)`;
        else if (e.code === 'EACCES') reason = `${this.ip}: permission denied (EACCES)`;
        else if (e.killed) reason = `${this.ip} did not finish within ${this.timeoutMs} ms`;
        else reason = oneLine(stderr) || oneLine(stdout) || oneLine(e.message);
        resolve({ ok: false, reason });
      });
    });
  }
}

function oneLine(text: string): string {
  return text.trim().replace(/\s*\n\s*/g, '; ');
}
