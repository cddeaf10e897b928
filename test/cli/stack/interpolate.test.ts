// Variable interpolation as docker/compose does it, except that an unset
// variable without a default is an error naming the file and the key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { interpolateString, parseEnvFile } from '../../../src/cli/stack/interpolate.js';
import { StackFileError } from '../../../src/cli/stack/errors.js';
import { load, loadError } from './helpers.js';

const vars: Record<string, string> = { A: 'a', EMPTY: '', TAG: '1.2' };
const lookup = (k: string): string | undefined => vars[k];
const fail = (detail: string): never => {
  throw new Error(detail);
};
const interp = (s: string): string => interpolateString(s, lookup, fail);

test('the forms of a reference', () => {
  assert.equal(interp('x$A'), 'xa');
  assert.equal(interp('x${A}y'), 'xay');
  assert.equal(interp('$A$A'), 'aa');
  assert.equal(interp('${NOPE:-def}'), 'def');
  assert.equal(interp('${EMPTY:-def}'), 'def');
  assert.equal(interp('${EMPTY-def}'), '');
  assert.equal(interp('${NOPE-def}'), 'def');
  assert.equal(interp('${A:-def}'), 'a');
  assert.equal(interp('${NOPE:-$A}'), 'a');
  assert.equal(interp('${A:?must}'), 'a');
  assert.equal(interp('${EMPTY?must}'), '');
  assert.equal(interp('cost: $$5 and $${A}'), 'cost: $5 and ${A}');
  assert.equal(interp('${NOPE:-}'), '');
});

test('errors: unset, required, malformed', () => {
  assert.throws(() => interp('${NOPE}'), /variable NOPE is not set/);
  assert.throws(() => interp('$NOPE'), /variable NOPE is not set/);
  assert.throws(() => interp('${EMPTY:?give a password}'), /required variable EMPTY is missing a value: give a password/);
  assert.throws(() => interp('${NOPE?x}'), /required variable NOPE is missing a value: x/);
  assert.equal(interp('${EMPTY?x}'), '');
  assert.throws(() => interp('${A'), /invalid interpolation format/);
  assert.throws(() => interp('$ x'), /invalid interpolation format/);
  assert.throws(() => interp('${A B}'), /invalid interpolation format/);
  assert.throws(() => interp('${}'), /invalid interpolation format/);
});

test('.env: comments, export, quotes; a key alone takes the environment', () => {
  const m = parseEnvFile('# c\n\nA=1\nexport B = "two words"\nC=\'x # y\'\nD=plain # comment\nE\nF\n', '.env', { quotes: true, fallback: (k) => (k === 'E' ? 'from-env' : undefined) });
  assert.deepEqual([...m], [['A', '1'], ['B', 'two words'], ['C', 'x # y'], ['D', 'plain'], ['E', 'from-env']]);
  assert.throws(() => parseEnvFile('=x\n', '/app/.env', { quotes: true, fallback: () => undefined }), (e: unknown) => e instanceof StackFileError && /^\/app\/\.env: line 1: expected KEY=VALUE/.test(e.message));
});

test('values come from the environment first, then the .env next to the first file', () => {
  const yaml = 'services:\n  web:\n    image: "nginx:${TAG}"\n    environment: [ "A=${A}", "B=${B:-dflt}" ]\n';
  const files = { '/app/.env': 'TAG=from-dotenv\nA=dot\n' };
  const m = load(yaml, { files, env: { A: 'shell' } });
  assert.equal(m.services[0].spec.taskTemplate.container.image, 'nginx:from-dotenv');
  assert.deepEqual(m.services[0].spec.taskTemplate.container.env, ['A=shell', 'B=dflt']);
  // No .env at all is fine.
  assert.equal(load(yaml, { env: { TAG: '1', A: '' } }).services[0].spec.taskTemplate.container.image, 'nginx:1');
});

test('keys are not interpolated; interpolated numbers are cast where docker casts them', () => {
  const m = load('services:\n  web:\n    image: x\n    deploy:\n      replicas: ${N}\n      update_config: {max_failure_ratio: "${R}"}\n    ports: [{target: "${P}"}]\n', { env: { N: '3', R: '0.5', P: '80' } });
  assert.deepEqual(m.services[0].spec.mode, { replicated: { replicas: 3 } });
  assert.equal(m.services[0].spec.updateConfig.maxFailureRatio, 0.5);
  assert.equal(m.services[0].spec.endpoint.ports[0].targetPort, 80);
});

test('an undefined variable: one line naming the file, the service and the key', () => {
  assert.equal(
    loadError('services:\n  web:\n    image: "nginx:${TAG}"\n'),
    '/app/docker-compose.yml: services.web.image: variable TAG is not set: set it in the environment or in .env, or give a default with ${TAG:-default}',
  );
  assert.match(loadError('services:\n  web:\n    image: x\n    environment:\n      - "PW=${PW:?set PW}"\n'), /^\/app\/docker-compose\.yml: services\.web\.environment\[0\]: required variable PW is missing a value: set PW$/);
});
