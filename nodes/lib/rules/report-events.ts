/**
 * "Alerts raised" for reports: the firing transitions of the alert engine's
 * history that fall in the report's period, for the report's devices. The
 * history is the engine's own (it survives restarts with the engine state) and
 * keeps the latest transitions; a report says so when its period reaches back
 * further than what is kept.
 */
import type { EventQuery, EventSource, ReportEvent } from '../report/sources';
import type { AlertEvent } from './types';

/** `kept`: the most transitions `history()` returns (the engine's historySize). */
export function alertHistorySource(history: () => readonly AlertEvent[], kept: number): EventSource {
  let note = 'from the alert rules\' history';
  return {
    get describe() {
      return note;
    },
    async events(q: EventQuery) {
      const devices = new Set(q.devices);
      const all = history();
      let total = 0;
      const byDevice: Record<string, number> = {};
      const items: ReportEvent[] = [];
      for (const e of all) {
        if (e.event !== 'firing' || e.ts < q.from || e.ts >= q.to || !devices.has(e.device)) continue;
        total++;
        byDevice[e.device] = (byDevice[e.device] ?? 0) + 1;
        if (items.length < q.limit) items.push({ ts: e.ts, device: e.device, field: e.field, text: `${e.severity}: ${e.message}` });
      }
      // The history is newest last; a full one whose oldest entry is inside the period has lost older ones.
      const oldest = all.length ? all[0].ts : undefined;
      note = oldest !== undefined && all.length >= kept && oldest > q.from && oldest < q.to
        ? `from the alert rules' history, which keeps the latest ${all.length} transitions: the period's alerts before ${new Date(oldest).toISOString()} are not counted`
        : 'from the alert rules\' history';
      items.sort((a, b) => a.ts - b.ts);
      return { total, byDevice, items };
    },
  };
}
