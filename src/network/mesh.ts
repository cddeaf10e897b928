// One node's data plane: it turns the tables the leader sends (every service
// the data plane carries, its resolved ports, policy and backends; see
// proto/dispatcher.proto, DataPlane) into
// - the routing mesh: a proxy on this node's publish address for every
//   ingress port of every service, sending each connection (or UDP flow) to a
//   backend task on any node, where the task's port is published on its node's
//   data address;
// - virtual IPs: a service on a cluster network in endpoint mode vip gets an
//   address of this node's VIP block (added to the loopback interface), and a
//   proxy there on each of its ports, the same way; one in mode dnsrr gets
//   neither (a service switched to dnsrr gives its address back);
// - the DNS server that containers on cluster networks use (the block's first
//   address, port 53): a vip service's name resolves to its virtual IP on this
//   node, a dnsrr service's name and `tasks.NAME` (either mode) to the
//   addresses of its tasks that share an engine network with the asker, for
//   services that share a network with the asking container (an alias the
//   service has on one network, only there); other names go to the host's
//   resolvers. Answers with several addresses come shuffled, as Docker's
//   resolver shuffles them, so that clients taking the first spread.
// Backends change in place (setBackends), so open connections to a task that
// left the table keep going while new ones go elsewhere: that is the drain.
// Listeners and addresses are reconciled one change at a time, in order.
import { readFileSync } from 'node:fs';
import { pino, type Logger } from 'pino';
import type { dispatcher } from '../api/wire.js';
import { enumToProto, LB_POLICIES, PORT_PROTOCOLS, PROXY_PROTOCOLS, PUBLISH_MODES, RESOLUTION_MODES } from '../api/enums.js';
import { PortProxy, type Backend, type LbPolicy } from './port-proxy.js';
import { DnsServer, resolveUpstreams, type DnsAnswer, type DnsQuery } from './dns-server.js';
import { AddressAllocator, NodeAddresses, parseCidr, parseIpv4 } from './node-addresses.js';

type Entry = dispatcher.ServiceEndpoints__Output;

/** The wire's enum numbers read with the contract's tables (src/api/enums.ts); an unknown number reads as the default. */
const protocolOf = (n: number): 'tcp' | 'udp' => PORT_PROTOCOLS.byNumber.get(n) ?? 'tcp';
const lbPolicyOf = (n: number): LbPolicy => LB_POLICIES.byNumber.get(n) ?? 'round-robin';
const proxyProtocolOf = (n: number): 'v1' | 'v2' | undefined => {
  const p = PROXY_PROTOCOLS.byNumber.get(n);
  return p === 'none' ? undefined : p;
};
const PUBLISH_INGRESS = enumToProto(PUBLISH_MODES, 'ingress');
const isDnsrr = (s: Entry): boolean => RESOLUTION_MODES.byNumber.get(s.mode) === 'dnsrr';
/** A service that has a virtual IP on every node: on a cluster network, in endpoint mode vip. */
const wantsVip = (s: Entry | undefined): boolean => s !== undefined && s.networkIds.length > 0 && !isDnsrr(s);

export interface NodeMeshOptions {
  nodeId: string;
  /** Where ingress ports are bound: this node's own address, or every address ('0.0.0.0'). */
  publishAddr: string;
  /** This node's engine (Docker's ID): tasks on it share its networks with the asking containers. */
  engineId: () => string;
  /** The cluster networks of the container at an address (src/network/client-networks.ts). */
  clientNetworks: (address: string) => Promise<ReadonlySet<string>>;
  /** The cluster's networks changed: the engine's networks of removed ones may go. */
  onNetworks?: (ids: ReadonlySet<string>) => void;
  /** Add and remove the node's virtual addresses (default: iproute2 on `lo`); tests pass their own. */
  addresses?: { add(ip: string): Promise<void>; remove(ip: string): Promise<void>; list(): Promise<string[]> };
  /** The DNS server's port (default 53). */
  dnsPort?: number;
  /** Resolvers for names that are not the cluster's (default: /etc/resolv.conf's, loopback ones left out). */
  upstreams?: string[];
  /** Random numbers in [0, 1) for shuffling DNS answers (default Math.random); tests pass their own. */
  random?: () => number;
  logger?: Logger;
}

