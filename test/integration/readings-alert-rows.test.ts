/**
 * Alert transitions are kept in the store beside a device's readings (field
 * `alert.<rule>`, the alert's details as tags), at the time of the reading that
 * raised them. The readings a device sent must come back as it sent them, from
 * the embedded DuckDB store and from InfluxDB alike: no `alert.*` field and no
 * alert tag merged in, however many rules fire at once. A query naming an
 * alert field still gets its rows (reports count alerts that way).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { alertRows } from '../../nodes/alert/rows';
import { InfluxSink } from '../../nodes/lib/influx/sink';
import { InfluxReader } from '../../nodes/lib/influx/query';
import { FieldTypeRegistry } from '../../nodes/lib/influx/field-types';
import { DEFAULT_MAPPING } from '../../nodes/lib/influx/line';
import { DuckDbStore } from '../../nodes/lib/store/duckdb';
import type { ReadingSource } from '../../nodes/lib/store/types';
import type { AlertEvent } from '../../nodes/lib/rules/types';
import type { Reading } from '../../nodes/lib/reading';
import { startInfluxd, type TsdbServer } from '../helpers/influxd';

const T0 = Date.UTC(2026, 0, 1);

const readings: Reading[] = [
  { device: 'tagdev', ts: T0, fields: { xv: 5 }, tags: { site: 'north' } },
  { device: 'tagdev', ts: T0 + 1000, fields: { xv: 50 }, tags: { site: 'north' } },
];

/** Three rules firing on the second reading, at its time, as the alert node stores them. */
const alerts = alertRows(
  ['xss', 'hot', 'spike'].map(
    (rule, i) =>
      ({
        id: `${rule}:tagdev`,
        rule,
        ruleName: rule,
        device: 'tagdev',
        event: 'firing',
        state: 'firing',
        previous: 'pending',
        severity: i === 0 ? 'critical' : 'warning',
        ts: T0 + 1000,
        message: `${rule} on tagdev`,
        reason: `xv 50 above ${10 * (i + 1)}`,
        since: T0 + 1000,
        occurrences: 1,
        key: `${rule}:tagdev:1`,
      }) as AlertEvent,
  ),
);

const DEVICE_READINGS = [
  { ts: T0, fields: { xv: 5 }, tags: { site: 'north' } },
  { ts: T0 + 1000, fields: { xv: 50 }, tags: { site: 'north' } },
];

function check(source: () => ReadingSource): void {
  test('the readings are the device’s own: no alert field, no alert tag', async () => {
    const page = await source().readings({ device: 'tagdev', limit: 100 });
    assert.deepEqual(page, { readings: DEVICE_READINGS });
  });

  test('pages of one reading each still hold every reading once', async () => {
    const first = await source().readings({ device: 'tagdev', limit: 1 });
    assert.deepEqual(first.readings, DEVICE_READINGS.slice(0, 1));
    assert.ok(first.nextCursor);
    const second = await source().readings({ device: 'tagdev', limit: 1, cursor: first.nextCursor });
    assert.deepEqual(second.readings, DEVICE_READINGS.slice(1));
  });

  test('the device summary lists the device’s own fields, its alert rules apart', async () => {
    const [d] = await source().devices!({});
    assert.deepEqual([d.device, d.tags, d.fields], ['tagdev', { site: 'north' }, ['xv']]);
    assert.deepEqual(d.alerts, ['alert.hot', 'alert.spike', 'alert.xss']);
  });

  test('an alert field asked for by name brings its rows', async () => {
    const page = await source().readings({ device: 'tagdev', fields: ['alert.xss'], limit: 100 });
    assert.equal(page.readings.length, 1);
    assert.deepEqual(page.readings[0].fields, { 'alert.xss': 'firing' });
    assert.equal(page.readings[0].tags?.rule, 'xss');
    assert.equal(page.readings[0].tags?.severity, 'critical');
  });
}

describe('alert rows and the readings of DuckDB', () => {
  let store: DuckDbStore;
  before(async () => {
    store = new DuckDbStore({ path: ':memory:' });
    await store.open();
    await store.write(readings);
    await store.write(alerts);
  });
  after(async () => {
    await store?.close();
  });
  check(() => store);
});

describe('alert rows and the readings of InfluxDB', () => {
  let server: TsdbServer;
  let sink: InfluxSink;
  let reader: InfluxReader;
  before(async () => {
    server = await startInfluxd();
    sink = new InfluxSink({
      server: 'influxdb',
      url: server.url,
      api: 'v1',
      database: 'upperstack',
      precision: 'ms',
      mapping: DEFAULT_MAPPING,
      types: new FieldTypeRegistry(),
      gzipAbove: 65536,
      timeoutMs: 10_000,
      create: true,
      retentionMs: 0,
    });
    await sink.open();
    await sink.write(readings);
    await sink.write(alerts);
    reader = new InfluxReader({ server: 'influxdb', url: server.url, database: 'upperstack', mapping: DEFAULT_MAPPING, timeoutMs: 10_000 });
  });
  after(async () => {
    await sink?.close();
    await server?.destroy();
  });
  check(() => reader);
});
