// Building service specs from `service create` / `service update` flags: the
// complete canonical spec, docker's port/mount syntaxes, and errors that name
// the flag.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseArgs, UsageError } from '../../src/cli/args.js';
import {
  applyServiceUpdate,
  buildCreateSpec,
  checkRollbackAlone,
  CREATE_FLAGS,
  defaultServiceName,
  hasUpdateChanges,
  parseMountFlag,
  parsePublish,
  planServiceUpdate,
  UPDATE_FLAGS,
} from '../../src/cli/service-spec.js';
import { validateServiceSpec } from '../../src/api/validate.js';
import type { ServiceSpec } from '../../src/api/objects.js';

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
      '--name', 'web', '--replicas', '3', '-e', 'A=1', '--env', 'FROM_ENV', '-l', 'tier=front', '--label', 'flag', '--container-label', 'com.example.role=web',
      '--constraint', 'node.role==worker', '--placement-pref', 'spread=node.labels.zone',
      '-p', '8080:80', '--publish', 'published=5353,target=53,protocol=udp,mode=host',
      '--mount', 'type=bind,source=/var/log,target=/logs,readonly', '--mount', 'source=data,target=/data',
      '--limit-cpu', '0.5', '--limit-memory', '64m', '--reserve-cpu', '0.25', '--reserve-memory', '32m',
      '--restart-condition', 'on-failure', '--restart-delay', '2s', '--restart-max-attempts', '4', '--restart-window', '1m',
      '--health-cmd', 'curl -f http://localhost/', '--health-interval', '30s', '--health-timeout', '5s', '--health-retries', '3', '--health-start-period', '10s',
      '--stop-grace-period', '20s', '-w', '/srv', '-u', 'nobody', '--entrypoint', '/bin/web --verbose',
      '--update-parallelism', '2', '--update-delay', '1s', '--update-failure-action', 'rollback', '--update-order', 'start-first',
      '--update-monitor', '7s', '--update-max-failure-ratio', '0.25',
      '--update-canary', '2', '--update-auto-promote', '--update-progress-deadline', '2m', '--restart-max-delay', '1m30s',
      '--rollback-parallelism', '0', '--rollback-failure-action', 'continue',
      '-d', '-q',
      'registry.example.com:5000/team/web:1.2', 'serve', '--port', '80',
    ],
    { FROM_ENV: 'yes' },
  );
  const c = spec.taskTemplate.container;
  assert.equal(spec.name, 'web');
  assert.deepEqual(spec.labels, { tier: 'front', flag: '' });
  assert.deepEqual(spec.taskTemplate.container.labels, { 'com.example.role': 'web' });
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
  assert.deepEqual(spec.taskTemplate.restartPolicy, { condition: 'on-failure', delayMs: 2_000, maxAttempts: 4, windowMs: 60_000, maxDelayMs: 90_000 });
  assert.deepEqual(spec.taskTemplate.placement, { constraints: ['node.role==worker'], preferences: [{ spread: 'node.labels.zone' }] });
  assert.deepEqual(spec.updateConfig, {
    parallelism: 2,
    delayMs: 1_000,
    failureAction: 'rollback',
    monitorMs: 7_000,
    maxFailureRatio: 0.25,
    order: 'start-first',
    canary: 2,
    autoPromote: true,
    progressDeadlineMs: 120_000,
  });
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
    [['-p', ':80', 'busybox'], /invalid --publish ":80": the published port before ":" is empty: use PUBLISHED:TARGET, or TARGET alone/],
    [['-p', 'mode=host,target=80', 'busybox'], /invalid --publish "mode=host,target=80": mode=host needs published=PORT/],
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
  assert.throws(() => parsePublish('published=80', '--publish'), usage(/target= is required/));
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

// ------------------------------------------------------------ strict parsing (issue 13)

function refusesAll(fn: (v: string) => unknown, inputs: readonly string[], pattern: RegExp): void {
  for (const input of inputs) assert.throws(() => fn(input), usage(pattern), JSON.stringify(input));
}

test('ports: strict short and long syntax (docker lower-cases the long fields and the protocol)', () => {
  const tcp80 = [{ protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'ingress' }];
  for (const ok of ['8080:80', '8080:80/tcp', '8080:80/TCP', '08080:0080', 'published=8080,target=80', 'PUBLISHED=8080,Target=80,protocol=TCP,mode=INGRESS', '"published=8080",target=80']) {
    assert.deepEqual(parsePublish(ok, '-p'), tcp80, ok);
  }
  assert.deepEqual(parsePublish('published=53,target=53,protocol=UDP,mode=Host', '-p')[0], { protocol: 'udp', targetPort: 53, publishedPort: 53, publishMode: 'host' });
  const p = (v: string): unknown => parsePublish(v, '--publish');
  refusesAll(p, [''], /^invalid --publish "": expected \[PUBLISHED:\]TARGET/);
  refusesAll(p, [':80', ':80/udp'], /^invalid --publish "[^"]*": the published port before ":" is empty/);
  refusesAll(p, ['80-', '-80', '81-80', '0', '65536', ' 80', '80 '], /^invalid --publish "[^"]*": (the )?target (port|range)/);
  refusesAll(p, [' 8080:80', '8080:80 ', '8080 :80', '+8080:80', '-1:80', '8080:８0', '0x50:80'], /port .* is not a number$/);
  refusesAll(p, ['0:80', '8080:0', '65536:80', `${'9'.repeat(30)}:80`], /out of range 1\.\.65535$/);
  refusesAll(p, ['8080:80/', '8080:80/tcp/x', '8080:80/sctp', '8080:80/ tcp'], /protocol/);
  refusesAll(p, ['1.2.3.4:8080:80', '[::1]:8080:80'], /one IP address is not supported/);
  refusesAll(p, ['published=8080,,target=80', '=8080,target=80', 'target=80,published'], /invalid field/);
  refusesAll(p, ['published=8080, target=80', 'published =8080,target=80'], /unknown option "( target|published )"/);
  refusesAll(p, ['published=8080,target=80,published=8081'], /published= is given twice$/);
  refusesAll(p, ['published= 8080,target=80', 'published=+8080,target=80'], /not a number/);
  refusesAll(p, ['published=8080,target=80,mode=both', 'published=8080,target=80,protocol='], /must be one of/);
});

