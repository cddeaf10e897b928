// The CLI's Control client (src/api/control-client.ts, the static codecs that
// `npm run gen` writes) against the daemon's loader (loadControlProto(),
// @grpc/proto-loader on proto/control.proto) and protobufjs's reflection: the
// same types, the same paths, byte-identical requests, identical decoded
// answers, for every message type filled in field by field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type * as grpc from '@grpc/grpc-js';
import { controlClientMethod, CONTROL_SERVICE_NAME, controlTypeCodec, controlTypeNames } from '../../src/api/control-client.js';
import protobuf from 'protobufjs';
import { PROTO_LOADER_OPTIONS } from '../../src/common/protos.js';
import { CONTROL_METHODS, loadControlProto, type ControlMethod } from '../../src/api/proto.js';
import { protoRoot } from '../../src/common/proto-reflection.js';
import { clusterToProto, nodeToProto, serviceSpecToProto, serviceToProto, taskToProto } from '../../src/api/convert.js';
import { cluster, node, service, task } from '../manager/store-fixtures.js';

function daemonMethod(name: ControlMethod): grpc.MethodDefinition<object, object> {
  return loadControlProto().service[name] as grpc.MethodDefinition<object, object>;
}

/** Every message and enum type of proto/control.proto (and what it imports), as the reflection has them. */
function reflectedTypes(): (protobuf.Type | protobuf.Enum)[] {
  const out: (protobuf.Type | protobuf.Enum)[] = [];
  const walk = (ns: protobuf.NamespaceBase): void => {
    for (const o of ns.nestedArray) {
      if (o instanceof protobuf.Type || o instanceof protobuf.Enum) out.push(o);
      if (o instanceof protobuf.Namespace) walk(o);
    }
  };
  walk(protoRoot('control.proto'));
  return out;
}

/** A value for every field of `t` (repeated: two, maps: two keys), `depth` levels of messages deep. */
function filled(t: protobuf.Type, depth: number): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const f of t.fieldsArray) {
    let v: unknown;
    const rt = f.resolvedType;
    if (rt instanceof protobuf.Type) {
      if (depth === 0) continue;
      v = filled(rt, depth - 1);
    } else if (rt instanceof protobuf.Enum) v = Object.values(rt.values).at(-1);
    else if (f.type === 'string') v = `${f.name}-é`;
    else if (f.type === 'bool') v = true;
    else if (f.type === 'bytes') v = Buffer.from([1, 2, 250]);
    else if (f.type === 'double' || f.type === 'float') v = 1.5;
    else if (/64$/.test(f.type)) v = f.type.startsWith('u') || f.type.startsWith('fixed') ? 2 ** 40 + 3 : -(2 ** 40) - 3;
    else v = f.type.startsWith('u') || f.type === 'fixed32' ? 300 : -300;
    if (f instanceof protobuf.MapField) o[f.name] = { a: v, b: v };
    else if (f.repeated) o[f.name] = [v, v];
    else o[f.name] = v;
  }
  return o;
}

test('the generated codecs are proto/control.proto as it is now (npm run gen is not stale): the same types', () => {
  const names = reflectedTypes().map((t) => t.fullName.slice(1));
  assert.deepEqual(controlTypeNames().sort(), names.sort());
});

test('every message type, filled in: the same bytes and the same decoded object as the reflection', () => {
  let checked = 0;
  for (const t of reflectedTypes()) {
    if (!(t instanceof protobuf.Type)) continue;
    const ours = controlTypeCodec(t.fullName.slice(1));
    assert.ok(ours, t.fullName);
    for (const sample of [{}, filled(t, 1), filled(t, 3)]) {
      const want: Buffer = Buffer.from(t.encode(t.fromObject(sample)).finish());
      const got: Buffer = Buffer.from(ours.encode(ours.fromObject(sample)).finish());
      assert.deepEqual(got, want, t.fullName);
      assert.deepEqual(ours.toObject(ours.decode(want), PROTO_LOADER_OPTIONS), t.toObject(t.decode(want), PROTO_LOADER_OPTIONS), t.fullName);
    }
    checked++;
  }
  assert.ok(checked > 100, `checked ${checked} message types`);
  // The samples are not empty: a filled ServiceSpec encodes to many bytes.
  const spec = reflectedTypes().find((t) => t.fullName === '.flotilla.control.ServiceSpec') as protobuf.Type;
  assert.ok(spec.encode(spec.fromObject(filled(spec, 3))).finish().length > 500);
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
