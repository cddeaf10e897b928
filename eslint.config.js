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
  {
    files: ['src/raft/core/**/*.ts', 'src/raft/types.ts', 'src/raft/errors.ts'],
    rules: {
      'no-restricted-globals': ['error', ...impure],
      'no-restricted-properties': ['error', { object: 'Math', property: 'random', message: 'the Raft core takes its randomness from the Rng it is given' }],
      'no-restricted-imports': ['error', { patterns: ['node:*', 'fs', 'net', 'http', 'crypto', 'os', 'child_process'] }],
    },
  },
);
