// Control API converters: store object -> proto -> real protobuf bytes (with the
// types loaded from proto/control.proto) -> back, for every object kind; bad
// input from the wire gives the store's ValidationError naming the field; the
// cluster message leaks no secret.
import { isMalformedRequest } from '../../src/common/strict-wire.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { configFromProto, configToProto, secretFromProto, secretWithDataToProto } from '../../src/api/convert.js';
import { loadDispatcherProto } from '../../src/api/proto.js';
import type { dispatcher } from '../../src/api/wire.js';
import { MAX_SECRET_BYTES } from '../../src/api/validate.js';
import { clusterSpecFromProto, clusterToProto, nodeFromProto, nodeToProto, serviceFromProto, serviceSpecFromProto, serviceSpecToProto, serviceToProto, taskFromProto, taskToProto, requireVersion } from '../../src/api/convert.js';
import type { control } from '../../src/api/wire.js';
import { CA_METHODS, CONTROL_METHODS, isUnaryControlMethod, loadCaProto, loadControlProto } from '../../src/api/proto.js';
import { TaskState, type Service } from '../../src/api/objects.js';
import { ValidationError } from '../../src/api/input.js';
import { cluster, config, node, secret, service, serviceSpec, task, T0 } from '../manager/store-fixtures.js';

// ------------------------------------------------------------ wire helpers

function method(name: string): grpc.MethodDefinition<object, object> {
  return loadControlProto().service[name] as grpc.MethodDefinition<object, object>;
}

/** Serialize as the response of `rpc` and decode again: a real protobuf round trip. */
function viaResponse<T extends object>(rpc: string, msg: object): T {
  const m = method(rpc);
  return m.responseDeserialize(m.responseSerialize(msg)) as T;
}

function viaRequest<T extends object>(rpc: string, msg: object): T {
  const m = method(rpc);
  return m.requestDeserialize(m.requestSerialize(msg)) as T;
}

function wireService(s: Service): control.Service__Output {
  return viaResponse<{ service: control.Service__Output }>('GetService', { service: serviceToProto(s) }).service;
}

function wireSpec(spec: control.ServiceSpec__Output): control.ServiceSpec__Output {
  return viaRequest<{ spec: control.ServiceSpec__Output }>('CreateService', { spec }).spec;
}

function fullService(): Service {
  return {
    id: 'svc1',
    version: 42,
    createdAt: T0,
    updatedAt: T0 + 1234,
    specVersion: 40,
    spec: serviceSpec('web', {
      labels: { tier: 'front', 'com.example.owner': 'ops' },
      taskTemplate: {
        container: {
          image: 'registry.example.com:5000/team/web:1.2.3',
          command: ['/bin/web'],
          args: ['--port', '8080'],
          env: ['A=1', 'B=two words'],
          dir: '/srv',
          user: 'nobody',
          mounts: [
            { type: 'bind', source: '/var/log', target: '/logs', readOnly: true },
            { type: 'volume', source: 'data', target: '/data', readOnly: false },
          ],
          healthcheck: { test: ['CMD', 'curl', '-f', 'http://localhost/'], intervalMs: 30_000, timeoutMs: 5_000, retries: 3, startPeriodMs: 10_000 },
          stopGracePeriodMs: 20_000,
          labels: { 'com.example.tier': 'front', flag: '' },
          expose: ['6379/tcp', '53/udp'],
        },
        resources: { limits: { nanoCpus: 2e9, memoryBytes: 2 ** 33 }, reservations: { nanoCpus: 5e8, memoryBytes: 2 ** 28 } },
        restartPolicy: { condition: 'on-failure', delayMs: 1_500, maxAttempts: 7, windowMs: 60_000, maxDelayMs: 300_000 },
        placement: { constraints: ['node.role==worker', 'node.labels.zone!=b'], preferences: [{ spread: 'node.labels.zone' }], maxReplicas: 2 },
        forceUpdate: 0,
        networks: ['nfront', 'nback'],
        networkAliases: { nback: ['db', 'Primary.db'] },
      },
      mode: { replicated: { replicas: 5 } },
      updateConfig: { parallelism: 2, delayMs: 1_000, failureAction: 'rollback', monitorMs: 7_000, maxFailureRatio: 0.25, order: 'start-first', canary: 0, autoPromote: false, progressDeadlineMs: 0 },
      rollbackConfig: { parallelism: 0, delayMs: 500, failureAction: 'continue', monitorMs: 3_000, maxFailureRatio: 0.5, order: 'stop-first', canary: 0, autoPromote: false, progressDeadlineMs: 0 },
      endpoint: {
        ports: [
          { name: 'http', protocol: 'tcp', targetPort: 8080, publishedPort: 80, publishMode: 'ingress' },
          { protocol: 'udp', targetPort: 53, publishedPort: 5353, publishMode: 'host' },
          { name: '', protocol: 'tcp', targetPort: 9000, publishedPort: 9000, publishMode: 'host' },
        ],
      },
    }),
  };
}

