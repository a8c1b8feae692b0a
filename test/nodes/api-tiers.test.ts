/**
 * The query API over a DuckDB store names the roll-up tier that answered an
 * aggregate, in the JSON body and in the Upperstack-Tier header: the coarsest
 * tier whose buckets answer `every` exactly, the raw rows otherwise.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useApiRuntime } from '../helpers/api-runtime';

const KEY = 'api-tiers-test-key';
/** Midnight UTC: on every tier's bucket boundary. */
const T0 = Date.UTC(2026, 0, 1);

describe('aggregate tier through the query API (DuckDB)', () => {
  const served = useApiRuntime('us-api-tiers-', KEY, {
    // Six hours of a reading every 30 s.
    seed: (cfg) => cfg.store.write(Array.from({ length: 6 * 120 }, (_, i) => ({ device: 'd', ts: T0 + i * 30_000, fields: { v: i }, tags: {} }))),
  });

  async function aggregate(every: string, accept?: string) {
    const from = new Date(T0).toISOString();
    const to = new Date(T0 + 6 * 3_600_000).toISOString();
    const res = await fetch(`${served.url}/api/v1/readings/aggregate?device=d&field=v&fn=count&every=${every}&from=${from}&to=${to}`, {
      headers: { authorization: `Bearer ${KEY}`, ...(accept ? { accept } : {}) },
    });
    const text = await res.text();
    assert.equal(res.status, 200, text);
    return { header: res.headers.get('upperstack-tier'), text };
  }

  const cases: Array<[string, string, number]> = [
    // every, tier, buckets over the six hours
    ['1h', '1h', 6],
    ['2h', '1h', 3],
    ['1m', '1m', 360],
    ['7m', '1m', 52],
    ['90s', 'raw', 240],
    ['45s', 'raw', 480],
  ];
  for (const [every, tier, buckets] of cases) {
    test(`every=${every} is answered by the ${tier} tier, named in the body and the header`, async () => {
      const { header, text } = await aggregate(every);
      const body = JSON.parse(text) as { tier?: string; every: string; points: Array<{ ts: string; value: number }> };
      assert.equal(body.tier, tier);
      assert.equal(header, tier);
      assert.equal(body.every, every);
      assert.equal(body.points.length, buckets);
      // The tier's answer is the raw rows' answer: every reading counted once.
      assert.equal(
        body.points.reduce((n, p) => n + p.value, 0),
        720,
      );
    });
  }

  test('CSV carries the tier in the header', async () => {
    const { header, text } = await aggregate('1h', 'text/csv');
    assert.equal(header, '1h');
    assert.match(text.split(/\r?\n/)[0], /^ts,/);
  });
});
