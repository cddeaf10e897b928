// The Control API's networks: create, get, list and remove. A network is a
// name services attach to (TaskTemplate.networks): tasks on a shared network
// find each other's services by name. Each engine runs it as a local bridge
// network (the agent creates it when a task needs it), and the nodes' proxies
// carry traffic between engines. As in Swarm, removing a network that a
// service uses is refused, naming the services.
import { networkSpecFromProto, networkToProto } from '../../api/convert.js';
import type { control } from '../../api/wire.js';
import { generateId } from '../ca/ca.js';
import { createAction, deleteAction, type ClusterStore } from '../store/store.js';
import type { Network } from '../../api/objects.js';
import { quoteInput } from '../../api/input.js';
import { findNamed, KindApi, refuseInUse, resolveNamed } from './common.js';

/** A network by id, name, or unique id prefix; undefined when none (or the prefix is ambiguous). */
export function findNetwork(store: ClusterStore, ref: string): Network | undefined {
  return findNamed(store, 'network', ref);
}

export class NetworksApi extends KindApi {
  async CreateNetwork(req: control.CreateNetworkRequest__Output): Promise<control.CreateNetworkResponse__Output> {
    const spec = networkSpecFromProto(req.spec);
    await this.rs.barrier();
    const now = Date.now();
    const network: Network = { id: generateId(), version: 0, createdAt: now, updatedAt: now, spec };
    // The store refuses a second network of the same name (NAMED_KINDS), with the name in its message.
    const [stored] = await this.writer.write([createAction('network', network)]);
    return { network: networkToProto(stored as Network) };
  }

  async GetNetwork(req: control.GetNetworkRequest__Output): Promise<control.GetNetworkResponse__Output> {
    await this.rs.barrier();
    return { network: networkToProto(this.resolve(req.networkId)) };
  }

  async ListNetworks(req: control.ListNetworksRequest__Output): Promise<control.ListNetworksResponse__Output> {
    await this.rs.barrier();
    const f: Partial<NonNullable<control.ListNetworksRequest__Output['filters']>> = req.filters ?? {};
    const networks = this.rs.store
      .list('network')
      .filter((n) => (f.idPrefixes?.length ? f.idPrefixes.some((id) => n.id.startsWith(id)) : true))
      .filter((n) => (f.names?.length ? f.names.some((name) => n.spec.name.toLowerCase() === name.toLowerCase()) : true))
      .sort((a, b) => (a.spec.name < b.spec.name ? -1 : a.spec.name > b.spec.name ? 1 : 0));
    return { networks: networks.map(networkToProto) };
  }

  async RemoveNetwork(req: control.RemoveNetworkRequest__Output): Promise<control.RemoveNetworkResponse__Output> {
    await this.rs.barrier();
    const network = this.resolve(req.networkId);
    // A service's previous spec counts too: a rollback would attach its tasks to the network again.
    refuseInUse(
      this.rs.store,
      (spec) => (spec.taskTemplate.networks ?? []).includes(network.id),
      `network ${quoteInput(network.spec.name)}`,
      (them) => `remove ${them} or detach ${them} first (service update --network-rm ${network.spec.name})`,
    );
    await this.writer.write([deleteAction('network', network.id)]);
    return {};
  }

  private resolve(ref: string): Network {
    return resolveNamed(this.rs.store, 'network', ref, 'see `flotilla network ls`');
  }
}
