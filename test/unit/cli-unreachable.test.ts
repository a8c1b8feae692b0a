/**
 * The admin commands (devices, keys, flows) when the runtime is not there: one line that says so and where it
 * looked, exit 1, no stack trace. The port is reserved and never listened on, so the connection is refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../helpers/ports';

const run = promisify(execFile);
const CLI = join(__dirname, '..', '..', 'scripts', 'cli.js');

for (const command of [['devices', 'list'], ['keys', 'list']]) {
  test(`upperstack ${command.join(' ')} against no runtime: one line naming the address, exit 1`, async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const r = await run(process.execPath, [CLI, ...command, '--url', url, '--key', 'k'], { env: { ...process.env, UPPERSTACK_URL: '' } }).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => e,
    );
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^upperstack ${command[0]}: cannot reach ${url.replace(/\./g, '\\.')}: .*is the runtime running there\\?`));
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });
}

const PACK = join(__dirname, '..', '..', '..', 'flows', 'simulator.json');

for (const command of [['flows', 'export'], ['flows', 'import', PACK]]) {
  test(`upperstack ${command.slice(0, 2).join(' ')} without --url goes to $UPPERSTACK_URL; no runtime there: the same one line, exit 1`, async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const r = await run(process.execPath, [CLI, ...command], { env: { ...process.env, UPPERSTACK_URL: url, UPPERSTACK_PASSWORD: 'x' } }).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => e,
    );
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^upperstack flows: cannot reach ${url.replace(/\./g, '\\.')}: .*is the runtime running there\\? --url or UPPERSTACK_URL\\)$`, 'm'));
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  });
}
