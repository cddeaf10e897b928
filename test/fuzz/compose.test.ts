// Property-based fuzzing of the compose loader (`stack deploy`'s input):
// a valid compose file, mutated (values replaced by hostile ones of any type,
// keys renamed, lines cut, bytes flipped), then loaded.
//
// Invariants:
// - untyped-error       a refusal is a StackFileError (the CLI's own typed error),
//                       never a TypeError, RangeError or the YAML library's own
// - error-not-one-line  its message is one line, without control characters
// - error-no-place      it names the file
// - accepted-spec-invalid  an accepted file yields service specs the
//                       project's validator accepts once their names are ids
// Seeded: FUZZ_SEED=N reproduces a run; FUZZ_RUNS=N sets how many cases.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { parse, stringify } from 'yaml';
import { validateServiceSpec } from '../../src/api/validate.js';
import { StackFileError } from '../../src/cli/stack/errors.js';
import { loadStack } from '../../src/cli/stack/load.js';
import { fakeReadFile, FILE } from '../cli/stack/helpers.js';

const SEED = Number(process.env.FUZZ_SEED ?? 19);
const RUNS = Number(process.env.FUZZ_RUNS ?? 300);
// npm run fuzz sets FUZZ_SEED to a new seed each run; npm test uses 19.

const BASE = {
  version: '3.8',
  services: {
    web: {
      image: 'nginx:1.25',
      command: ['nginx', '-g', 'daemon off;'],
      environment: { A: '1', B: '${TAG:-x}' },
      ports: ['8080:80', { target: 443, published: 8443, protocol: 'tcp', mode: 'ingress' }],
      networks: ['front'],
      depends_on: ['cache'],
      secrets: ['pw'],
      healthcheck: { test: ['CMD', 'true'], interval: '10s', retries: 3 },
      deploy: {
        replicas: 2,
        labels: { tier: 'web' },
        placement: { constraints: ['node.role == worker'], preferences: [{ spread: 'node.labels.zone' }] },
        resources: { limits: { cpus: '0.5', memory: '256M' } },
        restart_policy: { condition: 'on-failure', delay: '5s', max_attempts: 3 },
        update_config: { parallelism: 1, delay: '10s', order: 'start-first', failure_action: 'rollback' },
      },
    },
    cache: { image: 'redis:7', volumes: ['data:/data'], networks: ['front', 'back'], stop_grace_period: '20s', user: '1000', working_dir: '/data' },
  },
  networks: { front: {}, back: {} },
  volumes: { data: {} },
  secrets: { pw: { file: './pw.txt' } },
};

const hostile = fc.oneof(
  fc.constantFrom(null, true, false, 0, -1, 1e308, -0, '', ' ', '${', '${UNSET}', '$$', '\u0000', '\u001b[31m', 'a\nb', '../../etc/passwd', '-1', '0x10', '1e3', '99999999999999999999', '8080:80:70', 'node.role ==', '∞', '10 s'),
  fc.string({ maxLength: 20 }),
  fc.integer(),
  fc.double(),
  fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 3 }),
);

/** Every path to a value in `x`: ['services', 'web', 'deploy', 'replicas']. */
function paths(x: unknown, at: (string | number)[] = []): (string | number)[][] {
  if (Array.isArray(x)) return [at, ...x.flatMap((v, i) => paths(v, [...at, i]))];
  if (x && typeof x === 'object') return [at, ...Object.entries(x).flatMap(([k, v]) => paths(v, [...at, k]))];
  return [at];
}
const ALL = paths(BASE).filter((p) => p.length > 0);

function setAt(doc: unknown, path: (string | number)[], value: unknown): unknown {
  const copy = structuredClone(doc) as Record<string | number, unknown>;
  let o = copy;
  for (const k of path.slice(0, -1)) {
    // An earlier mutation renamed or replaced what the path goes through: nothing to do.
    if (!o || typeof o !== 'object') return copy;
    o = o[k] as Record<string | number, unknown>;
  }
  if (!o || typeof o !== 'object') return copy;
  o[path[path.length - 1]] = value;
  return copy;
}

function renameAt(doc: unknown, path: (string | number)[], name: string): unknown {
  const copy = structuredClone(doc) as Record<string | number, unknown>;
  let o = copy;
  for (const k of path.slice(0, -1)) {
    if (!o || typeof o !== 'object') return copy;
    o = o[k] as Record<string | number, unknown>;
  }
  const last = path[path.length - 1];
  if (!o || typeof o !== 'object' || Array.isArray(o) || typeof last === 'number' || !(last in o)) return copy;
  o[name] = o[last];
  delete o[last];
  return copy;
}

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), path: fc.constantFrom(...ALL), value: hostile }),
  fc.record({ kind: fc.constant('rename' as const), path: fc.constantFrom(...ALL), value: fc.constantFrom('imagee', 'x-ext', '', '0', 'services', 'Image') }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat(), len: fc.nat({ max: 40 }) }),
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
);

interface Mutation {
  kind: 'set' | 'rename' | 'cut' | 'flip';
  path?: (string | number)[];
  value?: unknown;
  at?: number;
  len?: number;
  byte?: number;
}

/** The base file with the mutations: values and keys first (on the document), then cuts and flips (on the text). */
function apply(muts: readonly Mutation[]): string {
  let doc: unknown = BASE;
  let out = stringify(BASE);
  for (const m of muts) {
    if (m.kind === 'set') doc = setAt(doc, m.path!, m.value);
    else if (m.kind === 'rename') doc = renameAt(doc, m.path!, String(m.value));
    out = stringify(doc);
  }
  for (const m of muts) {
    if (m.kind === 'cut' && out.length > 0) {
      const at = m.at! % out.length;
      out = out.slice(0, at) + out.slice(at + m.len!);
    } else if (m.kind === 'flip' && out.length > 0) {
      const at = m.at! % out.length;
      out = out.slice(0, at) + String.fromCharCode(m.byte!) + out.slice(at + 1);
    }
  }
  return out;
}

test('compose files: every refusal is one typed line naming the file; every acceptance yields valid specs', () => {
  // The base itself loads.
  const ok = loadStack('app', [{ path: FILE, content: stringify(BASE) }], { env: {}, readFile: fakeReadFile({ '/app/pw.txt': 'secret' }) });
  assert.equal(ok.services.length, 2);
  assert.ok(parse(stringify(BASE)));
  fc.assert(
    fc.property(fc.array(mutation, { minLength: 1, maxLength: 3 }), (muts) => {
      const content = apply(muts as Mutation[]);
      let model;
      try {
        model = loadStack('app', [{ path: FILE, content }], { env: {}, readFile: fakeReadFile({ '/app/pw.txt': 'secret' }) });
      } catch (err) {
        assert.ok(err instanceof StackFileError, `untyped-error: ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`);
        const msg = err.message;
        // eslint-disable-next-line no-control-regex -- control characters are what must not be there
        assert.ok(!/[\u0000-\u0008\u000a-\u001f\u007f]/.test(msg), `error-not-one-line: ${JSON.stringify(msg)}`);
        assert.ok(msg.includes('docker-compose.yml'), `error-no-place: ${msg}`);
        return;
      }
      for (const s of model.services) {
        const spec = structuredClone(s.spec);
        assert.doesNotThrow(() => validateServiceSpec(spec), `accepted-spec-invalid: ${s.key}`);
      }
    }),
    { seed: SEED, numRuns: RUNS },
  );
});
