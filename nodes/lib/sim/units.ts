/** Rates ("1/s", "10/min", "0.5/s", "1/10s") and durations ("10m", "1h30m", "90s", "500ms") as users write them. */
import { BadParameterError } from '../errors';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, sec: 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000 };

/** Messages per second from "N/unit" or "N/<k><unit>" (or a bare number, per second). */
export function parseRate(text: string, parameter = 'rate'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(?:\/\s*(\d+(?:\.\d+)?)?\s*(ms|s|sec|m|min|h|d))?\s*$/i.exec(text);
  const n = m ? Number(m[1]) : NaN;
  const every = m?.[2] !== undefined ? Number(m[2]) : 1;
  if (!m || !(n > 0) || !(every > 0)) throw new BadParameterError(parameter, `${parameter} must look like 1/s, 10/min, 0.5/s or 1/10s, got "${text}"`);
  const per = UNIT_MS[(m[3] ?? 's').toLowerCase()] * every;
  return (n * 1000) / per;
}

/** Milliseconds from "10m", "1h30m", "45s", "250ms", or a bare number of seconds. */
export function parseDuration(text: string, parameter = 'duration'): number {
  const s = text.trim();
  if (/^\d+(?:\.\d+)?$/.test(s)) return Number(s) * 1000;
  const re = /(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)/gy;
  let total = 0;
  let pos = 0;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    total += Number(m[1]) * UNIT_MS[m[2]];
    pos = re.lastIndex;
  }
  if (pos !== s.length || pos === 0 || !(total > 0)) throw new BadParameterError(parameter, `${parameter} must look like 10m, 1h30m, 45s or 500ms, got "${text}"`);
  return total;
}

/** "1m40s" for the progress line. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return h ? `${h}h${String(m).padStart(2, '0')}m${String(sec).padStart(2, '0')}s` : m ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}

/** Profile shares from "env:70,motion:15,plug:15" (a profile left out gets none; a bare name gets 1). */
export function parseMix(text: string, profiles: readonly string[]): Record<string, number> {
  const mix: Record<string, number> = Object.fromEntries(profiles.map((p) => [p, 0]));
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const [name, share] = part.split(':').map((s) => s.trim());
    if (!profiles.includes(name)) throw new BadParameterError('mix', `mix: unknown device profile "${name}"; use ${profiles.join(', ')}`);
    const n = share === undefined ? 1 : Number(share);
    if (!(n >= 0)) throw new BadParameterError('mix', `mix: the share of ${name} must be a number of 0 or more, got "${share}"`);
    mix[name] = n;
  }
  if (!Object.values(mix).some((n) => n > 0)) throw new BadParameterError('mix', 'mix: give at least one device profile a share above 0');
  return mix;
}
