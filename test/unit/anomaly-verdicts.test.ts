/**
 * The default detector's verdicts on two NAB series, every field of every
 * verdict (score, band, detector, reason), are exactly those of the engine
 * before its CPU work was cut (main at 8d79167; one change of words since,
 * below): work per reading may change, what the engine says may not. The digests below were taken with that
 * engine on these files; the same readings through the worker thread give
 * the same results. Data: the first 3,000 readings of
 * artificialWithAnomaly/art_load_balancer_spikes.csv and all of
 * realKnownCause/rogue_agent_key_hold.csv (NAB, MIT licence in
 * test/fixtures/anomaly/nab/LICENSE.txt).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AnomalyEngine, type ReadingResult } from '../../nodes/lib/anomaly/engine';
import { parseSeriesCsv } from '../../nodes/lib/anomaly/csv';
import { InProcessEngineHost, WorkerEngineHost, type EngineHost } from '../../nodes/lib/anomaly/remote/host';
import type { Reading } from '../../nodes/lib/reading';

const DIR = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'anomaly', 'nab');

/** Both series as two devices, interleaved (each device's readings in order); one field each, one with a unit. */
function readings(): Reading[] {
  const lb = parseSeriesCsv(readFileSync(join(DIR, 'art_load_balancer_spikes-first-3000.csv'), 'utf8')).points;
  const rogue = parseSeriesCsv(readFileSync(join(DIR, 'rogue_agent_key_hold.csv'), 'utf8')).points;
  const out: Reading[] = [];
  for (let i = 0; i < Math.max(lb.length, rogue.length); i++) {
    if (i < lb.length) out.push({ device: 'balancer', ts: lb[i].ts, fields: { latency: lb[i].value }, tags: {} });
    if (i < rogue.length) out.push({ device: 'agent', ts: rogue[i].ts, fields: { hold: rogue[i].value }, tags: {} });
  }
  return out;
}

const OPTIONS = { units: { latency: 's' }, heartbeat: false as const };

/**
 * The digest was taken before verdicts named their field: each verdict's `field` is checked to be its key and
 * then left out, so the digest still covers every number and word the engine said before.
 */
function digest(results: ReadingResult[]): string {
  const h = createHash('sha256');
  for (const r of results) {
    for (const [field, v] of Object.entries(r.anomaly)) if (v) assert.equal(v.field, field);
    h.update(`${JSON.stringify(r, withoutVerdictField)}\n`);
  }
  return h.digest('hex');
}

function withoutVerdictField(this: unknown, key: string, value: unknown): unknown {
  return key === 'field' && typeof (this as { score?: unknown }).score === 'number' ? undefined : value;
}

test('the default detector gives the same verdicts, reasons included, as before (NAB series)', () => {
  const rs = readings();
  const engine = new AnomalyEngine({ ...OPTIONS, clock: () => 0 });
  const results = rs.map((r) => engine.process(r));
  const alarms = results.filter((r) => r.isAnomaly).map((r) => {
    const [field, v] = Object.entries(r.anomaly)[0];
    return `${r.device} ${new Date(r.ts).toISOString()} ${field} ${v!.detector}: ${v!.reason}`;
  });
  // Readable first: the alarms, in words.
  assert.deepEqual(alarms, [
    "balancer 2014-04-01T05:45:00.000Z latency zscore: latency 0.147 s differs from its 5.8-hour median of 0 s, which has not varied at all",
    "agent 2014-07-07T22:55:00.000Z hold zscore: hold 0.227 is 6.6σ above its 27-hour median of 0.0673",
    "agent 2014-07-08T20:05:00.000Z hold novelty: hold 0.101 is at a level not seen in the past 2 days (147 readings): nothing between about 0.0932 and 0.112",
    "balancer 2014-04-01T15:00:00.000Z latency novelty: latency 2.65 s is higher than anything in the past 15 hours (180 readings); the highest before was about 0.253 s",
    "agent 2014-07-09T22:50:00.000Z hold novelty: hold 0.532 is at a level not seen in the past 3.1 days (245 readings): nothing between about 0.225 and 0.66",
    "agent 2014-07-11T12:00:00.000Z hold flatline: hold has been stuck at 0 for 4.4 hours (52 readings); before, it never stayed the same for more than 26 readings",
    "agent 2014-07-11T17:15:00.000Z hold novelty: hold 0.895 is higher than anything in the past 4.9 days (432 readings); the highest before was about 0.66",
    "balancer 2014-04-02T21:30:00.000Z latency novelty: latency 3.08 s is higher than anything in the past 46 hours (546 readings); the highest before was about 2.61 s",
    "agent 2014-07-17T13:05:00.000Z hold novelty: hold 0.182 is at a level not seen in the past 11 days (1,324 readings): nothing between about 0.156 and 0.225",
    "agent 2014-07-22T12:40:00.000Z hold novelty: hold 0.35 is at a level not seen in the past 2.2 weeks (1,569 readings): nothing between about 0.253 and 0.529",
    "balancer 2014-04-06T14:40:00.000Z latency flatline: latency has stayed at 0 s for 8.3 hours (100 readings), longer than it usually does (a spell like this comes about once in 10.6 million readings); before, it never stayed the same for more than 87 readings",
    "balancer 2014-04-07T23:05:00.000Z latency holtwinters: latency has been unusually far from normal over its last 10 readings, furthest at 0.29 s (a spell like this comes about once in 76.5 million readings); latest 0.245 s, expected about 0.00402 s",
    "balancer 2014-04-11T00:20:00.000Z latency zscore: latency has been unusually far from normal over its last 10 readings, furthest at 2.76 s (a spell like this comes about once in 80.9 million readings); latest 1.87 s, expected about 0 s",
  ]);
  // Then everything: score, expected value, band, detector and reason of every verdict of every reading.
  assert.equal(results.length, 4882);
  assert.equal(digest(results), EXPECTED);
});

