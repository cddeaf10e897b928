// The Control API's secrets and configs (controlapi/secrets.ts, configs.ts,
// file-objects.ts) over an in-process store: create, get, list, labels-only
// update, removal refused while a service (or its previous spec) uses one,
// the size limits, references resolved in service specs, and rotate's one
// transaction. A secret's bytes never appear in an answer or an error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { serviceSpecToProto } from '../../../src/api/convert.js';
import type { control } from '../../../src/api/wire.js';
import type { FileReference, Secret, Service, ServiceSpec } from '../../../src/api/objects.js';
import { controlHarness as harness, refusal, type ControlHarness as Harness } from './fixtures.js';
import { serviceSpec } from '../store-fixtures.js';

/** Bytes no answer may carry: their text, and their base64 as the store keeps them. */
const SECRET = Buffer.from('hunter2-the-password');
const SECRET_TEXTS = [SECRET.toString('utf8'), SECRET.toString('base64')];

function assertNoSecret(x: unknown, what: string): void {
  const text = JSON.stringify(x, (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('base64') : v));
  for (const s of SECRET_TEXTS) assert.ok(!text.includes(s), `${what} carries the secret's data: ${text}`);
  assert.ok(!/"data":"[^"]/.test(text), `${what} carries data: ${text}`);
}

async function createSecret(h: Harness, name: string, data: Buffer = SECRET, labels: Record<string, string> = {}): Promise<control.Secret__Output> {
  const res = await h.control.CreateSecret({ spec: { name, labels, data } });
  assert.ok(res.secret);
  return res.secret;
}

async function createConfig(h: Harness, name: string, data = Buffer.from('server { listen 80; }')): Promise<control.Config__Output> {
  const res = await h.control.CreateConfig({ spec: { name, labels: {}, data } });
  assert.ok(res.config);
  return res.config;
}

function ref(name: string, over: Partial<FileReference> = {}): FileReference {
  return { id: '', name, target: '', uid: '0', gid: '0', mode: 0o444, ...over };
}

function withRefs(name: string, secrets: FileReference[], configs: FileReference[] = []): ServiceSpec {
  const s = serviceSpec(name);
  return { ...s, taskTemplate: { ...s.taskTemplate, container: { ...s.taskTemplate.container, ...(secrets.length ? { secrets } : {}), ...(configs.length ? { configs } : {}) } } };
}

async function createService(h: Harness, spec: ServiceSpec): Promise<Service> {
  const res = await h.control.CreateService({ spec: serviceSpecToProto(spec) });
  const svc = h.local.store.get('service', res.service?.meta?.id ?? '');
  assert.ok(svc);
  assertNoSecret(res, 'CreateService');
  return svc;
}

function stored(h: Harness, name: string): Service {
  const s = h.local.store.findServiceByName(name);
  assert.ok(s, name);
  return s;
}

function secretNamed(h: Harness, name: string): Secret {
  const s = h.local.store.findByName('secret', name);
  assert.ok(s, name);
  return s;
}

