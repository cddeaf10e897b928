// The Control API's services: create, get (with Docker's ServiceStatus),
// list, update (rollback included), promote and remove, with the
// cluster-wide check of published ports.
//
// Update status and previous spec, as SwarmKit's controlapi: a new spec
// makes the old one the previous spec and resets the update status (so a
// paused update resumes on the new spec); a rollback swaps spec and previous
// spec and starts "manually requested rollback". Beyond Swarm: a write that
// leaves what tasks run alone (labels, replicas, update config) while an
// update is under way or paused keeps both, so it neither restarts the
// update's pacing nor changes what a rollback returns to (in Swarm a label
// change mid-update restarts the update, and a rollback then returns to the
// new image with the old label).
import * as grpc from '@grpc/grpc-js';
import { requireVersion, serviceSpecFromProto, serviceToProto } from '../../api/convert.js';
import type { control } from '../../api/wire.js';
import { ApiError } from '../grpc-status.js';
import { generateId } from '../ca/ca.js';
import { createAction, deleteAction, updateAction, NotFoundError } from '../store/store.js';
import { jsonEqual } from '../../api/shared-specs.js';
import { taskStateName, TaskState, type Service, type ServiceSpec } from '../../api/objects.js';
import { checkServiceSpecChange, DEFAULT_NETWORK_CONFIG } from '../../api/validate.js';
import { assignPublishedPorts, resolvedPorts } from '../dispatcher/endpoints.js';
import { findNetwork } from './networks.js';
import { resolveFileRefs } from './file-objects.js';
import { quoteInput, ValidationError } from '../../api/input.js';
import { checkVersion, KindApi, labelsMatch } from './common.js';

export class ServicesApi extends KindApi {
  async CreateService(req: control.CreateServiceRequest__Output): Promise<control.CreateServiceResponse__Output> {
    const requested = serviceSpecFromProto(req.spec);
    await this.rs.barrier();
    const spec = resolveFileRefs(this.rs.store, this.withNetworkIds(requested));
    const now = Date.now();
    const svc: Service = { id: generateId(), version: 0, createdAt: now, updatedAt: now, spec, specVersion: 0, ...this.resolveEndpoint(spec) };
    const [stored] = await this.writer.write([createAction('service', svc)]);
    return { service: serviceToProto(stored as Service) };
  }

  async GetService(req: control.GetServiceRequest__Output): Promise<control.GetServiceResponse__Output> {
    await this.rs.barrier();
    return { service: this.withStatus(this.resolveService(req.serviceIdOrName)) };
  }

  async ListServices(req: control.ListServicesRequest__Output): Promise<control.ListServicesResponse__Output> {
    await this.rs.barrier();
    const f: Partial<NonNullable<control.ListServicesRequest__Output['filters']>> = req.filters ?? {};
    const services = this.rs.store
      .list('service')
      .filter((s) => (f.ids?.length ? f.ids.some((id) => s.id.startsWith(id)) : true))
      .filter((s) => (f.names?.length ? f.names.some((n) => s.spec.name.toLowerCase() === n.toLowerCase()) : true))
      .filter((s) => labelsMatch(s.spec.labels, f.labels ?? []));
    return { services: services.map((s) => this.withStatus(s)) };
  }

  async UpdateService(req: control.UpdateServiceRequest__Output): Promise<control.UpdateServiceResponse__Output> {
    const version = requireVersion(req.version, 'service', 'GetService');
    let spec = req.rollback && (req.spec === null || req.spec === undefined) ? undefined : serviceSpecFromProto(req.spec);
    await this.rs.barrier();
    const svc = this.resolveService(req.serviceId);
    checkVersion('service', svc, version);
    const now = Date.now();
    if (req.rollback) {
      if (spec !== undefined && !jsonEqual(spec, svc.spec)) {
        throw new ValidationError('spec', 'rollback', 'other changes may not be combined with a rollback: roll back first, then update');
      }
      if (svc.previousSpec === undefined) {
        throw new ApiError(grpc.status.FAILED_PRECONDITION, `service ${quoteInput(svc.spec.name)} does not have a previous spec: there is nothing to roll back to`);
      }
      const next: Service = {
        ...svc,
        ...this.resolveEndpoint(svc.previousSpec, svc),
        spec: svc.previousSpec,
        previousSpec: svc.spec,
        updateStatus: { state: 'rollback_started', startedAt: now, completedAt: 0, message: 'manually requested rollback', startVersion: svc.version, canary: 'none' },
        updatedAt: now,
      };
      const [stored] = await this.writer.write([updateAction('service', next, version)]);
      return { service: serviceToProto(stored as Service) };
    }
    if (spec === undefined) throw new ValidationError('spec', 'required', 'a spec is required (or rollback)');
    spec = resolveFileRefs(this.rs.store, this.withNetworkIds(spec));
    checkServiceSpecChange(svc.spec, spec);
    // Nothing changes (e.g. `service update --env-rm ''`): nothing to write, no new version.
    if (jsonEqual(spec, svc.spec)) return { service: serviceToProto(svc) };
    const endpoint = this.resolveEndpoint(spec, svc);
    const tasksChange = !jsonEqual(spec.taskTemplate, svc.spec.taskTemplate) || !jsonEqual(spec.endpoint, svc.spec.endpoint);
    const st = svc.updateStatus?.state;
    const keep = !tasksChange && st !== undefined && st !== 'completed' && st !== 'rollback_completed';
    const next: Service = keep
      ? { ...svc, ...endpoint, spec, updatedAt: now }
      : { ...svc, ...endpoint, spec, previousSpec: svc.spec, updateStatus: undefined, updatedAt: now };
    const [stored] = await this.writer.write([updateAction('service', next, version)]);
    return { service: serviceToProto(stored as Service) };
  }

