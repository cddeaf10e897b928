// Property-based fuzzing of the CLI's flag parsing: generated argv for
// `service create`, `service update`, `service rollback`, `service promote`,
// `service scale`, `node update`, `cluster update`, and `secret|config
// create|rotate` (flags from the commands' FlagSpec tables, values by
// metavar mixed with hostile strings; see ./argv.ts), run through main()
// against the in-test FakeControl on a unix socket, and for create/update also
// through the pure parsing functions (parseArgs + buildCreateSpec /
// applyServiceUpdate), which give the exact error type.
//
// Invariants:
// - untyped-error         every failure is a UsageError or the CLI's own typed
//                         error (CliError, RpcError), never a TypeError,
//                         RangeError, ... ("flotilla: unexpected error: ...")
// - error-not-one-line / error-control-chars
//                         the message is one line ("flotilla: ...") without
//                         line separators or terminal control characters
// - error-echoes-argument / error-too-long
//                         it quotes at most ~100 characters of any argument
//                         (and is < 600 characters even for a 10 KB argument)
// - bad-exit-code         1 for failures, 2 for usage errors
// - server-internal       a spec the CLI sent was refused INTERNAL by the fake
//                         (the manager's converters and validators)
// - cli-spec-breaks-server an accepted argv yields a spec that, through the
//                         wire, the store validator accepts or refuses with a
//                         ValidationError (INVALID_ARGUMENT)
// - lenient-number / lenient-enum
//                         an accepted number is plain ASCII digits, an accepted
//                         enum is exactly one of its (lower-case) words
// - flag-not-applied      what was sent is what the flags said
// - cli-hangs             main() resolves within 15 s
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { parseArgs, UsageError, type Flags, type FlagSpec } from '../../src/cli/args.js';
import { CLUSTER_GROUP } from '../../src/cli/cluster-commands.js';
import { CONNECTION_FLAGS, findCommand, HELP_FLAG, loadGroup, type CommandDef, type CommandGroup } from '../../src/cli/command.js';
import { CliError, RpcError } from '../../src/cli/errors.js';
import { main } from '../../src/cli/main.js';
import { NODE_GROUP, nodeChangeFromFlags, planNodeUpdate } from '../../src/cli/node-commands.js';
import { SERVICE_GROUP as SERVICE_GROUP_LISTED } from '../../src/cli/service-commands.js';
import { SECRET_GROUP } from '../../src/cli/secret-commands.js';
import { CONFIG_GROUP } from '../../src/cli/config-commands.js';
import { applyServiceUpdate, buildCreateSpec, planServiceUpdate } from '../../src/cli/service-spec.js';
import { serviceSpecFromProto, serviceSpecToProto } from '../../src/api/convert.js';
import type { control } from '../../src/api/wire.js';
import type { ServiceSpec } from '../../src/api/objects.js';
import { ValidationError } from '../../src/api/input.js';
import { FakeControl } from '../cli/fake-control.js';
import { cluster, node, serviceSpec } from '../manager/store-fixtures.js';
import { ENUM_FLAGS, flagTokenArb, renderToken, type FlagToken } from './argv.js';
import { HUGE, nastyString, numberText } from './nasty.js';
import { decodeLikeServer, loadRoot } from './proto.js';
import { echoedInput, formatFindings, fuzzProperty, fuzzSettings, summaryLine, type PropertyOutcome, type Violation } from './runner.js';

const settings = fuzzSettings();
const log = (s: string): void => console.log(`# fuzz cli: ${s}`);
const dir = mkdtempSync(join(tmpdir(), 'flotilla-fuzz-cli-'));
const socket = join(dir, 'control.sock');
/** A FILE for `secret create` / `config create` (a few bytes). */
const DATA_FILE = join(dir, 'data');
writeFileSync(DATA_FILE, 'fz-data');
const fake = new FakeControl();
const outcomes: PropertyOutcome[] = [];
const t0 = Date.now();
const ENV = { HOME: '/root', A: 'from-env' };
const RUNS = 400;

const M1 = 'm1aaaaaaaaaaaaaaaaaaaaaaa';
const W1 = 'w1ccccccccccccccccccccccc';
const WEB = 'sweb0aaaaaaaaaaaaaaaaaaaa';
const GLOB = 'sglob0aaaaaaaaaaaaaaaaaaa';

function webSpec(): ServiceSpec {
  const s = serviceSpec('web');
  s.labels = { tier: 'web', zone: 'a' };
  s.taskTemplate.container.env = ['A=1', 'B=2'];
  s.taskTemplate.container.mounts = [{ type: 'volume', source: 'data', target: '/data', readOnly: false }];
  s.taskTemplate.placement = { constraints: ['node.role==worker'], preferences: [{ spread: 'node.labels.zone' }] };
  s.endpoint = { ports: [{ protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'ingress' }] };
  return s;
}

