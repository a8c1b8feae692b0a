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
import { execFileSync } from 'node:child_process';
import { RUNTIME_ENV, RUNTIME_NODE_FLAGS, runtimeNodeFlags } from '../../scripts/runtime-flags';
import { runtimeCommand, runtimeEnvironment } from '../helpers/runtime';

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

test('npm start, the Docker image and the test/bench helper start the runtime with the same environment (MALLOC_ARENA_MAX)', () => {
  assert.equal(RUNTIME_ENV.MALLOC_ARENA_MAX, '2');
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const last = pkg.scripts.start.split('&&').at(-1)!.trim().split(/\s+/);
  const before = last.slice(0, last.indexOf('node'));
  for (const [k, v] of Object.entries(RUNTIME_ENV)) {
    // A value the user already has wins: ${NAME:-default}.
    assert.ok(before.includes(`${k}=\${${k}:-${v}}`), `npm start sets ${k}: ${pkg.scripts.start}`);
    const docker = readFileSync(join(root, 'Dockerfile'), 'utf8');
    assert.match(docker, new RegExp(`^\\s*(ENV\\s+)?${k}=${v}\\b`, 'm'), `the image sets ${k}`);
  }
  // The shell npm runs scripts with expands it as the runtime gets it.
  const seen = execFileSync('sh', ['-c', `${before.join(' ')} node -p process.env.MALLOC_ARENA_MAX`], { env: { ...process.env, MALLOC_ARENA_MAX: '' } }).toString().trim();
  assert.equal(seen, RUNTIME_ENV.MALLOC_ARENA_MAX);
  const mine = execFileSync('sh', ['-c', `${before.join(' ')} node -p process.env.MALLOC_ARENA_MAX`], { env: { ...process.env, MALLOC_ARENA_MAX: '4' } }).toString().trim();
  assert.equal(mine, '4', 'a value already set is kept');
  assert.equal(runtimeEnvironment({}).MALLOC_ARENA_MAX, '2', 'the integration tests and the bench');
  assert.equal(runtimeEnvironment({ MALLOC_ARENA_MAX: '8' }).MALLOC_ARENA_MAX, '8');
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

test('an option the runtime is given in NODE_OPTIONS replaces the default (BENCH_RUNTIME_NODE_OPTIONS)', () => {
  assert.deepEqual(runtimeCommand('/x/start.js', '--max-semi-space-size=16 --require /x/p.js'), ['--heap-growing-percent=50', '/x/start.js']);
  assert.deepEqual(runtimeCommand('/x/start.js', '--heap_growing_percent=100'), ['--max-semi-space-size=4', '/x/start.js']);
  assert.deepEqual(runtimeNodeFlags('--max-old-space-size=512'), [...RUNTIME_NODE_FLAGS]);
  assert.deepEqual(runtimeNodeFlags(''), [...RUNTIME_NODE_FLAGS]);
});

test('node itself lets its command line win over NODE_OPTIONS: why the default has to be left out', () => {
  // heap_size_limit shows which of two --max-old-space-size values V8 took.
  const limitMb = (args: string[], nodeOptions: string) =>
    Number(execFileSync(process.execPath, [...args, '-p', "Math.round(require('v8').getHeapStatistics().heap_size_limit / 1048576)"], { env: { ...process.env, NODE_OPTIONS: nodeOptions } }).toString());
  const both = limitMb(['--max-old-space-size=600'], '--max-old-space-size=300');
  const optionOnly = limitMb([], '--max-old-space-size=300');
  assert.ok(both > optionOnly + 200, `command line ${both} MB vs NODE_OPTIONS alone ${optionOnly} MB`);
});
