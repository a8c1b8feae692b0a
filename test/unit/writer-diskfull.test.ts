/**
 * The durable writer on a full disk: the store cannot be written and neither can its spool. What it was given
 * is neither reported durable nor failed; it is tried again until the disk has room, then lands and the store
 * stops counting as failing, without a restart.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Journal } from '../../nodes/lib/journal/journal';
import { JournalError, StoreFailedError, StoreUnavailableError } from '../../nodes/lib/errors';
import type { DeadLetter } from '../../nodes/lib/store/types';
import type { WriterOptions } from '../../nodes/lib/store/writer-types';
import { tempDir } from '../helpers/temp';
import { DurableWriter } from '../../nodes/lib/store/writer';
import { outcomeLog, reading, stalledWriter, SwitchableStore, until } from '../helpers/switchable-store';

/** A spool whose appends fail as a write(2) on a full disk does while `full` is set. */
function spoolOnDisk(): { spool: Journal; disk: { full: boolean } } {
  const spool = new Journal({ dir: tempDir('us-wdf-') });
  const disk = { full: false };
  const append = spool.append.bind(spool);
  spool.append = (data, holds) => {
    if (disk.full) throw new JournalError('cannot write journal seg-1.log: ENOSPC: no space left on device, write');
    return append(data, holds);
  };
  return { spool, disk };
}

const letter: DeadLetter = { ts: 1, device: 'd', source: 'mqtt:x', code: 'DECODE_FAILED', reason: 'bad', payload: 'zz' };

/** A started writer whose store is down and whose spool's disk is full. */
function fullDisk(options: WriterOptions = { flushMs: 5, retryMs: 10, maxRetryMs: 40 }) {
  const { spool, disk } = spoolOnDisk();
  const { store, w } = stalledWriter(options, spool);
  disk.full = true;
  return { store, w, disk, ...outcomeLog() };
}

test('readings neither the store nor its spool can take wait, unreported, and land once the disk has room', async () => {
  const { store, w, disk, outcomes, record } = fullDisk();
  let attempts = 0;
  const write = store.write.bind(store);
  store.write = (r) => (attempts++, write(r));
  w.write([reading(1), reading(2)], record);
  await until(() => (w.stats().lastError ?? '').includes('ENOSPC'));
  // Tried again and again, none of it reported: an error would leave the input's journal entry unsettled until a restart.
  await until(() => attempts >= 3);
  assert.deepEqual(outcomes, []);
  assert.equal(w.stats().queued, 2);
  assert.ok(w.stats().failingSince !== undefined);
  store.up = true;
  disk.full = false;
  await until(() => outcomes.length === 1);
  assert.deepEqual(outcomes, ['durable']);
  assert.equal(store.rows.size, 2);
  assert.equal(w.stats().failingSince, undefined, 'the store is not failing any more');
  assert.equal(w.stats().lastError, undefined);
  await w.close();
});

test('with room on the disk again but the store still down, the waiting readings go to the spool, then to the store', async () => {
  const { store, w, disk, outcomes, record } = fullDisk();
  w.write([reading(1)], record);
  w.write([reading(2)], record);
  await until(() => (w.stats().lastError ?? '').includes('ENOSPC'));
  disk.full = false;
  await until(() => outcomes.length === 2);
  assert.deepEqual(outcomes, ['durable', 'durable']);
  assert.equal(w.stats().spooled, 2);
  store.up = true;
  await until(() => store.rows.size === 2 && w.stats().spooled === 0);
  assert.equal(w.stats().failingSince, undefined);
  await w.close();
});

test('dead letters neither the store nor its spool can take are written once the disk has room', async () => {
  const { store, w, disk, outcomes, record } = fullDisk();
  w.writeDeadLetters([letter], record);
  await until(() => (w.stats().lastError ?? '').includes('ENOSPC'));
  assert.deepEqual(outcomes, []);
  store.up = true;
  disk.full = false;
  await until(() => outcomes.length === 1);
  assert.deepEqual(outcomes, ['durable']);
  assert.deepEqual(store.letters.map((l) => l.reason), ['bad']);
  assert.equal(w.stats().failingSince, undefined);
  await w.close();
});

test('closing while the disk is full reports what waits as failed (its journal replays it at the next start)', async () => {
  const { w, outcomes, record } = fullDisk({ flushMs: 5, retryMs: 10_000 });
  w.write([reading(1)], record);
  await until(() => (w.stats().lastError ?? '').includes('ENOSPC'));
  await w.close();
  assert.equal(outcomes.length, 1);
  assert.match(outcomes[0], /^error: /);
});

test('a batch that stalled after part of it was written counts as written once, when it lands', async () => {
  const store = new SwitchableStore();
  const { spool, disk } = spoolOnDisk();
  const write = store.write.bind(store);
  let calls = 0;
  // The whole batch is refused for its size (as DuckDB's Out of Memory), so it is halved; the first half is
  // written, the second meets the full disk. The batch waits and is written whole once there is room.
  store.write = async (r) => {
    calls++;
    if (calls === 1) throw new StoreFailedError('Out of Memory Error: could not allocate block');
    if (disk.full && r.some((x) => x.ts === reading(3).ts)) throw new StoreUnavailableError('IO Error: No space left on device');
    return write(r);
  };
  const w = new DurableWriter(store, spool, { flushMs: 5, retryMs: 10, maxRetryMs: 40 });
  w.start();
  disk.full = true;
  const outcomes: string[] = [];
  w.write([reading(1), reading(2), reading(3), reading(4)], (e) => outcomes.push(e ? `error: ${e.message}` : 'durable'));
  await until(() => (w.stats().lastError ?? '').includes('ENOSPC'));
  assert.deepEqual(outcomes, []);
  disk.full = false;
  await until(() => outcomes.length === 1);
  assert.deepEqual(outcomes, ['durable']);
  assert.equal(store.rows.size, 4);
  assert.equal(w.stats().written, 4);
  await w.close();
});

test('a batch spooled after part of it was written counts as written once, when the spool is written', async () => {
  const store = new SwitchableStore();
  const spool = new Journal({ dir: tempDir('us-wdf-') });
  const write = store.write.bind(store);
  let calls = 0;
  let full = true;
  store.write = async (r) => {
    calls++;
    if (calls === 1) throw new StoreFailedError('Out of Memory Error: could not allocate block');
    if (full && r.some((x) => x.ts === reading(3).ts)) throw new StoreUnavailableError('IO Error: No space left on device');
    return write(r);
  };
  const w = new DurableWriter(store, spool, { flushMs: 5, retryMs: 10, maxRetryMs: 40 });
  w.start();
  const outcomes: string[] = [];
  w.write([reading(1), reading(2), reading(3), reading(4)], (e) => outcomes.push(e ? `error: ${e.message}` : 'durable'));
  await until(() => outcomes.length === 1 && w.stats().spooled === 4);
  full = false;
  await until(() => w.stats().spooled === 0);
  assert.equal(store.rows.size, 4);
  assert.equal(w.stats().written, 4);
  await w.close();
});
