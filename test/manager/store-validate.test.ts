// Spec validation: one test per rule, each checking that the error names the
// field and the rule; plus the canonical form (defaults, key order).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TaskState } from '../../src/manager/store/types.js';
import {
  ValidationError,
  parseConstraint,
  parseImageReference,
  validateClusterSpec,
  validateConfigSpec,
  validateLabels,
  validateNode,
  validateNodeUpdate,
  validateSecretSpec,
  validateServiceSpec,
  validateTask,
  validateTaskUpdate,
} from '../../src/manager/store/validate.js';
import { clone, node, service, serviceSpec, task } from './store-fixtures.js';

type Spec = ReturnType<typeof serviceSpec>;

/** Assert that fn throws a ValidationError for field and rule, and that the message names the field. */
function rejects(fn: () => unknown, field: string, rule: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ValidationError, `not a ValidationError: ${String(err)}`);
    assert.equal(err.field, field, err.message);
    assert.equal(err.rule, rule, err.message);
    assert.ok(err.message.includes(field), `message does not name the field: ${err.message}`);
    return true;
  });
}

/** A spec changed by edit, validated. */
function spec(edit: (s: Spec) => void): () => unknown {
  const s = clone(serviceSpec('web'));
  edit(s);
  return () => validateServiceSpec(s);
}

test('a full spec validates to itself; a minimal one gets defaults in canonical key order', () => {
  const full = serviceSpec('web');
  assert.deepEqual(validateServiceSpec(full), full);
  const min = validateServiceSpec({ taskTemplate: { container: { image: 'redis' } }, name: 'cache', junk: 1 });
  assert.equal(min.name, 'cache');
  assert.equal('junk' in min, false);
  assert.deepEqual(min.updateConfig, { parallelism: 1, delayMs: 0, failureAction: 'pause', monitorMs: 5000, maxFailureRatio: 0, order: 'stop-first' });
  assert.deepEqual(min.endpoint, { ports: [] });
  assert.deepEqual(Object.keys(min), ['name', 'labels', 'taskTemplate', 'mode', 'updateConfig', 'rollbackConfig', 'endpoint']);
  const withHc = validateServiceSpec({ ...full, taskTemplate: { ...full.taskTemplate, container: { ...full.taskTemplate.container, healthcheck: { test: ['CMD', 'true'] } } } });
  assert.deepEqual(withHc.taskTemplate.container.healthcheck, { test: ['CMD', 'true'], intervalMs: 0, timeoutMs: 0, retries: 0, startPeriodMs: 0 });
  rejects(() => validateServiceSpec(null), 'spec', 'required');
  rejects(() => validateServiceSpec({ name: 'x' }), 'spec.taskTemplate', 'required');
  rejects(() => validateServiceSpec({ taskTemplate: { container: { image: 'redis' } } }), 'spec.name', 'required');
});

test('rule name-length: names are 1..63 characters', () => {
  rejects(spec((s) => (s.name = '')), 'spec.name', 'name-length');
  rejects(spec((s) => (s.name = 'a'.repeat(64))), 'spec.name', 'name-length');
  assert.doesNotThrow(spec((s) => (s.name = 'a'.repeat(63))));
});

test('rule name-format: names start with a letter or digit, then [a-zA-Z0-9_.-]', () => {
  for (const bad of ['-web', '_web', 'we b', 'web/1', 'wéb', '.web']) rejects(spec((s) => (s.name = bad)), 'spec.name', 'name-format');
  for (const good of ['web', 'Web_1', '0.web-x', 'a']) assert.doesNotThrow(spec((s) => (s.name = good)));
  rejects(() => validateSecretSpec({ name: 'bad name', data: '' }), 'spec.name', 'name-format');
});

test('rule label-key and label-value: keys 1..128, values up to 4096', () => {
  rejects(spec((s) => (s.labels = { '': 'x' })), 'spec.labels[""]', 'label-key');
  const long = 'k'.repeat(129);
  rejects(spec((s) => (s.labels = { [long]: 'x' })), `spec.labels["${long}"]`, 'label-key');
  rejects(spec((s) => (s.labels = { tier: 'v'.repeat(4097) })), 'spec.labels["tier"]', 'label-value');
  rejects(() => validateLabels({ a: 1 }, 'labels'), 'labels["a"]', 'type');
  assert.deepEqual(validateLabels({ a: '', ['k'.repeat(128)]: 'v'.repeat(4096) }).a, '');
  rejects(() => validateNode({ id: 'n1', labels: { '': 'x' } }), 'labels[""]', 'label-key');
});

