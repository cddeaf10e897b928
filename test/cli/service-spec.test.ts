// Building service specs from `service create` / `service update` flags: the
// complete canonical spec, docker's port/mount syntaxes, and errors that name
// the flag.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseArgs, UsageError } from '../../src/cli/args.js';
import {
  applyServiceUpdate,
  buildCreateSpec,
  CREATE_FLAGS,
  defaultServiceName,
  hasUpdateChanges,
  parseMountFlag,
  parsePublish,
  UPDATE_FLAGS,
} from '../../src/cli/service-spec.js';
import { validateServiceSpec } from '../../src/manager/store/validate.js';
import type { ServiceSpec } from '../../src/manager/store/types.js';

function create(argv: string[], env: Record<string, string> = {}): ServiceSpec {
  const { flags, positionals } = parseArgs(argv, CREATE_FLAGS, { command: 'flotilla service create', stopAtPositional: true });
  return buildCreateSpec(positionals[0], positionals.slice(1), flags, env, () => 'generated');
}

function update(spec: ServiceSpec, argv: string[], env: Record<string, string> = {}): ServiceSpec {
  const { flags } = parseArgs(argv, UPDATE_FLAGS, { command: 'flotilla service update' });
  return applyServiceUpdate(spec, flags, env);
}

function usage(pattern: RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof UsageError, `expected a UsageError, got ${String(err)}`);
    assert.match(err.message, pattern);
    return true;
  };
}

test('a bare create gives the canonical default spec', () => {
  const spec = create(['--name', 'web', 'nginx:1.25']);
  assert.deepEqual(spec, validateServiceSpec({ name: 'web', taskTemplate: { container: { image: 'nginx:1.25' } } }));
  assert.deepEqual(spec.mode, { replicated: { replicas: 1 } });
  assert.equal(spec.taskTemplate.container.stopGracePeriodMs, 10_000);
  assert.equal(spec.taskTemplate.restartPolicy.condition, 'any');
});

test('every create flag lands in its field', () => {
  const spec = create(
    [
      '--name', 'web', '--replicas', '3', '-e', 'A=1', '--env', 'FROM_ENV', '-l', 'tier=front', '--label', 'flag',
      '--constraint', 'node.role==worker', '--placement-pref', 'spread=node.labels.zone',
      '-p', '8080:80', '--publish', 'published=5353,target=53,protocol=udp,mode=host',
      '--mount', 'type=bind,source=/var/log,target=/logs,readonly', '--mount', 'source=data,target=/data',
      '--limit-cpu', '0.5', '--limit-memory', '64m', '--reserve-cpu', '0.25', '--reserve-memory', '32m',
      '--restart-condition', 'on-failure', '--restart-delay', '2s', '--restart-max-attempts', '4', '--restart-window', '1m',
      '--health-cmd', 'curl -f http://localhost/', '--health-interval', '30s', '--health-timeout', '5s', '--health-retries', '3', '--health-start-period', '10s',
      '--stop-grace-period', '20s', '-w', '/srv', '-u', 'nobody', '--entrypoint', '/bin/web --verbose',
      '--update-parallelism', '2', '--update-delay', '1s', '--update-failure-action', 'rollback', '--update-order', 'start-first',
      '--update-monitor', '7s', '--update-max-failure-ratio', '0.25',
      '--rollback-parallelism', '0', '--rollback-failure-action', 'continue',
      '-d', '-q',
      'registry.example.com:5000/team/web:1.2', 'serve', '--port', '80',
    ],
    { FROM_ENV: 'yes' },
  );
  const c = spec.taskTemplate.container;
  assert.equal(spec.name, 'web');
  assert.deepEqual(spec.labels, { tier: 'front', flag: '' });
  assert.deepEqual(spec.mode, { replicated: { replicas: 3 } });
  assert.equal(c.image, 'registry.example.com:5000/team/web:1.2');
  assert.deepEqual(c.command, ['/bin/web', '--verbose']);
  assert.deepEqual(c.args, ['serve', '--port', '80']);
  assert.deepEqual(c.env, ['A=1', 'FROM_ENV=yes']);
  assert.equal(c.dir, '/srv');
  assert.equal(c.user, 'nobody');
  assert.deepEqual(c.mounts, [
    { type: 'bind', source: '/var/log', target: '/logs', readOnly: true },
    { type: 'volume', source: 'data', target: '/data', readOnly: false },
  ]);
  assert.deepEqual(c.healthcheck, { test: ['CMD-SHELL', 'curl -f http://localhost/'], intervalMs: 30_000, timeoutMs: 5_000, retries: 3, startPeriodMs: 10_000 });
  assert.equal(c.stopGracePeriodMs, 20_000);
  assert.deepEqual(spec.taskTemplate.resources, { limits: { nanoCpus: 5e8, memoryBytes: 64 * 2 ** 20 }, reservations: { nanoCpus: 2.5e8, memoryBytes: 32 * 2 ** 20 } });
  assert.deepEqual(spec.taskTemplate.restartPolicy, { condition: 'on-failure', delayMs: 2_000, maxAttempts: 4, windowMs: 60_000 });
  assert.deepEqual(spec.taskTemplate.placement, { constraints: ['node.role==worker'], preferences: [{ spread: 'node.labels.zone' }] });
  assert.deepEqual(spec.updateConfig, { parallelism: 2, delayMs: 1_000, failureAction: 'rollback', monitorMs: 7_000, maxFailureRatio: 0.25, order: 'start-first' });
  assert.equal(spec.rollbackConfig.parallelism, 0);
  assert.equal(spec.rollbackConfig.failureAction, 'continue');
  assert.deepEqual(spec.endpoint.ports, [
    { protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'ingress' },
    { protocol: 'udp', targetPort: 53, publishedPort: 5353, publishMode: 'host' },
  ]);
  // The result is already canonical.
  assert.deepEqual(validateServiceSpec(spec), spec);
});