test('mounts: docker csv fields, keys as docker spells them, no empty or repeated field', () => {
  assert.deepEqual(parseMountFlag('type=BIND,source=/a,target=/b,ro', '--mount'), { type: 'bind', source: '/a', target: '/b', readOnly: true });
  assert.deepEqual(parseMountFlag('"src=/a,b",dst=/c,type=bind,readonly=False', '--mount'), { type: 'bind', source: '/a,b', target: '/c', readOnly: false });
  assert.deepEqual(parseMountFlag('target=/d,readonly=T', '--mount'), { type: 'volume', source: '', target: '/d', readOnly: true });
  const m = (v: string): unknown => parseMountFlag(v, '--mount');
  refusesAll(m, ['', 'target=/b,', ',target=/b', 'target=/b,,ro', 'bogus', 'target=/b, ro'], /invalid field/);
  refusesAll(m, ['Target=/b', ' target=/b', 'target =/b', 'target=/b,volume-driver=x'], /unknown option/);
  refusesAll(m, ['target=/b,dst=/c', 'target=/b,ro,readonly=false', 'type=bind,type=volume,target=/b'], /is given twice/);
  refusesAll(m, ['target=/b,readonly=yes', 'target=/b,ro=1 '], /must be true or false$/);
  refusesAll(m, ['type=tmpfs,target=/x', 'type= bind,target=/x'], /must be one of bind, volume/);
  refusesAll(m, ['source=/a', 'target='], /target= is required$/);
  refusesAll(m, ['target="/b"', 'target=/b\n,ro'], /quote|newline/);
});

test('placement preferences: exactly spread=DESCRIPTOR, as docker', () => {
  assert.throws(() => create(['--placement-pref', 'SPREAD=node.labels.zone', 'busybox']), usage(/the only strategy is spread/));
  assert.throws(() => create(['--placement-pref', ' spread=node.labels.zone', 'busybox']), usage(/the only strategy is spread/));
  assert.throws(() => create(['--placement-pref', 'spread=a=b', 'busybox']), usage(/expected spread=DESCRIPTOR/));
  assert.throws(() => create(['--placement-pref', 'spread=', 'busybox']), usage(/the descriptor is empty/));
});

test('create findings: --replicas " 3" and -0, --mode GLOBAL, case-sensitive enums, strict durations and sizes', () => {
  const cases: [string[], RegExp][] = [
    [['--replicas', ' 3', 'busybox'], /^invalid --replicas " 3": expected an integer in 0\.\.100000 \(no blanks around it\)$/],
    [['--replicas', '-0', 'busybox'], /^invalid --replicas "-0": expected an integer in 0\.\.100000 \(no sign\)$/],
    [['--replicas', '+3', 'busybox'], /\(no sign\)$/],
    [['--replicas', '010', 'busybox'], /\(no leading zeros\)$/],
    [['--replicas', '100001', 'busybox'], /^invalid --replicas "100001": must be an integer in 0\.\.100000$/],
    [['--mode', 'GLOBAL', 'busybox'], /^invalid --mode "GLOBAL": must be one of replicated, global \(did you mean "global"\?\)$/],
    [['--mode', 'global ', 'busybox'], /^invalid --mode "global ": must be one of replicated, global/],
    [['--restart-condition', 'On-Failure', 'busybox'], /^invalid --restart-condition "On-Failure": must be one of none, on-failure, any/],
    [['--update-order', 'START-FIRST', 'busybox'], /^invalid --update-order "START-FIRST"/],
    [['--update-failure-action', 'Rollback', 'busybox'], /^invalid --update-failure-action "Rollback"/],
    [['--update-delay', ' 5s', 'busybox'], /^invalid --update-delay " 5s"/],
    [['--update-delay', '5S', 'busybox'], /unknown unit "S"/],
    [['--stop-grace-period', '-1s', 'busybox'], /cannot be negative/],
    [['--limit-memory', '64 m ', 'busybox'], /^invalid --limit-memory "64 m "/],
    [['--limit-cpu', '-0.5', 'busybox'], /^invalid --limit-cpu "-0.5"/],
    [['--update-max-failure-ratio', '+0.5', 'busybox'], /^invalid --update-max-failure-ratio "\+0.5"/],
    [['--health-retries', '3 ', 'busybox'], /^invalid --health-retries "3 "/],
    [['--detach=yes', 'busybox'], /^invalid --detach "yes": must be true or false$/],
    [['--label', 'a b=c', 'busybox'], /^invalid --label "a b=c": the key contains blanks$/],
    [['--label', '', 'busybox'], /^invalid --label "": the key is empty/],
  ];
  for (const [argv, pattern] of cases) assert.throws(() => create(argv), usage(pattern), argv.join(' '));
  // What docker takes, flotilla takes alike.
  const spec = create(['--name', 'ok', '--replicas', '3', '--mode', 'replicated', '--update-delay', '+1m30s', '--stop-grace-period', '1500000us', '--limit-memory', '64 MiB', '--detach=TRUE', 'busybox']);
  assert.deepEqual(spec.mode, { replicated: { replicas: 3 } });
  assert.equal(spec.updateConfig.delayMs, 90_000);
  assert.equal(spec.taskTemplate.container.stopGracePeriodMs, 1_500);
  assert.equal(spec.taskTemplate.resources.limits.memoryBytes, 64 * 2 ** 20);
  // A '__proto__' label stays a label.
  assert.equal(Object.hasOwn(create(['--label', '__proto__=x', 'busybox']).labels, '__proto__'), true);
});

