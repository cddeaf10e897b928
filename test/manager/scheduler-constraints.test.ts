// Placement constraints: parsing (src/manager/constraint, the store validator's grammar) and Swarm matching
// semantics, and the scheduler honouring them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { matchConstraints, nodeAttribute } from '../../src/manager/constraint/match.js';
// parseConstraints here is the scheduler's reading: invalid expressions reported, not thrown (compileConstraints, memoized).
import { compileConstraints, compileConstraints as parseConstraints, normalizeDescriptor } from '../../src/api/constraint.js';
import type { Node } from '../../src/api/objects.js';
import { constrained, get, node, perNode, replicas, setup } from './scheduler-fixtures.js';

function matches(exprs: string[], n: Node): boolean {
  const c = parseConstraints(exprs);
  if (!c.ok) throw new Error(c.error);
  return matchConstraints(c.constraints, n);
}

const worker = node('w1', { labels: { zone: 'a', Disk: 'SSD' }, description: { ...node('x').description, hostname: 'alpha', engineLabels: { gpu: 'yes' } } });
const manager = node('m1', { role: 'manager', labels: {} });

test('constraints match node.id, node.hostname, node.role, platform, node and engine labels', () => {
  assert.equal(matches(['node.id==w1'], worker), true);
  assert.equal(matches(['node.id!=w1'], worker), false);
  assert.equal(matches(['node.hostname==alpha'], worker), true);
  assert.equal(matches(['node.hostname == beta'], worker), false);
  assert.equal(matches(['node.role==worker'], worker), true);
  assert.equal(matches(['node.role==manager'], worker), false);
  assert.equal(matches(['node.role==manager'], manager), true);
  assert.equal(matches(['node.platform.os==linux', 'node.platform.arch==x86_64'], worker), true);
  assert.equal(matches(['node.platform.os!=linux'], worker), false);
  assert.equal(matches(['node.labels.zone==a'], worker), true);
  assert.equal(matches(['node.labels.zone==b'], worker), false);
  assert.equal(matches(['engine.labels.gpu==yes'], worker), true);
  assert.equal(matches(['engine.labels.gpu==yes'], manager), false);
  // All must hold.
  assert.equal(matches(['node.labels.zone==a', 'node.role==manager'], worker), false);
});

test('Swarm semantics: values compare case-insensitively, label keys are case-sensitive, keys are not', () => {
  assert.equal(matches(['node.labels.Disk==ssd'], worker), true);
  assert.equal(matches(['node.labels.disk==ssd'], worker), false); // no label 'disk'
  assert.equal(matches(['Node.Role==worker'], worker), true);
  assert.equal(parseConstraints(['node.role==WORKER']).ok, false); // the store's parser wants manager|worker
  assert.equal(matches(['NODE.HOSTNAME==ALPHA'], worker), true);
});

test('a missing label never equals, and != on a missing label matches', () => {
  assert.equal(matches(['node.labels.zone==a'], manager), false);
  assert.equal(matches(['node.labels.zone!=a'], manager), true);
  assert.equal(matches(['engine.labels.gpu!=yes'], manager), true);
});

test('invalid expressions are reported, not thrown', () => {
  for (const bad of ['zone=a', 'node.labels.zone', 'node.color==red', 'node.role==boss', 'node.labels.zone==']) {
    const c = parseConstraints([bad]);
    assert.equal(c.ok, false, bad);
    if (!c.ok) assert.match(c.error, /^invalid placement constraint: /);
  }
  assert.equal(compileConstraints(['node.role==worker']), compileConstraints(['node.role==worker'])); // memoized
});

test('descriptors normalize like the store validator', () => {
  assert.equal(normalizeDescriptor(' Node.Labels.Zone '), 'node.labels.Zone');
  assert.equal(normalizeDescriptor('NODE.ROLE'), 'node.role');
  assert.equal(normalizeDescriptor('node.labels.'), undefined);
  assert.equal(nodeAttribute(worker, 'node.labels.missing'), undefined);
});

test('the scheduler places only on nodes that satisfy the constraints (==, !=, labels, role, hostname, id)', async () => {
  const ns = [
    node('n1', { labels: { zone: 'a' } }),
    node('n2', { labels: { zone: 'b' } }),
    node('n3', { role: 'manager' }),
    node('n4', { labels: { zone: 'a' }, description: { ...node('x').description, hostname: 'special' } }),
  ];
  const cases: Array<[string, string[], Record<string, number>]> = [
    ['zone-a', ['node.labels.zone==a'], { n1: 2, n4: 2 }],
    ['not-a', ['node.labels.zone!=a'], { n2: 2, n3: 2 }],
    ['managers', ['node.role==manager'], { n3: 4 }],
    ['workers-not-b', ['node.role==worker', 'node.labels.zone!=b'], { n1: 2, n4: 2 }],
    ['by-host', ['node.hostname==special'], { n4: 4 }],
    ['by-id', ['node.id!=n1', 'node.id!=n2', 'node.id!=n3'], { n4: 4 }],
  ];
  for (const [name, exprs, want] of cases) {
    const svc = constrained(name, name, exprs);
    const { ls, sched } = setup(ns, [svc], replicas(svc, 4));
    assert.equal(await sched.pass(), 4, name);
    assert.deepEqual(perNode(ls, name), want, name);
  }
});

test('a task whose constraints no node satisfies stays PENDING with the reason', async () => {
  const svc = constrained('gpu', 'gpu', ['node.labels.gpu==yes']);
  const { ls, sched } = setup([node('n1'), node('n2')], [svc], replicas(svc, 1));
  assert.equal(await sched.pass(), 0);
  const t = get(ls, 'gpu-1');
  assert.equal(t.status.state, 64);
  assert.equal(t.nodeId, '');
  assert.equal(t.status.err, 'no suitable node (scheduling constraints not satisfied on 2 nodes)');
});
