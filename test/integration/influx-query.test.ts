/**
 * InfluxDB 1.x and VictoriaMetrics as the source of the query API: readings are
 * written through the real sinks into Debian's influxd and victoria-metrics
 * (started here on loopback), and every query (pages with cursors, field and
 * time filters, each aggregate at several bucket widths, the device list) must
 * answer what the embedded DuckDB store answers for the same readings. Then the
 * store config itself: `querySink` makes the query API of a running pipeline
 * read from the server.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { InfluxSink } from '../../nodes/lib/influx/sink';
import { InfluxReader } from '../../nodes/lib/influx/query';
import { FieldTypeRegistry } from '../../nodes/lib/influx/field-types';
import { DEFAULT_MAPPING } from '../../nodes/lib/influx/line';
import { DuckDbStore } from '../../nodes/lib/store/duckdb';
import { SinkSet, normalizeSinks } from '../../nodes/lib/store/sinks';
import type { AggregateFn, ReadingSource, ReadingsPage } from '../../nodes/lib/store/types';
import type { Reading } from '../../nodes/lib/reading';
import type { AlertEvent } from '../../nodes/lib/rules/types';
import { alertRows } from '../../nodes/alert/rows';
import { startInfluxd, startVictoria, type TsdbServer } from '../helpers/influxd';
import { eventually } from '../helpers/runtime';
import { tempDir } from '../helpers/temp';

const T0 = Date.UTC(2026, 0, 1);

/** Three devices, 400 readings each, two fields with gaps, tags that change, one reading in a measurement of its own. */
function dataset(numbersOnly: boolean): Reading[] {
  const out: Reading[] = [];
  for (const device of ['pump-1', 'pump "2"', "o'brien"]) {
    for (let i = 0; i < 400; i++) {
      // One decimal: VictoriaMetrics keeps about 12 significant digits, so values are ones it keeps exactly.
      const fields: Reading["fields"] = { temp: (Math.round(Math.sin(i / 7) * 1000) + device.length * 10) / 10 };
      if (i % 3 !== 0) fields.hum = (i * 37) % 101;
      if (!numbersOnly && i % 50 === 0) fields.note = `n${i}`;
      if (!numbersOnly && i % 40 === 0) fields.on = i % 80 === 0;
      out.push({ device, ts: T0 + i * 7_000 + (i % 5), fields, tags: { site: i < 200 ? 'a' : 'b' } });
    }
  }
  return out;
}

async function allPages(src: Pick<ReadingSource, 'readings'>, device: string, extra: { from?: number; to?: number; fields?: string[] }, limit: number): Promise<ReadingsPage['readings'][]> {
  const pages: ReadingsPage['readings'][] = [];
  let cursor: string | undefined;
  for (let n = 0; n < 1000; n++) {
    const p = await src.readings({ device, limit, cursor, ...extra });
    pages.push(p.readings);
    if (!p.nextCursor) return pages;
    cursor = p.nextCursor;
  }
  throw new Error('more than 1000 pages');
}

function close(a: unknown, b: unknown): boolean {
  return typeof a === 'number' && typeof b === 'number' ? Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a)) : a === b;
}

function assertSameAggregate(got: Array<{ ts: number; value: unknown }>, want: Array<{ ts: number; value: unknown }>, what: string): void {
  assert.deepEqual(got.map((p) => p.ts), want.map((p) => p.ts), `${what}: buckets`);
  for (let i = 0; i < got.length; i++) assert.ok(close(got[i].value, want[i].value), `${what}: bucket ${got[i].ts}: ${String(got[i].value)} vs ${String(want[i].value)}`);
}