test('update findings: empty or meaningless removals are refused; absent keys are ignored; no-ops are detected', () => {
  const base = create(['--name', 'web', '-e', 'A=1', '-e', 'B=2', '-l', 'a=1', '--constraint', 'node.role==worker', '--placement-pref', 'spread=node.labels.zone', '-p', '8080:80', '--mount', 'target=/data', 'nginx:1']);
  const refused: [string[], RegExp][] = [
    [['--env-rm', ''], /^invalid --env-rm "": expected a NAME to remove, got nothing$/],
    [['--env-rm', 'A=1'], /^invalid --env-rm "A=1": expected a NAME alone, not NAME=VALUE$/],
    [['--label-rm', ''], /^invalid --label-rm "": expected a KEY to remove, got nothing$/],
    [['--label-rm', 'a b'], /^invalid --label-rm "a b": a KEY has no blanks$/],
    [['--mount-rm', ''], /^invalid --mount-rm "": expected the target path of a mount, got nothing$/],
    [['--mount-rm', 'data'], /^invalid --mount-rm "data": a mount target is an absolute path$/],
    [['--constraint-rm', ''], /^invalid --constraint-rm "": expected a constraint such as node.role==worker, got nothing$/],
    [['--constraint-add', ' '], /^invalid --constraint-add " ": expected a constraint/],
    [['--constraint-rm', 'node.role'], /^invalid --constraint-rm: /],
    [['--placement-pref-rm', ''], /^invalid --placement-pref-rm ""/],
    [['--placement-pref-rm', 'spread='], /the descriptor is empty/],
    [['--publish-rm', ''], /^invalid --publish-rm ""/],
    [['--publish-rm', '0'], /^invalid --publish-rm "0": target port 0 is out of range/],
    [['--publish-rm', '80/'], /^invalid --publish-rm "80\/": the protocol after "\/" is empty/],
    [['--publish-rm', '80/sctp'], /^invalid --publish-rm protocol "sctp"/],
    [['--publish-rm', ' 80'], /^invalid --publish-rm " 80"/],
    // Adding and removing the same thing in one command: docker's order differs per flag, so neither is guessed.
    [['--env-add', 'A=3', '--env-rm', 'A'], /^--env-add and --env-rm both name the variable "A": give only one of them$/],
    [['--label-add', 'a=2', '--label-rm', 'a'], /^--label-add and --label-rm both name the label "a"/],
    [['--mount-add', 'target=/data', '--mount-rm', '/data'], /^--mount-add and --mount-rm both name the target "\/data"/],
    [['--constraint-add', 'node.role == worker', '--constraint-rm', 'node.role==worker'], /both name the constraint/],
    [['--mount-add', 'target=/x', '--mount-add', 'dst=/x,ro'], /^--mount-add names the target "\/x" twice$/],
  ];
  for (const [argv, pattern] of refused) assert.throws(() => update(base, argv), usage(pattern), argv.join(' '));

  const plan = (argv: string[]) => planServiceUpdate(base, parseArgs(argv, UPDATE_FLAGS, { command: 'x' }).flags, {});
  // Removing what is not there is not an error (docker ignores it), and changes nothing.
  for (const argv of [
    ['--env-rm', 'ABSENT'], ['--label-rm', 'absent'], ['--mount-rm', '/absent'], ['--constraint-rm', 'node.labels.x==y'],
    ['--placement-pref-rm', 'spread=node.labels.rack'], ['--publish-rm', '9999'], ['--publish-rm', '80/udp'],
    // Setting what is already set changes nothing either, and keeps the order.
    ['--image', 'nginx:1'], ['--env-add', 'A=1'], ['--label-add', 'a=1'], ['--replicas', '1'], ['--publish-add', '8080:80'],
    ['--constraint-add', 'node.role == worker'], ['--placement-pref-add', 'spread=node.labels.zone'], ['--mount-add', 'target=/data'],
    ['--restart-condition', 'any'], ['--update-order', 'stop-first'], ['--stop-grace-period', '10s'],
  ]) {
    const p = plan(argv);
    assert.equal(p.changed, false, argv.join(' '));
    assert.deepEqual(p.spec, validateServiceSpec(base), argv.join(' '));
  }
  for (const argv of [['--env-rm', 'A'], ['--env-add', 'B=3'], ['--label-rm', 'a'], ['--mount-rm', '/data'], ['--publish-rm', '80'], ['--replicas', '2'], ['--constraint-rm', 'node.role == worker']]) {
    assert.equal(plan(argv).changed, true, argv.join(' '));
  }
  // A value replaced keeps its place.
  assert.deepEqual(update(base, ['--env-add', 'A=9']).taskTemplate.container.env, ['A=9', 'B=2']);
  assert.deepEqual(update(base, ['--env-rm', 'A', '--env-rm', 'A']).taskTemplate.container.env, ['B=2']);
  assert.deepEqual(update(base, ['--constraint-rm', 'node.role == worker']).taskTemplate.placement.constraints, []);
});

test('a 10 KB argument is never echoed whole by create or update', () => {
  const big = 'x'.repeat(10_000);
  const base = create(['--name', 'web', 'nginx:1']);
  const attempts: (() => unknown)[] = [
    () => create(['--replicas', big, 'busybox']),
    () => create(['--mode', big, 'busybox']),
    () => create(['--limit-memory', big, 'busybox']),
    () => create(['--publish', `${big}:80`, 'busybox']),
    () => create(['--publish', `published=80,target=80,${big}=1`, 'busybox']),
    () => create(['--mount', `target=/x,${big}=1`, 'busybox']),
    () => create(['--mount', `type=${big},target=/x`, 'busybox']),
    () => create(['--placement-pref', big, 'busybox']),
    () => create(['--label', ` ${big}`, 'busybox']),
    () => create(['--entrypoint', `"${big}`, 'busybox']),
    () => create([`--${big}`, 'busybox']),
    () => update(base, ['--env-rm', `${big}=1`]),
    () => update(base, ['--mount-rm', big]),
    () => update(base, ['--publish-rm', `${big}/tcp`]),
    () => update(base, ['--env-add', `A=1`, '--env-rm', 'A'.padEnd(10_000, 'A'), '--env-add', `${'A'.padEnd(10_000, 'A')}=1`]),
  ];
  for (const [i, attempt] of attempts.entries()) {
    assert.throws(attempt, (err: unknown) => {
      assert.ok(err instanceof UsageError, `#${i}: ${String(err)}`);
      assert.ok(err.message.length < 500, `#${i}: ${err.message.length} characters: ${err.message.slice(0, 200)}`);
      assert.doesNotMatch(err.message, /\n/);
      return true;
    });
  }
});

test('issue 15 flags: canaries, auto-promote, progress deadline, restart max delay; --force redeploys', () => {
  const base = create(['--name', 'web', '--replicas', '3', 'nginx:1.25']);
  assert.equal(base.taskTemplate.restartPolicy.maxDelayMs, 300_000, 'default 5m');
  assert.deepEqual([base.updateConfig.canary, base.updateConfig.autoPromote, base.updateConfig.progressDeadlineMs], [0, false, 0]);
  const next = update(base, ['--update-canary', '1', '--update-auto-promote', '--update-progress-deadline', '90s', '--restart-max-delay', '2m']);
  assert.deepEqual([next.updateConfig.canary, next.updateConfig.autoPromote, next.updateConfig.progressDeadlineMs], [1, true, 90_000]);
  assert.equal(next.taskTemplate.restartPolicy.maxDelayMs, 120_000);
  assert.equal(next.rollbackConfig.canary, 0, 'a rollback has no canaries');
  // A bool flag takes docker's =false; 0 turns the deadline off.
  const off = update(next, ['--update-auto-promote=false', '--update-progress-deadline', '0', '--update-canary', '0']);
  assert.deepEqual([off.updateConfig.canary, off.updateConfig.autoPromote, off.updateConfig.progressDeadlineMs], [0, false, 0]);
  // --force alone is a change: forceUpdate goes up by one each time, nothing else moves.
  const { flags } = parseArgs(['--force'], UPDATE_FLAGS, { command: 'flotilla service update' });
  assert.equal(hasUpdateChanges(flags), true);
  const forced = planServiceUpdate(base, flags, {});
  assert.equal(forced.changed, true);
  assert.equal(forced.spec.taskTemplate.forceUpdate, base.taskTemplate.forceUpdate + 1);
  assert.deepEqual({ ...forced.spec, taskTemplate: { ...forced.spec.taskTemplate, forceUpdate: 0 } }, { ...base, taskTemplate: { ...base.taskTemplate, forceUpdate: 0 } });
  assert.equal(planServiceUpdate(forced.spec, flags, {}).spec.taskTemplate.forceUpdate, 2);
});