test('secrets: create, get by id, name or id prefix, list with filters; no read carries the data', async () => {
  const h = harness();
  const db = await createSecret(h, 'db-password', SECRET, { env: 'prod' });
  assertNoSecret(db, 'CreateSecret');
  assert.equal(db.spec?.name, 'db-password');
  assert.deepEqual(db.spec?.labels, { env: 'prod' });
  const id = db.meta?.id ?? '';
  // Stored as base64, answered without it.
  assert.equal(h.local.store.get('secret', id)?.spec.data, SECRET.toString('base64'));
  await createSecret(h, 'api-key', Buffer.from('k'), { env: 'dev' });
  for (const r of [id, 'db-password', 'DB-Password', id.slice(0, 6)]) {
    const got = await h.control.GetSecret({ secretId: r });
    assert.equal(got.secret?.meta?.id, id, r);
    assertNoSecret(got, `GetSecret(${r})`);
  }
  const all = await h.control.ListSecrets({ filters: null });
  assert.deepEqual(all.secrets.map((s) => s.spec?.name), ['api-key', 'db-password']);
  assertNoSecret(all, 'ListSecrets');
  const names = (f: Partial<control.ListSecretsRequest__Output['filters'] & object>): Promise<string[]> =>
    h.control.ListSecrets({ filters: { names: [], idPrefixes: [], labels: [], namePrefixes: [], ...f } }).then((r) => r.secrets.map((s) => s.spec?.name ?? ''));
  assert.deepEqual(await names({ labels: ['env=prod'] }), ['db-password']);
  assert.deepEqual(await names({ labels: ['env'] }), ['api-key', 'db-password']);
  assert.deepEqual(await names({ namePrefixes: ['API'] }), ['api-key']);
  assert.deepEqual(await names({ names: ['db-password', 'nope'] }), ['db-password']);
  assert.deepEqual(await names({ idPrefixes: [id.slice(0, 8)] }), ['db-password']);
  // A second one of the name (any case) is refused, and so are ~ names (rotate's), empty and missing references.
  assert.equal((await refusal(createSecret(h, 'DB-PASSWORD'))).code, grpc.status.ALREADY_EXISTS);
  const tilde = await refusal(createSecret(h, 'db~1'));
  assert.equal(tilde.code, grpc.status.INVALID_ARGUMENT);
  assert.equal(tilde.field, 'spec.name');
  assert.equal((await refusal(h.control.GetSecret({ secretId: '' }))).code, grpc.status.INVALID_ARGUMENT);
  const missing = await refusal(h.control.GetSecret({ secretId: 'nope' }));
  assert.equal(missing.code, grpc.status.NOT_FOUND);
  assert.equal(missing.details, 'secret "nope" not found: see `flotilla secret ls`');
});

test('size limits: a secret holds 1 byte to 500 KiB, a config at most 1000 KiB; one-line refusals that write nothing and quote no data', async () => {
  const h = harness();
  const writes = h.writes();
  const big = await refusal(createSecret(h, 's', Buffer.alloc(600 * 1024, 'x')));
  assert.equal(big.code, grpc.status.INVALID_ARGUMENT);
  assert.equal(big.field, 'spec.data');
  assert.equal(big.rule, 'data-size');
  assert.match(big.details, /^spec\.data: secret data is 600 KiB; a secret holds at most 500 KiB: keep larger files in a config \(up to 1000 KiB\) or a volume \[data-size\]$/);
  assert.ok(!big.details.includes('xxxx'));
  const empty = await refusal(createSecret(h, 's', Buffer.alloc(0)));
  assert.match(empty.details, /a secret needs at least 1 byte of data/);
  const justOver = await refusal(createSecret(h, 's', Buffer.alloc(500 * 1024 + 1)));
  assert.match(justOver.details, /secret data is 500\.0 KiB \(512001 bytes\); a secret holds at most 500 KiB/);
  const bigConfig = await refusal(createConfig(h, 'c', Buffer.alloc(1000 * 1024 + 1)));
  assert.match(bigConfig.details, /config data is 1000\.0 KiB \(1024001 bytes\); a config holds at most 1000 KiB/);
  assert.match((await refusal(createConfig(h, 'c', Buffer.alloc(0)))).details, /a config needs at least 1 byte of data/);
  assert.equal(h.writes(), writes);
  // At the limits: taken.
  await createSecret(h, 'max', Buffer.alloc(500 * 1024, 1));
  await createConfig(h, 'max', Buffer.alloc(1000 * 1024, 1));
  const rotate = await refusal(h.control.RotateSecret({ secretId: 'max', data: Buffer.alloc(500 * 1024 + 1) }));
  assert.equal(rotate.field, 'data');
  assert.equal(rotate.rule, 'data-size');
});

test('configs: GetConfig answers the data (as docker config inspect), ListConfigs does not', async () => {
  const h = harness();
  const c = await createConfig(h, 'nginx.conf');
  assert.equal(c.spec?.data.length, 0);
  const got = await h.control.GetConfig({ configId: 'nginx.conf' });
  assert.equal(got.config?.spec?.data.toString(), 'server { listen 80; }');
  const list = await h.control.ListConfigs({ filters: null });
  assert.equal(list.configs.length, 1);
  assert.equal(list.configs[0].spec?.data.length, 0);
});