// ------------------------------------------------------------ round trips

test('a service with every field set survives store -> proto -> bytes -> proto -> store', () => {
  const svc = fullService();
  const back = serviceFromProto(wireService(svc));
  assert.deepEqual(back, svc);
  // The absent port name stays absent; the empty one stays empty.
  assert.equal('name' in back.spec.endpoint.ports[1], false);
  assert.equal(back.spec.endpoint.ports[2].name, '');
});

test('a request spec from the wire becomes the same store ServiceSpec', () => {
  const svc = fullService();
  assert.deepEqual(serviceSpecFromProto(wireSpec(serviceSpecToProto(svc.spec))), svc.spec);
});

test("the endpoint mode: SwarmKit's ResolutionMode numbers on the wire, vip (0) absent in the store, dnsrr round-trips", () => {
  const rr = service('rr1', 'db', { endpoint: { mode: 'dnsrr', ports: [{ protocol: 'tcp', targetPort: 5432, publishedPort: 5432, publishMode: 'host' }], drainPeriodMs: 500 } });
  const wire = wireService(rr);
  assert.equal(wire.spec?.endpoint?.mode, 1);
  assert.deepEqual(serviceFromProto(wire), rr);
  assert.deepEqual(serviceSpecFromProto(wireSpec(serviceSpecToProto(rr.spec))), rr.spec);
  const vip = service('v1', 'web');
  const vipWire = wireService(vip);
  assert.equal(vipWire.spec?.endpoint?.mode, 0);
  assert.equal('mode' in serviceFromProto(vipWire).spec.endpoint, false, 'the default stays out of the store');
  // An undeclared number is refused on the wire, and named by the converter when handed one directly.
  const bad = serviceSpecToProto(rr.spec);
  bad.endpoint!.mode = 7 as number as control.ResolutionMode__Output;
  rejects(() => serviceSpecFromProto(bad), 'spec.endpoint.mode');
  const m = method('CreateService');
  assert.ok(isMalformedRequest(m.requestDeserialize(m.requestSerialize({ spec: bad }))));
  // dnsrr with an ingress port, from the wire: SwarmKit's refusal, naming the mode.
  const ingress = serviceSpecToProto(rr.spec);
  ingress.endpoint!.ports[0].publishMode = 0;
  rejects(() => serviceSpecFromProto(wireSpec(ingress)), 'spec.endpoint.mode');
  assert.throws(() => serviceSpecFromProto(wireSpec(ingress)), /port published with ingress mode can't be used with dnsrr mode/);
});

test('per-network aliases travel as a map of NetworkAliases; none is no entry, and a bad one is refused naming the network', () => {
  const svc = fullService();
  const wire = serviceSpecToProto(svc.spec);
  assert.deepEqual(wire.taskTemplate?.networkAliases, { nback: { aliases: ['db', 'Primary.db'] } });
  assert.deepEqual(wireSpec(serviceSpecToProto(serviceSpec('web'))).taskTemplate?.networkAliases, {}, 'none: an empty map');
  const withEmpty = wireSpec({ ...wire, taskTemplate: { ...wire.taskTemplate!, networkAliases: { nfront: { aliases: [] }, nback: { aliases: ['db'] } } } });
  assert.deepEqual(serviceSpecFromProto(withEmpty).taskTemplate.networkAliases, { nback: ['db'] }, 'an empty list is no entry');
  const stray = wireSpec({ ...wire, taskTemplate: { ...wire.taskTemplate!, networkAliases: { nother: { aliases: ['db'] } } } });
  assert.throws(() => serviceSpecFromProto(stray), (e: unknown) => e instanceof ValidationError && e.field === 'spec.taskTemplate.networkAliases["nother"]' && e.rule === 'alias-network');
  const bad = wireSpec({ ...wire, taskTemplate: { ...wire.taskTemplate!, networkAliases: { nback: { aliases: ['ok', 'not ok'] } } } });
  assert.throws(() => serviceSpecFromProto(bad), (e: unknown) => e instanceof ValidationError && e.field === 'spec.taskTemplate.networkAliases["nback"][1]' && e.rule === 'alias-format');
});

test('a global service round-trips, and its mode oneof is named', () => {
  const svc = service('g1', 'agent', { mode: { global: {} } });
  svc.version = 3;
  const wire = wireService(svc);
  assert.equal(wire.spec?.mode?.mode, 'global');
  assert.deepEqual(serviceFromProto(wire), svc);
  // Without a health check, none appears.
  assert.equal('healthcheck' in serviceFromProto(wire).spec.taskTemplate.container, false);
});

test('a node round-trips, with and without manager status and engine labels', () => {
  const worker = node('n1', { labels: { zone: 'a' }, availability: 'drain', version: 9 });
  const manager = node('m1', {
    role: 'manager',
    availability: 'pause',
    description: { hostname: 'mgr', cpus: 2.5, memoryBytes: 2 ** 34, engineVersion: '25.0', platform: { os: 'linux', arch: 'aarch64' }, engineLabels: { ssd: 'true' } },
    status: { state: 'down', message: 'heartbeat failure', address: '10.0.0.9' },
    managerStatus: { raftId: 'r1', addr: '10.0.0.9:4242', leader: true, reachability: 'reachable' },
  });
  const emptyEngineLabels = node('n2', { description: { ...node('x').description, engineLabels: {} } });
  for (const n of [worker, manager, emptyEngineLabels]) {
    const wire = viaResponse<{ node: control.Node__Output }>('GetNode', { node: nodeToProto(n) }).node;
    assert.deepEqual(nodeFromProto(wire), n);
  }
  const wire = viaResponse<{ node: control.Node__Output }>('GetNode', { node: nodeToProto(manager) }).node;
  assert.equal(wire.role, 1); // SwarmKit NodeRole.MANAGER
  assert.equal(wire.availability, 1); // SwarmKit PAUSE
});

test('a task with status round-trips, task states keep their SwarmKit numbers', () => {
  const svc = fullService();
  const t = task('t1', svc, {
    version: 77,
    slot: 3,
    nodeId: 'n1',
    desiredState: TaskState.SHUTDOWN,
    status: { state: TaskState.FAILED, message: 'exited', err: 'exit code 137', timestamp: T0 + 5, containerId: 'abc123', exitCode: -1, health: 'unhealthy' },
    specVersion: 42,
  });
  const wire = viaResponse<{ tasks: control.Task__Output[] }>('ListTasks', { tasks: [taskToProto(t)] }).tasks[0];
  assert.equal(wire.desiredState, 640);
  assert.equal(wire.status?.state, 704);
  assert.deepEqual(taskFromProto(wire), t);
});

test('a task with an unknown state number from the wire is refused, naming the field', () => {
  const t = taskToProto(task('t1', fullService()));
  t.desiredState = 513 as number as control.TaskState__Output; // not a state: sent on purpose
  assert.throws(() => taskFromProto(t), (e: unknown) => e instanceof ValidationError && e.field === 'desiredState');
});

test('the cluster message carries spec and root CA cert but no join token, secret or key', () => {
  const c = cluster('c1', 'prod');
  c.joinTokens = { worker: 'FLT-1-workersecretvalue', manager: 'FLT-1-managersecretvalue' };
  const proto = clusterToProto(c);
  const wire = viaResponse<{ cluster: control.Cluster__Output }>('GetCluster', { cluster: proto }).cluster;
  assert.deepEqual(wire, {
    meta: { id: 'c1', version: 0, createdAt: T0, updatedAt: T0 },
    spec: clusterToProto(c).spec,
    rootCa: { certPem: c.rootCA.certPem, digest: c.rootCA.digest },
  });
  const text = JSON.stringify(proto) + JSON.stringify(wire);
  for (const secret of ['workersecretvalue', 'managersecretvalue', 'joinTokens', 'PRIVATE KEY', 'keyPem']) {
    assert.equal(text.includes(secret), false, `cluster message contains ${secret}`);
  }
  // Spec from the wire goes back to the store's spec.
  assert.deepEqual(clusterSpecFromProto(wire.spec), c.spec);
});

// ------------------------------------------------------------ bad input

function rejects(fn: () => unknown, field: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ValidationError, `not a ValidationError: ${String(err)}`);
    assert.equal(err.field, field, err.message);
    assert.ok(err.message.includes(field), err.message);
    return true;
  });
}