test('rule replicas: an integer in 0..100000', () => {
  const field = 'spec.mode.replicated.replicas';
  rejects(spec((s) => (s.mode = { replicated: { replicas: -1 } })), field, 'replicas');
  rejects(spec((s) => (s.mode = { replicated: { replicas: 100_001 } })), field, 'replicas');
  rejects(spec((s) => (s.mode = { replicated: { replicas: 1.5 } })), field, 'replicas');
  rejects(spec((s) => (s.mode = { replicated: { replicas: '3' as unknown as number } })), field, 'type');
  assert.doesNotThrow(spec((s) => (s.mode = { replicated: { replicas: 0 } })));
  assert.doesNotThrow(spec((s) => (s.mode = { replicated: { replicas: 100_000 } })));
});

test('rule mode: exactly one of replicated or global', () => {
  rejects(spec((s) => (s.mode = { replicated: { replicas: 1 }, global: {} } as unknown as Spec['mode'])), 'spec.mode', 'mode');
  rejects(spec((s) => (s.mode = {} as Spec['mode'])), 'spec.mode', 'mode');
  assert.deepEqual(spec((s) => (s.mode = { global: {} }))(), { ...serviceSpec('web'), mode: { global: {} } });
});

test('rule resources: non-negative integers', () => {
  rejects(spec((s) => (s.taskTemplate.resources.limits.nanoCpus = -1)), 'spec.taskTemplate.resources.limits.nanoCpus', 'resources');
  rejects(spec((s) => (s.taskTemplate.resources.reservations.memoryBytes = 1.5)), 'spec.taskTemplate.resources.reservations.memoryBytes', 'resources');
});

test('rule reservation-exceeds-limit: reservations <= limits when both are set', () => {
  rejects(
    spec((s) => {
      s.taskTemplate.resources.limits.memoryBytes = 100;
      s.taskTemplate.resources.reservations.memoryBytes = 200;
    }),
    'spec.taskTemplate.resources.reservations.memoryBytes',
    'reservation-exceeds-limit',
  );
  rejects(
    spec((s) => {
      s.taskTemplate.resources.limits.nanoCpus = 1e9;
      s.taskTemplate.resources.reservations.nanoCpus = 2e9;
    }),
    'spec.taskTemplate.resources.reservations.nanoCpus',
    'reservation-exceeds-limit',
  );
  // No limit (0) means no ceiling.
  assert.doesNotThrow(spec((s) => (s.taskTemplate.resources.reservations.nanoCpus = 2e9)));
});

test('rule port-range: ports are 1..65535', () => {
  const port = { protocol: 'tcp' as const, targetPort: 80, publishedPort: 8080, publishMode: 'ingress' as const };
  rejects(spec((s) => (s.endpoint.ports = [{ ...port, targetPort: 0 }])), 'spec.endpoint.ports[0].targetPort', 'port-range');
  rejects(spec((s) => (s.endpoint.ports = [port, { ...port, publishedPort: 65536 }])), 'spec.endpoint.ports[1].publishedPort', 'port-range');
  rejects(spec((s) => (s.endpoint.ports = [{ ...port, targetPort: 80.5 }])), 'spec.endpoint.ports[0].targetPort', 'port-range');
  assert.doesNotThrow(spec((s) => (s.endpoint.ports = [{ ...port, targetPort: 1, publishedPort: 65535, name: 'http' }])));
});

test('rule port-protocol and publish-mode', () => {
  const port = { protocol: 'tcp' as const, targetPort: 80, publishedPort: 8080, publishMode: 'ingress' as const };
  rejects(spec((s) => (s.endpoint.ports = [{ ...port, protocol: 'sctp' as 'tcp' }])), 'spec.endpoint.ports[0].protocol', 'port-protocol');
  rejects(spec((s) => (s.endpoint.ports = [{ ...port, publishMode: 'bridge' as 'host' }])), 'spec.endpoint.ports[0].publishMode', 'publish-mode');
});

test('rule port-duplicate: one published port+protocol per service', () => {
  const port = { protocol: 'tcp' as const, targetPort: 80, publishedPort: 8080, publishMode: 'ingress' as const };
  rejects(spec((s) => (s.endpoint.ports = [port, { ...port, targetPort: 81 }])), 'spec.endpoint.ports[1].publishedPort', 'port-duplicate');
  assert.doesNotThrow(spec((s) => (s.endpoint.ports = [port, { ...port, protocol: 'udp' }])));
});

