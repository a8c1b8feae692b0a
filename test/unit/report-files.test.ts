import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDbStore } from '../../nodes/lib/store/duckdb';
import { Archive } from '../../nodes/lib/report/archive';
import { checkDefinition } from '../../nodes/lib/report/definition';
import { explicitPeriod } from '../../nodes/lib/report/period';
import { produceReport } from '../../nodes/lib/report/produce';
import { runInvoices } from '../../nodes/lib/billing/produce';
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
  const csv = r.files[0].data.toString('utf8').split('\r\n');
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

test('invoices: numbered per series, the same files when a period is produced again, the readings billed listed', async (t) => {
  const dir = tempDir('us-inv-');
  const readings: Reading[] = [];
  const oct = Date.UTC(2026, 9, 1);
  for (let d = 0; d < 31; d++) {
    readings.push({ device: 'meter-1', ts: oct + d * 86_400_000, fields: { kwh: 1000 + d * 10.1 }, tags: { customer: 'acme' } });
    readings.push({ device: 'meter-2', ts: oct + d * 86_400_000 + 1, fields: { kwh: 50 + d * 0.1 }, tags: { customer: 'globex' } });
  }
  const store = await storeWith(readings);
  t.after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const settings = {
    series: 'INV',
    customerTag: 'customer',
    timezone: 'UTC',
    seller: 'Upperstack Energy Ltd, 1 Main St',
    tariffs: validateTariffs([{ name: 'standard', customers: ['*'], currency: 'EUR', standingCharge: '5', taxPercent: '19', meters: [{ field: 'kwh', measure: 'delta', unit: 'kWh', pricing: { model: 'graduated', tiers: [{ upTo: '100', unitPrice: '0.30' }, { upTo: null, unitPrice: '0.25' }] } }] }]),
  };
  const ctx = { store, archive: new Archive(join(dir, 'invoices')), ledgerRoot: join(dir, 'ledger'), now: Date.UTC(2026, 10, 1, 6) };
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
  const dir = tempDir('us-inv-');
  const oct = Date.UTC(2026, 9, 1);
  const store = await storeWith([
    { device: 'meter-1', ts: oct, fields: { kwh: 1000 }, tags: { customer: 'acme' } },
    { device: 'meter-1', ts: oct + 20 * 86_400_000, fields: { kwh: 1100 }, tags: { customer: 'acme' } },
    { device: 'meter-2', ts: oct, fields: { kwh: 5 }, tags: { customer: 'globex' } },
  ]);
  t.after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const settings = {
    series: 'INV',
    customerTag: 'customer',
    timezone: 'UTC',
    tariffs: validateTariffs([
      { name: 'standard', customers: ['*'], currency: 'EUR', standingCharge: '5', minimumCharge: '10', meters: [{ field: 'kwh', measure: 'delta', unit: 'kWh', pricing: { model: 'flat', unitPrice: '0.30' } }] },
      { name: 'key account', customers: ['initech'], currency: 'EUR', standingCharge: '50', meters: [{ field: 'kwh', measure: 'delta', unit: 'kWh', pricing: { model: 'flat', unitPrice: '0.20' } }] },
    ]),
  };
  const ctx = { store, archive: new Archive(join(dir, 'invoices')), ledgerRoot: join(dir, 'ledger'), now: Date.UTC(2026, 11, 5) };
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
  const dir = tempDir('us-inv1-');
  const store = await storeWith([
    { device: 'meter-1', ts: Date.UTC(2026, 9, 5), fields: { kwh: 12 }, tags: { customer: 'acme' } },
    { device: 'meter-2', ts: Date.UTC(2026, 9, 5), fields: { kwh: 3 }, tags: { customer: 'acme' } },
    { device: 'meter-2', ts: Date.UTC(2026, 9, 6), fields: { kwh: 4 }, tags: { customer: 'acme' } },
  ]);
  t.after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const settings = {
    series: 'ONE',
    customerTag: 'customer',
    timezone: 'UTC',
    seller: 'Upperstack Energy Ltd',
    tariffs: validateTariffs([{ name: 'standard', customers: ['*'], currency: 'EUR', meters: [{ field: 'kwh', measure: 'sum', unit: 'kWh', pricing: { model: 'flat', unitPrice: '0.30' } }] }]),
  };
  const ctx = { store, archive: new Archive(join(dir, 'invoices')), ledgerRoot: join(dir, 'ledger'), now: Date.UTC(2026, 10, 1, 6) };
  const [inv] = (await runInvoices(settings, '2026-10', 'acme', ctx)).invoices;
  const path = join(dir, 'i.pdf');
  writeFileSync(path, inv.files.find((f) => f.name.endsWith('.pdf'))!.data);
  const text = execFileSync('pdftotext', ['-layout', path, '-']).toString('utf8');
  assert.match(text, /meter-1 \(1 reading\)/);
  assert.match(text, /meter-2 \(2 readings\)/);
  assert.doesNotMatch(text, /\b1 readings\b/);
});