/** The fake's state at the start of every case. */
function reset(): void {
  fake.reset();
  fake.addNode(node(M1, { role: 'manager', description: { ...node(M1).description, hostname: 'node-1' }, managerStatus: { raftId: M1, addr: '10.0.0.1:4242', leader: true, reachability: 'reachable' } }));
  fake.addNode(node(W1, { description: { ...node(W1).description, hostname: 'node-2' }, labels: { zone: 'a' } }));
  // web has a spec to roll back to, and canaries awaiting promotion (issue 15's commands succeed on it).
  const status = { state: 'updating' as const, startedAt: 1, completedAt: 0, message: 'canaries healthy', startVersion: 0, canary: 'awaiting_promotion' as const };
  fake.addService({ id: WEB, version: 0, createdAt: 0, updatedAt: 0, spec: webSpec(), specVersion: 0, previousSpec: serviceSpec('web'), updateStatus: status });
  fake.addService({ id: GLOB, version: 0, createdAt: 0, updatedAt: 0, spec: serviceSpec('glob', { mode: { global: {} } }), specVersion: 0 });
  fake.cluster = cluster('c1', 'default');
  fake.info = { leaderId: M1, leaderAddr: '10.0.0.1:4242', selfId: M1, term: 3, managers: [{ nodeId: M1, raftId: M1, addr: '10.0.0.1:4242', leader: true, reachability: 2 }] };
}

// ------------------------------------------------------------ commands

// The service group with its lazily loaded subcommands (create, update ...) loaded.
const SERVICE_GROUP = await loadGroup(SERVICE_GROUP_LISTED);

interface Target {
  group: CommandGroup;
  sub: string;
  def: CommandDef;
  /** The flags the parser knows for it (the command's, the connection flags, --help). */
  all: FlagSpec[];
  /** The flags fuzzed: all but those that would leave the test's sandbox or wait (--host, --data-dir, --detach, --help). */
  fuzzed: FlagSpec[];
  positionals: fc.Arbitrary<string[]>;
  detach: boolean;
}

function commandTarget(group: CommandGroup, sub: string, positionals: fc.Arbitrary<string[]>): Target {
  const def = findCommand(group, sub);
  if (!def || 'load' in def) throw new Error(`no command ${group.name} ${sub} (or not loaded: loadGroup)`);
  const all = [...def.flags, ...CONNECTION_FLAGS, HELP_FLAG];
  const fuzzed = all.filter((s) => !['host', 'data-dir', 'detach', 'help'].includes(s.name));
  return { group, sub, def, all, fuzzed, positionals, detach: def.flags.some((f) => f.name === 'detach') };
}

const some = (a: fc.Arbitrary<string>, min = 0, max = 2): fc.Arbitrary<string[]> => fc.array(a, { minLength: min, maxLength: max });
const serviceRefs = fc.oneof({ weight: 4, arbitrary: fc.constantFrom('web', 'glob', WEB, 'sweb', 's', 'nope') }, { weight: 1, arbitrary: nastyString({ maxLength: 12 }) });

