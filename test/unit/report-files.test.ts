import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDbStore } from '../../nodes/lib/store/duckdb';
import { Archive } from '../../nodes/lib/report/archive';
import { checkDefinition } from '../../nodes/lib/report/definition';
import { explicitPeriod } from '../../nodes/lib/report/period';
import { produceReport } from '../../nodes/lib/report/produce';
import { runInvoices, type InvoiceSettings } from '../../nodes/lib/billing/produce';
import { validateTariffs } from '../../nodes/lib/billing/tariff';
import type { Reading } from '../../nodes/lib/reading';
import { tempDir } from '../helpers/temp';

const MIN = 60_000;
const FROM = Date.UTC(2026, 9, 4);
const TO = FROM + 1440 * MIN;

async function storeWith(readings: Reading[]) {
  const store = new DuckDbStore({ path: ':memory:' });
  await store.open();
  await store.write(readings);
  return store;
}

function day(): Reading[] {
  const out: Reading[] = [];
  for (let i = 0; i < 1440; i++) out.push({ device: 'boiler <1>', ts: FROM + i * MIN, fields: { temp: 60 + 10 * Math.sin(i / 120) }, tags: { site: 'a' } });
  return out;
}

test('report files: CSV row per series, JSON in ISO time, HTML self-contained without scripts, PDF; kept with a retention count', async (t) => {
  const dir = tempDir('us-rep-');
  const store = await storeWith(day());
  t.after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const archive = new Archive(join(dir, 'reports'));
  const def = checkDefinition({ name: 'Boiler daily', fields: ['temp'], thresholds: { temp: { above: 65 } }, units: { temp: '°C' } });
  const period = explicitPeriod(FROM, TO, 'Europe/Berlin');
  const r = await produceReport(def, period, { store, archive, now: TO + 5 * MIN, keep: 2, trigger: 'api' });
  assert.deepEqual(r.files.map((f) => f.name.replace(r.entry.id, 'ID')), ['ID.csv', 'ID.json', 'ID.html', 'ID.pdf']);
  // The unit "°C" is outside ASCII: the file starts with a UTF-8 byte order mark (test/unit/csv-bom.test.ts).
  assert.equal(r.files[0].data.toString('utf8', 0, 3), '\ufeff');
  const csv = r.files[0].data.toString('utf8', 3).split('\r\n');
  assert.match(csv[0], /^device,field,unit,count,min,max,mean/);
  assert.match(csv[1], /^boiler <1>,temp,°C,1440,/);
  const json = JSON.parse(r.files[1].data.toString('utf8'));
  assert.equal(json.series[0].count, 1440);
  assert.equal(json.period.from, '2026-10-04T00:00:00.000Z');
  assert.ok(json.series[0].timeAboveMs > 0);
  const html = r.files[2].data.toString('utf8');
  assert.doesNotMatch(html, /<script/i);
  assert.doesNotMatch(html, /(src|href)=["']?(https?:|\/\/)/i);
  assert.match(html, /<svg[^>]*class="chart"/);
  assert.match(html, /boiler &lt;1&gt;/, 'device names are escaped');
  assert.match(html, /not available: no alert history is recorded yet/);
  assert.match(html, / · 1 device · /, 'one device, not "1 devices"');
  const pdf = r.files[3].data;
  assert.equal(pdf.subarray(0, 5).toString(), '%PDF-');

  // Kept on disk and listed; a second run of the same period replaces it; retention keeps the newest 2.
  assert.deepEqual(archive.list().map((e) => e.id), [r.entry.id]);
  assert.deepEqual(readFileSync(archive.file(r.entry.id, `${r.entry.id}.csv`)!.path), r.files[0].data);
  await produceReport(def, period, { store, archive, now: TO + 6 * MIN, keep: 2, trigger: 'api' });
  assert.equal(archive.list().length, 1);
  for (let k = 1; k <= 2; k++) await produceReport(def, explicitPeriod(FROM - k * 1440 * MIN, TO - k * 1440 * MIN, 'UTC'), { store, archive, now: TO + (6 + k) * MIN, keep: 2, trigger: 'api' });
  assert.equal(archive.list({ group: 'Boiler daily' }).length, 2);
  assert.equal(archive.get(r.entry.id), undefined, 'the oldest was removed');

  // Ids and file names outside the pattern, or not of this entry, are not served.
  const newest = archive.list()[0];
  assert.equal(archive.file('..', 'meta.json'), undefined);
  assert.equal(archive.file(newest.id, '../../etc/passwd'), undefined);
  assert.equal(archive.file(newest.id, 'meta.json'), undefined);
  assert.ok(archive.file(newest.id, newest.files[0].name));
});

const OCT = Date.UTC(2026, 9, 1);
const DAY = 86_400_000;
/** Early on the first day after October: October can be billed, November not yet. */
const NOV_1 = Date.UTC(2026, 10, 1, 6);

/** A meter reading as the invoice tests store them: kwh, the customer as a tag. */
const kwh = (device: string, customer: string, ts: number, value: number): Reading => ({ device, ts, fields: { kwh: value }, tags: { customer } });

/**
 * A tariff for every customer in EUR with one kwh meter, 0.30 a kWh flat; `meter` and `tariff` say what
 * a test bills otherwise (its measure, tiers, charges).
 */
function kwhTariff(meter: { measure: 'delta' | 'sum'; label?: string; pricing?: object }, tariff: object = {}): object {
  return { name: 'standard', customers: ['*'], currency: 'EUR', ...tariff, meters: [{ field: 'kwh', unit: 'kWh', pricing: { model: 'flat', unitPrice: '0.30' }, ...meter }] };
}

interface InvoiceSetup {
  readings: Reading[];
  /** As the editor's form gives them; validated here. */
  tariffs: object[];
  series?: string;
  seller?: string;
  /** The run's clock (default NOV_1): a month is billed once it has ended. */
  now?: number;
  /** The invoice node's time zone (default UTC). */
  timezone?: string;
}

/** Readings in an in-memory store, settings on the customer tag in UTC, and a run context in a folder of the test's own. */
async function invoiceFixture(t: TestContext, setup: InvoiceSetup) {
  const dir = tempDir('us-inv-');
  const store = await storeWith(setup.readings);
  t.after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const settings: InvoiceSettings = {
    series: setup.series ?? 'INV',
    customerTag: 'customer',
    timezone: setup.timezone ?? 'UTC',
    ...(setup.seller !== undefined ? { seller: setup.seller } : {}),
    tariffs: validateTariffs(setup.tariffs),
  };
  const ctx = { store, archive: new Archive(join(dir, 'invoices')), ledgerRoot: join(dir, 'ledger'), now: setup.now ?? NOV_1 };
  return { dir, settings, ctx };
}

/** The text of an invoice's PDF, laid out as printed. */
function pdfText(dir: string, files: Array<{ name: string; data: Buffer }>): string {
  const path = join(dir, 'invoice.pdf');
  writeFileSync(path, files.find((f) => f.name.endsWith('.pdf'))!.data);
  return execFileSync('pdftotext', ['-layout', path, '-']).toString('utf8');
}

test('invoices: numbered per series, the same files when a period is produced again, the readings billed listed', async (t) => {
  const readings: Reading[] = [];
  for (let d = 0; d < 31; d++) readings.push(kwh('meter-1', 'acme', OCT + d * DAY, 1000 + d * 10.1), kwh('meter-2', 'globex', OCT + d * DAY + 1, 50 + d * 0.1));
  const graduated = { model: 'graduated', tiers: [{ upTo: '100', unitPrice: '0.30' }, { upTo: null, unitPrice: '0.25' }] };
  const { settings, ctx } = await invoiceFixture(t, {
    readings,
    tariffs: [kwhTariff({ measure: 'delta', pricing: graduated }, { standingCharge: '5', taxPercent: '19' })],
    seller: 'Upperstack Energy Ltd, 1 Main St',
  });
  const first = await runInvoices(settings, '2026-10', undefined, ctx);
  assert.deepEqual(first.invoices.map((i) => [i.invoice.customer, i.invoice.number]), [['acme', 'INV-000001'], ['globex', 'INV-000002']]);
  const acme = first.invoices[0].invoice;
  // 1303 - 1000 = 303 kWh: 100 × 0.30 + 203 × 0.25 = 30 + 50.75; + 5 standing = 85.75; tax 16.29 (16.2925)
  assert.equal(acme.net, '85.75');
  assert.equal(acme.tax.amount, '16.29');
  assert.equal(acme.total, '102.04');
  assert.deepEqual(acme.meterReadings.map((m) => [m.device, m.first?.value, m.last?.value, m.quantity]), [['meter-1', '1000', '1303', '303']]);

  const again = await runInvoices(settings, '2026-10', 'acme', { ...ctx, now: Date.UTC(2026, 10, 9) });
  assert.equal(again.invoices.length, 1);
  const [a, b] = [first.invoices[0], again.invoices[0]];
  assert.equal(b.reissued, true);
  assert.equal(b.invoice.number, 'INV-000001');
  const byExt = (o: typeof a, ext: string) => o.files.find((f) => f.name.endsWith(ext))!.data;
  assert.deepEqual(byExt(b, '.csv'), byExt(a, '.csv'));
  const json = (o: typeof a) => JSON.parse(byExt(o, '.json').toString());
  assert.notEqual(json(a).createdAt, json(b).createdAt);
  assert.deepEqual({ ...json(a), createdAt: 0 }, { ...json(b), createdAt: 0 });
  // The PDFs differ only in the creation date and the file ID pdfkit derives from it.
  const strip = (p: Buffer) => p.toString('latin1').replace(/\(D:\d{14}Z\)/g, '(D:)').replace(/\/ID \[<[0-9a-f]+> <[0-9a-f]+>\]/, '/ID');
  assert.notDeepEqual(byExt(a, '.pdf'), byExt(b, '.pdf'));
  assert.equal(strip(byExt(a, '.pdf')), strip(byExt(b, '.pdf')));
  assert.equal(ctx.archive.list({ kind: 'invoice' }).length, 2);

  await assert.rejects(runInvoices(settings, '2026-11', 'acme', ctx), /has not ended yet/);
  await assert.rejects(runInvoices({ ...settings, tariffs: [] }, '2026-10', 'acme', ctx), /no tariff applies to customer "acme"/);
  const next = await runInvoices(settings, '2026-09', undefined, ctx);
  assert.deepEqual(next.invoices, [], 'no readings in September: no customers, no numbers used');
});

test('invoices: a customer no device has, or a month before its first reading, is refused without taking a number', async (t) => {
  const { settings, ctx } = await invoiceFixture(t, {
    readings: [kwh('meter-1', 'acme', OCT, 1000), kwh('meter-1', 'acme', OCT + 20 * DAY, 1100), kwh('meter-2', 'globex', OCT, 5)],
    tariffs: [
      kwhTariff({ measure: 'delta' }, { standingCharge: '5', minimumCharge: '10' }),
      kwhTariff({ measure: 'delta', pricing: { model: 'flat', unitPrice: '0.20' } }, { name: 'key account', customers: ['initech'], standingCharge: '50' }),
    ],
    now: Date.UTC(2026, 11, 5),
  });
  await assert.rejects(runInvoices(settings, '2026-11', 'acmee', ctx), (err: Error & { code?: string }) => {
    assert.equal(err.name, 'NotFoundError');
    assert.equal(err.message, 'no device has customer "acmee" (tag "customer"); known customers: acme, globex');
    return true;
  });
  await assert.rejects(runInvoices(settings, '2026-09', 'acme', ctx), /customer "acme" has no readings up to the end of 2026-09/);
  assert.deepEqual(ctx.archive.list({ kind: 'invoice' }), []);
  // A month without readings after the first ones is still billed (standing charge), and the first number is the one taken.
  const nov = await runInvoices(settings, '2026-11', 'acme', ctx);
  assert.deepEqual(nov.invoices.map((i) => [i.invoice.customer, i.invoice.number, i.invoice.meterReadings.length]), [['acme', 'INV-000001', 0]]);
  // The run over every customer (as the monthly schedule does it): a customer a tariff names without readings is said, not numbered.
  await assert.rejects(runInvoices(settings, '2026-10', 'initech', ctx), /no device has customer "initech"/);
  const all = await runInvoices(settings, '2026-10', undefined, ctx);
  assert.deepEqual(all.invoices.map((i) => [i.invoice.customer, i.invoice.number]), [['acme', 'INV-000002'], ['globex', 'INV-000003']]);
  assert.deepEqual(all.withoutReadings, ['initech']);
});

test('invoice PDF: a meter billed on one reading says "1 reading", not "1 readings"', async (t) => {
  const { dir, settings, ctx } = await invoiceFixture(t, {
    readings: [kwh('meter-1', 'acme', OCT + 4 * DAY, 12), kwh('meter-2', 'acme', OCT + 4 * DAY, 3), kwh('meter-2', 'acme', OCT + 5 * DAY, 4)],
    tariffs: [kwhTariff({ measure: 'sum' })],
    series: 'ONE',
    seller: 'Upperstack Energy Ltd',
  });
  const [inv] = (await runInvoices(settings, '2026-10', 'acme', ctx)).invoices;
  const text = pdfText(dir, inv.files);
  assert.match(text, /meter-1 \(1 reading\)/);
  assert.match(text, /meter-2 \(2 readings\)/);
  assert.doesNotMatch(text, /\b1 readings\b/);
});

test('invoice PDF: a long list of devices with long ids breaks across pages between rows, each row whole on one page', async (t) => {
  // Ids of 120 characters wrap over several lines of the device column; every other device has a short one.
  const ids = Array.from({ length: 60 }, (_, i) => (i % 2 ? `plug-${i}` : `long-${i}-`.padEnd(120, 'x')));
  const { dir, settings, ctx } = await invoiceFixture(t, { readings: ids.map((d) => kwh(d, 'acme', OCT + DAY, 1)), tariffs: [kwhTariff({ measure: 'sum' })] });
  const [inv] = (await runInvoices(settings, '2026-10', 'acme', ctx)).invoices;
  const pages = pdfText(dir, inv.files).split('\f').filter((p) => p.trim() !== '');
  assert.ok(pages.length > 1, 'the list takes more than one page');
  pages.forEach((p, i) => {
    // A row's first line holds the start of its id and its other cells: a row cut by a page break leaves one without the other.
    const starts = p.split('\n').filter((l) => /^(long|plug)-\d+/.test(l.trim())).length;
    const cells = (p.match(/kwh \(sum\)/g) ?? []).length;
    assert.equal(starts, cells, `page ${i + 1}: every row that starts on it has its cells on it`);
  });
  assert.equal(pages.join('').match(/kwh \(sum\)/g)?.length, ids.length);
});

test('invoices: a customer whose sum meter adds up below zero is not invoiced and is named with the meter and why; the others are', async (t) => {
  const hour = 3_600_000;
  const { settings, ctx } = await invoiceFixture(t, {
    readings: [kwh('meter-1', 'acme', OCT + hour, 2.5), kwh('pv-1', 'globex', OCT + hour, 1), kwh('pv-1', 'globex', OCT + 2 * hour, -4.25), kwh('meter-3', 'initech', OCT + hour, 7)],
    tariffs: [kwhTariff({ measure: 'sum', label: 'Energy' })],
    now: Date.UTC(2026, 11, 5),
  });
  const all = await runInvoices(settings, '2026-10', undefined, ctx);
  assert.deepEqual(all.invoices.map((i) => [i.invoice.customer, i.invoice.number, i.invoice.total]), [['acme', 'INV-000001', '0.75'], ['initech', 'INV-000002', '2.10']]);
  assert.equal(all.failed.length, 1);
  assert.equal(all.failed[0].customer, 'globex');
  assert.match(all.failed[0].message, /^customer "globex": meter "Energy" \(sum of kwh\) adds up to -3\.25 kWh, below zero \(pv-1 -3\.25\); a tariff prices usage, not credits/);
  assert.deepEqual(all.failed[0].details, { customer: 'globex', field: 'kwh', measure: 'sum', quantity: '-3.25' });
  // Asked for by name, the same customer is refused with the same reason.
  await assert.rejects(runInvoices(settings, '2026-10', 'globex', ctx), (err: Error) => err.name === 'BadParameterError' && err.message === all.failed[0].message);
  assert.equal(ctx.archive.list({ kind: 'invoice' }).length, 2);
});

test('invoice PDF: quantities are grouped and rounded as the line is, the meter readings billed too; the CSV keeps plain decimals', async (t) => {
  const { dir, settings, ctx } = await invoiceFixture(t, {
    readings: [kwh('meter-1', 'acme', OCT + 4 * DAY, 3688788.88808), kwh('meter-2', 'acme', OCT + 4 * DAY, 1234.5)],
    tariffs: [kwhTariff({ measure: 'sum' }, { standingCharge: '5' })],
    series: 'Q',
  });
  const [inv] = (await runInvoices(settings, '2026-10', 'acme', ctx)).invoices;
  const text = pdfText(dir, inv.files);
  assert.match(text, /kwh \(kWh\)\s+3,690,023\.388 kWh\s+0\.3\s+1,107,007\.02 EUR/);
  assert.match(text, /Standing charge 2026-10\s+1\s+period/);
  // Readings as the device sent them; each device's quantity as the line's.
  assert.match(text, /meter-1 \(1 reading\)\s+kwh \(sum\)\s+3688788\.88808\s+3688788\.88808\s+3,688,788\.888 kWh/);
  assert.match(text, /1234\.5 \(2026-10-05 00:00\)\s+1,234\.500 kWh/);
  const csv = inv.files.find((f) => f.name.endsWith('.csv'))!.data.toString('utf8');
  assert.match(csv, /,kwh \(kWh\),3690023\.388,kWh,0\.3,1107007\.02,EUR/);
  assert.deepEqual(inv.invoice.meterReadings.map((m) => m.quantity), ['3688788.88808', '1234.5'], 'the JSON keeps each device\'s share as measured');
});

test('invoice PDF: a Berlin invoice prints every time on Berlin\'s clock, CEST and CET across the change, the zone named once', async (t) => {
  const hour = 3_600_000;
  // Berlin's October 2026: 30 September 22:00 UTC to 31 October 23:00 UTC; the clocks go back at 03:00 CEST on the 25th.
  const summer = Date.UTC(2026, 9, 5, 4); // 06:00 CEST
  const winter = Date.UTC(2026, 9, 30, 23, 30); // 00:30 CET on the 31st
  const twice = Date.UTC(2026, 9, 25, 0, 30); // 02:30 CEST, and an hour later 02:30 CET
  const { dir, settings, ctx } = await invoiceFixture(t, {
    readings: [kwh('meter-1', 'acme', summer, 100), kwh('meter-1', 'acme', winter, 150), kwh('meter-2', 'acme', twice, 7), kwh('meter-2', 'acme', twice + hour, 9)],
    tariffs: [kwhTariff({ measure: 'delta' })],
    timezone: 'Europe/Berlin',
    // 1 November 00:30 in Berlin, still 31 October in UTC.
    now: Date.UTC(2026, 9, 31, 23, 30),
  });
  const [inv] = (await runInvoices(settings, '2026-10', 'acme', ctx)).invoices;
  const text = pdfText(dir, inv.files);
  assert.match(text, /Issued: 2026-11-01\n/);
  assert.match(text, /Period: 2026-10\n\s+2026-10-01 00:00 – 2026-11-01 00:00\n/);
  assert.match(text, /meter-1 \(2 readings\)\s+kwh \(delta\)\s+100 \(2026-10-05 06:00\)\s+150 \(2026-10-31 00:30\)/);
  // The minute the clock shows twice says which of the two it was; the others need not.
  assert.match(text, /7 \(2026-10-25 02:30 CEST\)\s+9 \(2026-10-25 02:30 CET\)/);
  assert.match(text, /times in Europe\/Berlin \(CET\/CEST\)\./);
  assert.doesNotMatch(text, /UTC/);
  // The stored invoice keeps the instants in UTC.
  assert.deepEqual(inv.invoice.meterReadings.map((m) => [m.first?.ts, m.last?.ts]), [
    ['2026-10-05T04:00:00.000Z', '2026-10-30T23:30:00.000Z'],
    ['2026-10-25T00:30:00.000Z', '2026-10-25T01:30:00.000Z'],
  ]);
  assert.equal(inv.invoice.period.from, '2026-09-30T22:00:00.000Z');
});

test('invoice PDF: a UTC invoice names UTC once; one in New York, a winter month, EST', async (t) => {
  const { dir, settings, ctx } = await invoiceFixture(t, {
    readings: [kwh('meter-1', 'acme', Date.UTC(2026, 0, 5, 4), 1), kwh('meter-1', 'acme', Date.UTC(2026, 0, 20, 12), 3)],
    tariffs: [kwhTariff({ measure: 'delta' })],
    timezone: 'America/New_York',
    now: Date.UTC(2026, 1, 2),
  });
  const [ny] = (await runInvoices(settings, '2026-01', 'acme', ctx)).invoices;
  const text = pdfText(dir, ny.files);
  assert.match(text, /1 \(2026-01-04 23:00\)\s+3 \(2026-01-20 07:00\)/);
  assert.match(text, /times in America\/New_York \(EST\)\./);
  const [utc] = (await runInvoices({ ...settings, series: 'U', timezone: 'UTC' }, '2026-01', 'acme', ctx)).invoices;
  assert.match(pdfText(dir, utc.files), /2 decimals; times in UTC\./);
});

test('invoice tier lines say what they bill: bounds with the unit, where a tier starts, volume pricing of every unit, packages', async (t) => {
  const hour = 3_600_000;
  const customers = ['acme', 'globex', 'initech'];
  const { dir, settings, ctx } = await invoiceFixture(t, {
    // 620 kWh each, in two readings of a sum meter.
    readings: customers.flatMap((c) => [kwh(`meter-${c}`, c, OCT + hour, 300), kwh(`meter-${c}`, c, OCT + 2 * hour, 320)]),
    tariffs: [
      kwhTariff({ measure: 'sum', label: 'Energy', pricing: { model: 'graduated', tiers: [{ upTo: '100', unitPrice: '0.30' }, { upTo: '500', unitPrice: '0.25' }, { upTo: null, unitPrice: '0.20' }] } }, { customers: ['acme'] }),
      kwhTariff({ measure: 'sum', label: 'Energy', pricing: { model: 'volume', tiers: [{ upTo: '100', unitPrice: '0.30' }, { upTo: '1000', unitPrice: '0.25' }, { upTo: null, unitPrice: '0.20' }] } }, { name: 'volume', customers: ['globex'] }),
      kwhTariff({ measure: 'sum', label: 'Energy', pricing: { model: 'package', packageSize: '250', packagePrice: '60' } }, { name: 'blocks', customers: ['initech'] }),
    ],
  });
  const run = await runInvoices(settings, '2026-10', undefined, ctx);
  const lines = (c: string) => run.invoices.find((i) => i.invoice.customer === c)!.invoice.lines.map((l) => [l.description, l.quantity, l.unit, l.unitPrice, l.amount]);
  // Graduated: 100 × 0.30 + 400 × 0.25 + 120 × 0.20. The second tier starts over 100: 100 itself is the first tier's.
  assert.deepEqual(lines('acme'), [
    ['Energy, tier 1, up to 100 kWh', '100', 'kWh', '0.3', '30.00'],
    ['Energy, tier 2, over 100 up to 500 kWh', '400', 'kWh', '0.25', '100.00'],
    ['Energy, tier 3, over 500 kWh', '120', 'kWh', '0.2', '24.00'],
  ]);
  // Volume: all 620 kWh at the price of the tier 620 falls in, said so, unlike a graduated tier's share.
  assert.deepEqual(lines('globex'), [['Energy, all units at tier 2 (over 100 up to 1000 kWh)', '620', 'kWh', '0.25', '155.00']]);
  // Package: three started blocks of 250 kWh.
  assert.deepEqual(lines('initech'), [['Energy, 3 packages of 250 kWh', '3', 'package', '60', '180.00']]);
  const csv = run.invoices[1].files.find((f) => f.name.endsWith('.csv'))!.data.toString('utf8');
  assert.match(csv, /^INV-000002,globex,2026-10,1,"Energy, all units at tier 2 \(over 100 up to 1000 kWh\)",620,kWh,0\.25,155\.00,EUR\r$/m);
  const text = pdfText(dir, run.invoices[0].files).replace(/[ \t]+/g, ' ');
  assert.match(text, /Energy, tier 2, over 100 up to 500 kWh 400\.000 kWh 0\.25 100\.00 EUR/);
});