test('issue 15 flags: bad values name the flag', () => {
  const base = create(['--name', 'web', '--replicas', '2', 'nginx:1.25']);
  assert.throws(() => update(base, ['--update-canary', '3']), usage(/^invalid --update-canary: 3 canaries for 2 replica\(s\): ask for at most as many canaries as replicas$/));
  assert.throws(() => update(base, ['--update-canary', '-1']), usage(/^invalid --update-canary "-1"/));
  assert.throws(() => update(base, ['--update-canary', 'x']), usage(/^invalid --update-canary "x"/));
  assert.throws(() => create(['--mode', 'global', '--update-canary', '1', 'nginx']), usage(/^invalid --update-canary: canaries are for replicated services/));
  assert.throws(() => update(base, ['--update-progress-deadline', '5']), usage(/^invalid --update-progress-deadline "5"/));
  assert.throws(() => update(base, ['--restart-max-delay', '-1s']), usage(/^invalid --restart-max-delay "-1s"/));
  assert.throws(() => update(base, ['--update-auto-promote=maybe']), usage(/--update-auto-promote/));
  assert.throws(() => parseArgs(['--force'], CREATE_FLAGS, { command: 'flotilla service create' }), usage(/^unknown flag --force for `flotilla service create`/));
  assert.throws(() => parseArgs(['--rollback'], CREATE_FLAGS, { command: 'flotilla service create' }), usage(/^unknown flag --rollback/));
});

test('update --rollback goes with -d and -q only, as docker', () => {
  const check = (argv: string[]): void => checkRollbackAlone(parseArgs(argv, UPDATE_FLAGS, { command: 'flotilla service update' }).flags);
  for (const ok of [['--rollback'], ['--rollback', '-d'], ['--rollback', '-q', '--detach']]) assert.doesNotThrow(() => check(ok), ok.join(' '));
  for (const bad of [['--rollback', '--image', 'x'], ['--rollback', '--force'], ['--rollback', '--replicas', '2'], ['--rollback', '--update-canary', '1']]) {
    assert.throws(() => check(bad), usage(/^other flags may not be combined with --rollback$/), bad.join(' '));
  }
  // --rollback is not a change of spec by itself.
  assert.equal(hasUpdateChanges(parseArgs(['--rollback'], UPDATE_FLAGS, { command: 'x' }).flags), false);
});

// ------------------------------------------------------------ service networking

test('ports: a target alone is an ingress port the cluster assigns a published port to (docker -p 80, target=80)', () => {
  const assigned = (targetPort: number, protocol = 'tcp'): unknown => ({ protocol, targetPort, publishedPort: 0, publishMode: 'ingress' });
  assert.deepEqual(parsePublish('80', '-p'), [assigned(80)]);
  assert.deepEqual(parsePublish('80/udp', '-p'), [assigned(80, 'udp')]);
  assert.deepEqual(parsePublish('80-82', '-p'), [assigned(80), assigned(81), assigned(82)]);
  assert.deepEqual(parsePublish('target=80', '--publish'), [assigned(80)]);
  assert.deepEqual(parsePublish('target=53,protocol=udp,name=dns', '--publish'), [{ name: 'dns', ...(assigned(53, 'udp') as object) }]);
  // Host mode binds the port on the task's node: it needs one.
  assert.throws(() => parsePublish('target=80,mode=host', '--publish'), usage(/mode=host needs published=PORT/));
  assert.throws(() => parsePublish('published=0,target=80', '--publish'), usage(/published port 0 is out of range/));
  const spec = create(['--name', 'web', '-p', '80', '-p', '8080:81', '-p', '90', 'nginx']);
  assert.deepEqual(spec.endpoint.ports.map((x) => `${x.publishedPort}:${x.targetPort}`), ['0:80', '8080:81', '0:90']);
  // Two ports the cluster assigns are not "the same published port".
  const base = create(['--name', 'web', '-p', '80', 'nginx']);
  assert.deepEqual(update(base, ['--publish-add', '90']).endpoint.ports.map((x) => `${x.publishedPort}:${x.targetPort}`), ['0:80', '0:90']);
  assert.deepEqual(update(base, ['--publish-add', '80']).endpoint.ports.map((x) => `${x.publishedPort}:${x.targetPort}`), ['0:80']);
  assert.deepEqual(update(base, ['--publish-rm', '80']).endpoint.ports, []);
  assert.deepEqual(update(base, ['--publish-rm', 'target=80']).endpoint.ports, []);
});

test('create: --network NAME (or name=NAME), repeatable; the manager turns names into ids', () => {
  assert.equal(create(['--name', 'web', 'nginx']).taskTemplate.networks, undefined, 'absent when none');
  assert.deepEqual(create(['--name', 'web', '--network', 'front', '--network', 'name=back', 'nginx']).taskTemplate.networks, ['front', 'back']);
  assert.deepEqual(create(['--name', 'web', '--network=NAME=x.y_z-1', 'nginx']).taskTemplate.networks, ['x.y_z-1']);
  const bad: [string[], RegExp][] = [
    [['--network', '', 'nginx'], /^invalid --network "": expected the name or id of a network/],
    [['--network', 'name=', 'nginx'], /^invalid --network "name=": expected the name or id/],
    [['--network', '-front', 'nginx'], /^invalid --network "-front": a network name or id is made of letters, digits/],
    [['--network', 'a b', 'nginx'], /^invalid --network "a b": a network name or id/],
    [['--network', 'name=front,ip=10.0.0.2', 'nginx'], /^invalid --network "name=front,ip=10.0.0.2": "ip" is not supported: a network takes name= and alias=/],
    [['--network', 'name=front,driver-opt=com.docker.network.driver.mtu=1400', 'nginx'], /^invalid --network "name=front,driver-opt=[^"]*": driver-opt= is not supported: flotilla networks have no driver options$/],
    [['--network', 'name=a,name=b', 'nginx'], /name= is given twice/],
    [['--network', 'front,back', 'nginx'], /^invalid --network "front,back": a network name or id/],
    [['--network', 'front', '--network', 'front', 'nginx'], /^--network names the network "front" twice/],
  ];
  for (const [argv, pattern] of bad) assert.throws(() => create(['--name', 'web', ...argv]), usage(pattern), argv.join(' '));
});

