/**
 * Pricing models as usage-billing systems define them:
 * - flat: every unit at one price;
 * - graduated: each tier's units at that tier's price (plus the tier's flat fee once reached);
 * - volume: all units at the price of the tier the total falls in (plus its flat fee);
 * - package: a price per started (or, when configured, completed) block of N units.
 * Tier bounds are inclusive upper limits ("upTo": 100 covers 0 < q ≤ 100); the
 * last tier has "upTo": null. Amounts come back unrounded: rounding is the invoice's job.
 */
import { ConfigError } from '../errors';
import { dec, Dec, plain } from './money';

export const PRICING_MODELS = ['flat', 'graduated', 'volume', 'package'] as const;
export type PricingModel = (typeof PRICING_MODELS)[number];

export interface Tier {
  /** Inclusive upper bound of the tier in billed units; null for the open last tier. */
  upTo: string | null;
  unitPrice: string;
  /** Charged once when the tier is reached (graduated: each tier reached; volume: the tier reached). */
  flatFee?: string;
}

export interface Pricing {
  model: PricingModel;
  /** flat */
  unitPrice?: string;
  /** graduated, volume */
  tiers?: Tier[];
  /** package: units per block and the price of one block. */
  packageSize?: string;
  packagePrice?: string;
  /** package: 'up' bills a started block (default), 'down' only completed blocks. */
  packageRounding?: 'up' | 'down';
}

/** One priced part of a meter's quantity: becomes one invoice line. */
export interface PricedPart {
  /** Which part: "", "tier 1, up to 100 kWh", "all units at tier 2 (over 100 up to 500 kWh)", "3 packages of 100 kWh". */
  label: string;
  quantity: Dec;
  unitPrice: Dec;
  /** Fixed part of the amount (tier flat fee), already in amount. */
  flatFee: Dec;
  amount: Dec;
}

interface ParsedTier {
  upTo: Dec | null;
  unitPrice: Dec;
  flatFee: Dec;
}

const ZERO = new Dec(0);

function tiersOf(p: Pricing, path: string): ParsedTier[] {
  if (!Array.isArray(p.tiers) || p.tiers.length === 0) {
    throw new ConfigError(`${path}.tiers must list at least one tier for ${p.model} pricing, e.g. [{"upTo": "100", "unitPrice": "0.30"}, {"upTo": null, "unitPrice": "0.25"}]`, { path: `${path}.tiers` });
  }
  if (p.tiers.length > 100) throw new ConfigError(`${path}.tiers: at most 100 tiers`, { path: `${path}.tiers` });
  const out: ParsedTier[] = [];
  let prev: Dec = ZERO;
  p.tiers.forEach((t, i) => {
    const at = `${path}.tiers[${i}]`;
    if (typeof t !== 'object' || t === null) throw new ConfigError(`${at} must be an object with upTo and unitPrice`, { path: at });
    const last = i === p.tiers!.length - 1;
    let upTo: Dec | null = null;
    if (t.upTo === null || t.upTo === undefined) {
      if (!last) throw new ConfigError(`${at}.upTo is missing: only the last tier may be open (upTo: null)`, { path: `${at}.upTo` });
    } else {
      upTo = dec(t.upTo, `${at}.upTo`);
      if (!upTo.gt(prev)) throw new ConfigError(`${at}.upTo (${plain(upTo)}) must be more than the tier before (${plain(prev)})`, { path: `${at}.upTo` });
      prev = upTo;
    }
    const unitPrice = dec(t.unitPrice, `${at}.unitPrice`);
    const flatFee = t.flatFee === undefined ? ZERO : dec(t.flatFee, `${at}.flatFee`);
    if (unitPrice.isNeg() || flatFee.isNeg()) throw new ConfigError(`${at}: prices must not be negative`, { path: at });
    out.push({ upTo, unitPrice, flatFee });
  });
  return out;
}

/**
 * Checks a pricing config and names the first bad setting. Tiers must end open: a bounded last tier
 * would price this month's usage and refuse next month's once it is exceeded, failing the invoice run
 * of every customer, so it is refused here, when the tariff is saved.
 */
export function validatePricing(p: Pricing, path = 'pricing'): void {
  priceQuantity(p, ZERO, path);
  if (p.model === 'graduated' || p.model === 'volume') {
    const last = p.tiers!.length - 1;
    const upTo = p.tiers![last].upTo;
    if (upTo !== null && upTo !== undefined) {
      throw new ConfigError(`${path}.tiers[${last}].upTo must be null: the last tier takes every unit over ${plain(dec(upTo))}, else usage above it cannot be billed`, {
        path: `${path}.tiers[${last}].upTo`,
      });
    }
  }
}

