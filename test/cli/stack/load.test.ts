// The compose loader end to end on inline files: every supported key as the
// ServiceSpec field it sets, the stack's names and labels, merging -c files,
// docker's warnings, and bad files as one-line errors naming the place.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadStack } from '../../../src/cli/stack/load.js';
import { StackFileError } from '../../../src/cli/stack/errors.js';
import { STACK_NAMESPACE_LABEL } from '../../../src/cli/stack/model.js';
import { CliError, describeError } from '../../../src/cli/errors.js';
import { FILE, fakeReadFile, load, loadError } from './helpers.js';

const FULL = `
version: "3.8"
services:
  web:
    image: nginx:1.25
    entrypoint: /docker-entrypoint.sh
    command: nginx -g "daemon off;"
    environment:
      B: 2
      A: "one"
      FROM_SHELL:
    env_file: ./web.env
    ports:
      - "8080:80"
      - 443
      - target: 53
        published: 5353
        protocol: udp
        mode: host
    healthcheck:
      test: ["CMD", "curl", "-f", "http://localhost"]
      interval: 30s
      timeout: 5s
      retries: 3
      start_period: 1m
    stop_grace_period: 1m30s
    user: "101:101"
    working_dir: /srv
    volumes:
      - data:/data
      - ./conf:/etc/nginx/conf.d:ro
      - /var/log/web:/logs
      - /scratch
      - type: volume
        source: ext
        target: /ext
        read_only: true
    secrets:
      - db_password
      - source: tls
        target: /etc/tls/key.pem
        uid: "101"
        gid: "102"
        mode: 0400
    configs:
      - nginx_conf
      - source: extconf
        target: /etc/extra.conf
    networks:
      - front
      - back
    depends_on:
      cache:
        condition: service_healthy
      db:
        condition: service_started
    deploy:
      mode: replicated
      replicas: 3
      labels:
        traefik.enable: "true"
      placement:
        constraints: ["node.role == manager"]
        preferences:
          - spread: node.labels.zone
        max_replicas_per_node: 2
      resources:
        limits: {cpus: "0.5", memory: 512M}
        reservations: {cpus: 0.25, memory: 128M}
      restart_policy:
        condition: on-failure
        delay: 10s
        max_attempts: 3
        window: 2m
      update_config:
        parallelism: 2
        delay: 10s
        failure_action: rollback
        monitor: 30s
        max_failure_ratio: 0.25
        order: start-first
      rollback_config:
        parallelism: 0
        failure_action: continue
        order: stop-first
      endpoint_mode: vip
  cache:
    image: redis
    networks: [back]
    deploy:
      mode: global
  db:
    image: postgres
    command: ["postgres", "-c", "max_connections=50"]
    networks:
      back:
  worker:
    image: busybox
    depends_on: [cache]
networks:
  front:
    labels: [tier=front]
  back:
    driver: overlay
  unused: {}
volumes:
  data: {}
  ext:
    external: true
secrets:
  db_password:
    file: ./secrets/db_password.txt
    labels: {kind: pw}
  tls:
    external: true
    name: shared_tls
configs:
  nginx_conf:
    file: /abs/nginx.conf
  extconf:
    external: true
`;
const FILES = {
  '/app/web.env': '# env file\nA=from-file\nC=3\nQ="quoted stays"\n',
  '/app/secrets/db_password.txt': 'hunter2',
  '/abs/nginx.conf': 'server {}',
};

