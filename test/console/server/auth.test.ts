import assert from 'node:assert/strict';
import test from 'node:test';
import { ConsoleAuth, LOGIN_TTL_MS, MAX_LOGINS, SESSION_TTL_MS } from '../../../src/console/server/auth.js';

function clock(start = 1_000_000): { now: () => number; advance(ms: number): void } {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

test('a login link works once and gives a session with a CSRF token', () => {
  const c = clock();
  const auth = new ConsoleAuth({ now: c.now });
  const { token, expiresAt } = auth.mintLogin();
  assert.equal(expiresAt, c.now() + LOGIN_TTL_MS);
  assert.match(token, /^[A-Za-z0-9_-]{43}$/);
  const r = auth.redeem(token);
  assert.ok('sessionId' in r);
  assert.equal(auth.session(r.sessionId), r.session);
  assert.ok(auth.csrfOk(r.session, r.session.csrfToken));
  assert.ok(!auth.csrfOk(r.session, undefined));
  assert.ok(!auth.csrfOk(r.session, r.session.csrfToken.slice(1)));
  // Used: refused, and the session stands.
  assert.deepEqual(auth.redeem(token), { refused: 'this login link is unknown or was used already' });
  assert.ok(auth.session(r.sessionId));
});

test('an unknown or expired link is refused; an expired session is gone', () => {
  const c = clock();
  const auth = new ConsoleAuth({ now: c.now });
  assert.deepEqual(auth.redeem('nope'), { refused: 'this login link is unknown or was used already' });
  const { token } = auth.mintLogin();
  c.advance(LOGIN_TTL_MS);
  assert.deepEqual(auth.redeem(token), { refused: 'this login link has expired' });
  const fresh = auth.mintLogin();
  const r = auth.redeem(fresh.token);
  assert.ok('sessionId' in r);
  c.advance(SESSION_TTL_MS - 1);
  assert.ok(auth.session(r.sessionId));
  c.advance(1);
  assert.equal(auth.session(r.sessionId), undefined);
  assert.equal(auth.session(undefined), undefined);
  assert.equal(auth.session(''), undefined);
});

test('logout ends the session; links beyond the cap push out the oldest', () => {
  const auth = new ConsoleAuth({ now: clock().now });
  const r = auth.redeem(auth.mintLogin().token);
  assert.ok('sessionId' in r);
  auth.end(r.sessionId);
  assert.equal(auth.session(r.sessionId), undefined);
  const first = auth.mintLogin().token;
  for (let i = 0; i < MAX_LOGINS; i++) auth.mintLogin();
  assert.deepEqual(auth.redeem(first), { refused: 'this login link is unknown or was used already' });
});

test('tokens come from the random source: distinct per call', () => {
  let n = 0;
  const auth = new ConsoleAuth({ now: clock().now, randomBytes: (k) => Buffer.alloc(k, ++n) });
  const a = auth.mintLogin().token;
  const b = auth.mintLogin().token;
  assert.notEqual(a, b);
  assert.equal(a, Buffer.alloc(32, 1).toString('base64url'));
});
