// The console's words and numbers match docker's: durations (go-units'
// HumanDuration), "Running 2 minutes ago", binary sizes, ports, replicas.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ago, bytesSize, cpus, formatLabels, formatPort, formatPorts, humanDuration, managerStatus, parseTime, replicas, stateAgo, updateSummary,
} from '../../../src/console/web/format.js';
import { iso, node, service, T0 } from './fixtures.js';

const S = 1000;
const MIN = 60 * S;
const H = 60 * MIN;
const D = 24 * H;

test('humanDuration follows go-units at each boundary', () => {
  const cases: [number, string][] = [
    [0, 'Less than a second'],
    [999, 'Less than a second'],
    [-5 * S, 'Less than a second'],
    [S, '1 second'],
    [2 * S, '2 seconds'],
    [59 * S + 999, '59 seconds'],
    [60 * S, 'About a minute'],
    [119 * S, 'About a minute'],
    [2 * MIN, '2 minutes'],
    [59 * MIN + 59 * S, '59 minutes'],
    [60 * MIN, 'About an hour'],
    [89 * MIN, 'About an hour'],
    [90 * MIN, '2 hours'],
    [47 * H, '47 hours'],
    [48 * H, '2 days'],
    [13 * D, '13 days'],
    [14 * D, '2 weeks'],
    [59 * D, '8 weeks'],
    [60 * D, '2 months'],
    [729 * D, '24 months'],
    [730 * D, '2 years'],
    [1100 * D, '3 years'],
  ];
  for (const [ms, words] of cases) assert.equal(humanDuration(ms), words, `${ms} ms`);
});

test('ago and stateAgo: "2 minutes ago", and docker service ps\'s "Running 2 minutes ago" (lower-cased duration)', () => {
  assert.equal(ago(iso(T0), T0 + 2 * MIN + 5 * S), '2 minutes ago');
  assert.equal(ago(iso(T0), T0 + 300), 'Less than a second ago');
  assert.equal(ago('', T0), '');
  assert.equal(ago('0001-01-01T00:00:00Z', T0), '', "Go's zero time reads as no time");
  assert.equal(stateAgo('running', iso(T0), T0 + 2 * MIN), 'Running 2 minutes ago');
  assert.equal(stateAgo('shutdown', iso(T0), T0 + 10), 'Shutdown less than a second ago');
  assert.equal(stateAgo('pending', null, T0), 'Pending');
  assert.equal(parseTime('garbage'), null);
});

test('bytesSize is docker\'s BytesSize: binary units, 4 significant digits', () => {
  assert.equal(bytesSize(0), '0B');
  assert.equal(bytesSize(1023), '1023B');
  assert.equal(bytesSize(1024), '1KiB');
  assert.equal(bytesSize(1536), '1.5KiB');
  assert.equal(bytesSize(2087354368), '1.944GiB');
  assert.equal(bytesSize(512 * 2 ** 20), '512MiB');
  assert.equal(bytesSize(16 * 2 ** 40), '16TiB');
});

test('cpus turns NanoCPUs into a count', () => {
  assert.equal(cpus(4e9), '4');
  assert.equal(cpus(1.5e9), '1.5');
  assert.equal(cpus(0), '0');
});

test('ports read like docker service ls: ingress with a star, host mode without, a bare target port alone', () => {
  assert.equal(formatPort({ protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'ingress' }), '*:8080->80/tcp');
  assert.equal(formatPort({ protocol: 'udp', targetPort: 53, publishedPort: 5353, publishMode: 'host' }), '5353->53/udp');
  assert.equal(formatPort({ protocol: '', targetPort: 80, publishedPort: 0, publishMode: 'ingress' }), '80/tcp');
  assert.equal(
    formatPorts([
      { protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'ingress' },
      { protocol: 'tcp', targetPort: 443, publishedPort: 8443, publishMode: 'ingress' },
    ]),
    '*:8080->80/tcp, *:8443->443/tcp',
  );
});

test('replicas, update summary, manager status and labels', () => {
  assert.equal(replicas(service('s', { running: 2, desired: 3 })), '2/3');
  assert.equal(updateSummary(null), '');
  const u = { state: 'updating' as const, startedAt: iso(T0), completedAt: null, message: '', updated: 3, total: 10 };
  assert.equal(updateSummary(u), 'updating 3/10');
  assert.equal(updateSummary({ ...u, state: 'rollback_paused' }), 'rollback paused 3/10');
  assert.equal(updateSummary({ ...u, state: 'completed', updated: 10 }), 'completed');
  assert.equal(managerStatus(node('n', { role: 'worker' })), '');
  assert.equal(managerStatus(node('n', { role: 'manager', leader: true, reachability: 'reachable' })), 'Leader');
  assert.equal(managerStatus(node('n', { role: 'manager', reachability: 'unreachable' })), 'Unreachable');
  assert.equal(formatLabels({ zone: 'a', gpu: '', disk: 'ssd' }), 'disk=ssd, gpu, zone=a');
  assert.equal(formatLabels(undefined), '');
});
