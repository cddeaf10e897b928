// Which cluster networks a container that asks the node's DNS server is on,
// from the address it asks from. The engine knows: each cluster network runs
// as an engine network (labelled with the cluster's id) that lists its
// containers and their addresses. A container on several networks asks from
// one address (its default route's) but sees the services of all of them, as
// in Swarm. Read from the engine at most every MIN_REFRESH_MS, and again on a
// miss (a container that just started), so a query costs no engine call in
// the steady state.
import type Docker from 'dockerode';
import { LABEL_CLUSTER_ID, networkIdOf } from '../common/engine-names.js';

const MIN_REFRESH_MS = 200;

export class ClientNetworks {
  /** Container address -> the cluster networks its container is on. */
  private byAddress = new Map<string, ReadonlySet<string>>();
  private lastRefresh = -Infinity;
  private refreshing: Promise<void> | null = null;

  constructor(
    private readonly docker: Docker,
    private readonly clusterId: string,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The cluster networks of the container at `address` (empty when it is not one of this cluster's). */
  async of(address: string): Promise<ReadonlySet<string>> {
    const hit = this.byAddress.get(address);
    if (hit) return hit;
    await this.refresh();
    return this.byAddress.get(address) ?? new Set();
  }

  private refresh(): Promise<void> {
    if (this.now() - this.lastRefresh < MIN_REFRESH_MS) return this.refreshing ?? Promise.resolve();
    this.lastRefresh = this.now();
    this.refreshing ??= this.read().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private async read(): Promise<void> {
    const networks = await this.docker.listNetworks({ filters: { label: [`${LABEL_CLUSTER_ID}=${this.clusterId}`] } }).catch(() => []);
    const containerNets = new Map<string, Set<string>>();
    const containerAddrs = new Map<string, string[]>();
    for (const n of networks) {
      const networkId = networkIdOf(n.Name);
      if (!networkId) continue;
      // The list leaves containers out: inspect each network.
      const info = (await this.docker
        .getNetwork(n.Id)
        .inspect()
        .catch(() => undefined)) as { Containers?: Record<string, { IPv4Address?: string }> } | undefined;
      for (const [cid, c] of Object.entries(info?.Containers ?? {})) {
        let nets = containerNets.get(cid);
        if (!nets) containerNets.set(cid, (nets = new Set()));
        nets.add(networkId);
        const ip = (c.IPv4Address ?? '').split('/')[0];
        if (ip) (containerAddrs.get(cid) ?? containerAddrs.set(cid, []).get(cid)!).push(ip);
      }
    }
    const byAddress = new Map<string, ReadonlySet<string>>();
    for (const [cid, ips] of containerAddrs) for (const ip of ips) byAddress.set(ip, containerNets.get(cid)!);
    this.byAddress = byAddress;
  }
}
