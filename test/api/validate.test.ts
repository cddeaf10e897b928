// Spec validation: one test per rule, each checking that the error names the
// field and the rule; plus the canonical form (defaults, key order).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConstraint } from '../../src/api/constraint.js';
import { TaskState, type Mount, type ResourceRequirements } from '../../src/api/objects.js';
import { checkClusterSetting, checkClusterSpecChange, checkLabelKeys, checkServiceSpecChange, MAX_CPUS, MAX_DURATION_MS, MAX_MEMORY_BYTES, MAX_REPLICAS, MIN_MEMORY_BYTES, validateCluster, validateService, parseImageReference, validateClusterSpec, validateConfigSpec, validateLabels, validateNode, validateNodeUpdate, validateSecret, validateSecretSpec, validateSecretUpdate, validateServiceSpec, validateTask, validateTaskUpdate } from '../../src/api/validate.js';
import { quoteInput, ValidationError } from '../../src/api/input.js';
import { clone, cluster, node, secret, service, serviceSpec, task } from '../manager/store-fixtures.js';

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
  assert.deepEqual(min.updateConfig, { parallelism: 1, delayMs: 0, failureAction: 'pause', monitorMs: 5000, maxFailureRatio: 0, order: 'stop-first', canary: 0, autoPromote: false, progressDeadlineMs: 0 });
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
  // A long key is cut in the field path (it is repeated in the message and in the gRPC metadata).
  rejects(spec((s) => (s.labels = { [long]: 'x' })), `spec.labels["${'k'.repeat(40)}"...+89]`, 'label-key');
  // ... and printable ASCII (it is gRPC metadata too).
  rejects(spec((s) => (s.labels = { 'é': 'v'.repeat(4097) })), 'spec.labels["\\u00e9"]', 'label-value');
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

