/**
 * InfluxDB's answer to points older than the retention policy (1.x) or bucket
 * retention (2.x) keeps: "partial write: points beyond retention policy
 * dropped=N". 1.x sends it as 400 `{"error": ...}`; 2.x as 422 (2.0: 500)
 * `{"code": ..., "message": "failure writing points to database: partial
 * write: ..."}`. The rest of the write is stored. The answer counts the dropped
 * points but does not name them; InfluxDB drops a point exactly when its time
 * is before now minus the retention, so they are the N oldest of the write.
 * The server reports this reason only when nothing else went wrong, so the
 * count covers every point of the write that was not stored.
 */
import { RetentionRefusedError } from '../errors';
import type { Reading } from '../reading';

const BEYOND = /points beyond retention policy dropped=(\d+)/;

/** How many points the server dropped for their age, if the message says so. */
export function droppedBeyondRetention(message: string): number | undefined {
  const m = BEYOND.exec(message);
  if (!m) return undefined;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

/**
 * The indexes of the `dropped` oldest readings (each reading one point), in
 * write order; undefined when the count cannot be told apart from the
 * timestamps (more than the write holds, or a time shared across the boundary).
 */
export function oldestIndexes(readings: readonly Reading[], dropped: number): number[] | undefined {
  if (dropped > readings.length) return undefined;
  const order = readings.map((_, i) => i).sort((a, b) => readings[a].ts - readings[b].ts);
  if (dropped < order.length && readings[order[dropped - 1]].ts === readings[order[dropped]].ts) return undefined;
  return order.slice(0, dropped).sort((a, b) => a - b);
}

const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 1e-3, 'µs': 1e-3, ns: 1e-6 };

/** A Go duration as InfluxQL shows it ("720h0m0s", "1h0m0s"; "0s" is forever) in ms; undefined if it is not one. */
export function goDurationMs(text: string): number | undefined {
  const parts = /^(?:\d+(?:\.\d+)?(?:h|ms|us|µs|ns|m|s))+$/.test(text) ? text.match(/\d+(?:\.\d+)?(?:h|ms|us|µs|ns|m|s)/g) : null;
  if (!parts) return undefined;
  let ms = 0;
  for (const p of parts) {
    const [, n, unit] = /^([\d.]+)(.+)$/.exec(p)!;
    ms += Number(n) * UNIT_MS[unit];
  }
  return ms;
}

/** "30d" style, for InfluxQL and messages. */
export function durationText(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000}d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  return `${Math.max(1, Math.round(ms / 60_000))}m`;
}

/** What the retention written to is called and how long it keeps (0: forever), as the server says. */
export type RetentionLookup = () => Promise<{ name: string; ms: number } | undefined>;

/**
 * The server's answer as a RetentionRefusedError naming the readings it
 * dropped for their age; undefined when the answer is about something else or
 * the dropped points cannot be told from the timestamps (then the writer
 * bisects as for any refusal).
 */
export async function retentionRefusal(answer: string, readings: readonly Reading[], sink: string, where: string, lookup: RetentionLookup): Promise<RetentionRefusedError | undefined> {
  const dropped = droppedBeyondRetention(answer);
  const indexes = dropped === undefined ? undefined : oldestIndexes(readings, dropped);
  if (!indexes) return undefined;
  const keep = await lookup().catch(() => undefined);
  let newest = -Infinity;
  for (const i of indexes) newest = Math.max(newest, readings[i].ts);
  const known = keep !== undefined && keep.ms > 0;
  // InfluxDB's cutoff is its own clock minus the retention; without the retention, the newest dropped point bounds it.
  const cutoff = known ? Date.now() - keep.ms : newest + 1;
  const why = `${where} answered "${answer.slice(0, 200)}"${known ? `: ${keep.name} keeps ${durationText(keep.ms)}` : ' (its retention could not be read; the cutoff given is the newest point it dropped)'}; write such readings to a retention policy or bucket that keeps them longer`;
  return new RetentionRefusedError(sink, indexes, cutoff, why);
}