test('every supported service key, as the ServiceSpec field it sets', () => {
  const m = load(FULL, { files: FILES, env: { FROM_SHELL: 'sh' } });
  assert.equal(m.stack, 'st');
  assert.deepEqual(m.services.map((s) => s.key), ['web', 'cache', 'db', 'worker']);
  const web = m.services[0];
  const s = web.spec;
  const c = s.taskTemplate.container;
  assert.equal(s.name, 'st_web');
  assert.deepEqual(s.labels, { 'traefik.enable': 'true', [STACK_NAMESPACE_LABEL]: 'st' });
  assert.equal(c.image, 'nginx:1.25');
  assert.deepEqual(c.command, ['/docker-entrypoint.sh']);
  assert.deepEqual(c.args, ['nginx', '-g', 'daemon off;']);
  // env_file first, environment over it, sorted; an empty value in the map takes the shell's.
  assert.deepEqual(c.env, ['A=one', 'B=2', 'C=3', 'FROM_SHELL=sh', 'Q="quoted stays"']);
  assert.deepEqual(s.endpoint.ports, [
    { protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'ingress' },
    { protocol: 'tcp', targetPort: 443, publishedPort: 0, publishMode: 'ingress' },
    { protocol: 'udp', targetPort: 53, publishedPort: 5353, publishMode: 'host' },
  ]);
  assert.deepEqual(c.healthcheck, { test: ['CMD', 'curl', '-f', 'http://localhost'], intervalMs: 30_000, timeoutMs: 5_000, retries: 3, startPeriodMs: 60_000 });
  assert.equal(c.stopGracePeriodMs, 90_000);
  assert.equal(c.user, '101:101');
  assert.equal(c.dir, '/srv');
  assert.deepEqual(c.mounts, [
    { type: 'volume', source: 'st_data', target: '/data', readOnly: false },
    { type: 'bind', source: '/app/conf', target: '/etc/nginx/conf.d', readOnly: true },
    { type: 'bind', source: '/var/log/web', target: '/logs', readOnly: false },
    { type: 'volume', source: '', target: '/scratch', readOnly: false },
    { type: 'volume', source: 'ext', target: '/ext', readOnly: true },
  ]);
  assert.deepEqual(c.secrets, [
    { id: '', name: 'st_db_password', target: 'db_password', uid: '0', gid: '0', mode: 0o444 },
    { id: '', name: 'shared_tls', target: '/etc/tls/key.pem', uid: '101', gid: '102', mode: 0o400 },
  ]);
  assert.deepEqual(c.configs, [
    { id: '', name: 'st_nginx_conf', target: 'nginx_conf', uid: '0', gid: '0', mode: 0o444 },
    { id: '', name: 'extconf', target: '/etc/extra.conf', uid: '0', gid: '0', mode: 0o444 },
  ]);
  assert.deepEqual(s.taskTemplate.networks, ['st_front', 'st_back']);
  assert.deepEqual(web.dependsOn, [
    { service: 'cache', condition: 'service_healthy' },
    { service: 'db', condition: 'service_started' },
  ]);
  assert.deepEqual(s.mode, { replicated: { replicas: 3 } });
  assert.deepEqual(s.taskTemplate.placement, { constraints: ['node.role == manager'], preferences: [{ spread: 'node.labels.zone' }], maxReplicas: 2 });
  assert.deepEqual(s.taskTemplate.resources, { limits: { nanoCpus: 500_000_000, memoryBytes: 512 * 1024 ** 2 }, reservations: { nanoCpus: 250_000_000, memoryBytes: 128 * 1024 ** 2 } });
  assert.deepEqual(s.taskTemplate.restartPolicy, { condition: 'on-failure', delayMs: 10_000, maxAttempts: 3, windowMs: 120_000, maxDelayMs: 300_000 });
  assert.deepEqual(
    { ...s.updateConfig },
    { parallelism: 2, delayMs: 10_000, failureAction: 'rollback', monitorMs: 30_000, maxFailureRatio: 0.25, order: 'start-first', canary: 0, autoPromote: false, progressDeadlineMs: 0 },
  );
  assert.equal(s.rollbackConfig.parallelism, 0);
  assert.equal(s.rollbackConfig.failureAction, 'continue');

  const [, cache, db, worker] = m.services;
  assert.deepEqual(cache.spec.mode, { global: {} });
  assert.deepEqual(db.spec.taskTemplate.container.args, ['postgres', '-c', 'max_connections=50']);
  assert.deepEqual(db.spec.taskTemplate.networks, ['st_back']);
  // No networks: the stack's default network.
  assert.deepEqual(worker.spec.taskTemplate.networks, ['st_default']);
  assert.deepEqual(worker.dependsOn, [{ service: 'cache', condition: 'service_started' }]);
  assert.deepEqual(m.warnings, []);
});