for (const server of ['influxdb', 'victoriametrics'] as const) {
  describe(`${server} as a reading source`, () => {
    let ts: TsdbServer;
    let sink: InfluxSink;
    let reader: InfluxReader;
    let ref: DuckDbStore;
    const numbersOnly = server === 'victoriametrics';
    const data = dataset(numbersOnly);

    before(async () => {
      ts = server === 'influxdb' ? await startInfluxd() : await startVictoria();
      sink = new InfluxSink({
        server,
        url: ts.url,
        api: server === 'influxdb' ? 'v1' : 'v2',
        database: server === 'influxdb' ? 'upperstack' : '',
        precision: 'ms',
        mapping: DEFAULT_MAPPING,
        types: new FieldTypeRegistry(),
        gzipAbove: 65536,
        timeoutMs: 10_000,
        create: true,
        retentionMs: 0,
      });
      await sink.open();
      // Written twice (a batch the writer sends again after a timeout): stored once.
      for (let i = 0; i < data.length; i += 500) await sink.write(data.slice(i, i + 500));
      await sink.write(data.slice(100, 300));
      reader = new InfluxReader({ server, url: ts.url, database: server === 'influxdb' ? 'upperstack' : undefined, mapping: DEFAULT_MAPPING, timeoutMs: 10_000 });
      ref = new DuckDbStore({ path: ':memory:' });
      await ref.open();
      await ref.write(data);
      // VictoriaMetrics makes new samples searchable some seconds after it answered the write, at once when asked to.
      await eventually(async () => {
        await ts.flush();
        return (await reader.readings({ device: 'pump-1', limit: 1000 })).readings.length === 400 ? true : undefined;
      }, 30_000, 'all readings searchable');
    });

    after(async () => {
      await sink?.close();
      await ref?.close();
      await ts?.destroy();
    });

    test('pages of readings are the embedded store’s, cursor by cursor', async () => {
      for (const device of ['pump-1', 'pump "2"', "o'brien"]) {
        const cases: Array<[number, { from?: number; to?: number; fields?: string[] }]> = [
          [1000, {}],
          [37, {}],
          [25, { from: T0 + 50 * 7_000, to: T0 + 180 * 7_000 + 3 }],
          [60, { fields: ['hum'] }],
        ];
        for (const [limit, extra] of cases) {
          const got = await allPages(reader, device, extra, limit);
          const want = await allPages(ref, device, extra, limit);
          assert.deepEqual(got, want, `${device} limit ${limit} ${JSON.stringify(extra)}`);
        }
      }
    });

    test('aggregates are the embedded store’s for every function and bucket width', async () => {
      for (const fn of ['mean', 'min', 'max', 'sum', 'count', 'last'] as AggregateFn[]) {
        for (const everyMs of [60_000, 3_600_000, 13_000]) {
          for (const range of [{}, { from: T0 + 123_456, to: T0 + 2_000_000 }]) {
            const q = { device: 'pump "2"', field: 'hum', fn, everyMs, ...range };
            assertSameAggregate(await reader.aggregate(q), await ref.aggregate(q), `${fn} ${everyMs} ${JSON.stringify(range)}`);
          }
        }
      }
    });

    test('the device list names each device with its latest tags and its fields', async () => {
      const got = await reader.devices({});
      const want = await ref.devices({});
      assert.deepEqual(got, want);
    });

    test('a device with no readings, and an unknown field, answer empty', async () => {
      assert.deepEqual(await reader.readings({ device: 'nobody', limit: 10 }), { readings: [] });
      assert.deepEqual(await reader.aggregate({ device: 'pump-1', field: 'nope', fn: 'mean', everyMs: 60_000 }), []);
    });
  });
}

