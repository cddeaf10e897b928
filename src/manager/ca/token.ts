// Join tokens, after Docker Swarm's `SWMTKN-1-<digest>-<secret>`:
//
//   FLT-1-<caDigest>-<secret>
//
//   FLT       fixed prefix
//   1         token format version
//   caDigest  50 characters [0-9a-z]: SHA-256 of the root CA certificate's DER as
//             a zero-padded base36 number (see caDigest() in ca.ts). The joining
//             node fetches the CA certificate and checks it against this digest
//             before it sends anything secret (checkCaDigest), so a token also
//             pins the cluster's trust root.
//   secret    25 characters [0-9a-z]: 128 random bits as a zero-padded base36
//             number. Worker and manager tokens differ only here; the secret
//             decides the role a joining node gets.
//
// Storage (decision): like Swarm, the replicated cluster object holds the join
// secrets themselves (worker and manager), not digests of them, so that
// `flotilla join-token worker|manager` can print the token again on any
// manager; the token is formatJoinToken(caDigest(root CA cert), secret). Only
// managers hold the Raft store, and they also hold the root CA key in it:
// whoever can read the store can mint certificates directly, so keeping only
// digests of the secrets would protect nothing while making the tokens
// unprintable. Secrets never go to logs: log tokenDigest(secret) instead.
// Rotation (`join-token worker --rotate`) replaces the stored secret with
// generateJoinSecret(); matchJoinToken then refuses the old token.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { CA_DIGEST_LENGTH, caDigest, toBase36 } from './ca.js';

export const TOKEN_PREFIX = 'FLT';
export const TOKEN_VERSION = 1;
/** 128 random bits in base36 need at most 25 digits (36^25 > 2^128). */
export const JOIN_SECRET_LENGTH = 25;

const HOW_TO_GET =
  'join tokens look like FLT-1-<50 characters>-<25 characters>; get one with `flotilla join-token worker` (or `manager`) on a manager';
const BASE36_RE = /^[0-9a-z]+$/;

/** A join token that does not have the FLT-1-<digest>-<secret> shape. */
export class InvalidTokenError extends Error {
  override readonly name = 'InvalidTokenError';
}

/** The CA a manager served is not the one the join token names. */
export class CaDigestMismatchError extends Error {
  override readonly name = 'CaDigestMismatchError';
  constructor(
    readonly expected: string,
    readonly actual: string,
  ) {
    super(
      `the manager's CA does not match the token: you may be talking to the wrong cluster or a man in the middle ` +
        `(token expects CA digest ${expected}, the manager served ${actual})`,
    );
  }
}

export interface JoinToken {
  version: 1;
  caDigest: string;
  secret: string;
}

/** A new join secret: 128 bits from crypto.randomBytes as 25 base36 characters. */
export function generateJoinSecret(): string {
  return toBase36(randomBytes(16), JOIN_SECRET_LENGTH);
}

/** `FLT-1-<caDigest>-<secret>`; both parts are validated. */
export function formatJoinToken(digest: string, secret: string): string {
  if (!isBase36(digest, CA_DIGEST_LENGTH)) {
    throw new InvalidTokenError(`the CA digest must be ${CA_DIGEST_LENGTH} characters of [0-9a-z] (from caDigest()), got ${describe(digest)}`);
  }
  if (!isBase36(secret, JOIN_SECRET_LENGTH)) {
    throw new InvalidTokenError(`the join secret must be ${JOIN_SECRET_LENGTH} characters of [0-9a-z] (from generateJoinSecret()), got ${describe(secret)}`);
  }
  return `${TOKEN_PREFIX}-${TOKEN_VERSION}-${digest}-${secret}`;
}

