// `flotilla events` against the manager's own Control API (in-memory store
// over gRPC, the real Events handler and journal): docker's line and JSON
// shapes, --since/--until in docker's forms, filters with docker's
// semantics, one-line usage errors; and the filter matching itself.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { eventMatches, parseEventFilters, type ClusterEvent } from '../../src/api/events.js';
import { eventJson, eventLine, parseEventTime, rfc3339NanoFixed } from '../../src/cli/events-command.js';
import { startManagerServer, type ManagerServer } from './manager-server.js';

let server: ManagerServer;
before(async () => {
  server = await startManagerServer(() => Date.now(), 'flotilla-cli-events-');
});
after(() => server.stop());

const ev = (type: ClusterEvent['type'], id: string, attributes: Record<string, string>, action: ClusterEvent['action'] = 'update'): ClusterEvent => ({
  type,
  action,
  actor: { id, attributes },
  timeMs: 1_765_000_000_123,
  index: 5,
});

test("the filters: docker's keys, same key OR'ed, different keys AND'ed; service= and node= take ids, names and prefixes, and the tasks", () => {
  const web = ev('service', 'svc123', { name: 'web' }, 'create');
  const db = ev('service', 'svc456', { name: 'db' });
  const task = ev('task', 'tsk1', { name: 'web.1', 'service.id': 'svc123', 'service.name': 'web', 'node.id': 'nd1', 'node.name': 'host-a' });
  const nodeEv = ev('node', 'nd1', { name: 'host-a' });
  const all = [web, db, task, nodeEv];
  const pick = (pairs: [string, string][]): string[] => all.filter((e) => eventMatches(parseEventFilters(pairs), e)).map((e) => e.actor.id);
  assert.deepEqual(pick([]), ['svc123', 'svc456', 'tsk1', 'nd1']);
  assert.deepEqual(pick([['type', 'service']]), ['svc123', 'svc456']);
  assert.deepEqual(pick([['type', 'service'], ['type', 'node']]), ['svc123', 'svc456', 'nd1']);
  assert.deepEqual(pick([['type', 'service'], ['event', 'create']]), ['svc123']);
  assert.deepEqual(pick([['service', 'web']]), ['svc123', 'tsk1']);
  assert.deepEqual(pick([['service', 'svc4']]), ['svc456']);
  assert.deepEqual(pick([['service', 'web'], ['service', 'db']]), ['svc123', 'svc456', 'tsk1']);
  assert.deepEqual(pick([['node', 'host-a']]), ['tsk1', 'nd1']);
  assert.deepEqual(pick([['node', 'nd1'], ['service', 'web']]), ['tsk1']);
  assert.deepEqual(pick([['service', 'nope']]), []);
  assert.throws(() => parseEventFilters([['container', 'x']]), /unknown filter "container"/);
  assert.throws(() => parseEventFilters([['type', 'image']]), /unknown event type "image"/);
  assert.throws(() => parseEventFilters([['event', 'start']]), /unknown event "start"/);
  assert.throws(() => parseEventFilters([['service', '']]), /needs a value/);
});

test("times in docker's forms: durations before now, RFC 3339 and its prefixes, Unix timestamps", () => {
  const now = Date.parse('2026-12-06T05:00:00Z');
  assert.equal(parseEventTime('10m', '--since', now), now - 600_000);
  assert.equal(parseEventTime('1h30m', '--since', now), now - 5_400_000);
  assert.equal(parseEventTime('2026-12-06T04:00:00Z', '--since', now), now - 3_600_000);
  assert.equal(parseEventTime('2026-12-06T05:00:00.25+01:00', '--since', now), now - 3_600_000 + 250);
  assert.equal(parseEventTime(String(now / 1000), '--since', now), now);
  assert.equal(parseEventTime(`${now / 1000}.5`, '--since', now), now + 500);
  assert.equal(parseEventTime('0', '--since', now), 0);
  assert.equal(parseEventTime('2026-12-06', '--since', now), new Date(2026, 11, 6).getTime());
  assert.throws(() => parseEventTime('yesterday', '--since', now), /invalid --since "yesterday"/);
  assert.throws(() => parseEventTime('10 minutes', '--since', now), /invalid --since/);
});