test('create: docker\'s long syntax gives aliases on one network (keyed as the network is named, in its order)', () => {
  const spec = create(['--name', 'web', '--network', 'front', '--network', 'NAME=back,Alias=db,alias=primary.db', '--network', 'name=ops,alias=w-1', 'nginx']);
  assert.deepEqual(spec.taskTemplate.networks, ['front', 'back', 'ops']);
  assert.deepEqual(spec.taskTemplate.networkAliases, { back: ['db', 'primary.db'], ops: ['w-1'] });
  assert.equal(create(['--name', 'web', '--network', 'name=front', 'nginx']).taskTemplate.networkAliases, undefined, 'absent when none');
  const many = Array.from({ length: 33 }, (_, i) => `alias=a${i}`).join(',');
  const bad: [string[], RegExp][] = [
    [['--network', 'name=back,alias=a_b'], /^invalid --network "name=back,alias=a_b": "a_b" is not a DNS name: dot-separated labels of letters, digits and '-'/],
    [['--network', 'name=back,alias=-db'], /^invalid --network "name=back,alias=-db": "-db" is not a DNS name/],
    [['--network', 'name=back,alias=db.'], /is not a DNS name/],
    [['--network', `name=back,alias=${'a'.repeat(64)}`], /is not a DNS name: .*at most 63 characters each$/],
    [['--network', `name=back,alias=${Array.from({ length: 4 }, () => 'a'.repeat(63)).join('.')}`], /a network alias must be 1\.\.253 characters \(got 255\)$/],
    [['--network', 'name=back,alias='], /a network alias must be 1\.\.253 characters \(got 0\)$/],
    [['--network', 'name=back,alias=Tasks.db'], /"Tasks\.db" may not start with "tasks\.": that name asks for the tasks of a service$/],
    [['--network', 'name=back,alias=db,alias=DB'], /^invalid --network "name=back,alias=db,alias=DB": the alias "DB" is given twice \(aliases are case-insensitive\)$/],
    [['--network', 'alias=db'], /^invalid --network "alias=db": expected the name or id of a network/],
    [['--network', `name=back,${many}`], /^invalid --network: at most 32 aliases on one network \(got 33\)$/],
  ];
  for (const [argv, pattern] of bad) assert.throws(() => create(['--name', 'web', ...argv, 'nginx']), usage(pattern), argv.join(' '));
  assert.equal(create(['--name', 'web', '--network', `name=back,${many.replace(/,alias=a32$/, '')}`, 'nginx']).taskTemplate.networkAliases?.back.length, 32, '32 is the limit');
});

test('create and update: --lb-policy, --lb-weight, --proxy-protocol, --drain-period (absent at their defaults)', () => {
  const plain = create(['--name', 'web', 'nginx']);
  assert.deepEqual(plain.endpoint, { ports: [] });
  assert.equal(plain.taskTemplate.lbWeight, undefined);
  const spec = create(['--name', 'web', '--lb-policy', 'weighted', '--lb-weight', '10', '--proxy-protocol', 'v2', '--drain-period', '5s', 'nginx']);
  assert.deepEqual(spec.endpoint, { ports: [], lbPolicy: 'weighted', proxyProtocol: 'v2', drainPeriodMs: 5_000 });
  assert.equal(spec.taskTemplate.lbWeight, 10);
  // The defaults, given, store nothing (the spec stays canonical).
  const defaults = create(['--name', 'web', '--lb-policy', 'round-robin', '--lb-weight', '100', '--proxy-protocol', 'none', '--drain-period', '2s', 'nginx']);
  assert.deepEqual(defaults, plain);
  for (const policy of ['round-robin', 'least-conn', 'random', 'weighted']) create(['--name', 'web', '--lb-policy', policy, 'nginx']);
  assert.equal(create(['--name', 'web', '--lb-weight', '0', '--drain-period', '0', 'nginx']).endpoint.drainPeriodMs, 0);
  const bad: [string[], RegExp][] = [
    [['--lb-policy', 'leastconn'], /^invalid --lb-policy "leastconn": must be one of round-robin, least-conn, random, weighted$/],
    [['--lb-policy', 'Random'], /^invalid --lb-policy "Random": must be one of .* \(did you mean "random"\?\)$/],
    [['--lb-weight', '-1'], /^invalid --lb-weight "-1": expected an integer in 0\.\.1000000 \(no sign\)$/],
    [['--lb-weight', '1000001'], /^invalid --lb-weight "1000001": must be an integer in 0\.\.1000000$/],
    [['--lb-weight', '1.5'], /^invalid --lb-weight "1.5"/],
    [['--proxy-protocol', 'v3'], /^invalid --proxy-protocol "v3": must be one of none, v1, v2$/],
    [['--proxy-protocol', ''], /^invalid --proxy-protocol "": must be one of none, v1, v2$/],
    [['--drain-period', '5'], /^invalid --drain-period "5": the unit is missing/],
    [['--drain-period', '-1s'], /^invalid --drain-period "-1s": a duration cannot be negative$/],
    [['--drain-period', '1us'], /^invalid --drain-period "1us": flotilla keeps durations in whole milliseconds/],
  ];
  for (const [argv, pattern] of bad) assert.throws(() => create(['--name', 'web', ...argv, 'nginx']), usage(pattern), argv.join(' '));
  // update: change, and back to the default.
  const next = update(spec, ['--lb-policy', 'least-conn', '--lb-weight', '100', '--drain-period', '1500ms']);
  assert.deepEqual(next.endpoint, { ports: [], lbPolicy: 'least-conn', proxyProtocol: 'v2', drainPeriodMs: 1_500 });
  assert.equal(next.taskTemplate.lbWeight, undefined);
  assert.deepEqual(update(next, ['--lb-policy', 'round-robin', '--proxy-protocol', 'none', '--drain-period', '2s']).endpoint, { ports: [] });
  assert.throws(() => update(spec, ['--lb-policy', 'fastest']), usage(/^invalid --lb-policy "fastest"/));
  const flags = (argv: string[]) => parseArgs(argv, UPDATE_FLAGS, { command: 'x' }).flags;
  assert.equal(planServiceUpdate(spec, flags(['--lb-weight', '10']), {}).changed, false);
  assert.equal(planServiceUpdate(spec, flags(['--lb-weight', '11']), {}).changed, true);
});

