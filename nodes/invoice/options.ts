/** Options of upperstack-invoice, shared by the runtime and the editor. */
import type { NodeDef } from 'node-red';
import type { Migration } from '../shared/config';
import { ConfigError } from '../lib/errors';
import { SERIES } from '../lib/billing/ledger';
import { validateTariffs } from '../lib/billing/tariff';
import type { InvoiceSettings } from '../lib/billing/produce';
import { checkZone } from '../lib/report/period';

export interface InvoiceOptions {
  name: string;
  store: string;
  /** Invoice number series: numbers run gap-free within it. */
  series: string;
  /** Number prefix; empty: "<series>-". */
  prefix: string;
  /** Tag whose value names a device's customer. */
  customerTag: string;
  /** JSON list of tariffs. */
  tariffs: string;
  timezone: string;
  /** Printed at the top of each invoice. */
  seller: string;
  quantityDigits: number;
  schedule: 'monthly' | 'none';
  /** HH:MM on the 1st of the month. */
  at: string;
  configVersion: number;
}

export interface InvoiceNodeDef extends NodeDef, InvoiceOptions {}

export const EXAMPLE_TARIFFS = JSON.stringify(
  [
    {
      name: 'standard',
      customers: ['*'],
      currency: 'EUR',
      standingCharge: '4.90',
      taxPercent: '19',
      minimumCharge: '10',
      rounding: 'half-up',
      meters: [
        {
          field: 'power',
          measure: 'integral',
          per: 'h',
          scale: '0.001',
          unit: 'kWh',
          label: 'Energy',
          pricing: { model: 'graduated', tiers: [{ upTo: '100', unitPrice: '0.32' }, { upTo: null, unitPrice: '0.28' }] },
        },
      ],
    },
  ],
  null,
  2,
);

export const INVOICE_DEFAULTS: Omit<InvoiceOptions, 'name' | 'store' | 'configVersion'> = {
  series: 'INV',
  prefix: '',
  customerTag: 'customer',
  tariffs: EXAMPLE_TARIFFS,
  timezone: 'UTC',
  seller: '',
  quantityDigits: 3,
  schedule: 'monthly',
  at: '06:00',
};

export const invoiceMigrations: ReadonlyArray<Migration<InvoiceOptions>> = [
  // v0 (no version: hand-written or imported flows) → v1: every option present.
  (old) => ({ store: '', ...INVOICE_DEFAULTS, ...old, quantityDigits: Number(old.quantityDigits ?? INVOICE_DEFAULTS.quantityDigits) }),
];

/** The billing settings of a node's options; throws naming the setting. */
export function settingsOf(o: InvoiceOptions): InvoiceSettings {
  if (!SERIES.test(o.series)) throw new ConfigError('series must be 1 to 32 letters, digits, "-" or "_"', { path: 'series' });
  if (typeof o.customerTag !== 'string' || o.customerTag === '') throw new ConfigError('customer tag must name the tag that holds the customer, e.g. "customer"', { path: 'customerTag' });
  if (!Number.isInteger(o.quantityDigits) || o.quantityDigits < 0 || o.quantityDigits > 9) throw new ConfigError('quantity decimals must be a whole number from 0 to 9', { path: 'quantityDigits' });
  checkZone(o.timezone);
  let tariffs: unknown;
  try {
    tariffs = JSON.parse(o.tariffs);
  } catch (err) {
    throw new ConfigError(`tariffs are not valid JSON: ${(err as Error).message}`, { path: 'tariffs' });
  }
  return {
    series: o.series,
    prefix: o.prefix || undefined,
    customerTag: o.customerTag,
    tariffs: validateTariffs(tariffs),
    timezone: o.timezone,
    quantityDigits: o.quantityDigits,
    seller: o.seller || undefined,
  };
}
