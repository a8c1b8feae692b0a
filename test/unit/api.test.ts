import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { handleQuery } from '../../nodes/lib/api/handlers';
import { parseAggregateParams, parseReadingsParams } from '../../nodes/lib/api/params';
import { csvCell, isoTime } from '../../nodes/lib/api/format';
import { DuckDbStore } from '../../nodes/lib/store/duckdb';
import { StoreFailedError, StoreUnavailableError } from '../../nodes/lib/errors';
import type { AggregatePoint, AggregateQuery, ReadingsPage, ReadingsQuery, TimeSeriesStore } from '../../nodes/lib/store/types';

const T0 = Date.UTC(2026, 0, 2, 3, 4, 5, 678);

/** Answers with fixed data and remembers what it was asked. */
class FakeStore implements TimeSeriesStore {
  asked: Array<ReadingsQuery | AggregateQuery> = [];
  constructor(
    private page: ReadingsPage = { readings: [] },
    private points: AggregatePoint[] = [],
    private failure?: Error,
  ) {}
  async open() {}
  async write() {}
  async writeDeadLetters() {}
  async readings(q: ReadingsQuery) {
    this.asked.push(q);
    if (this.failure) throw this.failure;
    return this.page;
  }
  async aggregate(q: AggregateQuery) {
    this.asked.push(q);
    if (this.failure) throw this.failure;
    return this.points;
  }
  async deadLetters() {
    return [];
  }
  async health() {
    return { ok: true, detail: 'fake' };
  }
  async close() {}
}

describe('query parameters', () => {
  test('readings: defaults, epoch ms, ISO with and without offset, fields', () => {
    assert.deepEqual(parseReadingsParams({ device: 'dev1' }), { device: 'dev1', limit: 1000 });
    assert.deepEqual(
      parseReadingsParams({ device: 'dev1', from: '1767225600000', to: '2026-01-02T03:04:05.678Z', fields: 'a, b,a', limit: '10000', cursor: 'MTAwMA' }),
      { device: 'dev1', from: 1767225600000, to: T0, fields: ['a', 'b'], limit: 10000, cursor: 'MTAwMA' },
    );
    // Without an offset the time is UTC, not the server's zone.
    assert.equal(parseReadingsParams({ device: 'd', from: '2026-01-02T03:04:05.678' }).from, T0);
    assert.equal(parseReadingsParams({ device: 'd', from: '2026-01-02T04:04:05.678+01:00' }).from, T0);
    assert.equal(parseReadingsParams({ device: 'd', from: '2026-01-02' }).from, Date.UTC(2026, 0, 2));
  });

  test('an epoch number in from/to is read in the unit its size tells, as the inputs read a reading\'s time', () => {
    // `date +%s`, Date.now(), and the micro- and nanoseconds of InfluxDB-minded tools: one moment.
    const at = Date.UTC(2026, 2, 28, 22, 0, 0);
    for (const text of ['1774735200', '1774735200000', '1774735200000000', '1774735200000000000', '1774735200.000']) {
      assert.equal(parseReadingsParams({ device: 'd', from: text }).from, at, text);
      assert.equal(parseAggregateParams({ device: 'd', field: 't', every: '1h', fn: 'mean', to: text }).to, at, text);
    }
    assert.equal(parseReadingsParams({ device: 'd', from: '1774735200.5' }).from, at + 500);
    assert.equal(parseReadingsParams({ device: 'd', from: '-86400' }).from, -86_400_000);
  });

  test('aggregate: every units and fn', () => {
    const units: Record<string, number> = { '500ms': 500, '30s': 30_000, '5m': 300_000, '1h': 3_600_000, '1d': 86_400_000 };
    for (const [every, ms] of Object.entries(units)) {
      assert.equal(parseAggregateParams({ device: 'd', field: 't', every, fn: 'mean' }).everyMs, ms, every);
    }
    assert.deepEqual(parseAggregateParams({ device: 'd', field: 't', every: '5m', fn: 'last', from: '0', to: String(T0) }), {
      device: 'd',
      field: 't',
      from: 0,
      to: T0,
      everyMs: 300_000,
      fn: 'last',
    });
  });
});

