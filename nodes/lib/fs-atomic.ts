/**
 * Whole-file writes that survive a crash or a power loss: written beside the
 * file, fsynced, renamed over it, and the rename made durable. A reader sees
 * the old file or the new one, never a torn one.
 */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

export function writeFileAtomic(file: string, text: string): void {
  writeFileAtomicParts(file, [text]);
}

/** Text written a part at a time, gathered into writes of about this many characters. */
const WRITE_CHARS = 1 << 20;

/**
 * As writeFileAtomic, for text made a part at a time: only one write's worth
 * of it exists at once, however large the file. Returns the bytes written.
 */
export function writeFileAtomicParts(file: string, parts: Iterable<string>): number {
  const tmp = `${file}.tmp-${process.pid}`;
  let fd: number | undefined = openSync(tmp, 'w', 0o600);
  let bytes = 0;
  try {
    let pending: string[] = [];
    let chars = 0;
    for (const part of parts) {
      pending.push(part);
      chars += part.length;
      if (chars < WRITE_CHARS) continue;
      bytes += writeSync(fd, pending.join(''));
      pending = [];
      chars = 0;
    }
    if (chars > 0) bytes += writeSync(fd, pending.join(''));
    fsyncSync(fd);
    const done = fd;
    fd = undefined;
    closeSync(done);
    renameSync(tmp, file);
  } catch (err) {
    // A write that failed, or something in the way of the file (a folder, a file system gone read-only):
    // the old file stands, the new one goes.
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  syncDir(dirname(file));
  return bytes;
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
