// HOST:PORT helpers and the default address published ports bind on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultMetricsAddr, defaultPublishAddr, isHostPort, isIPv4Loopback, splitHostPort } from '../../src/common/address.js';

test('defaultPublishAddr: a loopback advertise host binds itself (nodes on one host do not clash), anything else 0.0.0.0', () => {
  for (const host of ['127.0.0.1', '127.0.0.140', '127.1.2.3', '127.255.255.255']) assert.equal(defaultPublishAddr(host), host);
  for (const host of ['10.0.0.5', '192.168.1.20', '0.0.0.0', '128.0.0.1', '1.127.0.0', 'localhost', 'node-1', '127.0.0.1.nip.io', '127.0.0', '127.0.0.256', '127.00.0.1', '::1', '[::1]', '']) {
    assert.equal(defaultPublishAddr(host), '0.0.0.0', host);
  }
});

test('defaultMetricsAddr: a loopback advertise host serves metrics on itself, anything else on 127.0.0.1 (never beyond the host); port 9324', () => {
  assert.equal(defaultMetricsAddr('127.0.0.140'), '127.0.0.140:9324');
  for (const host of ['10.0.0.5', '0.0.0.0', 'node-1', '::1', '']) assert.equal(defaultMetricsAddr(host), '127.0.0.1:9324', host);
});

test('isIPv4Loopback: dotted quads in 127.0.0.0/8 only', () => {
  assert.ok(isIPv4Loopback('127.0.0.1'));
  assert.ok(!isIPv4Loopback('127.0.0.1:4242'));
  assert.ok(!isIPv4Loopback(' 127.0.0.1'));
  assert.ok(!isIPv4Loopback('127.0.0.01'));
});

test('splitHostPort and isHostPort', () => {
  assert.deepEqual(splitHostPort('10.0.0.1:4242'), { host: '10.0.0.1', port: 4242 });
  assert.deepEqual(splitHostPort('[::1]:80'), { host: '[::1]', port: 80 });
  assert.deepEqual(splitHostPort('node-1'), { host: 'node-1', port: undefined });
  assert.equal(splitHostPort('a b:1'), null);
  assert.ok(isHostPort('h:1'));
  assert.ok(!isHostPort('h:0'));
  assert.ok(!isHostPort('h'));
});