describe('handleQuery errors', () => {
  const readingsCases: Array<[Record<string, string>, string, RegExp]> = [
    [{}, 'device', /"device" is required/],
    [{ device: '' }, 'device', /"device" is empty/],
    [{ device: 'd', from: 'yesterday' }, 'from', /^"from" must be ISO 8601 or an epoch time \(seconds, milliseconds, microseconds or nanoseconds\), got "yesterday"$/],
    [{ device: 'd', to: '2026-02-30T00:00:00Z' }, 'to', /"to" must be ISO 8601/],
    [{ device: 'd', to: '2026-01-01T25:00' }, 'to', /"to" must be ISO 8601/],
    [{ device: 'd', from: '--5' }, 'from', /epoch time/],
    [{ device: 'd', from: '-9000000000000000000000' }, 'from', /^"from" -9e\+21 read as epoch nanoseconds is before the first date there is/],
    [{ device: 'd', from: '2000', to: '1000' }, 'from', /"from" \(2000\) is after "to" \(1000\)/],
    [{ device: 'd', limit: '0' }, 'limit', /"limit" must be a whole number from 1 to 10000, got "0"/],
    [{ device: 'd', limit: '10001' }, 'limit', /from 1 to 10000/],
    [{ device: 'd', limit: '5.5' }, 'limit', /whole number/],
    [{ device: 'd', fields: 'a,,b' }, 'fields', /"fields" must be field names separated by commas/],
  ];
  for (const [q, parameter, message] of readingsCases) {
    test(`readings ${JSON.stringify(q)} → 400 naming "${parameter}"`, async () => {
      const store = new FakeStore();
      const res = await handleQuery(store, 'readings', q, undefined);
      assert.equal(res.status, 400);
      assert.match(res.contentType, /^application\/json/);
      const body = JSON.parse(res.body) as { error: { code: string; message: string; parameter: string } };
      assert.equal(body.error.code, 'BAD_PARAMETER');
      assert.equal(body.error.parameter, parameter);
      assert.match(body.error.message, message);
      assert.equal(store.asked.length, 0, 'the store is not asked');
    });
  }

  const aggregateCases: Array<[Record<string, string>, string, RegExp]> = [
    [{ field: 't', every: '5m', fn: 'mean' }, 'device', /"device" is required/],
    [{ device: 'd', every: '5m', fn: 'mean' }, 'field', /"field" is required/],
    [{ device: 'd', field: 't', fn: 'mean' }, 'every', /"every" is required: .*30s, 5m, 1h, 1d or 500ms/],
    [{ device: 'd', field: 't', every: '5 minutes', fn: 'mean' }, 'every', /"every" must be .* unit ms, s, m, h or d .*got "5 minutes"/],
    [{ device: 'd', field: 't', every: '0s', fn: 'mean' }, 'every', /positive/],
    [{ device: 'd', field: 't', every: '5m' }, 'fn', /"fn" is required: give one of mean, min, max, sum, count, last/],
    [{ device: 'd', field: 't', every: '5m', fn: 'median' }, 'fn', /"fn" must be one of mean, min, max, sum, count, last, got "median"/],
    [{ device: 'd', field: 't', every: '5m', fn: 'mean', from: 'soon' }, 'from', /"from" must be ISO 8601/],
    [{ device: 'd', field: 't', every: '5m', fn: 'mean', to: 'later' }, 'to', /"to" must be ISO 8601/],
    [{ device: 'd', field: 't', every: '5m', fn: 'mean', from: '2026-01-02', to: '2026-01-01' }, 'from', /is after "to"/],
  ];
  for (const [q, parameter, message] of aggregateCases) {
    test(`aggregate ${JSON.stringify(q)} → 400 naming "${parameter}"`, async () => {
      const res = await handleQuery(new FakeStore(), 'aggregate', q, 'text/csv');
      assert.equal(res.status, 400);
      const body = JSON.parse(res.body) as { error: { parameter: string; message: string } };
      assert.equal(body.error.parameter, parameter);
      assert.match(body.error.message, message);
    });
  }

  test('a bad cursor from the real store is a 400 naming "cursor"', async () => {
    const store = new DuckDbStore({ path: ':memory:' });
    await store.open();
    try {
      const res = await handleQuery(store, 'readings', { device: 'd', cursor: '%%%' }, undefined);
      assert.equal(res.status, 400);
      assert.equal((JSON.parse(res.body) as { error: { parameter: string } }).error.parameter, 'cursor');
    } finally {
      await store.close();
    }
  });

  test('store unavailable → 503, store failed → 500, both with code and message', async () => {
    const down = await handleQuery(new FakeStore(undefined, undefined, new StoreUnavailableError('DuckDB database "/x.duckdb" cannot be used')), 'readings', { device: 'd' }, undefined);
    assert.equal(down.status, 503);
    assert.deepEqual(JSON.parse(down.body), { error: { code: 'STORE_UNAVAILABLE', message: 'DuckDB database "/x.duckdb" cannot be used' } });
    const failed = await handleQuery(new FakeStore(undefined, undefined, new StoreFailedError('boom')), 'aggregate', { device: 'd', field: 'f', every: '1m', fn: 'sum' }, undefined);
    assert.equal(failed.status, 500);
    assert.deepEqual(JSON.parse(failed.body), { error: { code: 'STORE_FAILED', message: 'boom' } });
    const bug = await handleQuery(new FakeStore(undefined, undefined, new TypeError('x is undefined')), 'readings', { device: 'd' }, undefined);
    assert.equal(bug.status, 500);
    assert.equal((JSON.parse(bug.body) as { error: { code: string } }).error.code, 'INTERNAL');
  });
});