test('rule endpoint-mode: vip or dnsrr; dnsrr has no ingress port (SwarmKit\'s refusal) and no proxy settings', () => {
  const host = { protocol: 'tcp' as const, targetPort: 5432, publishedPort: 5432, publishMode: 'host' as const };
  const ingress = { protocol: 'udp' as const, targetPort: 53, publishedPort: 0, publishMode: 'ingress' as const };
  rejects(spec((s) => (s.endpoint = { mode: 'rr' as 'vip', ports: [] })), 'spec.endpoint.mode', 'endpoint-mode');
  // vip is the default: canonically absent, the key order stays; dnsrr comes first, as objects.ts declares it.
  assert.deepEqual(validateServiceSpec({ ...serviceSpec('web'), endpoint: { mode: 'vip', ports: [] } }).endpoint, { ports: [] });
  const rr = validateServiceSpec({ ...serviceSpec('db'), endpoint: { ports: [host], mode: 'dnsrr', drainPeriodMs: 0 } });
  assert.deepEqual(rr.endpoint, { mode: 'dnsrr', ports: [host], drainPeriodMs: 0 });
  assert.deepEqual(Object.keys(rr.endpoint), ['mode', 'ports', 'drainPeriodMs']);
  assert.deepEqual(validateServiceSpec(rr), rr, 'idempotent');
  // An ingress port, even one the cluster would assign: SwarmKit's words, naming the mode, then what to do.
  const msg = message(spec((s) => (s.endpoint = { mode: 'dnsrr', ports: [host, ingress] })), 'spec.endpoint.mode', 'endpoint-mode');
  assert.match(msg, /: port published with ingress mode can't be used with dnsrr mode \(target port 53\/udp\): publish it in host mode, or use the vip endpoint mode \[endpoint-mode\]$/);
  assert.doesNotThrow(spec((s) => (s.endpoint = { ports: [host, ingress] })), 'vip takes both');
  rejects(spec((s) => (s.endpoint = { mode: 'dnsrr', ports: [], lbPolicy: 'least-conn' })), 'spec.endpoint.lbPolicy', 'endpoint-mode');
  rejects(spec((s) => (s.endpoint = { mode: 'dnsrr', ports: [], proxyProtocol: 'v2' })), 'spec.endpoint.proxyProtocol', 'endpoint-mode');
  // A stored rule too: the store never holds one for a node's data plane to meet.
  assert.throws(() => validateServiceSpec({ ...serviceSpec('db'), endpoint: { mode: 'dnsrr', ports: [ingress] } }, 'spec', 'stored'), /ingress mode can't be used with dnsrr mode/);
  // A task carries the endpoint too.
  const t = task('t1', service('s1', 'db', { endpoint: { mode: 'dnsrr', ports: [host] } }));
  assert.deepEqual(validateTask(clone(t)).endpoint, { mode: 'dnsrr', ports: [host] });
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
  rejects(() => validateClusterSpec({ name: 'c', dispatcher: { heartbeatPeriodMs: 0 } }, 'spec', 'stored'), 'spec.dispatcher.heartbeatPeriodMs', 'duration');
  // A request's heartbeat period has its own range (see the cluster settings test).
  rejects(() => validateClusterSpec({ name: 'c', dispatcher: { heartbeatPeriodMs: 0 } }), 'spec.dispatcher.heartbeatPeriodMs', 'heartbeat-period');
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

test('rules for exposed ports: PORT/PROTO, in range, each once, at most 100', () => {
  assert.doesNotThrow(spec((s) => (s.taskTemplate.container.expose = ['6379/tcp', '53/udp'])));
  for (const bad of ['6379', '0/tcp', '65536/tcp', '80/sctp', ' 80/tcp', '080/tcp']) {
    rejects(spec((s) => (s.taskTemplate.container.expose = ['1/tcp', bad])), 'spec.taskTemplate.container.expose[1]', 'expose');
  }
  rejects(spec((s) => (s.taskTemplate.container.expose = ['80/tcp', '80/tcp'])), 'spec.taskTemplate.container.expose[1]', 'expose-duplicate');
  rejects(spec((s) => (s.taskTemplate.container.expose = Array.from({ length: 101 }, (_, i) => `${i + 1}/tcp`))), 'spec.taskTemplate.container.expose', 'expose-count');
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

test('rule max-replicas: an integer in 0..MAX_REPLICAS, absent at 0, replicated services only', () => {
  const field = 'spec.taskTemplate.placement.maxReplicas';
  const placementOf = (max: number): unknown => (spec((s) => (s.taskTemplate.placement.maxReplicas = max))() as Spec).taskTemplate.placement;
  assert.deepEqual(placementOf(3), { constraints: [], preferences: [], maxReplicas: 3 });
  assert.deepEqual(placementOf(MAX_REPLICAS), { constraints: [], preferences: [], maxReplicas: MAX_REPLICAS });
  // 0 (no limit) is the default: the canonical form has no field.
  assert.deepEqual(placementOf(0), { constraints: [], preferences: [] });
  for (const bad of [-1, 1.5, MAX_REPLICAS + 1]) rejects(spec((s) => (s.taskTemplate.placement.maxReplicas = bad)), field, 'max-replicas');
  rejects(spec((s) => (s.taskTemplate.placement.maxReplicas = '2' as unknown as number)), field, 'type');
  rejects(
    spec((s) => {
      s.mode = { global: {} };
      s.taskTemplate.placement.maxReplicas = 1;
    }),
    field,
    'max-replicas',
  );
  assert.doesNotThrow(
    spec((s) => {
      s.mode = { global: {} };
      s.taskTemplate.placement.maxReplicas = 0;
    }),
  );
});

test('rules for per-network aliases: DNS names on a network of the service, distinct, at most 32; canonical in the order of the networks', () => {
  const withAliases = (networks: string[], aliases: Record<string, unknown>): (() => unknown) =>
    spec((s) => {
      s.taskTemplate.networks = networks;
      s.taskTemplate.networkAliases = aliases as Record<string, string[]>;
    });
  const aliasesOf = (networks: string[], aliases: Record<string, unknown>): unknown => (withAliases(networks, aliases)() as Spec).taskTemplate.networkAliases;
  const got = aliasesOf(['front', 'back', 'ops'], { ops: ['w-1'], back: ['db', 'Primary.DB', '1db', 'a'.repeat(63)], front: [] });
  assert.deepEqual(got, { back: ['db', 'Primary.DB', '1db', 'a'.repeat(63)], ops: ['w-1'] }, 'kept as given (case too); an empty list is no entry');
  assert.deepEqual(Object.keys(got as object), ['back', 'ops'], 'in the order of the networks');
  assert.equal(aliasesOf(['front'], { front: [] }), undefined, 'none at all: absent');
  assert.equal(aliasesOf(['front'], {}), undefined);
  const f = 'spec.taskTemplate.networkAliases';
  rejects(withAliases(['front'], { back: ['db'] }), `${f}["back"]`, 'alias-network');
  rejects(withAliases([], { back: ['db'] }), `${f}["back"]`, 'alias-network');
  for (const bad of ['a_b', '-db', 'db-', 'db.', '.db', 'd b', 'é', 'a'.repeat(64), 'x.' + 'a'.repeat(64)]) rejects(withAliases(['back'], { back: ['ok', bad] }), `${f}["back"][1]`, 'alias-format');
  rejects(withAliases(['back'], { back: ['tasks.db'] }), `${f}["back"][0]`, 'alias-format');
  rejects(withAliases(['back'], { back: [''] }), `${f}["back"][0]`, 'alias-length');
  rejects(withAliases(['back'], { back: [Array.from({ length: 4 }, () => 'a'.repeat(63)).join('.')] }), `${f}["back"][0]`, 'alias-length');
  assert.doesNotThrow(withAliases(['back'], { back: ['tasks', 'my.tasks.db'] }), 'tasks is only refused as the first label of a longer name');
  rejects(withAliases(['back'], { back: ['db', 'DB'] }), `${f}["back"][1]`, 'alias-duplicate');
  assert.doesNotThrow(withAliases(['front', 'back'], { front: ['db'], back: ['db'] }), 'the same alias on two networks');
  const many = (n: number): string[] => Array.from({ length: n }, (_, i) => `a${i}`);
  assert.doesNotThrow(withAliases(['back'], { back: many(32) }));
  rejects(withAliases(['back'], { back: many(33) }), `${f}["back"]`, 'alias-count');
  rejects(withAliases(['back'], { back: 'db' }), `${f}["back"]`, 'type');
  rejects(withAliases(['back'], { back: [7] }), `${f}["back"][0]`, 'type');
  rejects(withAliases(['back'], ['db'] as unknown as Record<string, unknown>), f, 'type');
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

test("secrets and configs: a request's name has no '~', the store holds rotate's NAME~N, and only rotate renames", () => {
  rejects(() => validateSecretSpec({ name: 'db~1', data: 'YWJj' }), 'spec.name', 'name-format');
  rejects(() => validateSecretSpec({ name: 's', data: '' }), 'spec.data', 'data-size');
  assert.equal(validateSecretSpec({ name: 'db~1', data: '' }, 'spec', 'stored').name, 'db~1');
  assert.equal(validateSecret(secret('x1', `${'a'.repeat(63)}~12`)).spec.name, `${'a'.repeat(63)}~12`);
  for (const bad of ['db~0', 'db~', 'db~1~2', 'd b~1', 'db~01']) rejects(() => validateSecret(secret('x1', bad)), 'spec.name', 'name-format');
  rejects(() => validateSecret(secret('x1', '~1')), 'spec.name', 'name-length');
  const v1 = validateSecret(secret('x1', 'db'));
  assert.equal(validateSecretUpdate(v1, secret('x1', 'db~3')).spec.name, 'db~3');
  rejects(() => validateSecretUpdate(v1, secret('x1', 'other')), 'spec.name', 'immutable');
  rejects(() => validateSecretUpdate(v1, secret('x1', 'other~1')), 'spec.name', 'immutable');
  rejects(() => validateSecretUpdate(validateSecret(secret('x1', 'db~1')), secret('x1', 'db~1~2')), 'spec.name', 'name-format');
  rejects(() => validateSecretUpdate(validateSecret(secret('x1', 'db~1')), secret('x1', 'db')), 'spec.name', 'immutable');
  rejects(() => validateSecretUpdate(v1, secret('x1', 'db~1', 'b3RoZXI=')), 'spec.data', 'immutable');
  // Base64 is checked in linear time: 4 MiB of data is refused by size, not by a stack overflow.
  rejects(() => validateSecretSpec({ name: 's', data: Buffer.alloc(4 * 1024 * 1024).toString('base64') }), 'spec.data', 'data-size');
  rejects(() => validateSecretSpec({ name: 's', data: `${Buffer.alloc(3000).toString('base64')}!` }), 'spec.data', 'base64');
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

// ------------------------------------------------------------ request rules (issue 13)
// What a client may ask for (validateServiceSpec / validateClusterSpec with
// rules 'request', their default): stricter than what the store holds.

/** The message of the ValidationError fn throws, after checking its field and rule. */
function message(fn: () => unknown, field: string, rule: string): string {
  let msg = '';
  rejects(() => {
    try {
      return fn();
    } catch (err) {
      msg = (err as Error).message;
      throw err;
    }
  }, field, rule);
  return msg;
}

const C = 'spec.taskTemplate.container';
const R = 'spec.taskTemplate.resources';

test('cluster settings: the ranges the CLI documents, each with its own words; the name is fixed', () => {
  const base = { name: 'c', dispatcher: { heartbeatPeriodMs: 1000, heartbeatGrace: 3 }, orchestration: { taskHistoryRetention: 5 }, caConfig: { nodeCertExpiryHours: 2160 } };
  const edit = (f: (s: typeof base) => void) => () => {
    const s = clone(base);
    f(s);
    return validateClusterSpec(s);
  };
  // The probe of issue 13: 1 ms, a grace of 1000, a task history of 1e9.
  assert.match(message(edit((s) => (s.dispatcher.heartbeatPeriodMs = 1)), 'spec.dispatcher.heartbeatPeriodMs', 'heartbeat-period'), /must be between 100ms and 1h \(got 1ms\)/);
  assert.match(message(edit((s) => (s.dispatcher.heartbeatPeriodMs = 3_600_001)), 'spec.dispatcher.heartbeatPeriodMs', 'heartbeat-period'), /must be between 100ms and 1h \(got 1h0\.001s\)/);
  assert.match(message(edit((s) => (s.dispatcher.heartbeatGrace = 1000)), 'spec.dispatcher.heartbeatGrace', 'heartbeat-grace'), /must be an integer in 1\.\.100 \(got 1000\)/);
  rejects(edit((s) => (s.dispatcher.heartbeatGrace = 0)), 'spec.dispatcher.heartbeatGrace', 'heartbeat-grace');
  assert.match(message(edit((s) => (s.orchestration.taskHistoryRetention = 1e9)), 'spec.orchestration.taskHistoryRetention', 'task-history-limit'), /must be an integer in 0\.\.1000 \(got 1000000000\)/);
  rejects(edit((s) => (s.orchestration.taskHistoryRetention = -1)), 'spec.orchestration.taskHistoryRetention', 'task-history-limit');
  assert.match(message(edit((s) => (s.caConfig.nodeCertExpiryHours = 0)), 'spec.caConfig.nodeCertExpiryHours', 'cert-expiry'), /whole number of hours between 1h and 87600h \(got 0h\)/);
  rejects(edit((s) => (s.caConfig.nodeCertExpiryHours = 87_601)), 'spec.caConfig.nodeCertExpiryHours', 'cert-expiry');
  // The edges are in.
  for (const [period, grace, history, expiry] of [
    [100, 1, 0, 1],
    [3_600_000, 100, 1000, 87_600],
  ]) {
    assert.doesNotThrow(edit((s) => {
      s.dispatcher = { heartbeatPeriodMs: period, heartbeatGrace: grace };
      s.orchestration.taskHistoryRetention = history;
      s.caConfig.nodeCertExpiryHours = expiry;
    }));
  }
  // What the store holds is read as it is (a test cluster may beat every 40ms).
  assert.equal(validateClusterSpec({ ...base, dispatcher: { heartbeatPeriodMs: 40, heartbeatGrace: 3 } }, 'spec', 'stored').dispatcher.heartbeatPeriodMs, 40);
  assert.equal(validateCluster({ ...cluster('c1'), spec: { ...base, dispatcher: { heartbeatPeriodMs: 40, heartbeatGrace: 1000 } } }).spec.dispatcher.heartbeatGrace, 1000);
  assert.equal(checkClusterSetting('heartbeatGrace', 100), 100);
  assert.throws(() => checkClusterSetting('heartbeatGrace', 101), /spec\.dispatcher\.heartbeatGrace: must be an integer in 1\.\.100 \(got 101\)/);
  rejects(() => checkClusterSpecChange(validateClusterSpec(base), validateClusterSpec({ ...base, name: 'other' })), 'spec.name', 'cluster-name');
});

test('mounts: not over the container root; no writable bind of the host root or of the engine; docker.sock is fine', () => {
  const mount = (m: Mount) => spec((s) => (s.taskTemplate.container.mounts = [m]));
  const bind = (source: string, target: string, readOnly = false): Mount => ({ type: 'bind', source, target, readOnly });
  for (const target of ['/', '//', '/.', '/data/..']) {
    assert.match(message(mount(bind('/srv', target)), `${C}.mounts[0].target`, 'mount-target-root'), /destination can't be '\/': mount on a directory inside the container/);
    rejects(mount({ type: 'volume', source: 'data', target, readOnly: false }), `${C}.mounts[0].target`, 'mount-target-root');
  }
  // Issue 13's probe: a bind mount of / (writable).
  for (const source of ['/', '//', '/etc/..']) {
    assert.match(message(mount(bind(source, '/host')), `${C}.mounts[0].source`, 'mount-source-root'), /root directory '\/' is refused: bind only the directory the service needs, or make it readonly/);
  }
  for (const source of ['/var/lib/docker', '/var/lib/docker/', '/var/lib/docker/volumes/x/_data', '/var/lib/containerd']) {
    assert.match(message(mount(bind(source, '/x')), `${C}.mounts[0].source`, 'mount-source-engine'), /inside the container engine's own directory \/var\/lib\/(docker|containerd).*use a volume/);
  }
  // Read-only views of the host (node-exporter, cAdvisor) and the engine's socket (Portainer, Traefik) are what they mean.
  assert.doesNotThrow(mount(bind('/', '/rootfs', true)));
  assert.doesNotThrow(mount(bind('/var/lib/docker', '/var/lib/docker', true)));
  assert.doesNotThrow(mount(bind('/var/run/docker.sock', '/var/run/docker.sock')));
  assert.doesNotThrow(mount(bind('/var/lib/dockerish', '/x')));
  assert.doesNotThrow(mount(bind('/srv/data', '/data')));
});

test("resources: docker's 6MiB memory floor, CPUs between docker's 0.01 (limit) or swarmkit's 0.001 (reservation) and 8192", () => {
  const res = (f: (r: ResourceRequirements) => void) =>
    spec((s) => {
      f(s.taskTemplate.resources);
    });
  // Issue 13's probe: a 1-byte memory limit, 1e15 nano-CPUs.
  assert.match(message(res((r) => (r.limits.memoryBytes = 1)), `${R}.limits.memoryBytes`, 'memory-minimum'), /Minimum memory limit allowed is 6MB \(got 1 byte\): give at least 6MiB, e\.g\. 64m, or 0 for no limit/);
  assert.match(message(res((r) => (r.reservations.memoryBytes = MIN_MEMORY_BYTES - 1)), `${R}.reservations.memoryBytes`, 'memory-minimum'), /Minimum memory reservation allowed is 6MB/);
  rejects(res((r) => (r.limits.memoryBytes = MAX_MEMORY_BYTES + 1)), `${R}.limits.memoryBytes`, 'memory-maximum');
  assert.match(message(res((r) => (r.limits.nanoCpus = 1e15)), `${R}.limits.nanoCpus`, 'cpus'), /must be between 0\.01 and 8192 CPUs, or 0 for no limit \(got 1000000 CPUs\)/);
  assert.match(message(res((r) => (r.limits.nanoCpus = 5e6)), `${R}.limits.nanoCpus`, 'cpus'), /\(got 0\.005 CPUs\)/);
  rejects(res((r) => (r.reservations.nanoCpus = 5e5)), `${R}.reservations.nanoCpus`, 'cpus');
  rejects(res((r) => (r.reservations.nanoCpus = 8193e9)), `${R}.reservations.nanoCpus`, 'cpus');
  assert.doesNotThrow(res((r) => (r.reservations.nanoCpus = 5e6)), '0.005 CPU may be reserved');
  assert.doesNotThrow(
    res((r) => {
      r.limits = { nanoCpus: MAX_CPUS * 1e9, memoryBytes: MAX_MEMORY_BYTES };
      r.reservations = { nanoCpus: 1e7, memoryBytes: MIN_MEMORY_BYTES };
    }),
  );
  assert.doesNotThrow(res((r) => (r.limits = { nanoCpus: 0, memoryBytes: 0 })), '0 = no limit');
});

test('environment names and label keys: no whitespace, control character or =; values may hold anything but NUL', () => {
  // Issue 13's probe: "A B=c".
  assert.match(message(spec((s) => (s.taskTemplate.container.env = ['OK=1', 'A B=c'])), `${C}.env[1]`, 'env-name'), /environment variable name "A B" contains whitespace or a control character: use a name such as MY_VAR/);
  for (const bad of ['A\tB=c', 'A\u0001=c', ' A=c', 'A\u00a0=c']) rejects(spec((s) => (s.taskTemplate.container.env = [bad])), `${C}.env[0]`, 'env-name');
  rejects(spec((s) => (s.taskTemplate.container.env = ['=c'])), `${C}.env[0]`, 'env-format');
  rejects(spec((s) => (s.taskTemplate.container.env = ['A=c\0'])), `${C}.env[0]`, 'env-format');
  assert.doesNotThrow(spec((s) => (s.taskTemplate.container.env = ['A=b c', 'B=', 'C=x=y', 'D=\t\u0001é', 'lower_1=1'])));
  for (const key of ['a b', 'a=b', 'a\nb', ' a']) rejects(spec((s) => (s.labels = { [key]: 'x' })), `spec.labels[${JSON.stringify(key)}]`, 'label-key');
  assert.doesNotThrow(spec((s) => (s.labels = { 'com.example.team': 'a b', 'x-y_z': '' })));
  rejects(() => checkLabelKeys({ 'a b': '' }, 'labelsAdd'), 'labelsAdd["a b"]', 'label-key');
});

test('durations at most a week, counts within their bounds', () => {
  const week = MAX_DURATION_MS;
  assert.match(message(spec((s) => (s.taskTemplate.container.stopGracePeriodMs = 1e15)), `${C}.stopGracePeriodMs`, 'duration'), /must be at most 168h \(a week\)/);
  rejects(spec((s) => (s.taskTemplate.restartPolicy.delayMs = week + 1)), 'spec.taskTemplate.restartPolicy.delayMs', 'duration');
  rejects(spec((s) => (s.taskTemplate.restartPolicy.windowMs = week + 1)), 'spec.taskTemplate.restartPolicy.windowMs', 'duration');
  rejects(spec((s) => (s.updateConfig.delayMs = week + 1)), 'spec.updateConfig.delayMs', 'duration');
  rejects(spec((s) => (s.rollbackConfig.monitorMs = week + 1)), 'spec.rollbackConfig.monitorMs', 'duration');
  const hc = { test: ['CMD', 'true'], intervalMs: week + 1, timeoutMs: 0, retries: 0, startPeriodMs: 0 };
  rejects(spec((s) => (s.taskTemplate.container.healthcheck = hc)), `${C}.healthcheck.intervalMs`, 'duration');
  rejects(spec((s) => (s.taskTemplate.container.healthcheck = { ...hc, intervalMs: 0, retries: 2 ** 31 })), `${C}.healthcheck.retries`, 'healthcheck-retries');
  rejects(spec((s) => (s.taskTemplate.restartPolicy.maxAttempts = 2 ** 31)), 'spec.taskTemplate.restartPolicy.maxAttempts', 'restart-max-attempts');
  rejects(spec((s) => (s.updateConfig.parallelism = 100_001)), 'spec.updateConfig.parallelism', 'parallelism');
  assert.doesNotThrow(
    spec((s) => {
      s.taskTemplate.container.stopGracePeriodMs = week;
      s.taskTemplate.container.healthcheck = { ...hc, intervalMs: week, retries: 2 ** 31 - 1 };
      s.updateConfig.parallelism = 100_000;
      s.taskTemplate.restartPolicy.maxAttempts = 2 ** 31 - 1;
    }),
  );
  rejects(spec((s) => (s.mode = { replicated: { replicas: 100_001 } })), 'spec.mode.replicated.replicas', 'replicas');
});

test('a stored service is read as it is: the request rules are not applied to what the log holds', () => {
  const odd = service('s1', 'web');
  odd.spec.taskTemplate.resources.limits.memoryBytes = 1;
  odd.spec.taskTemplate.container.env = ['A B=c'];
  odd.spec.taskTemplate.container.mounts = [{ type: 'bind', source: '/', target: '/', readOnly: false }];
  assert.deepEqual(validateService(odd), odd);
  assert.throws(() => validateServiceSpec(odd.spec), ValidationError);
  assert.deepEqual(validateServiceSpec(odd.spec, 'spec', 'stored'), odd.spec);
});

test('renaming a service or changing its mode is refused in Swarm words', () => {
  const prev = serviceSpec('web');
  assert.match(message(() => checkServiceSpecChange(prev, serviceSpec('web2')), 'spec.name', 'rename'), /renaming services is not supported \("web" to "web2"\): create a service with the new name, then remove this one/);
  assert.match(message(() => checkServiceSpecChange(prev, serviceSpec('web', { mode: { global: {} } })), 'spec.mode', 'mode-change'), /service mode change is not allowed \(replicated to global\)/);
  assert.doesNotThrow(() => checkServiceSpecChange(prev, serviceSpec('web', { mode: { replicated: { replicas: 9 } } })));
});

test('errors quote at most about 100 characters of what the user sent', () => {
  const huge = 'x'.repeat(10_000);
  assert.equal(quoteInput('abc'), '"abc"');
  assert.equal(quoteInput('a'.repeat(100)), `"${'a'.repeat(100)}"`);
  assert.equal(quoteInput('a'.repeat(101)), `"${'a'.repeat(100)}"… (1 more characters)`);
  assert.equal(quoteInput(`${'a'.repeat(99)}😀z`), `"${'a'.repeat(99)}"… (3 more characters)`, 'a surrogate pair is not cut in half');
  const bounded = (fn: () => unknown): void => {
    assert.throws(fn, (err: unknown) => {
      assert.ok(err instanceof ValidationError, String(err));
      assert.ok(err.message.length < 500, `message of ${err.message.length} characters: ${err.message.slice(0, 200)}`);
      assert.ok(err.field.length < 120, `field of ${err.field.length} characters`);
      assert.ok(!err.message.includes('x'.repeat(101)), 'no more than 100 characters of the input');
      return true;
    });
  };
  bounded(spec((s) => (s.taskTemplate.container.image = `Bad${huge}`)));
  const long = 'x'.repeat(300);
  assert.match(message(spec((s) => (s.taskTemplate.container.image = `Bad${long}`)), `${C}.image`, 'image-reference'), /"Badx{57}"… \(243 more characters\) is not a valid image reference/);
  bounded(spec((s) => (s.taskTemplate.container.image = `busybox:${long}`)));
  bounded(spec((s) => (s.taskTemplate.container.image = `${long}!`)));
  bounded(spec((s) => (s.taskTemplate.container.env = [huge])));
  bounded(spec((s) => (s.taskTemplate.container.env = [`${huge} x=1`])));
  bounded(spec((s) => (s.taskTemplate.placement.constraints = [huge])));
  bounded(spec((s) => (s.taskTemplate.placement.constraints = [`node.labels.a==${huge}!`])));
  bounded(spec((s) => (s.taskTemplate.container.mounts = [{ type: 'bind', source: huge, target: '/x', readOnly: false }])));
  bounded(spec((s) => (s.taskTemplate.container.mounts = [{ type: 'bind', source: `/var/lib/docker/${huge}`, target: '/x', readOnly: false }])));
  bounded(spec((s) => (s.taskTemplate.placement.preferences = [{ spread: huge }])));
});
