import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Dec, currencyDigits, roundTo } from '../../nodes/lib/billing/money';
import { priceQuantity, type Pricing } from '../../nodes/lib/billing/pricing';
import { computeInvoice } from '../../nodes/lib/billing/invoice';
import { validateTariffs, tariffFor, type Tariff } from '../../nodes/lib/billing/tariff';
import { UsageAccumulator, type DeviceUsage } from '../../nodes/lib/billing/usage';
import { ConfigError } from '../../nodes/lib/errors';

const TIERS = [
  { upTo: '100', unitPrice: '0.30' },
  { upTo: '500', unitPrice: '0.25' },
  { upTo: null, unitPrice: '0.20' },
];

function total(p: Pricing, q: string): string {
  return roundTo(priceQuantity(p, new Dec(q)).reduce((s, x) => s.plus(x.amount), new Dec(0)), 2, 'half-up').toFixed(2);
}

const period = { label: '2026-10', from: Date.UTC(2026, 9, 1), to: Date.UTC(2026, 10, 1), timezone: 'UTC' };

function usage(device: string, field: string, measure: 'sum' | 'integral' | 'delta', values: Array<[number, number]>): DeviceUsage {
  const a = new UsageAccumulator(device, field, measure, 'h');
  for (const [ts, v] of values) a.add(ts, v);
  return a.result();
}

function tariff(t: Partial<Tariff>): Tariff {
  return validateTariffs([{ name: 't', customers: ['*'], currency: 'EUR', meters: [], ...t }])[0];
}

test('graduated: each tier at its own price, a flat fee once a tier is reached', () => {
  const p: Pricing = { model: 'graduated', tiers: TIERS };
  // 100 × 0.30 + 400 × 0.25 + 250.5 × 0.20 = 30.00 + 100.00 + 50.10
  assert.equal(total(p, '750.5'), '180.10');
  assert.equal(total(p, '100'), '30.00');
  assert.equal(total(p, '0'), '0.00');
  const parts = priceQuantity(p, new Dec('120'));
  assert.deepEqual(parts.map((x) => [x.quantity.toFixed(), x.unitPrice.toFixed()]), [['100', '0.3'], ['20', '0.25']]);
  const withFee: Pricing = { model: 'graduated', tiers: [{ upTo: '10', unitPrice: '1', flatFee: '5' }, { upTo: null, unitPrice: '0.5', flatFee: '2.50' }] };
  assert.equal(total(withFee, '4'), '9.00');
  // 10 × 1 + 5, then 4 × 0.5 + 2.50
  assert.equal(total(withFee, '14'), '19.50');
});

test('volume: every unit at the price of the tier the total reaches; bounds are inclusive', () => {
  const p: Pricing = { model: 'volume', tiers: TIERS };
  assert.equal(total(p, '750.5'), '150.10');
  assert.equal(total(p, '100'), '30.00');
  // 100.001 × 0.25 = 25.00025
  assert.equal(total(p, '100.001'), '25.00');
  assert.equal(total(p, '500'), '125.00');
  const bounded: Pricing = { model: 'volume', tiers: [{ upTo: '10', unitPrice: '1' }] };
  assert.throws(() => priceQuantity(bounded, new Dec('11')), /beyond the last tier/);
});

test('package: a price per started block, or per completed block', () => {
  const p: Pricing = { model: 'package', packageSize: '100', packagePrice: '12.50' };
  assert.equal(total(p, '250.5'), '37.50');
  assert.equal(total(p, '200'), '25.00');
  assert.equal(total(p, '0.001'), '12.50');
  assert.equal(total({ ...p, packageRounding: 'down' }, '250.5'), '25.00');
});

test('exact decimals: 0.1 + 0.2 kWh at 0.3333 per kWh is 0.3 kWh and 0.10', () => {
  const t = tariff({ meters: [{ field: 'energy', measure: 'sum', unit: 'kWh', pricing: { model: 'flat', unitPrice: '0.3333' } }] });
  const inv = computeInvoice({ tariff: t, customer: 'acme', period, usage: [usage('m1', 'energy', 'sum', [[1, 0.1], [2, 0.2]])] });
  assert.equal(0.1 + 0.2 === 0.3, false, 'binary floats do not add these exactly');
  assert.equal(inv.meterReadings[0].quantity, '0.3');
  assert.equal(inv.lines[0].quantity, '0.3');
  assert.equal(inv.lines[0].amount, '0.10');
  assert.equal(inv.total, '0.10');
});

