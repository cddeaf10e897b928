// The data plane's tables as the dispatcher keeps and sends them: one entry per
// service the data plane carries (endpoints.ts), recomputed for the services
// whose tasks, nodes or spec changed, and sent to every session as the
// entries that changed and the ids of those that left. A new session gets the
// complete table. Entries are compared by their JSON, so a write that moves
// nothing a proxy sees (a task's status message) sends nothing.
import { networkAliasesToProto, networkToProto, portBindingToProto, portConfigToProto, networkAttachmentToProto } from '../../api/convert.js';
import { enumToProto, LB_POLICIES, PROXY_PROTOCOLS, RESOLUTION_MODES } from '../../api/enums.js';
import type { dispatcher } from '../../api/wire.js';
import type { ClusterStore } from '../store/store.js';
import { hasDataPlane, serviceEndpoints, type EndpointsEntry } from './endpoints.js';

export class DataPlaneTable {
  /** Each carried service's entry: its JSON (to compare) and its proto form (to send). */
  private readonly entries = new Map<string, { json: string; proto: dispatcher.ServiceEndpoints__Output }>();
  private readonly dirty = new Set<string>();
  private allDirty = true;
  private networksChanged = true;

  constructor(private readonly store: ClusterStore) {}

  markService(id: string): void {
    this.dirty.add(id);
  }

  /** A task changed: its service is looked at again if the data plane carries it (or did). */
  markTask(serviceId: string): void {
    if (this.entries.has(serviceId) || this.dirty.has(serviceId)) {
      this.dirty.add(serviceId);
      return;
    }
    const s = this.store.get('service', serviceId);
    if (s && hasDataPlane(s)) this.dirty.add(serviceId);
  }

  /** After a node changed (state, engine) or a snapshot restore: every service is looked at again. */
  markAll(): void {
    this.allDirty = true;
  }

  markNetworks(): void {
    this.networksChanged = true;
  }

  get pending(): boolean {
    return this.allDirty || this.dirty.size > 0 || this.networksChanged;
  }

  /** Recompute what is marked; the changes to send every session, or undefined when nothing a node sees changed. */
  refresh(): dispatcher.DataPlane__Output | undefined {
    const ids = this.allDirty ? new Set([...this.entries.keys(), ...this.store.list('service').map((s) => s.id)]) : new Set(this.dirty);
    this.allDirty = false;
    this.dirty.clear();
    const changed: dispatcher.ServiceEndpoints__Output[] = [];
    const removed: string[] = [];
    for (const id of ids) {
      const service = this.store.get('service', id);
      const entry = service && hasDataPlane(service) ? serviceEndpoints(service, this.store.tasksByService(id, { sorted: false }), (n) => this.store.get('node', n)) : undefined;
      const old = this.entries.get(id);
      if (entry === undefined) {
        if (old !== undefined) {
          this.entries.delete(id);
          removed.push(id);
        }
        continue;
      }
      const json = JSON.stringify(entry);
      if (old?.json === json) continue;
      const proto = entryToProto(entry);
      this.entries.set(id, { json, proto });
      changed.push(proto);
    }
    const networks = this.networksChanged;
    this.networksChanged = false;
    if (changed.length === 0 && removed.length === 0 && !networks) return undefined;
    return {
      complete: false,
      services: changed,
      removedServiceIds: removed,
      hasNetworks: networks,
      networks: networks ? this.store.list('network').map(networkToProto) : [],
      vipBlock: '',
    };
  }

  /** The whole table, for a session's first message (after refresh(), so that it is current). */
  complete(vipBlock: string): dispatcher.DataPlane__Output {
    return {
      complete: true,
      services: [...this.entries.values()].map((e) => e.proto),
      removedServiceIds: [],
      hasNetworks: true,
      networks: this.store.list('network').map(networkToProto),
      vipBlock,
    };
  }
}

function entryToProto(e: EndpointsEntry): dispatcher.ServiceEndpoints__Output {
  return {
    serviceId: e.serviceId,
    name: e.name,
    aliases: e.aliases,
    mode: enumToProto(RESOLUTION_MODES, e.mode),
    networkIds: e.networkIds,
    networkAliases: networkAliasesToProto(e.networkAliases),
    ports: e.ports.map(portConfigToProto),
    lbPolicy: enumToProto(LB_POLICIES, e.lbPolicy),
    proxyProtocol: enumToProto(PROXY_PROTOCOLS, e.proxyProtocol),
    backends: e.backends.map((b) => ({
      taskId: b.taskId,
      nodeId: b.nodeId,
      slot: b.slot,
      weight: b.weight,
      ports: b.ports.map(portBindingToProto),
      networks: b.networks.map(networkAttachmentToProto),
      engineId: b.engineId,
    })),
  };
}
