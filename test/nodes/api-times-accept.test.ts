/**
 * The query API over HTTP reads an epoch number in `from` and `to` in the unit its size tells, as the inputs
 * read a reading's time, on every route that takes a range (readings, aggregate, dead letters, the audit log,
 * a backtest's body), and answers JSON or CSV as Accept weighs them, 406 when it takes neither.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useApiRuntime } from '../helpers/api-runtime';

const KEY = 'api-times-test-key';
/** 2026-03-28T22:00:00Z, as `date +%s` prints it. */
const SECONDS = 1774735200;
const T0 = SECONDS * 1000;

describe('query API: epoch times and Accept', () => {
  const served = useApiRuntime('us-api-times-', KEY, {
    // A reading a minute for an hour, and a dead letter each half hour of it.
    seed: async (cfg) => {
      await cfg.store.write(Array.from({ length: 60 }, (_, i) => ({ device: 'd1', ts: T0 + i * 60_000, fields: { t: i % 7 }, tags: {} })));
      await cfg.store.writeDeadLetters([
        { ts: T0, device: 'd1', source: 'http:/ingest/d1', code: 'DECODE_FAILED', reason: 'not JSON', payload: '{x' },
        { ts: T0 + 1_800_000, device: 'd1', source: 'http:/ingest/d1', code: 'DECODE_FAILED', reason: 'not JSON', payload: '{y' },
      ]);
    },
  });

  async function get(pathAndQuery: string, accept?: string): Promise<{ status: number; type: string; vary: string | null; text: string }> {
    const res = await fetch(`${served.url}${pathAndQuery}`, { headers: { authorization: `Bearer ${KEY}`, ...(accept === undefined ? {} : { accept }) } });
    return { status: res.status, type: res.headers.get('content-type') ?? '', vary: res.headers.get('vary'), text: await res.text() };
  }
  const json = async (pathAndQuery: string) => {
    const r = await get(pathAndQuery);
    assert.equal(r.status, 200, r.text);
    return JSON.parse(r.text) as Record<string, unknown[]>;
  };

  test('epoch seconds from `date +%s` name the same moment as milliseconds and ISO 8601 on every route with a range', async () => {
    // The second half hour: 30 readings, 30 one-minute buckets, one dead letter.
    const from = SECONDS + 1800;
    const to = SECONDS + 3600;
    for (const [f, t] of [
      [String(from), String(to)],
      [`${from}000`, `${to}000`],
      [new Date(from * 1000).toISOString(), new Date(to * 1000).toISOString()],
    ]) {
      const range = `from=${f}&to=${t}`;
      const readings = (await json(`/api/v1/readings?device=d1&${range}`)).readings as Array<{ ts: string }>;
      assert.equal(readings.length, 30, range);
      assert.equal(readings[0].ts, '2026-03-28T22:30:00.000Z', range);
      assert.equal((await json(`/api/v1/readings/aggregate?device=d1&field=t&every=1m&fn=count&${range}`)).points.length, 30, range);
      assert.equal((await json(`/api/v1/deadletters?${range}`)).deadLetters.length, 1, range);
    }
    // The audit log keeps refused reads: one made now is after an hour ago, in seconds, and before an hour from now.
    assert.equal((await get('/api/v1/readings')).status, 400);
    const now = Math.floor(Date.now() / 1000);
    assert.ok((await json(`/api/v1/audit?action=query&from=${now - 3600}`)).entries.length >= 1);
    assert.equal((await json(`/api/v1/audit?action=query&from=${now + 3600}`)).entries.length, 0);
    // A backtest's body takes them as numbers or text, as the query string does.
    const backtest = async (body: Record<string, unknown>) => {
      const res = await fetch(`${served.url}/api/v1/anomaly/backtest`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const text = await res.text();
      assert.equal(res.status, 200, text);
      return JSON.parse(text) as unknown;
    };
    const inMs = await backtest({ device: 'd1', field: 't', from: from * 1000, to: to * 1000 });
    assert.deepEqual(await backtest({ device: 'd1', field: 't', from, to }), inMs);
    assert.deepEqual(await backtest({ device: 'd1', field: 't', from: String(from), to: String(to) }), inMs);
    assert.notDeepEqual(await backtest({ device: 'd1', field: 't' }), inMs);
  });

  test('a value past the last date in its unit is a 400 naming the parameter', async () => {
    const r = await get('/api/v1/readings?device=d1&to=900000000000000000000000');
    assert.equal(r.status, 400, r.text);
    assert.deepEqual(JSON.parse(r.text), {
      error: { code: 'BAD_PARAMETER', message: '"to" 9e+23 read as epoch nanoseconds is past the last date there is (+275760-09-13)', parameter: 'to' },
    });
  });

  test('Accept is weighed by its q-values: text/csv named at a lower weight, or at q=0, gets JSON', async () => {
    const cases: Array<[string | undefined, 'json' | 'csv']> = [
      [undefined, 'json'],
      ['application/json, text/csv;q=0.1', 'json'],
      ['text/csv;q=0, */*', 'json'],
      ['text/csv', 'csv'],
      ['application/json;q=0.5, text/csv', 'csv'],
    ];
    for (const path of ['/api/v1/readings?device=d1&limit=2', '/api/v1/readings/aggregate?device=d1&field=t&every=1h&fn=max', '/api/v1/deadletters?limit=1']) {
      for (const [accept, want] of cases) {
        const r = await get(path, accept);
        assert.equal(r.status, 200, `${path} ${accept}: ${r.text}`);
        assert.equal(r.type, want === 'csv' ? 'text/csv; charset=utf-8' : 'application/json; charset=utf-8', `${path} ${accept}`);
        assert.equal(r.vary, 'Accept', `${path} ${accept}`);
        if (want === 'json') JSON.parse(r.text);
        else assert.match(r.text, /^(ts|id),/);
      }
    }
  });

  test('an Accept that takes neither JSON nor CSV is 406 as JSON listing both', async () => {
    for (const accept of ['application/xml', 'text/csv;q=0', 'application/json;q=0, text/csv;q=0']) {
      for (const path of ['/api/v1/readings?device=d1', '/api/v1/readings/aggregate?device=d1&field=t&every=1h&fn=max', '/api/v1/deadletters']) {
        const r = await get(path, accept);
        assert.equal(r.status, 406, `${path} ${accept}: ${r.text}`);
        assert.equal(r.type, 'application/json; charset=utf-8');
        assert.deepEqual(JSON.parse(r.text), {
          error: { code: 'NOT_ACCEPTABLE', message: 'the Accept header takes none of the types served here: application/json (the default), text/csv', accept: ['application/json', 'text/csv'] },
        });
      }
    }
  });
});