test('the worker thread gives the same results on the same NAB readings', async () => {
  const rs = readings();
  const engine = new AnomalyEngine({ ...OPTIONS, clock: () => 0 });
  const host = new WorkerEngineHost({ engine: OPTIONS, heartbeatEveryMs: null, events: { onHeartbeats: () => undefined } });
  await host.start();
  try {
    // Messages of 1 to 7 readings, all handed over at once: several share one batch to the worker.
    const messages: Reading[][] = [];
    for (let i = 0, n = 1; i < rs.length; i += n, n = (n % 7) + 1) messages.push(rs.slice(i, i + n));
    const remote = await Promise.all(messages.map((m) => host.process(m)));
    const local = messages.map((m) => engine.process(m));
    assert.deepEqual(remote, local);
    assert.equal(digest(remote.flat()), EXPECTED);
  } finally {
    await host.close();
  }
});

/** Messages of 1 to 7 readings. */
function messagesOf(rs: Reading[]): Reading[][] {
  const messages: Reading[][] = [];
  for (let i = 0, n = 1; i < rs.length; i += n, n = (n % 7) + 1) messages.push(rs.slice(i, i + n));
  return messages;
}

for (const mode of ['worker', 'in-process'] as const) {
  test(`only the anomalous readings, through the ${mode} host: the same results as the engine gives them, at the same positions`, async () => {
    const rs = readings();
    const engine = new AnomalyEngine({ ...OPTIONS, clock: () => 0 });
    const o = { engine: OPTIONS, heartbeatEveryMs: null, events: { onHeartbeats: () => undefined } };
    const host: EngineHost = mode === 'worker' ? new WorkerEngineHost(o) : new InProcessEngineHost(o);
    await host.start();
    try {
      const messages = messagesOf(rs);
      // Some messages in full among the flagged-only ones: a batch to the worker may hold both.
      const remote = await Promise.all(messages.map((m, i) => (i % 5 === 0 ? host.process(m) : host.processFlagged(m))));
      const local = messages.map((m) => engine.process(m));
      let flaggedSeen = 0;
      let judgedSeen = 0;
      remote.forEach((r, i) => {
        if (Array.isArray(r)) return assert.deepEqual(r, local[i]);
        const want = local[i].flatMap((x, k) => (x.isAnomaly ? [k] : []));
        assert.deepEqual(r.index, want, `message ${i}`);
        assert.deepEqual(r.results, want.map((k) => local[i][k]), `message ${i}`);
        const judged = local[i].some((x) => Object.values(x.anomaly).some((v) => v !== null));
        // A batch to the worker says whether any of its readings had a verdict: at least this message's.
        if (judged) assert.equal(r.judged, true, `message ${i}`);
        if (mode === 'in-process') assert.equal(r.judged, judged, `message ${i}`);
        flaggedSeen += want.length;
        if (judged) judgedSeen++;
      });
      assert.ok(flaggedSeen >= 10, `anomalies among the flagged-only messages: ${flaggedSeen}`);
      assert.ok(judgedSeen > 0);
    } finally {
      await host.close();
    }
  });
}

/**
 * sha256 of every result as JSON, one line per reading, from the engine at 8d79167, with one change of words
 * since: a z-score reading past its threshold yet under the raised bar of a recent swing no longer says "within
 * the usual range" (105 of the 4,882 readings, their reasons only; scores, bands and verdicts compared equal),
 * and one more: an unusual spell explained by flatline says how long the series stayed still, not that it was far
 * from normal (reasons only, as the layer words them), and a Holt-Winters reading past its threshold yet under
 * the raised bar of a recent swing no longer says "close to", and flatline between two alarms of one stuck run says
 * it is still stuck, not "within what it usually does" (reasons only). Then one change of numbers: Holt-Winters carries
 * its trend over at most 1/beta readings across a gap, so its forecasts after the agent series' gaps of up to 547
 * readings move (expected values, bands, scores); the alarms listed above are the same.
 */
const EXPECTED = '0bac2b5ab378d4a98490417fd58846db29ce50efa0fce08571881b0c403ccf3a';
