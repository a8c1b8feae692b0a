/**
 * Report and invoice CSVs opened in a spreadsheet. Excel reads a CSV as UTF-8 only when it starts with a byte
 * order mark, and otherwise in the machine's legacy code page (Windows-1252 in western Europe and the
 * Americas), where "°C" becomes "Â°C". A file with text outside ASCII (a unit, a device, a customer) carries
 * the mark; a pure-ASCII one has none and is what it was, for the scripts that read it.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
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

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const MIN = 60_000;
const FROM = Date.UTC(2026, 9, 4);
const TO = FROM + 60 * MIN;

/** The rows a spreadsheet shows for a CSV file: UTF-8 after a byte order mark, else Windows-1252; RFC 4180 quoting. */
function spreadsheet(bytes: Buffer): string[][] {
  const text = bytes.subarray(0, 3).equals(BOM) ? new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes.subarray(3)) : new TextDecoder('windows-1252').decode(bytes);
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') cell += text[++i];
      else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      rows.push([...row, cell]);
      row = [];
      cell = '';
      i++;
    } else cell += c;
  }
  return rows;
}

/** The spreadsheet's rows as records keyed by the header row. */
function records(bytes: Buffer): Array<Record<string, string>> {
  const [head, ...rows] = spreadsheet(bytes);
  return rows.map((r) => Object.fromEntries(r.map((v, i) => [head[i], v])));
}

async function storeWith(t: TestContext, readings: Reading[]) {
  const store = new DuckDbStore({ path: ':memory:' });
  await store.open();
  await store.write(readings);
  const dir = tempDir('us-csv-bom-');
  t.after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { store, dir };
}

const hour = (device: string, tags: Record<string, string> = {}): Reading[] => Array.from({ length: 60 }, (_, i) => ({ device, ts: FROM + i * MIN, fields: { temp: 20 + i / 10 }, tags }));

async function reportCsv(t: TestContext, readings: Reading[], units: Record<string, string>): Promise<Buffer> {
  const { store, dir } = await storeWith(t, readings);
  const def = checkDefinition({ name: 'Rooms', fields: ['temp'], units, formats: ['csv'] });
  const r = await produceReport(def, explicitPeriod(FROM, TO, 'Europe/Berlin'), { store, archive: new Archive(join(dir, 'reports')), now: TO + MIN, keep: 2, trigger: 'api' });
  return r.files.find((f) => f.name.endsWith('.csv'))!.data;
}

test('a report CSV with a unit and a device outside ASCII opens in a spreadsheet as written', async (t) => {
  const csv = await reportCsv(t, hour('küche-1'), { temp: '°C' });
  assert.deepEqual(csv.subarray(0, 3), BOM, 'starts with the UTF-8 byte order mark');
  const [row] = records(csv);
  assert.equal(row.device, 'küche-1');
  assert.equal(row.unit, '°C');
  assert.equal(row.integral_unit, '°C·h');
  assert.equal(row.count, '60');
  // Read as text by a browser or fetch(), the mark is not part of the first column's name.
  assert.match(new TextDecoder().decode(csv), /^device,field,unit,/);
});

test('a report CSV in plain ASCII (no units, so no "·h" either) has no byte order mark: the first bytes are its header', async (t) => {
  const csv = await reportCsv(t, hour('kitchen-1'), {});
  assert.equal(csv.subarray(0, 17).toString('latin1'), 'device,field,unit');
  assert.deepEqual([records(csv)[0].device, records(csv)[0].count], ['kitchen-1', '60']);
});

test('an invoice CSV for a customer named outside ASCII opens in a spreadsheet as written; an ASCII one has no mark', async (t) => {
  const OCT = Date.UTC(2026, 9, 1);
  const DAY = 86_400_000;
  const readings: Reading[] = [];
  for (let d = 0; d < 31; d++) {
    readings.push({ device: 'meter-1', ts: OCT + d * DAY, fields: { kwh: 1000 + d * 10 }, tags: { customer: 'Müller Bäckerei' } });
    readings.push({ device: 'meter-2', ts: OCT + d * DAY + 1, fields: { kwh: 50 + d }, tags: { customer: 'acme' } });
  }
  const { store, dir } = await storeWith(t, readings);
  const tariffs = validateTariffs([{ name: 'standard', customers: ['*'], currency: 'EUR', meters: [{ field: 'kwh', unit: 'kWh', measure: 'delta', pricing: { model: 'flat', unitPrice: '0.30' } }] }]);
  const run = await runInvoices(
    { series: 'INV', customerTag: 'customer', timezone: 'UTC', tariffs },
    '2026-10',
    undefined,
    { store, archive: new Archive(join(dir, 'invoices')), ledgerRoot: join(dir, 'ledger'), now: Date.UTC(2026, 10, 1, 6) },
  );
  const csvOf = (customer: string) => run.invoices.find((i) => i.invoice.customer === customer)!.files.find((f) => f.name.endsWith('.csv'))!.data;

  const muller = csvOf('Müller Bäckerei');
  assert.deepEqual(muller.subarray(0, 3), BOM);
  const rows = records(muller);
  assert.deepEqual([...new Set(rows.map((r) => r.customer))], ['Müller Bäckerei']);
  assert.equal(rows.find((r) => r.description === 'total')?.currency, 'EUR');

  const acme = csvOf('acme');
  assert.equal(acme.subarray(0, 8).toString('latin1'), 'invoice,');
  assert.deepEqual([...new Set(records(acme).map((r) => r.customer))], ['acme']);
});
