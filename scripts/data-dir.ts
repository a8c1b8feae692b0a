/**
 * The data folder `npm start` and the image run in, checked before anything is read from or written to it:
 * a folder that cannot be written (a read-only mount, a volume owned by another user, a file in the way, a
 * full disk) stops the start in one line naming the folder and what to do, instead of a stack trace from the
 * first write that fails.
 */
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../nodes/lib/errors';

/** What to do about a folder the start cannot write, by the error's code. */
function remedy(code: string | undefined): string {
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return 'the disk is full: free some space on it, or point UPPERSTACK_DATA at another disk';
    case 'EROFS':
      return 'it is on a read-only file system: mount it writable, or point UPPERSTACK_DATA at a writable folder';
    case 'EACCES':
    case 'EPERM': {
      const uid = typeof process.getuid === 'function' ? ` (uid ${process.getuid()})` : '';
      return `the user running Upperstack${uid} may not write it: give that user the folder, or point UPPERSTACK_DATA at one it owns`;
    }
    case 'ENOTDIR':
    case 'EEXIST':
      return 'a file is in the way of the folder: move it, or point UPPERSTACK_DATA at a folder';
    default:
      return 'point UPPERSTACK_DATA at a writable folder';
  }
}

/** Creates `dir` when missing and writes a few bytes into it; throws a ConfigError saying why it cannot be used. */
export function prepareDataDir(dir: string): void {
  const probe = join(dir, `.upperstack-write-check-${process.pid}`);
  try {
    mkdirSync(dir, { recursive: true });
    const fd = openSync(probe, 'w');
    try {
      // A block's worth, so a disk with no room left fails here rather than at the runtime's first write.
      writeSync(fd, Buffer.alloc(4096));
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new ConfigError(`the data folder ${dir} (UPPERSTACK_DATA) cannot be written (${e.code ?? e.message}): ${remedy(e.code)}`, { path: dir });
  } finally {
    try {
      rmSync(probe, { force: true });
    } catch {
      // Never made: the folder's own error is the one to tell.
    }
  }
}
