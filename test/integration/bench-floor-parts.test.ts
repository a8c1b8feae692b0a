/**
 * The floor table's parts (bench/batch-floor.ts), each measured on a small
 * count: the embedded broker fed by the bench's real publisher processes, the
 * input path, DuckDB store writes and the anomaly judgement. `npm run bench`
 * measures them on larger counts; this is what says they still run and each
 * yields a CPU time a reading.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { measureFloorParts } from '../../bench/batch-floor';

test('every part of the floor table is measured: a CPU time a reading, above zero and finite', { timeout: 300_000 }, async () => {
  const steps: string[] = [];
  const parts = await measureFloorParts((s) => steps.push(s.trim()), { broker: 20_000, input: 5_000, storeWrites: 4, storeSize: 2_000, anomaly: 5_000, parse: 2_000 });
  assert.equal(steps.length, 4, steps.join('; '));
  for (const [name, us] of Object.entries(parts)) {
    assert.ok(Number.isFinite(us) && us > 0, `${name}: ${us}`);
    // Loose: a part a thousand times its usual cost (~0.5–5 µs) is a measurement gone wrong, whatever the machine.
    assert.ok(us < 5_000, `${name}: ${us} µs a reading`);
  }
});
