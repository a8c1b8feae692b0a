/** A small tmpfs the test mounts (root only, as CI runs: a failed mount fails the test, it is never skipped) and fills. */
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { tempDir } from './temp';

export function mountTmpfs(prefix: string, size = '120m'): string {
  const mountPoint = tempDir(prefix);
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', mountPoint]);
  return mountPoint;
}

export function unmount(mountPoint: string): void {
  if (mountPoint) execFileSync('umount', ['-l', mountPoint]);
}

/** Writes zeros into `path` until the file system has no room left, down to what a small journal record needs. */
export function fill(path: string): void {
  const fd = openSync(path, 'w');
  try {
    for (const size of [1024 * 1024, 512]) {
      const chunk = Buffer.alloc(size);
      try {
        for (;;) writeSync(fd, chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      }
    }
  } finally {
    closeSync(fd);
  }
}

/** Mounts `mountPoint` (a tmpfs of mountTmpfs) again read-only, or writable again: a disk that takes no writes. */
export function remount(mountPoint: string, mode: 'ro' | 'rw'): void {
  execFileSync('mount', ['-o', `remount,${mode}`, mountPoint]);
}
