/** The /health body: times as ISO 8601 like the rest of the API, ages in ms. */
import { isoTime } from './format';
import type { HealthReport } from './health';

export function healthJson(r: HealthReport, now = Date.now()): Record<string, unknown> {
  const iso = (ms: number | undefined) => (ms === undefined ? null : isoTime(ms));
  return {
    status: r.status,
    failing: r.failing,
    problems: r.problems.map((p) => ({ ...p, since: iso(p.since), forMs: Math.max(0, now - p.since) })),
    components: Object.fromEntries(
      Object.entries(r.components).map(([name, c]) => [name, { ...c, ...(c.failingSince !== undefined ? { failingSince: iso(c.failingSince) } : {}) }]),
    ),
    journal: r.journal,
    journals: r.journals.map((j) => ({
      ...j,
      oldestUnsettledAt: iso(j.oldestUnsettledAt),
      oldestUnsettledMs: j.oldestUnsettledAt === undefined ? null : Math.max(0, now - j.oldestUnsettledAt),
      pausedSince: iso(j.pausedSince),
    })),
    disk: r.disk,
  };
}
