// The leader's own SessionMessage encoder (src/manager/dispatcher/session-encoding.ts)
// against the generic one: the agent's decoder reads the same message from both.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { configToProto, secretWithDataToProto, taskToProto } from '../../../src/api/convert.js';
import type { control, dispatcher } from '../../../src/api/wire.js';
import { loadDispatcherProto } from '../../../src/api/proto.js';
import { TaskState } from '../../../src/api/objects.js';
import { encodeSessionMessage } from '../../../src/manager/dispatcher/session-encoding.js';
import { config, secret, service, task } from '../store-fixtures.js';

const def = loadDispatcherProto().service.Session;
const generic = (m: dispatcher.SessionMessage__Output): Buffer => def.responseSerialize(m);
const decode = (b: Buffer): unknown => def.responseDeserialize(b);

const web = service('s1', 'web');
web.spec.taskTemplate.container.env = ['A=1', 'B=2'];
web.spec.taskTemplate.container.healthcheck = { test: ['CMD', 'true'], intervalMs: 1000, timeoutMs: 500, retries: 3, startPeriodMs: 0 };
web.spec.taskTemplate.placement.constraints = ['node.role==worker'];
web.spec.taskTemplate.networks = ['net1', 'net2'];
web.spec.taskTemplate.networkAliases = { net2: ['cache', 'db'] };
web.spec.taskTemplate.container.secrets = [{ id: 'sec1', name: 'key', target: 'key', uid: '1000', gid: '0', mode: 0o400 }];
web.spec.taskTemplate.container.configs = [{ id: 'cfg1', name: 'conf', target: '/etc/conf', uid: '0', gid: '0', mode: 0o444 }];
const db = service('s2', 'db');
const status = { state: TaskState.ASSIGNED, message: 'assigned', err: '', timestamp: 7, containerId: '', exitCode: 0, health: 'none' as const };

test('a message with tasks of two services (their templates shared or not), managers and removed ids decodes the same from both encoders', () => {
  const webSpec = taskToProto(task('t0', web, { nodeId: 'n1', status })).spec;
  const tasks = [
    task('t1', web, { nodeId: 'n1', status, slot: 1 }),
    task('t2', db, { nodeId: 'n1', status, slot: 2, desiredState: TaskState.SHUTDOWN }),
    task('t3', web, { nodeId: 'n1', status: { ...status, state: TaskState.RUNNING, containerId: 'c0ffee', health: 'healthy' }, slot: 3 }),
  ].map((t) => taskToProto(t));
  // The dispatcher shares one proto template per stored spec: so do these two.
  tasks[0].spec = webSpec;
  tasks[2].spec = webSpec;
  const msg: dispatcher.SessionMessage__Output = {
    sessionId: 'sess-1',
    managers: [{ id: 'm1', address: '10.0.0.1:4242' }, { id: 'm2', address: '10.0.0.2:4242' }],
    heartbeatPeriodMs: 1000,
    hasAssignments: true,
    tasks,
    incremental: true,
    removedTaskIds: ['gone-1', 'gone-2'],
    more: true,
    secrets: [secretWithDataToProto(secret('sec1', 'key', Buffer.from('hunter2\n').toString('base64')))],
    removedSecretIds: ['sec0'],
    configs: [configToProto(config('cfg1', 'conf'), true)],
    removedConfigIds: ['cfg0'],
    logSubscriptions: [{ id: 'sub1.1', follow: true, sources: [{ taskId: 't1', containerId: 'c0ffee', since: '2024-01-02T03:04:05.000000000Z', hasTail: true, tail: 5 }] }],
    cancelledLogSubscriptions: ['sub0.1'],
    dataPlane: {
      complete: true,
      services: [
        {
          serviceId: 's1',
          name: 'web',
          aliases: ['w'],
          mode: 1,
          networkIds: ['net1'],
          networkAliases: { net1: { aliases: ['www', 'front'] } },
          ports: [{ protocol: 0, targetPort: 80, publishedPort: 30000, publishMode: 0 }],
          lbPolicy: 3,
          proxyProtocol: 2,
          backends: [{ taskId: 't1', nodeId: 'n1', slot: 1, weight: 90, ports: [{ protocol: 0, targetPort: 80, hostIp: '127.0.0.2', hostPort: 41000 }], networks: [{ networkId: 'net1', address: '172.18.0.5' }], engineId: 'E1' }],
        },
      ],
      removedServiceIds: ['s0'],
      hasNetworks: true,
      networks: [{ meta: { id: 'net1', version: 3, createdAt: 1, updatedAt: 2 }, spec: { name: 'front', labels: {}, driver: 'overlay' } }],
      vipBlock: '10.240.1.0/24',
    },
  };
  const ours = encodeSessionMessage(msg);
  assert.deepEqual(decode(ours), decode(generic(msg)));
  // Again, now from the cache of encoded templates.
  assert.deepEqual(decode(encodeSessionMessage(msg)), decode(generic(msg)));
  assert.equal((decode(ours) as { tasks: { spec: { container: { env: string[] } } }[] }).tasks[2].spec.container.env.join(','), 'A=1,B=2');
  const decoded = decode(ours) as dispatcher.SessionMessage__Output;
  assert.equal(decoded.secrets[0].spec?.data.toString(), 'hunter2\n', 'the secret\'s bytes, as bytes');
  assert.deepEqual(decoded.tasks[0].spec?.container?.secrets.map((r) => [r.secretId, r.target, r.uid, r.mode]), [['sec1', 'key', '1000', 0o400]]);
});

test('messages without tasks, and a task without a template, decode the same from both encoders', () => {
  const bare: dispatcher.SessionMessage__Output = { sessionId: 's', managers: [], heartbeatPeriodMs: 0, hasAssignments: false, tasks: [], incremental: false, removedTaskIds: [], more: false, dataPlane: null, secrets: [], removedSecretIds: [], configs: [], removedConfigIds: [], logSubscriptions: [], cancelledLogSubscriptions: [] };
  assert.deepEqual(decode(encodeSessionMessage(bare)), decode(generic(bare)));
  const { spec: _spec, ...t } = taskToProto(task('t9', db, { nodeId: 'n1', status }));
  const noSpec: dispatcher.SessionMessage__Output = { ...bare, hasAssignments: true, tasks: [t as control.Task__Output] };
  assert.deepEqual(decode(encodeSessionMessage(noSpec)), decode(generic(noSpec)));
});
