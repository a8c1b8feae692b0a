/**
 * The writer's retry backoff: doubling from the first delay up to the cap, each
 * delay lengthened by up to `jitter` of it at random, and back to the first
 * delay once the spool is written.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RETRY_DEFAULTS, RetrySchedule } from '../../nodes/lib/store/writer-retry';
import { reading, stalledWriter, until, writeAsync } from '../helpers/switchable-store';

/** Replaces setTimeout while `body` runs: records each delay; `fire()` runs the last callback as its timer would. */
async function withFakeTimeout<T>(body: (delays: number[], fire: () => void) => T | Promise<T>): Promise<T> {
  const real = globalThis.setTimeout;
  const delays: number[] = [];
  let last: (() => void) | undefined;
  globalThis.setTimeout = ((fn: () => void, ms: number) => {
    delays.push(ms);
    last = fn;
    return { unref() {} } as unknown as NodeJS.Timeout;
  }) as unknown as typeof setTimeout;
  try {
    return await body(delays, () => {
      const fn = last;
      last = undefined;
      fn?.();
    });
  } finally {
    globalThis.setTimeout = real;
  }
}

test('the defaults: 500 ms doubling to a 15 s cap, with 20 % jitter', () => {
  assert.deepEqual({ ...RETRY_DEFAULTS }, { retryMs: 500, maxRetryMs: 15_000, jitter: 0.2 });
});

test('each failed retry doubles the delay up to the cap; a success brings it back to the first delay', async () => {
  await withFakeTimeout((delays, fire) => {
    const { retryMs, maxRetryMs, jitter } = RETRY_DEFAULTS;
    // random() = 0: the nominal delays exactly.
    const s = new RetrySchedule(() => s.backOff(), retryMs, maxRetryMs, jitter, () => 0);
    s.schedule();
    for (let i = 0; i < 7; i++) fire();
    assert.deepEqual(delays, [500, 1000, 2000, 4000, 8000, 15_000, 15_000, 15_000]);
    s.stop();
    const t = new RetrySchedule(() => undefined, retryMs, maxRetryMs, jitter, () => 0);
    for (let i = 0; i < 5; i++) {
      t.backOff();
      t.cancel();
    }
    t.reset();
    delays.length = 0;
    t.schedule();
    assert.deepEqual(delays, [500], 'after reset() the first delay again');
    t.stop();
  });
});

test('jitter adds between 0 and `jitter` of the nominal delay, as the random source says', async () => {
  await withFakeTimeout((delays, fire) => {
    const draws = [0, 0.5, 0.999, 0.25, 0.75, 0.1, 0.9];
    let n = 0;
    const s = new RetrySchedule(() => s.backOff(), 500, 15_000, 0.2, () => draws[n++ % draws.length]);
    s.schedule();
    for (let i = 0; i < draws.length - 1; i++) fire();
    const nominal = [500, 1000, 2000, 4000, 8000, 15_000, 15_000];
    assert.equal(delays.length, nominal.length);
    delays.forEach((d, i) => {
      assert.ok(Math.abs(d - nominal[i] * (1 + 0.2 * draws[i])) < 1e-9, `delay ${i}: ${d}`);
      assert.ok(d >= nominal[i] && d <= nominal[i] * 1.2, `delay ${i} ${d} within the jitter of ${nominal[i]}`);
    });
    s.stop();
  });
});

test('with the default random source the delays vary, each within the jitter', async () => {
  await withFakeTimeout((delays) => {
    for (let i = 0; i < 50; i++) {
      const s = new RetrySchedule(() => undefined, 500, 15_000, 0.2);
      s.schedule();
      s.stop();
    }
    assert.equal(delays.length, 50);
    for (const d of delays) assert.ok(d >= 500 && d <= 600, String(d));
    assert.ok(new Set(delays).size > 1, 'not every retry waits the same');
  });
});

test('a writer whose store is down retries with doubling, jittered delays, and starts again from the first delay after recovering', async () => {
  // Tells the retry delays (drawn with the jitter) from the writer's other timers.
  const real = globalThis.setTimeout;
  const delays: number[] = [];
  let drawn = false;
  globalThis.setTimeout = ((fn: () => void, ms?: number) => {
    if (drawn) delays.push(ms ?? 0);
    drawn = false;
    return real(fn, ms);
  }) as unknown as typeof setTimeout;
  const random = () => {
    drawn = true;
    return 0.5;
  };
  const { store, w } = stalledWriter({ flushMs: 5, retryMs: 8, maxRetryMs: 64, jitter: 0.2, random });
  try {
    await writeAsync(w, [reading(1)]);
    await until(() => delays.length >= 6);
    // 8 → 16 → 32 → 64 (the cap), each 10 % longer (random 0.5 × jitter 0.2).
    assert.deepEqual(delays.slice(0, 6).map((d) => Math.round(d * 10) / 10), [8.8, 17.6, 35.2, 70.4, 70.4, 70.4]);
    store.up = true;
    await until(() => store.rows.size === 1 && w.stats().spooled === 0);
    store.up = false;
    delays.length = 0;
    await writeAsync(w, [reading(2)]);
    await until(() => delays.length >= 2);
    assert.deepEqual(delays.slice(0, 2).map((d) => Math.round(d * 10) / 10), [8.8, 17.6], 'the backoff starts over');
  } finally {
    globalThis.setTimeout = real;
    await w.close();
  }
});
