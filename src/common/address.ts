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
