import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { InvoiceLedger } from '../../nodes/lib/billing/ledger';
import type { InvoiceBody } from '../../nodes/lib/billing/invoice';
import { tempDir } from '../helpers/temp';

function body(customer: string, label: string, total = '10.00'): InvoiceBody {
  return {
    customer,
    period: { label, from: `${label}-01T00:00:00.000Z`, to: `${label}-28T00:00:00.000Z`, timezone: 'UTC' },
    tariff: 't',
    currency: 'EUR',
    rounding: 'half-up',
    lines: [],
    net: total,
    tax: { percent: '0', amount: '0.00' },
    total,
    meterReadings: [],
  };
}

test('numbers are gap-free per series; a period already invoiced gets its invoice back', async (t) => {
  const dir = tempDir('us-ledger-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ledger = new InvoiceLedger(dir, 'INV');
  const a = await ledger.issue(body('acme', '2026-10'), Date.UTC(2026, 10, 1, 6));
  const b = await ledger.issue(body('globex', '2026-10'), Date.UTC(2026, 10, 1, 6));
  assert.deepEqual([a.invoice.number, b.invoice.number], ['INV-000001', 'INV-000002']);
  assert.equal(a.reissued, false);

  // Produced again later, by a fresh ledger (a restart): same number and issue date, nothing new.
  const again = await new InvoiceLedger(dir, 'INV').issue(body('acme', '2026-10'), Date.UTC(2026, 10, 5));
  assert.equal(again.reissued, true);
  assert.equal(again.changed, false);
  assert.deepEqual(again.invoice, a.invoice);
  // Late readings changed the amount: the issued invoice stands and the change is reported.
  const changed = await ledger.issue(body('acme', '2026-10', '12.00'), Date.UTC(2026, 10, 6));
  assert.equal(changed.changed, true);
  // The totals differ with the same readings: a new tariff, not new readings.
  assert.equal(changed.readingsChanged, false);
  assert.equal(again.readingsChanged, false);
  const late = await ledger.issue({ ...body('acme', '2026-10'), meterReadings: [{ device: 'm', field: 'kwh', measure: 'delta', readings: 2, quantity: '1', unit: 'kWh' }] }, Date.UTC(2026, 10, 7));
  assert.deepEqual([late.changed, late.readingsChanged, late.invoice.total], [true, true, '10.00']);
  assert.equal(changed.invoice.total, '10.00');

  const other = new InvoiceLedger(dir, 'CREDIT', 'CR/');
  assert.equal((await other.issue(body('acme', '2026-10'), 0)).invoice.number, 'CR/000001');
  assert.deepEqual(ledger.list().map((i) => i.sequence), [1, 2]);
});

test('concurrent issues from two ledgers on one folder never share or skip a number', async (t) => {
  const dir = tempDir('us-ledger-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const one = new InvoiceLedger(dir, 'S');
  const two = new InvoiceLedger(dir, 'S');
  const customers = Array.from({ length: 20 }, (_, i) => `c${i}`);
  const results = await Promise.all(customers.flatMap((c) => [one.issue(body(c, '2026-11'), 1), two.issue(body(c, '2026-11'), 2)]));
  const numbers = new Set(results.map((r) => r.invoice.sequence));
  assert.deepEqual([...numbers].sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i + 1));
  assert.equal(readdirSync(join(dir, 'S')).filter((n) => n.endsWith('.json')).length, 20);
  // Each customer has one invoice, whichever ledger asked first.
  for (const c of customers) assert.equal(new Set(results.filter((r) => r.invoice.customer === c).map((r) => r.invoice.number)).size, 1);
  // No temporary files are left behind.
  assert.deepEqual(readdirSync(join(dir, 'S')).filter((n) => n.startsWith('.')), []);
});

test('a bad series name or prefix is refused with the setting named', () => {
  assert.throws(() => new InvoiceLedger('/tmp', '../x'), /series/);
  assert.throws(() => new InvoiceLedger('/tmp', 'ok', 'a b'), /prefix/);
});

test('an invoice produced again whose lines are only worded differently (a newer wording of tier bounds) is not reported as changed', async (t) => {
  const dir = tempDir('us-ledger-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ledger = new InvoiceLedger(dir, 'INV');
  const line = { kind: 'kwh', quantity: '400', unit: 'kWh', unitPrice: '0.25', amount: '100.00' };
  const issued = { ...body('acme', '2026-10', '100.00'), lines: [{ ...line, description: 'Energy, tier 2 (100 – 500)' }] };
  await ledger.issue(issued, Date.UTC(2026, 10, 1, 6));
  const reworded = await ledger.issue({ ...issued, lines: [{ ...line, description: 'Energy, tier 2, over 100 up to 500 kWh' }] }, Date.UTC(2026, 10, 5));
  assert.deepEqual([reworded.reissued, reworded.changed, reworded.invoice.lines[0].description], [true, false, 'Energy, tier 2 (100 – 500)']);
  // What a line bills still counts: another price is a change.
  const repriced = await ledger.issue({ ...issued, lines: [{ ...line, unitPrice: '0.26', description: 'Energy, tier 2, over 100 up to 500 kWh' }] }, Date.UTC(2026, 10, 6));
  assert.equal(repriced.changed, true);
});
