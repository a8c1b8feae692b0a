/**
 * `npm start` on a data folder it cannot write, with the real start script: a read-only mount, a file where
 * the folder should be, a disk that filled up since the last start (a tmpfs the test mounts: root only, as
 * CI runs; a failed mount fails the test). Each stops the start with exit status 1 and one line naming the
 * folder and what to do, never a stack trace; and a start that fails later, inside Node-RED, ends with
 * status 1 too, not 0 as a clean stop would. A secrets file that cannot be read is said the same way, and
 * left as it is for the user to restore.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startRuntime } from '../helpers/runtime';
import { fill, mountTmpfs, unmount } from '../helpers/full-disk';
import { tempDir } from '../helpers/temp';

const mounts: string[] = [];
after(() => {
  for (const m of mounts) unmount(m);
});

/** The output of a start that must be refused, asserting its exit status 1. */
async function refused(dataDir: string): Promise<string> {
  let output = '';
  await assert.rejects(startRuntime({ dataDir }), (err: Error) => {
    assert.match(err.message, /^runtime exited with 1:/);
    output = err.message;
    return true;
  });
  return output;
}

/** The lines of `output` that are a stack trace's frames. */
const stackFrames = (output: string) => output.split('\n').filter((l) => /^\s+at /.test(l));

test('a data folder on a read-only mount stops the start in one line naming the folder and the remedy', { timeout: 120_000 }, async () => {
  const mountPoint = tempDir('us-datadir-ro-');
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', mountPoint]);
  mounts.push(mountPoint);
  const output = await refused(mountPoint);
  assert.ok(
    output.includes(`upperstack: the data folder ${mountPoint} (UPPERSTACK_DATA) cannot be written (EROFS): it is on a read-only file system: mount it writable, or point UPPERSTACK_DATA at a writable folder\n`),
    output,
  );
  assert.deepEqual(stackFrames(output), []);
});

test('a file where the data folder should be stops the start in one line', { timeout: 120_000 }, async () => {
  const parent = tempDir('us-datadir-file-');
  const file = join(parent, 'data');
  writeFileSync(file, 'not a folder');
  const output = await refused(join(file, 'upperstack'));
  assert.match(output, /upperstack: the data folder .*\/data\/upperstack \(UPPERSTACK_DATA\) cannot be written \(ENOTDIR\): a file is in the way of the folder/);
  assert.deepEqual(stackFrames(output), []);
});

test('a restart on a disk that filled up since the last start stops in one line', { timeout: 240_000 }, async () => {
  const mountPoint = mountTmpfs('us-datadir-full-');
  mounts.push(mountPoint);
  const dataDir = join(mountPoint, 'data');
  mkdirSync(dataDir);
  const rt = await startRuntime({ dataDir });
  await rt.stop();
  fill(join(mountPoint, 'filler'));
  const output = await refused(dataDir);
  assert.ok(output.includes(`upperstack: the data folder ${dataDir} (UPPERSTACK_DATA) cannot be written (ENOSPC): the disk is full: free some space on it, or point UPPERSTACK_DATA at another disk\n`), output);
  assert.deepEqual(stackFrames(output), []);
});

test('a start Node-RED itself fails (its library folder is a file) ends with status 1 and says why, not status 0', { timeout: 120_000 }, async () => {
  const dataDir = tempDir('us-datadir-lib-');
  writeFileSync(join(dataDir, 'lib'), 'not a folder');
  const output = await refused(dataDir);
  assert.match(output, /\nupperstack: the runtime could not start: ENOTDIR: not a directory, mkdir '.*\/lib\/flows'\n/);
});

test('an empty secrets file (a write cut short) stops the start in one line and is not replaced by new secrets', { timeout: 120_000 }, async () => {
  const dataDir = tempDir('us-datadir-secrets-');
  const file = join(dataDir, 'upperstack-secrets.json');
  writeFileSync(file, '');
  const output = await refused(dataDir);
  assert.ok(
    output.includes(`upperstack: the secrets file ${file} cannot be read (it is not valid JSON): it holds the key of the flows' credentials, so no new one is made; restore it from a backup, or delete it`),
    output,
  );
  assert.deepEqual(stackFrames(output), []);
  assert.equal(readFileSync(file, 'utf8'), '', 'the file is left for the user to restore');
});
