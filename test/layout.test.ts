// The layout's two rules, checked on the tree itself (DESIGN.md, "Layout"):
// imports flow one way, enforced by the lint rule of eslint.config.js (checked
// here to refuse what it must, so that a change to the config cannot silently
// let a boundary go), and no import cycle between modules of src/.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { test } from 'node:test';
import { ESLint } from 'eslint';
import { packageRoot } from '../src/common/protos.js';

const root = packageRoot();

/** The message of the import-boundary error eslint gives for `code` in `file`, '' when it accepts it. */
async function boundaryError(eslint: ESLint, file: string, code: string): Promise<string> {
  const [r] = await eslint.lintText(code, { filePath: join(root, file) });
  return r.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message).join('; ');
}

test('the lint rule refuses an import across a boundary and accepts one along the flow', { timeout: 60_000 }, async () => {
  const eslint = new ESLint({ cwd: root });
  const refused: [string, string, RegExp][] = [
    ['src/worker/exec/docker/x.ts', '../../../manager/store/store.js', /the worker imports only the contract/],
    ['src/worker/x.ts', '../raft/node.js', /the worker imports only the contract/],
    ['src/manager/dispatcher/x.ts', '../../worker/agent.js', /never the worker/],
    ['src/manager/x.ts', '../cli/main.js', /never the worker, the daemon or the CLI/],
    ['src/raft/x.ts', '../manager/manager.js', /src\/raft imports nothing of the manager/],
    ['src/raft/core/x.ts', '../transport.js', /the Raft core imports nothing of the project/],
    ['src/raft/core/x.ts', '../../api/wire.js', /the Raft core imports nothing of the project/],
    ['src/api/x.ts', '../manager/store/store.js', /src\/api is the contract/],
    ['src/common/x.ts', '../api/objects.js', /imports nothing of the project/],
    ['src/cli/x.ts', '../manager/store/store.js', /the CLI talks to the cluster through the contract/],
    ['src/cli/connection.ts', '../manager/ca/ca.js', /only for the node mTLS credentials/],
    ['src/daemon/x.ts', '../cli/main.js', /never imports the CLI/],
    ['src/testing/x.ts', '../tools/chaos.js', /do not import the shipped commands/],
    ['src/console/web/x.ts', '../server/api.js', /the browser app imports only its own modules/],
    ['src/console/web/x.ts', '../../api/objects.js', /the browser app imports only its own modules/],
    ['src/console/web/x.ts', './format', /with the extension the browser needs/],
  ];
  for (const [file, from, why] of refused) {
    assert.match(await boundaryError(eslint, file, `import { a } from '${from}';\nexport const b = a;\n`), why, `${file} importing ${from}`);
  }
  const accepted: [string, string][] = [
    ['src/worker/x.ts', '../api/objects.js'],
    ['src/manager/x.ts', '../raft/node.js'],
    ['src/raft/core/x.ts', '../types.js'],
    ['src/cli/connection.ts', '../manager/ca/tls.js'],
    ['src/daemon/x.ts', '../worker/agent.js'],
    ['src/tools/x.ts', '../testing/prng.js'],
    ['src/console/web/x.ts', './format.js'],
  ];
  for (const [file, from] of accepted) {
    assert.equal(await boundaryError(eslint, file, `import { a } from '${from}';\nexport const b = a;\n`), '', `${file} importing ${from}`);
  }
});

test('no import cycle between the modules of src/', () => {
  const graph = new Map<string, string[]>();
  (function walk(dir: string): void {
    for (const e of readdirSync(join(root, dir), { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        if (p !== join('src', 'api', 'gen')) walk(p);
      } else if (e.name.endsWith('.ts')) {
        const deps = [...readFileSync(join(root, p), 'utf8').matchAll(/^(?:import|export)[^;]*?from '(\.[^']+)\.js'/gm)].map((m) => normalize(join(dirname(p), `${m[1]}.ts`)));
        graph.set(p, deps);
      }
    }
  })('src');
  assert.ok(graph.size > 100, `read ${graph.size} modules`);
  // Depth-first search; a module met again while on the path closes a cycle.
  const state = new Map<string, 'open' | 'done'>();
  const cycles: string[] = [];
  const path: string[] = [];
  const visit = (m: string): void => {
    state.set(m, 'open');
    path.push(m);
    for (const d of graph.get(m) ?? []) {
      if (!graph.has(d)) continue;
      if (state.get(d) === 'open') cycles.push([...path.slice(path.indexOf(d)), d].map((x) => relative('src', x)).join(' -> '));
      else if (!state.has(d)) visit(d);
    }
    path.pop();
    state.set(m, 'done');
  };
  for (const m of graph.keys()) if (!state.has(m)) visit(m);
  assert.deepEqual(cycles, []);
});