/**
 * A tier's bounds as a customer reads them on the invoice, with the unit: bounds are inclusive upper limits, so the
 * tier after "up to 100" starts "over 100" (a plain "100 – 500" would leave 100 itself in both). ASCII only, so a
 * spreadsheet that opens the CSV in a legacy code page shows it as written.
 */
function range(from: Dec, upTo: Dec | null, unit: string): string {
  const u = unit ? ` ${unit}` : '';
  if (upTo === null) return `over ${plain(from)}${u}`;
  return from.isZero() ? `up to ${plain(upTo)}${u}` : `over ${plain(from)} up to ${plain(upTo)}${u}`;
}

/** Prices a quantity (≥ 0) and says how, part by part; `unit` (the meter's, "kWh") names what the tiers count. */
export function priceQuantity(p: Pricing, quantity: Dec, path = 'pricing', unit = ''): PricedPart[] {
  if (typeof p !== 'object' || p === null) throw new ConfigError(`${path} must be an object with a model`, { path });
  if (quantity.isNeg()) throw new ConfigError(`${path}: cannot price a negative quantity (${plain(quantity)})`, { path });
  switch (p.model) {
    case 'flat': {
      const unitPrice = dec(p.unitPrice as string, `${path}.unitPrice`);
      if (unitPrice.isNeg()) throw new ConfigError(`${path}.unitPrice must not be negative`, { path: `${path}.unitPrice` });
      return [{ label: '', quantity, unitPrice, flatFee: ZERO, amount: quantity.times(unitPrice) }];
    }
    case 'graduated': {
      const tiers = tiersOf(p, path);
      const parts: PricedPart[] = [];
      let lower: Dec = ZERO;
      for (let i = 0; i < tiers.length && quantity.gt(lower); i++) {
        const t = tiers[i];
        const units = (t.upTo === null ? quantity : Dec.min(quantity, t.upTo)).minus(lower);
        parts.push({ label: `tier ${i + 1}, ${range(lower, t.upTo, unit)}`, quantity: units, unitPrice: t.unitPrice, flatFee: t.flatFee, amount: units.times(t.unitPrice).plus(t.flatFee) });
        if (t.upTo === null) break;
        lower = t.upTo;
      }
      if (quantity.gt(lower) && tiers[tiers.length - 1].upTo !== null) {
        throw new ConfigError(`${path}: ${plain(quantity)} units are beyond the last tier (upTo ${plain(lower)}); end the tiers with "upTo": null`, { path: `${path}.tiers` });
      }
      return parts;
    }
    case 'volume': {
      const tiers = tiersOf(p, path);
      let lower: Dec = ZERO;
      for (let i = 0; i < tiers.length; i++) {
        const t = tiers[i];
        if (t.upTo === null || quantity.lte(t.upTo)) {
          // Every unit at this tier's price, not only those within its bounds: said so, or it reads as graduated.
          return [{ label: `all units at tier ${i + 1} (${range(lower, t.upTo, unit)})`, quantity, unitPrice: t.unitPrice, flatFee: t.flatFee, amount: quantity.times(t.unitPrice).plus(t.flatFee) }];
        }
        lower = t.upTo;
      }
      throw new ConfigError(`${path}: ${plain(quantity)} units are beyond the last tier (upTo ${plain(lower)}); end the tiers with "upTo": null`, { path: `${path}.tiers` });
    }
    case 'package': {
      const size = dec(p.packageSize as string, `${path}.packageSize`);
      const price = dec(p.packagePrice as string, `${path}.packagePrice`);
      if (!size.gt(ZERO)) throw new ConfigError(`${path}.packageSize must be more than 0`, { path: `${path}.packageSize` });
      if (price.isNeg()) throw new ConfigError(`${path}.packagePrice must not be negative`, { path: `${path}.packagePrice` });
      const rounding = p.packageRounding ?? 'up';
      if (rounding !== 'up' && rounding !== 'down') throw new ConfigError(`${path}.packageRounding must be "up" or "down"`, { path: `${path}.packageRounding` });
      const ratio = quantity.div(size);
      const blocks = rounding === 'up' ? ratio.ceil() : ratio.floor();
      return [{ label: `${plain(blocks)} ${blocks.eq(1) ? 'package' : 'packages'} of ${plain(size)}${unit ? ` ${unit}` : ''}`, quantity: blocks, unitPrice: price, flatFee: ZERO, amount: blocks.times(price) }];
    }
    default:
      throw new ConfigError(`${path}.model must be one of ${PRICING_MODELS.join(', ')}, got ${JSON.stringify((p as { model?: unknown }).model)}`, { path: `${path}.model` });
  }
}
