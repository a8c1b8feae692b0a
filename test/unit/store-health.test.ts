import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DuckDbStore, type StoreTraceEvent } from '../../nodes/lib/store/duckdb';
import { duckdbFiles, r, T0 } from '../helpers/duckdb-store';

const { dbPath } = duckdbFiles();

test('health takes a write of readings committed a moment ago as its proof, and probes when none is recent or one failed since', async (t) => {
  const events: StoreTraceEvent[] = [];
  const s = new DuckDbStore({ path: dbPath(), trace: (e) => events.push(e) });
  await s.open();
  // The probe is the one turn of the writes' queue that health() can add.
  const probes = () => events.filter((e) => e.kind === 'op' && e.op === 'health check').length;
  try {
    let h = await s.health();
    assert.deepEqual([h.ok, probes()], [true, 1], 'nothing written yet: the probe runs');

    await s.write([r('d', T0, { a: 1 })]);
    h = await s.health();
    assert.deepEqual([h.ok, probes()], [true, 1], 'a write just committed: no probe');
    assert.match(h.detail, /is writable \(a write committed \d+ ms ago\); memory .+ of .+/, h.detail);

    await assert.rejects(s.write([r('d', T0 + 1, { a: Number.NaN })]));
    h = await s.health();
    assert.deepEqual([h.ok, probes()], [true, 2], 'a write failed since: the probe runs');

    await s.write([r('d', T0 + 2, { a: 2 })]);
    assert.equal((await s.health()).ok, true);
    assert.equal(probes(), 2, 'a write committed after the failure: no probe');
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() });
    t.mock.timers.tick(6_000);
    assert.equal((await s.health()).ok, true);
    assert.equal(probes(), 3, 'the last write is 6 s old: the probe runs');
  } finally {
    t.mock.timers.reset();
    await s.close();
  }
  await s.close();
  assert.equal((await s.health()).ok, false, 'closed');
});
