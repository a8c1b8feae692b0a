/** SharedProbe: what /health asks of a store runs once for callers that arrive together or within its reuse time. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SharedProbe } from '../../nodes/lib/api/health-probe';

interface Answer {
  ok: boolean;
  n: number;
}

/** A probe the test answers by hand, counting its runs, on a clock the test moves. */
function probed(maxAgeMs: number) {
  let now = 1_000_000;
  const waiting: Array<(a: Answer) => void> = [];
  let runs = 0;
  const probe = new SharedProbe<Answer>(
    () =>
      new Promise<Answer>((resolve) => {
        runs++;
        waiting.push(resolve);
      }),
    { maxAgeMs, reusable: (a) => a.ok, now: () => now },
  );
  return {
    probe,
    runs: () => runs,
    answer: (ok: boolean) => waiting.splice(0).forEach((r) => r({ ok, n: runs })),
    tick: (ms: number) => void (now += ms),
  };
}

test('callers arriving while the probe runs share it: ten at once, one run', async () => {
  const p = probed(1000);
  const all = Array.from({ length: 10 }, () => p.probe.get());
  assert.equal(p.runs(), 1);
  p.answer(true);
  const answers = await Promise.all(all);
  assert.deepEqual(new Set(answers.map((a) => a.n)), new Set([1]));
  assert.equal(p.runs(), 1);
});

test('a healthy answer serves the calls within its reuse time, and the next call after it probes', async () => {
  const p = probed(1000);
  const first = p.probe.get();
  p.answer(true);
  await first;
  p.tick(999);
  for (let i = 0; i < 5; i++) {
    const again = p.probe.get();
    assert.equal(p.runs(), 1, 'the answer is reused');
    assert.deepEqual(await again, { ok: true, n: 1 });
  }
  p.tick(1);
  const next = p.probe.get();
  assert.equal(p.runs(), 2, 'the answer is 1 s old: probed again');
  p.answer(true);
  assert.deepEqual(await next, { ok: true, n: 2 });
});

test('a failing answer is not reused: the next call probes, and sees the recovery', async () => {
  const p = probed(60_000);
  const down = p.probe.get();
  p.answer(false);
  assert.deepEqual(await down, { ok: false, n: 1 });
  const again = p.probe.get();
  assert.equal(p.runs(), 2);
  p.answer(true);
  assert.deepEqual(await again, { ok: true, n: 2 });
});

test('a caller that has seen trouble asks afresh within the reuse time', async () => {
  const p = probed(60_000);
  const first = p.probe.get();
  p.answer(true);
  await first;
  const fresh = p.probe.get(true);
  assert.equal(p.runs(), 2);
  p.answer(false);
  assert.deepEqual(await fresh, { ok: false, n: 2 });
});

test('a probe that throws: every caller sharing it gets the error, and the next call probes again', async () => {
  let runs = 0;
  let fail = true;
  const probe = new SharedProbe(
    async () => {
      runs++;
      if (fail) throw new Error('database is down');
      return { ok: true };
    },
    { maxAgeMs: 60_000 },
  );
  const results = await Promise.allSettled([probe.get(), probe.get(), probe.get()]);
  assert.deepEqual(
    results.map((r) => (r.status === 'rejected' ? (r.reason as Error).message : 'answered')),
    ['database is down', 'database is down', 'database is down'],
  );
  assert.equal(runs, 1);
  fail = false;
  assert.deepEqual(await probe.get(), { ok: true });
  assert.equal(runs, 2);
});

test('a reuse time of 0 probes on every call not sharing one in flight', async () => {
  const p = probed(0);
  for (let i = 1; i <= 3; i++) {
    const a = p.probe.get();
    p.answer(true);
    await a;
    assert.equal(p.runs(), i);
  }
});

test('within: a probe that has not answered in the wait is reported with since when it waits; it goes on, later calls join it, and its answer is kept', async () => {
  const p = probed(60_000);
  const first = await p.probe.within(5);
  assert.deepEqual(first, { waitingSince: 1_000_000 });
  p.tick(3_000);
  const second = await p.probe.within(5, true);
  assert.deepEqual(second, { waitingSince: 1_000_000 }, 'the same probe, not a second one beside it');
  assert.equal(p.runs(), 1);
  const third = p.probe.within(60_000);
  p.answer(true);
  assert.deepEqual(await third, { answer: { ok: true, n: 1 } });
  assert.deepEqual(await p.probe.within(5), { answer: { ok: true, n: 1 } }, 'the healthy answer is reused');
  assert.equal(p.runs(), 1);
});

test('within: a probe that throws after the wait leaves no unhandled rejection, and the next call probes again', async () => {
  let fail: ((err: Error) => void) | undefined;
  let runs = 0;
  const probe = new SharedProbe<{ ok: boolean }>(
    () => {
      runs++;
      return runs === 1 ? new Promise((_, reject) => (fail = reject)) : Promise.resolve({ ok: true });
    },
    { maxAgeMs: 60_000 },
  );
  assert.ok('waitingSince' in (await probe.within(5)));
  fail!(new Error('socket hang up'));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(await probe.within(5_000), { answer: { ok: true } });
  assert.equal(runs, 2);
});
