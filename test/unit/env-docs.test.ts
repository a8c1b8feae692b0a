/**
 * An operator configures Upperstack from README.md and docs/: a variable the code reads that no page names
 * cannot be found, and a documented one the code ignores is set to no effect. Both directions are checked
 * here by name, over the shipped code and the packs (and the tests, for the knobs the docs name for them).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = join(__dirname, '..', '..', '..');
// A name ends in a letter or digit: "UPPERSTACK_HEALTH_*" in prose is a family, not a variable.
const VARIABLE = /\bUPPERSTACK_[A-Z0-9_]*[A-Z0-9]\b/g;

function namesIn(paths: string[], ext: RegExp): Set<string> {
  const found = new Set<string>();
  const scan = (p: string): void => {
    if (statSync(p).isDirectory()) {
      for (const f of readdirSync(p)) scan(join(p, f));
      return;
    }
    if (!ext.test(p)) return;
    for (const m of readFileSync(p, 'utf8').matchAll(VARIABLE)) found.add(m[0]);
  };
  for (const p of paths) scan(join(root, p));
  return found;
}

const docs = namesIn(['README.md', 'docs'], /\.md$/);

test('every UPPERSTACK_* variable the code and the packs read is named in README.md or docs/', () => {
  const read = namesIn(['settings.ts', 'nodes', 'scripts', 'flows'], /\.(ts|html|json)$/);
  assert.ok(read.has('UPPERSTACK_DATA'), 'the scan finds what settings.ts reads');
  assert.deepEqual([...read].filter((v) => !docs.has(v)).sort(), []);
});

test('every UPPERSTACK_* variable README.md and docs/ name is one the code, the packs or the tests read', () => {
  const read = namesIn(['settings.ts', 'nodes', 'scripts', 'flows', 'test', 'bench'], /\.(ts|html|json)$/);
  assert.deepEqual([...docs].filter((v) => !read.has(v)).sort(), []);
});
