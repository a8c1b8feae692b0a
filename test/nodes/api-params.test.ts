/**
 * The query API's routes take each of their parameters once, by name, as
 * valid percent-encoding: a repeated parameter, one in brackets, one the route
 * does not take (a misspelt or unsupported filter) or bytes that are not
 * percent-encoding are a 400 naming it, where the route used to answer 200
 * with the first value, without the filter or for the literal text. A "+" of
 * a UTC offset typed into the URL (read as a space) is named with its fix.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useApiRuntime } from '../helpers/api-runtime';

const KEY = 'api-params-test-key';
const T0 = Date.UTC(2026, 0, 1);

describe('query API parameters as a URL carries them', () => {
  const served = useApiRuntime('us-api-params-', KEY, {
    /* eslint-disable @typescript-eslint/no-require-imports */
    modules: [require('../../nodes/report/report'), require('../../nodes/invoice/invoice'), require('../../nodes/alert/alert')],
    /* eslint-enable @typescript-eslint/no-require-imports */
    flow: [{ id: 'alert', type: 'upperstack-alert', z: 'tab', store: 'cfg', broker: '', topic: 'upperstack/alerts', configVersion: 1, wires: [[], []] }],
    seed: async (cfg) => {
      // Two devices at two sites, a reading a minute for an hour.
      for (const [device, site] of [
        ['d1', 'lab'],
        ['d2', 'roof'],
      ]) {
        await cfg.store.write(Array.from({ length: 60 }, (_, i) => ({ device, ts: T0 + i * 60_000, fields: { t: i, h: 50 }, tags: { site } })));
      }
      await cfg.store.writeDeadLetters([
        { ts: T0, device: 'd1', source: 'http:/ingest/d1', code: 'DECODE_FAILED', reason: 'not JSON', payload: '{x' },
        { ts: T0 + 1000, device: 'd1', source: 'http:/ingest/d1', code: 'SCHEMA_VIOLATION', reason: 'out of range', payload: '{}' },
      ]);
    },
  });

  /** GET with the key; the path and query exactly as written here. */
  async function get(pathAndQuery: string): Promise<{ status: number; body: { error?: { code: string; parameter?: string; message: string } } & Record<string, unknown> }> {
    const res = await fetch(`${served.url}${pathAndQuery}`, { headers: { authorization: `Bearer ${KEY}` } });
    return { status: res.status, body: (await res.json()) as { error?: { code: string; parameter?: string; message: string } } };
  }

  function refused(r: Awaited<ReturnType<typeof get>>, parameter: string, message: RegExp): void {
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.equal(r.body.error?.code, 'BAD_PARAMETER');
    assert.equal(r.body.error?.parameter, parameter);
    assert.match(r.body.error?.message ?? '', message);
  }

  test('a parameter given twice is refused by name instead of answering for the first value', async () => {
    refused(await get('/api/v1/readings?device=d1&device=d2'), 'device', /"device" is given 2 times; give it once/);
    refused(await get('/api/v1/readings/aggregate?device=d1&field=t&every=1h&fn=mean&fn=max'), 'fn', /"fn" is given 2 times/);
    refused(await get('/api/v1/deadletters?code=DECODE_FAILED&code=SCHEMA_VIOLATION'), 'code', /"code" is given 2 times; give it once \(.*separated by commas\)/);
    // As the message says: several codes in one.
    const both = await get('/api/v1/deadletters?code=DECODE_FAILED,SCHEMA_VIOLATION');
    assert.equal(both.status, 200);
    assert.equal((both.body.deadLetters as unknown[]).length, 2);
  });

  test('a parameter in brackets is refused by name', async () => {
    refused(await get('/api/v1/readings?device[]=d1'), 'device', /"device" must be given once as device=value, without brackets/);
    refused(await get('/api/v1/readings?device[x]=d1'), 'device', /without brackets/);
  });

  test('a parameter the route does not take is refused by name, listing those it takes', async () => {
    // A tag filter the readings route has not: answered before with both sites' readings.
    refused(await get('/api/v1/readings?device=d1&tags=site:roof'), 'tags', /"tags" is not a parameter of \/api\/v1\/readings; it takes device, from, to, fields, limit, cursor/);
    // The aggregate's "field" on the readings route, and the other way round: before, every field, or a 400 for the wrong one.
    refused(await get('/api/v1/readings?device=d1&field=t'), 'field', /not a parameter of \/api\/v1\/readings/);
    refused(await get('/api/v1/readings/aggregate?device=d1&fields=t&field=t&every=1h&fn=mean'), 'fields', /"fields" is not a parameter of \/api\/v1\/readings\/aggregate; it takes device, field, from, to, every, fn/);
    // A misspelt range: before, every reading.
    refused(await get('/api/v1/readings?device=d1&form=2026-01-01T00:30:00Z'), 'form', /not a parameter/);
    const right = await get('/api/v1/readings?device=d1&from=2026-01-01T00:30:00Z');
    assert.equal(right.status, 200);
    assert.equal((right.body.readings as unknown[]).length, 30);
  });

  test('a value that is not valid percent-encoding is refused by name instead of read literally', async () => {
    refused(await get('/api/v1/readings?device=%FF'), 'device', /the query parameter "device" is not valid percent-encoding/);
    refused(await get('/api/v1/readings/aggregate?device=d1&field=caf%E9&every=1h&fn=mean'), 'field', /not valid percent-encoding/);
  });

  test('a UTC offset whose "+" the URL turned into a space is named with the fix', async () => {
    refused(await get('/api/v1/readings?device=d1&from=2026-01-01T01:30:00+01:00'), 'from', /"from" has a space where its UTC offset's "\+" belongs.*write it as %2B \(2026-01-01T01:30:00%2B01:00\)/);
    const fixed = await get('/api/v1/readings?device=d1&from=2026-01-01T01:30:00%2B01:00');
    assert.equal(fixed.status, 200);
    assert.equal((fixed.body.readings as Array<{ ts: string }>)[0].ts, '2026-01-01T00:30:00.000Z');
  });

  test('the audit log, reports, invoices and alerts routes check their parameters the same way', async () => {
    // The audit log has the reads above; before, limit=1&limit=50 answered with the first.
    refused(await get('/api/v1/audit?limit=1&limit=50'), 'limit', /"limit" is given 2 times; give it once/);
    refused(await get('/api/v1/audit?action[]=query'), 'action', /without brackets/);
    refused(await get('/api/v1/audit?actor=%FF'), 'actor', /not valid percent-encoding/);
    refused(await get('/api/v1/audit?acton=query'), 'acton', /"acton" is not a parameter of \/api\/v1\/audit; it takes from, to, actor, action, target, outcome, limit, cursor/);
    const audit = await get('/api/v1/audit?action=query&limit=1');
    assert.equal(audit.status, 200, JSON.stringify(audit.body));
    assert.equal((audit.body.entries as unknown[]).length, 1);
    for (const kind of ['reports', 'invoices']) {
      refused(await get(`/api/v1/${kind}?name=a&name=b`), 'name', /"name" is given 2 times/);
      refused(await get(`/api/v1/${kind}?nme=a`), 'nme', new RegExp(`"nme" is not a parameter of /api/v1/${kind}; it takes name`));
      assert.equal((await get(`/api/v1/${kind}?name=a`)).status, 200);
    }
    refused(await get('/api/v1/alerts?device=d1&device=d2'), 'device', /"device" is given 2 times/);
    refused(await get('/api/v1/alerts?sate=firing'), 'sate', /"sate" is not a parameter of \/api\/v1\/alerts; it takes state, device, rule, from, to/);
    refused(await get('/api/v1/alerts/history?limit=5&limit=6'), 'limit', /"limit" is given 2 times/);
    const alerts = await get('/api/v1/alerts?state=firing&device=d1');
    assert.equal(alerts.status, 200, JSON.stringify(alerts.body));
    assert.deepEqual(alerts.body.alerts, []);
  });
});