test('global mode, a generated name, --no-healthcheck', () => {
  const spec = create(['--mode', 'global', '--no-healthcheck', 'busybox']);
  assert.deepEqual(spec.mode, { global: {} });
  assert.equal(spec.name, 'generated');
  assert.deepEqual(spec.taskTemplate.container.healthcheck?.test, ['NONE']);
  assert.match(defaultServiceName('registry:5000/team/web:1.2'), /^web-[0-9a-f]{5}$/);
  assert.equal(defaultServiceName('busybox@sha256:' + 'a'.repeat(64), 'x'), 'busybox-x');
});

test('create errors name the flag', () => {
  const cases: [string[], RegExp][] = [
    [['--replicas', '2', '--mode', 'global', 'busybox'], /--replicas can only be used with replicated mode/],
    [['--mode', 'both', 'busybox'], /invalid --mode "both": must be one of replicated, global/],
    [['--limit-memory', '64m', '--reserve-memory', '1g', 'busybox'], /^invalid --reserve-memory: reservation \d+ exceeds the limit \d+$/],
    [['--limit-memory', 'lots', 'busybox'], /^invalid --limit-memory "lots"/],
    [['--name', 'bad name', 'busybox'], /^invalid --name: "bad name" must start with a letter or digit/],
    [['Busybox'], /^invalid IMAGE: "Busybox": repository name must be lowercase/],
    [['-e', '=x', 'busybox'], /^invalid --env: "=x" has an empty key/],
    [['-e', 'NOT_SET', 'busybox'], /^invalid --env: "NOT_SET" must be KEY=VALUE/],
    [['--constraint', 'node.colour==red', 'busybox'], /^invalid --constraint: "node.colour" is not one of/],
    [['--placement-pref', 'pack=node.labels.x', 'busybox'], /invalid --placement-pref "pack=node.labels.x": the only strategy is spread/],
    [['--placement-pref', 'spread=zone', 'busybox'], /^invalid --placement-pref: "zone" is not a node descriptor/],
    [['-p', '80', 'busybox'], /invalid --publish "80": the published port is missing/],
    [['-p', '8080:80', '-p', '8080:81', 'busybox'], /^invalid --publish: published port 8080\/tcp is used twice/],
    [['-p', '70000:80', 'busybox'], /published port 70000 is out of range/],
    [['--mount', 'type=bind,target=/x', 'busybox'], /^invalid --mount: a bind mount needs a source/],
    [['--mount', 'type=tmpfs,target=/x', 'busybox'], /invalid --mount type "tmpfs": must be one of bind, volume/],
    [['--mount', 'source=/a', 'busybox'], /invalid --mount "source=\/a": target= is required/],
    [['-w', 'relative', 'busybox'], /^invalid --workdir: "relative" must be an absolute path/],
    [['--restart-condition', 'always', 'busybox'], /invalid --restart-condition "always": must be one of none, on-failure, any/],
    [['--update-failure-action', 'explode', 'busybox'], /invalid --update-failure-action/],
    [['--rollback-failure-action', 'rollback', 'busybox'], /invalid --rollback-failure-action "rollback": must be one of pause, continue/],
    [['--no-healthcheck', '--health-cmd', 'true', 'busybox'], /--no-healthcheck conflicts with the --health-\* options/],
    [['--replicas', '-1', 'busybox'], /invalid --replicas "-1"/],
  ];
  for (const [argv, pattern] of cases) assert.throws(() => create(argv), usage(pattern), argv.join(' '));
});

test('ports: short syntax with protocol and ranges, long syntax', () => {
  assert.deepEqual(parsePublish('8080:80/udp', '-p'), [{ protocol: 'udp', targetPort: 80, publishedPort: 8080, publishMode: 'ingress' }]);
  assert.deepEqual(
    parsePublish('8000-8001:80-81', '-p').map((p) => `${p.publishedPort}:${p.targetPort}`),
    ['8000:80', '8001:81'],
  );
  assert.deepEqual(parsePublish('published=80,target=8080,name=http', '-p'), [{ name: 'http', protocol: 'tcp', targetPort: 8080, publishedPort: 80, publishMode: 'ingress' }]);
  assert.throws(() => parsePublish('8000-8002:80-81', '-p'), usage(/same length/));
  assert.throws(() => parsePublish('127.0.0.1:80:80', '-p'), usage(/one IP address is not supported/));
  assert.throws(() => parsePublish('target=80', '--publish'), usage(/published= is required/));
  assert.throws(() => parsePublish('published=80,target=80,color=red', '--publish'), usage(/unknown option "color"/));
  assert.throws(() => parsePublish('8080:80/sctp', '--publish'), usage(/invalid --publish protocol "sctp"/));
});

