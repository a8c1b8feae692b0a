/**
 * How far past its arrival a reading's time may be (upperstack.maxAheadSeconds, a day by default):
 * a device clock in year 9999 is refused with TS_OUT_OF_RANGE naming the time and the bound, in a
 * batch that reading alone; historic imports (the NAB data of 2013–2015, times before 1970) pass.
 */
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_MAX_AHEAD_SECONDS, setMaxAheadSeconds } from '../../nodes/lib/reading-time';
import { ConfigError, InvalidReadingError, TimestampOutOfRangeError } from '../../nodes/lib/errors';
import { checkReadingLimits, checkReadingTime, normalizeReadings } from '../../nodes/lib/reading';
import { DEFAULT_LIMITS } from '../../nodes/lib/limits';
import { requestOutcome, type InputRequest } from '../../nodes/lib/inputs/request';
import { answerOutcome } from '../../nodes/lib/inputs/answers';
import { coapOutcomeAnswer } from '../../nodes/lib/inputs/coap';
import { loadSchema } from '../../nodes/lib/schema/validator';

const ARRIVED = Date.UTC(2026, 5, 1, 12);
const DAY = 86_400_000;
const opts = { device: 'd1', receivedAt: ARRIVED };

afterEach(() => {
  setMaxAheadSeconds(undefined);
});

test('a time in year 9999 is refused as TS_OUT_OF_RANGE, naming the time and the latest one taken', () => {
  const { readings, rejected } = normalizeReadings({ ts: '9999-01-01T00:00:00Z', t: 1 }, opts);
  assert.equal(readings.length, 0);
  const err = rejected[0].error;
  assert.ok(err instanceof TimestampOutOfRangeError);
  assert.equal(err.code, 'TS_OUT_OF_RANGE');
  assert.equal(err.message, `ts 9999-01-01T00:00:00.000Z is too far in the future: the latest time taken is 2026-06-02T12:00:00.000Z (24 h after the reading arrived); check the device's clock`);
  assert.deepEqual(err.toJSON(), { name: 'TimestampOutOfRangeError', code: 'TS_OUT_OF_RANGE', message: err.message, path: 'ts', ts: Date.UTC(9999, 0, 1), bound: ARRIVED + DAY, aheadMs: DAY });
});

test('every way of writing a time is judged, and in a batch only the reading too far ahead is refused', () => {
  const ahead = ARRIVED + DAY + 1000;
  const { readings, rejected } = normalizeReadings(
    [
      { ts: ARRIVED, v: 1 },
      { ts: ahead, v: 2 },
      { timestamp: ahead / 1000, v: 3 },
      { time: new Date(ahead).toISOString(), v: 4 },
      { fields: { v: 5 }, ts: ahead * 1e6 },
      { ts: ARRIVED + DAY, v: 6 },
    ],
    opts,
  );
  assert.deepEqual(readings.map((r) => r.fields.v), [1, 6]);
  assert.deepEqual(rejected.map((r) => [r.index, r.error.code, String(r.error.details.path)]), [
    [1, 'TS_OUT_OF_RANGE', '[1].ts'],
    [2, 'TS_OUT_OF_RANGE', '[2].timestamp'],
    [3, 'TS_OUT_OF_RANGE', '[3].time'],
    [4, 'TS_OUT_OF_RANGE', '[4].ts'],
  ]);
  // Line protocol's times are epoch milliseconds already.
  const lines = normalizeReadings([{ ts: Date.UTC(9999, 0, 1), v: 1 }], { ...opts, epochMs: true });
  assert.equal(lines.rejected[0].error.code, 'TS_OUT_OF_RANGE');
});

test('historic imports pass: the NAB years, times before 1970, and no time at all', () => {
  const { readings, rejected } = normalizeReadings(
    [{ ts: '2013-07-04T00:00:00Z', v: 1 }, { ts: Date.UTC(2015, 8, 1), v: 2 }, { ts: -1e12, v: 3 }, { ts: '1969-07-20T20:17:00Z', v: 4 }, { v: 5 }],
    opts,
  );
  assert.deepEqual(rejected, []);
  assert.deepEqual(readings.map((r) => r.ts), [Date.UTC(2013, 6, 4), Date.UTC(2015, 8, 1), -1e12, Date.UTC(1969, 6, 20, 20, 17), ARRIVED]);
});

test('the bound is a setting: seconds ahead, 0 for none; a bad value is refused and changes nothing', () => {
  assert.equal(DEFAULT_MAX_AHEAD_SECONDS, 86_400);
  setMaxAheadSeconds('60');
  assert.equal(normalizeReadings({ ts: ARRIVED + 61_000, v: 1 }, opts).rejected[0].error.message, `ts ${new Date(ARRIVED + 61_000).toISOString()} is too far in the future: the latest time taken is ${new Date(ARRIVED + 60_000).toISOString()} (60 s after the reading arrived); check the device's clock`);
  assert.equal(normalizeReadings({ ts: ARRIVED + 60_000, v: 1 }, opts).readings.length, 1);
  setMaxAheadSeconds(0);
  assert.equal(normalizeReadings({ ts: '9999-01-01T00:00:00Z', v: 1 }, opts).readings.length, 1);
  for (const bad of [-1, 1.5, 'a day', true, 4e9]) assert.throws(() => setMaxAheadSeconds(bad), (e: unknown) => e instanceof ConfigError && /maxAheadSeconds must be a whole number of seconds from 0 \(no bound\)/.test(e.message), String(bad));
  // Still none after the refused values; undefined restores the default.
  assert.equal(normalizeReadings({ ts: '9999-01-01T00:00:00Z', v: 1 }, opts).readings.length, 1);
  setMaxAheadSeconds(undefined);
  assert.equal(normalizeReadings({ ts: '9999-01-01T00:00:00Z', v: 1 }, opts).rejected.length, 1);
});