interface Listener {
  proxy: PortProxy;
  /** 'ingress' or the service id of a virtual IP's. */
  owner: string;
  ready: Promise<boolean>;
}

export class NodeMesh {
  private readonly log: Logger;
  private readonly services = new Map<string, Entry>();
  private networks = new Set<string>();
  private block: AddressAllocator | undefined;
  private blockCidr = '';
  /** Listeners by 'HOST:PORT/PROTO'. */
  private readonly listeners = new Map<string, Listener>();
  private dns: DnsServer | undefined;
  private dnsAddr = '';
  /** Virtual IPs on the node, by service id. */
  private readonly vips = new Map<string, string>();
  private queue: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly addresses: NonNullable<NodeMeshOptions['addresses']>;
  /** The node's addresses could not be changed (not root): no virtual IPs or DNS, said once. */
  private noAddresses = false;

  constructor(private readonly o: NodeMeshOptions) {
    this.log = (o.logger ?? pino({ level: 'silent' })).child({ component: 'mesh', nodeId: o.nodeId });
    const lo = new NodeAddresses({ logger: this.log });
    this.addresses = o.addresses ?? { add: (ip) => lo.add(ip), remove: (ip) => lo.remove(ip), list: async () => (await lo.list()).map((a) => a.address) };
  }

  /** The DNS server containers on cluster networks are given ('' while there is none). */
  get dnsServer(): string {
    return this.dnsAddr;
  }

  /** A table from the leader: applied in order, after the ones before it. */
  apply(plane: dispatcher.DataPlane__Output): Promise<void> {
    if (plane.complete) {
      this.services.clear();
      if (plane.vipBlock !== this.blockCidr) {
        this.blockCidr = plane.vipBlock;
        this.block = plane.vipBlock ? new AddressAllocator(plane.vipBlock) : undefined;
      }
    }
    for (const s of plane.services) this.services.set(s.serviceId, s);
    for (const id of plane.removedServiceIds) this.services.delete(id);
    if (plane.hasNetworks) {
      this.networks = new Set(plane.networks.map((n) => n.meta?.id ?? '').filter((id) => id !== ''));
      this.o.onNetworks?.(this.networks);
    }
    const run = this.queue.then(() => this.reconcile(plane.complete));
    this.queue = run.catch((err: unknown) => this.log.error({ err: String(err) }, 'the data plane could not apply a change'));
    return this.queue;
  }

  /** Stops every listener and the DNS server, and takes the node's virtual addresses away. */
  async close(): Promise<void> {
    this.closed = true;
    await this.queue;
    await Promise.all([...this.listeners.values()].map((l) => l.proxy.close()));
    this.listeners.clear();
    await this.dns?.close();
    this.dns = undefined;
    for (const ip of [...this.vips.values(), this.dnsAddr]) if (ip) await this.addresses.remove(ip).catch(() => undefined);
    this.vips.clear();
    this.dnsAddr = '';
  }

  // ------------------------------------------------------------ reconcile

