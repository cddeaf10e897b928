// The objects `service inspect` and `node inspect` print, in docker's shape
// (moby's api/types/swarm, as `docker service inspect` prints them): the keys
// docker's templates name ({{.Spec.Name}}, {{.Spec.Mode.Replicated.Replicas}},
// {{.Status.State}}, {{.ManagerStatus.Leader}}), durations in nanoseconds,
// times in Go's JSON form, enum values as the API's lower-case words, empty
// optional parts left out as Go's omitempty leaves them. What flotilla has
// beyond Swarm is added under names of its own (UpdateConfig.Canary,
// RestartPolicy.MaxDelay, EndpointSpec.LBPolicy, ...): extra keys, never a
// changed one.
import type { FileReference, HealthCheck, Node, PortConfig, Resources, Service, ServiceSpec, UpdateConfig } from '../api/objects.js';
import { goJsonTime } from './format.js';

type Json = Record<string, unknown>;

/** Milliseconds as Go's time.Duration in JSON: nanoseconds. */
function ns(ms: number): number {
  return ms * 1_000_000;
}

/** `obj` without its undefined values and empty arrays (Go's omitempty). */
function omitEmpty(obj: Json): Json {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined && !(Array.isArray(v) && v.length === 0)));
}

function resources(r: Resources): Json {
  return omitEmpty({ NanoCPUs: r.nanoCpus || undefined, MemoryBytes: r.memoryBytes || undefined });
}

function healthcheck(h: HealthCheck): Json {
  return omitEmpty({
    Test: h.test,
    Interval: h.intervalMs ? ns(h.intervalMs) : undefined,
    Timeout: h.timeoutMs ? ns(h.timeoutMs) : undefined,
    StartPeriod: h.startPeriodMs ? ns(h.startPeriodMs) : undefined,
    Retries: h.retries || undefined,
  });
}

function fileRefs(refs: readonly FileReference[] | undefined, kind: 'Secret' | 'Config'): Json[] | undefined {
  return refs?.map((r) => ({
    File: { Name: r.target || r.name, UID: r.uid, GID: r.gid, Mode: r.mode },
    [`${kind}ID`]: r.id,
    [`${kind}Name`]: r.name,
  }));
}

function ports(ps: readonly PortConfig[]): Json[] {
  return ps.map((p) => omitEmpty({ Name: p.name || undefined, Protocol: p.protocol, TargetPort: p.targetPort, PublishedPort: p.publishedPort || undefined, PublishMode: p.publishMode }));
}

function updateConfig(u: UpdateConfig, rollback: boolean): Json {
  return omitEmpty({
    Parallelism: u.parallelism,
    Delay: u.delayMs ? ns(u.delayMs) : undefined,
    FailureAction: u.failureAction,
    Monitor: ns(u.monitorMs),
    MaxFailureRatio: u.maxFailureRatio,
    Order: u.order,
    // Beyond Swarm.
    Canary: rollback ? undefined : u.canary,
    AutoPromote: rollback ? undefined : u.autoPromote,
    ProgressDeadline: u.progressDeadlineMs ? ns(u.progressDeadlineMs) : undefined,
  });
}