test('top-level objects: the ones the services use, named in the stack unless external or named', () => {
  const m = load(FULL, { files: FILES, env: {} });
  assert.deepEqual(m.networks, [
    { key: 'front', name: 'st_front', external: false, labels: { tier: 'front', [STACK_NAMESPACE_LABEL]: 'st' } },
    { key: 'back', name: 'st_back', external: false, labels: { [STACK_NAMESPACE_LABEL]: 'st' } },
    { key: 'default', name: 'st_default', external: false, labels: { [STACK_NAMESPACE_LABEL]: 'st' } },
  ]);
  assert.deepEqual(m.volumes, [
    { key: 'data', name: 'st_data', external: false },
    { key: 'ext', name: 'ext', external: true },
  ]);
  assert.deepEqual(m.secrets, [
    { key: 'db_password', name: 'st_db_password', external: false, data: Buffer.from('hunter2'), file: '/app/secrets/db_password.txt', labels: { kind: 'pw', [STACK_NAMESPACE_LABEL]: 'st' } },
    { key: 'tls', name: 'shared_tls', external: true, labels: {} },
  ]);
  assert.deepEqual(m.configs, [
    { key: 'nginx_conf', name: 'st_nginx_conf', external: false, data: Buffer.from('server {}'), file: '/abs/nginx.conf', labels: { [STACK_NAMESPACE_LABEL]: 'st' } },
    { key: 'extconf', name: 'extconf', external: true, labels: {} },
  ]);
});

test('an external default network and a named network keep their names', () => {
  const m = load('services:\n  a: {image: x}\n  b: {image: x, networks: [net]}\nnetworks:\n  default: {external: true, name: host_net}\n  net: {name: fixed}\n');
  assert.deepEqual(m.networks.map((n) => [n.key, n.name, n.external]), [['default', 'host_net', true], ['net', 'fixed', false]]);
  assert.deepEqual(m.services[1].spec.taskTemplate.networks, ['fixed']);
});

test('healthcheck: a string runs in a shell; disable is NONE', () => {
  const m = load('services:\n  a: {image: x, healthcheck: {test: "curl -f localhost || exit 1"}}\n  b: {image: x, healthcheck: {disable: true}}\n');
  assert.deepEqual(m.services[0].spec.taskTemplate.container.healthcheck?.test, ['CMD-SHELL', 'curl -f localhost || exit 1']);
  assert.deepEqual(m.services[1].spec.taskTemplate.container.healthcheck?.test, ['NONE']);
});

test('deploy.endpoint_mode: dnsrr is the endpoint mode (any case, as docker lower-cases it), with host-mode ports; vip is the default', () => {
  const m = load(
    'services:\n  db:\n    image: postgres\n    ports: [{target: 5432, published: 5432, mode: host}]\n    deploy: {endpoint_mode: DNSRR}\n  web: {image: x, ports: ["8080:80"], deploy: {endpoint_mode: vip}}\n  plain: {image: x}\n',
  );
  const [db, web, plain] = m.services.map((s) => s.spec.endpoint);
  assert.deepEqual(db, { mode: 'dnsrr', ports: [{ protocol: 'tcp', targetPort: 5432, publishedPort: 5432, publishMode: 'host' }] });
  assert.equal(web.mode, undefined, 'vip: the default, not stored');
  assert.deepEqual(plain, { ports: [] });
  assert.equal(load(FULL, { files: FILES, env: { FROM_SHELL: 'sh' } }).services[0].spec.endpoint.mode, undefined);
});

test('YAML as docker reads it: unquoted ports are not base-60, 0400 is octal, yes is true, and so is y', () => {
  assert.equal(loadError('services:\n  a: {image: x, networks: [n]}\n'), '/app/docker-compose.yml: services.a.networks[0]: must be string, got false');
  const m = load('services:\n  a:\n    image: x\n    ports:\n      - 8080:80\n    secrets: [{source: s, mode: 0440}]\nsecrets:\n  s: {external: yes}\n');
  assert.equal(m.services[0].spec.endpoint.ports[0].publishedPort, 8080);
  assert.equal(m.services[0].spec.taskTemplate.container.secrets?.[0].mode, 0o440);
  assert.equal(m.secrets[0].external, true);
});

