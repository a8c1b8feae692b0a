/**
 * The interval across a period boundary is billed (and reported) in the period
 * each part of it falls in: months add up to the whole. Real DuckDB store.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DuckDbStore } from '../../nodes/lib/store/duckdb';
import { collectUsage } from '../../nodes/lib/billing/collect';
import { Dec } from '../../nodes/lib/billing/money';
import { validateTariffs, type Measure } from '../../nodes/lib/billing/tariff';
import { storeDirectory } from '../../nodes/lib/report/sources';
import { computeReport } from '../../nodes/lib/report/compute';
import { checkDefinition } from '../../nodes/lib/report/definition';
import { explicitPeriod } from '../../nodes/lib/report/period';
import { reportHtml } from '../../nodes/lib/report/render';
import type { Reading } from '../../nodes/lib/reading';

const MIN = 60_000;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const OCT = Date.UTC(2026, 9, 1);
const NOV = Date.UTC(2026, 10, 1);
const DEC = Date.UTC(2026, 11, 1);
const JAN = Date.UTC(2027, 0, 1);

async function storeWith(readings: Reading[]): Promise<DuckDbStore> {
  const store = new DuckDbStore({ path: ':memory:' });
  await store.open();
  await store.write(readings);
  return store;
}

async function quantity(store: DuckDbStore, field: string, measure: Measure, from: number, to: number): Promise<string> {
  const tariff = validateTariffs([{ name: 't', customers: ['*'], currency: 'EUR', meters: [{ field, measure, per: 'h', unit: 'x', pricing: { model: 'flat', unitPrice: '1' } }] }])[0];
  const usage = await collectUsage(store, storeDirectory(store), { customer: 'acme', customerTag: 'customer', from, to, tariff });
  assert.equal(usage.length, 1);
  return usage[0].quantity;
}

test('a constant 1000 W read hourly from Nov 1 00:00 to Dec 1 00:00 bills 720 kWh for November, and the report integrates 720 kWh', async (t) => {
  const readings: Reading[] = [];
  for (let ts = NOV; ts <= DEC; ts += HOUR) readings.push({ device: 'm1', ts, fields: { power: 1000 }, tags: { customer: 'acme' } });
  const store = await storeWith(readings);
  t.after(() => store.close());
  assert.equal(await quantity(store, 'power', 'integral', NOV, DEC), '720000');
  const def = checkDefinition({ name: 'm', devices: { mode: 'list', list: ['m1'] }, fields: ['power'], alerts: false, anomalies: false });
  const data = await computeReport(def, explicitPeriod(NOV, DEC, 'UTC'), { store, now: DEC + HOUR });
  assert.equal(data.series[0].stats.integral, 720_000);
});

test('integral and counter difference: the months add up to the whole, the boundary segment split by interpolation', async (t) => {
  // Readings every 47 minutes (never on a month boundary), power ramping, counter rising unevenly.
  const readings: Reading[] = [];
  let counter = 5000;
  for (let ts = OCT + 13 * MIN, i = 0; ts < JAN; ts += 47 * MIN, i++) {
    counter += (i % 5) + 0.25;
    readings.push({ device: 'm2', ts, fields: { power: 200 + ((i * 31) % 97), energy: counter }, tags: { customer: 'acme' } });
  }
  const store = await storeWith(readings);
  t.after(() => store.close());
  for (const [field, measure] of [['power', 'integral'], ['energy', 'delta']] as const) {
    const whole = new Dec(await quantity(store, field, measure, OCT, JAN));
    const parts = [await quantity(store, field, measure, OCT, NOV), await quantity(store, field, measure, NOV, DEC), await quantity(store, field, measure, DEC, JAN)];
    const sum = parts.reduce((s, q) => s.plus(q), new Dec(0));
    assert.ok(sum.minus(whole).abs().lt('1e-40'), `${measure}: ${parts.join(' + ')} = ${sum.toString()} vs ${whole.toString()}`);
  }
  // The counter's November starts at the last reading of October, as a meter read closing October.
  const lastOct = readings.filter((r) => r.ts < NOV).at(-1)!.fields.energy as number;
  const lastNov = readings.filter((r) => r.ts < DEC).at(-1)!.fields.energy as number;
  assert.equal(await quantity(store, 'energy', 'delta', NOV, DEC), new Dec(String(lastNov)).minus(String(lastOct)).toString());
});

test('report sum and mean of a constant 100.1 carry no float noise (compensated summation)', async (t) => {
  const readings: Reading[] = [];
  for (let i = 0; i < 1379; i++) readings.push({ device: 'c', ts: NOV + i * 30 * MIN, fields: { v: 100.1 }, tags: {} });
  const store = await storeWith(readings);
  t.after(() => store.close());
  const def = checkDefinition({ name: 'c', devices: { mode: 'list', list: ['c'] }, fields: ['v'], alerts: false, anomalies: false });
  const s = (await computeReport(def, explicitPeriod(NOV, DEC, 'UTC'), { store, now: DEC + HOUR })).series[0].stats;
  assert.equal(s.sum, 138037.9);
  assert.equal(s.mean, 100.1);
});

test('the report says "1 reading", not "1 readings"', async (t) => {
  const store = await storeWith([{ device: 'one', ts: NOV + HOUR, fields: { v: 1 }, tags: {} }]);
  t.after(() => store.close());
  const def = checkDefinition({ name: 'o', devices: { mode: 'list', list: ['one'] }, fields: ['v'], alerts: false, anomalies: false });
  const html = reportHtml(await computeReport(def, explicitPeriod(NOV, NOV + DAY, 'UTC'), { store, now: NOV + 2 * DAY }), 'r1');
  assert.match(html, /\b1 reading\b/);
  assert.doesNotMatch(html, /\b1 readings\b/);
});