test('a spec with a bad field from the wire gives ValidationError naming it', () => {
  const good = () => serviceSpecToProto(fullService().spec);
  const cases: [string, (s: control.ServiceSpec__Output) => void][] = [
    ['spec.name', (s) => (s.name = 'bad name!')],
    ['spec.taskTemplate.container.image', (s) => (s.taskTemplate!.container!.image = 'UPPER/Case::x')],
    ['spec.taskTemplate.container.env[0]', (s) => (s.taskTemplate!.container!.env[0] = '=novar')],
    ['spec.taskTemplate.restartPolicy.condition', (s) => (s.taskTemplate!.restartPolicy!.condition = 9 as number as control.RestartCondition__Output)],
    ['spec.taskTemplate.container.mounts[0].type', (s) => (s.taskTemplate!.container!.mounts[0].type = 7 as number as control.MountType__Output)],
    ['spec.endpoint.ports[0].targetPort', (s) => (s.endpoint!.ports[0].targetPort = 70000)],
    ['spec.updateConfig.maxFailureRatio', (s) => (s.updateConfig!.maxFailureRatio = 1.5)],
    ['spec.rollbackConfig.failureAction', (s) => (s.rollbackConfig!.failureAction = 2)], // rollback cannot roll back
    ['spec.taskTemplate.placement.constraints[0]', (s) => (s.taskTemplate!.placement!.constraints[0] = 'node.role=manager')],
    ['spec.mode', (s) => (s.mode = {} as control.ServiceSpec__Output['mode'])],
    ['spec.taskTemplate', (s) => (s.taskTemplate = null)],
  ];
  // An undeclared enum number no longer gets through the wire (closed enums: src/common/strict-wire.ts); the
  // converter still names it when handed one directly.
  const enumCases = new Set(['spec.taskTemplate.restartPolicy.condition', 'spec.taskTemplate.container.mounts[0].type']);
  for (const [field, breakIt] of cases) {
    const s = good();
    breakIt(s);
    rejects(() => serviceSpecFromProto(s), field);
    if (enumCases.has(field)) {
      const m = method('CreateService');
      assert.ok(isMalformedRequest(m.requestDeserialize(m.requestSerialize({ spec: s }))), `${field}: refused on the wire`);
    } else {
      rejects(() => serviceSpecFromProto(wireSpec(s)), field);
    }
  }
  rejects(() => serviceSpecFromProto(null), 'spec');
});

