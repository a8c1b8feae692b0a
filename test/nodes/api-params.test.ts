/**
 * The query API's routes take each of their parameters once, by name, as
 * valid percent-encoding: a repeated parameter, one in brackets, one the route
 * does not take (a misspelt or unsupported filter) or bytes that are not
 * percent-encoding are a 400 naming it, where the route used to answer 200
 * with the first value, without the filter or for the literal text. A "+" of
 * a UTC offset typed into the URL (read as a space) is named with its fix.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import express from 'express';
import type { NodeAPI } from 'node-red';
import helper from 'node-red-node-test-helper';
import type { StoreConfigNode } from '../../nodes/store-config/options';
import { serveApp } from '../helpers/node-red';
import { tempDir } from '../helpers/temp';

helper.init(require.resolve('node-red'));

const KEY = 'api-params-test-key';
let app: express.Express;
const mount = (r: NodeAPI) => {
  app = express();
  app.use(r.httpAdmin);
  app.use(r.httpNode);
};
/* eslint-disable @typescript-eslint/no-require-imports */
const nodes = [mount, require('../../nodes/store-config/store-config'), require('../../nodes/api/api')];

const flow = [
  { id: 'tab', type: 'tab', label: 'test' },
  { id: 'cfg', type: 'upperstack-store-config', name: 'db', kind: 'duckdb', path: '', batchSize: 100, flushMs: 10, configVersion: 1 },
  { id: 'api', type: 'upperstack-api', z: 'tab', store: 'cfg', configVersion: 1, wires: [] },
];

const T0 = Date.UTC(2026, 0, 1);

describe('query API parameters as a URL carries them', () => {
  let served: Awaited<ReturnType<typeof serveApp>>;

  before(async () => {
    helper.settings({ upperstack: { dataDir: tempDir('us-api-params-'), apiKey: KEY } });
    await helper.startServer();
    await helper.load(nodes, flow);
    const cfg = helper.getNode('cfg') as unknown as StoreConfigNode;
    await cfg.ready;
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
    served = await serveApp(app);
  });
  after(async () => {
    await served.close();
    await helper.unload();
    await helper.stopServer();
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
});
