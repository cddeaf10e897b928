import assert from 'node:assert/strict';
import test from 'node:test';
import { actionArgv, cliErrorLine, splitCommand } from '../../../src/console/server/actions.js';
import { HttpError } from '../../../src/console/server/http-util.js';
import { parseServiceCreate } from '../../../src/cli/service-update-commands.js';

test('the create form is `flotilla service create` with the same flags', () => {
  const argv = actionArgv('create', undefined, {
    name: 'web',
    image: 'flotilla/busybox:test',
    mode: 'replicated',
    replicas: 3,
    command: `httpd -f -p 8080 -h '/www dir'`,
    env: ['A=1', ' ', 'B=two words'],
    publish: ['8080:8080'],
    constraints: ['node.role==worker'],
  });
  assert.deepEqual(argv, [
    'service', 'create', '--detach', '--name=web', '--mode=replicated', '--replicas=3',
    '--env=A=1', '--env=B=two words', '--publish=8080:8080', '--constraint=node.role==worker',
    'flotilla/busybox:test', 'httpd', '-f', '-p', '8080', '-h', '/www dir',
  ]);
  // The CLI's own parser takes it: the spec it would send.
  const spec = parseServiceCreate(argv.slice(2));
  assert.equal(spec.name, 'web');
  assert.deepEqual(spec.mode, { replicated: { replicas: 3 } });
  assert.deepEqual(spec.taskTemplate.container.env, ['A=1', 'B=two words']);
  assert.deepEqual(spec.taskTemplate.placement.constraints, ['node.role==worker']);
  assert.deepEqual(spec.endpoint.ports.map((p) => [p.publishedPort, p.targetPort]), [[8080, 8080]]);
  // And refuses what the CLI refuses, in its words.
  assert.throws(() => parseServiceCreate(actionArgv('create', undefined, { name: 'x', image: 'i', replicas: 'many' }).slice(2)), /--replicas/);
});

test('a global service takes no replicas; other actions are their commands', () => {
  assert.deepEqual(actionArgv('create', undefined, { name: 'g', image: 'i', mode: 'global', replicas: 2 }), ['service', 'create', '--detach', '--name=g', '--mode=global', 'i']);
  assert.deepEqual(actionArgv('scale', 'abc', { replicas: 5 }), ['service', 'scale', '--detach', 'abc=5']);
  assert.deepEqual(actionArgv('image', 'abc', { image: 'busybox:2' }), ['service', 'update', '--detach', '--image=busybox:2', 'abc']);
  assert.deepEqual(actionArgv('rollback', 'abc', {}), ['service', 'rollback', '--detach', 'abc']);
  assert.deepEqual(actionArgv('promote', 'abc', {}), ['service', 'promote', 'abc']);
  assert.deepEqual(actionArgv('remove', 'abc', {}), ['service', 'rm', 'abc']);
  assert.deepEqual(actionArgv('availability', 'n1', { availability: 'drain' }), ['node', 'update', '--availability=drain', 'n1']);
});

test('bad bodies are one-line 400s; nothing can pass for a flag', () => {
  const refused = (f: () => unknown, re: RegExp): void => {
    assert.throws(f, (e: unknown) => e instanceof HttpError && e.status === 400 && re.test(e.message));
  };
  refused(() => actionArgv('create', undefined, { image: 'i' }), /^name is required$/);
  refused(() => actionArgv('create', undefined, { name: 'x' }), /^image is required$/);
  refused(() => actionArgv('create', undefined, { name: 'x', image: '--privileged' }), /may not begin with "-"/);
  refused(() => actionArgv('create', undefined, { name: 'x', image: 'i', env: 'A=1' }), /env must be a list of strings/);
  refused(() => actionArgv('create', undefined, { name: 7, image: 'i' }), /name must be a string/);
  refused(() => actionArgv('scale', '--help', { replicas: 1 }), /may not begin with "-"/);
  refused(() => actionArgv('scale', 'abc', {}), /replicas is required/);
  refused(() => actionArgv('scale', 'abc', { replicas: [1] }), /replicas must be a number/);
  refused(() => actionArgv('create', undefined, { name: 'x', image: 'i', command: 'sh -c "echo' }), /unterminated " quote/);
});

test('command lines split as a shell splits simple ones', () => {
  assert.deepEqual(splitCommand(''), []);
  assert.deepEqual(splitCommand('  a  b\tc '), ['a', 'b', 'c']);
  assert.deepEqual(splitCommand(`sh -c 'echo "hi there"; sleep 1'`), ['sh', '-c', 'echo "hi there"; sleep 1']);
  assert.deepEqual(splitCommand(`a\\ b "c\\"d" ''`), ['a b', 'c"d', '']);
});

test("the CLI's error line without its name", () => {
  assert.equal(cliErrorLine('flotilla: service "x" not found\n'), 'service "x" not found');
  assert.equal(cliErrorLine('\n'), 'the command failed');
});