/** Parses a join token (surrounding whitespace is ignored); throws InvalidTokenError saying what is wrong. */
export function parseJoinToken(token: string): JoinToken {
  if (typeof token !== 'string') throw new InvalidTokenError(`the join token is missing; ${HOW_TO_GET}`);
  const text = token.trim();
  if (text === '') throw new InvalidTokenError(`the join token is empty; ${HOW_TO_GET}`);
  if (text.length > 200) throw new InvalidTokenError(`the join token is too long (${text.length} characters); ${HOW_TO_GET}`);
  const parts = text.split('-');
  if (parts[0] === 'SWMTKN') {
    throw new InvalidTokenError(`this is a Docker Swarm join token, not a flotilla one; ${HOW_TO_GET}`);
  }
  if (parts[0] !== TOKEN_PREFIX) {
    throw new InvalidTokenError(`the join token does not start with "${TOKEN_PREFIX}-"; ${HOW_TO_GET}`);
  }
  if (parts.length !== 4) {
    throw new InvalidTokenError(`the join token has ${parts.length} dash-separated parts instead of 4; ${HOW_TO_GET}`);
  }
  const [, version, digest, secret] = parts;
  if (version !== String(TOKEN_VERSION)) {
    throw new InvalidTokenError(
      `the join token has format version ${JSON.stringify(version)}, this flotilla understands only version ${TOKEN_VERSION}; ${HOW_TO_GET}`,
    );
  }
  if (!isBase36(digest, CA_DIGEST_LENGTH)) {
    throw new InvalidTokenError(
      `the CA digest in the join token must be ${CA_DIGEST_LENGTH} characters of [0-9a-z], got ${digest.length}${BASE36_RE.test(digest) || digest === '' ? '' : ' with invalid characters'}; ` +
        `the token may be truncated; ${HOW_TO_GET}`,
    );
  }
  if (secret === '') throw new InvalidTokenError(`the join token has an empty secret; ${HOW_TO_GET}`);
  if (!isBase36(secret, JOIN_SECRET_LENGTH)) {
    throw new InvalidTokenError(
      `the secret in the join token must be ${JOIN_SECRET_LENGTH} characters of [0-9a-z], got ${secret.length}${BASE36_RE.test(secret) ? '' : ' with invalid characters'}; ` +
        `the token may be truncated; ${HOW_TO_GET}`,
    );
  }
  return { version: TOKEN_VERSION, caDigest: digest, secret };
}

/** `sha256:<hex>` of a secret: safe to log or show, identifies a secret without revealing it. */
export function tokenDigest(secret: string): string {
  return 'sha256:' + secretHash(secret).toString('hex');
}

function secretHash(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

/**
 * The role a presented join credential grants: 'worker', 'manager' or null.
 * `presented` is either a whole token (FLT-1-...) or its bare secret; anything
 * malformed matches nothing. The comparison is over SHA-256 digests of equal
 * length with crypto.timingSafeEqual, and both stored secrets are always
 * compared, so the timing reveals neither the secrets nor which one matched.
 * An empty or missing stored secret never matches (e.g. a role whose joins are
 * disabled). The CA digest part of a token is not checked here: it serves the
 * joining node, and the secret alone authorizes.
 */
export function matchJoinToken(
  presented: string,
  secrets: { workerSecret?: string | null; managerSecret?: string | null },
): 'worker' | 'manager' | null {
  let secret: string | null = null;
  if (typeof presented === 'string') {
    const text = presented.trim();
    if (text.startsWith(`${TOKEN_PREFIX}-`)) {
      try {
        secret = parseJoinToken(text).secret;
      } catch {
        secret = null;
      }
    } else if (isBase36(text, JOIN_SECRET_LENGTH)) {
      secret = text;
    }
  }
  // Hash something even for a malformed credential, so the work done does not depend on it.
  const given = secretHash(secret ?? '');
  const worker = compare(given, secrets?.workerSecret);
  const manager = compare(given, secrets?.managerSecret);
  if (secret === null) return null;
  // Least privilege if a misconfiguration ever made both secrets equal.
  if (worker) return 'worker';
  if (manager) return 'manager';
  return null;
}

function compare(given: Buffer, stored: string | null | undefined): boolean {
  const valid = typeof stored === 'string' && stored !== '';
  const equal = timingSafeEqual(given, secretHash(valid ? stored : ''));
  return valid && equal;
}

/**
 * Run by a joining node on the CA certificate a manager served, before it sends
 * the secret: throws CaDigestMismatchError unless the certificate is the one the
 * token names (InvalidTokenError for a malformed token; the CA certificate must
 * parse).
 */
export function checkCaDigest(token: string | JoinToken, fetchedCaCertPem: string): void {
  const parsed = typeof token === 'string' ? parseJoinToken(token) : token;
  const actual = caDigest(fetchedCaCertPem);
  const a = Buffer.from(actual);
  const b = Buffer.from(parsed.caDigest);
  if (a.length !== b.length || !timingSafeEqual(a, b)) throw new CaDigestMismatchError(parsed.caDigest, actual);
}

function isBase36(value: unknown, length: number): boolean {
  return typeof value === 'string' && value.length === length && BASE36_RE.test(value);
}

function describe(value: unknown): string {
  return typeof value === 'string' ? `${value.length} characters` : typeof value;
}
