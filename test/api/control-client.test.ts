// The CLI's Control client (src/api/control-client.ts, the codecs that `npm
// run gen` writes, one module per method) against the daemon's loader (loadControlProto(),
// @grpc/proto-loader on proto/control.proto) and protobufjs's reflection: the
// same types, the same paths, byte-identical requests, identical decoded
// answers, for every message type filled in field by field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type * as grpc from '@grpc/grpc-js';
import { controlClientMethod, controlCodecs, CONTROL_SERVICE_NAME } from '../../src/api/control-client.js';
import { CONTROL_CODEC_MODULES } from '../../src/api/gen/control-codecs.js';
import protobuf from 'protobufjs';
import { PROTO_LOADER_OPTIONS } from '../../src/common/protos.js';
import { CONTROL_METHODS, loadControlProto, type ControlMethod } from '../../src/api/proto.js';
import { protoRoot } from '../../src/common/proto-reflection.js';
import { clusterToProto, nodeToProto, serviceSpecToProto, serviceToProto, taskToProto } from '../../src/api/convert.js';
import { cluster, node, service, task } from '../manager/store-fixtures.js';

function daemonMethod(name: ControlMethod): grpc.MethodDefinition<object, object> {
  return loadControlProto().service[name] as grpc.MethodDefinition<object, object>;
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

/** Every type `t` uses, itself included. */
function closure(t: protobuf.Type | protobuf.Enum, into = new Set<string>()): Set<string> {
  if (into.has(t.fullName)) return into;
  into.add(t.fullName);
  if (t instanceof protobuf.Type) for (const f of t.fieldsArray) if (f.resolvedType) closure(f.resolvedType as protobuf.Type | protobuf.Enum, into);
  return into;
}

const controlService = (): protobuf.Service => protoRoot('control.proto').lookupService(CONTROL_SERVICE_NAME);

test('the generated codecs are proto/control.proto as it is now (npm run gen is not stale): the methods, their types', async () => {
  const service = controlService();
  assert.deepEqual(Object.keys(CONTROL_CODEC_MODULES).sort(), service.methodsArray.map((m) => m.name).sort());
  for (const m of service.methodsArray) {
    m.resolve();
    const req = m.resolvedRequestType as protobuf.Type;
    const res = m.resolvedResponseType as protobuf.Type;
    const { CODECS } = await CONTROL_CODEC_MODULES[m.name]();
    assert.equal(CODECS.table[CODECS.request].name, req.fullName.slice(1), m.name);
    assert.equal(CODECS.table[CODECS.response].name, res.fullName.slice(1), m.name);
    const want = new Set([...closure(req), ...closure(res)].map((n) => n.slice(1)));
    assert.deepEqual(CODECS.table.map((t) => t.name).sort(), [...want].sort(), m.name);
  }
});

test('every message type of every method, filled in: the same bytes and the same decoded object as the reflection', async () => {
  const root = protoRoot('control.proto');
  const encoded = new Set<string>();
  const decoded = new Set<string>();
  for (const [method, load] of Object.entries(CONTROL_CODEC_MODULES)) {
    const { CODECS } = await load();
    for (const ours of controlCodecs(CODECS.table)) {
      const t = root.lookup(ours.name);
      if (!(t instanceof protobuf.Type)) continue;
      for (const sample of [{}, filled(t, 1), filled(t, 3)]) {
        const want: Buffer = Buffer.from(t.encode(t.fromObject(sample)).finish());
        if ('encode' in ours) {
          assert.deepEqual(Buffer.from(ours.encode(ours.fromObject(sample)).finish()), want, `${method}: ${ours.name}`);
          encoded.add(ours.name);
        }
        if ('decode' in ours) {
          assert.deepEqual(ours.toObject(ours.decode(want), PROTO_LOADER_OPTIONS), t.toObject(t.decode(want), PROTO_LOADER_OPTIONS), `${method}: ${ours.name}`);
          decoded.add(ours.name);
        }
      }
    }
  }
  // Every message type a request uses was encoded, every one a response uses decoded.
  const service = controlService();
  const messages = (names: Set<string>): string[] => [...names].filter((n) => root.lookup(n) instanceof protobuf.Type).map((n) => n.slice(1)).sort();
  const requestSide = new Set<string>();
  const responseSide = new Set<string>();
  for (const m of service.methodsArray) {
    m.resolve();
    closure(m.resolvedRequestType as protobuf.Type, requestSide);
    closure(m.resolvedResponseType as protobuf.Type, responseSide);
  }
  assert.deepEqual([...encoded].sort(), messages(requestSide));
  assert.deepEqual([...decoded].sort(), messages(responseSide));
  assert.ok(decoded.size > 50, `decoded ${decoded.size} message types`);
  // The samples are not empty: a filled ServiceSpec encodes to many bytes.
  const spec = root.lookupType('flotilla.control.ServiceSpec');
  assert.ok(spec.encode(spec.fromObject(filled(spec, 3))).finish().length > 500);
});

test('every Control method has the path the server serves', async () => {
  for (const m of CONTROL_METHODS) assert.equal((await controlClientMethod(m)).path, daemonMethod(m).path, m);
  assert.equal((await controlClientMethod('ListServices')).path, `/${CONTROL_SERVICE_NAME}/ListServices`);
  await assert.rejects(controlClientMethod('NoSuchMethod' as ControlMethod), /has no method NoSuchMethod/);
});

test('requests: the same bytes as the daemon loader, for every method', async () => {
  const svc = service('svc1', 'web');
  const samples: Partial<Record<ControlMethod, object>> = {
    CreateService: { spec: serviceSpecToProto(svc.spec) },
    UpdateService: { serviceId: 'svc1', version: 7, spec: serviceSpecToProto(svc.spec) },
    UpdateNode: { nodeId: 'n1', version: 3, hasRole: true, role: 1, labelsAdd: { a: 'b' }, labelsRm: ['c'] },
    ListTasks: { serviceId: 'svc1', nodeId: '', desiredStates: [1, 2] },
  };
  for (const m of CONTROL_METHODS) {
    for (const req of [{}, samples[m] ?? {}]) {
      const ours = (await controlClientMethod(m)).requestSerialize(req);
      assert.ok(Buffer.isBuffer(ours), m);
      assert.deepEqual(ours, daemonMethod(m).requestSerialize(req), m);
    }
  }
});

test('responses: decoded to the same objects (defaults, arrays, oneofs, numbers) as by the daemon loader', async () => {
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
    assert.deepEqual((await controlClientMethod(m)).responseDeserialize(bytes), daemonMethod(m).responseDeserialize(bytes), m);
  }
  // A non-trivial answer really went through: the fixture's names come back.
  const bytes = daemonMethod('ListServices').responseSerialize(answers[0][1]);
  const decoded = (await controlClientMethod('ListServices')).responseDeserialize(bytes) as { services: { spec: { name: string } }[] };
  assert.deepEqual(
    decoded.services.map((s) => s.spec.name),
    ['web', 'db'],
  );
});