test('rule image-reference: the Docker reference grammar', () => {
  const digest = `sha256:${'a'.repeat(64)}`;
  for (const good of [
    'redis',
    'redis:7',
    'library/redis:7.2-alpine',
    'docker.io/library/busybox:latest',
    'localhost/foo',
    'localhost:5000/foo/bar:tag',
    'Registry.Example.com/team/app',
    `registry.example.com:443/a/b@${digest}`,
    `app:v1@${digest}`,
    'a__b/c.d/e-f--g',
    'x:_tag',
  ]) {
    assert.doesNotThrow(() => parseImageReference(good), good);
  }
  assert.deepEqual(parseImageReference(`localhost:5000/foo/bar:tag@${digest}`), { domain: 'localhost:5000', path: 'foo/bar', tag: 'tag', digest });
  assert.deepEqual(parseImageReference('redis'), { domain: '', path: 'redis', tag: '', digest: '' });
  const field = 'spec.taskTemplate.container.image';
  for (const bad of ['redis:', ':tag', 'a//b', 'a/-b', 'redis:.bad', 'redis@sha256:abc', `redis@md5:${'a'.repeat(64)}`, 'a b', 'foo/bar_', 'reg-.com/x', 'x'.repeat(256), `redis:${'t'.repeat(129)}`]) {
    rejects(spec((s) => (s.taskTemplate.container.image = bad)), field, 'image-reference');
  }
  rejects(spec((s) => (s.taskTemplate.container.image = '')), field, 'required');
});

test('rule image-lowercase: repository path components are lowercase', () => {
  const field = 'spec.taskTemplate.container.image';
  rejects(spec((s) => (s.taskTemplate.container.image = 'Redis')), field, 'image-lowercase');
  rejects(spec((s) => (s.taskTemplate.container.image = 'myorg/MyApp:1.0')), field, 'image-lowercase');
  rejects(spec((s) => (s.taskTemplate.container.image = 'reg.io/Team/app')), field, 'image-lowercase');
});

test('rule env-format: KEY=VALUE with a non-empty key', () => {
  rejects(spec((s) => (s.taskTemplate.container.env = ['A=1', 'NOEQUALS'])), 'spec.taskTemplate.container.env[1]', 'env-format');
  rejects(spec((s) => (s.taskTemplate.container.env = ['=value'])), 'spec.taskTemplate.container.env[0]', 'env-format');
  rejects(spec((s) => (s.taskTemplate.container.env = [3 as unknown as string])), 'spec.taskTemplate.container.env[0]', 'type');
  assert.doesNotThrow(spec((s) => (s.taskTemplate.container.env = ['A=', 'B=c=d', 'lower_case=1'])));
});

test('rule duration: durations are non-negative integer milliseconds', () => {
  rejects(spec((s) => (s.taskTemplate.container.stopGracePeriodMs = -1)), 'spec.taskTemplate.container.stopGracePeriodMs', 'duration');
  rejects(spec((s) => (s.taskTemplate.restartPolicy.delayMs = -5)), 'spec.taskTemplate.restartPolicy.delayMs', 'duration');
  rejects(spec((s) => (s.taskTemplate.restartPolicy.windowMs = 0.5)), 'spec.taskTemplate.restartPolicy.windowMs', 'duration');
  rejects(spec((s) => (s.updateConfig.monitorMs = -1)), 'spec.updateConfig.monitorMs', 'duration');
  rejects(spec((s) => (s.rollbackConfig.delayMs = -1)), 'spec.rollbackConfig.delayMs', 'duration');
  rejects(
    spec((s) => (s.taskTemplate.container.healthcheck = { test: ['CMD-SHELL', 'true'], intervalMs: -1000, timeoutMs: 0, retries: 3, startPeriodMs: 0 })),
    'spec.taskTemplate.container.healthcheck.intervalMs',
    'duration',
  );
  rejects(() => validateClusterSpec({ name: 'c', dispatcher: { heartbeatPeriodMs: 0 } }), 'spec.dispatcher.heartbeatPeriodMs', 'duration');
});

test('rule healthcheck-test and healthcheck-retries', () => {
  const hc = { test: ['CMD', 'curl', '-f', 'http://localhost/'], intervalMs: 1000, timeoutMs: 500, retries: 3, startPeriodMs: 0 };
  assert.doesNotThrow(spec((s) => (s.taskTemplate.container.healthcheck = hc)));
  for (const test of [['CMD'], ['CMD-SHELL'], ['CMD-SHELL', 'a', 'b'], ['NONE', 'x'], ['curl']]) {
    rejects(spec((s) => (s.taskTemplate.container.healthcheck = { ...hc, test })), 'spec.taskTemplate.container.healthcheck.test', 'healthcheck-test');
  }
  rejects(spec((s) => (s.taskTemplate.container.healthcheck = { ...hc, retries: -1 })), 'spec.taskTemplate.container.healthcheck.retries', 'healthcheck-retries');
});

