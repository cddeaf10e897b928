// `stack deploy` as a plan before any write (Nomad's plan, then apply): from
// the loaded stack and what the cluster holds, what to create, update (with
// the spec's difference) or remove, and in which order services start for
// the first time (depends_on). Pure; deploy.ts reads the cluster and applies.
import { isDeepStrictEqual } from 'node:util';
import type { FileReference, Network, Service, ServiceSpec } from '../../api/objects.js';
import { validateServiceSpec } from '../../api/validate.js';
import { CliError } from '../errors.js';
import { STACK_NAMESPACE_LABEL, type StackFileObject, type StackModel, type StackNetwork, type StackService } from './model.js';

/** What the cluster holds, as the plan needs it (ids by name). */
export interface ClusterObjects {
  services: readonly Service[];
  networks: readonly Network[];
  secrets: readonly { id: string; name: string; labels: Record<string, string> }[];
  configs: readonly { id: string; name: string; labels: Record<string, string> }[];
}

export interface ServiceStep {
  key: string;
  name: string;
  /** The spec to send; its networks and files still named where the object is created by this deploy. */
  spec: ServiceSpec;
  dependsOn: StackService['dependsOn'];
}

export interface DeployPlan {
  networks: StackNetwork[];
  secrets: StackFileObject[];
  configs: StackFileObject[];
  /** Services to create, dependencies first. */
  create: ServiceStep[];
  /** Services whose spec changed: each with its current service and the difference, one line per field. */
  update: (ServiceStep & { current: Service; diff: string[] })[];
  /** Services of the stack the files no longer name (only with --prune). */
  remove: Service[];
  unchanged: string[];
}

/** `list` sorted by `name` (code point order, as docker's Go sort), a copy. */
export function sortedByName<T>(list: readonly T[], name: (x: T) => string): T[] {
  return [...list].sort((a, b) => (name(a) < name(b) ? -1 : name(a) > name(b) ? 1 : 0));
}

