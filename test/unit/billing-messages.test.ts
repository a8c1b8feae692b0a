/**
 * Times in what the invoice run tells the operator are on the clock of the invoice's zone, as every other time
 * they see, with the UTC instant beside them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { runInvoices, type InvoiceSettings } from '../../nodes/lib/billing/produce';
import { Archive } from '../../nodes/lib/report/archive';
import { zoneTimeText } from '../../nodes/lib/report/period';
import { BadParameterError } from '../../nodes/lib/errors';
import type { TimeSeriesStore } from '../../nodes/lib/store/types';
import { tempDir } from '../helpers/temp';

function settings(timezone: string): InvoiceSettings {
  return {
    series: 'INV',
    customerTag: 'customer',
    timezone,
    tariffs: [{ name: 't', customers: ['*'], currency: 'EUR', meters: [{ field: 'power', measure: 'sum', unit: 'x', pricing: { model: 'flat', unitPrice: '1' } }] }],
  };
}

async function refusal(timezone: string, month: string, now: number): Promise<string> {
  const dir = tempDir('upperstack-inv-msg-');
  try {
    // Refused before the store is asked anything.
    const store = {} as TimeSeriesStore;
    await runInvoices(settings(timezone), month, undefined, { store, archive: new Archive(join(dir, 'a')), ledgerRoot: join(dir, 'l'), now });
  } catch (err) {
    assert.ok(err instanceof BadParameterError);
    return err.message;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.fail('the run was not refused');
}

test('a month that has not ended is refused with its end on the clock of the invoice zone', async () => {
  const berlin = await refusal('Europe/Berlin', '2026-10', Date.UTC(2026, 9, 31, 12));
  assert.equal(berlin, '"period" 2026-10 has not ended yet; invoice it from 2026-11-01 00:00 Europe/Berlin (2026-10-31T23:00Z) on');
  const newYork = await refusal('America/New_York', '2026-10', Date.UTC(2026, 9, 31, 12));
  assert.match(newYork, /invoice it from 2026-11-01 00:00 America\/New_York \(2026-11-01T04:00Z\) on$/);
  const utc = await refusal('UTC', '2026-10', Date.UTC(2026, 9, 31, 12));
  assert.match(utc, /invoice it from 2026-11-01 00:00 UTC on$/);
});

test('times in messages: seconds when the instant has them, the zone name in the hour that comes twice', () => {
  assert.equal(zoneTimeText(Date.parse('2026-11-03T09:15:42.500Z'), 'Europe/Berlin'), '2026-11-03 10:15:42 Europe/Berlin (2026-11-03T09:15:42Z)');
  assert.equal(zoneTimeText(Date.parse('2026-10-25T00:30:00Z'), 'Europe/Berlin'), '2026-10-25 02:30 CEST Europe/Berlin (2026-10-25T00:30Z)');
  assert.equal(zoneTimeText(Date.parse('2026-10-25T01:30:00Z'), 'Europe/Berlin'), '2026-10-25 02:30 CET Europe/Berlin (2026-10-25T01:30Z)');
});
