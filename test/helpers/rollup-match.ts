/** Checks that an aggregate answered from a roll-up tier equals the same aggregate over the raw rows. */
import assert from 'node:assert/strict';
import type { DuckDbStore } from '../../nodes/lib/store/duckdb';
import type { AggregateFn, AggregatePoint } from '../../nodes/lib/store/types';

export const FNS: AggregateFn[] = ['mean', 'min', 'max', 'sum', 'count', 'last'];

export function sameValue(a: AggregatePoint['value'], b: AggregatePoint['value'], what: string): void {
  if (typeof a === 'number' && typeof b === 'number') {
    // Sums and means add the same values in another order: equal to the last bits only.
    assert.ok(Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b)), `${what}: ${a} vs ${b}`);
  } else {
    assert.deepEqual(a, b, what);
  }
}

/** Every function at minute and hour multiples, for each device and field: the tier's answer is the raw one. */
export async function assertTiersMatchRaw(store: DuckDbStore, devices: string[], fields: string[], from: number, to: number): Promise<void> {
  for (const device of devices) {
    for (const field of fields) {
      for (const fn of FNS) {
        for (const everyMs of [60_000, 300_000, 3_600_000, 2 * 3_600_000]) {
          const q = { device, field, fn, everyMs, from, to };
          const raw = await store.aggregateRaw(q);
          const { points, tier } = await store.aggregateWithTier(q);
          assert.equal(tier, everyMs % 3_600_000 === 0 ? '1h' : '1m');
          const what = `${device}/${field} ${fn} every ${everyMs}`;
          assert.deepEqual(points.map((p) => p.ts), raw.map((p) => p.ts), `${what}: buckets`);
          points.forEach((p, i) => sameValue(p.value, raw[i].value, `${what} @${p.ts}`));
        }
      }
    }
  }
}