test('several files merge as docker: later keys win, services merged per key, env and labels per variable', () => {
  const base = 'services:\n  web:\n    image: nginx:1\n    environment: [A=1, B=1]\n    ports: ["80:80"]\n    volumes: ["data:/data"]\n    deploy: {replicas: 1, labels: {x: "1"}}\n  db:\n    image: postgres\nvolumes:\n  data: {}\n';
  const over = 'services:\n  web:\n    image: nginx:2\n    environment: {B: 2, C: 3}\n    ports: ["443:443"]\n    volumes: ["other:/data"]\n    deploy: {replicas: 4, labels: [y=2]}\n  extra:\n    image: busybox\nvolumes:\n  other: {}\n';
  const m = loadStack('st', [{ path: FILE, content: base }, { path: '/app/prod.yml', content: over }], { env: {}, readFile: fakeReadFile({}) });
  assert.deepEqual(m.services.map((s) => s.key), ['web', 'db', 'extra']);
  const web = m.services[0].spec;
  assert.equal(web.taskTemplate.container.image, 'nginx:2');
  assert.deepEqual(web.taskTemplate.container.env, ['A=1', 'B=2', 'C=3']);
  assert.deepEqual(web.endpoint.ports.map((p) => p.publishedPort), [80, 443]);
  // Volumes merge by target: the later file's mount of /data replaces the earlier one.
  assert.deepEqual(web.taskTemplate.container.mounts, [{ type: 'volume', source: 'st_other', target: '/data', readOnly: false }]);
  assert.deepEqual(web.mode, { replicated: { replicas: 4 } });
  assert.deepEqual(web.labels, { x: '1', y: '2', [STACK_NAMESPACE_LABEL]: 'st' });
  // An error in a merged key names the file that set it.
  const bad = 'services:\n  web:\n    deploy: {resources: {limits: {memory: lots}}}\n';
  assert.throws(
    () => loadStack('st', [{ path: FILE, content: base }, { path: '/app/bad.yml', content: bad }], { env: {}, readFile: fakeReadFile({}) }),
    (e: unknown) => e instanceof StackFileError && e.message.startsWith('/app/bad.yml: services.web.deploy.resources.limits.memory: invalid value "lots": '),
  );
});

test('options Swarm ignores: docker\'s warnings', () => {
  const m = load('services:\n  a: {image: x, build: ., restart: always, container_name: a}\n  b: {image: x, links: [a], expose: ["80"]}\n');
  assert.deepEqual(m.warnings, [
    'Ignoring unsupported options: build, links, restart',
    'Ignoring deprecated options:\n\ncontainer_name: Setting the container name is not supported.',
  ]);
  assert.equal(m.services.length, 2);
});

test('expose: served on the virtual IP (flotilla goes beyond docker, which ignores it): ports, ranges, udp; a bad one names the key', () => {
  const m = load('services:\n  cache: {image: x, expose: ["6379", 53/udp, 7000-7002, 6379/tcp]}\n');
  assert.deepEqual(m.services[0].spec.taskTemplate.container.expose, ['6379/tcp', '53/udp', '7000/tcp', '7001/tcp', '7002/tcp']);
  assert.deepEqual(m.warnings, []);
  assert.throws(
    () => load('services:\n  cache: {image: x, expose: ["6379", "70000"]}\n'),
    (e: unknown) => e instanceof StackFileError && /services\.cache\.expose\[1\]: invalid value "70000": give PORT\[\/PROTO\]/.test(e.message),
  );
});

