// The commands' pure front halves (what the fuzz suite drives): argv to the
// spec `service create` sends, to the plan of `service update`, to the pairs
// of `service scale`, to the change and request of `node update`. No
// connection; every refusal is a UsageError (a CliError only where the node
// as read decides, like docker's label-rm of a missing key).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { UsageError } from '../../src/cli/args.js';
import { CliError } from '../../src/cli/errors.js';
import { nodeFilter, parseNodeUpdate, planNodeUpdate } from '../../src/cli/node-commands.js';
import { parseServiceCreate, parseServiceScale, parseServiceUpdate } from '../../src/cli/service-update-commands.js';
import { parseSecretCreate } from '../../src/cli/secret-commands.js';
import { parseConfigCreate } from '../../src/cli/config-commands.js';
import { CONFIG_KIND, parseFileObjectLs, SECRET_KIND } from '../../src/cli/file-object-commands.js';
import { validateServiceSpec } from '../../src/api/validate.js';
import { node, serviceSpec } from '../manager/store-fixtures.js';

function usage(pattern: RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof UsageError, `expected a UsageError, got ${String(err)}`);
    assert.match(err.message, pattern);
    return true;
  };
}

test('parseServiceCreate: argv to the spec, with the connection flags and the argument count of the command', () => {
  const spec = parseServiceCreate(['--host', 'unix:///x.sock', '--timeout', '5s', '--name', 'web', '-e', 'HOME', 'nginx:1', 'serve'], { HOME: '/root' });
  assert.equal(spec.name, 'web');
  assert.deepEqual(spec.taskTemplate.container.env, ['HOME=/root']);
  assert.deepEqual(spec.taskTemplate.container.args, ['serve']);
  assert.equal(parseServiceCreate(['busybox'], {}, () => 'fixed').name, 'fixed');
  assert.throws(() => parseServiceCreate([]), usage(/"flotilla service create" requires at least 1 argument/));
  assert.throws(() => parseServiceCreate(['--timeout', '-1s', 'busybox']), usage(/^invalid --timeout "-1s"/));
  assert.throws(() => parseServiceCreate(['--timeout', '0', 'busybox']), usage(/^invalid --timeout "0": must be more than 0$/));
  // An environment variable named like an Object.prototype member is not read from the prototype.
  assert.deepEqual(parseServiceCreate(['--name', 'w', '-e', 'toString=x', 'busybox']).taskTemplate.container.env, ['toString=x']);
  assert.throws(() => parseServiceCreate(['--name', 'w', '-e', 'constructor', 'busybox']), usage(/^invalid --env: "constructor" must be KEY=VALUE/));
});

test('parseServiceUpdate: the ref, the new spec, and whether it changes anything', () => {
  const current = validateServiceSpec(serviceSpec('web'));
  const r = parseServiceUpdate(['--replicas', '5', 'web'], current);
  assert.equal(r.ref, 'web');
  assert.equal(r.changed, true);
  assert.deepEqual(r.spec.mode, { replicated: { replicas: 5 } });
  // The finding: --env-rm '' was taken and sent an update that changed nothing.
  assert.throws(() => parseServiceUpdate(['--env-rm', '', 'web'], current), usage(/^invalid --env-rm "": expected a NAME to remove, got nothing$/));
  assert.throws(() => parseServiceUpdate(['--label-rm', '', 'web'], current), usage(/^invalid --label-rm ""/));
  assert.throws(() => parseServiceUpdate(['--mount-rm', '', 'web'], current), usage(/^invalid --mount-rm ""/));
  // Removing what is absent, or setting what is set: accepted, and nothing to send.
  assert.equal(parseServiceUpdate(['--env-rm', 'NOPE', 'web'], current).changed, false);
  assert.equal(parseServiceUpdate(['--replicas', '2', '--image', 'busybox:latest', 'web'], current).changed, false);
  assert.throws(() => parseServiceUpdate(['web'], current), usage(/^nothing to update/));
  assert.throws(() => parseServiceUpdate(['-d', 'web'], current), usage(/^nothing to update/));
  assert.throws(() => parseServiceUpdate(['--replicas', '1'], current), usage(/requires exactly 1 argument/));
  assert.throws(() => parseServiceUpdate(['--replicas', '1', 'a', 'b'], current), usage(/takes at most 1 argument/));
  assert.throws(() => parseServiceUpdate(['--replicas', '-0', 'web'], current), usage(/\(no sign\)$/));
});