  private async reconcile(complete: boolean): Promise<void> {
    if (this.closed) return;
    const wanted = new Map<string, { host: string; port: number; protocol: 'tcp' | 'udp'; owner: string; backends: Backend[]; entry: Entry }>();
    // The routing mesh: every ingress port, on the publish address.
    for (const s of this.services.values()) {
      for (const p of s.ports) {
        if (p.publishMode !== PUBLISH_INGRESS || p.publishedPort === 0) continue;
        const protocol = protocolOf(p.protocol);
        wanted.set(`${this.o.publishAddr}:${p.publishedPort}/${protocol}`, {
          host: this.o.publishAddr,
          port: p.publishedPort,
          protocol,
          owner: 'ingress',
          backends: backendsFor(s, p.targetPort, protocol),
          entry: s,
        });
      }
    }
    // Virtual IPs of services that left, left their networks or were switched to dnsrr: their listeners
    // closed, then the address given back, before any is handed out (a service switched to vip in the same
    // change may get it).
    for (const [id, ip] of this.vips) {
      if (wantsVip(this.services.get(id))) continue;
      for (const [key, l] of this.listeners) {
        if (l.owner !== id) continue;
        this.listeners.delete(key);
        await l.proxy.close();
      }
      this.vips.delete(id);
      this.block?.release(id);
      await this.addresses.remove(ip).catch((err: unknown) => this.log.warn({ ip, err: String(err) }, 'could not remove a virtual IP'));
    }
    // Virtual IPs: every vip service on a cluster network, on each port its tasks publish for the mesh.
    // A dnsrr service on a network needs the DNS server too, but no address of its own.
    const discovery = this.block !== undefined && !this.noAddresses && [...this.services.values()].some((s) => s.networkIds.length > 0);
    if (discovery) {
      await this.ensureDns();
      for (const s of this.services.values()) {
        if (!wantsVip(s)) continue;
        const vip = await this.ensureVip(s.serviceId);
        if (!vip) continue;
        for (const { port, protocol } of servicePorts(s)) {
          wanted.set(`${vip}:${port}/${protocol}`, { host: vip, port, protocol, owner: s.serviceId, backends: backendsFor(s, port, protocol), entry: s });
        }
      }
    }
    // Listeners: new ones started, existing ones given their backends, gone ones closed.
    for (const [key, w] of wanted) {
      let l = this.listeners.get(key);
      if (!l) {
        const proxy = new PortProxy({ host: w.host, port: w.port, protocol: w.protocol, logger: this.log });
        const listener: Listener = { proxy, owner: w.owner, ready: Promise.resolve(false) };
        listener.ready = proxy.start().then(
          () => true,
          (err: unknown) => {
            this.log.error({ listen: key, service: w.entry.name, err: String(err) }, 'cannot listen for a service: its port is not served on this node (tried again at the next change)');
            // Forgotten, so that the next table change tries again (the port may be free by then).
            if (this.listeners.get(key) === listener) this.listeners.delete(key);
            return false;
          },
        );
        l = listener;
        this.listeners.set(key, l);
      }
      l.proxy.setBackends(w.backends, { policy: lbPolicyOf(w.entry.lbPolicy), proxyProtocol: proxyProtocolOf(w.entry.proxyProtocol) });
    }
    for (const [key, l] of this.listeners) {
      if (wanted.has(key)) continue;
      this.listeners.delete(key);
      await l.proxy.close();
    }
    if (!discovery && this.dns) {
      await this.dns.close();
      this.dns = undefined;
      await this.addresses.remove(this.dnsAddr).catch(() => undefined);
      this.dnsAddr = '';
    }
    if (complete && this.block) await this.removeStrays();
    await Promise.all([...this.listeners.values()].map((l) => l.ready));
  }

  /** Addresses of this node's block left by an earlier run (a kill -9) that nothing uses now. */
  private async removeStrays(): Promise<void> {
    const inUse = new Set([...this.vips.values(), this.dnsAddr]);
    const block = parseCidr(this.blockCidr);
    const inBlock = (ip: string): boolean => {
      const n = parseIpv4(ip);
      return n >= block.first && n < block.first + block.size;
    };
    const ours = (await this.addresses.list().catch(() => [] as string[])).filter((ip) => inBlock(ip) && !inUse.has(ip));
    for (const ip of ours) await this.addresses.remove(ip).catch(() => undefined);
  }

  private async ensureVip(serviceId: string): Promise<string> {
    const have = this.vips.get(serviceId);
    if (have) return have;
    let ip: string;
    try {
      ip = this.block!.allocate(serviceId);
    } catch (err) {
      this.log.error({ service: serviceId, err: String(err) }, 'no virtual IP for a service');
      return '';
    }
    if (!(await this.addAddress(ip))) return '';
    this.vips.set(serviceId, ip);
    return ip;
  }

  private async addAddress(ip: string): Promise<boolean> {
    try {
      await this.addresses.add(ip);
      return true;
    } catch (err) {
      if (!this.noAddresses) this.log.error({ ip, err: String(err) }, 'service discovery is off on this node: it cannot add its virtual addresses');
      this.noAddresses = true;
      return false;
    }
  }

  private async ensureDns(): Promise<void> {
    if (this.dns || !this.block) return;
    const addr = this.block.dnsAddress;
    if (!(await this.addAddress(addr))) return;
    const dns = new DnsServer({
      host: addr,
      port: this.o.dnsPort ?? 53,
      resolve: (q) => this.resolve(q),
      upstreams: this.o.upstreams ?? hostUpstreams(),
      logger: this.log,
    });
    try {
      await dns.start();
    } catch (err) {
      this.log.error({ err: String(err) }, 'the DNS server for containers could not start: services are not found by name on this node');
      return;
    }
    this.dns = dns;
    this.dnsAddr = addr;
    this.log.info({ dns: addr, block: this.blockCidr }, 'DNS server for containers on cluster networks');
  }

