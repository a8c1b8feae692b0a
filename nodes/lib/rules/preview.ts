/**
 * "Over the last 24 h of stored data this rule would have fired N times, at …":
 * replays stored readings through a fresh engine holding only this rule, with
 * the clock following the readings, so durations, dead-man silences and
 * escalations play out as they would have.
 */
import type { Reading } from '../reading';
import type { TimeSeriesStore } from '../store/types';
import { BadParameterError } from '../errors';
import { RuleEngine } from './engine';
import { conditionsOf } from './validate';
import { durationMs } from './duration';
import type { Rule } from './types';

export interface PreviewOptions {
  store: TimeSeriesStore;
  devices: string[];
  from: number;
  to: number;
  /** Most readings replayed over all devices (default 100,000). */
  maxReadings?: number;
  /** Fire times listed (default 20); `fired` counts all. */
  limit?: number;
}

export interface PreviewResult {
  rule: string;
  from: number;
  to: number;
  devices: string[];
  scanned: number;
  truncated: boolean;
  fired: number;
  firings: Array<{ device: string; ts: number; message: string }>;
  /** Transitions by kind (pending, firing, cleared, ...). */
  transitions: Record<string, number>;
  notes: string[];
}

export const MAX_PREVIEW_DEVICES = 50;

/** Fields the rule reads; undefined when any reading matters (a dead-man on the device). */
function fieldsOf(rule: Rule): string[] | undefined {
  const set = new Set<string>();
  for (const { cond } of conditionsOf(rule.when)) {
    if (cond.field === undefined) return undefined;
    set.add(cond.field);
  }
  if (rule.clear?.field) set.add(rule.clear.field);
  if (rule.escalate?.field) set.add(rule.escalate.field);
  return [...set];
}

function shortestMs(rule: Rule): number {
  const all: number[] = [];
  for (const { cond } of conditionsOf(rule.when)) {
    if (cond.for) all.push(durationMs(cond.for));
  }
  const w = rule.when as { for?: string };
  if (w.for) all.push(durationMs(w.for));
  if (rule.clear?.for) all.push(durationMs(rule.clear.for));
  const positive = all.filter((x) => x > 0);
  return positive.length ? Math.min(...positive) : 60_000;
}

export async function previewRule(rule: Rule, o: PreviewOptions): Promise<PreviewResult> {
  if (o.devices.length > MAX_PREVIEW_DEVICES) throw new BadParameterError('devices', `at most ${MAX_PREVIEW_DEVICES} devices can be replayed at once, got ${o.devices.length}`);
  if (!(o.from < o.to)) throw new BadParameterError('from', '"from" must be before "to"');
  const max = o.maxReadings ?? 100_000;
  const fields = fieldsOf(rule);
  const readings: Reading[] = [];
  let truncated = false;
  for (const device of o.devices) {
    let cursor: string | undefined;
    do {
      const page = await o.store.readings({ device, from: o.from, to: o.to, fields, limit: 10_000, cursor });
      for (const r of page.readings) readings.push({ device, ts: r.ts, fields: r.fields, tags: r.tags });
      cursor = page.nextCursor;
      if (readings.length >= max) {
        truncated = cursor !== undefined || device !== o.devices[o.devices.length - 1];
        break;
      }
    } while (cursor);
    if (readings.length >= max) break;
  }
  readings.sort((a, b) => a.ts - b.ts);
  let now = o.from;
  // A copy without silences and mute windows: the preview is about when it fires, not who is told.
  const engine = new RuleEngine([{ ...rule, enabled: true }], { clock: () => now, historySize: 10 });
  const step = Math.max(1000, Math.min(60_000, Math.floor(shortestMs(rule) / 10)));
  const limit = o.limit ?? 20;
  const result: PreviewResult = { rule: rule.id, from: o.from, to: o.to, devices: o.devices, scanned: readings.length, truncated, fired: 0, firings: [], transitions: {}, notes: [] };
  const take = (events: ReturnType<RuleEngine['tick']>) => {
    for (const e of events) {
      result.transitions[e.event] = (result.transitions[e.event] ?? 0) + 1;
      if (e.event === 'firing' && e.previous !== 'flapping') {
        result.fired++;
        if (result.firings.length < limit) result.firings.push({ device: e.device, ts: e.ts, message: e.message });
      }
    }
  };
  // Listed devices count as watched from the start of the range, as after a real start.
  for (const r of readings) {
    // Timers run between readings as they would have, at most every `step`.
    while (now + step < r.ts) {
      now += step;
      take(engine.tick());
    }
    now = Math.max(now, r.ts);
    take(engine.process(r));
  }
  while (now + step <= o.to) {
    now += step;
    take(engine.tick());
  }
  if (conditionsOf(rule.when).some(({ cond }) => cond.op === 'anomalous')) {
    result.notes.push('"anomalous" conditions are not replayed: stored readings carry no anomaly verdicts');
  }
  if (truncated) result.notes.push(`only the first ${max} readings were replayed`);
  if (o.devices.length === 0) result.notes.push('no device this rule covers has stored readings in this range');
  else if (fields && !truncated) {
    const note = await unheardFields(fields, readings, o);
    if (note) result.notes.push(note);
  }
  return result;
}

/** Field names listed after "they sent": enough to spot the one meant. */
const SENT_SHOWN = 12;

/**
 * A field the rule watches that no replayed device sent in the range: most often a name typed otherwise than the
 * devices send it ("Temperature", "temp außen"), which would leave the rule silent for good; said with the names they
 * did send, so the person editing sees which one was meant.
 */
async function unheardFields(fields: readonly string[], readings: readonly Reading[], o: PreviewOptions): Promise<string | undefined> {
  const heard = new Set<string>();
  for (const r of readings) for (const f of Object.keys(r.fields)) heard.add(f);
  const unheard = fields.filter((f) => !heard.has(f));
  if (unheard.length === 0) return undefined;
  const who = o.devices.length === 1 ? `device ${o.devices[0]}` : `${o.devices.length} devices replayed`;
  const names = unheard.map((f) => JSON.stringify(f)).join(', ');
  let sent = '';
  if (o.store.devices) {
    const replayed = new Set(o.devices);
    const all = new Set<string>();
    for (const d of await o.store.devices({ from: o.from, to: o.to })) if (replayed.has(d.device)) for (const f of d.fields) all.add(f);
    const list = [...all].sort();
    if (list.length) sent = `; ${o.devices.length === 1 ? 'it' : 'they'} sent ${list.slice(0, SENT_SHOWN).join(', ')}${list.length > SENT_SHOWN ? ` and ${list.length - SENT_SHOWN} more` : ''}`;
  }
  return `no reading of ${names} from the ${who} in this range: check the field's name${sent}`;
}
