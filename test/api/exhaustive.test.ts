// The contract is checked by the compiler: a proto field that no converter
// handles fails `tsc`, not a user. These cases document how, with
// `@ts-expect-error` on each line tsc must refuse (the build fails if it ever
// accepts one), and check at run time that the converters set every field the
// proto declares.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import protobuf from 'protobufjs';
import { clusterToProto, nodeToProto, serviceToProto, taskToProto } from '../../src/api/convert.js';
import { noFieldsLeft, type Received } from '../../src/api/received.js';
import type { control } from '../../src/api/wire.js';
import { protoRoot } from '../../src/common/proto-reflection.js';
import { cluster, node, service, task } from '../manager/store-fixtures.js';

test('a converter from the wire that leaves a field unhandled does not compile', () => {
  const handlesAll = (m: Received<control.Resources__Output>): unknown[] => {
    const { nanoCpus, memoryBytes, ...rest } = m;
    noFieldsLeft(rest);
    return [nanoCpus, memoryBytes];
  };
  const forgetsOne = (m: Received<control.Resources__Output>): unknown[] => {
    const { nanoCpus, ...rest } = m;
    // @ts-expect-error memoryBytes is not handled: tsc names it ("Property 'memoryBytes' is incompatible with index signature")
    noFieldsLeft(rest);
    return [nanoCpus];
  };
  assert.deepEqual(handlesAll({ nanoCpus: 1, memoryBytes: 2 }), [1, 2]);
  assert.deepEqual(forgetsOne({ nanoCpus: 1, memoryBytes: 2 }), [1]);
});

test('a converter to the wire must set every field of the message', () => {
  const complete: control.Resources__Output = { nanoCpus: 1, memoryBytes: 2 };
  // @ts-expect-error memoryBytes is missing: the generated __Output type requires every field
  const incomplete: control.Resources__Output = { nanoCpus: 1 };
  assert.equal(complete.memoryBytes, 2);
  assert.equal(incomplete.nanoCpus, 1);
});

test('an enum number the proto does not declare is not a wire value', () => {
  const health: control.TaskHealth__Output = 3;
  // @ts-expect-error TaskHealth declares 0..3
  const unknown: control.TaskHealth__Output = 4;
  assert.equal(health + unknown, 7);
});

/** Every field the proto declares for `type`, set (not undefined) on `msg`, recursively through the messages set. */
function missingFields(type: protobuf.Type, msg: Record<string, unknown>, path: string): string[] {
  const out: string[] = [];
  for (const f of type.fieldsArray) {
    const at = `${path}.${f.name}`;
    const v = msg[f.name];
    // proto3 `optional` and oneof members may be absent; everything else is always set.
    if (v === undefined) {
      if (!f.partOf) out.push(at);
      continue;
    }
    if (f.resolvedType instanceof protobuf.Type && v !== null) {
      const sub = f.resolvedType;
      const values: unknown[] = f.repeated ? (v as unknown[]) : f.map ? [] : [v];
      values.forEach((x, i) => out.push(...missingFields(sub, x as Record<string, unknown>, f.repeated ? `${at}[${i}]` : at)));
    }
  }
  return out;
}

test('the converters to the wire set every field the proto declares', () => {
  const root = protoRoot('control.proto');
  const svc = service('s1', 'web');
  const cases: [string, Record<string, unknown>][] = [
    ['Service', serviceToProto(svc) as unknown as Record<string, unknown>],
    ['Task', taskToProto(task('t1', svc)) as unknown as Record<string, unknown>],
    ['Node', nodeToProto(node('n1')) as unknown as Record<string, unknown>],
    ['Cluster', clusterToProto(cluster('c1')) as unknown as Record<string, unknown>],
  ];
  for (const [name, msg] of cases) {
    assert.deepEqual(missingFields(root.lookupType(`flotilla.control.${name}`), msg, name), [], name);
  }
});