  /** Beyond Swarm: promote the canaries of an update that awaits it; the update goes on in batches. */
  async PromoteService(req: control.PromoteServiceRequest__Output): Promise<control.PromoteServiceResponse__Output> {
    const version = requireVersion(req.version, 'service', 'GetService');
    await this.rs.barrier();
    const svc = this.resolveService(req.serviceId);
    checkVersion('service', svc, version);
    const st = svc.updateStatus;
    const name = quoteInput(svc.spec.name);
    if (st === undefined || st.canary === 'none') {
      throw new ApiError(grpc.status.FAILED_PRECONDITION, `service ${name} has no canaries to promote: start an update with --update-canary N first`);
    }
    if (st.canary === 'promoted') throw new ApiError(grpc.status.FAILED_PRECONDITION, `the canaries of service ${name} are already promoted`);
    if (st.state === 'paused') throw new ApiError(grpc.status.FAILED_PRECONDITION, `the update of service ${name} is paused (${st.message}): update or roll back the service instead`);
    if (st.canary === 'deploying') {
      throw new ApiError(grpc.status.FAILED_PRECONDITION, `the canaries of service ${name} have not run healthy for the monitor window yet: wait, and see \`flotilla service ps ${svc.spec.name}\``);
    }
    const next: Service = { ...svc, updateStatus: { ...st, canary: 'promoted', message: 'update in progress: canaries promoted' }, updatedAt: Date.now() };
    const [stored] = await this.writer.write([updateAction('service', next, version)]);
    return { service: serviceToProto(stored as Service) };
  }

  async RemoveService(req: control.RemoveServiceRequest__Output): Promise<control.RemoveServiceResponse__Output> {
    await this.rs.barrier();
    const svc = this.resolveService(req.serviceId);
    // The service alone, in one small transaction: its tasks (there may be 100,000, and their history) are deleted
    // after it by the task reaper, in bounded transactions, and agents stop and remove their containers as the
    // deletions reach them. A single transaction of every task was megabytes applied in one go on every manager.
    await this.writer.write([deleteAction('service', svc.id)]);
    return {};
  }

  /** A service with Docker's ServiceStatus: its tasks desired RUNNING that run, over those it wants. */
  private withStatus(s: Service): control.Service__Output {
    let running = 0;
    let desiredRunning = 0;
    const byState = new Map<number, number>();
    for (const t of this.rs.store.tasksByService(s.id, { sorted: false })) {
      byState.set(t.status.state, (byState.get(t.status.state) ?? 0) + 1);
      if (t.desiredState !== TaskState.RUNNING) continue;
      desiredRunning++;
      if (t.status.state === TaskState.RUNNING) running++;
    }
    const desired = 'replicated' in s.spec.mode ? s.spec.mode.replicated.replicas : desiredRunning;
    const tasksByState: Record<string, number> = {};
    for (const [state, n] of byState) tasksByState[taskStateName(state).toLowerCase()] = n;
    return { ...serviceToProto(s), serviceStatus: { runningTasks: running, desiredTasks: desired, tasksByState } };
  }

  /** A service by id, name, or unique id prefix. */
  private resolveService(ref: string): Service {
    if (!ref) throw new ApiError(grpc.status.INVALID_ARGUMENT, 'a service id or name is required');
    const direct = this.rs.store.get('service', ref) ?? this.rs.store.findServiceByName(ref);
    if (direct) return direct;
    const byPrefix = ref ? this.rs.store.list('service').filter((s) => s.id.startsWith(ref)) : [];
    if (byPrefix.length === 1) return byPrefix[0];
    if (byPrefix.length > 1) throw new ApiError(grpc.status.FAILED_PRECONDITION, `service reference ${quoteInput(ref)} is ambiguous: use the full id or the name`);
    throw new NotFoundError('not-found', `no service ${quoteInput(ref)}: see \`flotilla service ls\``);
  }

