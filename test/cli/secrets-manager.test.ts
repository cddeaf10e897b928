// The secret and config commands, and the service flags that use them,
// against the manager's own Control API (in-memory store over gRPC): output
// shaped as docker's, one-line errors, data never printed for a secret,
// references resolved by the manager, rotate moving the services.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Service } from '../../src/api/objects.js';
import { startManagerServer, type ManagerServer } from './manager-server.js';

const PASSWORD = 'correct-horse-battery-staple';
let server: ManagerServer;

before(async () => {
  // The CLI's clock is 90 s ahead of the objects' times.
  server = await startManagerServer(() => Date.now() + 90_000, 'flotilla-cli-secrets-');
});

after(() => server.stop());

function file(name: string, data: string | Buffer): string {
  const path = join(server.dir, name);
  writeFileSync(path, data);
  return path;
}

function stored(name: string): Service {
  const s = server.manager.local.store.findServiceByName(name);
  assert.ok(s, name);
  return s;
}

function secretId(name: string): string {
  const s = server.manager.local.store.findByName('secret', name);
  assert.ok(s, name);
  return s.id;
}

function noPassword(text: string): void {
  assert.ok(!text.includes(PASSWORD) && !text.includes(Buffer.from(PASSWORD).toString('base64')), `the data is printed: ${text}`);
}