  // ------------------------------------------------------------ DNS

  /** A name asked by a container (see the header); undefined: not the cluster's, ask the host's resolvers. */
  async resolve(q: DnsQuery): Promise<DnsAnswer | undefined> {
    const tasksOf = q.name.startsWith('tasks.') ? q.name.slice('tasks.'.length) : undefined;
    const name = tasksOf ?? q.name;
    // A service's own name first, then its aliases (a stack's short names, per-network aliases): the first that
    // shares a network where it has that name with the asker (two stacks may both have a `web`, each on its own
    // networks; an alias on one network is not the service's name on its others).
    const all = [...this.services.values()];
    const candidates: [Entry, string[]][] = [
      ...all.filter((s) => s.name.toLowerCase() === name).map((s): [Entry, string[]] => [s, s.networkIds]),
      ...all.filter((s) => s.name.toLowerCase() !== name).map((s): [Entry, string[]] => [s, aliasNetworks(s, name)]).filter(([, nets]) => nets.length > 0),
    ];
    if (candidates.length === 0) return undefined;
    const asker = await this.o.clientNetworks(q.client);
    let entry: Entry | undefined;
    let shared: string[] = [];
    for (const [s, named] of candidates) {
      shared = named.filter((n) => asker.has(n));
      if (shared.length > 0) {
        entry = s;
        break;
      }
    }
    if (!entry) return undefined;
    if (tasksOf === undefined && !isDnsrr(entry)) {
      const vip = this.vips.get(entry.serviceId);
      return { kind: 'addresses', addresses: vip ? [vip] : [] };
    }
    // `tasks.NAME`, and a dnsrr service's own names: the tasks' own addresses, where the asker reaches them,
    // on a shared network of this node's engine.
    const engine = this.o.engineId();
    const addresses: string[] = [];
    for (const b of entry.backends) {
      if (!engine || b.engineId !== engine) continue;
      for (const n of b.networks) if (shared.includes(n.networkId) && n.address) addresses.push(n.address);
    }
    return { kind: 'addresses', addresses: shuffle([...new Set(addresses)], this.o.random ?? Math.random) };
  }
}

/** Fisher-Yates, in place. */
function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

/** The networks where `name` (lower case) is an alias of the service: all of them for its service-wide aliases, else those it is an alias on. */
function aliasNetworks(s: Entry, name: string): string[] {
  if ((s.aliases ?? []).some((a) => a.toLowerCase() === name)) return s.networkIds;
  const perNetwork = s.networkAliases ?? {};
  return s.networkIds.filter((n) => Object.hasOwn(perNetwork, n) && (perNetwork[n]?.aliases ?? []).some((a) => a.toLowerCase() === name));
}

/** The backends of a service's port: each task's binding of that target port on its node. */
export function backendsFor(s: Entry, targetPort: number, protocol: 'tcp' | 'udp'): Backend[] {
  const out: Backend[] = [];
  for (const b of s.backends) {
    const binding = b.ports.find((p) => p.targetPort === targetPort && (protocolOf(p.protocol)) === protocol);
    if (!binding) continue;
    out.push({ id: b.taskId, host: binding.hostIp, port: binding.hostPort, weight: b.weight });
  }
  return out;
}

/** The ports a service's virtual IP serves: its endpoint's target ports and whatever its tasks publish for the mesh. */
export function servicePorts(s: Entry): { port: number; protocol: 'tcp' | 'udp' }[] {
  const seen = new Map<string, { port: number; protocol: 'tcp' | 'udp' }>();
  for (const p of s.ports) {
    const protocol = protocolOf(p.protocol);
    seen.set(`${p.targetPort}/${protocol}`, { port: p.targetPort, protocol });
  }
  for (const b of s.backends) {
    for (const p of b.ports) {
      const protocol = protocolOf(p.protocol);
      seen.set(`${p.targetPort}/${protocol}`, { port: p.targetPort, protocol });
    }
  }
  return [...seen.values()];
}

function hostUpstreams(): string[] {
  try {
    return resolveUpstreams(readFileSync('/etc/resolv.conf', 'utf8'));
  } catch {
    return [];
  }
}