test('invoices: a customer whose sum meter adds up below zero is not invoiced and is named with the meter and why; the others are', async (t) => {
  const dir = tempDir('us-invneg-');
  const oct = Date.UTC(2026, 9, 1);
  const store = await storeWith([
    { device: 'meter-1', ts: oct + 3_600_000, fields: { kwh: 2.5 }, tags: { customer: 'acme' } },
    { device: 'pv-1', ts: oct + 3_600_000, fields: { kwh: 1 }, tags: { customer: 'globex' } },
    { device: 'pv-1', ts: oct + 7_200_000, fields: { kwh: -4.25 }, tags: { customer: 'globex' } },
    { device: 'meter-3', ts: oct + 3_600_000, fields: { kwh: 7 }, tags: { customer: 'initech' } },
  ]);
  t.after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const settings = {
    series: 'INV',
    customerTag: 'customer',
    timezone: 'UTC',
    tariffs: validateTariffs([{ name: 'standard', customers: ['*'], currency: 'EUR', meters: [{ field: 'kwh', measure: 'sum', unit: 'kWh', label: 'Energy', pricing: { model: 'flat', unitPrice: '0.30' } }] }]),
  };
  const ctx = { store, archive: new Archive(join(dir, 'invoices')), ledgerRoot: join(dir, 'ledger'), now: Date.UTC(2026, 11, 5) };
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
  const dir = tempDir('us-invq-');
  const store = await storeWith([
    { device: 'meter-1', ts: Date.UTC(2026, 9, 5), fields: { kwh: 3688788.88808 }, tags: { customer: 'acme' } },
    { device: 'meter-2', ts: Date.UTC(2026, 9, 5), fields: { kwh: 1234.5 }, tags: { customer: 'acme' } },
  ]);
  t.after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const settings = {
    series: 'Q',
    customerTag: 'customer',
    timezone: 'UTC',
    tariffs: validateTariffs([{ name: 'standard', customers: ['*'], currency: 'EUR', standingCharge: '5', meters: [{ field: 'kwh', measure: 'sum', unit: 'kWh', pricing: { model: 'flat', unitPrice: '0.30' } }] }]),
  };
  const ctx = { store, archive: new Archive(join(dir, 'invoices')), ledgerRoot: join(dir, 'ledger'), now: Date.UTC(2026, 10, 1, 6) };
  const [inv] = (await runInvoices(settings, '2026-10', 'acme', ctx)).invoices;
  const path = join(dir, 'q.pdf');
  writeFileSync(path, inv.files.find((f) => f.name.endsWith('.pdf'))!.data);
  const text = execFileSync('pdftotext', ['-layout', path, '-']).toString('utf8');
  assert.match(text, /kwh \(kWh\)\s+3,690,023\.388 kWh\s+0\.3\s+1,107,007\.02 EUR/);
  assert.match(text, /Standing charge 2026-10\s+1\s+period/);
  // Readings as the device sent them; each device's quantity as the line's.
  assert.match(text, /meter-1 \(1 reading\)\s+kwh \(sum\)\s+3688788\.88808\s+3688788\.88808\s+3,688,788\.888 kWh/);
  assert.match(text, /1234\.5 \(2026-10-05 00:00\)\s+1,234\.500 kWh/);
  const csv = inv.files.find((f) => f.name.endsWith('.csv'))!.data.toString('utf8');
  assert.match(csv, /,kwh \(kWh\),3690023\.388,kWh,0\.3,1107007\.02,EUR/);
  assert.deepEqual(inv.invoice.meterReadings.map((m) => m.quantity), ['3688788.88808', '1234.5'], 'the JSON keeps each device\'s share as measured');
});
