/**
 * Tariffs: what a customer pays for a billing period. A tariff applies to the
 * customers named in `customers` (values of the customer tag of their devices),
 * or to every customer without a tariff of their own when it lists "*".
 */
import { ConfigError } from '../errors';
import { currencyDigits, dec, ROUNDING_MODES, type RoundingMode } from './money';
import { validatePricing, type Pricing } from './pricing';

export const MEASURES = ['sum', 'integral', 'delta'] as const;
/**
 * How a field becomes billed units: the sum of its values (e.g. litres per
 * reading), its integral over time (kWh from W readings), or the difference
 * between the last and first reading of a counter (a meter's kWh register).
 */
export type Measure = (typeof MEASURES)[number];

export const TIME_UNITS: Record<string, number> = { s: 1000, min: 60_000, h: 3_600_000, d: 86_400_000 };

export interface Meter {
  /** The reading field that is billed, e.g. "power". */
  field: string;
  measure: Measure;
  /** integral: the time unit of the integral ("h": W readings give Wh). Default "h". */
  per?: string;
  /** Multiplies the measured quantity before pricing, e.g. "0.001" for Wh → kWh. Default "1". */
  scale?: string;
  /** Unit of the billed quantity on the invoice, e.g. "kWh". */
  unit: string;
  /** Invoice line text; default "<field> (<unit>)". */
  label?: string;
  pricing: Pricing;
}

export interface Tariff {
  name: string;
  /** Customer tag values this tariff applies to; ["*"] for every customer without a tariff of their own. */
  customers: string[];
  /** ISO 4217, e.g. "EUR". */
  currency: string;
  /** Charged once per invoice period. */
  standingCharge?: string;
  meters: Meter[];
  /** The net total is raised to this when below it. */
  minimumCharge?: string;
  /** Tax as a percentage of the net total, e.g. "19". */
  taxPercent?: string;
  /** How amounts are rounded to the currency's minor unit (default half-up). */
  rounding?: RoundingMode;
}

const NAME = /^[^\u0000-\u001f]{1,80}$/;

function object(v: unknown, path: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ConfigError(`${path} must be an object`, { path });
  return v as Record<string, unknown>;
}

function text(v: unknown, path: string, what: string): string {
  if (typeof v !== 'string' || !NAME.test(v)) throw new ConfigError(`${path} must be ${what} (1 to 80 characters)`, { path });
  return v;
}

function optionalDecimal(o: Record<string, unknown>, key: string, path: string, nonNegative = true): void {
  if (o[key] === undefined) return;
  const d = dec(o[key] as string, `${path}.${key}`);
  if (nonNegative && d.isNeg()) throw new ConfigError(`${path}.${key} must not be negative`, { path: `${path}.${key}` });
}

/** Checks a list of tariffs from a node's config or an API body; the error names the setting. */
export function validateTariffs(value: unknown, path = 'tariffs'): Tariff[] {
  if (!Array.isArray(value)) throw new ConfigError(`${path} must be a list of tariffs`, { path });
  if (value.length > 200) throw new ConfigError(`${path}: at most 200 tariffs`, { path });
  const seen = new Map<string, string>();
  value.forEach((raw, i) => {
    const at = `${path}[${i}]`;
    const t = object(raw, at);
    text(t.name, `${at}.name`, 'a name');
    if (!Array.isArray(t.customers) || t.customers.length === 0) {
      throw new ConfigError(`${at}.customers must list the customer tag values it applies to, or ["*"] for everyone else`, { path: `${at}.customers` });
    }
    t.customers.forEach((c, j) => {
      text(c, `${at}.customers[${j}]`, 'a customer name');
      const other = seen.get(c as string);
      if (other !== undefined) throw new ConfigError(`${at}.customers: "${c}" is already billed by tariff "${other}"`, { path: `${at}.customers[${j}]` });
      seen.set(c as string, t.name as string);
    });
    currencyDigits(typeof t.currency === 'string' ? t.currency : '', `${at}.currency`);
    optionalDecimal(t, 'standingCharge', at);
    optionalDecimal(t, 'minimumCharge', at);
    optionalDecimal(t, 'taxPercent', at);
    if (t.rounding !== undefined && !(ROUNDING_MODES as readonly unknown[]).includes(t.rounding)) {
      throw new ConfigError(`${at}.rounding must be one of ${ROUNDING_MODES.join(', ')}`, { path: `${at}.rounding` });
    }
    if (!Array.isArray(t.meters)) throw new ConfigError(`${at}.meters must be a list (may be empty for a standing charge only)`, { path: `${at}.meters` });
    if (t.meters.length > 50) throw new ConfigError(`${at}.meters: at most 50 meters per tariff`, { path: `${at}.meters` });
    t.meters.forEach((rawMeter, j) => {
      const mp = `${at}.meters[${j}]`;
      const m = object(rawMeter, mp);
      text(m.field, `${mp}.field`, 'a field name');
      if (!(MEASURES as readonly unknown[]).includes(m.measure)) throw new ConfigError(`${mp}.measure must be one of ${MEASURES.join(', ')}`, { path: `${mp}.measure` });
      if (m.per !== undefined && !(typeof m.per === 'string' && TIME_UNITS[m.per])) {
        throw new ConfigError(`${mp}.per must be one of ${Object.keys(TIME_UNITS).join(', ')}`, { path: `${mp}.per` });
      }
      optionalDecimal(m, 'scale', mp, false);
      text(m.unit, `${mp}.unit`, 'a unit such as "kWh"');
      if (m.label !== undefined) text(m.label, `${mp}.label`, 'a line text');
      validatePricing(m.pricing as Pricing, `${mp}.pricing`);
    });
  });
  return value as Tariff[];
}

/** The tariff of a customer: one naming them, else the "*" tariff, else none. */
export function tariffFor(tariffs: readonly Tariff[], customer: string): Tariff | undefined {
  return tariffs.find((t) => t.customers.includes(customer)) ?? tariffs.find((t) => t.customers.includes('*'));
}