test('per-network aliases: on that network of the stack (by full name, in the order of the networks); addresses and priority ignored with a warning', () => {
  const m = load(
    [
      'services:',
      '  web:',
      '    image: x',
      '    networks:',
      '      back: {aliases: [db, primary.db], ipv4_address: 10.0.0.5, x-note: 1}',
      '      front:',
      '      ext: {aliases: [www], priority: 100, link_local_ips: [169.254.1.1]}',
      '  api:',
      '    image: x',
      '    networks: {front: {ipv6_address: "::1"}}',
      'networks:',
      '  front: {}',
      '  back: {}',
      '  ext: {external: true, name: shared}',
      '',
    ].join('\n'),
  );
  const web = m.services.find((s) => s.key === 'web')?.spec;
  assert.deepEqual(web?.taskTemplate.networks, ['st_back', 'st_front', 'shared']);
  assert.deepEqual(web?.taskTemplate.networkAliases, { st_back: ['db', 'primary.db'], shared: ['www'] });
  assert.deepEqual(Object.keys(web?.taskTemplate.networkAliases ?? {}), ['st_back', 'shared']);
  assert.equal(m.services.find((s) => s.key === 'api')?.spec.taskTemplate.networkAliases, undefined, 'none: absent');
  assert.deepEqual(m.warnings, ['Ignoring unsupported network options: ipv4_address, ipv6_address, link_local_ips, priority']);
  // Empty or null aliases are none.
  const empty = load('services:\n  web: {image: x, networks: {net: {aliases: []}}}\nnetworks: {net: {}}\n');
  assert.equal(empty.services[0].spec.taskTemplate.networkAliases, undefined);
  assert.deepEqual(empty.warnings, []);
});

