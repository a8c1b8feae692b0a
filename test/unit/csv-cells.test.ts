/**
 * Every CSV the product writes (readings, reports, invoices, dead letters) goes through one cell function:
 * text a spreadsheet would run as a formula is shown as text, numbers stay numbers. And the readings CSV
 * pages like the JSON form, its cursor in the Next-Cursor header.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { handleQuery } from '../../nodes/lib/api/handlers';
import { deadLettersCsv } from '../../nodes/lib/api/deadletters';
import { invoiceCsv } from '../../nodes/lib/billing/files';
import type { Invoice } from '../../nodes/lib/billing/invoice';
import { computeReport } from '../../nodes/lib/report/compute';
import { checkDefinition } from '../../nodes/lib/report/definition';
import { explicitPeriod } from '../../nodes/lib/report/period';
import { reportCsv } from '../../nodes/lib/report/render';
import { DuckDbStore } from '../../nodes/lib/store/duckdb';

const T0 = Date.UTC(2026, 9, 4);
const DANGEROUS = ['=HYPERLINK("http://x","y")', '+1+2', '-2+3', '@SUM(A1)', '\tx', '\rx'];

/** A CSV line's cells (RFC 4180 quoting), enough for these tests. */
function cells(line: string): string[] {
  const out: string[] = [];
  const re = /("(?:[^"]|"")*"|[^,]*)(,|$)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(line)) && m[0] !== '') {
    out.push(m[1].startsWith('"') ? m[1].slice(1, -1).replace(/""/g, '"') : m[1]);
    if (m[2] === '') break;
  }
  return out;
}

async function memoryStore() {
  const store = new DuckDbStore({ path: ':memory:' });
  await store.open();
  return store;
}

test('readings CSV: a text value that starts like a formula gets a leading quote; a negative number stays a number', async (t) => {
  const store = await memoryStore();
  t.after(() => store.close());
  await store.write([
    ...DANGEROUS.map((note, i) => ({ device: 'd1', ts: T0 + i * 1000, fields: { note }, tags: {} })),
    { device: 'd1', ts: T0 + 60_000, fields: { t: -3.5, note: 'plain - text' }, tags: {} },
  ]);
  const res = await handleQuery(store, 'readings', { device: 'd1', limit: '100' }, 'text/csv');
  assert.equal(res.status, 200, res.body);
  const rows = res.body.split('\r\n').slice(1, -1).map(cells);
  const notes = rows.filter((r) => r[2] === 'note').map((r) => r[3]);
  assert.deepEqual(notes, [...DANGEROUS.map((v) => `'${v}`), 'plain - text']);
  assert.deepEqual(rows.find((r) => r[2] === 't'), ['2026-10-04T00:01:00.000Z', 'd1', 't', '-3.5']);
});

test('readings CSV pages like JSON: the next page\'s cursor in the Next-Cursor header, none on the last page', async (t) => {
  const store = await memoryStore();
  t.after(() => store.close());
  await store.write(Array.from({ length: 5 }, (_, i) => ({ device: 'd2', ts: T0 + i * 1000, fields: { v: i }, tags: {} })));
  const json = JSON.parse((await handleQuery(store, 'readings', { device: 'd2', limit: '2' }, undefined)).body) as { next: string };
  const values: string[] = [];
  let cursor: string | undefined;
  let first: string | undefined;
  for (let pages = 0; pages < 10; pages++) {
    const res = await handleQuery(store, 'readings', { device: 'd2', limit: '2', ...(cursor ? { cursor } : {}) }, 'text/csv');
    assert.equal(res.status, 200, res.body);
    values.push(...res.body.split('\r\n').slice(1, -1).map((l) => cells(l)[3]));
    cursor = res.headers?.['Next-Cursor'];
    first ??= cursor;
    if (cursor === undefined) break;
  }
  assert.equal(first, json.next, 'the same cursor as the JSON form');
  assert.deepEqual(values, ['0', '1', '2', '3', '4']);
});

test('report CSV: a device or text value that starts like a formula is text; numbers, negative ones too, are not quoted', async (t) => {
  const store = await memoryStore();
  t.after(() => store.close());
  await store.write([
    { device: '=cmd', ts: T0, fields: { t: -2, label: '@x' }, tags: {} },
    { device: '=cmd', ts: T0 + 60_000, fields: { t: -4, label: '-1+1' }, tags: {} },
  ]);
  const def = checkDefinition({ name: 'r', devices: { mode: 'list', list: ['=cmd'] }, fields: ['t', 'label'], units: { t: '-dB' }, alerts: false });
  const data = await computeReport(def, explicitPeriod(T0, T0 + 3_600_000, 'UTC'), { store, now: T0 + 7_200_000 });
  const lines = reportCsv(data).split('\r\n');
  const header = cells(lines[0]);
  const row = (field: string) => {
    const c = cells(lines.find((l) => cells(l)[1] === field)!);
    return (name: string) => c[header.indexOf(name)];
  };
  const t1 = row('t');
  assert.equal(t1('device'), "'=cmd");
  assert.equal(t1('unit'), "'-dB");
  assert.equal(t1('min'), '-4');
  assert.equal(t1('mean'), '-3');
  assert.equal(t1('last'), '-4');
  assert.equal(row('label')('last'), "'-1+1");
});

test('invoice and dead-letter CSV: text cells that start like formulas get a leading quote; amounts stay numbers', () => {
  const inv: Invoice = {
    number: 'INV-1',
    series: 'INV',
    sequence: 1,
    customer: '=evil()',
    period: { label: 'October 2026', from: '2026-10-01', to: '2026-11-01', timezone: 'UTC' },
    issuedAt: '2026-11-01T00:00:00Z',
    tariff: 't',
    currency: 'EUR',
    rounding: 'half-up' as Invoice['rounding'],
    lines: [{ description: '+credit', kind: 'standing', quantity: '1', unit: '@month', unitPrice: '-5.00', amount: '-5.00' }],
    net: '-5.00',
    tax: { percent: '19', amount: '-0.95' },
    total: '-5.95',
    meterReadings: [],
  };
  const lines = invoiceCsv(inv).split('\r\n').slice(1, -1).map(cells);
  assert.deepEqual(lines[0], ['INV-1', "'=evil()", 'October 2026', '1', "'+credit", '1', "'@month", '-5.00', '-5.00', 'EUR']);
  assert.deepEqual(lines[3].slice(-2), ['-5.95', 'EUR']);

  const csv = deadLettersCsv([{ id: 7, ts: T0, device: 'd', source: 'http:/ingest/d', code: 'DECODE_FAILED', reason: 'bad', payload: '=1+1' }]);
  const letter = cells(csv.split('\r\n')[1]);
  assert.equal(letter[0], '7');
  assert.equal(letter[8], "'=1+1");
});