test('secret create (file and stdin), ls, inspect, rm: docker-shaped output, never the data', async () => {
  const { ok, cli } = server;
  const id = (await ok(['secret', 'create', '-l', 'env=prod', 'db-password', file('pw', PASSWORD)])).trim();
  assert.equal(id, secretId('db-password'));
  const fromStdin = (await ok(['secret', 'create', 'api-key', '-'], Buffer.from('k-123'))).trim();
  assert.equal(Buffer.from(server.manager.local.store.get('secret', fromStdin)?.spec.data ?? '', 'base64').toString(), 'k-123');

  const table = await ok(['secret', 'ls']);
  assert.match(table, new RegExp(`^ID +NAME +DRIVER +CREATED +UPDATED\\n${fromStdin} +api-key +About a minute ago +About a minute ago\\n${id} +db-password +`));
  assert.equal(await ok(['secret', 'ls', '-q', '--filter', 'label=env=prod']), `${id}\n`);
  assert.equal(await ok(['secret', 'ls', '-q', '-f', 'name=api']), `${fromStdin}\n`);
  assert.equal(await ok(['secret', 'ls', '-q', '-f', `id=${id.slice(0, 5)}`, '-f', 'name=db']), `${id}\n`);
  const line = JSON.parse((await ok(['secret', 'ls', '--format', 'json', '-f', 'name=db'])).trim()) as Record<string, unknown>;
  // docker's row: its fields in its JSON's (sorted) order, times relative.
  assert.deepEqual(line, { CreatedAt: 'About a minute ago', Driver: '', ID: id, Labels: 'env=prod', Name: 'db-password', UpdatedAt: 'About a minute ago' });
  assert.equal(await ok(['secret', 'ls', '--format', '{{.Name}} {{.Labels}}', '-f', 'name=db']), 'db-password env=prod\n');
  const badFilter = await cli(['secret', 'ls', '-f', 'driver=x']);
  assert.equal(badFilter.code, 2);
  assert.match(badFilter.err, /^flotilla: invalid filter 'driver': use id, label, name\n$/);

  const inspected = await ok(['secret', 'inspect', 'db-password', id.slice(0, 6)]);
  noPassword(inspected);
  const [first, second] = JSON.parse(inspected) as { ID: string; Version: { Index: number }; Spec: Record<string, unknown> }[];
  assert.equal(first.ID, id);
  assert.equal(second.ID, id);
  assert.ok(first.Version.Index > 0);
  assert.deepEqual(first.Spec, { Name: 'db-password', Labels: { env: 'prod' } });
  const pretty = await ok(['secret', 'inspect', '--pretty', 'db-password']);
  assert.match(pretty, new RegExp(`^ID: +${id}\\nName: +db-password\\nLabels: +env=prod\\nCreated at: +\\S+\\nUpdated at: +\\S+\\n$`));
  const missing = await cli(['secret', 'inspect', 'db-password', 'nope']);
  assert.equal(missing.code, 1);
  assert.match(missing.err, /^flotilla: secret "nope" not found: see `flotilla secret ls`\n$/);
  assert.equal((JSON.parse(missing.out) as unknown[]).length, 1);

  // Refusals: one line each, before anything is sent when the CLI can tell.
  const taken = await cli(['secret', 'create', 'DB-PASSWORD', file('pw2', 'x')]);
  assert.match(taken.err, /^flotilla: a secret named "DB-PASSWORD" already exists: pick another name, or rotate it \(flotilla secret rotate DB-PASSWORD FILE\)\n$/);
  const big = await cli(['secret', 'create', 'big', file('big', Buffer.alloc(600 * 1024, 'z'))]);
  assert.equal(big.code, 1);
  assert.match(big.err, /^flotilla: secret data is 600 KiB; a secret holds at most 500 KiB: keep larger files in a config \(up to 1000 KiB\) or a volume \("[^"]+big"\)\n$/);
  const empty = await cli(['secret', 'create', 'empty', '-'], Buffer.alloc(0));
  assert.match(empty.err, /^flotilla: a secret needs at least 1 byte of data \(standard input is empty\)\n$/);
  const noFile = await cli(['secret', 'create', 'x', join(server.dir, 'absent')]);
  assert.match(noFile.err, /^flotilla: cannot read "[^"]+absent": no such file\n$/);
  const badName = await cli(['secret', 'create', 'db~1', file('pw3', 'x')]);
  assert.equal(badName.code, 2);
  assert.match(badName.err, /^flotilla: invalid secret name "db~1": "db~1" must start with a letter or digit and contain only/);
  assert.deepEqual((await ok(['secret', 'ls', '-q'])).trim().split('\n').length, 2);

  const rm = await cli(['secret', 'rm', 'api-key', 'nope']);
  assert.equal(rm.code, 1);
  assert.equal(rm.out, 'api-key\n');
  assert.match(rm.err, /^flotilla: secret "nope" not found: see `flotilla secret ls`\n$/);
});

test('config create, inspect with its data (base64 in JSON, text with --pretty), ls', async () => {
  const { ok, cli } = server;
  const id = (await ok(['config', 'create', 'nginx.conf', file('nginx.conf', 'server { listen 80; }\n')])).trim();
  const [c] = JSON.parse(await ok(['config', 'inspect', 'nginx.conf'])) as { ID: string; Spec: { Name: string; Data: string } }[];
  assert.equal(c.ID, id);
  assert.equal(Buffer.from(c.Spec.Data, 'base64').toString(), 'server { listen 80; }\n');
  assert.match(await ok(['config', 'inspect', '--pretty', 'nginx.conf']), /\nData:\nserver \{ listen 80; \}\n\n$/);
  assert.match(await ok(['config', 'ls']), new RegExp(`^ID +NAME +CREATED +UPDATED\\n${id} +nginx\\.conf +`));
  const big = await cli(['config', 'create', 'big', file('big.conf', Buffer.alloc(1001 * 1024, 'z'))]);
  assert.match(big.err, /^flotilla: config data is 1001 KiB; a config holds at most 1000 KiB: keep larger files in a volume or in the image/);
});

test('services use secrets and configs by name; a missing one refuses the command; in use, they are not removed; rotate moves the services', async () => {
  const { ok, cli } = server;
  await ok(['secret', 'create', 'tls-key', file('key', PASSWORD)]);
  await ok(['config', 'create', 'app.yml', file('app.yml', 'a: 1\n')]);
  await ok(['service', 'create', '-d', '--name', 'web', '--secret', 'tls-key', '--secret', 'source=tls-key,target=/etc/tls/key.pem,uid=33,gid=33,mode=0400', '--config', 'app.yml', 'nginx']);
  const web = stored('web');
  const keyId = secretId('tls-key');
  assert.deepEqual(web.spec.taskTemplate.container.secrets, [
    { id: keyId, name: 'tls-key', target: 'tls-key', uid: '0', gid: '0', mode: 0o444 },
    { id: keyId, name: 'tls-key', target: '/etc/tls/key.pem', uid: '33', gid: '33', mode: 0o400 },
  ]);
  assert.deepEqual(web.spec.taskTemplate.container.configs?.map((r) => r.target), ['/app.yml']);
  const inspect = await ok(['service', 'inspect', 'web']);
  noPassword(inspect);
  assert.match(await ok(['service', 'inspect', '--pretty', 'web']), /\n Secret: +tls-key -> \/run\/secrets\/tls-key \(uid 0, gid 0, mode 0444\)\n Secret: +tls-key -> \/etc\/tls\/key\.pem \(uid 33, gid 33, mode 0400\)\n Config: +app\.yml -> \/app\.yml \(uid 0, gid 0, mode 0444\)\n/);

  const missing = await cli(['service', 'create', '-d', '--name', 'api', '--secret', 'nope', 'nginx']);
  assert.equal(missing.code, 1);
  assert.match(missing.err, /^flotilla: invalid --secret: secret "nope" not found: create it with `flotilla secret create nope FILE`, or see `flotilla secret ls`\n$/);
  assert.equal(server.manager.local.store.findServiceByName('api'), undefined);
  const missingAdd = await cli(['service', 'update', '-d', '--config-add', 'nope', 'web']);
  assert.match(missingAdd.err, /^flotilla: invalid --config: config "nope" not found/);
  assert.equal(stored('web').version, web.version);

  const inUse = await cli(['secret', 'rm', 'tls-key']);
  assert.equal(inUse.code, 1);
  assert.match(inUse.err, /^flotilla: secret "tls-key" is in use by service "web": remove it from it first \(flotilla service update --secret-rm tls-key SERVICE\)\n$/);

  // Re-adding what the service has changes nothing; removing by target and adding another does.
  await ok(['service', 'update', '-d', '--secret-add', 'tls-key', 'web']);
  assert.equal(stored('web').version, web.version);
  await ok(['secret', 'create', 'other', file('other', 'o')]);
  await ok(['service', 'update', '-d', '--secret-rm', '/etc/tls/key.pem', '--secret-add', 'source=other,target=/etc/other', 'web']);
  assert.deepEqual(stored('web').spec.taskTemplate.container.secrets?.map((r) => `${r.name}:${r.target}`), ['tls-key:tls-key', 'other:/etc/other']);

  // Rotate: the new id and the services that roll, one line each (-d: no waiting).
  const before = stored('web');
  const out = await ok(['secret', 'rotate', '-d', 'tls-key', '-'], Buffer.from('next-key'));
  const newId = secretId('tls-key');
  assert.equal(out, `${newId}\nweb\n`);
  assert.equal(secretId('tls-key~1'), keyId);
  const after = stored('web');
  assert.ok(after.specVersion > before.specVersion);
  assert.deepEqual(after.spec.taskTemplate.container.secrets?.map((r) => r.id), [newId, secretId('other')]);
  assert.match(await ok(['secret', 'ls']), /\n\S+ +tls-key~1 +/);
  const unused = await ok(['config', 'rotate', '-d', 'app.yml', file('app2.yml', 'a: 2\n')]);
  assert.equal(unused.split('\n').length, 3, 'the new id and web');
  const early = await cli(['secret', 'rotate', '-d', 'tls-key~1', file('x', 'x')]);
  assert.match(early.err, /^flotilla: secret "tls-key~1" is an earlier version of "tls-key": rotate "tls-key" instead\n$/);
});
