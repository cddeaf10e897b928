// The CLI's Control client (src/api/control-client.ts, built from the
// reflection JSON that `npm run gen` writes) against the daemon's loader
// (loadControlProto(), @grpc/proto-loader on proto/control.proto): the same
// schema, the same paths, byte-identical requests, identical decoded answers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type * as grpc from '@grpc/grpc-js';
import { controlClientMethod, CONTROL_SERVICE_NAME } from '../../src/api/control-client.js';
import { CONTROL_DESCRIPTOR_JSON } from '../../src/api/gen/control-descriptor.js';
import { CONTROL_METHODS, loadControlProto, type ControlMethod } from '../../src/api/proto.js';
import { protoRoot } from '../../src/common/proto-reflection.js';
import { clusterToProto, nodeToProto, serviceSpecToProto, serviceToProto, taskToProto } from '../../src/api/convert.js';
import { cluster, node, service, task } from '../manager/store-fixtures.js';

function daemonMethod(name: ControlMethod): grpc.MethodDefinition<object, object> {
  return loadControlProto().service[name] as grpc.MethodDefinition<object, object>;
}

test('the generated descriptor is proto/control.proto as it is now (npm run gen is not stale)', () => {
  const fromProto = JSON.parse(JSON.stringify(protoRoot('control.proto').toJSON())) as unknown;
  assert.deepEqual(JSON.parse(CONTROL_DESCRIPTOR_JSON), fromProto);
});

test('every Control method has the path the server serves', () => {
  for (const m of CONTROL_METHODS) assert.equal(controlClientMethod(m).path, daemonMethod(m).path, m);
  assert.equal(controlClientMethod('ListServices').path, `/${CONTROL_SERVICE_NAME}/ListServices`);
  assert.throws(() => controlClientMethod('NoSuchMethod' as ControlMethod), /has no method NoSuchMethod/);
});

test('requests: the same bytes as the daemon loader, for every method', () => {
  const svc = service('svc1', 'web');
  const samples: Partial<Record<ControlMethod, object>> = {
    CreateService: { spec: serviceSpecToProto(svc.spec) },
    UpdateService: { serviceId: 'svc1', version: 7, spec: serviceSpecToProto(svc.spec) },
    UpdateNode: { nodeId: 'n1', version: 3, hasRole: true, role: 1, labelsAdd: { a: 'b' }, labelsRm: ['c'] },
    ListTasks: { serviceId: 'svc1', nodeId: '', desiredStates: [1, 2] },
  };
  for (const m of CONTROL_METHODS) {
    for (const req of [{}, samples[m] ?? {}]) {
      const ours = controlClientMethod(m).requestSerialize(req);
      assert.ok(Buffer.isBuffer(ours), m);
      assert.deepEqual(ours, daemonMethod(m).requestSerialize(req), m);
    }
  }
});

test('responses: decoded to the same objects (defaults, arrays, oneofs, numbers) as by the daemon loader', () => {
  const svc = service('svc1', 'web');
  const answers: [ControlMethod, object][] = [
    ['ListServices', { services: [serviceToProto(svc), serviceToProto(service('svc2', 'db', { labels: { k: 'v' } }))] }],
    ['ListTasks', { tasks: [taskToProto(task('t1', svc)), taskToProto(task('t2', svc))] }],
    ['ListNodes', { nodes: [nodeToProto(node('n1'))] }],
    ['GetCluster', { cluster: clusterToProto(cluster('c1')) }],
  ];
  for (const m of CONTROL_METHODS) answers.push([m, {}]);
  for (const [m, answer] of answers) {
    const bytes = daemonMethod(m).responseSerialize(answer);
    assert.deepEqual(controlClientMethod(m).responseDeserialize(bytes), daemonMethod(m).responseDeserialize(bytes), m);
  }
  // A non-trivial answer really went through: the fixture's names come back.
  const bytes = daemonMethod('ListServices').responseSerialize(answers[0][1]);
  const decoded = controlClientMethod('ListServices').responseDeserialize(bytes) as { services: { spec: { name: string } }[] };
  assert.deepEqual(
    decoded.services.map((s) => s.spec.name),
    ['web', 'db'],
  );
});
