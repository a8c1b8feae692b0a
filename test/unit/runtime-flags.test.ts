/**
 * The runtime's V8 heap flags (scripts/runtime-flags.ts) are on every command
 * that starts it: `npm start`, the Docker image, and the test/bench helper. A
 * command that drops them starts a runtime whose young generation grows to
 * 16 MB per half and whose old generation may grow to 4× its live size
 * between full collections.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RUNTIME_NODE_FLAGS } from '../../scripts/runtime-flags';
import { runtimeCommand } from '../helpers/runtime';

const root = join(__dirname, '..', '..', '..');

/** The node options between `node` and the start script in a command line. */
function flagsBefore(script: string, words: string[]): string[] {
  const node = words.lastIndexOf('node', words.indexOf(script));
  assert.ok(node >= 0 && words.indexOf(script) > node, `"node … ${script}" in ${JSON.stringify(words.join(' '))}`);
  return words.slice(node + 1, words.indexOf(script));
}

test("the flags bound both heap generations", () => {
  assert.ok(RUNTIME_NODE_FLAGS.some((f) => /^--max-semi-space-size=\d+$/.test(f)));
  assert.ok(RUNTIME_NODE_FLAGS.some((f) => /^--heap-growing-percent=\d+$/.test(f)));
});

test('npm start passes the flags to the runtime', () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const last = pkg.scripts.start.split('&&').at(-1)!.trim().split(/\s+/);
  assert.deepEqual(flagsBefore('dist/scripts/start.js', last), [...RUNTIME_NODE_FLAGS]);
});

test("the Docker image's command passes the flags to the runtime", () => {
  const cmd = /^CMD (\[.*\])\s*$/m.exec(readFileSync(join(root, 'Dockerfile'), 'utf8'));
  assert.ok(cmd, 'an exec-form CMD');
  assert.deepEqual(flagsBefore('dist/scripts/start.js', JSON.parse(cmd[1]) as string[]), [...RUNTIME_NODE_FLAGS]);
});

test('the integration tests and the bench start the runtime the same way', () => {
  const args = runtimeCommand('/x/dist/scripts/start.js');
  assert.deepEqual(args, [...RUNTIME_NODE_FLAGS, '/x/dist/scripts/start.js']);
});
