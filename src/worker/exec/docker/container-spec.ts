// Turns a task (its TaskTemplate and published ports) into the Docker engine's
// container-create body. Pure: no engine, so every field mapping is unit-tested.
import type Dockerode from 'dockerode';
import type { HealthCheck, Mount, PortConfig, Task } from '../../../api/objects.js';
import { InvalidSpecError, type Owner } from '../executor.js';
import { containerName, taskLabels } from './labels.js';
import { networkName } from '../../../common/engine-names.js';

const NS_PER_MS = 1_000_000;

/** Docker's HealthConfig, durations in nanoseconds; 0 / [] mean "the image's". */
export function toHealthConfig(hc: HealthCheck): Dockerode.HealthConfig {
  return {
    Test: [...hc.test],
    Interval: hc.intervalMs * NS_PER_MS,
    Timeout: hc.timeoutMs * NS_PER_MS,
    Retries: hc.retries,
    StartPeriod: hc.startPeriodMs * NS_PER_MS,
  };
}

function toMount(m: Mount): Dockerode.MountSettings {
  if (!m.target.startsWith('/')) throw new InvalidSpecError(`mount target ${JSON.stringify(m.target)} must be an absolute path`);
  if (m.type === 'bind') {
    if (!m.source.startsWith('/')) throw new InvalidSpecError(`bind mount source ${JSON.stringify(m.source)} must be an absolute host path`);
    return { Type: 'bind', Source: m.source, Target: m.target, ReadOnly: m.readOnly };
  }
  // A volume with an empty source is anonymous: the engine names it, and
  // `remove` deletes it with the container (v=true).
  return { Type: 'volume', Source: m.source, Target: m.target, ReadOnly: m.readOnly };
}

/** Where the node's data plane reaches its tasks, and their DNS server (data-plane.ts in the manager sends both). */
export interface DataPlaneSettings {
  /** The node's address that other nodes' proxies reach (a task's ports are published on it, on a port the engine picks). */
  dataAddr: string;
  /** The node's DNS server for containers on cluster networks; '' when the node has none. */
  dnsServer: string;
  /** The Docker network of a cluster network (networkName()). */
  networkName: (networkId: string) => string;
}

/**
 * Ports as host port bindings. A 'host'-mode port is bound on the published
 * port of every address of the node, exactly as Swarm's host mode. An
 * 'ingress' port is the routing mesh's: the task's target port is published on
 * the node's data address, on a port the engine picks, and every node's proxy
 * (src/network) sends the published port's connections there. So are the
 * image's exposed ports of a task on a cluster network (`exposedByImage`)
 * and those its spec exposes (ContainerSpec.expose), which a service's
 * virtual IP forwards.
 */
function toPorts(ports: PortConfig[], exposedByImage: readonly string[], dataAddr: string): { exposed: Record<string, object>; bindings: Dockerode.PortMap } {
  const exposed: Record<string, object> = {};
  const bindings: Dockerode.PortMap = {};
  const mesh = new Set<string>();
  for (const p of ports) {
    const key = `${p.targetPort}/${p.protocol}`;
    exposed[key] = {};
    if (p.publishMode === 'host') (bindings[key] ??= []).push({ HostIp: '', HostPort: String(p.publishedPort) });
    else mesh.add(key);
  }
  for (const key of exposedByImage) mesh.add(key);
  for (const key of mesh) {
    exposed[key] = {};
    (bindings[key] ??= []).push({ HostIp: dataAddr, HostPort: '' });
  }
  return { exposed, bindings };
}

/** SwarmKit's mapping of a CPU reservation to relative CPU shares (1 CPU = 1024). */
export function cpuShares(nanoCpus: number): number {
  if (nanoCpus <= 0) return 0;
  return Math.max(2, Math.round((nanoCpus * 1024) / 1e9));
}

/** The body of POST /containers/create for `task`, owned by `owner`; `fileMounts`: the binds of its secrets' and configs' files. */
export function toCreateOptions(
  task: Task,
  owner: Owner,
  plane: DataPlaneSettings = { dataAddr: '', dnsServer: '', networkName },
  exposedByImage: readonly string[] = [],
  fileMounts: readonly Dockerode.MountSettings[] = [],
): Dockerode.ContainerCreateOptions {
  const c = task.spec.container;
  if (!c.image) throw new InvalidSpecError('no image');
  const { limits, reservations } = task.spec.resources;
  const networks = task.spec.networks ?? [];
  // The ports the image exposes and those the spec does (ContainerSpec.expose) are published for the virtual IP's
  // proxies on every node; a dnsrr service has no virtual IP (its clients reach the tasks' own addresses on the
  // network), so they stay unpublished.
  const viaVip = networks.length > 0 && task.endpoint?.mode !== 'dnsrr';
  const { exposed, bindings } = toPorts(task.endpoint?.ports ?? [], viaVip ? [...exposedByImage, ...(task.spec.container.expose ?? [])] : [], plane.dataAddr);

  const opts: Dockerode.ContainerCreateOptions = {
    name: containerName(task),
    Image: c.image,
    // The service's container labels, then flotilla's own, which win a clash (they say whose container it is).
    Labels: { ...(task.spec.container.labels ?? {}), ...taskLabels(task, owner) },
    Env: [...c.env],
    // As in SwarmKit: `command` replaces the image's ENTRYPOINT, `args` its CMD;
    // empty keeps the image's.
    ...(c.command.length > 0 ? { Entrypoint: [...c.command] } : {}),
    ...(c.args.length > 0 ? { Cmd: [...c.args] } : {}),
    ...(c.dir ? { WorkingDir: c.dir } : {}),
    ...(c.user ? { User: c.user } : {}),
    ...(c.healthcheck ? { Healthcheck: toHealthConfig(c.healthcheck) } : {}),
    ExposedPorts: exposed,
    // Whole seconds for `docker stop` run by hand; flotilla's own shutdown uses
    // the exact milliseconds (DockerExecutor.shutdown).
    StopTimeout: Math.ceil(c.stopGracePeriodMs / 1000),
    HostConfig: {
      // The files of its secrets and configs (read-only binds from the node's tmpfs: task-files.ts) come after the
      // task's own mounts: their data is in no field of the container but in those files.
      Mounts: [...c.mounts.map(toMount), ...fileMounts],
      PortBindings: bindings,
      Memory: limits.memoryBytes,
      NanoCpus: limits.nanoCpus,
      MemoryReservation: reservations.memoryBytes,
      CpuShares: cpuShares(reservations.nanoCpus),
      // Restarts are the orchestrator's decision (restart policy, rescheduling):
      // the engine must never restart a task's container by itself.
      RestartPolicy: { Name: 'no' },
      // On a cluster network: the first is the container's own (its default route), the others are connected
      // before it starts; the engine's embedded DNS answers container names and asks the node's DNS server the rest.
      ...(networks.length > 0 ? { NetworkMode: plane.networkName(networks[0]) } : {}),
      ...(networks.length > 0 && plane.dnsServer ? { Dns: [plane.dnsServer] } : {}),
    },
  };
  return opts;
}
