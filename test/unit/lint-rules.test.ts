/**
 * The layer rules of docs/architecture.md, as ESLint enforces them: each
 * forbidden import is reported, each allowed one is not. Linted as text at a
 * path inside the tree, with the project's own eslint.config.mjs.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ESLint } from 'eslint';

const ROOT = join(__dirname, '..', '..', '..');
// Type-aware rules need the file in the TypeScript project; these snippets are not, and are about imports only.
const eslint = new ESLint({
  cwd: ROOT,
  overrideConfig: {
    languageOptions: { parserOptions: { projectService: false } },
    rules: { '@typescript-eslint/no-floating-promises': 'off', '@typescript-eslint/no-misused-promises': 'off', '@typescript-eslint/no-unused-vars': 'off' },
  },
});

async function restricted(path: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: join(ROOT, path) });
  return result.messages.filter((m) => /no-restricted-imports|no-require-imports/.test(m.ruleId ?? '') || m.fatal).map((m) => m.message);
}

describe('import rules', () => {
  test('nodes/lib: no Node-RED, no Express, nothing outside the lib, at any depth', async () => {
    for (const [path, code] of [
      ['nodes/lib/x.ts', "import type { NodeAPI } from 'node-red';"],
      ['nodes/lib/api/x.ts', "import type { Request } from 'express';"],
      ['nodes/lib/api/x.ts', "import { log } from '@node-red/util';"],
      ['nodes/lib/x.ts', "import { sendError } from './../shared/http';"],
      ['nodes/lib/store/x.ts', "import { sendError } from '../../shared/http';"],
      ['nodes/lib/a/b/x.ts', "import { x } from '../../../api/api';"],
      ['nodes/lib/x.ts', "const RED = require('node-red');"],
    ]) {
      assert.equal((await restricted(path, code)).length, 1, `${path}: ${code}`);
    }
    for (const [path, code] of [
      ['nodes/lib/api/x.ts', "import { DuckDbStore } from '../store/duckdb';"],
      ['nodes/lib/x.ts', "import { decode } from './codec';"],
      ['nodes/lib/api/x.ts', "import bodyParser from 'body-parser';"],
    ]) {
      assert.deepEqual(await restricted(path, code), [], `${path}: ${code}`);
    }
  });

  test("nodes/shared: the lib, itself and nodes' options only", async () => {
    assert.equal((await restricted('nodes/shared/x.ts', "import register from '../api/api';")).length, 1);
    assert.deepEqual(
      await restricted('nodes/shared/x.ts', "import { httpErrorOf } from '../lib/api/http-errors';\nimport { onInput } from './input';\nimport type { StoreConfigNode } from '../store-config/options';"),
      [],
    );
  });

  test("a node folder: itself, the lib, shared, and other nodes' options only", async () => {
    assert.equal((await restricted('nodes/api/x.ts', "import store from '../store/store';")).length, 1);
    assert.equal((await restricted('nodes/api/x.ts', "import x = require('../store/store');")).length, 2);
    assert.deepEqual(
      await restricted(
        'nodes/api/x.ts',
        "import type { StoreConfigNode } from '../store-config/options';\nimport { sendError } from '../shared/http';\nimport { errorJson } from '../lib/api/format';\nimport { apiMigrations } from './options';",
      ),
      [],
    );
  });
});
