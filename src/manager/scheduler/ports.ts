// Host-mode published ports. A task that publishes a port in host mode binds
// it on its node, so two such tasks cannot share a node for the same
// port/protocol (ingress ports go through the routing mesh and never clash).

import type { EndpointSpec } from '../../api/objects.js';

const NONE: readonly string[] = [];

/** '8080/tcp' for every host-mode port the endpoint publishes (publishedPort > 0). */
export function hostPortKeys(endpoint: EndpointSpec): readonly string[] {
  const ports = endpoint.ports;
  if (ports.length === 0) return NONE;
  let out: string[] | undefined;
  for (const p of ports) {
    if (p.publishMode !== 'host' || p.publishedPort <= 0) continue;
    (out ??= []).push(`${p.publishedPort}/${p.protocol}`);
  }
  return out ?? NONE;
}

/** True when any of the keys is already bound on the node (in use: count > 0). */
export function portsInUse(inUse: ReadonlyMap<string, number>, keys: readonly string[]): boolean {
  if (keys.length === 0 || inUse.size === 0) return false;
  for (const k of keys) if ((inUse.get(k) ?? 0) > 0) return true;
  return false;
}