test('InfluxDB: a device listed after its latest row was an alert transition keeps the tags of its readings, as from DuckDB', async () => {
  const influx = await startInfluxd();
  const sink = new InfluxSink({ server: 'influxdb', url: influx.url, api: 'v1', database: 'upperstack', precision: 'ms', mapping: DEFAULT_MAPPING, types: new FieldTypeRegistry(), gzipAbove: 65536, timeoutMs: 10_000, create: true, retentionMs: 0 });
  const ref = new DuckDbStore({ path: ':memory:' });
  try {
    await sink.open();
    await ref.open();
    // A reading field named as one of the alert's tags: still a field, never the alert's tag.
    const rows: Reading[] = [
      { device: 'boiler', ts: T0, fields: { temp: 60, message: 'ok' }, tags: { site: 'north' } },
      { device: 'boiler', ts: T0 + 60_000, fields: { temp: 95 }, tags: { site: 'north' } },
      { device: 'quiet', ts: T0, fields: { temp: 20 }, tags: { site: 'south' } },
    ];
    // As the alert node writes them: the boiler's last row is an alert's, and one device has nothing else.
    const alert = (device: string, ts: number): AlertEvent => ({
      id: `hot:${device}`, rule: 'hot', ruleName: 'hot', device, event: 'firing', state: 'firing', previous: 'pending', severity: 'critical',
      ts, message: `${device} too hot`, reason: 'temp 95 above 90', since: ts, occurrences: 1, notify: true,
    });
    rows.push(...alertRows([alert('boiler', T0 + 120_000), alert('alarm-only', T0 + 5_000)]));
    await sink.write(rows);
    await ref.write(rows);
    const reader = new InfluxReader({ server: 'influxdb', url: influx.url, database: 'upperstack', mapping: DEFAULT_MAPPING, timeoutMs: 10_000 });
    const got = await reader.devices({});
    assert.deepEqual(got.map((d) => [d.device, d.tags]), [['alarm-only', {}], ['boiler', { site: 'north' }], ['quiet', { site: 'south' }]]);
    assert.deepEqual(got, await ref.devices({}));
    // In a range that holds the reading and the alert row only, as well.
    const range = { from: T0 + 30_000, to: T0 + 200_000 };
    assert.deepEqual((await reader.devices(range)).find((d) => d.device === 'boiler')?.tags, { site: 'north' });
    assert.deepEqual(await reader.devices(range), await ref.devices(range));
  } finally {
    await sink.close();
    await ref.close();
    await influx.destroy();
  }
});

test('store config: querySink makes the store answer reading queries from the server, dead letters stay embedded', async () => {
  const vm = await startVictoria();
  const dir = tempDir('us-query-sink-');
  try {
    const sinks = normalizeSinks([{ id: 'main', kind: 'duckdb' }, { id: 'vm', kind: 'victoriametrics', url: vm.url }], dir);
    // Another instance wrote these to the shared server; this one's embedded store has never seen them.
    const other = new InfluxSink({ server: 'victoriametrics', url: vm.url, api: 'v2', precision: 'ms', mapping: DEFAULT_MAPPING, types: new FieldTypeRegistry(), gzipAbove: 0, timeoutMs: 10_000, create: false, retentionMs: 0 });
    await other.write([{ device: 'elsewhere', ts: T0, fields: { v: 1 }, tags: {} }, { device: 'elsewhere', ts: T0 + 1000, fields: { v: 3 }, tags: {} }]);
    const set = SinkSet.create(sinks, { dataDir: dir, configId: 'cfg', querySink: 'vm' });
    await set.open();
    try {
      const page = await eventually(async () => {
        await vm.flush();
        const p = await set.primary.readings({ device: 'elsewhere', limit: 10 });
        return p.readings.length === 2 ? p : undefined;
      }, 30_000, 'readings of the other instance');
      assert.deepEqual(page.readings.map((r) => r.fields.v), [1, 3]);
      assert.deepEqual(await set.primary.aggregate({ device: 'elsewhere', field: 'v', fn: 'mean', everyMs: 60_000 }), [{ ts: T0, value: 2 }]);
      await set.primary.writeDeadLetters([{ ts: T0, device: 'x', source: 'test', code: 'DECODE_FAILED', reason: 'r', payload: 'p' }]);
      assert.equal((await set.primary.deadLetters({ limit: 10 })).length, 1);
      assert.throws(() => SinkSet.create(sinks, { dataDir: dir, configId: 'cfg2', querySink: 'nope' }), /query source "nope" is not one of this store's sinks/);
    } finally {
      await set.close();
    }
  } finally {
    await vm.destroy();
  }
});
