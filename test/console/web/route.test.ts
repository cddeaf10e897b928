// Hash routes and the create form's request.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { href, parseRoute, section } from '../../../src/console/web/route.js';
import { buildCreateRequest, lines, parseReplicas } from '../../../src/console/web/create-request.js';

test('hash routes', () => {
  assert.deepEqual(parseRoute(''), { view: 'cluster' });
  assert.deepEqual(parseRoute('#/'), { view: 'cluster' });
  assert.deepEqual(parseRoute('#/cluster'), { view: 'cluster' });
  assert.deepEqual(parseRoute('#/nodes'), { view: 'nodes' });
  assert.deepEqual(parseRoute('#/nodes/abc'), { view: 'node', id: 'abc' });
  assert.deepEqual(parseRoute('#/services/'), { view: 'services' });
  assert.deepEqual(parseRoute('#/services/new'), { view: 'create-service' });
  assert.deepEqual(parseRoute('#/services/s%20x'), { view: 'service', id: 's x' });
  assert.deepEqual(parseRoute('#/tasks/t1'), { view: 'task', id: 't1' });
  assert.deepEqual(parseRoute('#/events'), { view: 'events' });
  assert.equal(parseRoute('#/tasks').view, 'not-found');
  assert.equal(parseRoute('#/services/a/b').view, 'not-found');
  assert.equal(parseRoute('#/services/%E0%A4%A').view, 'not-found');
  assert.equal(parseRoute('#/nope').view, 'not-found');
  assert.equal(href('services', 'a/b'), '#/services/a%2Fb');
  assert.deepEqual(parseRoute(href('services', 'a/b')), { view: 'service', id: 'a/b' });
  assert.equal(section(parseRoute('#/tasks/x')), 'services');
  assert.equal(section(parseRoute('#/services/new')), 'create-service');
});

const blank = { name: '', image: '', mode: 'replicated', replicas: '', command: '', env: '', publish: '', constraints: '' };

test('the create form becomes the POST body: lines split, blanks dropped, empty fields left out', () => {
  assert.deepEqual(lines(' A=1 \n\n B=2\r\n'), ['A=1', 'B=2']);
  const r = buildCreateRequest({
    ...blank, name: ' web ', image: 'nginx:1.25', replicas: '3', command: 'sh -c "sleep 1"', env: 'A=1\n\nB=2', publish: '8080:80\n', constraints: 'node.role==worker',
  });
  assert.deepEqual(r, {
    request: { name: 'web', image: 'nginx:1.25', mode: 'replicated', replicas: 3, command: 'sh -c "sleep 1"', env: ['A=1', 'B=2'], publish: ['8080:80'], constraints: ['node.role==worker'] },
  });
  assert.deepEqual(buildCreateRequest({ ...blank, image: 'busybox' }), { request: { name: '', image: 'busybox', mode: 'replicated' } });
  assert.deepEqual(buildCreateRequest({ ...blank, image: 'busybox', mode: 'global', replicas: '4' }), { request: { name: '', image: 'busybox', mode: 'global' } }, 'a global service takes no replicas');
  assert.match((buildCreateRequest({ ...blank }) as { error: string }).error, /image is required/);
  assert.match((buildCreateRequest({ ...blank, image: 'x', replicas: '1.5' }) as { error: string }).error, /whole number/);
  assert.match((buildCreateRequest({ ...blank, image: 'x', mode: 'both' }) as { error: string }).error, /replicated or global/);
});

test('the scale input', () => {
  assert.deepEqual(parseReplicas(' 4 '), { replicas: 4 });
  assert.deepEqual(parseReplicas('0'), { replicas: 0 });
  for (const bad of ['', '-1', 'two', '2.5']) assert.ok('error' in parseReplicas(bad), bad);
});