const TARGETS: Target[] = [
  commandTarget(
    SERVICE_GROUP,
    'create',
    fc.tuple(fc.oneof({ weight: 4, arbitrary: fc.constantFrom('busybox', 'busybox:latest', 'alpine:3.19', 'BUSYBOX', 'busybox:', HUGE.k10) }, { weight: 1, arbitrary: nastyString() }), some(nastyString())).map(([i, a]) => [i, ...a]),
  ),
  commandTarget(SERVICE_GROUP, 'update', fc.oneof({ weight: 6, arbitrary: serviceRefs.map((r) => [r]) }, { weight: 1, arbitrary: some(serviceRefs, 0, 2) })),
  commandTarget(
    SERVICE_GROUP,
    'scale',
    some(
      fc.oneof(
        { weight: 4, arbitrary: fc.tuple(serviceRefs, numberText(['0', '1', '3', '100000', '100001'])).map(([s, n]) => `${s}=${n}`) },
        { weight: 1, arbitrary: nastyString() },
      ),
      1,
      3,
    ),
  ),
  commandTarget(SERVICE_GROUP, 'rollback', fc.oneof({ weight: 6, arbitrary: serviceRefs.map((r) => [r]) }, { weight: 1, arbitrary: some(serviceRefs, 0, 2) })),
  commandTarget(SERVICE_GROUP, 'promote', fc.oneof({ weight: 6, arbitrary: serviceRefs.map((r) => [r]) }, { weight: 1, arbitrary: some(serviceRefs, 0, 2) })),
  commandTarget(NODE_GROUP, 'update', fc.oneof({ weight: 6, arbitrary: fc.constantFrom('node-2', W1, 'w1', 'node-1', 'node', 'nope').map((r) => [r]) }, { weight: 1, arbitrary: some(nastyString({ maxLength: 12 }), 0, 2) })),
  commandTarget(CLUSTER_GROUP, 'update', fc.oneof({ weight: 8, arbitrary: fc.constant<string[]>([]) }, { weight: 1, arbitrary: some(nastyString(), 1, 1) })),
  // Issue 17: NAME FILE|- (the fake has no secrets or configs: what is checked is how the CLI refuses).
  ...[SECRET_GROUP, CONFIG_GROUP].flatMap((g) =>
    ['create', 'rotate'].map((sub) =>
      commandTarget(
        g,
        sub,
        fc.oneof(
          { weight: 6, arbitrary: fc.tuple(fc.oneof(fc.constantFrom('db', 'db~1', 'a'.repeat(64), 'DB'), nastyString()), fc.constantFrom('-', '/nonexistent', dir, DATA_FILE)) },
          { weight: 1, arbitrary: some(nastyString(), 0, 3) },
        ),
      ),
    ),
  ),
];

interface Input {
  tokens: FlagToken[];
  positionals: string[];
}

function inputArb(t: Target): fc.Arbitrary<Input> {
  // One flag alone (each flag's parsing in isolation, so that an accepted value is seen), or several.
  const tok = flagTokenArb(t.fuzzed);
  return fc.record({ tokens: fc.oneof(fc.array(tok, { minLength: 1, maxLength: 1 }), fc.array(tok, { maxLength: 6 })), positionals: t.positionals });
}

function commandArgv(t: Target, input: Input): string[] {
  return [...(t.detach ? ['-d'] : []), ...input.tokens.flatMap((tok) => renderToken(tok, t.all)), ...input.positionals];
}

// ------------------------------------------------------------ checks

const controlRoot = loadRoot();
const protoServiceSpec = controlRoot.lookupType('flotilla.control.ServiceSpec');

/** A spec the CLI built, through the wire as the manager would read it (proto-loader's serializer: fromObject, encode). */
function serverView(spec: ServiceSpec): unknown {
  const bytes = protoServiceSpec.encode(protoServiceSpec.fromObject(serviceSpecToProto(spec) as unknown as Record<string, unknown>)).finish();
  return decodeLikeServer(protoServiceSpec, bytes);
}

// eslint-disable-next-line no-control-regex -- looking for control characters is the point
const CONTROL_CHARS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;
// eslint-disable-next-line no-control-regex -- line breaks, vertical tab and form feed
const LINE_BREAKS = /[\n\r\u2028\u2029\u0085\u000b\u000c]/;

function checkMessage(line: string, argv: readonly string[], v: (k: string, m: string) => void): void {
  // `service scale a=1 b=2` reports each target that failed on its own line, as docker's does: one line per item.
  const at = argv.indexOf('scale');
  const items = at > 0 && argv[at - 1] === 'service' ? argv.slice(at + 1).filter((a) => !a.startsWith('-') && a.includes('=')).length : 1;
  const lines = line.replace(/\n$/, '').split('\n');
  if (items > 1 && lines.length > 1 && lines.length <= items && lines.every((l) => /^flotilla: /.test(l))) {
    for (const l of lines) checkMessage(l, argv, v);
    return;
  }
  const body = line.replace(/\n$/, '');
  if (!/^flotilla: /.test(body) || LINE_BREAKS.test(body)) v('error-not-one-line', `stderr is not one "flotilla: ..." line: ${JSON.stringify(body.slice(0, 300))}`);
  else if (CONTROL_CHARS.test(body)) v('error-control-chars', `the message carries control characters: ${JSON.stringify(body.slice(0, 300))}`);
  if (/^flotilla: unexpected error: /.test(body)) v('untyped-error', `an untyped error reached the user: ${body.slice(0, 300)}`);
  if (/internal error/i.test(body)) v('server-internal', `the request got INTERNAL: ${body.slice(0, 300)}`);
  const echo = echoedInput(body, argv);
  if (echo) v('error-echoes-argument', `the message quotes ${echo} (${body.length} characters)`);
  else if (body.length > 600) v('error-too-long', `the message has ${body.length} characters`);
}

