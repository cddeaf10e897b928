import assert from 'node:assert/strict';
import test from 'node:test';
import { TaskState, type Network, type ServiceSpec } from '../../../src/api/objects.js';
import { validateServiceSpec } from '../../../src/api/validate.js';
import { conditionMet } from '../../../src/cli/stack/deploy.js';
import { STACK_NAMESPACE_LABEL, type StackModel, type StackService } from '../../../src/cli/stack/model.js';
import { planDeploy, planText, specDiff, startOrder, type ClusterObjects } from '../../../src/cli/stack/plan.js';
import { service, task, T0 } from '../../manager/store-fixtures.js';

const ns = { [STACK_NAMESPACE_LABEL]: 'app' };
function spec(name: string, image = 'busybox:1', networks: string[] = ['app_default']): ServiceSpec {
  const s = validateServiceSpec({ name: `app_${name}`, labels: ns, taskTemplate: { container: { image }, networks } });
  return s;
}
function svc(key: string, o: Partial<StackService> = {}): StackService {
  return { key, spec: spec(key), dependsOn: [], ...o };
}
function model(services: StackService[], o: Partial<StackModel> = {}): StackModel {
  return { stack: 'app', services, networks: [{ key: 'default', name: 'app_default', external: false, labels: {} }], volumes: [], secrets: [], configs: [], warnings: [], ...o };
}
const net = (id: string, name: string): Network => ({ id, version: 1, createdAt: T0, updatedAt: T0, spec: { name, labels: ns, driver: 'overlay' } }) as Network;
const empty: ClusterObjects = { services: [], networks: [], secrets: [], configs: [] };

test('services start after what they depend on; a cycle or an unknown service is one line', () => {
  const order = startOrder([svc('web', { dependsOn: [{ service: 'cache', condition: 'service_started' }] }), svc('cache', { dependsOn: [{ service: 'db', condition: 'service_healthy' }] }), svc('db'), svc('worker')]);
  assert.deepEqual(order.map((s) => s.key), ['db', 'cache', 'web', 'worker']);
  assert.throws(() => startOrder([svc('a', { dependsOn: [{ service: 'b', condition: 'service_started' }] }), svc('b', { dependsOn: [{ service: 'a', condition: 'service_started' }] })]), /^Error: depends_on forms a cycle: a -> b -> a: break it$|cycle: a -> b -> a/);
  assert.throws(() => startOrder([svc('a', { dependsOn: [{ service: 'ghost', condition: 'service_started' }] })]), /services\.a\.depends_on: service "ghost" is not in the stack/);
});

test('a first deploy creates everything; the same again changes nothing; one image changed updates only that service', () => {
  const m = model([svc('web'), svc('db')]);
  const first = planDeploy(m, empty, { prune: false });
  assert.deepEqual(first.networks.map((n) => n.name), ['app_default']);
  assert.deepEqual(first.create.map((s) => s.name), ['app_db', 'app_web'], 'by name, as docker creates them');
  // The network's name stays a name until it exists.
  assert.deepEqual(first.create[0].spec.taskTemplate.networks, ['app_default']);

  const cluster: ClusterObjects = { ...empty, networks: [net('n1', 'app_default')], services: [{ ...service('s1', 'x'), spec: { ...spec('web'), taskTemplate: { ...spec('web').taskTemplate, networks: ['n1'] } } }, { ...service('s2', 'x'), spec: { ...spec('db'), taskTemplate: { ...spec('db').taskTemplate, networks: ['n1'] } } }] };
  const again = planDeploy(m, cluster, { prune: false });
  assert.deepEqual([again.networks, again.create, again.update, again.remove], [[], [], [], []]);
  assert.deepEqual(again.unchanged, ['app_db', 'app_web']);
  assert.equal(planText(again), 'Unchanged service app_db\nUnchanged service app_web\n');

  const changed = planDeploy(model([{ ...svc('web'), spec: spec('web', 'busybox:2') }, svc('db')]), cluster, { prune: false });
  assert.deepEqual(changed.update.map((u) => [u.name, u.current.id, u.diff]), [['app_web', 's1', ['taskTemplate.container.image: "busybox:1" -> "busybox:2"']]]);
  assert.match(planText(changed), /^Would update service app_web \(id: s1\):\n {4}taskTemplate\.container\.image: "busybox:1" -> "busybox:2"\nUnchanged service app_db\n$/);
});