  /**
   * The service's resolved endpoint: its ports with every ingress port's
   * published port (assigned from the cluster's range when the spec leaves it
   * at 0, keeping the one `current` had). As SwarmKit (at the API): a
   * published port of the routing mesh (ingress) belongs to one service in
   * the whole cluster, so it may not be published by another service in any
   * mode; two host-mode ports may share a number (the scheduler keeps them on
   * different nodes).
   */
  private resolveEndpoint(spec: ServiceSpec, current?: Service): Pick<Service, 'endpoint'> {
    const others = this.rs.store.list('service').filter((o) => o.id !== current?.id);
    spec.endpoint.ports.forEach((p, i) => {
      if (p.publishedPort === 0) return;
      for (const other of others) {
        const clash = resolvedPorts(other).find(
          (q) => q.publishedPort === p.publishedPort && q.protocol === p.protocol && (q.publishMode === 'ingress' || p.publishMode === 'ingress'),
        );
        if (clash) {
          throw new ValidationError(
            `spec.endpoint.ports[${i}].publishedPort`,
            'port-in-use',
            `port ${p.publishedPort}/${p.protocol} is already in use by service ${quoteInput(other.spec.name)} (${other.id}): publish another port, or remove it from that service first`,
          );
        }
      }
    });
    if (spec.endpoint.ports.length === 0) return { endpoint: undefined };
    const taken = new Set<string>();
    for (const other of others) for (const q of resolvedPorts(other)) if (q.publishMode === 'ingress') taken.add(`${q.publishedPort}/${q.protocol}`);
    const net = this.rs.store.list('cluster')[0]?.spec.network ?? DEFAULT_NETWORK_CONFIG;
    const range = { start: net.publishedPortRangeStart, end: net.publishedPortRangeEnd };
    const ports = assignPublishedPorts(spec.endpoint.ports, current?.endpoint?.ports ?? [], taken, range);
    if (ports === undefined) {
      throw new ApiError(
        grpc.status.RESOURCE_EXHAUSTED,
        `every published port of the cluster's range ${range.start}-${range.end} is in use: publish an explicit port (-p PUBLISHED:TARGET), or remove a service`,
      );
    }
    return { endpoint: { ports } };
  }

  /**
   * The spec with its networks given as names (or id prefixes) turned into
   * network ids, the keys of its per-network aliases too (the validator saw
   * each key among the networks); a missing one is an error. Two names of
   * one network are one attachment, with the aliases of both.
   */
  private withNetworkIds(spec: ServiceSpec): ServiceSpec {
    const refs = spec.taskTemplate.networks ?? [];
    if (refs.length === 0) return spec;
    const ids = refs.map((ref, i) => {
      const n = findNetwork(this.rs.store, ref);
      if (n === undefined) {
        throw new ValidationError(`spec.taskTemplate.networks[${i}]`, 'network-not-found', `network ${quoteInput(ref)} not found: create it with \`flotilla network create ${ref}\`, or see \`flotilla network ls\``);
      }
      return n.id;
    });
    const unique = [...new Set(ids)];
    const { networkAliases: given, ...rest } = spec.taskTemplate;
    const aliases = given === undefined ? {} : aliasesByNetworkId(refs, ids, given);
    // The store validates the result (two names of a network may bring it past the limit).
    return { ...spec, taskTemplate: { ...rest, networks: unique, ...(Object.keys(aliases).length > 0 ? { networkAliases: aliases } : {}) } };
  }
}

/**
 * Per-network aliases keyed by network id: `refs[i]` (as the request spelled
 * a network, and keyed its aliases) is network `ids[i]`; the aliases of two
 * spellings of one network are merged (case aside), in the order of the ids.
 */
export function aliasesByNetworkId(refs: readonly string[], ids: readonly string[], given: Readonly<Record<string, string[]>>): Record<string, string[]> {
  const byId = new Map<string, string[]>();
  refs.forEach((ref, i) => {
    const merged = byId.get(ids[i]) ?? [];
    for (const a of Object.hasOwn(given, ref) ? given[ref] : []) if (!merged.some((m) => m.toLowerCase() === a.toLowerCase())) merged.push(a);
    byId.set(ids[i], merged);
  });
  return Object.fromEntries([...byId].filter(([, aliases]) => aliases.length > 0));
}
