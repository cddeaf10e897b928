// The gRPC status of each typed error at the manager's API edge
// (src/manager/grpc-status.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { ValidationError } from '../../src/api/input.js';
import { CaDigestMismatchError, InvalidTokenError } from '../../src/manager/ca/token.js';
import { toGrpcStatus, VERSION_CONFLICT_HINT } from '../../src/manager/grpc-status.js';
import { NameConflictError, NotFoundError, VersionConflictError } from '../../src/manager/store/store.js';
import { NotLeaderError } from '../../src/raft/errors.js';

test('toGrpcStatus maps each typed error to its code', () => {
  const v = toGrpcStatus(new ValidationError('spec.name', 'name', 'bad'));
  assert.equal(v.code, grpc.status.INVALID_ARGUMENT);
  assert.deepEqual(v.metadata.get('field'), ['spec.name']);
  assert.equal(toGrpcStatus(new NotFoundError('not-found', 'service x not found')).code, grpc.status.NOT_FOUND);
  assert.equal(toGrpcStatus(new NameConflictError('name-conflict', 'name in use')).code, grpc.status.ALREADY_EXISTS);
  const vc = toGrpcStatus(new VersionConflictError('version-conflict', 'service s is at version 5, not 4'));
  assert.equal(vc.code, grpc.status.ABORTED);
  assert.ok(vc.details.includes(VERSION_CONFLICT_HINT), vc.details);

  const nl = toGrpcStatus(new NotLeaderError('m2', 7), { leaderAddress: (id) => (id === 'm2' ? '10.0.0.2:4242' : undefined) });
  assert.equal(nl.code, grpc.status.UNAVAILABLE);
  assert.deepEqual(nl.metadata.get('leader-id'), ['m2']);
  assert.deepEqual(nl.metadata.get('leader-term'), ['7']);
  assert.deepEqual(nl.metadata.get('leader-address'), ['10.0.0.2:4242']);
  const noLeader = toGrpcStatus(new NotLeaderError('', 3));
  assert.equal(noLeader.code, grpc.status.UNAVAILABLE);
  assert.deepEqual(noLeader.metadata.get('leader-address'), []);

  assert.equal(toGrpcStatus(new InvalidTokenError('malformed')).code, grpc.status.INVALID_ARGUMENT);
  assert.equal(toGrpcStatus(new CaDigestMismatchError('a', 'b')).code, grpc.status.PERMISSION_DENIED);
  const other = toGrpcStatus(new Error('boom'));
  assert.equal(other.code, grpc.status.INTERNAL);
  assert.ok(other.details.includes('boom'));
  assert.equal(toGrpcStatus('a string').code, grpc.status.INTERNAL);
  // Metadata takes printable ASCII only: a field path with anything else is escaped, never a throw.
  const odd = toGrpcStatus(new ValidationError('labels["é\n"]', 'label-key', 'bad'));
  assert.equal(odd.code, grpc.status.INVALID_ARGUMENT);
  assert.deepEqual(odd.metadata.get('field'), ['labels["\\u00e9\\u000a"]']);
});
