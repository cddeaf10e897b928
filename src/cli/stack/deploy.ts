// `stack deploy` applied: reads what the cluster holds, plans (plan.ts), then
// creates networks, secrets and configs, removes what --prune drops, and
// creates or updates services, each through the Control API as the service
// commands do. A service that depends on others is created once they are
// running (or healthy, or completed, as depends_on's condition says): Swarm
// parses depends_on and ignores it; first starts here follow it.
import { serviceFromProto, serviceSpecToProto } from '../../api/convert.js';
import { TaskState, type Service, type Task } from '../../api/objects.js';
import type { CliIo } from '../command.js';
import type { Control } from '../connection.js';
import { CliError } from '../errors.js';
import { listNetworks, listServices, listTasks, retryOnConflict, findService } from '../lookup.js';
import { STACK_NAMESPACE_LABEL, type StackFileObject, type StackModel } from './model.js';
import { planDeploy, sortedByName, type ClusterObjects, type DeployPlan, type ServiceStep } from './plan.js';

/** How long a service waits for one it depends on. */
export const DEPENDENCY_TIMEOUT_MS = 5 * 60_000;
const POLL_MS = 500;

export async function readCluster(control: Control): Promise<ClusterObjects> {
  const [services, networks, secrets, configs] = await Promise.all([
    listServices(control),
    listNetworks(control),
    control.call('ListSecrets', {}),
    control.call('ListConfigs', {}),
  ]);
  const named = (list: { meta?: { id?: string } | null; spec?: { name?: string; labels?: Record<string, string> } | null }[]): ClusterObjects['secrets'] =>
    list.map((x) => ({ id: x.meta?.id ?? '', name: x.spec?.name ?? '', labels: { ...(x.spec?.labels ?? {}) } }));
  return { services, networks, secrets: named(secrets.secrets), configs: named(configs.configs) };
}

/** The tasks of a service that count now: desired RUNNING. */
function live(tasks: readonly Task[]): Task[] {
  return tasks.filter((t) => t.desiredState === TaskState.RUNNING);
}

/** Whether `dep` meets `condition` (depends_on): every task it wants started, healthy, or completed with exit 0. */
export function conditionMet(service: Service, tasks: readonly Task[], condition: ServiceStep['dependsOn'][number]['condition']): boolean {
  const wanted = 'replicated' in service.spec.mode ? service.spec.mode.replicated.replicas : live(tasks).length;
  if (condition === 'service_completed_successfully') {
    const done = tasks.filter((t) => t.status.state === TaskState.COMPLETE && t.status.exitCode === 0);
    return new Set(done.map((t) => t.slot || t.nodeId)).size >= Math.max(1, wanted);
  }
  const running = live(tasks).filter((t) => t.status.state === TaskState.RUNNING);
  if (running.length < wanted) return false;
  return condition === 'service_started' || running.every((t) => t.status.health === 'healthy');
}