test('bad files: one line naming the file, the service and the key', () => {
  const cases: [string, string | RegExp, Record<string, string>?][] = [
    ['services:\n  web:\n    imagee: nginx\n', '/app/docker-compose.yml: services.web: unknown key "imagee"'],
    ['servics:\n  web: {image: x}\n', '/app/docker-compose.yml: unknown key "servics"'],
    ['services:\n  web:\n    image: x\n    deploy: {replicas: three}\n', '/app/docker-compose.yml: services.web.deploy.replicas: must be integer, got "three"'],
    ['services:\n  web:\n    image: x\n    deploy: {update_config: {order: sideways}}\n', '/app/docker-compose.yml: services.web.deploy.update_config.order: must be one of start-first, stop-first, got "sideways"'],
    ['services:\n  web:\n    image: x\n    deploy: {placement: {constraints: "node.role==manager"}}\n', '/app/docker-compose.yml: services.web.deploy.placement.constraints: must be array, got "node.role==manager"'],
    ['services:\n  web:\n    image: x\n    secrets: [pw]\nsecrets:\n  pw: {file: ./pw.txt}\n', '/app/docker-compose.yml: secrets.pw.file: cannot read the file of secret "pw" at /app/pw.txt: no such file'],
    ['services:\n  web:\n    image: x\n    env_file: web.env\n', '/app/docker-compose.yml: services.web.env_file: cannot read env file "web.env" at /app/web.env: no such file'],
    ['services:\n  web:\n    image: x\n    secrets: [pw]\n', '/app/docker-compose.yml: services.web.secrets[0]: secret "pw" is not declared under the top-level secrets:'],
    ['services:\n  web:\n    image: x\n    networks: [nope]\n', '/app/docker-compose.yml: services.web.networks[0]: network "nope" is not declared under the top-level networks:'],
    ['services:\n  web:\n    image: x\n    volumes: ["nope:/data"]\n', '/app/docker-compose.yml: services.web.volumes[0]: volume "nope" is not declared under the top-level volumes:'],
    ['services:\n  web:\n    image: x\n    depends_on: [db]\n', '/app/docker-compose.yml: services.web.depends_on[0]: service "db" is not a service of this stack'],
    ['services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: [a]}\n', '/app/docker-compose.yml: services.a.depends_on: depends_on makes a cycle: a -> b -> a'],
    ['services:\n  web:\n    build: .\n', /^\/app\/docker-compose\.yml: services\.web: missing key "image"/],
    ['services:\n  web: {image: x, stop_grace_period: 10 s}\n', /^\/app\/docker-compose\.yml: services\.web\.stop_grace_period: invalid value "10 s": /],
    ['services:\n  web: {image: x, deploy: {resources: {limits: {cpus: "lots"}}}}\n', /^\/app\/docker-compose\.yml: services\.web\.deploy\.resources\.limits\.cpus: invalid value "lots"/],
    ['services:\n  web: {image: x, deploy: {resources: {limits: {memory: 1G}, reservations: {memory: 2G}}}}\n', /^\/app\/docker-compose\.yml: services\.web\.deploy\.resources\.reservations\.memory: /],
    ['services:\n  web: {image: x, deploy: {restart_policy: {condition: always}}}\n', /^\/app\/docker-compose\.yml: services\.web\.deploy\.restart_policy\.condition: must be one of none, on-failure, any/],
    ['services:\n  web: {image: x, deploy: {rollback_config: {failure_action: rollback}}}\n', /^\/app\/docker-compose\.yml: services\.web\.deploy\.rollback_config\.failure_action: must be one of pause, continue/],
    ['services:\n  web: {image: x, deploy: {placement: {constraints: ["node.rol == x"]}}}\n', /^\/app\/docker-compose\.yml: services\.web\.deploy\.placement\.constraints\[0\]: "node\.rol" is not one of/],
    ['services:\n  web: {image: x, deploy: {placement: {max_replicas_per_node: -1}}}\n', '/app/docker-compose.yml: services.web.deploy.placement.max_replicas_per_node: must be in 0..100000 (got -1)'],
    ['services:\n  web: {image: x, deploy: {mode: global, placement: {max_replicas_per_node: 1}}}\n', '/app/docker-compose.yml: services.web.deploy.placement.max_replicas_per_node: max replicas per node is for replicated services (a global service runs one task per node): remove it or use replicated mode'],
    ['services:\n  web: {image: x, deploy: {endpoint_mode: rr}}\n', '/app/docker-compose.yml: services.web.deploy.endpoint_mode: must be vip or dnsrr, got "rr"'],
    [
      'services:\n  web: {image: x, ports: ["8080:80"], deploy: {endpoint_mode: dnsrr}}\n',
      "/app/docker-compose.yml: services.web.deploy.endpoint_mode: port published with ingress mode can't be used with dnsrr mode (target port 80/tcp): publish it in host mode, or use the vip endpoint mode",
    ],
    ['services:\n  web: {image: x, deploy: {mode: global, replicas: 2}}\n', '/app/docker-compose.yml: services.web.deploy.replicas: replicas can only be used with replicated mode'],
    ['services:\n  web: {image: x, deploy: {mode: replicated-job}}\n', /^\/app\/docker-compose\.yml: services\.web\.deploy\.mode: must be replicated or global, got "replicated-job" \(flotilla has no jobs\)$/],
    [`services:\n  web: {image: x, labels: {${'k'.repeat(300)}: c}}\n`, /^\/app\/docker-compose\.yml: services\.web\.labels: label keys must be 1\.\.128 characters \(got 300\)$/],
    ['services:\n  web: {image: x, hostname: h}\n', /^\/app\/docker-compose\.yml: services\.web\.hostname: not supported by flotilla's services/],
    ['services:\n  web: {image: x, volumes_from: [a]}\n', /^\/app\/docker-compose\.yml: services\.web\.volumes_from: not supported by stack deploy: To share a volume/],
    ['services:\n  web: {image: x, ports: ["99999:80"]}\n', /^\/app\/docker-compose\.yml: services\.web\.ports\[0\]: invalid value "99999:80": /],
    ['services:\n  web: {image: x, volumes: [{type: tmpfs, target: /t}]}\n', /^\/app\/docker-compose\.yml: services\.web\.volumes\[0\]: mount type "tmpfs" is not supported/],
    ['services:\n  web: {image: x, volumes: ["a:relative"]}\nvolumes: {a: {}}\n', '/app/docker-compose.yml: services.web.volumes[0]: "relative" must be an absolute path'],
    ['services:\n  web: {image: "Not An Image"}\n', /^\/app\/docker-compose\.yml: services\.web\.image: /],
    ['services:\n  web: {image: x, networks: {net: {aliases: [a_b]}}}\nnetworks: {net: {}}\n', /^\/app\/docker-compose\.yml: services\.web\.networks\.net\.aliases\[0\]: "a_b" is not a DNS name: /],
    ['services:\n  web: {image: x, networks: {net: {aliases: [tasks.db]}}}\nnetworks: {net: {}}\n', /^\/app\/docker-compose\.yml: services\.web\.networks\.net\.aliases\[0\]: "tasks\.db" may not start with "tasks\."/],
    ['services:\n  web: {image: x, networks: {net: {aliases: [db, DB]}}}\nnetworks: {net: {}}\n', /^\/app\/docker-compose\.yml: services\.web\.networks: the alias "DB" is given twice on this network/],
    [`services:\n  web: {image: x, networks: {net: {aliases: [${Array.from({ length: 33 }, (_, i) => `a${i}`).join(', ')}]}}}\nnetworks: {net: {}}\n`, /^\/app\/docker-compose\.yml: services\.web\.networks: at most 32 aliases on one network \(got 33\)$/],
    ['services:\n  web: {image: x, networks: {net: {mac_address: "02:42:ac:11:00:02"}}}\nnetworks: {net: {}}\n', /^\/app\/docker-compose\.yml: services\.web\.networks\.net: unknown key "mac_address"/],
    ['services:\n  web: {image: x, networks: [net]}\nnetworks: {net: {driver: bridge}}\n', /^\/app\/docker-compose\.yml: networks\.net\.driver: flotilla's networks are overlay networks/],
    ['services:\n  web: {image: x, secrets: [s]}\nsecrets: {s: {name: s}}\n', /^\/app\/docker-compose\.yml: secrets\.s: missing key "file"/],
    ['services:\n  web:\n    image: x\n  web:\n    image: y\n', /^\/app\/docker-compose\.yml: invalid YAML: Map keys must be unique at line 4, column 3$/],
    ['services: [\n', /^\/app\/docker-compose\.yml: invalid YAML: .* at line 2, column 1$/],
    ['', '/app/docker-compose.yml: the file is empty: expected a compose file with services:'],
    ['services:\n  web: {image: "x:${TAG"}\n', /^\/app\/docker-compose\.yml: services\.web\.image: invalid interpolation format in "x:\$\{TAG": /],
  ];
  for (const [yaml, want, files] of cases) {
    const got = loadError(yaml, { files });
    if (typeof want === 'string') assert.equal(got, want, yaml);
    else assert.match(got, want, yaml);
  }
});

test('a StackFileError is a CliError: one line on stderr, exit code 1', () => {
  let err: unknown;
  try {
    load('services:\n  web: {imagee: x}\n');
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof StackFileError && err instanceof CliError);
  assert.deepEqual(describeError(err), { message: '/app/docker-compose.yml: services.web: unknown key "imagee"', exitCode: 1 });
});

test('a service name too long for the cluster is refused at load', () => {
  assert.match(loadError(`services:\n  ${'s'.repeat(61)}: {image: x}\n`), /^\/app\/docker-compose\.yml: services\.s+: must be 1\.\.63 characters/);
});

test('YAML anchors and merge keys (x- extension fields) work as in docker', () => {
  const m = load('x-common: &common\n  image: busybox\n  environment: {A: "1"}\nservices:\n  a:\n    <<: *common\n  b:\n    <<: *common\n    image: alpine\n');
  assert.deepEqual(m.services.map((s) => [s.key, s.spec.taskTemplate.container.image, s.spec.taskTemplate.container.env]), [['a', 'busybox', ['A=1']], ['b', 'alpine', ['A=1']]]);
});

test('environment: a key alone takes the shell\'s value, or is left out when unset', () => {
  const m = load('services:\n  a: {image: x, environment: [SET, UNSET, B=1]}\n', { env: { SET: 'v' } });
  assert.deepEqual(m.services[0].spec.taskTemplate.container.env, ['B=1', 'SET=v']);
});
