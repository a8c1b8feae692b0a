/** Durations as rules write them: "0s", "90s", "10m", "2h", "1d", "1w", "500ms". */

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const DURATION = /^([0-9]{1,9}(?:\.[0-9]{1,3})?)(ms|s|m|h|d|w)$/;

/** Milliseconds of a duration text, or NaN when it is not one. */
export function durationMs(text: string): number {
  const m = DURATION.exec(text);
  return m ? Math.round(Number(m[1]) * UNIT_MS[m[2]]) : NaN;
}

/** The shortest exact text for a number of milliseconds: 300000 → "5m". */
export function durationText(ms: number): string {
  for (const unit of ['w', 'd', 'h', 'm', 's'] as const) {
    if (ms >= UNIT_MS[unit] && ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  }
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

const WORDS: Array<[number, string]> = [
  [86_400_000, 'day'],
  [3_600_000, 'hour'],
  [60_000, 'minute'],
  [1000, 'second'],
];

/** "5 minutes", "1 hour 30 minutes", "2 days": for messages people read. */
export function durationWords(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  const parts: string[] = [];
  let rest = Math.round(ms / 1000) * 1000;
  for (const [size, word] of WORDS) {
    if (rest >= size) {
      const n = Math.floor(rest / size);
      rest -= n * size;
      parts.push(`${n} ${word}${n === 1 ? '' : 's'}`);
      if (parts.length === 2) break;
    } else if (parts.length) break;
  }
  return parts.join(' ');
}
