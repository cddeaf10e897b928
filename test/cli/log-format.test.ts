// `service logs` output and flags as docker's (src/cli/log-format.ts): the
// context column and its padding, -t, --raw, --no-task-ids, --no-trunc,
// --no-resolve; --tail and --since parsing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatLogLine, logContext, parseSince, parseTail, type LogPrintOptions } from '../../src/cli/log-format.js';
import { UsageError } from '../../src/cli/args.js';
import type { control } from '../../src/api/wire.js';

const TASK_ID = 'abcdefghijklmnopqrstuvwxy';
const ctx = (over: Partial<control.LogTaskContext__Output> = {}): control.LogTaskContext__Output => ({
  taskId: TASK_ID,
  serviceId: 'svc0123456789',
  serviceName: 'web',
  slot: 2,
  nodeId: 'node0123456789',
  nodeName: 'worker-1',
  replicas: 3,
  ...over,
});
const plain: LogPrintOptions = { timestamps: false, noTaskIds: false, noTrunc: false, noResolve: false, raw: false };
const line = (data: string, timestamp = '2024-05-06T07:08:09.123456789Z'): control.LogLine__Output => ({ taskId: TASK_ID, stream: 0, timestamp, data });

test('the context: NAME.SLOT.TASKID@NODE, the id cut to 12 characters', () => {
  assert.equal(logContext(ctx(), plain), 'web.2.abcdefghijkl@worker-1');
  assert.equal(logContext(ctx(), { ...plain, noTrunc: true }), `web.2.${TASK_ID}@worker-1`);
  assert.equal(logContext(ctx(), { ...plain, noTaskIds: true }), 'web.2@worker-1');
  assert.equal(logContext(ctx(), { ...plain, noResolve: true }), 'svc0123456789.2.abcdefghijkl@node0123456789');
  // A global service's task: slot 0, as docker prints it.
  assert.equal(logContext(ctx({ slot: 0, replicas: 0 }), plain), 'web.0.abcdefghijkl@worker-1');
  // No names known: the ids.
  assert.equal(logContext(ctx({ serviceName: '', nodeName: '' }), plain), 'svc0123456789.2.abcdefghijkl@node0123456789');
});

test('slots are padded to the width of the replica count, so that the | lines up', () => {
  const ten = (slot: number): string => formatLogLine(line('x'), ctx({ slot, replicas: 10 }), plain);
  assert.equal(ten(2), 'web.2.abcdefghijkl@worker-1     | x\n');
  assert.equal(ten(10), 'web.10.abcdefghijkl@worker-1    | x\n');
  assert.equal(ten(2).indexOf('|'), ten(10).indexOf('|'));
  // One task asked for (replicas 0): no padding.
  assert.equal(formatLogLine(line('x'), ctx({ slot: 12, replicas: 0 }), plain), 'web.12.abcdefghijkl@worker-1    | x\n');
});

test('-t puts the engine timestamp first; --raw prints the line alone', () => {
  assert.equal(formatLogLine(line('hello'), ctx(), { ...plain, timestamps: true }), '2024-05-06T07:08:09.123456789Z web.2.abcdefghijkl@worker-1    | hello\n');
  assert.equal(formatLogLine(line('hello'), ctx(), { ...plain, raw: true }), 'hello\n');
  assert.equal(formatLogLine(line('hello'), ctx(), { ...plain, raw: true, timestamps: true }), '2024-05-06T07:08:09.123456789Z hello\n');
  // A line whose task was never described: its id.
  assert.equal(formatLogLine(line(''), undefined, plain), 'abcdefghijkl    | \n');
});

test('--tail: all or a number of lines; anything else is a usage error', () => {
  assert.equal(parseTail('all'), undefined);
  assert.equal(parseTail('0'), 0);
  assert.equal(parseTail('25'), 25);
  for (const bad of ['-1', '1.5', 'x', '', ' 5', '99999999999999999999']) assert.throws(() => parseTail(bad), (e: unknown) => e instanceof UsageError && /^invalid --tail /.test(e.message), bad);
});

test('--since: durations back from now, RFC 3339 and shorter times, Unix timestamps', () => {
  const now = Date.UTC(2024, 0, 2, 12, 0, 0);
  assert.equal(parseSince('10m', now), now - 600_000);
  assert.equal(parseSince('1h30m', now), now - 5_400_000);
  assert.equal(parseSince('1.5s', now), now - 1_500);
  assert.equal(parseSince('2013-01-02T13:23:37Z', now), Date.UTC(2013, 0, 2, 13, 23, 37));
  assert.equal(parseSince('2013-01-02T13:23:37.123456789Z', now), Date.UTC(2013, 0, 2, 13, 23, 37, 123));
  assert.equal(parseSince('2013-01-02T13:23:37+02:00', now), Date.UTC(2013, 0, 2, 11, 23, 37));
  assert.equal(parseSince('2013-01-02T13:23:37-01:30', now), Date.UTC(2013, 0, 2, 14, 53, 37));
  // Without a zone: local time, as docker reads it.
  assert.equal(parseSince('2013-01-02', now), new Date(2013, 0, 2).getTime());
  assert.equal(parseSince('2013-01-02T13:23', now), new Date(2013, 0, 2, 13, 23).getTime());
  assert.equal(parseSince('1356999817', now), 1_356_999_817_000);
  assert.equal(parseSince('1356999817.25', now), 1_356_999_817_250);
  assert.equal(parseSince('0', now), 0);
  for (const bad of ['yesterday', '', '2013-13-02', '2013-02-30T00:00:00Z', '2013-01-02T25:00', '-5m', '10 m']) {
    assert.throws(() => parseSince(bad, now), (e: unknown) => e instanceof UsageError && /^invalid --since /.test(e.message), bad);
  }
});
