/** A store for writer tests whose availability and refusals the test switches, and the small helpers those tests share. */
import { DurableWriter } from '../../nodes/lib/store/writer';
import type { WriterOptions } from '../../nodes/lib/store/writer-types';
import { Journal } from '../../nodes/lib/journal/journal';
import { StoreFailedError, StoreUnavailableError } from '../../nodes/lib/errors';
import type { Reading } from '../../nodes/lib/reading';
import type { DeadLetter, TimeSeriesStore } from '../../nodes/lib/store/types';
import { tempDir } from './temp';

/** A store whose availability the test switches; it keeps rows like the real one (last write wins per key). */
export class SwitchableStore implements TimeSeriesStore {
  readonly kind = 'test';
  up = true;
  /** The health check's answer while up (a store can be reachable yet refuse everything). */
  healthy = true;
  writes = 0;
  sizes: number[] = [];
  /** Readings that make a write fail for their content (not an outage). */
  poison = new Set<number>();
  rows = new Map<string, Reading>();
  letters: DeadLetter[] = [];
  async open() {}
  async write(readings: Reading[]) {
    if (!this.up) throw new StoreUnavailableError('database is down');
    this.writes++;
    this.sizes.push(readings.length);
    const bad = readings.find((r) => this.poison.has(r.ts));
    if (bad) throw new StoreFailedError(`reading at ${bad.ts} cannot be stored`);
    for (const r of readings) this.rows.set(`${r.device}|${r.ts}`, r);
  }
  async writeDeadLetters(l: DeadLetter[]) {
    if (!this.up) throw new StoreUnavailableError('database is down');
    this.letters.push(...l);
  }
  async readings() { return { readings: [] }; }
  async aggregate() { return []; }
  async deadLetters() { return this.letters; }
  async health() { return { ok: this.up && this.healthy, detail: this.up ? 'refuses every write' : 'down' }; }
  async close() {}
}

export const reading = (i: number): Reading => ({ device: 'd', ts: 1_700_000_000_000 + i, fields: { v: i }, tags: {} });
export const writeAsync = (w: DurableWriter, r: Reading[]) => new Promise<void>((res, rej) => w.write(r, (e) => (e ? rej(e) : res())));
export const until = async (cond: () => boolean, ms = 30_000) => {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
};


/**
 * A started writer whose store is down: what it is given waits (in memory, or in `spool`, a fresh one unless
 * given) until the test brings `store` back with `store.up = true`.
 */
export function stalledWriter<S extends SwitchableStore = SwitchableStore>(
  options: WriterOptions,
  spool: Journal = new Journal({ dir: tempDir('us-w-') }),
  store: S = new SwitchableStore() as S,
): { store: S; w: DurableWriter } {
  const w = new DurableWriter(store, spool, options);
  w.start();
  store.up = false;
  return { store, w };
}

/** What a writer reported for each write, in order: 'durable' or 'error: <message>'. */
export function outcomeLog(): { outcomes: string[]; record: (e?: Error) => void } {
  const outcomes: string[] = [];
  return { outcomes, record: (e) => void outcomes.push(e ? `error: ${e.message}` : 'durable') };
}
