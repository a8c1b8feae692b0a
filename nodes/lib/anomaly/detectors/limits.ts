/** Fixed limits: the simplest rule and the one a user already knows from the datasheet. */
import { DetectorConfigError } from '../../errors';
import { withUnit } from '../format';
import { known, num } from '../params';
import type { Detector, FieldContext, LimitsConfig, Outcome } from '../types';

interface Range {
  min: number;
  max: number;
}

export interface LimitsSettings {
  all: Range;
  fields: Record<string, Range>;
  warmup: number;
}

function range(where: string, min: unknown, max: unknown): Range {
  const r = { min: num(where, 'min', min, -Infinity), max: num(where, 'max', max, Infinity) };
  if (r.min > r.max) throw new DetectorConfigError(`${where}: min ${r.min} is above max ${r.max}`, { parameter: `${where}.min` });
  return r;
}

export function limitsSettings(c: LimitsConfig): LimitsSettings {
  known('limits', c, ['min', 'max', 'fields']);
  const fields: Record<string, Range> = {};
  for (const [name, f] of Object.entries(c.fields ?? {})) fields[name] = range(`limits.fields.${name}`, f?.min, f?.max);
  const all = range('limits', c.min, c.max);
  if (all.min === -Infinity && all.max === Infinity && Object.keys(fields).length === 0) {
    throw new DetectorConfigError('limits needs a min or a max (for all fields or under "fields")', { parameter: 'limits' });
  }
  return { all, fields, warmup: num('limits', 'warmup', c.warmup, 0, { min: 0, integer: true }) };
}

export interface LimitsState {
  seen: number;
}

export class LimitsDetector implements Detector {
  readonly type = 'limits';
  private seen = 0;

  constructor(private readonly s: LimitsSettings, state?: LimitsState) {
    if (state) this.seen = state.seen;
  }

  update(_ts: number, value: number, ctx: FieldContext): Outcome | null {
    if (this.seen++ < this.s.warmup) return null;
    const { min, max } = this.s.fields[ctx.field] ?? this.s.all;
    if (min === -Infinity && max === Infinity) return null;
    const expected = min === -Infinity ? max : max === Infinity ? min : (min + max) / 2;
    // Beyond a limit scores 0.5 and climbs towards 1 as the excess nears the width of the range.
    const scale = Number.isFinite(max - min) && max > min ? max - min : Math.max(Math.abs(expected), 1);
    const v = withUnit(value, ctx.unit);
    let score = 0;
    let reason: string;
    if (value > max) {
      score = 0.5 + 0.5 * (1 - Math.exp(-(value - max) / scale));
      reason = `${ctx.field} ${v} is above its upper limit of ${withUnit(max, ctx.unit)}`;
    } else if (value < min) {
      score = 0.5 + 0.5 * (1 - Math.exp(-(min - value) / scale));
      reason = `${ctx.field} ${v} is below its lower limit of ${withUnit(min, ctx.unit)}`;
    } else {
      reason = `${ctx.field} ${v} is within its limits`;
    }
    return { score, expected, low: min, high: max, reason };
  }

  toJSON(): LimitsState {
    return { seen: this.seen };
  }
}