test('exact decimals: where binary floating point rounds to the wrong cent', () => {
  // 1000 readings of 0.1 kWh at 0.10005: exactly 100 kWh → 10.005 → 10.01 (half-up).
  const values: Array<[number, number]> = [];
  for (let i = 0; i < 1000; i++) values.push([i + 1, 0.1]);
  let float = 0;
  for (const [, v] of values) float += v;
  assert.equal(Math.round(float * 0.10005 * 100) / 100, 10, 'the float computation gives 10.00');
  const t = tariff({ meters: [{ field: 'energy', measure: 'sum', unit: 'kWh', pricing: { model: 'flat', unitPrice: '0.10005' } }] });
  const inv = computeInvoice({ tariff: t, customer: 'acme', period, usage: [usage('m1', 'energy', 'sum', values)] });
  assert.equal(inv.lines[0].quantity, '100');
  assert.equal(inv.lines[0].amount, '10.01');

  // 1.005 kWh at 1 per kWh: 1.01 half-up, 1.00 half-even; floats say 1.00 for half-up.
  assert.equal(Math.round(1.005 * 100) / 100, 1);
  const one = (rounding: 'half-up' | 'half-even') =>
    computeInvoice({ tariff: tariff({ rounding, meters: [{ field: 'e', measure: 'delta', unit: 'kWh', pricing: { model: 'flat', unitPrice: '1' } }] }), customer: 'a', period, usage: [usage('m', 'e', 'delta', [[1, 10], [2, 11.005]])] });
  assert.equal(one('half-up').total, '1.01');
  assert.equal(one('half-even').total, '1.00');
});

test('integral: trapezoids in exact decimals, W over hours → kWh with a scale', () => {
  const h = 3_600_000;
  // 1000 W for an hour, then a ramp to 3000 W over half an hour: 1000 Wh + 1000 Wh = 2 kWh.
  const u = usage('m', 'power', 'integral', [[0, 1000], [h, 1000], [1.5 * h, 3000]]);
  assert.equal(u.quantity, '2000');
  const t = tariff({ meters: [{ field: 'power', measure: 'integral', per: 'h', scale: '0.001', unit: 'kWh', pricing: { model: 'flat', unitPrice: '0.3333' } }] });
  const inv = computeInvoice({ tariff: t, customer: 'a', period, usage: [u] });
  assert.equal(inv.lines[0].quantity, '2');
  assert.equal(inv.lines[0].amount, '0.67');
});

test('standing charge, minimum charge, tax and a zero-digit currency', () => {
  const t = tariff({
    standingCharge: '4.90',
    minimumCharge: '10',
    taxPercent: '19',
    meters: [{ field: 'e', measure: 'sum', unit: 'kWh', pricing: { model: 'flat', unitPrice: '0.25' } }],
  });
  const inv = computeInvoice({ tariff: t, customer: 'a', period, usage: [usage('m', 'e', 'sum', [[1, 8]])] });
  // 4.90 + 2.00 = 6.90 < 10 → minimum line of 3.10; tax 1.90; total 11.90
  assert.deepEqual(inv.lines.map((l) => [l.kind, l.amount]), [['standing', '4.90'], ['e', '2.00'], ['minimum', '3.10']]);
  assert.equal(inv.net, '10.00');
  assert.equal(inv.tax.amount, '1.90');
  assert.equal(inv.total, '11.90');

  assert.equal(currencyDigits('JPY'), 0);
  const yen = computeInvoice({ tariff: tariff({ currency: 'JPY', taxPercent: '10', meters: [{ field: 'e', measure: 'sum', unit: 'kWh', pricing: { model: 'flat', unitPrice: '31.5' } }] }), customer: 'a', period, usage: [usage('m', 'e', 'sum', [[1, 3]])] });
  // 94.5 → 95 (half-up), tax 9.5 → 10
  assert.equal(yen.net, '95');
  assert.equal(yen.total, '105');
});

