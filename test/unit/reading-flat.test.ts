/**
 * Flat readings (the common case) are built in one pass; everything else goes
 * the general way. Whichever way a reading goes, the outcome is the same: the
 * same Reading, or the same error naming the same spot.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { normalizeReading, normalizeReadings, type NormalizeOptions, type Reading } from '../../nodes/lib/reading';
import { DEFAULT_LIMITS } from '../../nodes/lib/limits';

type Outcome = { reading: Reading } | { error: string; name: string };

function general(item: unknown, opts: NormalizeOptions, path: string): Outcome {
  try {
    return { reading: normalizeReading(item, opts, path) };
  } catch (err) {
    return { error: (err as Error).message, name: (err as Error).name };
  }
}

function viaBatch(items: unknown[], opts: NormalizeOptions): Outcome[] {
  const { readings, rejected } = normalizeReadings(items, opts);
  const out: Outcome[] = [];
  let r = 0;
  for (let i = 0; i < items.length; i++) {
    const bad = rejected.find((x) => x.index === i);
    out.push(bad ? { error: bad.error.message, name: bad.error.name } : { reading: readings[r++] });
  }
  return out;
}

// Small limits, so that the generated readings cross them often.
const limits = { ...DEFAULT_LIMITS, maxFields: 3, maxStringLength: 6 };
const key = fc.constantFrom('t', 'h', 'x.y', 'ts', 'time', 'timestamp', 'device', 'fields', 'tags', '__proto__', '0', 'a b');
const scalar = fc.oneof(
  fc.double(),
  fc.integer(),
  fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, -1, 1_700_000_000, 1_700_000_000_123, null, undefined, true, false),
  fc.string({ maxLength: 8 }),
  fc.constantFrom('\ud800', 'ok\udfff', '2026-01-02T03:04:05Z', '12'),
);
const value = fc.oneof({ weight: 4, arbitrary: scalar }, { weight: 1, arbitrary: fc.dictionary(key, scalar, { maxKeys: 2 }) }, { weight: 1, arbitrary: fc.array(scalar, { maxLength: 2 }) });
// Few names inside fields and tags, so that they meet the reading's own members.
const inner = fc.dictionary(fc.constantFrom('t', 'h', 'x.y', '__proto__', 'k'), fc.oneof(scalar, fc.constantFrom(null, 1, '\ud800')), { maxKeys: 5 });
const reading = fc
  .tuple(fc.dictionary(key, value, { maxKeys: 5 }), fc.option(inner, { nil: undefined }), fc.option(inner, { nil: undefined }))
  .map(([top, fields, tags]) => ({ ...top, ...(fields ? { fields } : {}), ...(tags ? { tags } : {}) }));
const item = fc.oneof(
  { weight: 5, arbitrary: reading },
  { weight: 2, arbitrary: fc.dictionary(key, value, { maxKeys: 6 }) },
  { weight: 1, arbitrary: scalar },
  { weight: 1, arbitrary: fc.array(value, { maxLength: 2 }) },
);

test('a batch gives per item what the general path gives: the same Reading or the same error', () => {
  fc.assert(
    fc.property(fc.array(item, { minLength: 1, maxLength: 4 }), fc.option(fc.constantFrom('dev', 'd\ud800', 'toolong-device'), { nil: undefined }), (items, device) => {
      const opts: NormalizeOptions = { receivedAt: 1_767_225_600_000, limits, ...(device !== undefined ? { device } : {}) };
      const got = viaBatch(items, opts);
      items.forEach((it, i) => assert.deepStrictEqual(got[i], general(it, opts, `[${i}]`), `item ${i}: ${JSON.stringify(it)}`));
    }),
    { numRuns: 3000 },
  );
});

test('a single reading too', () => {
  fc.assert(
    fc.property(item.filter((x) => !Array.isArray(x)), (it) => {
      const opts: NormalizeOptions = { receivedAt: 5, device: 'dev', limits };
      let got: Outcome;
      try {
        const { readings, rejected } = normalizeReadings(it, opts);
        got = rejected.length ? { error: rejected[0].error.message, name: rejected[0].error.name } : { reading: readings[0] };
      } catch (err) {
        got = { error: (err as Error).message, name: (err as Error).name };
      }
      assert.deepStrictEqual(got, general(it, opts, ''));
    }),
    { numRuns: 2000 },
  );
});

test('flat readings: fields in the order sent (members of "fields" first), tags as text, device and time from the reading', () => {
  const { readings } = normalizeReadings([{ device: 'a', ts: 1_700_000_000, t: 1, fields: { h: 2 }, ok: true, tags: { room: 3, on: false } }, { temperature: 21.5, unit: 'C' }], { device: 'b', receivedAt: 1_700_000_009_000 });
  assert.deepStrictEqual(readings, [
    { device: 'a', ts: 1_700_000_000_000, fields: { h: 2, t: 1, ok: true }, tags: { room: '3', on: 'false' } },
    { device: 'b', ts: 1_700_000_009_000, fields: { temperature: 21.5, unit: 'C' }, tags: {} },
  ]);
});

test('a device name checked once is not trusted for a later one that differs', () => {
  const opts = { receivedAt: 1 };
  assert.equal(normalizeReadings({ device: 'ok', t: 1 }, opts).readings.length, 1);
  const { rejected } = normalizeReadings([{ device: 'ok', t: 1 }, { device: 'ok\ud800', t: 1 }], opts);
  assert.equal(rejected.length, 1);
  assert.match(rejected[0].error.message, /\[1\]\.device holds half of a UTF-16 surrogate pair/);
});

test('the flat path keeps the general rules: members of "fields" count with their nulls, a name twice is refused, tags must be Unicode', () => {
  const opts = { receivedAt: 1, device: 'd', limits: { ...DEFAULT_LIMITS, maxFields: 3 } };
  const cases: Array<[unknown, RegExp]> = [
    [{ fields: { a: 1, b: null, c: null, d: null } }, /more than 3 fields/],
    [{ fields: { t: 1 }, t: 2 }, /would be stored as field "t", which the reading already has/],
    [{ t: 1, tags: { site: 'x\udc00' } }, /tags\.site holds half of a UTF-16 surrogate pair/],
    [{ t: Number.NaN }, /t is NaN; only finite numbers can be stored/],
  ];
  for (const [item, re] of cases) {
    const { readings, rejected } = normalizeReadings([item], opts);
    assert.equal(readings.length, 0, JSON.stringify(item));
    assert.match(rejected[0].error.message, re);
  }
});

test('a device the payload names keeps the device id rule, on the flat and the general path; the transport\'s own is not judged again', () => {
  const opts = { receivedAt: 1, device: 'gw1' };
  const { readings, rejected } = normalizeReadings([{ device: 'ok1', t: 1 }, { device: 'other dev', t: 2 }, { device: 'x\u0007', fields: { t: { n: 3 } } }], opts);
  assert.deepEqual(readings.map((r) => r.device), ['ok1']);
  assert.deepEqual(rejected.map((r) => [r.index, r.error.code, r.error.message]), [
    [1, 'BAD_DEVICE_ID', '[1].device: "other dev" is not a device id: use 1 to 128 letters, digits, ".", "_", "-", ":" or "@"'],
    [2, 'BAD_DEVICE_ID', '[2].device: "x\u0007" is not a device id: use 1 to 128 letters, digits, ".", "_", "-", ":" or "@"'],
  ]);
  // A device a flow of its own sets on the message (msg.device) stays as it was taken.
  assert.equal(normalizeReadings({ t: 1 }, { receivedAt: 1, device: 'my dev' }).readings[0].device, 'my dev');
});

test('a device member that is not a non-empty string is refused naming it, on every path; the transport\'s device does not stand in for it', () => {
  const withPath = { receivedAt: 1, device: 'path-dev' };
  const cases: Array<[unknown, string]> = [
    [123, 'the number 123'],
    ['', 'an empty string'],
    [true, 'the boolean true'],
    [{ id: 'x' }, 'an object'],
    [['x'], 'an array'],
  ];
  for (const [device, got] of cases) {
    const single = normalizeReadings({ device, t: 1 }, withPath);
    assert.equal(single.readings.length, 0, JSON.stringify(device));
    assert.equal(single.rejected[0].error.code, 'BAD_DEVICE_ID');
    assert.equal(single.rejected[0].error.message, `device must be a non-empty string (a device id), got ${got}: send it as text, or leave it out for the topic's or path's device`);
    assert.equal(single.rejected[0].error.details.path, 'device');
  }
  // In a batch only that item is refused; without a transport device there is nothing to leave it out for.
  const { readings, rejected } = normalizeReadings([{ device: 'gw-child', t: 1 }, { device: 0, t: 2 }, { t: 3 }], { receivedAt: 1 });
  assert.deepEqual(readings.map((r) => r.device), ['gw-child']);
  assert.deepEqual(rejected.map((r) => [r.index, r.error.code, r.error.message]), [
    [1, 'BAD_DEVICE_ID', '[1].device must be a non-empty string (a device id), got the number 0: send it as text'],
    [2, 'INVALID_READING', '[2].device is missing: name the device in the payload or in the topic/URL'],
  ]);
  // A null device is no device member, as null values are none: the transport's device is used.
  assert.equal(normalizeReadings({ device: null, t: 1 }, withPath).readings[0].device, 'path-dev');
});

test('a reading with two time members is taken when they are one time and refused naming both when they differ', () => {
  const opts = { receivedAt: 1_767_225_600_000, device: 'd' };
  const at = Date.UTC(2026, 0, 1);
  // Seconds, milliseconds and ISO text of one instant.
  for (const item of [{ ts: at, timestamp: at / 1000, t: 1 }, { ts: '2026-01-01T00:00:00Z', time: at, t: 1 }, { ts: at, timestamp: at, time: '2026-01-01T00:00:00.000Z', t: 1 }]) {
    const { readings, rejected } = normalizeReadings(item, opts);
    assert.deepEqual(rejected, [], JSON.stringify(item));
    assert.deepEqual(readings, [{ device: 'd', ts: at, fields: { t: 1 }, tags: {} }]);
  }
  const refused = (item: unknown) => {
    const { readings, rejected } = normalizeReadings(item, opts);
    assert.equal(readings.length, 0, JSON.stringify(item));
    return rejected[0].error;
  };
  const err = refused({ ts: at, timestamp: '2025-01-01T00:00:00Z', t: 1 });
  assert.equal(err.code, 'INVALID_READING');
  assert.equal(err.message, 'ts (2026-01-01T00:00:00.000Z) and timestamp (2025-01-01T00:00:00.000Z) are two different times: a reading has one; send one of ts, timestamp and time, or the same time in each');
  assert.equal(err.details.path, 'timestamp');
  assert.match(refused([{ timestamp: at, time: at + 1, t: 1 }]).message, /^\[0\]\.timestamp \(2026-01-01T00:00:00\.000Z\) and \[0\]\.time \(2026-01-01T00:00:00\.001Z\) are two different times/);
  // A second time that is no time is refused as such, not dropped behind the first.
  assert.equal(refused({ ts: at, time: 'soon', t: 1 }).message, 'time "soon" is not ISO 8601 or epoch time');
});
