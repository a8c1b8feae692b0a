/**
 * Readings that come again: a device that sends a batch a second time (its
 * answer was lost) or a late copy of a reading. The store keeps each reading
 * once, so the anomaly node must learn it once too, or its verdicts differ
 * from a backtest of the same stored series. Data: the first 3,000 readings
 * of artificialWithAnomaly/art_load_balancer_spikes.csv (NAB, MIT licence in
 * test/fixtures/anomaly/nab/LICENSE.txt).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AnomalyEngine } from '../../nodes/lib/anomaly/engine';
import { parseSeriesCsv } from '../../nodes/lib/anomaly/csv';
import { InProcessEngineHost, WorkerEngineHost, type EngineHost } from '../../nodes/lib/anomaly/remote/host';
import type { Reading } from '../../nodes/lib/reading';

const FILE = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'anomaly', 'nab', 'art_load_balancer_spikes-first-3000.csv');

function batches(): Reading[][] {
  const points = parseSeriesCsv(readFileSync(FILE, 'utf8')).points;
  const out: Reading[][] = [];
  for (let i = 0; i < points.length; i += 500) {
    out.push(points.slice(i, i + 500).map((p) => ({ device: 'balancer', ts: p.ts, fields: { latency: p.value }, tags: {} })));
  }
  return out;
}

/** The flagged readings as a user reads them: time and reason. */
type Flag = string;

async function flags(host: EngineHost, sends: Reading[][]): Promise<{ flagged: Flag[]; judgedAgain: number }> {
  const flagged: Flag[] = [];
  const seen = new Set<number>();
  let judgedAgain = 0;
  for (const batch of sends) {
    const results = await host.process(structuredClone(batch));
    for (const r of results) {
      const v = r.anomaly.latency;
      if (v === undefined) continue;
      if (seen.has(r.ts)) judgedAgain++;
      seen.add(r.ts);
      if (v?.isAnomaly) flagged.push(`${new Date(r.ts).toISOString()} ${v.reason}`);
    }
  }
  return { flagged, judgedAgain };
}

const OPTIONS = { heartbeat: false as const };

for (const where of ['main thread', 'worker thread'] as const) {
  test(`every batch sent twice: the same anomalies as one send, and the copies get no verdict (${where})`, async () => {
    const o = { engine: OPTIONS, heartbeatEveryMs: null, events: { onHeartbeats: () => undefined } };
    const host = (): EngineHost => (where === 'worker thread' ? new WorkerEngineHost(o) : new InProcessEngineHost(o));
    const once = host();
    const twice = host();
    await once.start();
    await twice.start();
    try {
      const bs = batches();
      const expected = await flags(once, bs);
      assert.ok(expected.flagged.length > 0, 'the series has anomalies');
      const got = await flags(twice, bs.flatMap((b) => [b, b]));
      assert.deepEqual(got.flagged, expected.flagged);
      assert.equal(got.judgedAgain, 0);
    } finally {
      await once.close(false);
      await twice.close(false);
    }
  });
}

test('a reading older than the last one judged gets no verdict and leaves what the series learned as it was', () => {
  const [first, second] = batches();
  const plain = new AnomalyEngine(OPTIONS);
  const withLate = new AnomalyEngine(OPTIONS);
  plain.process(first);
  withLate.process(first);
  const late = withLate.process({ ...first[100], fields: { latency: 99 } });
  assert.equal(late.anomaly.latency, undefined);
  assert.deepEqual(withLate.process(second), plain.process(second));
});

test('after a restart a batch sent again is still not judged twice', () => {
  const [first] = batches();
  const engine = new AnomalyEngine(OPTIONS);
  engine.process(first);
  const restored = AnomalyEngine.fromJSON(JSON.parse(JSON.stringify(engine.toJSON())) as ReturnType<AnomalyEngine['toJSON']>, OPTIONS);
  const again = restored.process(first);
  assert.ok(again.every((r) => r.anomaly.latency === undefined));
});