/** The stack's services by name, each after those it depends on; a cycle is an error naming it. */
export function startOrder(services: readonly StackService[]): StackService[] {
  const byKey = new Map(services.map((s) => [s.key, s]));
  const out: StackService[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (s: StackService, path: string[]): void => {
    const st = state.get(s.key);
    if (st === 'done') return;
    if (st === 'visiting') throw new CliError(`depends_on forms a cycle: ${[...path.slice(path.indexOf(s.key)), s.key].join(' -> ')}: break it`);
    state.set(s.key, 'visiting');
    for (const d of s.dependsOn) {
      const dep = byKey.get(d.service);
      if (!dep) throw new CliError(`services.${s.key}.depends_on: service "${d.service}" is not in the stack`);
      visit(dep, [...path, s.key]);
    }
    state.set(s.key, 'done');
    out.push(s);
  };
  // By name where depends_on leaves a choice, as docker creates a stack's services (its output is in that order).
  for (const s of sortedByName(services, (x) => x.key)) visit(s, []);
  return out;
}

/**
 * The spec with the names the cluster knows replaced by ids (networks,
 * secrets, configs); names of objects this deploy creates stay names (the
 * manager resolves them at create).
 */
export function resolveSpec(spec: ServiceSpec, cluster: ClusterObjects): ServiceSpec {
  const out = structuredClone(spec);
  const netIds = new Map(cluster.networks.map((n) => [n.spec.name, n.id]));
  const tt = out.taskTemplate;
  if (tt.networks) tt.networks = tt.networks.map((n) => netIds.get(n) ?? n);
  if (tt.networkAliases) tt.networkAliases = Object.fromEntries(Object.entries(tt.networkAliases).map(([n, aliases]) => [netIds.get(n) ?? n, aliases]));
  const files = (refs: FileReference[] | undefined, known: ClusterObjects['secrets']): FileReference[] | undefined =>
    refs?.map((r) => (r.id ? r : { ...r, id: known.find((k) => k.name === r.name)?.id ?? '' }));
  const c = tt.container;
  if (c.secrets) c.secrets = files(c.secrets, cluster.secrets);
  if (c.configs) c.configs = files(c.configs, cluster.configs);
  return out;
}

/** The fields that differ between two specs, one line each: `taskTemplate.container.image: "a" -> "b"`. */
export function specDiff(before: unknown, after: unknown, path = ''): string[] {
  if (isDeepStrictEqual(before, after)) return [];
  const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
  if (isObj(before) && isObj(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((k) => specDiff(before[k], after[k], path ? `${path}.${k}` : k));
  }
  const show = (x: unknown): string => (x === undefined ? '(none)' : JSON.stringify(x));
  return [`${path}: ${show(before)} -> ${show(after)}`];
}

/** The plan of `stack deploy` of `model` onto `cluster`. */
export function planDeploy(model: StackModel, cluster: ClusterObjects, o: { prune: boolean }): DeployPlan {
  const networkNames = new Set(cluster.networks.map((n) => n.spec.name));
  for (const n of model.networks) {
    if (n.external && !networkNames.has(n.name)) throw new CliError(`network "${n.name}" is declared as external, but could not be found: create it with \`flotilla network create ${n.name}\` first`);
  }
  const missingExternal = (kind: 'secret' | 'config', list: StackFileObject[], known: ClusterObjects['secrets']): void => {
    for (const f of list) {
      if (f.external && !known.some((k) => k.name === f.name)) throw new CliError(`${kind} "${f.name}" is declared as external, but could not be found: create it with \`flotilla ${kind} create ${f.name} FILE\` first`);
    }
  };
  missingExternal('secret', model.secrets, cluster.secrets);
  missingExternal('config', model.configs, cluster.configs);

  const existing = new Map(cluster.services.map((s) => [s.spec.name, s]));
  const plan: DeployPlan = {
    networks: model.networks.filter((n) => !n.external && !networkNames.has(n.name)),
    // Secrets and configs are immutable: one of that name is taken as it is (rotate it to change its data).
    secrets: model.secrets.filter((f) => !f.external && !cluster.secrets.some((k) => k.name === f.name)),
    configs: model.configs.filter((f) => !f.external && !cluster.configs.some((k) => k.name === f.name)),
    create: [],
    update: [],
    remove: [],
    unchanged: [],
  };
  for (const s of startOrder(model.services)) {
    const spec = resolveSpec(s.spec, cluster);
    const current = existing.get(spec.name);
    const step: ServiceStep = { key: s.key, name: spec.name, spec, dependsOn: s.dependsOn };
    if (!current) {
      plan.create.push(step);
      continue;
    }
    if (current.spec.labels[STACK_NAMESPACE_LABEL] !== model.stack) {
      throw new CliError(`service "${spec.name}" exists and is not part of stack "${model.stack}": remove or rename it first`);
    }
    // Both in the validator's canonical form: defaults filled in the same way.
    const before = validateServiceSpec(structuredClone(current.spec), 'spec', 'stored');
    const after = validateServiceSpec(structuredClone(spec), 'spec', 'stored');
    const diff = specDiff(before, after);
    if (diff.length === 0) plan.unchanged.push(spec.name);
    else plan.update.push({ ...step, current, diff });
  }
  if (o.prune) {
    const named = new Set(model.services.map((s) => s.spec.name));
    plan.remove = sortedByName(
      cluster.services.filter((s) => s.spec.labels[STACK_NAMESPACE_LABEL] === model.stack && !named.has(s.spec.name)),
      (s) => s.spec.name,
    );
  }
  return plan;
}

/** `--dry-run`: the plan as lines. */
export function planText(plan: DeployPlan): string {
  const lines: string[] = [];
  for (const n of plan.networks) lines.push(`Would create network ${n.name}`);
  for (const f of plan.secrets) lines.push(`Would create secret ${f.name}`);
  for (const f of plan.configs) lines.push(`Would create config ${f.name}`);
  for (const s of plan.create) lines.push(`Would create service ${s.name}${s.dependsOn.length ? ` (after ${s.dependsOn.map((d) => d.service).join(', ')})` : ''}`);
  for (const s of plan.update) {
    lines.push(`Would update service ${s.name} (id: ${s.current.id}):`);
    for (const d of s.diff) lines.push(`    ${d}`);
  }
  for (const s of plan.remove) lines.push(`Would remove service ${s.spec.name}`);
  for (const n of plan.unchanged) lines.push(`Unchanged service ${n}`);
  return lines.length ? `${lines.join('\n')}\n` : 'Nothing to do\n';
}
