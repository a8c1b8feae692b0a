/**
 * Raw retention against monthly reports and invoices, on a real DuckDB store:
 * a hold keeps the month a report or invoice still has to produce (within a
 * bound), and a period that starts before the raw readings left says so.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DuckDbStore } from '../../nodes/lib/store/duckdb';
import { MAX_HOLD_MS } from '../../nodes/lib/store/duckdb-retention';
import { runInvoices } from '../../nodes/lib/billing/produce';
import { computeReport } from '../../nodes/lib/report/compute';
import { checkDefinition } from '../../nodes/lib/report/definition';
import { monthPeriod } from '../../nodes/lib/report/period';
import { Archive } from '../../nodes/lib/report/archive';
import { BadParameterError } from '../../nodes/lib/errors';
import type { Reading } from '../../nodes/lib/reading';
import { tempDir } from '../helpers/temp';

const DAY = 86_400_000;
// Far ahead of any clock the tests run by: the pass at open (by the clock) deletes none of it.
const NOV = Date.UTC(2096, 10, 1);
const RUN = Date.UTC(2096, 11, 2, 6); // Dec 2 06:00, after the default run

async function november(): Promise<DuckDbStore> {
  const store = new DuckDbStore({ path: ':memory:', retentionMs: 30 * DAY, rollupRetentionMs: 365 * DAY });
  await store.open();
  const readings: Reading[] = [];
  for (let ts = NOV; ts <= RUN; ts += 30 * 60_000) readings.push({ device: 'm2', ts, fields: { power: 100 }, tags: { customer: 'acme' } });
  await store.write(readings);
  return store;
}

async function count(store: DuckDbStore, from: number, to: number): Promise<number> {
  return (await store.readings({ device: 'm2', from, to, fields: ['power'], limit: 10_000 })).readings.length;
}

/** One flat tariff for every customer: an invoice is issued whenever the month's readings allow one. */
const INVOICING = {
  series: 'INV',
  customerTag: 'customer',
  timezone: 'UTC',
  tariffs: [{ name: 't', customers: ['*'], currency: 'EUR', meters: [{ field: 'power', measure: 'sum' as const, unit: 'x', pricing: { model: 'flat' as const, unitPrice: '1' } }] }],
};

/** Invoices of `month` over `store` as run at `now`, their archive and ledger in `dir`. */
function invoice(store: DuckDbStore, dir: string, month: string, now: number) {
  return runInvoices(INVOICING, month, undefined, { store, archive: new Archive(join(dir, 'inv')), ledgerRoot: join(dir, 'ledger'), now });
}

/** A folder for this test's archive and ledger (removed when the file ends); the store is closed after the test. */
function closingDir(t: TestContext, store: DuckDbStore): string {
  const dir = tempDir('upperstack-retention-');
  t.after(() => store.close());
  return dir;
}

test('a hold on the month a report or invoice still has to produce keeps its raw readings past the 30-day retention', async (t) => {
  const store = await november();
  t.after(() => store.close());
  const release = store.holdRaw('invoice:x', () => NOV);
  await store.applyRetention(RUN);
  assert.equal(await count(store, NOV, Date.UTC(2096, 11, 1)), 30 * 48);
  assert.equal(await store.rawSince(), undefined, "nothing deleted");
  // Released: the next pass applies the retention period alone.
  release();
  await store.applyRetention(RUN);
  assert.equal(await store.rawSince(), RUN - 30 * DAY);
  assert.equal(await count(store, NOV, Date.UTC(2096, 11, 1)), 30 * 48 - 60);
});

test('a hold keeps raw readings at most one month beyond the retention period', async (t) => {
  const store = await november();
  t.after(() => store.close());
  store.holdRaw('report:stuck', () => 0);
  const later = RUN + 40 * DAY;
  await store.applyRetention(later);
  assert.equal(await store.rawSince(), later - 30 * DAY - MAX_HOLD_MS);
});

test('without the raw readings of the whole month: the report says so, the invoice is refused before a number is taken', async (t) => {
  const store = await november();
  const dir = closingDir(t, store);
  await store.applyRetention(RUN);
  const since = RUN - 30 * DAY;
  const def = checkDefinition({ name: 'm', devices: { mode: 'list', list: ['m2'] }, fields: ['power'], alerts: false, anomalies: false });
  const data = await computeReport(def, monthPeriod('2096-11', 'UTC'), { store, now: RUN });
  assert.deepEqual(data.truncated, { since });
  await assert.rejects(
    invoice(store, dir, '2096-11', RUN),
    (e: unknown) => e instanceof BadParameterError && /retention has deleted the raw readings/.test(e.message),
  );
  // A month the store holds whole reports no truncation.
  const dec = await computeReport(def, monthPeriod('2096-12', 'UTC'), { store, now: RUN });
  assert.equal(dec.truncated, undefined);
});

test('an invoice issued while the month was whole is given back as issued after retention cut into the month', async (t) => {
  const store = await november();
  const dir = closingDir(t, store);
  const first = await invoice(store, dir, '2096-11', RUN - DAY / 4);
  assert.equal(first.invoices.length, 1);
  await store.applyRetention(RUN);
  const again = await invoice(store, dir, '2096-11', RUN);
  assert.equal(again.invoices.length, 1);
  assert.equal(again.invoices[0].reissued, true);
  assert.equal(again.invoices[0].changed, false);
  assert.equal(again.invoices[0].invoice.number, first.invoices[0].invoice.number);
  assert.equal(again.invoices[0].invoice.total, first.invoices[0].invoice.total);
});

test('a store that never held readings before the retention period invoices last month: nothing was deleted', async (t) => {
  // As a new install whose devices started on the 10th of last month.
  const store = new DuckDbStore({ path: ':memory:', retentionMs: 30 * DAY, rollupRetentionMs: 365 * DAY });
  await store.open();
  const dir = closingDir(t, store);
  const readings: Reading[] = [];
  for (let ts = NOV + 9 * DAY; ts < Date.UTC(2096, 11, 1); ts += 3_600_000) readings.push({ device: 'm2', ts, fields: { power: 100 }, tags: { customer: 'acme' } });
  await store.write(readings);
  await store.applyRetention(RUN);
  assert.equal(await store.rawSince(), undefined);
  const run = await invoice(store, dir, '2096-11', RUN);
  assert.equal(run.invoices.length, 1);
});
