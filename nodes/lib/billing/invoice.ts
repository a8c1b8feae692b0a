/**
 * An invoice from a tariff and the usage of one customer's devices over a
 * period. Pure: the same inputs give the same invoice, so an invoice can be
 * produced again and compared. Every amount is decimal text.
 *
 * Rounding: billed quantities to `quantityDigits` (default 3), each line
 * amount to the currency's minor unit; the net total is the sum of the rounded
 * lines, tax is rounded once on the net total.
 */
import { BadParameterError } from '../errors';
import { currencyDigits, dec, Dec, plain, roundTo, type RoundingMode } from './money';
import { priceQuantity } from './pricing';
import type { Meter, Tariff } from './tariff';
import type { DeviceUsage } from './usage';

export interface InvoicePeriod {
  /** "2026-10" */
  label: string;
  /** Epoch ms, inclusive. */
  from: number;
  /** Epoch ms, exclusive. */
  to: number;
  timezone: string;
}

export interface InvoiceLine {
  description: string;
  /** Meter field, or "standing" / "minimum". */
  kind: string;
  quantity: string;
  unit: string;
  unitPrice: string;
  amount: string;
}

export interface BilledReading {
  device: string;
  field: string;
  measure: string;
  readings: number;
  first?: { ts: string; value: string };
  last?: { ts: string; value: string };
  /** Measured quantity of this device in the meter's unit (after scale), to 6 decimals; the billed total is rounded from the exact sum. */
  quantity: string;
  unit: string;
}

export interface Invoice {
  number: string;
  series: string;
  sequence: number;
  customer: string;
  period: { label: string; from: string; to: string; timezone: string };
  /** When the number was assigned (first issue); stays the same when the invoice is produced again. */
  issuedAt: string;
  tariff: string;
  currency: string;
  rounding: RoundingMode;
  lines: InvoiceLine[];
  net: string;
  tax: { percent: string; amount: string };
  total: string;
  meterReadings: BilledReading[];
  seller?: string;
}

export interface InvoiceInput {
  tariff: Tariff;
  customer: string;
  period: InvoicePeriod;
  /** One entry per (device, meter field) of the customer. */
  usage: DeviceUsage[];
  quantityDigits?: number;
  seller?: string;
}

export interface Numbering {
  series: string;
  sequence: number;
  number: string;
  issuedAt: number;
}

function meterLabel(m: Meter): string {
  return m.label ?? `${m.field} (${m.unit})`;
}

/** The invoice's content without its number: what is compared when a period is produced again. */
export type InvoiceBody = Omit<Invoice, 'number' | 'series' | 'sequence' | 'issuedAt'>;

/** Decimals a billed quantity is rounded to unless the invoice node says otherwise. */
export const DEFAULT_QUANTITY_DIGITS = 3;

export function computeInvoice(input: InvoiceInput): InvoiceBody {
  const { tariff, customer, period } = input;
  const digits = currencyDigits(tariff.currency);
  const rounding: RoundingMode = tariff.rounding ?? 'half-up';
  const qDigits = input.quantityDigits ?? DEFAULT_QUANTITY_DIGITS;
  const money = (d: InstanceType<typeof Dec>) => roundTo(d, digits, rounding);
  const lines: InvoiceLine[] = [];
  const meterReadings: BilledReading[] = [];
  let net = new Dec(0);

  if (tariff.standingCharge !== undefined) {
    const amount = money(dec(tariff.standingCharge));
    lines.push({ description: `Standing charge ${period.label}`, kind: 'standing', quantity: '1', unit: 'period', unitPrice: amount.toFixed(digits), amount: amount.toFixed(digits) });
    net = net.plus(amount);
  }

  tariff.meters.forEach((m) => {
    const scale = m.scale === undefined ? new Dec(1) : dec(m.scale);
    let measured = new Dec(0);
    const mine = input.usage.filter((u) => u.field === m.field && u.measure === m.measure && (m.measure !== 'integral' || u.per === (m.per ?? 'h'))).sort((a, b) => (a.device < b.device ? -1 : a.device > b.device ? 1 : 0));
    for (const u of mine) {
      const q = new Dec(u.quantity).times(scale);
      measured = measured.plus(q);
      const br: BilledReading = { device: u.device, field: u.field, measure: u.measure, readings: u.readings, quantity: plain(roundTo(q, 6, 'half-up')), unit: m.unit };
      if (u.first) br.first = { ts: new Date(u.first.ts).toISOString(), value: u.first.value };
      if (u.last) br.last = { ts: new Date(u.last.ts).toISOString(), value: u.last.value };
      meterReadings.push(br);
    }
    // A counter that was reset or replaced can go down; that is not billed as a credit.
    if (measured.isNeg() && m.measure !== 'delta') {
      // Prices apply to usage, never to a credit: a sum or integral below zero (exported energy, a sign the wrong
      // way round) is refused for this customer rather than billed as nothing without a word.
      const devices = mine.filter((u) => new Dec(u.quantity).isNeg()).map((u) => `${u.device} ${u.quantity}`);
      throw new BadParameterError(
        'customer',
        `customer "${customer}": meter "${meterLabel(m)}" (${m.measure} of ${m.field}) adds up to ${plain(measured)} ${m.unit}, below zero (${devices.join(', ')}); a tariff prices usage, not credits: bill such a field with a meter of its own on a field of positive values, or leave it out of the tariff`,
        { customer, field: m.field, measure: m.measure, quantity: plain(measured) },
      );
    }
    const billed = roundTo(Dec.max(measured, 0), qDigits, 'half-up');
    for (const part of priceQuantity(m.pricing, billed, 'pricing', m.unit)) {
      const amount = money(part.amount);
      const model = m.pricing.model;
      const what = part.label ? `${meterLabel(m)}, ${part.label}` : meterLabel(m);
      lines.push({
        description: what,
        kind: m.field,
        quantity: plain(part.quantity),
        unit: model === 'package' ? 'package' : m.unit,
        unitPrice: plain(part.unitPrice),
        amount: amount.toFixed(digits),
      });
      if (!part.flatFee.isZero()) lines[lines.length - 1].description += ` incl. ${part.flatFee.toFixed(digits)} fee`;
      net = net.plus(amount);
    }
  });

  if (tariff.minimumCharge !== undefined) {
    const min = money(dec(tariff.minimumCharge));
    if (net.lt(min)) {
      const top = min.minus(net);
      lines.push({ description: `Minimum charge ${min.toFixed(digits)} ${tariff.currency}`, kind: 'minimum', quantity: '1', unit: 'period', unitPrice: top.toFixed(digits), amount: top.toFixed(digits) });
      net = min;
    }
  }

  const percent = tariff.taxPercent === undefined ? new Dec(0) : dec(tariff.taxPercent);
  const tax = money(net.times(percent).div(100));
  const body: InvoiceBody = {
    customer,
    period: { label: period.label, from: new Date(period.from).toISOString(), to: new Date(period.to).toISOString(), timezone: period.timezone },
    tariff: tariff.name,
    currency: tariff.currency,
    rounding,
    lines,
    net: net.toFixed(digits),
    tax: { percent: plain(percent), amount: tax.toFixed(digits) },
    total: net.plus(tax).toFixed(digits),
    meterReadings,
  };
  if (input.seller) body.seller = input.seller;
  return body;
}

export function numberInvoice(body: InvoiceBody, n: Numbering): Invoice {
  return { number: n.number, series: n.series, sequence: n.sequence, issuedAt: new Date(n.issuedAt).toISOString(), ...body };
}
