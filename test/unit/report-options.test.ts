/** The report and invoice nodes' options: migrations and how the form's text becomes settings. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { migrate } from '../../nodes/shared/config';
import { definitionOf, parseThresholds, parseUnits, REPORT_DEFAULTS, reportMigrations, type ReportOptions } from '../../nodes/report/options';
import { INVOICE_DEFAULTS, invoiceMigrations, settingsOf, type InvoiceOptions } from '../../nodes/invoice/options';

test('report v0 → v1 fills every option and keeps what was set', () => {
  const out = migrate<ReportOptions>({ id: 'r', report: 'energy', keep: '5', period: 'previous-week' }, reportMigrations);
  assert.equal(out.configVersion, 1);
  assert.equal(out.report, 'energy');
  assert.equal(out.keep, 5);
  assert.equal(out.period, 'previous-week');
  assert.equal(out.schedule, REPORT_DEFAULTS.schedule);
  assert.equal(out.pdf, true);
  assert.equal(out.store, '');
});

test('invoice v0 → v1 fills every option and keeps what was set', () => {
  const out = migrate<InvoiceOptions>({ id: 'i', series: 'ACME', quantityDigits: '2' }, invoiceMigrations);
  assert.equal(out.configVersion, 1);
  assert.equal(out.series, 'ACME');
  assert.equal(out.quantityDigits, 2);
  assert.equal(out.customerTag, 'customer');
  assert.equal(out.tariffs, INVOICE_DEFAULTS.tariffs);
});

test('the form text of thresholds and units; a report definition from the options', () => {
  assert.deepEqual(parseThresholds('temperature > 80, temperature < -5.5; power>2500'), { temperature: { above: 80, below: -5.5 }, power: { above: 2500 } });
  assert.throws(() => parseThresholds('temperature >= 80'), /field > number/);
  // A decimal comma is said as one, not as a stray threshold "5"; a comma between thresholds stays one.
  assert.throws(() => parseThresholds('humidity < 30, temperature > 21,5'), /"temperature > 21,5" has a decimal comma: write 21\.5 \(a comma separates thresholds\)/);
  assert.throws(() => parseThresholds('temperature < -0,5 ; power > 2'), /"temperature < -0,5" has a decimal comma: write -0\.5/);
  assert.deepEqual(parseThresholds('temperature > 21,power < 5'), { temperature: { above: 21 }, power: { below: 5 } });
  assert.deepEqual(parseUnits('power = W, temperature=°C'), { power: 'W', temperature: '°C' });
  assert.throws(() => parseUnits('power W'), /field = unit/);
  const base = migrate<ReportOptions>({ id: 'r' }, reportMigrations);
  const d = definitionOf({ ...base, devicesMode: 'tag', tagKey: 'site', tagValue: 'north', fields: 'power, temp', csv: false, json: false });
  assert.deepEqual(d.devices, { mode: 'tag', tag: 'site', value: 'north' });
  assert.deepEqual(d.fields, ['power', 'temp']);
  assert.deepEqual(d.formats, ['html', 'pdf']);
  assert.throws(() => definitionOf({ ...base, csv: false, json: false, html: false, pdf: false }), /formats/);
  assert.throws(() => definitionOf({ ...base, devicesMode: 'list', devices: ' , ' }), /devices\.list/);
});

test('the example tariffs are valid; bad invoice settings name the setting', () => {
  const base = migrate<InvoiceOptions>({ id: 'i' }, invoiceMigrations);
  const s = settingsOf(base);
  assert.equal(s.tariffs[0].meters[0].pricing.model, 'graduated');
  assert.throws(() => settingsOf({ ...base, tariffs: '[{' }), /not valid JSON/);
  assert.throws(() => settingsOf({ ...base, series: 'a/b' }), /series/);
  assert.throws(() => settingsOf({ ...base, timezone: 'Nowhere/City' }), /time zone/);
  assert.throws(() => settingsOf({ ...base, tariffs: '[{"name":"x","customers":["*"],"currency":"EUR","meters":[{"field":"e","measure":"sum","unit":"kWh","pricing":{"model":"tiered"}}]}]' }), /tariffs\[0\]\.meters\[0\]\.pricing\.model/);
});
