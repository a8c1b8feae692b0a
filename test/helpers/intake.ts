/** An intake on a fresh journal folder for unit tests, with the records, write counting and waiting they use. */
import fs, { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Intake, type IntakeItem, type IntakeOptions } from '../../nodes/lib/ingest/intake';
import { consumeReceipts } from '../../nodes/lib/ingest/receipts';
import type { Received } from '../../nodes/lib/ingest/record';
import { tempDir } from './temp';

export const tmp = () => tempDir('us-intake-');
export const turn = () => new Promise((r) => setImmediate(r));
let ids = 0;

export function rec(body: string, source = 'mqtt:devices/d/telemetry'): Received {
  return { source, payload: Buffer.from(body), receivedAt: Date.now(), qos: 1 };
}

export function open(opts: Partial<IntakeOptions> = {}) {
  const emitted: Array<{ items: IntakeItem[]; replayed: boolean }> = [];
  const intake = new Intake({ id: `intake-${++ids}`, dir: tmp(), highWater: 0, emit: (items, replayed) => emitted.push({ items, replayed }), ...opts });
  const replayCount = intake.open();
  const settle = (items: IntakeItem[]) => consumeReceipts(items.map((i) => ({ j: intake.id, s: i.seq })));
  return { intake, emitted, replayCount, settle, all: () => emitted.flatMap((e) => e.items) };
}

/** Counts write(2) calls carrying `marker`; the first `failures` of them fail with ENOSPC. */
export function watchWrites(marker: string, failures = 0) {
  const original = fs.writeSync;
  let writes = 0;
  let left = failures;
  (fs as { writeSync: unknown }).writeSync = (fd: number, buf: unknown, ...rest: unknown[]) => {
    if (Buffer.isBuffer(buf) && buf.includes(marker)) {
      if (left > 0) {
        left--;
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      }
      writes++;
    }
    return (original as (...a: unknown[]) => number)(fd, buf, ...rest);
  };
  return { writes: () => writes, restore: () => ((fs as { writeSync: unknown }).writeSync = original) };
}

export function journalText(dir: string): string {
  return readdirSync(dir)
    .filter((f) => f.startsWith('seg-'))
    .map((f) => readFileSync(join(dir, f)).toString('latin1'))
    .join('');
}

export async function eventually(cond: () => boolean, what: string, ms = 30_000): Promise<void> {
  // The monotonic clock: a VM's wall clock can jump ahead by seconds when its host pauses it, which ended
  // waits early on a loaded machine.
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
