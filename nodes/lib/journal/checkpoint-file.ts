/**
 * The journal's two small files besides its segments: `settled`, the mark at
 * or below which every entry is settled (replays after a crash start there),
 * and `pending.json`, the exact unsettled list a clean close leaves for the
 * next open.
 */
import { existsSync, readFileSync, rename, renameSync, unlinkSync, writeFile, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function readCheckpoint(dir: string): number {
  const path = join(dir, 'settled');
  if (!existsSync(path)) return 0;
  const n = Number(readFileSync(path, 'utf8').trim());
  return Number.isFinite(n) && n >= 0 ? n : 0;
}

/** Writes the settled mark now (write + rename). Throws when it cannot. */
export function writeCheckpointSync(dir: string, value: number): void {
  const tmp = join(dir, 'settled.tmp');
  writeFileSync(tmp, String(value));
  renameSync(tmp, join(dir, 'settled'));
}

/** Writes the settled mark on the libuv pool; cb(err) once renamed (or failed). */
export function writeCheckpointInBackground(dir: string, value: number, cb: (err: Error | null) => void): void {
  const tmp = join(dir, 'settled.next');
  writeFile(tmp, String(value), (err) => {
    if (err) {
      cb(err);
      return;
    }
    rename(tmp, join(dir, 'settled'), cb);
  });
}

/** The exact unsettled list of a clean close; removed so a later crash cannot trust a stale one. */
export function takePendingList(dir: string): Set<number> | undefined {
  const path = join(dir, 'pending.json');
  if (!existsSync(path)) return undefined;
  try {
    const list = JSON.parse(readFileSync(path, 'utf8')) as number[];
    unlinkSync(path);
    return new Set(list);
  } catch {
    return undefined;
  }
}

export function writePendingList(dir: string, seqs: readonly number[]): void {
  try {
    writeFileSync(join(dir, 'pending.json'), JSON.stringify(seqs));
  } catch {
    // Without the list the next open replays from the checkpoint, which is safe.
  }
}
