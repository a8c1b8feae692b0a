/** The NAB series format: a `timestamp,value` header, then one reading per line. */
import { DecodeError } from '../errors';
import type { Point } from './backtest';
import { nabTime } from './nab';

export interface SeriesCsv {
  points: Point[];
  /** The timestamp and value text as written, so the output repeats them exactly. */
  raw: Array<[string, string]>;
}

export function parseSeriesCsv(text: string, file = 'input'): SeriesCsv {
  const lines = text.split(/\r?\n/);
  const header = lines[0]?.trim().toLowerCase().split(',').map((h) => h.trim().replace(/^"|"$/g, ''));
  const ti = header?.indexOf('timestamp') ?? -1;
  const vi = header?.indexOf('value') ?? -1;
  if (ti < 0 || vi < 0) {
    throw new DecodeError(`${file}: line 1 must be a header with "timestamp" and "value" columns, got "${(lines[0] ?? '').slice(0, 60)}"`, { format: 'csv', line: 1, file });
  }
  const points: Point[] = [];
  const raw: Array<[string, string]> = [];
  for (let n = 1; n < lines.length; n++) {
    const line = lines[n];
    if (line.trim() === '') continue;
    const cells = line.split(',');
    const t = cells[ti]?.trim().replace(/^"|"$/g, '');
    const v = cells[vi]?.trim().replace(/^"|"$/g, '');
    const where = `${file}: line ${n + 1}`;
    if (t === undefined || v === undefined) throw new DecodeError(`${where} has ${cells.length} columns, expected ${header!.length}`, { format: 'csv', line: n + 1, file });
    let ts: number;
    try {
      ts = nabTime(/^\d+(\.\d+)?$/.test(t) ? Number(t) : t);
    } catch {
      throw new DecodeError(`${where}: "${t.slice(0, 40)}" is not a timestamp (ISO 8601 or epoch)`, { format: 'csv', line: n + 1, file });
    }
    const value = v === '' ? NaN : Number(v);
    if (!Number.isFinite(value)) throw new DecodeError(`${where}: "${v.slice(0, 40)}" is not a number`, { format: 'csv', line: n + 1, file });
    points.push({ ts, value });
    raw.push([t, v]);
  }
  return { points, raw };
}

export function formatScoresCsv(raw: ReadonlyArray<[string, string]>, scores: readonly number[]): string {
  const out = ['timestamp,value,anomaly_score'];
  for (let i = 0; i < raw.length; i++) out.push(`${raw[i][0]},${raw[i][1]},${Number(scores[i].toFixed(6))}`);
  return out.join('\n') + '\n';
}