async function waitForDependencies(control: Control, io: CliIo, stack: string, step: ServiceStep): Promise<void> {
  for (const d of step.dependsOn) {
    const name = `${stack}_${d.service}`;
    const deadline = io.now() + DEPENDENCY_TIMEOUT_MS;
    const word = d.condition === 'service_healthy' ? 'healthy' : d.condition === 'service_completed_successfully' ? 'completed' : 'running';
    io.out(`Waiting for service ${name} to be ${word} before creating ${step.name}\n`);
    for (;;) {
      const dep = await findService(control, name);
      if (conditionMet(dep, await listTasks(control, { serviceIds: [dep.id] }), d.condition)) break;
      if (io.now() > deadline) throw new CliError(`service ${name} was not ${word} within ${DEPENDENCY_TIMEOUT_MS / 60_000} minutes, so ${step.name} was not created: see \`flotilla service ps ${name}\``);
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }
}

function labelled(labels: Record<string, string>, stack: string): Record<string, string> {
  return { ...labels, [STACK_NAMESPACE_LABEL]: stack };
}

async function createFileObject(control: Control, kind: 'Secret' | 'Config', stack: string, f: StackFileObject): Promise<void> {
  if (!f.data) throw new CliError(`${kind.toLowerCase()} ${f.key}: the compose file gives no data (file:) for it`);
  const spec = { name: f.name, labels: labelled(f.labels, stack), data: f.data };
  if (kind === 'Secret') await control.call('CreateSecret', { spec });
  else await control.call('CreateConfig', { spec });
}

/** Deploy `model`: the plan, then its steps, printed as docker prints them. Returns the plan applied. */
export async function deployStack(control: Control, io: CliIo, model: StackModel, o: { prune: boolean; detach: boolean }): Promise<DeployPlan> {
  const plan = planDeploy(model, await readCluster(control), o);
  for (const s of plan.remove) {
    io.out(`Removing service ${s.spec.name}\n`);
    await control.call('RemoveService', { serviceId: s.id });
  }
  for (const n of plan.networks) {
    io.out(`Creating network ${n.name}\n`);
    await control.call('CreateNetwork', { spec: { name: n.name, labels: labelled(n.labels, model.stack), driver: 'overlay' } });
  }
  for (const f of plan.secrets) {
    io.out(`Creating secret ${f.name}\n`);
    await createFileObject(control, 'Secret', model.stack, f);
  }
  for (const f of plan.configs) {
    io.out(`Creating config ${f.name}\n`);
    await createFileObject(control, 'Config', model.stack, f);
  }
  for (const s of plan.update) {
    io.out(`Updating service ${s.name} (id: ${s.current.id})\n`);
    await retryOnConflict(s.current, () => findService(control, s.current.id), (cur) => control.call('UpdateService', { serviceId: cur.id, version: cur.version, spec: serviceSpecToProto(s.spec) }), `service ${s.name}`);
  }
  const created: Service[] = [];
  for (const s of plan.create) {
    await waitForDependencies(control, io, model.stack, s);
    io.out(`Creating service ${s.name}\n`);
    const res = await control.call('CreateService', { spec: serviceSpecToProto(s.spec) });
    if (res.service) created.push(serviceFromProto(res.service));
  }
  if (!o.detach) {
    const { waitConverged } = await import('../converge.js');
    for (const s of [...created, ...plan.update.map((u) => u.current)]) await waitConverged(control, io, s.id, { quiet: true });
  }
  return plan;
}

/** Every object of stack `stack` (by its label), for `stack rm`, `ls`, `services`, `ps`. */
export async function stackObjects(control: Control, stack?: string): Promise<{ services: Service[]; networks: ClusterObjects['networks']; secrets: ClusterObjects['secrets']; configs: ClusterObjects['configs'] }> {
  const all = await readCluster(control);
  const mine = (labels: Record<string, string>): boolean => (stack === undefined ? STACK_NAMESPACE_LABEL in labels : labels[STACK_NAMESPACE_LABEL] === stack);
  return {
    services: all.services.filter((s) => mine(s.spec.labels)),
    networks: all.networks.filter((n) => mine(n.spec.labels)),
    secrets: all.secrets.filter((s) => mine(s.labels)),
    configs: all.configs.filter((c) => mine(c.labels)),
  };
}

/** `stack rm`: services first (their tasks stop), then secrets, configs and networks, as docker removes them. */
export async function removeStack(control: Control, io: CliIo, stack: string): Promise<number> {
  const found = await stackObjects(control, stack);
  // Each kind by name, as docker sorts them before it removes them (the store lists by id).
  const o = {
    services: sortedByName(found.services, (s) => s.spec.name),
    secrets: sortedByName(found.secrets, (s) => s.name),
    configs: sortedByName(found.configs, (c) => c.name),
    networks: sortedByName(found.networks, (n) => n.spec.name),
  };
  const total = o.services.length + o.networks.length + o.secrets.length + o.configs.length;
  if (total === 0) {
    io.err(`Nothing found in stack: ${stack}\n`);
    return 0;
  }
  for (const s of o.services) {
    io.out(`Removing service ${s.spec.name}\n`);
    await control.call('RemoveService', { serviceId: s.id });
  }
  for (const s of o.secrets) {
    io.out(`Removing secret ${s.name}\n`);
    await control.call('RemoveSecret', { secretId: s.id });
  }
  for (const c of o.configs) {
    io.out(`Removing config ${c.name}\n`);
    await control.call('RemoveConfig', { configId: c.id });
  }
  // A network is in use until its services' tasks are gone: the manager refuses until then, so retry a while.
  for (const n of o.networks) {
    io.out(`Removing network ${n.spec.name}\n`);
    const deadline = io.now() + 60_000;
    for (;;) {
      try {
        await control.call('RemoveNetwork', { networkId: n.id });
        break;
      } catch (err) {
        if (io.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
    }
  }
  return 0;
}