test('rules for mounts: type, absolute target, bind source, no duplicate target', () => {
  const m = { type: 'bind' as const, source: '/data', target: '/var/data', readOnly: true };
  assert.doesNotThrow(spec((s) => (s.taskTemplate.container.mounts = [m, { type: 'volume', source: '', target: '/cache', readOnly: false }])));
  rejects(spec((s) => (s.taskTemplate.container.mounts = [{ ...m, type: 'tmpfs' as 'bind' }])), 'spec.taskTemplate.container.mounts[0].type', 'mount-type');
  rejects(spec((s) => (s.taskTemplate.container.mounts = [{ ...m, target: 'data' }])), 'spec.taskTemplate.container.mounts[0].target', 'mount-target');
  rejects(spec((s) => (s.taskTemplate.container.mounts = [{ ...m, source: 'rel' }])), 'spec.taskTemplate.container.mounts[0].source', 'mount-source');
  rejects(spec((s) => (s.taskTemplate.container.mounts = [m, { ...m, source: '/other' }])), 'spec.taskTemplate.container.mounts[1].target', 'mount-duplicate');
  rejects(spec((s) => (s.taskTemplate.container.dir = 'relative')), 'spec.taskTemplate.container.dir', 'dir');
});

test('rule constraint-format, constraint-key and constraint-value', () => {
  const field = 'spec.taskTemplate.placement.constraints[0]';
  for (const good of ['node.role==manager', 'node.role != worker', 'node.labels.zone==eu-west-1', 'engine.labels.os==linux', 'node.hostname==host-1', 'node.id!=abc123', 'NODE.ROLE==worker', 'node.platform.arch==x86_64']) {
    assert.doesNotThrow(spec((s) => (s.taskTemplate.placement.constraints = [good])), good);
  }
  assert.deepEqual(parseConstraint(' node.labels.Zone != a '), { key: 'node.labels.Zone', op: '!=', value: 'a' });
  rejects(spec((s) => (s.taskTemplate.placement.constraints = ['node.role=manager'])), field, 'constraint-format');
  rejects(spec((s) => (s.taskTemplate.placement.constraints = ['node.role'])), field, 'constraint-format');
  rejects(spec((s) => (s.taskTemplate.placement.constraints = ['node.color==red'])), field, 'constraint-key');
  rejects(spec((s) => (s.taskTemplate.placement.constraints = ['node.labels.==x'])), field, 'constraint-key');
  rejects(spec((s) => (s.taskTemplate.placement.constraints = ['node.role==boss'])), field, 'constraint-value');
  rejects(spec((s) => (s.taskTemplate.placement.constraints = ['node.id=='])), field, 'constraint-value');
  rejects(spec((s) => (s.taskTemplate.placement.constraints = ['node.labels.a==x;y'])), field, 'constraint-value');
  rejects(spec((s) => (s.taskTemplate.placement.preferences = [{ spread: 'rack' }])), 'spec.taskTemplate.placement.preferences[0].spread', 'spread-descriptor');
  assert.doesNotThrow(spec((s) => (s.taskTemplate.placement.preferences = [{ spread: 'node.labels.rack' }])));
});

test('rule restart-condition and restart-max-attempts', () => {
  rejects(spec((s) => (s.taskTemplate.restartPolicy.condition = 'always' as 'any')), 'spec.taskTemplate.restartPolicy.condition', 'restart-condition');
  rejects(spec((s) => (s.taskTemplate.restartPolicy.maxAttempts = -1)), 'spec.taskTemplate.restartPolicy.maxAttempts', 'restart-max-attempts');
  for (const c of ['none', 'on-failure', 'any'] as const) assert.doesNotThrow(spec((s) => (s.taskTemplate.restartPolicy.condition = c)));
});

test('rule parallelism: an integer >= 0', () => {
  rejects(spec((s) => (s.updateConfig.parallelism = -1)), 'spec.updateConfig.parallelism', 'parallelism');
  rejects(spec((s) => (s.rollbackConfig.parallelism = 0.5)), 'spec.rollbackConfig.parallelism', 'parallelism');
  assert.doesNotThrow(spec((s) => (s.updateConfig.parallelism = 0)));
});

test('rule max-failure-ratio: 0 <= ratio <= 1', () => {
  rejects(spec((s) => (s.updateConfig.maxFailureRatio = 1.5)), 'spec.updateConfig.maxFailureRatio', 'max-failure-ratio');
  rejects(spec((s) => (s.updateConfig.maxFailureRatio = -0.1)), 'spec.updateConfig.maxFailureRatio', 'max-failure-ratio');
  assert.doesNotThrow(spec((s) => (s.updateConfig.maxFailureRatio = 0.25)));
  assert.doesNotThrow(spec((s) => (s.updateConfig.maxFailureRatio = 1)));
});

