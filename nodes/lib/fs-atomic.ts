/**
 * Whole-file writes that survive a crash or a power loss: written beside the
 * file, fsynced, renamed over it, and the rename made durable. A reader sees
 * the old file or the new one, never a torn one.
 */
import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

export function writeFileAtomic(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  syncDir(dirname(file));
}

/** Makes a rename in `dir` durable; a platform that cannot open a folder (Windows) skips it. */
function syncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // The rename itself is atomic; only its durability across a power loss is lost here.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
