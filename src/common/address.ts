// Network addresses as flotilla writes them: HOST:PORT, where HOST is a name,
// an IPv4 address or a bracketed IPv6 address. One definition for the Raft
// transport, the manager services, the daemon and the CLI.

const HOST_PORT_RE = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::(\d{1,5}))?$/;

/** HOST[:PORT] split by syntax alone (the port may be out of range); null when `addr` is not of that shape. */
export function splitHostPort(addr: unknown): { host: string; port: number | undefined } | null {
  const m = typeof addr === 'string' ? HOST_PORT_RE.exec(addr) : null;
  if (!m) return null;
  return { host: m[1], port: m[2] === undefined ? undefined : Number(m[2]) };
}

export function validPort(port: number): boolean {
  return Number.isInteger(port) && port >= 1 && port <= 65535;
}

/** True for HOST:PORT with a port in 1..65535. */
export function isHostPort(addr: unknown): boolean {
  const hp = splitHostPort(addr);
  return hp !== null && hp.port !== undefined && validPort(hp.port);
}

const IPV4_RE = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** True for a dotted-quad IPv4 address in 127.0.0.0/8 (no leading zeros, no port). */
export function isIPv4Loopback(host: string): boolean {
  return IPV4_RE.test(host) && host.startsWith('127.');
}

/**
 * Where a node's routing mesh binds published ports when the operator gave
 * no --publish-addr: the node's own advertise host when that is a loopback
 * address (127.0.0.0/8), so that several nodes on one host (tests, a local
 * cluster on 127.0.0.x) each bind their own address and do not clash; else
 * every address, 0.0.0.0, as Swarm's ingress does. `advertiseHost` is the
 * host part of the advertise address (no port).
 */
export function defaultPublishAddr(advertiseHost: string): string {
  return isIPv4Loopback(advertiseHost) ? advertiseHost : '0.0.0.0';
}

/** The port of a node's HTTP listener (metrics; the console on managers) when --metrics-addr names none. */
export const DEFAULT_METRICS_PORT = 9324;

/**
 * Where a node serves /metrics when the operator gave no --metrics-addr: its
 * own advertise host when that is a loopback address (several nodes on one
 * host each bind their own, as defaultPublishAddr), else 127.0.0.1; port
 * 9324. Never every address by default: the metrics say much about the
 * cluster and have no authentication (docker's metrics-addr is typically
 * 127.0.0.1:9323, one port below, which the engine beside the node may hold).
 */
export function defaultMetricsAddr(advertiseHost: string): string {
  return `${isIPv4Loopback(advertiseHost) ? advertiseHost : '127.0.0.1'}:${DEFAULT_METRICS_PORT}`;
}
