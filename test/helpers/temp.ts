/**
 * Temporary folders for tests and the bench, removed when the test file ends.
 *
 * `tempDir(prefix)` makes a new folder under the OS temp folder. Every folder
 * made in this process is removed, recursively, by an `after` hook of the test
 * file that runs after the file's own hooks (so a runtime its `after` stops is
 * gone before its data folder is), and, failing that, when the process exits
 * (a bench run, a test file run with plain `node`, a test that exits early).
 * Child processes handed to `killBeforeCleanup` that still run then are killed
 * first: a runtime writing into a folder being removed would leave files behind.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';

const dirs = new Set<string>();
const procs = new Set<ChildProcess>();

// A child that failed to spawn has no pid and never exits.
const alive = (p: ChildProcess) => p.pid !== undefined && p.exitCode === null && p.signalCode === null;

/** A new empty folder `<os temp>/<prefix>XXXXXX`, removed with everything in it when this test file (or process) ends. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.add(dir);
  return dir;
}

/** Removes a folder `tempDir` made, now (it is not removed again at the end). */
export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  dirs.delete(dir);
}

/** `proc` is killed (SIGKILL) before the temporary folders are removed, if it still runs then. */
export function killBeforeCleanup(proc: ChildProcess): void {
  procs.add(proc);
  proc.once('exit', () => procs.delete(proc));
}

/** The folders made and not removed yet (for the tests of this module). */
export function pendingTempDirs(): string[] {
  return [...dirs];
}

async function cleanup(): Promise<void> {
  await Promise.all(
    [...procs].filter(alive).map(
      (p) =>
        new Promise<void>((resolve) => {
          p.once('exit', () => resolve());
          p.ref(); // an unref'd child's exit would not keep the hook's process alive
          p.kill('SIGKILL');
        }),
    ),
  );
  for (const dir of dirs) removeTempDir(dir);
}

process.once('exit', () => {
  for (const p of procs) if (alive(p)) p.kill('SIGKILL');
  for (const dir of dirs) {
    try {
      removeTempDir(dir);
    } catch {
      // Nothing more can be done while exiting; the per-run TMPDIR of the test scripts catches it.
    }
  }
});

// Registered once the importing test file has run its top level, so that this
// hook comes after the file's own top-level `after` hooks (they run in order).
// Only in a test file's process: elsewhere (the bench, a process a test spawns,
// which inherits the runner's environment) `after` would start a test run.
const inTestProcess = /\.test\.[cm]?js$/.test(process.argv[1] ?? '');
if (inTestProcess) process.nextTick(() => after(cleanup));
