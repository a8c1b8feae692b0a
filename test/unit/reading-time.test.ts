import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTimestamp } from '../../nodes/lib/reading-time';
import { InvalidReadingError } from '../../nodes/lib/errors';
import { normalizeReadings } from '../../nodes/lib/reading';

test('an ISO date the calendar does not have is refused, not rolled into the next month', () => {
  for (const bad of ['2026-02-29T00:00:00Z', '2026-02-30', '2026-04-31T10:00:00Z', '2100-02-29', '2026-06-31 12:00']) {
    assert.throws(() => parseTimestamp(bad), (err: unknown) => err instanceof InvalidReadingError && /is not a date: month \d\d of \d{4} has no day \d+/.test(err.message), bad);
  }
});

test('the last day of each month, leap days and the end of a day (24:00) are read as written', () => {
  assert.equal(parseTimestamp('2028-02-29T00:00:00Z'), Date.UTC(2028, 1, 29));
  assert.equal(parseTimestamp('2000-02-29'), Date.UTC(2000, 1, 29));
  assert.equal(parseTimestamp('2026-04-30T10:00:00Z'), Date.UTC(2026, 3, 30, 10));
  assert.equal(parseTimestamp('2026-12-31T23:59:59.999Z'), Date.UTC(2026, 11, 31, 23, 59, 59, 999));
  assert.equal(parseTimestamp('2026-01-31T24:00:00Z'), Date.UTC(2026, 1, 1));
  assert.equal(parseTimestamp('2026-03-31 08:00+02:00'), Date.UTC(2026, 2, 31, 6));
});

test('an epoch number past the last date is refused in the unit it was read in, not as the scaled value', () => {
  assert.throws(() => parseTimestamp(1e300), (err: unknown) => err instanceof InvalidReadingError && err.message === 'ts 1e+300 read as epoch nanoseconds is past the last date there is (+275760-09-13)');
  assert.throws(() => parseTimestamp('9000000000000000000000'), /ts 9e\+21 read as epoch nanoseconds is past the last date/);
  assert.equal(parseTimestamp(8.64e21), 8.64e15);
  assert.equal(parseTimestamp(1767225600000000000), 1767225600000);
});

test('in a batch, a time past the last date rejects that reading alone', () => {
  const out = normalizeReadings([{ ts: 1e300, v: 1 }, { ts: 1767225600000, v: 2 }], { device: 'd1', receivedAt: 1767225600000 });
  assert.deepEqual(out.readings.map((r) => [r.ts, r.fields.v]), [[1767225600000, 2]]);
  assert.deepEqual(out.rejected.map((r) => [r.index, r.error.message]), [[0, '[0].ts 1e+300 read as epoch nanoseconds is past the last date there is (+275760-09-13)']]);
  const one = normalizeReadings({ ts: 1e300, v: 1 }, { device: 'd1', receivedAt: 0 });
  assert.deepEqual([one.readings.length, one.rejected[0]?.error.message], [0, 'ts 1e+300 read as epoch nanoseconds is past the last date there is (+275760-09-13)']);
});

test('a negative epoch number is a time before 1970, read in the unit its size tells, as a positive one', () => {
  assert.equal(parseTimestamp(-86400), -86_400_000);
  assert.equal(parseTimestamp(-1e12), -1e12);
  assert.equal(parseTimestamp(-1e15), -1e12);
  assert.equal(parseTimestamp(-1e18), -1e12);
  assert.equal(parseTimestamp('-86400'), -86_400_000);
  assert.ok(Object.is(parseTimestamp(-0.0001), 0), 'no negative zero');
  assert.throws(() => parseTimestamp(-1e300), (err: unknown) => err instanceof InvalidReadingError && err.message === 'ts -1e+300 read as epoch nanoseconds is before the first date there is (-271821-04-20)');
  assert.throws(() => parseTimestamp(-Infinity), /ts must be a finite epoch time, got -Infinity/);
  const flat = normalizeReadings({ ts: -86400, v: 1 }, { device: 'd1', receivedAt: 0 });
  assert.deepEqual(flat.readings.map((r) => r.ts), [-86_400_000]);
});
