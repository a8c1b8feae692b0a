/** Retention periods as the store settings take them: "12h", "30d", "2w", "1y"; empty or "0" keeps data forever. */
import { ConfigError } from '../errors';

const UNIT_MS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000, y: 365 * 86_400_000 };
/** Longer than any date a Reading can carry: "forever" in practice. */
const MAX_MS = 1000 * UNIT_MS.y;

/** Milliseconds of a retention setting; 0 means forever. Throws ConfigError naming the setting. */
export function parseRetention(value: unknown, setting: string): number {
  if (value === undefined || value === null) return 0;
  const text = String(value).trim().toLowerCase();
  if (text === '' || text === '0' || text === 'forever') return 0;
  const m = /^(\d{1,6})\s*(m|h|d|w|y)$/.exec(text);
  const ms = m ? Number(m[1]) * UNIT_MS[m[2]] : NaN;
  if (!m || !(ms > 0) || ms > MAX_MS) {
    throw new ConfigError(`${setting} must be a period such as 12h, 30d, 2w or 1y (empty keeps data forever), got "${String(value).slice(0, 40)}"`, { setting });
  }
  return ms;
}

/** The shortest text for a period: 2592000000 → "30d"; 0 → "" (forever). */
export function retentionText(ms: number): string {
  if (!ms) return '';
  for (const u of ['y', 'w', 'd', 'h', 'm'] as const) if (ms % UNIT_MS[u] === 0) return `${ms / UNIT_MS[u]}${u}`;
  return `${Math.round(ms / 60_000)}m`;
}
