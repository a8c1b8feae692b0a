/**
 * Report and invoice PDFs print names in any European script as they are (DejaVu Sans embedded), read back
 * with poppler's pdftotext; a character the font lacks does not stop the PDF being made.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
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
const DAY = 1440 * MIN;
const OCT = Date.UTC(2026, 9, 1);

async function setUp(t: TestContext, readings: Reading[]) {
  const dir = tempDir('us-pdf-uni-');
  const store = new DuckDbStore({ path: ':memory:' });
  await store.open();
  await store.write(readings);
  t.after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const text = (pdf: Buffer) => {
    const path = join(dir, 'file.pdf');
    writeFileSync(path, pdf);
    return execFileSync('pdftotext', ['-layout', path, '-']).toString('utf8');
  };
  return { dir, store, text };
}

const pdfOf = (files: Array<{ name: string; data: Buffer }>) => files.find((f) => f.name.endsWith('.pdf'))!.data;

test('an invoice PDF prints seller, customer, device ids and meter labels in Polish, Greek and Cyrillic as they are', async (t) => {
  const readings: Reading[] = [
    { device: 'Москва-1', ts: OCT + DAY, fields: { kwh: 100 }, tags: { customer: 'Łódź Energia' } },
    { device: 'Москва-1', ts: OCT + 20 * DAY, fields: { kwh: 160 }, tags: { customer: 'Łódź Energia' } },
  ];
  const { dir, store, text } = await setUp(t, readings);
  const tariffs = validateTariffs([{ name: 'Αθήνα', customers: ['*'], currency: 'EUR', meters: [{ field: 'kwh', unit: 'kWh', label: 'Ενέργεια Ω', measure: 'delta', pricing: { model: 'flat', unitPrice: '0.30' } }] }]);
  const settings = { series: 'INV', customerTag: 'customer', timezone: 'UTC', seller: 'Zürich Strom AG · Αθήνα € 5', tariffs };
  const ctx = { store, archive: new Archive(join(dir, 'invoices')), ledgerRoot: join(dir, 'ledger'), now: Date.UTC(2026, 10, 2) };
  const [inv] = (await runInvoices(settings, '2026-10', undefined, ctx)).invoices;
  const pdf = pdfOf(inv.files);
  const printed = text(pdf);
  for (const s of ['Zürich Strom AG · Αθήνα € 5', 'Customer: Łódź Energia', 'Tariff: Αθήνα', 'Ενέργεια Ω', 'Москва-1 (2 readings)']) assert.ok(printed.includes(s), `${s} in:\n${printed}`);
  assert.doesNotMatch(printed, /\?/);
  // The fonts are subsets: only the glyphs used travel in the file, not the 1.4 MB of the two font files.
  assert.ok(pdf.length < 60_000, `${pdf.length} bytes`);
});

test('a report PDF prints its title and device ids in Polish, Greek and Cyrillic; Chinese, which the font lacks, does not stop it', async (t) => {
  const readings: Reading[] = [];
  for (let i = 0; i < 24; i++) {
    readings.push({ device: 'Łódź-7', ts: OCT + i * 60 * MIN, fields: { temp: 20 + i / 10 }, tags: { site: 'Αθήνα' } });
    readings.push({ device: '東京-1', ts: OCT + i * 60 * MIN, fields: { temp: 10 }, tags: { site: '東京' } });
  }
  const { dir, store, text } = await setUp(t, readings);
  const def = checkDefinition({ name: 'sites', title: 'Отчёт: Москва, Łódź, Αθήνα (Ω, €)', fields: ['temp'], units: { temp: '°C' } });
  const r = await produceReport(def, explicitPeriod(OCT, OCT + DAY, 'UTC'), { store, archive: new Archive(join(dir, 'reports')), now: OCT + DAY + MIN, keep: 0, trigger: 'api' });
  const pdf = pdfOf(r.files);
  const printed = text(pdf).replace(/\s+/g, ' ');
  for (const s of ['Отчёт: Москва, Łódź, Αθήνα (Ω, €)', 'Łódź-7']) assert.ok(printed.includes(s), `${s} in:\n${printed}`);
  // The device the font cannot spell is still reported, its readings and all; the HTML has its name.
  assert.match(printed, /-1 · temp/);
  assert.match(r.files.find((f) => f.name.endsWith('.html'))!.data.toString('utf8'), /東京-1/);
  assert.doesNotMatch(printed, /\?/);
  assert.ok(pdf.length < 80_000, `${pdf.length} bytes`);
});
