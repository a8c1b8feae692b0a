/**
 * test/helpers/temp.ts: the folders a test file makes with `tempDir` are gone
 * once the file has run (after its own `after` hooks, or at exit when no hook
 * runs), and a child process it handed over is killed first.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tempDir } from '../helpers/temp';

const FIXTURE = join(__dirname, '..', 'fixtures', 'temp', 'uses-temp-dir.test.js');

function runFixture(args: string[], env: Record<string, string> = {}): { out: string; tmp: string; atExit: string; made: { dirs: string[]; pid: number } } {
  const tmp = tempDir('us-tempdir-run-');
  const report = join(tempDir('us-tempdir-report-'), 'at-exit.txt');
  // Without the runner's NODE_TEST_CONTEXT, which would stop `node --test` from running a file from inside one.
  const { NODE_TEST_CONTEXT: _, ...parentEnv } = process.env;
  const r = spawnSync(process.execPath, [...args, FIXTURE], { env: { ...parentEnv, TMPDIR: tmp, TEMP_FIXTURE_REPORT: report, ...env }, encoding: 'utf8', timeout: 60_000 });
  const out = r.stdout + r.stderr;
  const line = /MADE (\{.*\})/.exec(out);
  assert.ok(line, `the fixture ran its test:\n${out}`);
  return { out, tmp, atExit: readFileSync(report, 'utf8'), made: JSON.parse(line[1]!) as { dirs: string[]; pid: number } };
}

/** Whether `pid` is a live process (a killed one not reaped yet is a zombie: state Z). */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

async function gone(pid: number): Promise<boolean> {
  // Killed by the fixture as it ended; init reaps it a moment later.
  for (let i = 0; i < 600 && running(pid); i++) await new Promise((r) => setTimeout(r, 50));
  return !running(pid);
}

test('a test file run by node --test leaves none of its temporary folders, and its own after hooks still see them', async () => {
  const { out, tmp, atExit, made } = runFixture(['--test']);
  assert.equal(made.dirs.length, 2);
  for (const d of made.dirs) assert.ok(d.startsWith(tmp), `${d} is under the TMPDIR given`);
  assert.match(out, /OWN-AFTER true/);
  assert.equal(atExit, '0 left', 'removed by the after hook, not only at exit');
  assert.deepEqual(readdirSync(tmp), []);
  assert.equal(await gone(made.pid), true, 'the child process handed to killBeforeCleanup was killed');
});

test('a test file that exits before its hooks run leaves none of its temporary folders either', async () => {
  const { out, tmp, atExit, made } = runFixture([], { TEMP_FIXTURE_EXIT: '1' });
  assert.doesNotMatch(out, /OWN-AFTER/);
  assert.equal(atExit, '2 left', 'no hook ran: the folders were still there as the process exited');
  assert.deepEqual(readdirSync(tmp), []);
  assert.equal(await gone(made.pid), true);
});
