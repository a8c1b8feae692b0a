/**
 * Exact decimal money. Every amount, price and billed quantity is a Decimal
 * (decimal.js) built from decimal text, never a binary float: 0.1 + 0.2 kWh is
 * 0.3 kWh here, and 1.005 rounds half-up to 1.01.
 */
import Decimal from 'decimal.js';
import { ConfigError } from '../errors';

/** Our own Decimal constructor, so settings of other users of decimal.js never leak in. */
export const Dec = Decimal.clone({ precision: 60, rounding: Decimal.ROUND_HALF_UP, toExpNeg: -60, toExpPos: 60 });
export type Dec = InstanceType<typeof Dec>;

export const ROUNDING_MODES = ['half-up', 'half-even', 'half-down', 'up', 'down', 'ceil', 'floor'] as const;
export type RoundingMode = (typeof ROUNDING_MODES)[number];

const MODE: Record<RoundingMode, Decimal.Rounding> = {
  'half-up': Decimal.ROUND_HALF_UP,
  'half-even': Decimal.ROUND_HALF_EVEN,
  'half-down': Decimal.ROUND_HALF_DOWN,
  up: Decimal.ROUND_UP,
  down: Decimal.ROUND_DOWN,
  ceil: Decimal.ROUND_CEIL,
  floor: Decimal.ROUND_FLOOR,
};

// At most 30 digits on either side of the point and a three-digit exponent: a price, not a denial of service.
const DECIMAL_TEXT = /^[+-]?(\d{1,30}(\.\d{0,30})?|\.\d{1,30})([eE][+-]?\d{1,3})?$/;

/**
 * A decimal from text as a person wrote it ("0.3333"), or from a stored
 * reading: a number becomes the shortest decimal that reads back as it
 * (String(0.1) is "0.1"), which is the value the device sent.
 */
export function dec(value: string | number | Dec, path = 'value'): Dec {
  if (value instanceof Dec) return value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new ConfigError(`${path} must be a finite number, got ${value}`, { path });
    return new Dec(String(value));
  }
  if (typeof value !== 'string' || !DECIMAL_TEXT.test(value.trim())) {
    throw new ConfigError(`${path} must be a decimal number written as text, e.g. "0.25", got ${JSON.stringify(value)}`, { path });
  }
  return new Dec(value.trim());
}

export function roundTo(value: Dec, digits: number, mode: RoundingMode): Dec {
  return value.toDecimalPlaces(digits, MODE[mode]);
}

/** Minor-unit digits of an ISO 4217 currency (EUR 2, JPY 0, KWD 3). */
export function currencyDigits(currency: string, path = 'currency'): number {
  if (!/^[A-Z]{3}$/.test(currency)) {
    throw new ConfigError(`${path} must be an ISO 4217 code such as "EUR" or "USD", got ${JSON.stringify(currency)}`, { path });
  }
  try {
    return new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2;
  } catch {
    throw new ConfigError(`${path}: "${currency}" is not a known ISO 4217 code`, { path });
  }
}

/** "1234.5" → "1,234.50" with the currency's digits; plain ASCII so PDF standard fonts show it. */
export function formatAmount(value: Dec | string, digits: number): string {
  const d = value instanceof Dec ? value : new Dec(value);
  const fixed = d.toFixed(digits);
  const negative = fixed.startsWith('-');
  const [int, frac] = (negative ? fixed.slice(1) : fixed).split('.');
  const grouped = int.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${negative ? '-' : ''}${grouped}${frac !== undefined ? `.${frac}` : ''}`;
}

/** A quantity as text without exponent or trailing zeros beyond what it has. */
export function plain(value: Dec): string {
  return value.toFixed();
}