/** A ServiceSpec as docker's swarm.ServiceSpec. */
export function serviceSpecJson(spec: ServiceSpec): Json {
  const t = spec.taskTemplate;
  const c = t.container;
  const e = spec.endpoint;
  return {
    Name: spec.name,
    Labels: { ...spec.labels },
    TaskTemplate: omitEmpty({
      ContainerSpec: omitEmpty({
        Image: c.image,
        Labels: c.labels ? { ...c.labels } : undefined,
        // Not docker's (Swarm's virtual IP forwards every port): flotilla's ContainerSpec.expose.
        Expose: c.expose ? [...c.expose] : undefined,
        Command: c.command,
        Args: c.args,
        Env: c.env,
        Dir: c.dir || undefined,
        User: c.user || undefined,
        Mounts: c.mounts.map((m) => omitEmpty({ Type: m.type, Source: m.source || undefined, Target: m.target, ReadOnly: m.readOnly || undefined })),
        StopGracePeriod: ns(c.stopGracePeriodMs),
        Healthcheck: c.healthcheck ? healthcheck(c.healthcheck) : undefined,
        Secrets: fileRefs(c.secrets, 'Secret'),
        Configs: fileRefs(c.configs, 'Config'),
        Isolation: 'default',
      }),
      Resources: { Limits: resources(t.resources.limits), Reservations: resources(t.resources.reservations) },
      RestartPolicy: omitEmpty({
        Condition: t.restartPolicy.condition,
        Delay: ns(t.restartPolicy.delayMs),
        MaxAttempts: t.restartPolicy.maxAttempts,
        Window: t.restartPolicy.windowMs ? ns(t.restartPolicy.windowMs) : undefined,
        // Beyond Swarm: the crash-loop back-off's ceiling.
        MaxDelay: ns(t.restartPolicy.maxDelayMs),
      }),
      Placement: omitEmpty({
        Constraints: t.placement.constraints,
        Preferences: t.placement.preferences.map((p) => ({ Spread: { SpreadDescriptor: p.spread } })),
        // omitempty in docker's swarm.Placement: absent when there is no limit.
        MaxReplicas: t.placement.maxReplicas || undefined,
      }),
      // docker's NetworkAttachmentConfig: Aliases omitted when empty.
      Networks: t.networks?.map((id) => omitEmpty({ Target: id, Aliases: t.networkAliases?.[id] })),
      ForceUpdate: t.forceUpdate,
      Runtime: 'container',
      // Beyond Swarm: the weight under the 'weighted' load-balancing policy.
      LBWeight: t.lbWeight,
    }),
    Mode: 'replicated' in spec.mode ? { Replicated: { Replicas: spec.mode.replicated.replicas } } : { Global: {} },
    UpdateConfig: updateConfig(spec.updateConfig, false),
    RollbackConfig: updateConfig(spec.rollbackConfig, true),
    EndpointSpec: omitEmpty({
      // docker's daemon always sets it: "vip" (the default) or "dnsrr".
      Mode: e.mode ?? 'vip',
      Ports: ports(e.ports),
      // Beyond Swarm: how connections are balanced, the PROXY protocol, the drain before a stop.
      LBPolicy: e.lbPolicy,
      ProxyProtocol: e.proxyProtocol,
      DrainPeriod: e.drainPeriodMs === undefined ? undefined : ns(e.drainPeriodMs),
    }),
  };
}

/** `service inspect`'s object: docker's swarm.Service. */
export function serviceInspectJson(s: Service): Json {
  const st = s.updateStatus;
  const resolved = s.endpoint?.ports ?? [];
  return omitEmpty({
    ID: s.id,
    Version: { Index: s.version },
    CreatedAt: goJsonTime(s.createdAt),
    UpdatedAt: goJsonTime(s.updatedAt),
    Spec: serviceSpecJson(s.spec),
    PreviousSpec: s.previousSpec ? serviceSpecJson(s.previousSpec) : undefined,
    Endpoint: omitEmpty({ Spec: omitEmpty({ Mode: s.spec.endpoint.mode ?? 'vip', Ports: ports(s.spec.endpoint.ports) }), Ports: ports(resolved) }),
    UpdateStatus: st
      ? omitEmpty({
          State: st.state,
          StartedAt: st.startedAt ? goJsonTime(st.startedAt) : undefined,
          CompletedAt: st.completedAt ? goJsonTime(st.completedAt) : undefined,
          Message: st.message,
          // Beyond Swarm: the canary phase of the update.
          Canary: st.canary === 'none' ? undefined : st.canary,
        })
      : undefined,
  });
}

/** `node inspect`'s object: docker's swarm.Node. */
export function nodeInspectJson(n: Node): Json {
  const d = n.description;
  const ms = n.managerStatus;
  return omitEmpty({
    ID: n.id,
    Version: { Index: n.version },
    CreatedAt: goJsonTime(n.createdAt),
    UpdatedAt: goJsonTime(n.updatedAt),
    Spec: { Labels: { ...n.labels }, Role: n.role, Availability: n.availability },
    Description: {
      Hostname: d.hostname,
      Platform: { Architecture: d.platform.arch, OS: d.platform.os },
      Resources: { NanoCPUs: Math.round(d.cpus * 1e9), MemoryBytes: d.memoryBytes },
      Engine: omitEmpty({ EngineVersion: d.engineVersion, Labels: d.engineLabels && Object.keys(d.engineLabels).length > 0 ? { ...d.engineLabels } : undefined }),
    },
    Status: omitEmpty({ State: n.status.state, Message: n.status.message || undefined, Addr: n.status.address }),
    ManagerStatus: ms ? omitEmpty({ Leader: ms.leader || undefined, Reachability: ms.reachability, Addr: ms.addr }) : undefined,
  });
}
