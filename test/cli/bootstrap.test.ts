// The flags of `init`, `join` and `daemon` for service networking: the
// cluster's data plane ranges (--vip-pool, --vip-pool-mask-length,
// --published-port-range) and where a node binds published ports
// (--publish-addr, kept in node.json). Nothing here starts a daemon: bad
// flags fail before the data dir is touched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../../src/cli/args.js';
import { parseNetworkConfigFlags, parsePublishAddr, runDaemon, runInit, runJoin, saveNodeSettings } from '../../src/cli/bootstrap.js';
import { DEFAULT_NETWORK_CONFIG } from '../../src/api/validate.js';
import { loadState, saveState, type NodeState } from '../../src/daemon/state.js';

function usage(pattern: RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof UsageError, `expected a UsageError, got ${String(err)}`);
    assert.match(err.message, pattern);
    assert.ok(!err.message.includes('\n'), 'one line');
    return true;
  };
}

/** Run a bootstrap command with stdout and stderr captured. */
async function capture(run: () => Promise<number>): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const o = process.stdout.write.bind(process.stdout);
  const e = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string) => ((out += s), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => ((err += s), true)) as typeof process.stderr.write;
  try {
    return { code: await run(), out, err };
  } finally {
    process.stdout.write = o;
    process.stderr.write = e;
  }
}