test('the HTTP and CoAP inputs answer 422 with the code, the time and the bound; a batch 202 with the refused item', () => {
  const { validate } = loadSchema();
  const req = (payload: string): InputRequest => ({ route: 'ingest', device: 'd1', contentType: 'application/json', payload: Buffer.from(payload), receivedAt: ARRIVED });
  const one = answerOutcome('ingest', requestOutcome(req('{"ts":"9999-01-01T00:00:00Z","t":1}'), { validate, maxBytes: 1 << 20 }));
  assert.equal(one.status, 422);
  const body = JSON.parse(one.body) as { error: { code: string; message: string; violations: Array<{ code: string; path: string }> }; deadLettered: number };
  assert.equal(body.error.code, 'TS_OUT_OF_RANGE');
  assert.match(body.error.message, /^no reading is valid: ts 9999-01-01T00:00:00\.000Z is too far in the future: the latest time taken is 2026-06-02T12:00:00\.000Z/);
  assert.deepEqual([body.error.violations[0].code, body.error.violations[0].path, body.deadLettered], ['TS_OUT_OF_RANGE', 'ts', 1]);
  const batch = answerOutcome('ingest', requestOutcome(req(`[{"ts":${ARRIVED},"t":1},{"ts":"9999-01-01T00:00:00Z","t":2}]`), { validate, maxBytes: 1 << 20 }));
  assert.equal(batch.status, 202);
  assert.deepEqual((JSON.parse(batch.body) as { accepted: number; errors: Array<{ code: string; index: number }> }).errors.map((e) => [e.code, e.index]), [['TS_OUT_OF_RANGE', 1]]);
});

test('a Reading a flow built: the limits name a NaN or infinite field (after a broken limit), checkReadingTime a time past the bound; a sound one passes', () => {
  const r = (ts: number, fields: Record<string, number | string | boolean>) => ({ device: 'd1', ts, fields, tags: {} });
  const limits = { ...DEFAULT_LIMITS, maxFields: 3 };
  assert.equal(checkReadingLimits(r(ARRIVED, { t: 1, s: 'x', b: true }), limits), undefined);
  assert.equal(checkReadingTime(r(ARRIVED, { t: 1 }), ARRIVED), undefined);
  const inf = checkReadingLimits(r(ARRIVED, { t: 1, ratio: -Infinity }), limits, '[4]');
  assert.ok(inf instanceof InvalidReadingError);
  assert.equal(inf.message, '[4].fields.ratio is -Infinity; only finite numbers can be stored');
  assert.equal(checkReadingLimits(r(ARRIVED, { n: NaN }), limits)?.code, 'INVALID_READING');
  // A reading past the fields limit is refused for that first, wherever its NaN stands.
  assert.equal(checkReadingLimits(r(ARRIVED, { n: NaN, a: 1, b: 2, c: 3 }), limits)?.code, 'TOO_MANY_FIELDS');
  assert.equal(checkReadingTime(r(NaN, { t: 1 }), ARRIVED)?.code, 'INVALID_READING');
  const ahead = checkReadingTime(r(ARRIVED + DAY + 1, { t: 1 }), ARRIVED);
  assert.ok(ahead instanceof TimestampOutOfRangeError);
  assert.equal(ahead.details.path, 'ts');
  assert.equal(checkReadingTime(r(ARRIVED + DAY, { t: 1 }), ARRIVED), undefined);
  setMaxAheadSeconds(0);
  assert.equal(checkReadingTime(r(ARRIVED + 1000 * DAY, { t: 1 }), ARRIVED), undefined);
});

test('a batch with an item refused for its time and others against the schema: each error names its own item of the request', () => {
  const { validate } = loadSchema();
  const req = (payload: string): InputRequest => ({ route: 'ingest', device: 'd1', contentType: 'application/json', payload: Buffer.from(payload), receivedAt: ARRIVED });
  const items = [`{"ts":${ARRIVED},"t":1}`, '{"ts":"9999-01-01T00:00:00Z","t":2}', `{"ts":${ARRIVED},"bad name":3}`, `{"ts":${ARRIVED},"t":4}`, `{"ts":${ARRIVED},"also bad":5}`];
  const outcome = requestOutcome(req(`[${items.join(',')}]`), { validate, maxBytes: 1 << 20 });
  const expected = [
    ['TS_OUT_OF_RANGE', 1],
    ['SCHEMA_VIOLATION', 2],
    ['SCHEMA_VIOLATION', 4],
  ];
  const http = answerOutcome('ingest', outcome);
  assert.equal(http.status, 202);
  assert.deepEqual((JSON.parse(http.body) as { errors: Array<{ code: string; index: number }> }).errors.map((e) => [e.code, e.index]), expected);
  const coap = coapOutcomeAnswer(outcome);
  assert.equal(coap.code, '2.04');
  assert.deepEqual((JSON.parse(String(coap.payload)) as { errors: Array<{ code: string; index: number }> }).errors.map((e) => [e.code, e.index]), expected);
});