test('UpdateSecret changes the labels only, with the version read; name or data changes are refused without quoting the data', async () => {
  const h = harness();
  const s = await createSecret(h, 'db', SECRET, { a: '1' });
  const id = s.meta?.id ?? '';
  const version = s.meta?.version ?? 0;
  const update = (spec: control.SecretSpec__Output, v: number = version): Promise<control.UpdateSecretResponse__Output> => h.control.UpdateSecret({ secretId: id, version: v, spec });
  const required = await refusal(update({ name: 'db', labels: {}, data: Buffer.alloc(0) }, 0));
  assert.equal(required.field, 'version');
  assert.equal((await refusal(update({ name: 'db', labels: {}, data: Buffer.alloc(0) }, version + 100))).code, grpc.status.ABORTED);
  const renamed = await refusal(update({ name: 'other', labels: {}, data: Buffer.alloc(0) }));
  assert.equal(renamed.field, 'spec.name');
  assert.match(renamed.details, /only the labels of a secret can change: its name is "db", not "other"/);
  const otherData = await refusal(update({ name: 'db', labels: {}, data: Buffer.from('new-password') }));
  assert.equal(otherData.field, 'spec.data');
  assert.match(otherData.details, /rotate it \(`flotilla secret rotate db FILE`\)/);
  assert.ok(!otherData.details.includes('new-password'));
  assertNoSecret(otherData, 'the refusal');
  const writes = h.writes();
  // The same data, or none, is not a change of it.
  const same = await update({ name: 'db', labels: { a: '1' }, data: SECRET });
  assert.equal(same.secret?.meta?.version, version);
  assert.equal(h.writes(), writes);
  const res = await update({ name: 'db', labels: { b: '2' }, data: Buffer.alloc(0) });
  assertNoSecret(res, 'UpdateSecret');
  assert.deepEqual(res.secret?.spec?.labels, { b: '2' });
  assert.ok((res.secret?.meta?.version ?? 0) > version);
  assert.equal(h.local.store.get('secret', id)?.spec.data, SECRET.toString('base64'));
});

test('service specs name secrets and configs: resolved to id and name, targets defaulted; a missing one refuses the spec and writes nothing', async () => {
  const h = harness();
  const db = await createSecret(h, 'db');
  const nginx = await createConfig(h, 'nginx.conf');
  const svc = await createService(h, withRefs('web', [ref('db'), ref(db.meta?.id.slice(0, 8) ?? '', { target: '/etc/db.pw', uid: '33', mode: 0o400 })], [ref('nginx.conf')]));
  const c = svc.spec.taskTemplate.container;
  assert.deepEqual(c.secrets, [
    { id: db.meta?.id, name: 'db', target: 'db', uid: '0', gid: '0', mode: 0o444 },
    { id: db.meta?.id, name: 'db', target: '/etc/db.pw', uid: '33', gid: '0', mode: 0o400 },
  ]);
  assert.deepEqual(c.configs, [{ id: nginx.meta?.id, name: 'nginx.conf', target: '/nginx.conf', uid: '0', gid: '0', mode: 0o444 }]);
  const writes = h.writes();
  const missing = await refusal(h.control.CreateService({ spec: serviceSpecToProto(withRefs('api', [ref('nope')])) }));
  assert.equal(missing.code, grpc.status.INVALID_ARGUMENT);
  assert.equal(missing.field, 'spec.taskTemplate.container.secrets[0]');
  assert.match(missing.details, /secret "nope" not found: create it with `flotilla secret create nope FILE`/);
  const missingConfig = await refusal(h.control.CreateService({ spec: serviceSpecToProto(withRefs('api', [], [ref('nope')])) }));
  assert.match(missingConfig.details, /config "nope" not found: create it with `flotilla config create nope FILE`/);
  // Two references that name one file in different words.
  const clash = await refusal(h.control.CreateService({ spec: serviceSpecToProto(withRefs('api', [ref('db'), ref(db.meta?.id ?? '')])) }));
  assert.equal(clash.rule, 'file-target-duplicate');
  const upd = await refusal(h.control.UpdateService({ serviceId: svc.id, version: svc.version, spec: serviceSpecToProto(withRefs('web', [ref('gone')])), rollback: false }));
  assert.match(upd.details, /secret "gone" not found/);
  assert.equal(h.writes(), writes);
  assert.equal(h.local.store.list('service').length, 1);
  // Sent back as read (ids and names): nothing changes, nothing is written.
  const same = await h.control.UpdateService({ serviceId: svc.id, version: svc.version, spec: serviceSpecToProto(svc.spec), rollback: false });
  assert.equal(same.service?.meta?.version, svc.version);
  assert.equal(h.writes(), writes);
  // GetService shows references, never data; so do the tasks' specs (they carry the template).
  assertNoSecret(await h.control.GetService({ serviceIdOrName: 'web' }), 'GetService');
});