test('parseServiceScale: SERVICE=REPLICAS split at the first "=", REPLICAS strict', () => {
  assert.deepEqual(parseServiceScale(['web=3', 'api=0', 'x=100000']), [['web', 3], ['api', 0], ['x', 100_000]]);
  assert.throws(() => parseServiceScale(['web']), usage(/^invalid argument "web": expected SERVICE=REPLICAS$/));
  assert.throws(() => parseServiceScale(['=3']), usage(/expected SERVICE=REPLICAS/));
  assert.throws(() => parseServiceScale(['web=3=4']), usage(/^invalid argument "web=3=4": REPLICAS must be an integer in 0\.\.100000 \(decimal digits 0-9 only\)$/));
  assert.throws(() => parseServiceScale(['web= 3']), usage(/\(no blanks around it\)$/));
  assert.throws(() => parseServiceScale(['web=-0']), usage(/\(no sign\)$/));
  assert.throws(() => parseServiceScale(['web=']), usage(/REPLICAS must be an integer in 0\.\.100000$/));
  assert.throws(() => parseServiceScale(['web=100001']), usage(/REPLICAS must be an integer in 0\.\.100000$/));
  assert.throws(() => parseServiceScale([]), usage(/requires at least 1 argument/));
  const r = (() => {
    try {
      parseServiceScale([`${'w'.repeat(10_000)}=x`]);
    } catch (err) {
      return err;
    }
    return undefined;
  })();
  assert.ok(r instanceof UsageError && r.message.length < 300, 'a 10 KB argument is clipped');
});

test('parseNodeUpdate: --availability and --role as written (the finding: DRAIN was taken), never with blanks', () => {
  assert.deepEqual(parseNodeUpdate(['--availability', 'drain', 'w1']), { ref: 'w1', change: { availability: 'drain', labelsAdd: {}, labelsRm: [] } });
  assert.equal(parseNodeUpdate(['--role', 'manager', 'w1']).change.role, 'manager');
  assert.throws(() => parseNodeUpdate(['--availability', 'DRAIN', 'w1']), usage(/^invalid --availability "DRAIN": must be one of active, pause, drain \(did you mean "drain"\?\)$/));
  assert.throws(() => parseNodeUpdate(['--role', 'Manager', 'w1']), usage(/^invalid --role "Manager": must be one of worker, manager \(did you mean "manager"\?\)$/));
  assert.throws(() => parseNodeUpdate(['--availability', ' drain', 'w1']), usage(/^invalid --availability " drain": must be one of active, pause, drain \(did you mean "drain"\?\)$/));
  assert.throws(() => parseNodeUpdate(['--availability', 'off', 'w1']), usage(/^invalid --availability "off": must be one of active, pause, drain$/));
  assert.throws(() => parseNodeUpdate(['--role', '', 'w1']), usage(/^invalid --role ""/));
  assert.throws(() => parseNodeUpdate(['--label-rm', '', 'w1']), usage(/^invalid --label-rm "": expected a KEY to remove, got nothing$/));
  assert.throws(() => parseNodeUpdate(['--label-add', ' a=b', 'w1']), usage(/the key contains blanks/));
  assert.throws(() => parseNodeUpdate(['--label-add', 'a=1', '--label-rm', 'a', 'w1']), usage(/both name the label "a"/));
  assert.throws(() => parseNodeUpdate(['w1']), usage(/^nothing to update/));
  assert.deepEqual(parseNodeUpdate(['--label-add', '__proto__=x', 'w1']).change.labelsAdd, JSON.parse('{"__proto__":"x"}'));
});

test('planNodeUpdate: nothing to send for what the node has; a missing label to remove fails as in docker', () => {
  const w = { ...node('w1ccccccccccccccccccccccc', { labels: { zone: 'a' } }), version: 7 };
  const plan = (argv: string[]) => planNodeUpdate(w, parseNodeUpdate([...argv, 'w1']).change, 'worker-1');
  assert.equal(plan(['--availability', 'active']), null);
  assert.equal(plan(['--role', 'worker', '--label-add', 'zone=a']), null);
  const req = plan(['--availability', 'drain', '--label-add', 'zone=a']);
  assert.ok(req);
  assert.equal(req.version, 7);
  assert.equal(req.hasAvailability, true);
  assert.deepEqual(req.labelsAdd, { zone: 'a' });
  assert.deepEqual(plan(['--label-rm', 'zone'])?.labelsRm, ['zone']);
  assert.deepEqual(plan(['--label-rm', 'zone', '--label-rm', 'zone'])?.labelsRm, ['zone']);
  assert.throws(() => plan(['--label-rm', 'rack']), (err: unknown) => err instanceof CliError && err.message === 'node worker-1 has no label "rack" to remove (see: flotilla node inspect worker-1)');
  assert.throws(() => plan(['--label-rm', 'toString']), CliError);
});

test('node ls filters: role and availability in any case, as docker; unknown keys clipped', () => {
  const m = { ...node('m1'), role: 'manager' as const };
  assert.equal(nodeFilter(['role=MANAGER'])(m), true);
  assert.equal(nodeFilter(['availability=Active'])(m), true);
  assert.throws(() => nodeFilter(['role=manager\t']), usage(/^invalid --filter "role=manager\\t": no blanks/));
  assert.throws(() => nodeFilter(['role=boss']), usage(/^invalid --filter role "boss": must be one of manager, worker$/));
  assert.throws(() => nodeFilter([`${'k'.repeat(10_000)}=1`]), (err: unknown) => err instanceof UsageError && err.message.length < 300);
});