/** Strictness of accepted values: numbers are ASCII digits, enums exact words. */
function checkStrict(t: Target, flags: Flags, v: (k: string, m: string) => void): void {
  for (const spec of t.def.flags) {
    const value = flags.str(spec.name);
    if (value === undefined) continue;
    if (spec.metavar === 'N' && !/^[0-9]+$/.test(value)) v('lenient-number', `--${spec.name} ${JSON.stringify(value)} was accepted as a number`);
    const choices = ENUM_FLAGS[spec.name];
    if (choices && !choices.includes(value)) v('lenient-enum', `--${spec.name} ${JSON.stringify(value)} was accepted (the words are ${choices.join(', ')})`);
  }
}

function loose(value: string): string {
  return value.trim().toLowerCase();
}

/**
 * Whether the flags change nothing on the object the command names (then the CLI sends nothing: the manager would
 * write nothing either), by the CLI's own pure planners.
 */
function changesNothing(name: string, flags: Flags, positionals: readonly string[]): boolean {
  const ref = positionals[positionals.length - 1] ?? '';
  try {
    if (name === 'service update') {
      const svc = [...fake.services.values()].find((x) => x.id === ref || x.spec.name === ref) ?? [...fake.services.values()].find((x) => ref !== '' && x.id.startsWith(ref));
      return svc !== undefined && !planServiceUpdate(svc.spec, flags, {}).changed;
    }
    if (name === 'node update') {
      const n = [...fake.nodes.values()].find((x) => x.id === ref || x.description.hostname === ref) ?? [...fake.nodes.values()].find((x) => ref !== '' && x.id.startsWith(ref));
      return n !== undefined && planNodeUpdate(n, nodeChangeFromFlags(flags)) === null;
    }
  } catch {
    return false;
  }
  return false;
}

/** What the command sent matches its flags. */
function checkApplied(t: Target, flags: Flags, positionals: readonly string[], v: (k: string, m: string) => void): void {
  const calls = fake.calls.filter((c) => ['CreateService', 'UpdateService', 'PromoteService', 'UpdateNode', 'UpdateCluster'].includes(c.method));
  const req = calls[calls.length - 1]?.request as Record<string, unknown> | undefined;
  const name = `${t.group.name} ${t.sub}`;
  if (!req) {
    if (name !== 'service scale' && !changesNothing(name, flags, positionals)) v('flag-not-applied', `${name} succeeded without sending a change`);
    return;
  }
  if ((name === 'service rollback' || (name === 'service update' && flags.bool('rollback'))) && (req.rollback !== true || req.spec)) {
    v('flag-not-applied', `${name} sent ${JSON.stringify(req).slice(0, 200)}, not a rollback without a spec`);
  }
  if (name === 'service promote' && calls[calls.length - 1]?.method !== 'PromoteService') v('flag-not-applied', 'service promote sent no PromoteService');
  const replicas = flags.str('replicas');
  if ((name === 'service create' || name === 'service update') && replicas !== undefined) {
    const mode = ((req.spec as Record<string, unknown>)?.mode ?? {}) as { replicated?: { replicas?: number } };
    if (mode.replicated?.replicas !== Number(replicas.trim())) v('flag-not-applied', `--replicas ${JSON.stringify(replicas)} sent ${JSON.stringify(mode)}`);
  }
  const maxPerNode = flags.str('replicas-max-per-node');
  if ((name === 'service create' || name === 'service update') && maxPerNode !== undefined) {
    const placement = (((req.spec as Record<string, unknown>)?.taskTemplate ?? {}) as { placement?: { maxReplicas?: number } }).placement ?? {};
    // The wire carries 0 (no limit) as 0 or not at all.
    if ((placement.maxReplicas ?? 0) !== Number(maxPerNode.trim())) v('flag-not-applied', `--replicas-max-per-node ${JSON.stringify(maxPerNode)} sent ${JSON.stringify(placement)}`);
  }
  if (name === 'node update') {
    for (const [flag, field, has] of [['availability', 'availability', 'hasAvailability'], ['role', 'role', 'hasRole']] as const) {
      const value = flags.str(flag);
      if (value === undefined) continue;
      const want = ENUM_FLAGS[flag].indexOf(loose(value));
      if (req[has] !== true || req[field] !== want) v('flag-not-applied', `--${flag} ${JSON.stringify(value)} sent ${field}=${String(req[field])}, ${has}=${String(req[has])}`);
    }
  }
  if (name === 'cluster update') {
    const spec = (req.spec ?? {}) as { dispatcher?: { heartbeatGrace?: number }; orchestration?: { taskHistoryRetention?: number } };
    const grace = flags.str('heartbeat-grace');
    if (grace !== undefined && spec.dispatcher?.heartbeatGrace !== Number(grace.trim())) v('flag-not-applied', `--heartbeat-grace ${JSON.stringify(grace)} sent ${String(spec.dispatcher?.heartbeatGrace)}`);
    const hist = flags.str('task-history-limit');
    if (hist !== undefined && spec.orchestration?.taskHistoryRetention !== Number(hist.trim())) v('flag-not-applied', `--task-history-limit ${JSON.stringify(hist)} sent ${String(spec.orchestration?.taskHistoryRetention)}`);
  }
}

