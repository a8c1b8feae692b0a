/**
 * "Alerts raised" for reports, from the alert transitions the alert node
 * writes to the store (one row per transition: field `alert.<rule>` holds the
 * new state, tags `event`, `severity`, `message`, `reason`, `rule`). Stored
 * rows, not the engine's memory, so a report of last month sees alerts from
 * before a restart. An alert counts once per occurrence, when it starts
 * firing (a flapping alert that fires again within one occurrence is not a new one).
 */
import { ALERT_FIELD_PREFIX, type TimeSeriesStore } from '../store/types';
import type { EventSource, ReportEvent } from './sources';

const PAGE = 1000;

/** True for a row that records an alert starting to fire (two transitions at one instant are joined with "+"). */
function raised(tags: Record<string, string> | undefined): boolean {
  return (tags?.event ?? '').split('+').includes('firing');
}

export function storedAlerts(store: TimeSeriesStore): EventSource {
  return {
    describe: 'alert history (alerts that started firing)',
    async events(q) {
      const byDevice: Record<string, number> = {};
      const items: ReportEvent[] = [];
      let total = 0;
      if (!store.devices) return { total, byDevice, items };
      const wanted = new Set(q.devices);
      const found = await store.devices({ from: q.from, to: q.to });
      for (const d of found) {
        if (!wanted.has(d.device)) continue;
        const fields = [...(d.alerts ?? []), ...d.fields.filter((f) => f.startsWith(ALERT_FIELD_PREFIX))];
        if (!fields.length) continue;
        const seen = new Set<string>();
        let cursor: string | undefined;
        do {
          const page = await store.readings({ device: d.device, fields, from: q.from, to: q.to, limit: PAGE, cursor });
          for (const r of page.readings) {
            if (!raised(r.tags)) continue;
            const occurrence = `${r.tags?.alert ?? Object.keys(r.fields)[0]}#${r.tags?.occurrences ?? r.ts}`;
            if (seen.has(occurrence)) continue;
            seen.add(occurrence);
            total++;
            byDevice[d.device] = (byDevice[d.device] ?? 0) + 1;
            if (items.length < q.limit) {
              const t = r.tags ?? {};
              const what = t.message || t.reason || `rule ${t.rule ?? Object.keys(r.fields)[0]?.slice(ALERT_FIELD_PREFIX.length) ?? ''}`;
              items.push({ ts: r.ts, device: d.device, text: t.severity ? `${t.severity}: ${what}` : what });
            }
          }
          cursor = page.nextCursor;
        } while (cursor);
      }
      items.sort((a, b) => a.ts - b.ts);
      return { total, byDevice, items };
    },
  };
}
