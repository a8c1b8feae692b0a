/** Alert transitions as store rows. */
import type { Reading } from '../lib/reading';
import { ALERT_FIELD_PREFIX } from '../lib/store/types';
import type { AlertEvent } from '../lib/rules/types';

/** Transitions as store rows: field alert.<rule> holds the state, tags the rest. Two at one instant become one row. */
export function alertRows(events: AlertEvent[]): Reading[] {
  const rows = new Map<string, Reading>();
  for (const e of events) {
    const key = `${e.id}\u0000${e.ts}`;
    const prev = rows.get(key);
    const tags: Record<string, string> = {
      alert: e.id,
      rule: e.rule,
      event: prev ? `${prev.tags.event}+${e.event}` : e.event,
      severity: e.severity,
      message: e.message.slice(0, 1000),
      reason: e.reason.slice(0, 1000),
      occurrences: String(e.occurrences),
    };
    if (e.by) tags.by = e.by;
    if (e.note) tags.note = e.note.slice(0, 1000);
    rows.set(key, { device: e.device, ts: e.ts, fields: { [`${ALERT_FIELD_PREFIX}${e.rule}`]: e.state }, tags });
  }
  return [...rows.values()];
}
