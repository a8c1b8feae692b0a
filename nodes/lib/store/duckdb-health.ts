/**
 * The DuckDB store's health check, what /health and the writer's refusal test
 * ask: writable, by a write of readings that committed a moment ago or else by
 * a committed probe. Kept apart from duckdb.ts, whose methods are the data's
 * path; this one runs only when asked.
 */
import type { StoreHealth } from './types';
import type { StoreMemory } from './duckdb-schema';
import { message } from './duckdb-errors';

/** How recent a committed write of readings must be for health() to take it as the proof of writability. */
const RECENT_COMMIT_MS = 5_000;

/** What the check needs of the store: its state and the two ways to read its memory (the probe writes first). */
export interface HealthSubject {
  path: string;
  closed: boolean;
  committedAt: number;
  failedAt: number;
  memory(): Promise<StoreMemory | undefined>;
  probe(): Promise<StoreMemory | undefined>;
}

export async function storeHealth(s: HealthSubject): Promise<StoreHealth> {
  const where = s.path === ':memory:' ? 'in-memory DuckDB' : `DuckDB file ${s.path}`;
  if (s.closed) return { ok: false, detail: `${where} is closed` };
  try {
    // A write of readings that committed a moment ago, with nothing failing since, is the same
    // proof as the probe's committed write; the probe would hold the writes' queue (5 statements,
    // every few seconds while /health is watched) just when the store is busiest.
    const since = Date.now() - s.committedAt;
    if (s.committedAt > s.failedAt && since < RECENT_COMMIT_MS) {
      // The figures are extra: a failing read of them says nothing about the writes.
      const memory = await s.memory().catch(() => undefined);
      return { ok: true, detail: `${where} is writable (a write committed ${since} ms ago); memory ${memory?.memory_usage ?? '?'} of ${memory?.memory_limit ?? '?'}` };
    }
    // A committed write, not just a read: a full disk or lost file shows here.
    const memory = await s.probe();
    return { ok: true, detail: `${where} is writable; memory ${memory?.memory_usage ?? '?'} of ${memory?.memory_limit ?? '?'}` };
  } catch (err) {
    return { ok: false, detail: message(err) };
  }
}
