/** The durable writer and the sink's own health check: a sink seen answering again is retried at once; one that stays down keeps the backoff. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Reading } from '../../nodes/lib/reading';
import { reading, stalledWriter, SwitchableStore, until, writeAsync } from '../helpers/switchable-store';

// Far longer than any test: a retry that happens came from probed(), not from the backoff.
const LONG = { flushMs: 5, retryMs: 3_600_000, maxRetryMs: 3_600_000 };

test('a sink seen down and then answering its health check is retried at once, not after the backoff', async () => {
  const { store, w } = stalledWriter(LONG);
  await writeAsync(w, [reading(1)]);
  await writeAsync(w, [reading(2)]);
  assert.equal(w.stats().spooled, 2);
  assert.equal(w.stats().lastError, 'database is down');
  await w.probed(false);
  store.up = true;
  await w.probed(true);
  await until(() => w.stats().spooled === 0);
  assert.equal(store.rows.size, 2);
  const s = w.stats();
  assert.deepEqual([s.spooled, s.failingSince, s.lastError], [0, undefined, undefined]);
  await w.close();
});

test('a sink that answers its health check but still fails writes is retried at once only after it was seen down again', async () => {
  const { w } = stalledWriter(LONG);
  await writeAsync(w, [reading(1)]);
  const retries = w.stats().retries;
  await w.probed(true);
  assert.equal(w.stats().retries, retries + 1);
  // The retry failed: more answers of the check do not bypass the backoff.
  await w.probed(true);
  await w.probed(true);
  assert.equal(w.stats().retries, retries + 1);
  await w.probed(false);
  await w.probed(true);
  assert.equal(w.stats().retries, retries + 2);
  assert.equal(w.stats().spooled, 1);
  await w.close();
});

/** A store whose writes of readings from `ts` on wait until released. */
class GatedStore extends SwitchableStore {
  gateFrom = Infinity;
  private release: (() => void) | undefined;
  private readonly gate = new Promise<void>((r) => (this.release = r));
  letGo(): void {
    this.release?.();
  }
  override async write(readings: Reading[]): Promise<void> {
    if (readings.some((r) => r.ts >= this.gateFrom)) await this.gate;
    return super.write(readings);
  }
}

test('once a write goes through, the sink is not reported failing while the rest of its spool is still written', async () => {
  const { store, w } = stalledWriter(LONG, undefined, new GatedStore());
  await writeAsync(w, [reading(1)]);
  await writeAsync(w, [reading(2)]);
  assert.notEqual(w.stats().failingSince, undefined);
  store.gateFrom = reading(2).ts;
  store.up = true;
  await w.probed(true);
  const s = w.stats();
  // The first spooled write went through; the second is still running.
  assert.deepEqual([store.rows.size, s.spooled, s.failingSince, s.lastError], [1, 1, undefined, undefined]);
  store.letGo();
  await until(() => w.stats().spooled === 0);
  assert.equal(store.rows.size, 2);
  await w.close();
});