test('per-network aliases are keyed by the network: its id once it exists, its name while this deploy creates it', () => {
  const withAliases = (aliases: string[]): ServiceSpec =>
    validateServiceSpec({ name: 'app_db', labels: ns, taskTemplate: { container: { image: 'busybox:1' }, networks: ['app_default', 'app_back'], networkAliases: { app_back: aliases } } });
  const m = model([{ key: 'db', spec: withAliases(['pg']), dependsOn: [] }], { networks: [{ key: 'default', name: 'app_default', external: false, labels: {} }, { key: 'back', name: 'app_back', external: false, labels: {} }] });
  const first = planDeploy(m, { ...empty, networks: [net('n1', 'app_default')] }, { prune: false });
  assert.deepEqual(first.create[0].spec.taskTemplate.networks, ['n1', 'app_back']);
  assert.deepEqual(first.create[0].spec.taskTemplate.networkAliases, { app_back: ['pg'] }, 'a name until the network exists (the manager resolves it)');
  const stored = { ...service('s1', 'x'), spec: { ...withAliases(['pg']), taskTemplate: { ...withAliases(['pg']).taskTemplate, networks: ['n1', 'n2'], networkAliases: { n2: ['pg'] } } } };
  const cluster: ClusterObjects = { ...empty, networks: [net('n1', 'app_default'), net('n2', 'app_back')], services: [stored] };
  assert.deepEqual(planDeploy(m, cluster, { prune: false }).unchanged, ['app_db']);
  const changed = planDeploy(model([{ key: 'db', spec: withAliases(['pg', 'primary']), dependsOn: [] }], { networks: m.networks }), cluster, { prune: false });
  assert.deepEqual(changed.update.map((u) => u.diff), [['taskTemplate.networkAliases.n2: ["pg"] -> ["pg","primary"]']]);
});

test('--prune removes the stack’s services the files dropped, never another stack’s; a same-named foreign service is refused', () => {
  const other = { ...service('s9', 'x'), spec: { ...spec('old'), name: 'app_old' } };
  const foreign = { ...service('s8', 'x'), spec: { ...spec('x'), name: 'other_x', labels: { [STACK_NAMESPACE_LABEL]: 'other' } } };
  const cluster = { ...empty, services: [other, foreign] };
  assert.deepEqual(planDeploy(model([svc('web')]), cluster, { prune: false }).remove, []);
  assert.deepEqual(planDeploy(model([svc('web')]), cluster, { prune: true }).remove.map((s) => s.id), ['s9']);
  const squatter = { ...service('s7', 'x'), spec: { ...spec('web'), labels: {} } };
  assert.throws(() => planDeploy(model([svc('web')]), { ...empty, services: [squatter] }, { prune: false }), /service "app_web" exists and is not part of stack "app"/);
});

test('external networks, secrets and configs must exist; existing secrets are reused', () => {
  const m = model([svc('web')], { networks: [{ key: 'front', name: 'front', external: true, labels: {} }] });
  assert.throws(() => planDeploy(m, empty, { prune: false }), /network "front" is declared as external, but could not be found: create it with `flotilla network create front` first/);
  assert.equal(planDeploy(m, { ...empty, networks: [net('n2', 'front')] }, { prune: false }).networks.length, 0);
  const withSecret = model([svc('web')], { secrets: [{ key: 'pw', name: 'app_pw', external: false, data: Buffer.from('x'), labels: {} }, { key: 'ext', name: 'shared', external: true, labels: {} }] });
  assert.throws(() => planDeploy(withSecret, empty, { prune: false }), /secret "shared" is declared as external/);
  const p = planDeploy(withSecret, { ...empty, secrets: [{ id: 'x1', name: 'shared', labels: {} }] }, { prune: false });
  assert.deepEqual(p.secrets.map((s) => s.name), ['app_pw']);
  assert.deepEqual(planDeploy(withSecret, { ...empty, secrets: [{ id: 'x1', name: 'shared', labels: {} }, { id: 'x2', name: 'app_pw', labels: {} }] }, { prune: false }).secrets, []);
});

test('a spec difference names each field', () => {
  assert.deepEqual(specDiff({ a: 1, b: { c: [1] } }, { a: 1, b: { c: [2] }, d: 'x' }), ['b.c: [1] -> [2]', 'd: (none) -> "x"']);
});

test('depends_on conditions: running, healthy, completed', () => {
  const s = service('s1', 'db', { mode: { replicated: { replicas: 2 } } });
  const st = (state: TaskState, health: 'none' | 'healthy' = 'none', exitCode = 0) => ({ state, message: '', err: '', timestamp: T0, containerId: 'c', exitCode, health });
  const running = [task('t1', s, { status: st(TaskState.RUNNING) }), task('t2', s, { slot: 2, status: st(TaskState.RUNNING) })];
  assert.equal(conditionMet(s, running.slice(0, 1), 'service_started'), false);
  assert.equal(conditionMet(s, running, 'service_started'), true);
  assert.equal(conditionMet(s, running, 'service_healthy'), false);
  assert.equal(conditionMet(s, running.map((t) => ({ ...t, status: st(TaskState.RUNNING, 'healthy') })), 'service_healthy'), true);
  const done = [task('t1', s, { status: st(TaskState.COMPLETE) }), task('t2', s, { slot: 2, status: st(TaskState.COMPLETE, 'none', 1) })];
  assert.equal(conditionMet(s, done, 'service_completed_successfully'), false);
  assert.equal(conditionMet(s, [done[0], { ...done[1], status: st(TaskState.COMPLETE) }], 'service_completed_successfully'), true);
});
