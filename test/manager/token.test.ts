// Join tokens: FLT-1-<CA digest>-<secret>, their parsing, role matching,
// rotation and the CA pinning a joining node does before it sends its secret.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CertificateError, caDigest, createRootCA } from '../../src/manager/ca/ca.js';
import {
  CaDigestMismatchError,
  InvalidTokenError,
  JOIN_SECRET_LENGTH,
  checkCaDigest,
  formatJoinToken,
  generateJoinSecret,
  matchJoinToken,
  parseJoinToken,
  tokenDigest,
} from '../../src/manager/ca/token.js';

const root = await createRootCA({ clusterId: 'c1' });
const otherRoot = await createRootCA({ clusterId: 'c1' });
const digest = caDigest(root.certPem);

test('generateJoinSecret gives 25 random base36 characters', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const s = generateJoinSecret();
    assert.match(s, /^[0-9a-z]{25}$/);
    assert.equal(s.length, JOIN_SECRET_LENGTH);
    seen.add(s);
  }
  assert.equal(seen.size, 200);
});

test('a token round-trips through format and parse', () => {
  const secret = generateJoinSecret();
  const token = formatJoinToken(digest, secret);
  assert.equal(token, `FLT-1-${digest}-${secret}`);
  assert.equal(token.length, 82);
  assert.deepEqual(parseJoinToken(token), { version: 1, caDigest: digest, secret });
  assert.deepEqual(parseJoinToken(`  ${token}\n`), { version: 1, caDigest: digest, secret }, 'surrounding whitespace from copy-paste is ignored');
});

test('formatJoinToken refuses parts that would make a malformed token', () => {
  const secret = generateJoinSecret();
  assert.throws(() => formatJoinToken('sha256:abc', secret), InvalidTokenError);
  assert.throws(() => formatJoinToken(digest, 'short'), InvalidTokenError);
  assert.throws(() => formatJoinToken(digest, secret.toUpperCase()), InvalidTokenError);
});

test('each malformed token gives an InvalidTokenError saying what is wrong and how to get one', () => {
  const secret = generateJoinSecret();
  const cases: [string, string, RegExp][] = [
    ['empty', '', /is empty/],
    ['blank', '   ', /is empty/],
    ['wrong prefix', `XYZ-1-${digest}-${secret}`, /does not start with "FLT-"/],
    ['lowercase prefix', `flt-1-${digest}-${secret}`, /does not start with "FLT-"/],
    ['swarm token', `SWMTKN-1-${digest}-${secret}`, /Docker Swarm join token/],
    ['wrong version', `FLT-2-${digest}-${secret}`, /format version "2", this flotilla understands only version 1/],
    ['missing version', `FLT--${digest}-${secret}`, /format version ""/],
    ['short digest', `FLT-1-${digest.slice(1)}-${secret}`, /CA digest .* must be 50 characters .* got 49/],
    ['long digest', `FLT-1-${digest}0-${secret}`, /CA digest .* got 51/],
    ['uppercase digest', `FLT-1-${digest.toUpperCase()}-${secret}`, /CA digest .* invalid characters/],
    ['empty secret', `FLT-1-${digest}-`, /empty secret/],
    ['short secret', `FLT-1-${digest}-${secret.slice(0, 24)}`, /secret .* must be 25 characters .* got 24/],
    ['bad secret characters', `FLT-1-${digest}-${secret.slice(0, 24)}!`, /secret .* invalid characters/],
    ['extra dash at the end', `FLT-1-${digest}-${secret}-`, /5 dash-separated parts instead of 4/],
    ['extra part', `FLT-1-${digest}-${secret}-x`, /5 dash-separated parts instead of 4/],
    ['doubled dash', `FLT-1-${digest}--${secret}`, /5 dash-separated parts instead of 4/],
    ['too few parts', `FLT-1-${digest}`, /3 dash-separated parts instead of 4/],
    ['too long', 'FLT-' + 'a'.repeat(300), /too long/],
  ];
  for (const [what, token, pattern] of cases) {
    assert.throws(
      () => parseJoinToken(token),
      (err: unknown) => {
        assert.ok(err instanceof InvalidTokenError, `${what}: expected InvalidTokenError, got ${String(err)}`);
        assert.match(err.message, pattern, what);
        assert.match(err.message, /look like FLT-1-.*`flotilla join-token worker`/, what);
        return true;
      },
      what,
    );
  }
  assert.throws(() => parseJoinToken(undefined as unknown as string), InvalidTokenError);
});

