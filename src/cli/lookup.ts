// Reading objects through the Control API, and finding the one an operator
// means: a full id, a unique id prefix, or a name (hostname for nodes), as
// docker does. Also the retry of read-modify-write on a version conflict.
import * as grpc from './grpc-codes.js';
import { networkFromProto, nodeFromProto, serviceFromProto, taskFromProto } from '../api/convert.js';
import type { control } from '../api/wire.js';
import type { Network, Node, Service, Task } from '../api/objects.js';
import { quoteArg, shownName } from './args.js';
import type { Control } from './connection.js';
import { CliError, RpcError } from './errors.js';

export async function listNodes(control: Control): Promise<Node[]> {
  const res = await control.call('ListNodes', {});
  return res.nodes.map(nodeFromProto);
}

/** The id of the node the CLI talks to (docker's "self"); '' when the manager does not say. */
export async function selfNodeId(control: Control): Promise<string> {
  return (await control.call('ClusterInfo', {})).selfId ?? '';
}

export async function getNode(control: Control, id: string): Promise<Node> {
  const res = await control.call('GetNode', { nodeId: id });
  if (!res.node) throw new CliError(`the manager answered GetNode(${id}) without a node`);
  return nodeFromProto(res.node);
}

export async function listServices(control: Control): Promise<Service[]> {
  const res = await control.call('ListServices', {});
  return res.services.map(serviceFromProto);
}

/** Every service with the manager's count of its tasks (docker's ServiceStatus), null when the manager sent none. */
export async function listServicesWithStatus(control: Control): Promise<{ service: Service; status: control.ServiceStatus__Output | null }[]> {
  const res = await control.call('ListServices', {});
  return res.services.map((s) => ({ service: serviceFromProto(s), status: s.serviceStatus ?? null }));
}

/** Tasks per ListTasks call: the manager's most (larger pages are cut to it). */
const TASK_PAGE = 5_000;

/** Every matching task, page by page: one answer holds at most 5,000 (proto/control.proto). */
export async function listTasks(control: Control, filters: NonNullable<control.ListTasksRequest['filters']> = {}): Promise<Task[]> {
  const out: Task[] = [];
  let pageToken = '';
  do {
    const res = await control.call('ListTasks', { filters, pageSize: TASK_PAGE, pageToken });
    for (const t of res.tasks) out.push(taskFromProto(t));
    pageToken = res.nextPageToken ?? '';
  } while (pageToken);
  return out;
}

/**
 * The node `ref` names among `nodes`: the exact id, else the exact hostname,
 * else the only node whose id starts with `ref`. A CliError when there is none
 * or more than one.
 */
export function matchNode(nodes: readonly Node[], ref: string): Node {
  const byId = nodes.find((n) => n.id === ref);
  if (byId) return byId;
  const byName = nodes.filter((n) => n.description.hostname === ref);
  if (byName.length === 1) return byName[0];
  if (byName.length > 1) {
    throw new CliError(`hostname ${quoteArg(ref)} is ambiguous: ${byName.length} nodes have it (${byName.map((n) => n.id).join(', ')}): use the node id`);
  }
  const byPrefix = ref.length > 0 ? nodes.filter((n) => n.id.startsWith(ref)) : [];
  if (byPrefix.length === 1) return byPrefix[0];
  if (byPrefix.length > 1) throw new CliError(`node id prefix ${quoteArg(ref)} is ambiguous: it matches ${byPrefix.length} nodes: give more characters of the id`);
  throw new CliError(`no node ${quoteArg(ref)} in the cluster: see the ids and hostnames with \`flotilla node ls\``);
}

/** The service named by `ref`: GetService (id or name), then a unique id prefix among all services. */
export async function findService(control: Control, ref: string): Promise<Service> {
  try {
    const res = await control.call('GetService', { serviceIdOrName: ref });
    if (res.service) return serviceFromProto(res.service);
  } catch (err) {
    if (!(err instanceof RpcError) || (err.code !== grpc.status.NOT_FOUND && err.code !== grpc.status.INVALID_ARGUMENT)) throw err;
  }
  const all = await listServices(control);
  const exact = all.find((s) => s.id === ref || s.spec.name === ref);
  if (exact) return exact;
  const byPrefix = ref.length > 0 ? all.filter((s) => s.id.startsWith(ref)) : [];
  if (byPrefix.length === 1) return byPrefix[0];
  if (byPrefix.length > 1) throw new CliError(`service id prefix ${quoteArg(ref)} is ambiguous: it matches ${byPrefix.length} services: give more characters of the id, or the name`);
  throw new CliError(`no service ${quoteArg(ref)}: see the names and ids with \`flotilla service ls\``);
}

export async function listNetworks(control: Control): Promise<Network[]> {
  const res = await control.call('ListNetworks', {});
  return res.networks.map(networkFromProto);
}

/** No network has the name, id or id prefix the operator gave. */
export class NoSuchNetworkError extends CliError {}

/** A CliError saying that no network is named `ref`. */
export function noSuchNetwork(ref: string): NoSuchNetworkError {
  return new NoSuchNetworkError(`no network ${quoteArg(ref)}: see the names and ids with \`flotilla network ls\`, or create it with \`flotilla network create\``);
}

/**
 * The network `ref` names: a full id, a name or a unique id prefix, resolved
 * by the manager (GetNetwork); a CliError when there is none, the manager's
 * word when the prefix is ambiguous.
 */
export async function findNetwork(control: Control, ref: string): Promise<Network> {
  if (ref === '') throw noSuchNetwork(ref);
  try {
    const res = await control.call('GetNetwork', { networkId: ref });
    if (res.network) return networkFromProto(res.network);
  } catch (err) {
    if (err instanceof RpcError && err.code === grpc.status.NOT_FOUND) throw noSuchNetwork(ref);
    throw err;
  }
  throw new CliError(`the manager answered GetNetwork(${quoteArg(ref)}) without a network`);
}

/**
 * The ids of the networks `refs` name (names, ids or id prefixes), each
 * looked up once: for `service update --network-add/--network-rm`, whose
 * spec holds ids.
 */
export async function networkIds(control: Control, refs: readonly string[]): Promise<Map<string, string>> {
  const ids = new Map<string, string>();
  for (const ref of new Set(refs)) ids.set(ref, (await findNetwork(control, ref)).id);
  return ids;
}

export const VERSION_RETRIES = 5;

/**
 * Read-modify-write with optimistic concurrency: `write(obj)` sends a change
 * with obj.version; on ABORTED (someone changed the object in between) the
 * object is read again with `reread` and the change redone, a few times.
 */
export async function retryOnConflict<T extends { version: number }, R>(
  first: T,
  reread: () => Promise<T>,
  write: (obj: T) => Promise<R>,
  what: string,
  attempts = VERSION_RETRIES,
): Promise<R> {
  let obj = first;
  for (let i = 1; ; i++) {
    try {
      return await write(obj);
    } catch (err) {
      if (!(err instanceof RpcError) || err.code !== grpc.status.ABORTED) throw err;
      if (i >= attempts) throw new CliError(`${what} kept changing while it was being updated (${attempts} attempts): try again`);
      obj = await reread();
    }
  }
}

/** A network as `service inspect --pretty` names it: its name, or its id when it is gone. */
export function networkName(networks: ReadonlyMap<string, Network>, id: string): string {
  return networks.get(id)?.spec.name ?? shownName(id);
}
