/** The roll-up query row: hourly means over a year from the 1-hour tier against the raw rows. */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDbStore } from '../nodes/lib/store/duckdb';
import { percentile } from './common';
import { tempDir } from '../test/helpers/temp';
import type { RollupBenchRow } from './influx-knobs';

/** A year of 1-minute readings of one device; hourly means from the 1-hour tier vs from the raw rows. */
export async function benchRollup(runs = 21): Promise<RollupBenchRow> {
  const dir = tempDir('us-bench-rollup-');
  const store = new DuckDbStore({ path: join(dir, 'year.duckdb'), rollups: true });
  try {
    await store.open();
    const from = Date.UTC(2025, 0, 1);
    const points = 365 * 24 * 60;
    const t0 = Date.now();
    for (let i = 0; i < points; ) {
      const batch = [];
      for (let j = 0; j < 5000 && i < points; j++, i++) batch.push({ device: 'year', ts: from + i * 60_000, fields: { v: 20 + 5 * Math.sin(i / 720) + (i % 7) / 10 }, tags: {} });
      await store.write(batch);
    }
    const writeSeconds = (Date.now() - t0) / 1000;
    const q = { device: 'year', field: 'v', from, to: from + points * 60_000, everyMs: 3_600_000, fn: 'mean' as const };
    const tiered: number[] = [];
    let tier = '';
    let fromTier: Array<{ ts: number; value: unknown }> = [];
    for (let i = 0; i < runs; i++) {
      const s = process.hrtime.bigint();
      const r = await store.aggregateWithTier(q);
      tiered.push(Number(process.hrtime.bigint() - s) / 1e6);
      tier = r.tier;
      fromTier = r.points;
    }
    const raw: number[] = [];
    let fromRaw: Array<{ ts: number; value: unknown }> = [];
    for (let i = 0; i < Math.max(3, Math.floor(runs / 4)); i++) {
      const s = process.hrtime.bigint();
      fromRaw = await store.aggregateRaw(q);
      raw.push(Number(process.hrtime.bigint() - s) / 1e6);
    }
    const equal = fromTier.length === fromRaw.length && fromTier.every((p, i) => p.ts === fromRaw[i].ts && Math.abs(Number(p.value) - Number(fromRaw[i].value)) < 1e-9);
    return {
      points,
      writeSeconds,
      buckets: fromTier.length,
      tier,
      tierP50Ms: percentile(tiered.sort((a, b) => a - b), 50),
      rawP50Ms: percentile(raw.sort((a, b) => a - b), 50),
      runs,
      equal,
    };
  } finally {
    await store.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}
