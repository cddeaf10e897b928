// The node's HTTP listener (src/daemon/http.ts) on 127.0.0.254 (a port the
// system picks): routes by method and path, 404/405/500, a taken address is a
// one-line ListenError, and --metrics-addr's syntax.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HttpListener, HttpRouter, parseMetricsAddr } from '../../src/daemon/http.js';
import { checkCanListen, ListenError, METRICS_LISTENER } from '../../src/daemon/listen-check.js';

const HOST = '127.0.0.254';

test('--metrics-addr: HOST[:PORT] (default port 9324), off or empty for none; anything else refused', () => {
  assert.equal(parseMetricsAddr(undefined), undefined);
  assert.equal(parseMetricsAddr('127.0.0.1:9100'), '127.0.0.1:9100');
  assert.equal(parseMetricsAddr('10.0.0.5'), '10.0.0.5:9324');
  assert.equal(parseMetricsAddr('[::1]:9100'), '[::1]:9100');
  assert.equal(parseMetricsAddr('off'), '');
  assert.equal(parseMetricsAddr(''), '');
  assert.throws(() => parseMetricsAddr('127.0.0.1:70000'), /invalid --metrics-addr "127.0.0.1:70000": the port must be 1-65535/);
  assert.throws(() => parseMetricsAddr('http://x:1'), /invalid --metrics-addr "http:\/\/x:1": expected HOST:PORT/);
});

test('routes answer by method and path; unknown paths 404, other methods 405 with Allow, a throwing handler 500', async () => {
  const router = new HttpRouter();
  router.route('GET', '/metrics', (_req, res) => void res.end('m'));
  const remove = router.route('GET', '/gone', (_req, res) => void res.end('g'));
  router.route('GET', '/boom', () => {
    throw new Error('boom');
  });
  remove();
  const l = await HttpListener.listen(`${HOST}:0`, router);
  try {
    const get = (path: string, method = 'GET'): Promise<Response> => fetch(`http://${l.address}${path}`, { method, signal: AbortSignal.timeout(5_000) });
    const ok = await get('/metrics?x=1');
    assert.equal(ok.status, 200);
    assert.equal(await ok.text(), 'm');
    assert.equal((await get('/gone')).status, 404);
    const post = await get('/metrics', 'POST');
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET');
    assert.equal((await get('/boom')).status, 500);
  } finally {
    await l.close();
  }
});

test('a taken address: a ListenError in one line that says what to do; checkCanListen says the same and frees what it bound', async () => {
  const l = await HttpListener.listen(`${HOST}:0`, new HttpRouter());
  try {
    const want = `cannot listen on ${l.address} for metrics: address already in use; another node on this host? pass --metrics-addr HOST:PORT (or --metrics-addr off)`;
    await assert.rejects(HttpListener.listen(l.address, new HttpRouter()), (e: Error) => e instanceof ListenError && e.message === want);
    await assert.rejects(checkCanListen(l.address, METRICS_LISTENER), (e: Error) => e instanceof ListenError && e.message === want);
  } finally {
    await l.close();
  }
  await assert.rejects(checkCanListen('192.0.2.1:9324', METRICS_LISTENER), /cannot listen on 192\.0\.2\.1:9324 for metrics: no such address on this host;/);
  const free = await HttpListener.listen(`${HOST}:0`, new HttpRouter());
  const addr = free.address;
  await free.close();
  await checkCanListen(addr, METRICS_LISTENER);
  await checkCanListen(addr, METRICS_LISTENER);
});