test('matchJoinToken tells worker, manager and no match apart', () => {
  const secrets = { workerSecret: generateJoinSecret(), managerSecret: generateJoinSecret() };
  const worker = formatJoinToken(digest, secrets.workerSecret);
  const manager = formatJoinToken(digest, secrets.managerSecret);
  assert.equal(matchJoinToken(worker, secrets), 'worker');
  assert.equal(matchJoinToken(manager, secrets), 'manager');
  assert.equal(matchJoinToken(formatJoinToken(digest, generateJoinSecret()), secrets), null);
  // The bare secret works too; malformed credentials match nothing.
  assert.equal(matchJoinToken(secrets.managerSecret, secrets), 'manager');
  assert.equal(matchJoinToken(`  ${worker} `, secrets), 'worker');
  assert.equal(matchJoinToken('', secrets), null);
  assert.equal(matchJoinToken(`${worker}-x`, secrets), null);
  assert.equal(matchJoinToken(secrets.workerSecret.slice(1), secrets), null);
  assert.equal(matchJoinToken(secrets.workerSecret.toUpperCase(), secrets), null);
  assert.equal(matchJoinToken(null as unknown as string, secrets), null);
  // A missing or empty stored secret never matches, not even an empty credential.
  assert.equal(matchJoinToken(manager, { workerSecret: secrets.workerSecret, managerSecret: '' }), null);
  assert.equal(matchJoinToken('', { workerSecret: '', managerSecret: '' }), null);
  assert.equal(matchJoinToken(worker, {}), null);
});

test('rotating a secret makes the old token useless and leaves the other role alone', () => {
  const before = { workerSecret: generateJoinSecret(), managerSecret: generateJoinSecret() };
  const oldWorker = formatJoinToken(digest, before.workerSecret);
  const manager = formatJoinToken(digest, before.managerSecret);
  const after = { ...before, workerSecret: generateJoinSecret() };
  assert.equal(matchJoinToken(oldWorker, after), null);
  assert.equal(matchJoinToken(formatJoinToken(digest, after.workerSecret), after), 'worker');
  assert.equal(matchJoinToken(manager, after), 'manager');
});

test('tokenDigest identifies a secret without revealing it', () => {
  const secret = generateJoinSecret();
  const d = tokenDigest(secret);
  assert.match(d, /^sha256:[0-9a-f]{64}$/);
  assert.equal(tokenDigest(secret), d);
  assert.notEqual(tokenDigest(generateJoinSecret()), d);
  assert.ok(!d.includes(secret));
});

test('checkCaDigest accepts the CA the token names and refuses another', () => {
  const token = formatJoinToken(digest, generateJoinSecret());
  checkCaDigest(token, root.certPem);
  checkCaDigest(parseJoinToken(token), root.certPem);
  assert.throws(
    () => checkCaDigest(token, otherRoot.certPem),
    (err: unknown) => {
      assert.ok(err instanceof CaDigestMismatchError);
      assert.match(err.message, /the manager's CA does not match the token: you may be talking to the wrong cluster or a man in the middle/);
      assert.equal(err.expected, digest);
      assert.equal(err.actual, caDigest(otherRoot.certPem));
      return true;
    },
  );
  assert.throws(() => checkCaDigest(token, 'not a certificate'), CertificateError);
  assert.throws(() => checkCaDigest('FLT-1-nope', root.certPem), InvalidTokenError);
});