test('a replica count out of range from the wire is refused, naming the field', () => {
  const s = serviceSpecToProto(fullService().spec);
  s.mode = { mode: 'replicated', replicated: { replicas: 2 ** 40 } };
  rejects(() => serviceSpecFromProto(wireSpec(s)), 'spec.mode.replicated.replicas');
});

test('a node with an unknown role number is refused', () => {
  const n = nodeToProto(node('n1'));
  n.role = 5 as number as control.NodeRole__Output; // not a role: sent on purpose
  rejects(() => nodeFromProto(n), 'role');
});

test('a cluster spec from a request is held to its ranges; one read from a manager is read as it is', () => {
  const wire = viaRequest<{ version: number; spec: control.Cluster__Output['spec'] }>('UpdateCluster', {
    version: 3,
    spec: { name: 'c', orchestration: { taskHistoryRetention: 5 }, dispatcher: { heartbeatPeriodMs: 40, heartbeatGrace: 3 }, caConfig: { nodeCertExpiryHours: 24 } },
  });
  rejects(() => clusterSpecFromProto(wire.spec), 'spec.dispatcher.heartbeatPeriodMs');
  assert.equal(clusterSpecFromProto(wire.spec, 'spec', 'stored').dispatcher.heartbeatPeriodMs, 40);
});

test('requireVersion: an update needs the version it read, a positive safe integer', () => {
  assert.equal(requireVersion(7, 'service', 'GetService'), 7);
  for (const v of [0, -1, 1.5, undefined, null, '7', 2 ** 53]) {
    assert.throws(
      () => requireVersion(v, 'service', 'GetService'),
      (err: unknown) => err instanceof ValidationError && err.field === 'version' && err.rule === 'version-required' && /read the service \(GetService\) and send its version/.test(err.message),
    );
  }
  // Over the wire a missing version is 0, and a negative one stays negative.
  assert.equal(viaRequest<{ version: number }>('UpdateService', { serviceId: 's' }).version, 0);
  assert.equal(viaRequest<{ version: number }>('UpdateService', { serviceId: 's', version: -1 }).version, -1);
});