test('meter readings billed: first and last reading and quantity per device, devices in name order', () => {
  const t = tariff({ meters: [{ field: 'kwh', measure: 'delta', unit: 'kWh', pricing: { model: 'flat', unitPrice: '0.5' } }] });
  const inv = computeInvoice({
    tariff: t,
    customer: 'acme',
    period,
    usage: [usage('meter-b', 'kwh', 'delta', [[Date.UTC(2026, 9, 1), 1200.5], [Date.UTC(2026, 9, 31), 1300.7]]), usage('meter-a', 'kwh', 'delta', [[Date.UTC(2026, 9, 2), 10], [Date.UTC(2026, 9, 30), 20]])],
  });
  assert.deepEqual(inv.meterReadings.map((m) => [m.device, m.first?.value, m.last?.value, m.quantity]), [['meter-a', '10', '20', '10'], ['meter-b', '1200.5', '1300.7', '100.2']]);
  assert.equal(inv.meterReadings[1].first?.ts, '2026-10-01T00:00:00.000Z');
  assert.equal(inv.lines[0].quantity, '110.2');
  assert.equal(inv.total, '55.10');
});

test('tariff checks name the bad setting; tariffFor picks a customer\'s own tariff before "*"', () => {
  const bad = (t: unknown, path: RegExp) =>
    assert.throws(() => validateTariffs([t]), (e: unknown) => e instanceof ConfigError && path.test(String(e.details.path)) && /tariffs/.test(e.message));
  bad({ name: 'x', customers: ['a'], currency: 'EURO', meters: [] }, /currency/);
  bad({ name: 'x', customers: ['a'], currency: 'EUR', meters: [{ field: 'e', measure: 'avg', unit: 'kWh', pricing: { model: 'flat', unitPrice: '1' } }] }, /meters\[0\]\.measure/);
  bad({ name: 'x', customers: ['a'], currency: 'EUR', meters: [{ field: 'e', measure: 'sum', unit: 'kWh', pricing: { model: 'graduated', tiers: [{ upTo: '10', unitPrice: '1' }, { upTo: '5', unitPrice: '1' }] } }] }, /tiers\[1\]\.upTo/);
  bad({ name: 'x', customers: ['a'], currency: 'EUR', meters: [{ field: 'e', measure: 'sum', unit: 'kWh', pricing: { model: 'flat', unitPrice: '30 ct' } }] }, /meters\[0\]\.pricing\.unitPrice/);
  // A bounded last tier would bill this month and fail the whole run once a customer uses more: refused when saved.
  for (const model of ['graduated', 'volume'] as const) {
    bad({ name: 'x', customers: ['a'], currency: 'EUR', meters: [{ field: 'e', measure: 'sum', unit: 'kWh', pricing: { model, tiers: [{ upTo: '10', unitPrice: '1' }, { upTo: '20', unitPrice: '0.5' }] } }] }, /meters\[0\]\.pricing\.tiers\[1\]\.upTo/);
  }
  assert.throws(() => validateTariffs([{ name: 'x', customers: ['a'], currency: 'EUR', meters: [{ field: 'e', measure: 'sum', unit: 'kWh', pricing: { model: 'volume', tiers: [{ upTo: '5', unitPrice: '1' }] } }] }]), /tiers\[0\]\.upTo must be null: the last tier takes every unit over 5/);
  // A JSON number is taken as the decimal it was written as.
  assert.equal(total({ model: 'flat', unitPrice: 0.3333 as unknown as string }, '0.3'), '0.10');
  bad({ name: 'x', customers: ['a'], currency: 'EUR', taxPercent: '-1', meters: [] }, /taxPercent/);
  bad({ name: 'x', customers: ['a'], currency: 'EUR', standingCharge: '1e999999999', meters: [] }, /standingCharge/);
  assert.throws(() => validateTariffs([{ name: 'a', customers: ['acme'], currency: 'EUR', meters: [] }, { name: 'b', customers: ['acme'], currency: 'EUR', meters: [] }]), /already billed by tariff "a"/);
  const ts = validateTariffs([{ name: 'default', customers: ['*'], currency: 'EUR', meters: [] }, { name: 'acme', customers: ['acme'], currency: 'EUR', meters: [] }]);
  assert.equal(tariffFor(ts, 'acme')?.name, 'acme');
  assert.equal(tariffFor(ts, 'globex')?.name, 'default');
  assert.equal(tariffFor(ts.slice(1), 'globex'), undefined);
});
