// How flotilla's objects are named and labelled on a Docker engine, shared by
// the worker (which creates them) and the data plane (which reads them back).
// Imports nothing of the project.

/** On every container and network flotilla creates: the cluster that owns it. */
export const LABEL_CLUSTER_ID = 'com.flotilla.cluster.id';

const NETWORK_PREFIX = 'flotilla-';

/** The engine network that runs cluster network `networkId`. */
export function networkName(networkId: string): string {
  return `${NETWORK_PREFIX}${networkId}`;
}

/** The cluster network an engine network runs ('' for any other network). */
export function networkIdOf(engineNetwork: string): string {
  return engineNetwork.startsWith(NETWORK_PREFIX) ? engineNetwork.slice(NETWORK_PREFIX.length) : '';
}