// ------------------------------------------------------------ loading

test('both protos load and expose the listed RPCs', () => {
  const control = loadControlProto();
  for (const m of CONTROL_METHODS) {
    const def = control.service[m];
    assert.ok(def, `Control.${m} missing`);
    assert.equal(def.path, `/flotilla.control.Control/${m}`);
    assert.equal(def.requestStream, false);
        assert.equal(def.responseStream, !isUnaryControlMethod(m), m);
  }
  assert.equal(typeof control.Client, 'function');
  const ca = loadCaProto();
  for (const m of CA_METHODS) assert.equal(ca.service[m]?.path, `/flotilla.ca.CA/${m}`);
  const issue = ca.service.IssueNodeCertificate as grpc.MethodDefinition<object, object>;
  const res = {
    nodeId: 'n1',
    role: 'worker',
    certPem: 'C',
    rootCaPem: 'R',
    managers: [{ id: 'm1', address: '10.0.0.1:4242' }],
  };
  assert.deepEqual(issue.responseDeserialize(issue.responseSerialize(res)), res);
  const req = { csrPem: 'CSR', token: 'FLT-1-x', advertiseAddr: '10.0.0.5:4242', hostname: 'h5', checkOnly: true };
  assert.deepEqual(issue.requestDeserialize(issue.requestSerialize(req)), req);
  // UpdateNode carries the spec changes.
  const upd = viaRequest<Record<string, unknown>>('UpdateNode', { nodeId: 'n1', version: 4, hasAvailability: true, availability: 2, labelsAdd: { a: 'b' }, labelsRm: ['c'] });
  // availability and role are proto3 `optional` (presence is explicit): role was not sent, so it is absent.
  const { _availability: _presence, ...fields } = upd;
  assert.deepEqual(fields, { nodeId: 'n1', version: 4, hasAvailability: true, availability: 2, hasRole: false, labelsAdd: { a: 'b' }, labelsRm: ['c'], force: false });
});

test('a secret and a config with their data (the dispatcher\'s) survive store -> proto -> bytes -> proto -> store; bad ones are refused without quoting data', () => {
  const session = loadDispatcherProto().service.Session;
  const s = secret('sec1', 'db_password', Buffer.from([0, 1, 2, 250, 255]).toString('base64'));
  const c = config('cfg1', 'app.conf');
  const msg = { sessionId: 's', managers: [], heartbeatPeriodMs: 0, hasAssignments: true, tasks: [], incremental: false, removedTaskIds: [], more: false, dataPlane: null, secrets: [secretWithDataToProto(s)], removedSecretIds: [], configs: [configToProto(c, true)], removedConfigIds: [] };
  const back = session.responseDeserialize(session.responseSerialize(msg)) as dispatcher.SessionMessage__Output;
  assert.deepEqual(back.secrets[0].spec?.data, Buffer.from([0, 1, 2, 250, 255]));
  assert.deepEqual(secretFromProto(back.secrets[0]), s);
  assert.deepEqual(configFromProto(back.configs[0]), c);
  const huge = secretWithDataToProto(secret('sec2', 'huge'));
  huge.spec = { name: 'huge', labels: {}, data: Buffer.alloc(MAX_SECRET_BYTES + 1, 65) };
  assert.throws(() => secretFromProto(huge), (e: Error) => e instanceof ValidationError && /spec\.data/.test(e.message) && !e.message.includes('AAAA'));
  assert.throws(() => secretFromProto({ meta: null, spec: null }), ValidationError);
});

test('a task whose spec references secrets and configs round-trips; one without keeps no empty lists (its spec stays shareable)', () => {
  const svc = service('s1', 'web');
  svc.spec.taskTemplate.container.secrets = [{ id: 'sec1', name: 'db_password', target: 'db_password', uid: '1000', gid: '0', mode: 0o400 }];
  svc.spec.taskTemplate.container.configs = [{ id: 'cfg1', name: 'app.conf', target: '/etc/app.conf', uid: '0', gid: '0', mode: 0o444 }];
  const t = task('t1', svc, { nodeId: 'n1' });
  assert.deepEqual(taskFromProto(taskToProto(t)).spec, t.spec);
  const plain = task('t2', service('s2', 'plain'), { nodeId: 'n1' });
  const read = taskFromProto(taskToProto(plain), [{ spec: plain.spec, endpoint: plain.endpoint }]);
  assert.equal(read.spec, plain.spec, 'the canonical spec object, shared');
  assert.equal('secrets' in read.spec.container, false);
});