/** The pure path of service create / update: parseArgs, then the spec builder. */
function checkPure(t: Target, argv: string[], v: (k: string, m: string) => void): void {
  let spec: ServiceSpec;
  try {
    const { flags, positionals } = parseArgs(argv, t.all, { command: `flotilla service ${t.sub}`, stopAtPositional: t.def.stopAtPositional });
    if (t.sub === 'create') {
      if (positionals.length < 1) return;
      spec = buildCreateSpec(positionals[0], positionals.slice(1), flags, ENV, () => 'web-fuzz');
    } else {
      spec = applyServiceUpdate(webSpec(), flags, ENV);
    }
  } catch (err) {
    if (err instanceof UsageError || err instanceof CliError || err instanceof RpcError) return;
    v('untyped-error', `service ${t.sub}'s parser threw ${err instanceof Error ? `${err.name}: ${err.message.slice(0, 200)}` : String(err)}`);
    return;
  }
  try {
    serviceSpecFromProto(serverView(spec) as control.ServiceSpec__Output);
  } catch (err) {
    if (!(err instanceof ValidationError)) v('cli-spec-breaks-server', `the spec the CLI built, read by the manager, threw ${String(err).slice(0, 300)}`);
  }
}

async function runCase(t: Target, input: Input): Promise<Violation[]> {
  reset();
  const cmdArgv = commandArgv(t, input);
  const argv = ['--host', `unix://${socket}`, t.group.name, t.sub, ...cmdArgv];
  const out: Violation[] = [];
  const shown = (): string => {
    const s = JSON.stringify(['flotilla', t.group.name, t.sub, ...cmdArgv]);
    return s.length > 600 ? `${s.slice(0, 600)}… (${s.length} chars)` : s;
  };
  const v = (key: string, message: string): void => void out.push({ key, message: `${message}\n  argv: ${shown()}` });
  if (t.group.name === 'service' && (t.sub === 'create' || t.sub === 'update')) checkPure(t, cmdArgv, v);
  let stderr = '';
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([
    main(argv, { out: () => undefined, err: (s) => void (stderr += s), env: ENV, now: () => Date.now() }),
    new Promise<'hang'>((r) => (timer = setTimeout(() => r('hang'), 15_000))),
  ]);
  clearTimeout(timer);
  if (code === 'hang') {
    v('cli-hangs', 'main() did not return within 15 s');
    return out;
  }
  if (code !== 0) {
    if (code !== 1 && code !== 2) v('bad-exit-code', `exit code ${code}`);
    checkMessage(stderr, argv, v);
    return out;
  }
  if (stderr !== '') checkMessage(stderr, argv, v);
  let parsed: Flags;
  let positionals: string[];
  try {
    ({ flags: parsed, positionals } = parseArgs(cmdArgv, t.all, { command: 'x', stopAtPositional: t.def.stopAtPositional }));
  } catch {
    return out;
  }
  if (parsed.bool('help')) return out;
  checkStrict(t, parsed, v);
  checkApplied(t, parsed, positionals, v);
  return out;
}

// ------------------------------------------------------------ the tests

before(async () => {
  await fake.start(`unix://${socket}`);
});

after(async () => {
  await fake.stop();
  rmSync(dir, { recursive: true, force: true });
  const failing = outcomes.flatMap((o) => o.findings);
  log(summaryLine('cli', settings, outcomes, Date.now() - t0));
  if (failing.length > 0) log(`failing invariants:\n${formatFindings(failing)}`);
});

for (const t of TARGETS) {
  test(`flotilla ${t.group.name} ${t.sub}: generated argv`, { timeout: 600_000 }, async () => {
    const o = await fuzzProperty(`cli ${t.group.name} ${t.sub}`, inputArb(t), (input) => runCase(t, input), { settings, runs: RUNS });
    outcomes.push(o);
    log(`${o.property}: ${o.cases} cases, ${o.findings.length} failing invariants, ${(o.ms / 1000).toFixed(1)} s`);
    assert.equal(o.findings.length, 0, `\n${formatFindings(o.findings)}`);
  });
}