test('rule failure-action and update-order (rollback cannot roll back)', () => {
  rejects(spec((s) => (s.updateConfig.failureAction = 'explode' as 'pause')), 'spec.updateConfig.failureAction', 'failure-action');
  assert.doesNotThrow(spec((s) => (s.updateConfig.failureAction = 'rollback')));
  rejects(spec((s) => (s.rollbackConfig.failureAction = 'rollback')), 'spec.rollbackConfig.failureAction', 'failure-action');
  rejects(spec((s) => (s.updateConfig.order = 'random' as 'stop-first')), 'spec.updateConfig.order', 'update-order');
});

test('rule type: wrong JSON types name the field', () => {
  rejects(spec((s) => (s.taskTemplate.container.command = 'sleep' as unknown as string[])), 'spec.taskTemplate.container.command', 'type');
  rejects(spec((s) => (s.taskTemplate.container.args = [1 as unknown as string])), 'spec.taskTemplate.container.args[0]', 'type');
  rejects(spec((s) => (s.labels = [] as unknown as Record<string, string>)), 'spec.labels', 'type');
  rejects(spec((s) => (s.taskTemplate.container.mounts = [{ ...{ type: 'bind', source: '/a', target: '/b' }, readOnly: 'yes' as unknown as boolean }])), 'spec.taskTemplate.container.mounts[0].readOnly', 'type');
});

test('rules for secrets and configs: base64 data within the size limit', () => {
  assert.deepEqual(validateSecretSpec({ name: 's', data: 'YWJj' }), { name: 's', labels: {}, data: 'YWJj' });
  rejects(() => validateSecretSpec({ name: 's', data: 'not base64!' }), 'spec.data', 'base64');
  rejects(() => validateSecretSpec({ name: 's', data: 'YWJ' }), 'spec.data', 'base64');
  const big = Buffer.alloc(500 * 1024 + 3).toString('base64');
  rejects(() => validateSecretSpec({ name: 's', data: big }), 'spec.data', 'data-size');
  assert.doesNotThrow(() => validateConfigSpec({ name: 'c', data: big }));
});

test('rules for nodes: role, availability, state', () => {
  assert.deepEqual(validateNode(node('n1')), node('n1'));
  rejects(() => validateNode({ ...node('n1'), role: 'boss' }), 'role', 'node-role');
  rejects(() => validateNode({ ...node('n1'), availability: 'gone' }), 'availability', 'node-availability');
  rejects(() => validateNode({ ...node('n1'), status: { state: 'up' } }), 'status.state', 'node-state');
  rejects(() => validateNode({ ...node('n1'), id: 'bad id' }), 'id', 'id-format');
  rejects(() => validateNode({ ...node('n1'), id: '' }), 'id', 'required');
  const prev = validateNode(node('n1'));
  rejects(() => validateNodeUpdate(prev, { ...node('n2') }), 'id', 'immutable');
  rejects(() => validateNodeUpdate(prev, { ...node('n1'), description: { ...prev.description, cpus: -2 } }), 'description.cpus', 'resources');
});

test('rules for tasks: state values, forward-only observed state, slot', () => {
  const s = service('s1', 'web');
  const t = task('t1', s);
  assert.deepEqual(validateTask(t), t);
  rejects(() => validateTask({ ...t, desiredState: 100 }), 'desiredState', 'task-state');
  rejects(() => validateTask({ ...t, status: { ...t.status, state: 'running' } }), 'status.state', 'task-state');
  rejects(() => validateTask({ ...t, status: { ...t.status, health: 'ok' } }), 'status.health', 'task-health');
  rejects(() => validateTask({ ...t, slot: -1 }), 'slot', 'slot');
  rejects(() => validateTask({ ...t, nodeId: 'no spaces' }), 'nodeId', 'id-format');
  const running = validateTask({ ...t, status: { ...t.status, state: TaskState.RUNNING } });
  rejects(() => validateTaskUpdate(running, { ...t, status: { ...t.status, state: TaskState.PENDING } }), 'status.state', 'forward-only');
  rejects(() => validateTaskUpdate(running, { ...running, slot: 2 }), 'slot', 'immutable');
  assert.equal(validateTaskUpdate(running, { ...running, status: { ...running.status, state: TaskState.COMPLETE } }).status.state, TaskState.COMPLETE);
});