test('a secret or config a service uses (or its previous spec) is not removed; the refusal names the services', async () => {
  const h = harness();
  await createSecret(h, 'db');
  await createConfig(h, 'conf');
  const web = await createService(h, withRefs('web', [ref('db')], [ref('conf')]));
  await createService(h, withRefs('api', [ref('db')]));
  const writes = h.writes();
  const inUse = await refusal(h.control.RemoveSecret({ secretId: 'db' }));
  assert.equal(inUse.code, grpc.status.FAILED_PRECONDITION);
  assert.equal(inUse.details, 'secret "db" is in use by services "api", "web": remove it from them first (flotilla service update --secret-rm db SERVICE)');
  assert.match((await refusal(h.control.RemoveConfig({ configId: 'conf' }))).details, /^config "conf" is in use by service "web": remove it from it first/);
  assert.equal(h.writes(), writes);
  // web drops both: its previous spec still uses them (a rollback would).
  const dropped = { ...web.spec, taskTemplate: { ...web.spec.taskTemplate, container: { ...web.spec.taskTemplate.container, secrets: undefined, configs: undefined } } };
  await h.control.UpdateService({ serviceId: web.id, version: web.version, spec: serviceSpecToProto(dropped), rollback: false });
  assert.match((await refusal(h.control.RemoveConfig({ configId: 'conf' }))).details, /in use by service "web" \(its previous spec, which a rollback returns to\)/);
  await h.control.RemoveService({ serviceId: web.id });
  await h.control.RemoveConfig({ configId: 'conf' });
  assert.equal(h.local.store.list('config').length, 0);
  assert.equal((await refusal(h.control.RemoveConfig({ configId: 'conf' }))).code, grpc.status.NOT_FOUND);
});

