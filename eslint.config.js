// Lint rules. The Raft core must stay a pure state machine: no clock, timers,
// randomness or I/O of its own, so those globals are banned under src/raft/core.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const impure = [
  { name: 'setTimeout', message: 'the Raft core has no timers: it is driven by tick()' },
  { name: 'setInterval', message: 'the Raft core has no timers: it is driven by tick()' },
  { name: 'setImmediate', message: 'the Raft core has no timers' },
  { name: 'Date', message: 'the Raft core has no clock: it is driven by tick()' },
  { name: 'performance', message: 'the Raft core has no clock' },
  { name: 'process', message: 'the Raft core does no I/O' },
  { name: 'console', message: 'the Raft core does no I/O' },
];

// The browser globals the web console uses (written out rather than taken from a package the project does not
// depend on directly).
const browserGlobals = Object.fromEntries(
  [
    'window', 'document', 'location', 'history', 'navigator', 'fetch', 'EventSource', 'MessageEvent', 'Event', 'Response',
    'Headers', 'URL', 'URLSearchParams', 'Node', 'Element', 'HTMLElement', 'HTMLInputElement', 'HTMLTextAreaElement',
    'HTMLSelectElement', 'HTMLButtonElement', 'HTMLAnchorElement', 'HTMLHeadingElement', 'DocumentFragment', 'CSS',
    'requestAnimationFrame', 'cancelAnimationFrame', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval',
    'performance', 'queueMicrotask', 'console',
  ].map((name) => [name, 'readonly']),
);

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'src/api/gen/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { console: 'readonly', process: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', setImmediate: 'readonly', Buffer: 'readonly', URL: 'readonly', TextEncoder: 'readonly', TextDecoder: 'readonly', performance: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    files: ['src/**/*.ts'],
    rules: { 'no-console': 'error' },
  },
  // Import boundaries (DESIGN.md, "Layout"): imports flow one way, cli -> api client; daemon -> manager, worker, network;
  // manager -> raft, api; worker -> api; raft/core -> nothing. Each block names what its folder may not import.
  ...boundaries(),
  // The web console's browser app: browser globals, none of node's; it imports only its own modules (one flat
  // folder, served as /console/assets/NAME.js) and knows the server only through the HTTP contract. Text goes in
  // through textContent (never parsed as HTML) and nothing is evaluated: the console's CSP would refuse it anyway.
  {
    files: ['src/console/web/**/*.ts'],
    languageOptions: {
      globals: {
        ...browserGlobals,
        process: 'off',
        Buffer: 'off',
        setImmediate: 'off',
      },
    },
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(?!\\./[\\w.-]+\\.js$)',
              message: 'the browser app imports only its own modules (./NAME.js, with the extension the browser needs): it knows the server through the HTTP contract alone (console-api.md)',
            },
          ],
        },
      ],
      'no-restricted-properties': [
        'error',
        { property: 'innerHTML', message: 'build elements with h() and put text in with textContent' },
        { property: 'outerHTML', message: 'build elements with h() and put text in with textContent' },
        { property: 'insertAdjacentHTML', message: 'build elements with h() and put text in with textContent' },
        { object: 'document', property: 'write', message: 'build elements with h()' },
      ],
      'no-eval': 'error',
      'no-implied-eval': 'error',
      'no-new-func': 'error',
    },
  },
  {
    files: ['src/raft/core/**/*.ts', 'src/raft/types.ts', 'src/raft/errors.ts'],
    rules: {
      'no-restricted-globals': ['error', ...impure],
      'no-restricted-properties': ['error', { object: 'Math', property: 'random', message: 'the Raft core takes its randomness from the Rng it is given' }],
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['node:*', 'fs', 'net', 'http', 'crypto', 'os', 'child_process'], message: 'the Raft core does no I/O' },
            // The core's own types and errors (src/raft/types.ts, errors.ts, themselves pure) and nothing else of the project.
            { regex: '^\\.\\./(?!types\\.js$|errors\\.js$)', message: 'the Raft core imports nothing of the project but src/raft/types.ts and errors.ts' },
          ],
        },
      ],
    },
  },
);

/** A relative import that reaches into one of `folders` of src/ (at any depth of ../). */
function into(folders) {
  return `^(\\.\\./)+(${folders.join('|')})/`;
}

function forbid(files, folders, message, ignores = []) {
  return {
    files,
    ignores,
    rules: { 'no-restricted-imports': ['error', { patterns: [{ regex: into(folders), message }] }] },
  };
}

function boundaries() {
  const product = ['cli', 'daemon', 'testing', 'tools'];
  return [
    forbid(['src/common/**/*.ts'], ['api', 'raft', 'manager', 'worker', ...product], 'src/common holds helpers every layer may use: it imports nothing of the project'),
    forbid(['src/api/**/*.ts'], ['raft', 'manager', 'worker', ...product], 'src/api is the contract: it imports only src/common'),
    forbid(['src/raft/**/*.ts'], ['manager', 'worker', ...product], 'src/raft imports nothing of the manager, the worker or the CLI'),
    forbid(['src/manager/**/*.ts'], ['worker', ...product], 'the manager imports raft, api and common, never the worker, the daemon or the CLI'),
    forbid(['src/worker/**/*.ts'], ['manager', 'raft', 'network', ...product], 'the worker imports only the contract (src/api), src/common and its own code'),
    forbid(['src/network/**/*.ts'], ['manager', 'raft', 'worker', ...product], 'the data plane (src/network) imports only the contract (src/api) and src/common; the daemon wires it to the worker'),
    forbid(['src/daemon/**/*.ts'], ['cli', 'testing', 'tools'], 'the daemon runs a node: it never imports the CLI or test libraries'),
    forbid(['src/testing/**/*.ts'], ['tools'], 'test libraries do not import the shipped commands built on them'),
    // The CLI talks to the cluster only through the contract's client (src/cli/connection.ts, over the node's mTLS
    // credentials of src/manager/ca/tls.ts); src/cli/bootstrap.ts is `init`, `join` and `daemon`, which run a node
    // in this process and so start the daemon.
    forbid(['src/cli/**/*.ts'], ['manager', 'raft', 'worker', 'daemon', 'testing', 'tools'], 'the CLI talks to the cluster through the contract: src/api and src/cli/connection.ts', [
      'src/cli/connection.ts',
      'src/cli/bootstrap.ts',
    ]),
    {
      files: ['src/cli/connection.ts'],
      rules: {
        'no-restricted-imports': ['error', { patterns: [{ regex: `${into(['manager'])}(?!ca/tls\\.js$)`, message: 'the CLI client uses the manager only for the node mTLS credentials (manager/ca/tls.ts)' }, { regex: into(['raft', 'worker', 'daemon', 'testing', 'tools']), message: 'the CLI talks to the cluster through the contract' }] }],
      },
    },
    forbid(['src/cli/bootstrap.ts'], ['raft', 'worker', 'testing', 'tools'], 'init, join and daemon start a node through src/daemon'),
    // The console's server reads and acts through the Control API as the CLI does (its client, src/cli/connection.ts,
    // and its commands for writes); the daemon serves it. It never reaches into the manager, the worker or the daemon.
    forbid(['src/console/server/**/*.ts'], ['manager', 'raft', 'worker', 'network', 'daemon', 'testing', 'tools'], 'the console talks to the cluster through the Control API (src/api, src/cli/connection.ts), never the manager itself'),
  ];
}