test("docker's line and JSON message", () => {
  const e = ev('service', 'svc123', { name: 'web', 'replicas.old': '1', 'replicas.new': '3' });
  assert.match(eventLine(e), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.123000000(Z|[+-]\d\d:\d\d) service update svc123 \(name=web, replicas.new=3, replicas.old=1\)$/);
  assert.equal(
    eventJson(e),
    '{"Type":"service","Action":"update","Actor":{"ID":"svc123","Attributes":{"name":"web","replicas.new":"3","replicas.old":"1"}},"scope":"swarm","time":1765000000,"timeNano":1765000000123000000}',
  );
  assert.equal(Date.parse(rfc3339NanoFixed(e.timeMs).replace(/(\.\d{3})\d{6}/, '$1')), e.timeMs);
});

test('events against the manager: history with --since/--until, filtered, as lines and JSON; usage errors exit 2', async () => {
  const { ok, cli } = server;
  const t0 = Date.now();
  const id = (await ok(['service', 'create', '-d', '--name', 'web', '--replicas', '2', 'busybox'])).trim();
  await ok(['service', 'scale', '-d', 'web=4']);
  await ok(['service', 'rm', 'web']);
  const until = String((Date.now() + 1) / 1000);
  const json = (await ok(['events', '--since', String(t0 / 1000 - 1), '--until', until, '--format', 'json', '--filter', 'type=service']))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { Type: string; Action: string; Actor: { ID: string; Attributes: Record<string, string> }; scope: string; time: number; timeNano: number });
  assert.deepEqual(
    json.map((m) => [m.Type, m.Action, m.Actor.ID, m.Actor.Attributes['replicas.old'] ?? '', m.Actor.Attributes['replicas.new'] ?? '', m.scope]),
    [
      ['service', 'create', id, '', '', 'swarm'],
      ['service', 'update', id, '2', '4', 'swarm'],
      ['service', 'remove', id, '', '', 'swarm'],
    ],
  );
  assert.ok(json.every((m) => m.Actor.Attributes.name === 'web' && m.time >= Math.floor(t0 / 1000) - 1));
  const lines = (await ok(['events', '--since', '10m', '--until', until, '-f', 'event=create', '-f', 'service=we'])).trim().split('\n');
  assert.equal(lines.length, 1);
  assert.match(lines[0], new RegExp(` service create ${id} \\(name=web\\)$`));
  // docker's template fields (its events.Message).
  const templated = await ok(['events', '--since', '10m', '--until', until, '-f', 'type=service', '--format', '{{.Type}} {{.Action}} {{.Actor.Attributes.name}} {{.Scope}}']);
  assert.equal(templated, 'service create web swarm\nservice update web swarm\nservice remove web swarm\n');
  // Nothing before the service was created.
  assert.equal(await ok(['events', '--since', '1h', '--until', String(t0 / 1000 - 1)]), '');
  for (const [argv, message] of [
    [['events', '-f', 'container=x'], /^flotilla: invalid --filter: unknown filter "container"/],
    [['events', '--since', 'soon'], /^flotilla: invalid --since "soon"/],
    [['events', '--since', '1m', '--until', '1h'], /^flotilla: --since \("1m"\) cannot be after --until \("1h"\)/],
    [['events', '--since', '10m', '--until', until, '--format', '{{.Typo}}'], /^flotilla: template parsing error: .*map has no entry for key "Typo"/],
    [['events', 'extra'], /takes no arguments/],
  ] as const) {
    const r = await cli(argv);
    assert.equal(r.code, 2, argv.join(' '));
    assert.match(r.err, message);
    assert.equal(r.err.split('\n').length, 2, 'one line');
  }
});
