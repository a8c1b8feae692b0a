// ESLint flat config: typescript-eslint's recommended rules plus the layer rules
// of docs/architecture.md ("who may import whom"), enforced with
// no-restricted-imports. Relative imports are matched by how far up they climb,
// so a file at any depth is held to the same boundary.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

/** `^(./)?(../){n}` as a RegExp source: an import climbing n folders up. */
const up = (n) => `^(\\./)?(\\.\\./){${n}}`;
const DEPTHS = [0, 1, 2, 3];

/** Packages that tie code to Node-RED or to an HTTP framework. */
const RUNTIME_PACKAGES = [
  { group: ['node-red', 'node-red/*', '@node-red/*', 'node-red-node-test-helper'], message: 'nodes/lib is plain TypeScript: Node-RED is reached only through nodes/<node>/ and nodes/shared/.' },
  { group: ['express', 'express/*', 'express-serve-static-core'], message: 'nodes/lib has no HTTP framework: Express glue lives in nodes/shared/http.ts.' },
];

/**
 * nodes/lib/<d folders>/file.ts: an import that climbs d+1 folders leaves the lib
 * (into nodes/shared, a node folder, or further).
 */
const libRules = DEPTHS.map((d) => ({
  files: [`nodes/lib/${'*/'.repeat(d)}*.ts`],
  rules: {
    '@typescript-eslint/no-restricted-imports': [
      'error',
      {
        patterns: [
          ...RUNTIME_PACKAGES,
          { regex: `${up(d + 1)}`, message: 'nodes/lib imports only nodes/lib (and npm packages): never nodes/shared or a node folder.' },
        ],
      },
    ],
    // Not even late: a require() of Node-RED from the lib is the same dependency.
    '@typescript-eslint/no-require-imports': ['error', { allow: ['^cbor-x$'] }],
  },
}));

/** nodes/shared/<d folders>/file.ts: may climb into nodes/lib, and to a node's options module (its published types). */
const sharedRules = DEPTHS.map((d) => ({
  files: [`nodes/shared/${'*/'.repeat(d)}*.ts`],
  rules: {
    '@typescript-eslint/no-restricted-imports': [
      'error',
      {
        patterns: [
          { regex: `${up(d + 1)}(?!lib/|[a-z0-9-]+/options$)`, message: "nodes/shared imports nodes/lib, itself and nodes' options.ts only, nothing else of a node folder." },
        ],
      },
    ],
  },
}));

/**
 * nodes/<node>/<d folders>/file.ts: its own folder, nodes/lib, nodes/shared, and of
 * another node only its options module (the options and config-node types that
 * node publishes for the editor and for the nodes that use it).
 */
const nodeRules = DEPTHS.map((d) => ({
  files: [`nodes/*/${'*/'.repeat(d)}*.ts`],
  ignores: ['nodes/lib/**', 'nodes/shared/**'],
  rules: {
    '@typescript-eslint/no-restricted-imports': [
      'error',
      {
        patterns: [
          {
            regex: `${up(d + 1)}(?!lib/|shared/|[a-z0-9-]+/options$)`,
            message: "a node imports its own folder, nodes/lib, nodes/shared and other nodes' options.ts only.",
          },
        ],
      },
    ],
  },
}));

export default tseslint.config(
  { ignores: ['dist/**', 'examples/**', 'node_modules/**', 'data/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      // Unused names are mistakes, except a deliberately ignored `_x` and rest siblings.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true }],
      // ES imports everywhere, except modules whose typings do not fit a CommonJS import (cbor-x)
      // or that are loaded late on purpose (Node-RED itself, from the settings file and `npm start`, and
      // the settings file, which `npm start` loads before Node-RED to say a bad setting in one line).
      '@typescript-eslint/no-require-imports': ['error', { allow: ['^cbor-x$', '^node-red(/red\\.js)?$', '^\\.\\./settings$'] }],
      // `catch {}` is used on purpose where failure is expected; an empty block elsewhere is not.
      'no-empty': ['error', { allowEmptyCatch: true }],
      // Node-RED node constructors name `this` once, as `node`, for the callbacks inside them.
      '@typescript-eslint/no-this-alias': ['error', { allowedNames: ['node'] }],
      // Untrusted names and text are checked for control characters on purpose (device names, topics, customers).
      'no-control-regex': 'off',
    },
  },
  {
    // With types: a promise nobody awaits or catches is an unhandled rejection, which stops Node-RED or
    // leaves a message unsettled; an async function where a callback is expected drops its failure.
    files: ['nodes/**/*.ts', 'scripts/**/*.ts', 'settings.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
    },
  },
  ...libRules,
  ...sharedRules,
  ...nodeRules,
  {
    // The editor's shared script runs in the browser, beside jQuery and RED.
    files: ['resources/**/*.js'],
    languageOptions: { sourceType: 'script', globals: { ...globals.browser, RED: 'readonly', $: 'readonly', jQuery: 'readonly' } },
    // Validators keep Node-RED's (value, opt) signature whether or not they use opt.
    rules: { '@typescript-eslint/no-unused-vars': ['error', { args: 'none' }] },
  },
);