test('rotate: one transaction renames the current version NAME~N, creates the next with the name and labels, and moves every service to it', async () => {
  const h = harness();
  const v1 = await createSecret(h, 'db', SECRET, { team: 'a' });
  const other = await createSecret(h, 'other');
  const web = await createService(h, withRefs('web', [ref('db', { target: '/etc/pw', uid: '1', gid: '2', mode: 0o400 }), ref('other')]));
  const idle = await createService(h, serviceSpec('idle'));
  const writes = h.writes();
  const res = await h.control.RotateSecret({ secretId: 'db', data: Buffer.from('v2-password') });
  assertNoSecret(res, 'RotateSecret');
  assert.equal(h.writes(), writes + 1, 'one transaction');
  assert.deepEqual(res.serviceIds, [web.id]);
  const v2 = secretNamed(h, 'db');
  assert.equal(res.secret?.meta?.id, v2.id);
  assert.notEqual(v2.id, v1.meta?.id);
  assert.deepEqual(v2.spec.labels, { team: 'a' });
  assert.equal(Buffer.from(v2.spec.data, 'base64').toString(), 'v2-password');
  const old = secretNamed(h, 'db~1');
  assert.equal(old.id, v1.meta?.id);
  assert.equal(old.spec.data, SECRET.toString('base64'));
  // web: a new spec (version and spec version move) using v2 with the same target, owner and mode; its previous spec uses v1.
  const after = stored(h, 'web');
  assert.ok(after.version > web.version && after.specVersion > web.specVersion);
  assert.deepEqual(after.spec.taskTemplate.container.secrets, [
    { id: v2.id, name: 'db', target: '/etc/pw', uid: '1', gid: '2', mode: 0o400 },
    { id: other.meta?.id, name: 'other', target: 'other', uid: '0', gid: '0', mode: 0o444 },
  ]);
  assert.deepEqual(after.previousSpec, web.spec);
  assert.equal(after.updateStatus, undefined);
  assert.equal(stored(h, 'idle').version, idle.version);
  // The earlier version stays while a rollback would use it; it is listed and cannot be rotated itself.
  assert.match((await refusal(h.control.RemoveSecret({ secretId: 'db~1' }))).details, /^secret "db~1" is in use by service "web" \(its previous spec/);
  assert.match((await refusal(h.control.RotateSecret({ secretId: 'db~1', data: Buffer.from('x') }))).details, /secret "db~1" is an earlier version of "db": rotate "db" instead/);
  // Numbering goes on from the highest kept: db~2, then (db~1 removed meanwhile) db~3.
  await h.control.RotateSecret({ secretId: 'db', data: Buffer.from('v3') });
  assert.deepEqual(h.local.store.list('secret').map((s) => s.spec.name).sort(), ['db', 'db~1', 'db~2', 'other']);
  assert.deepEqual(stored(h, 'web').previousSpec?.taskTemplate.container.secrets?.[0].id, v2.id);
  await h.control.RemoveSecret({ secretId: 'db~1' });
  await h.control.RotateSecret({ secretId: secretNamed(h, 'db').id, data: Buffer.from('v4') });
  assert.deepEqual(h.local.store.list('secret').map((s) => s.spec.name).sort(), ['db', 'db~2', 'db~3', 'other']);
  // A rollback returns web to the version before; its references keep the name they were written with.
  const w = stored(h, 'web');
  await h.control.UpdateService({ serviceId: w.id, version: w.version, spec: null, rollback: true });
  const rolledBack = stored(h, 'web');
  assert.equal(rolledBack.spec.taskTemplate.container.secrets?.[0].id, secretNamed(h, 'db~3').id);
  assert.equal(rolledBack.spec.taskTemplate.container.secrets?.[0].name, 'db');
  // Sending that spec back as read (another field changed) keeps the reference as it is: no task restarts for a name.
  const labelled = { ...rolledBack.spec, labels: { x: 'y' } };
  await h.control.UpdateService({ serviceId: rolledBack.id, version: rolledBack.version, spec: serviceSpecToProto(labelled), rollback: false });
  assert.deepEqual(stored(h, 'web').spec.taskTemplate, rolledBack.spec.taskTemplate);
});

test('rotate a config: the service update moves its reference; an unused config rotates with no service', async () => {
  const h = harness();
  await createConfig(h, 'conf');
  await createConfig(h, 'unused');
  const web = await createService(h, withRefs('web', [], [ref('conf')]));
  const res = await h.control.RotateConfig({ configId: 'conf', data: Buffer.from('new') });
  assert.deepEqual(res.serviceIds, [web.id]);
  assert.equal(res.config?.spec?.data.length, 0);
  assert.equal(stored(h, 'web').spec.taskTemplate.container.configs?.[0].id, res.config?.meta?.id);
  assert.equal(stored(h, 'web').spec.taskTemplate.container.configs?.[0].target, '/conf');
  const unused = await h.control.RotateConfig({ configId: 'unused', data: Buffer.from('x') });
  assert.deepEqual(unused.serviceIds, []);
  assert.ok(h.local.store.findByName('config', 'unused~1'));
  assert.equal((await refusal(h.control.RotateConfig({ configId: 'nope', data: Buffer.from('x') }))).code, grpc.status.NOT_FOUND);
});

test('a rotation that races a service update reads again and succeeds', async () => {
  const h = harness();
  await createSecret(h, 'db');
  const web = await createService(h, withRefs('web', [ref('db')]));
  // The first write of the rotation finds web changed by another writer (the updater's status).
  const write = h.local.write;
  let raced = false;
  h.local.write = async (actions) => {
    if (!raced && actions.some((a) => a.kind === 'secret')) {
      raced = true;
      const s = h.local.store.get('service', web.id) as Service;
      await write([{ kind: 'service', op: 'update', object: { ...s, updatedAt: s.updatedAt + 1 } }]);
    }
    return write(actions);
  };
  const res = await h.control.RotateSecret({ secretId: 'db', data: Buffer.from('v2') });
  assert.ok(raced);
  assert.deepEqual(res.serviceIds, [web.id]);
  assert.equal(stored(h, 'web').spec.taskTemplate.container.secrets?.[0].id, res.secret?.meta?.id);
});