describe('response bodies', () => {
  const page: ReadingsPage = {
    readings: [
      { ts: T0, fields: { temperature: 22.5, door: true, note: 'a, "b"\nc' }, tags: { site: 'lab' } },
      { ts: T0 + 1000, fields: { temperature: -1 }, tags: {} },
    ],
    nextCursor: 'MTc2NzMyMzA0NjY3OA',
  };

  test('readings JSON: ISO 8601 UTC with ms, fields and tags as stored, next only when more', async () => {
    const store = new FakeStore(page);
    const res = await handleQuery(store, 'readings', { device: 'dev1', fields: 'temperature', limit: '2' }, 'application/json');
    assert.equal(res.status, 200);
    assert.equal(res.contentType, 'application/json; charset=utf-8');
    assert.equal(
      res.body,
      '{"device":"dev1","readings":[' +
        '{"ts":"2026-01-02T03:04:05.678Z","fields":{"temperature":22.5,"door":true,"note":"a, \\"b\\"\\nc"},"tags":{"site":"lab"}},' +
        '{"ts":"2026-01-02T03:04:06.678Z","fields":{"temperature":-1},"tags":{}}],' +
        '"next":"MTc2NzMyMzA0NjY3OA"}',
    );
    assert.deepEqual(store.asked, [{ device: 'dev1', fields: ['temperature'], limit: 2 }]);
    const last = await handleQuery(new FakeStore({ readings: [] }), 'readings', { device: 'dev1' }, undefined);
    assert.equal(last.body, '{"device":"dev1","readings":[]}');
  });

  test('readings CSV: one line per value, RFC 4180 quoting, chosen by a text/csv Accept weighs above JSON', async () => {
    const res = await handleQuery(new FakeStore(page), 'readings', { device: 'dev,1' }, 'application/json;q=0.5, TEXT/CSV;q=0.9');
    assert.equal(res.status, 200);
    assert.equal(res.contentType, 'text/csv; charset=utf-8');
    assert.equal(
      res.body,
      'ts,device,field,value\r\n' +
        '2026-01-02T03:04:05.678Z,"dev,1",temperature,22.5\r\n' +
        '2026-01-02T03:04:05.678Z,"dev,1",door,true\r\n' +
        '2026-01-02T03:04:05.678Z,"dev,1",note,"a, ""b""\nc"\r\n' +
        '2026-01-02T03:04:06.678Z,"dev,1",temperature,-1\r\n',
    );
  });

  test('aggregate JSON keeps "every" as given; CSV has the same columns as readings', async () => {
    const points: AggregatePoint[] = [
      { ts: Date.UTC(2026, 0, 1), value: 22.875 },
      { ts: Date.UTC(2026, 0, 1, 0, 5), value: 'x"y' },
    ];
    const store = new FakeStore(undefined, points);
    const q = { device: 'dev1', field: 'temperature', every: '5m', fn: 'mean', from: '2026-01-01T00:00:00Z' };
    const json = await handleQuery(store, 'aggregate', q, undefined);
    assert.equal(
      json.body,
      '{"device":"dev1","field":"temperature","fn":"mean","every":"5m","points":[' +
        '{"ts":"2026-01-01T00:00:00.000Z","value":22.875},{"ts":"2026-01-01T00:05:00.000Z","value":"x\\"y"}]}',
    );
    assert.deepEqual(store.asked, [{ device: 'dev1', field: 'temperature', from: Date.UTC(2026, 0, 1), everyMs: 300_000, fn: 'mean' }]);
    const csv = await handleQuery(store, 'aggregate', q, 'text/csv');
    assert.equal(csv.body, 'ts,device,field,value\r\n2026-01-01T00:00:00.000Z,dev1,temperature,22.875\r\n2026-01-01T00:05:00.000Z,dev1,temperature,"x""y"\r\n');
  });

  test('isoTime and csvCell edge cases', () => {
    assert.equal(isoTime(0), '1970-01-01T00:00:00.000Z');
    assert.equal(isoTime(T0 + 0.4), '2026-01-02T03:04:05.678Z');
    assert.equal(csvCell('plain'), 'plain');
    assert.equal(csvCell('line\r\nbreak'), '"line\r\nbreak"');
    assert.equal(csvCell(false), 'false');
    assert.equal(csvCell(null), '');
  });

  test('end to end with the DuckDB store: pages chain through "next"', async () => {
    const store = new DuckDbStore({ path: ':memory:' });
    await store.open();
    try {
      await store.write([0, 1, 2].map((i) => ({ device: 'e2e', ts: T0 + i, fields: { i }, tags: {} })));
      const first = JSON.parse((await handleQuery(store, 'readings', { device: 'e2e', limit: '2' }, undefined)).body) as { readings: Array<{ ts: string }>; next: string };
      assert.deepEqual(first.readings.map((x) => x.ts), ['2026-01-02T03:04:05.678Z', '2026-01-02T03:04:05.679Z']);
      const second = JSON.parse((await handleQuery(store, 'readings', { device: 'e2e', limit: '2', cursor: first.next }, undefined)).body) as { readings: Array<{ ts: string }>; next?: string };
      assert.deepEqual(second.readings.map((x) => x.ts), ['2026-01-02T03:04:05.680Z']);
      assert.equal(second.next, undefined);
    } finally {
      await store.close();
    }
  });
});
