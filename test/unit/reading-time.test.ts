import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTimestamp } from '../../nodes/lib/reading-time';
import { InvalidReadingError } from '../../nodes/lib/errors';

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