test('mounts: docker aliases', () => {
  assert.deepEqual(parseMountFlag('type=bind,src=/a,dst=/b,ro=true', '--mount'), { type: 'bind', source: '/a', target: '/b', readOnly: true });
  assert.deepEqual(parseMountFlag('destination=/b,readonly=0', '--mount'), { type: 'volume', source: '', target: '/b', readOnly: false });
  assert.throws(() => parseMountFlag('target=/b,readonly=maybe', '--mount'), usage(/invalid --mount readonly "maybe": must be true or false/));
  assert.throws(() => parseMountFlag('target=/b,volume-driver=x', '--mount'), usage(/unknown option "volume-driver"/));
});

test('update applies each change to a copy of the current spec', () => {
  const base = create(['--name', 'web', '-e', 'A=1', '-e', 'B=2', '-l', 'a=1', '-l', 'b=2', '--constraint', 'node.role==worker', '-p', '8080:80', '-p', '9090:90', '--mount', 'target=/data', 'nginx:1', 'serve']);
  const frozen = structuredClone(base);
  const next = update(base, [
    '--image', 'nginx:2', '--args', 'serve --fast', '--replicas', '4',
    '--env-add', 'B=3', '--env-add', 'C=4', '--env-rm', 'A',
    '--label-add', 'c=3', '--label-rm', 'a',
    '--constraint-rm', 'node.role == worker', '--constraint-add', 'node.labels.zone==a',
    '--placement-pref-add', 'spread=node.labels.zone',
    '--publish-rm', '90', '--publish-add', '8080:81',
    '--mount-rm', '/data', '--mount-add', 'type=bind,source=/a,target=/a',
    '--limit-memory', '1g', '--update-delay', '5s', '--health-cmd', 'true',
  ]);
  assert.deepEqual(base, frozen, 'the current spec is not changed');
  const c = next.taskTemplate.container;
  assert.equal(c.image, 'nginx:2');
  assert.deepEqual(c.args, ['serve', '--fast']);
  assert.deepEqual(next.mode, { replicated: { replicas: 4 } });
  assert.deepEqual(c.env, ['B=3', 'C=4']);
  assert.deepEqual(next.labels, { b: '2', c: '3' });
  assert.deepEqual(next.taskTemplate.placement, { constraints: ['node.labels.zone==a'], preferences: [{ spread: 'node.labels.zone' }] });
  assert.deepEqual(next.endpoint.ports, [{ protocol: 'tcp', targetPort: 81, publishedPort: 8080, publishMode: 'ingress' }]);
  assert.deepEqual(c.mounts, [{ type: 'bind', source: '/a', target: '/a', readOnly: false }]);
  assert.equal(next.taskTemplate.resources.limits.memoryBytes, 2 ** 30);
  assert.equal(next.updateConfig.delayMs, 5_000);
  assert.deepEqual(c.healthcheck?.test, ['CMD-SHELL', 'true']);
});

test('update: health flags re-enable a disabled check; global services refuse --replicas; errors name update flags', () => {
  const disabled = create(['--name', 'web', '--no-healthcheck', 'nginx']);
  assert.deepEqual(update(disabled, ['--health-interval', '10s']).taskTemplate.container.healthcheck, { test: [], intervalMs: 10_000, timeoutMs: 0, retries: 0, startPeriodMs: 0 });
  const global = create(['--name', 'agent', '--mode', 'global', 'nginx']);
  assert.throws(() => update(global, ['--replicas', '2']), usage(/service agent is global: --replicas only applies to replicated services/));
  assert.throws(() => update(disabled, ['--image', 'NGINX']), usage(/^invalid --image: "NGINX": repository name must be lowercase/));
  assert.throws(() => update(disabled, ['--env-add', '=1']), usage(/^invalid --env-add: "=1" has an empty key/));
  // A port added twice with the same published port and protocol: the last one wins.
  assert.deepEqual(update(disabled, ['--publish-add', '80:80', '--publish-add', 'published=80,target=81']).endpoint.ports, [
    { protocol: 'tcp', targetPort: 81, publishedPort: 80, publishMode: 'ingress' },
  ]);
});

test('update: nothing to change is detected', () => {
  const flags = (argv: string[]) => parseArgs(argv, UPDATE_FLAGS, { command: 'x' }).flags;
  assert.equal(hasUpdateChanges(flags(['-d', '-q'])), false);
  assert.equal(hasUpdateChanges(flags(['--replicas', '1'])), true);
});