test('property: any argv either builds or is refused with a one-line UsageError (fixed seed, bounded)', () => {
  const names = ['name', 'mode', 'replicas', 'env', 'label', 'constraint', 'placement-pref', 'publish', 'mount', 'limit-cpu', 'limit-memory', 'restart-delay', 'health-retries',
    'update-max-failure-ratio', 'update-order', 'detach', 'image', 'env-add', 'env-rm', 'label-rm', 'mount-rm', 'publish-rm', 'constraint-rm', 'availability', 'role', 'label-add', 'timeout', 'help'];
  const value = fc.oneof(
    fc.string(),
    fc.string({ unit: 'binary' }),
    fc.constantFrom('', ' 3', '-0', '+3', '010', '0x10', '３', '9'.repeat(30), '__proto__', 'constructor', '=', ',', '"', 'a=b', 'type=bind,source=/a,target=/b', '8080:80/udp',
      'published=1,target=2', 'node.role==worker', 'spread=node.labels.z', '1.5', '10s', '64m', 'TRUE', 'GLOBAL', 'DRAIN', '\n', '\u2028', '\ud800'),
  );
  const arg = fc.oneof(
    fc.tuple(fc.constantFrom(...names), value).map(([n, v]) => [`--${n}`, v]),
    fc.tuple(fc.constantFrom(...names), value).map(([n, v]) => [`--${n}=${v}`]),
    value.map((v) => [v]),
  );
  const current = validateServiceSpec(serviceSpec('web'));
  const w = node('w1ccccccccccccccccccccccc', { labels: { zone: 'a' } });
  const only = (fn: () => unknown, allowCli = false): void => {
    try {
      fn();
    } catch (err) {
      if (allowCli && err instanceof CliError) return;
      assert.ok(err instanceof UsageError, `not a UsageError: ${String(err)}`);
      assert.doesNotMatch(err.message, /\n/);
      assert.ok(err.message.length < 1000, `${err.message.length} characters`);
    }
  };
  fc.assert(
    fc.property(fc.array(arg, { maxLength: 6 }).map((a) => a.flat()), (argv) => {
      only(() => parseServiceCreate([...argv, 'busybox']));
      only(() => parseServiceUpdate([...argv, 'web'], current));
      only(() => parseServiceScale(argv));
      only(() => planNodeUpdate(w, parseNodeUpdate([...argv, 'w1']).change), true);
    }),
    { seed: 13, numRuns: 400 },
  );
});

test('--filter values: no blanks around them (docker trims; flotilla refuses rather than match nothing)', () => {
  assert.throws(() => nodeFilter(['name= worker-1']), usage(/^invalid --filter "name= worker-1": no blanks around the value$/));
  assert.throws(() => nodeFilter(['name =w']), usage(/the key contains blanks/));
  assert.equal(nodeFilter(['name=worker'])({ ...node('w1'), description: { ...node('w1').description, hostname: 'worker-1' } }), true);
});

test('secret and config create and ls: NAME FILE|-, labels, filters; a bad name or label names it', () => {
  assert.deepEqual(parseSecretCreate(['-l', 'env=prod', '--label', 'k', 'db', '-']), { name: 'db', labels: { env: 'prod', k: '' }, file: '-' });
  assert.deepEqual(parseConfigCreate(['nginx.conf', './nginx.conf']), { name: 'nginx.conf', labels: {}, file: './nginx.conf' });
  assert.throws(() => parseSecretCreate(['db']), usage(/"flotilla secret create" requires exactly 2 arguments/));
  assert.throws(() => parseSecretCreate(['db', 'a', 'b']), usage(/"flotilla secret create" takes at most 2 arguments/));
  assert.throws(() => parseSecretCreate(['db~1', '-']), usage(/^invalid secret name "db~1": "db~1" must start with a letter or digit/));
  assert.throws(() => parseConfigCreate(['a'.repeat(64), '-']), usage(/^invalid config name "a{64}": must be 1\.\.63 characters/));
  assert.throws(() => parseSecretCreate(['-l', '=x', 'db', '-']), usage(/^invalid --label "=x": the key is empty/));
  assert.deepEqual(parseFileObjectLs(SECRET_KIND, ['-f', 'name=db', '-f', 'id=abc', '-f', 'label=env=prod', '-f', 'label=k']), {
    names: [],
    namePrefixes: ['db'],
    idPrefixes: ['abc'],
    labels: ['env=prod', 'k'],
  });
  assert.throws(() => parseFileObjectLs(CONFIG_KIND, ['-f', 'driver=x']), usage(/^invalid filter 'driver': use id, label, name$/));
  assert.throws(() => parseFileObjectLs(CONFIG_KIND, ['--format', '{{.Name']), usage(/^template parsing error: template: :1: unclosed action$/));
});