test("create and update: --endpoint-mode vip|dnsrr (docker's flag; vip, the default, stores nothing)", () => {
  const plain = create(['--name', 'db', 'postgres']);
  assert.equal(plain.endpoint.mode, undefined);
  assert.deepEqual(create(['--name', 'db', '--endpoint-mode', 'vip', 'postgres']), plain);
  const rr = create(['--name', 'db', '--endpoint-mode', 'dnsrr', '--network', 'back', '-p', 'published=5432,target=5432,mode=host', 'postgres']);
  assert.equal(rr.endpoint.mode, 'dnsrr');
  assert.deepEqual(rr.endpoint.ports, [{ protocol: 'tcp', targetPort: 5432, publishedPort: 5432, publishMode: 'host' }]);
  const bad: [string[], RegExp][] = [
    // The exact words, as every enum flag (the fuzzer holds them to it).
    [['--endpoint-mode', 'DNSRR'], /^invalid --endpoint-mode "DNSRR": must be one of vip, dnsrr \(did you mean "dnsrr"\?\)$/],
    [['--endpoint-mode', 'rr'], /^invalid --endpoint-mode "rr": must be one of vip, dnsrr$/],
    [['--endpoint-mode', ''], /^invalid --endpoint-mode "": must be one of vip, dnsrr$/],
    [['--endpoint-mode', ' dnsrr'], /^invalid --endpoint-mode " dnsrr": must be one of vip, dnsrr \(did you mean "dnsrr"\?\)$/],
    // An ingress port (the routing mesh needs a virtual IP): SwarmKit's words, and what to do.
    [['--endpoint-mode', 'dnsrr', '-p', '8080:80'], /^invalid --endpoint-mode: port published with ingress mode can't be used with dnsrr mode \(target port 80\/tcp\): publish it in host mode, or use the vip endpoint mode$/],
    [['-p', '53/udp', '--endpoint-mode', 'dnsrr'], /^invalid --endpoint-mode: port published with ingress mode can't be used with dnsrr mode \(target port 53\/udp\)/],
    // No proxy: its settings are refused, saying why.
    [['--endpoint-mode', 'dnsrr', '--lb-policy', 'least-conn'], /^invalid --lb-policy: a dnsrr service has no proxy to balance its connections \(clients pick a task's address from DNS\): leave the lb policy at round-robin, or use the vip endpoint mode$/],
    [['--endpoint-mode', 'dnsrr', '--proxy-protocol', 'v1'], /^invalid --proxy-protocol: a dnsrr service has no proxy to send a PROXY protocol header/],
  ];
  for (const [argv, pattern] of bad) assert.throws(() => create(['--name', 'db', ...argv, 'postgres']), usage(pattern), argv.join(' '));
  // The defaults of the proxy's settings, and a drain period, go with dnsrr.
  assert.deepEqual(create(['--name', 'db', '--endpoint-mode', 'dnsrr', '--lb-policy', 'round-robin', '--proxy-protocol', 'none', '--drain-period', '5s', 'postgres']).endpoint, {
    mode: 'dnsrr',
    ports: [],
    drainPeriodMs: 5_000,
  });
  // update: switch and back; docker's --endpoint-mode on update too.
  const switched = update(plain, ['--endpoint-mode', 'dnsrr']);
  assert.equal(switched.endpoint.mode, 'dnsrr');
  assert.equal(update(switched, ['--endpoint-mode', 'vip']).endpoint.mode, undefined);
  const flags = (argv: string[]) => parseArgs(argv, UPDATE_FLAGS, { command: 'x' }).flags;
  assert.equal(planServiceUpdate(switched, flags(['--endpoint-mode', 'dnsrr']), {}).changed, false);
  assert.equal(planServiceUpdate(plain, flags(['--endpoint-mode', 'dnsrr']), {}).changed, true);
  const published = create(['--name', 'web', '-p', '8080:80', '--lb-policy', 'random', 'nginx']);
  assert.throws(() => update(published, ['--endpoint-mode', 'dnsrr', '--lb-policy', 'round-robin']), usage(/^invalid --endpoint-mode: port published with ingress mode can't be used with dnsrr mode/));
  assert.throws(() => update(published, ['--endpoint-mode', 'dnsrr', '--publish-rm', '80']), usage(/^invalid --lb-policy: a dnsrr service has no proxy/));
  assert.deepEqual(update(published, ['--endpoint-mode', 'dnsrr', '--publish-rm', '80', '--lb-policy', 'round-robin']).endpoint, { mode: 'dnsrr', ports: [] });
  assert.throws(() => update(switched, ['--publish-add', '80']), usage(/^invalid --endpoint-mode: port published with ingress mode/));
  assert.deepEqual(update(switched, ['--publish-add', 'published=8080,target=80,mode=host']).endpoint.ports, [{ protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'host' }]);
});

test('update: --network-add and --network-rm by id (the command looks names up); re-adding changes nothing', () => {
  const current = create(['--name', 'web', 'nginx']);
  current.taskTemplate.networks = ['nfront0000000000000000000', 'nback00000000000000000000'];
  const ids = new Map([
    ['front', 'nfront0000000000000000000'],
    ['back', 'nback00000000000000000000'],
    ['extra', 'nextra0000000000000000000'],
  ]);
  const plan = (argv: string[], map: ReadonlyMap<string, string> = ids): ReturnType<typeof planServiceUpdate> =>
    planServiceUpdate(current, parseArgs(argv, UPDATE_FLAGS, { command: 'x' }).flags, {}, map);
  assert.deepEqual(plan(['--network-rm', 'front', '--network-add', 'extra']).spec.taskTemplate.networks, ['nback00000000000000000000', 'nextra0000000000000000000']);
  assert.equal(plan(['--network-rm', 'front', '--network-rm', 'back']).spec.taskTemplate.networks, undefined, 'absent when none is left');
  assert.equal(plan(['--network-add', 'front']).changed, false);
  assert.equal(plan(['--network-add', 'nback00000000000000000000']).changed, false, 'by id too');
  assert.equal(plan(['--network-rm', 'extra']).changed, false, 'removing what is not attached is not an error (as other removals)');
  // A name the command did not look up is sent as it is (the manager resolves it) and removes nothing.
  assert.deepEqual(plan(['--network-add', 'name=other'], new Map()).spec.taskTemplate.networks, ['nfront0000000000000000000', 'nback00000000000000000000', 'other']);
  assert.equal(plan(['--network-rm', 'front'], new Map()).changed, false);
  // Both: removed, then added (docker's order), in its place — attached as before, with none of its aliases.
  assert.equal(plan(['--network-add', 'front', '--network-rm', 'nfront0000000000000000000']).changed, false);
  assert.throws(() => plan(['--network-add', '']), usage(/^invalid --network-add "": expected the name or id of a network/));
  assert.throws(() => plan(['--network-rm', 'name=x,alias=y']), usage(/^invalid --network-rm "name=x,alias=y": "alias" is not supported: a network to detach is named alone/));
});

test('update: --network-add name=NET,alias=A adds aliases (attaching if needed); --network-rm drops them; both re-attach with the aliases given', () => {
  const current = create(['--name', 'web', 'nginx']);
  current.taskTemplate.networks = ['nfront', 'nback'];
  current.taskTemplate.networkAliases = { nback: ['db'] };
  const ids = new Map([
    ['front', 'nfront'],
    ['back', 'nback'],
    ['extra', 'nextra'],
  ]);
  const plan = (argv: string[]): ReturnType<typeof planServiceUpdate> => planServiceUpdate(current, parseArgs(argv, UPDATE_FLAGS, { command: 'x' }).flags, {}, ids);
  const tt = (argv: string[]) => plan(argv).spec.taskTemplate;
  assert.deepEqual(tt(['--network-add', 'name=back,alias=primary']).networkAliases, { nback: ['db', 'primary'] }, 'added to those it has');
  assert.equal(plan(['--network-add', 'name=back,alias=DB']).changed, false, 'an alias it has (case aside) changes nothing');
  assert.equal(plan(['--network-add', 'back']).changed, false, 'the network alone: its aliases stay');
  assert.deepEqual(tt(['--network-add', 'name=front,alias=www']).networkAliases, { nfront: ['www'], nback: ['db'] }, 'in the order of the networks');
  const added = tt(['--network-add', 'name=extra,alias=x', '--network-add', 'name=extra,alias=y']);
  assert.deepEqual([added.networks, added.networkAliases], [['nfront', 'nback', 'nextra'], { nback: ['db'], nextra: ['x', 'y'] }]);
  assert.deepEqual([tt(['--network-rm', 'back']).networks, tt(['--network-rm', 'back']).networkAliases], [['nfront'], undefined], 'detached: its aliases with it');
  assert.deepEqual(tt(['--network-rm', 'back', '--network-add', 'name=back,alias=pg']).networkAliases, { nback: ['pg'] }, 'replaced');
  assert.equal(tt(['--network-rm', 'back', '--network-add', 'back']).networkAliases, undefined, 'dropped, the network kept');
  assert.deepEqual(tt(['--network-rm', 'front', '--network-add', 'name=front,alias=www']), { ...current.taskTemplate, networks: ['nfront', 'nback'], networkAliases: { nfront: ['www'], nback: ['db'] } }, 'in its place');
  assert.throws(() => plan(['--network-add', 'name=back,alias=a_b']), usage(/^invalid --network-add "name=back,alias=a_b": "a_b" is not a DNS name/));
  assert.throws(() => plan(['--network-add', 'name=back,driver-opt=a=b']), usage(/driver-opt= is not supported/));
  const full = { ...current, taskTemplate: { ...current.taskTemplate, networkAliases: { nback: Array.from({ length: 32 }, (_, i) => `a${i}`) } } };
  assert.throws(
    () => planServiceUpdate(full, parseArgs(['--network-add', 'name=back,alias=one-more'], UPDATE_FLAGS, { command: 'x' }).flags, {}, ids),
    usage(/^invalid --network-add: at most 32 aliases on one network \(got 33\)$/),
  );
});

test('create: --secret and --config, NAME or docker long form (source/src, target, uid, gid, octal mode); bad ones name the flag', () => {
  const s = create(['--secret', 'db', '--secret', 'src=tls,target=/etc/tls.pem,uid=33,gid=34,mode=0400', '--config', 'SOURCE=app.yml,Mode=0o640', '--config', 'app.yml~2', 'nginx']);
  assert.deepEqual(s.taskTemplate.container.secrets, [
    { id: '', name: 'db', target: '', uid: '0', gid: '0', mode: 0o444 },
    { id: '', name: 'tls', target: '/etc/tls.pem', uid: '33', gid: '34', mode: 0o400 },
  ]);
  assert.deepEqual(s.taskTemplate.container.configs, [
    { id: '', name: 'app.yml', target: '', uid: '0', gid: '0', mode: 0o640 },
    { id: '', name: 'app.yml~2', target: '', uid: '0', gid: '0', mode: 0o444 },
  ]);
  assert.equal(create(['nginx']).taskTemplate.container.secrets, undefined, 'absent when none');
  const bad: [string[], RegExp][] = [
    [['--secret', ''], /^invalid --secret "": expected the name of a secret/],
    [['--secret', 'target=/x'], /^invalid --secret "target=\/x": source= is required: the name of the secret$/],
    [['--secret', 'source=db,mode=400'], /^invalid --secret mode "400": expected an octal file mode with a leading 0, such as 0400 or 0444 \(docker would read 400 as a decimal number: write 0400\)$/],
    [['--secret', 'source=db,mode=01777'], /^invalid --secret mode "01777": a file mode is at most 0777/],
    [['--secret', 'source=db,uid=root'], /^invalid --secret "source=db,uid=root": uid= must be a numeric user id$/],
    [['--secret', 'source=db,source=x'], /source= is given twice/],
    [['--secret', 'source=db,readonly=1'], /unknown option "readonly" \(use source, target, uid, gid, mode\)/],
    [['--config', 'a b'], /^invalid --config "a b": a config name or id is made of letters/],
    [['--secret', 'db', '--secret', 'source=other,target=db'], /^invalid --secret: "\/run\/secrets\/db" is already the target of /],
    [['--config', 'source=c,target=/etc/../x'], /^invalid --config: must be a file name or an absolute file path without "\." or "\.\." parts/],
  ];
  for (const [argv, pattern] of bad) assert.throws(() => create([...argv, 'nginx']), usage(pattern), argv.join(' '));
});

test('update: --secret-add replaces the reference at the same file, --secret-rm removes by name, target or file; the config pair alike', () => {
  const current = validateServiceSpec({
    ...create(['nginx']),
    taskTemplate: {
      ...create(['nginx']).taskTemplate,
      container: {
        ...create(['nginx']).taskTemplate.container,
        secrets: [
          { id: 'sdb000000000000000000000a', name: 'db', target: 'db', uid: '0', gid: '0', mode: 0o444 },
          { id: 'stls00000000000000000000a', name: 'tls', target: '/etc/tls.pem', uid: '0', gid: '0', mode: 0o400 },
        ],
        configs: [{ id: 'capp00000000000000000000a', name: 'app', target: '/app', uid: '0', gid: '0', mode: 0o444 }],
      },
    },
  });
  const plan = (argv: string[]): { spec: ServiceSpec; changed: boolean } => {
    const { flags } = parseArgs(argv, UPDATE_FLAGS, { command: 'flotilla service update' });
    return planServiceUpdate(current, flags, {});
  };
  const names = (p: { spec: ServiceSpec }): string[] => (p.spec.taskTemplate.container.secrets ?? []).map((r) => `${r.id || '?'}:${r.name}:${r.target}`);
  // What the service has already: kept as resolved, no change.
  assert.equal(plan(['--secret-add', 'db']).changed, false);
  assert.equal(plan(['--secret-add', 'source=tls,target=/etc/tls.pem,mode=0400']).changed, false);
  // Another secret at db's file replaces it in place; a new file is appended.
  assert.deepEqual(names(plan(['--secret-add', 'source=db2,target=db'])), ['?:db2:db', 'stls00000000000000000000a:tls:/etc/tls.pem']);
  assert.deepEqual(names(plan(['--secret-add', 'db2'])), ['sdb000000000000000000000a:db:db', 'stls00000000000000000000a:tls:/etc/tls.pem', '?:db2:']);
  for (const rm of ['tls', '/etc/tls.pem', 'stls00000000000000000000a']) assert.deepEqual(names(plan(['--secret-rm', rm])), ['sdb000000000000000000000a:db:db'], rm);
  assert.deepEqual(names(plan(['--secret-rm', '/run/secrets/db'])), ['stls00000000000000000000a:tls:/etc/tls.pem']);
  assert.equal(plan(['--secret-rm', 'nope']).changed, false, 'removing what is not there is no error (docker)');
  const noSecrets = plan(['--secret-rm', 'db', '--secret-rm', 'tls']).spec;
  assert.equal(noSecrets.taskTemplate.container.secrets, undefined);
  assert.deepEqual(plan(['--config-rm', '/app', '--config-add', 'source=other,target=/etc/other']).spec.taskTemplate.container.configs?.map((r) => r.name), ['other']);
  assert.throws(() => plan(['--secret-add', 'db', '--secret-rm', 'db']), usage(/^--secret-add and --secret-rm both name the secret "db": give only one of them$/));
  assert.throws(() => plan(['--secret-rm', '']), usage(/^invalid --secret-rm "": expected the name or target of a secret to remove, got nothing$/));
  assert.throws(() => plan(['--config-add', 'source=x,target=/app/../etc']), usage(/^invalid --config-add: /));
  assert.ok(hasUpdateChanges(parseArgs(['--config-rm', 'app'], UPDATE_FLAGS, { command: 'x' }).flags));
});

// ------------------------------------------------------------ --replicas-max-per-node

test('--replicas-max-per-node: create and update set Placement.maxReplicas; 0 leaves the canonical spec without it', () => {
  const capped = create(['--name', 'web', '--replicas', '5', '--replicas-max-per-node', '2', 'nginx']);
  assert.deepEqual(capped.taskTemplate.placement, { constraints: [], preferences: [], maxReplicas: 2 });
  assert.deepEqual(capped, validateServiceSpec(capped));
  // 0 is docker's default (unlimited): no field, the same spec as without the flag.
  assert.deepEqual(create(['--name', 'web', '--replicas-max-per-node', '0', 'nginx']), create(['--name', 'web', 'nginx']));
  assert.equal(update(capped, ['--replicas-max-per-node', '3']).taskTemplate.placement.maxReplicas, 3);
  const lifted = update(capped, ['--replicas-max-per-node', '0']);
  assert.equal('maxReplicas' in lifted.taskTemplate.placement, false);
  assert.deepEqual(lifted, validateServiceSpec(lifted));
  // Other placement flags keep the limit.
  assert.equal(update(capped, ['--constraint-add', 'node.role==worker']).taskTemplate.placement.maxReplicas, 2);
  const plan = (argv: string[]) => planServiceUpdate(capped, parseArgs(argv, UPDATE_FLAGS, { command: 'x' }).flags, {});
  assert.equal(plan(['--replicas-max-per-node', '2']).changed, false);
  assert.equal(plan(['--replicas-max-per-node', '1']).changed, true);
  assert.equal(hasUpdateChanges(parseArgs(['--replicas-max-per-node', '1'], UPDATE_FLAGS, { command: 'x' }).flags), true);
});

test('--replicas-max-per-node: refused as --replicas is (the same parser), and on global services', () => {
  const refused: [string[], RegExp][] = [
    [['--replicas-max-per-node', '-1', 'busybox'], /^invalid --replicas-max-per-node "-1": expected an integer in 0\.\.100000 \(no sign\)$/],
    [['--replicas-max-per-node', 'two', 'busybox'], /^invalid --replicas-max-per-node "two"/],
    [['--replicas-max-per-node', '100001', 'busybox'], /^invalid --replicas-max-per-node "100001": must be an integer in 0\.\.100000$/],
    [['--replicas-max-per-node', '1', '--mode', 'global', 'busybox'], /^--replicas-max-per-node can only be used with replicated mode$/],
  ];
  for (const [argv, pattern] of refused) assert.throws(() => create(argv), usage(pattern), argv.join(' '));
  const global = create(['--name', 'agent', '--mode', 'global', 'nginx']);
  assert.throws(() => update(global, ['--replicas-max-per-node', '1']), usage(/^service agent is global: --replicas-max-per-node only applies to replicated services$/));
});

test('container labels: --container-label at create, --container-label-add and -rm at update; none is absent', () => {
  const plain = create(['busybox']);
  assert.equal(plain.taskTemplate.container.labels, undefined);
  const spec = create(['--container-label', 'a=1', '--container-label', 'b', 'busybox']);
  assert.deepEqual(spec.taskTemplate.container.labels, { a: '1', b: '' });
  const next = update(spec, ['--container-label-add', 'c=3', '--container-label-rm', 'a', 'svc']);
  assert.deepEqual(next.taskTemplate.container.labels, { b: '', c: '3' });
  assert.equal(update(next, ['--container-label-rm', 'b', '--container-label-rm', 'c', 'svc']).taskTemplate.container.labels, undefined);
  assert.throws(() => create(['--container-label', 'a b=c', 'busybox']), usage(/^invalid --container-label "a b=c": the key contains blanks$/));
  assert.throws(() => update(spec, ['--container-label-add', 'a=2', '--container-label-rm', 'a', 'svc']), usage(/--container-label-add and --container-label-rm/));
});

test('--expose at create, --expose-add and -rm at update (ports, ranges, udp); bad values one line; none is absent', () => {
  assert.equal(create(['busybox']).taskTemplate.container.expose, undefined);
  const spec = create(['--expose', '6379', '--expose', '7000-7001/tcp', '--expose', '53/UDP', '--expose', '6379/tcp', 'busybox']);
  assert.deepEqual(spec.taskTemplate.container.expose, ['6379/tcp', '7000/tcp', '7001/tcp', '53/udp']);
  const next = update(spec, ['--expose-add', '8080', '--expose-rm', '7000-7001', 'svc']);
  assert.deepEqual(next.taskTemplate.container.expose, ['6379/tcp', '53/udp', '8080/tcp']);
  assert.equal(update(next, ['--expose-rm', '6379', '--expose-rm', '53/udp', '--expose-rm', '8080', 'svc']).taskTemplate.container.expose, undefined);
  assert.throws(() => create(['--expose', '0', 'busybox']), usage(/^invalid --expose "0": give PORT\[\/PROTO\] or LO-HI\[\/PROTO\]/));
  assert.throws(() => create(['--expose', '80/sctp', 'busybox']), usage(/^invalid --expose "80\/sctp"/));
  assert.throws(() => create(['--expose', '1-1000', 'busybox']), usage(/a range of at most 100 ports/));
  assert.throws(() => update(spec, ['--expose-add', '80', '--expose-rm', '80/tcp', 'svc']), usage(/--expose-add and --expose-rm both name the port "80\/tcp"/));
});