test('--vip-pool, --vip-pool-mask-length, --published-port-range: the cluster spec\'s network, defaults for what is not given', () => {
  assert.equal(parseNetworkConfigFlags({}), undefined);
  assert.deepEqual(parseNetworkConfigFlags({ 'vip-pool': '10.10.0.0/16' }), { ...DEFAULT_NETWORK_CONFIG, vipPool: '10.10.0.0/16' });
  assert.deepEqual(parseNetworkConfigFlags({ 'vip-pool': '172.20.0.0/14', 'vip-pool-mask-length': '26', 'published-port-range': '20000-20099' }), {
    vipPool: '172.20.0.0/14',
    vipPoolMaskLength: 26,
    publishedPortRangeStart: 20000,
    publishedPortRangeEnd: 20099,
  });
  assert.deepEqual(parseNetworkConfigFlags({ 'published-port-range': '8080-8080' }), { ...DEFAULT_NETWORK_CONFIG, publishedPortRangeStart: 8080, publishedPortRangeEnd: 8080 });
  const bad: [Record<string, string>, RegExp][] = [
    [{ 'vip-pool': '10.240.0.0' }, /^invalid --vip-pool "10\.240\.0\.0": expected an IPv4 range in CIDR notation such as 10\.240\.0\.0\/16$/],
    [{ 'vip-pool': '' }, /^invalid --vip-pool "": expected an IPv4 range/],
    [{ 'vip-pool': '10.240.300.0/16' }, /^invalid --vip-pool/],
    [{ 'vip-pool': 'fd00::/64' }, /^invalid --vip-pool "fd00::\/64": expected an IPv4 range/],
    [{ 'vip-pool': '10.240.5.0/16' }, /^invalid --vip-pool "10\.240\.5\.0\/16": the address has bits set beyond the \/16: did you mean 10\.240\.0\.0\/16\?$/],
    [{ 'vip-pool': '10.240.0.0/24' }, /^invalid --vip-pool-mask-length: must be longer than the pool's \/24 and at most 30 \(got 24\)$/],
    [{ 'vip-pool-mask-length': '16' }, /^invalid --vip-pool-mask-length: must be longer than the pool's \/16/],
    [{ 'vip-pool-mask-length': '31' }, /^invalid --vip-pool-mask-length "31": must be an integer in 1\.\.30$/],
    [{ 'vip-pool-mask-length': '0' }, /^invalid --vip-pool-mask-length "0": must be an integer in 1\.\.30$/],
    [{ 'vip-pool-mask-length': '/24' }, /^invalid --vip-pool-mask-length "\/24": expected an integer/],
    [{ 'published-port-range': '30000' }, /^invalid --published-port-range "30000": expected START-END, such as 30000-32767$/],
    [{ 'published-port-range': '30000-' }, /^invalid --published-port-range "30000-": the end must be a port number in 1\.\.65535$/],
    [{ 'published-port-range': '0-100' }, /^invalid --published-port-range "0-100": the start must be a port number in 1\.\.65535$/],
    [{ 'published-port-range': '1-65536' }, /the end must be a port number in 1\.\.65535$/],
    [{ 'published-port-range': ' 1-2' }, /the start must be a port number in 1\.\.65535 \(no blanks around it\)$/],
    [{ 'published-port-range': '32767-30000' }, /^invalid --published-port-range: the published port range ends before it starts \(32767-30000\)$/],
    [{ 'published-port-range': '1-2-3' }, /expected START-END/],
  ];
  for (const [flags, pattern] of bad) assert.throws(() => parseNetworkConfigFlags(flags), usage(pattern), JSON.stringify(flags));
});

test('--publish-addr: an IP address (v4, or v6 with or without brackets), nothing else', () => {
  assert.equal(parsePublishAddr(undefined), undefined);
  for (const ok of ['0.0.0.0', '10.0.0.5', '127.0.0.2', '::', '::1', 'fd00::1']) assert.equal(parsePublishAddr(ok), ok);
  assert.equal(parsePublishAddr('[::1]'), '::1');
  assert.throws(() => parsePublishAddr('10.0.0.5:8080'), usage(/^invalid --publish-addr "10\.0\.0\.5:8080": give the address alone: published ports keep their own numbers$/));
  for (const bad of ['', 'localhost', 'eth0', '10.0.0', '10.0.0.256', ' 10.0.0.5', '[10.0.0.5]', '*']) {
    assert.throws(() => parsePublishAddr(bad), usage(/^invalid --publish-addr "[^"]*": expected an IP address such as 0\.0\.0\.0, 10\.0\.0\.5 or 127\.0\.0\.2$/), bad);
  }
});

test('node.json keeps publishAddr and metricsAddr (absent when never given); daemon --publish-addr and --metrics-addr save them', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-state-'));
  try {
    const state: NodeState = { version: 1, nodeId: 'n1', clusterId: 'c1', role: 'worker', listenAddr: '0.0.0.0:4242', advertiseAddr: '127.0.0.3:4242', managers: [] };
    await saveState(dir, state);
    assert.equal((await loadState(dir)).publishAddr, undefined);
    assert.ok(!('publishAddr' in (await loadState(dir))));
    await saveNodeSettings(dir, { publishAddr: '127.0.0.9' });
    assert.deepEqual(await loadState(dir), { ...state, publishAddr: '127.0.0.9' });
    await saveState(dir, { ...state, publishAddr: 7 } as unknown as NodeState);
    await assert.rejects(loadState(dir), /publishAddr must be a string: the data dir is damaged/);
    await saveState(dir, state);
    await saveNodeSettings(dir, { metricsAddr: '127.0.0.3:9100', publishAddr: undefined });
    assert.deepEqual(await loadState(dir), { ...state, metricsAddr: '127.0.0.3:9100' });
    await saveNodeSettings(dir, { metricsAddr: '' });
    assert.equal((await loadState(dir)).metricsAddr, '', "'off' is kept as ''");
    await saveState(dir, { ...state, metricsAddr: 9100 } as unknown as NodeState);
    await assert.rejects(loadState(dir), /metricsAddr must be a string: the data dir is damaged/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('init, join and daemon: bad flags fail in one line, exit 2, before the data dir is touched; the help shows the flags', async () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'flotilla-boot-')), 'node');
  try {
    const init = await capture(() => runInit(['--data-dir', dir, '--vip-pool', '10.0.0.0/33']));
    assert.equal(init.code, 2);
    assert.equal(init.err, 'flotilla init: invalid --vip-pool "10.0.0.0/33": expected an IPv4 range in CIDR notation such as 10.240.0.0/16\n');
    const range = await capture(() => runInit(['--data-dir', dir, '--published-port-range', '9-1']));
    assert.equal(range.code, 2);
    assert.match(range.err, /^flotilla init: invalid --published-port-range: the published port range ends before it starts \(9-1\)\n$/);
    const addr = await capture(() => runInit(['--data-dir', dir, '--publish-addr', 'anywhere']));
    assert.equal(addr.code, 2);
    assert.match(addr.err, /^flotilla init: invalid --publish-addr "anywhere"/);
    const join1 = await capture(() => runJoin(['--data-dir', dir, '--token', 'T', '--publish-addr', '1.2.3', '10.0.0.1']));
    assert.equal(join1.code, 2);
    assert.match(join1.err, /^flotilla join: invalid --publish-addr "1\.2\.3"/);
    const joinVip = await capture(() => runJoin(['--data-dir', dir, '--token', 'T', '--vip-pool', '10.0.0.0/8', '10.0.0.1']));
    assert.equal(joinVip.code, 2, 'the ranges are the cluster\'s: init only');
    assert.match(joinVip.err, /^flotilla join: Unknown option '--vip-pool'/);
    const daemon = await capture(() => runDaemon(['--data-dir', dir, '--publish-addr', 'x']));
    assert.equal(daemon.code, 2);
    const metrics = await capture(() => runInit(['--data-dir', dir, '--metrics-addr', 'h:0']));
    assert.equal(metrics.code, 2);
    assert.equal(metrics.err, 'flotilla init: invalid --metrics-addr "h:0": the port must be 1-65535\n');
    const daemonMetrics = await capture(() => runDaemon(['--data-dir', dir, '--metrics-addr', 'a b']));
    assert.equal(daemonMetrics.code, 2);
    assert.match(daemonMetrics.err, /^flotilla daemon: invalid --metrics-addr "a b": expected HOST:PORT such as 127\.0\.0\.1:9324, or off\n$/);
    assert.ok(!existsSync(dir), 'nothing written');
    const help = await capture(() => runInit(['--help']));
    for (const flag of ['--publish-addr', '--vip-pool CIDR', '--vip-pool-mask-length N', '--published-port-range START-END']) assert.ok(help.out.includes(flag), flag);
    assert.match((await capture(() => runJoin(['--help']))).out, /--publish-addr/);
    assert.match((await capture(() => runDaemon(['--help']))).out, /--publish-addr[\s\S]*saved in the data dir/);
    for (const run of [runInit, runJoin, runDaemon]) assert.match((await capture(() => run(['--help']))).out, /--metrics-addr[\s\S]*default: [\s\S]*9324/);
  } finally {
    rmSync(join(dir, '..'), { recursive: true, force: true });
  }
});
