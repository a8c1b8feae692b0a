/**
 * Reports on the real runtime with the default flow pack: a device publishes a
 * day of meter readings over MQTT, POST /api/v1/reports/run produces a report
 * from what was stored, and its files download with the API key.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import mqtt from 'mqtt';
import { eventually, startRuntime, type Runtime } from '../helpers/runtime';

const HOUR = 3_600_000;
const DAY0 = Date.UTC(2026, 9, 4);

describe('reports on the running pipeline', () => {
  let rt: Runtime;
  before(async () => {
    rt = await startRuntime();
  });
  after(async () => {
    await rt?.stop();
    if (rt) rmSync(rt.dataDir, { recursive: true, force: true });
  });

  const post = (path: string, body: unknown, auth = true) =>
    fetch(rt.url + path, { method: 'POST', headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${rt.apiKey}` } : {}) }, body: JSON.stringify(body) });

  test('readings sent over MQTT come back as a report with the values a person would compute', async () => {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqttPort}`, { clientId: 'report-meter' });
    const values: number[] = [];
    for (let h = 0; h < 24; h++) {
      const power = 1000 + 100 * h;
      values.push(power);
      await client.publishAsync('devices/meter-9/telemetry', JSON.stringify({ ts: DAY0 + h * HOUR, fields: { power }, tags: { customer: 'acme' } }), { qos: 1 });
    }
    await client.endAsync();
    await eventually(async () => {
      const r = await rt.get(`/api/v1/readings?device=meter-9&limit=100`);
      const body = (await r.json()) as { readings: unknown[] };
      return body.readings.length === 24 ? true : undefined;
    }, 20_000, '24 stored readings');

    assert.equal((await post('/api/v1/reports/run', { name: 'meter 9' }, false)).status, 401);
    const res = await post('/api/v1/reports/run', {
      name: 'meter 9',
      devices: { mode: 'tag', tag: 'customer', value: 'acme' },
      fields: ['power'],
      from: DAY0,
      to: DAY0 + 24 * HOUR,
      expectedEvery: '1h',
      units: { power: 'W' },
    });
    assert.equal(res.status, 201, await res.clone().text());
    const created = (await res.json()) as { id: string; files: Array<{ name: string; url: string }> };
    const csvUrl = created.files.find((f) => f.name.endsWith('.csv'))!.url;
    const csv = (await (await rt.get(csvUrl)).text()).split('\r\n');
    const cols = csv[0].split(',');
    const row = Object.fromEntries(csv[1].split(',').map((v, i) => [cols[i], v]));
    // Trapezoids between hourly readings rising by 100 W: 23 hours averaging 2150 W.
    assert.deepEqual(
      [row.device, row.count, row.min, row.max, row.mean, row.sum, row.integral, row.completeness_pct],
      ['meter-9', '24', '1000', '3300', String(values.reduce((a, b) => a + b) / 24), String(values.reduce((a, b) => a + b)), String(23 * 2150), '100.00'],
    );
    const pdf = await rt.get(created.files.find((f) => f.name.endsWith('.pdf'))!.url);
    assert.equal(pdf.headers.get('content-type'), 'application/pdf');
    assert.equal(Buffer.from(await pdf.arrayBuffer()).subarray(0, 5).toString(), '%PDF-');
    const list = (await (await rt.get('/api/v1/reports')).json()) as { reports: Array<{ id: string }> };
    assert.deepEqual(list.reports.map((r) => r.id), [created.id]);

    // The default pack has no invoice node: the invoice route says so.
    const inv = await post('/api/v1/invoices/run', { period: '2026-10', customer: 'acme' });
    assert.equal(inv.status, 503);
    assert.equal(((await inv.json()) as { error: { code: string } }).error.code, 'NOT_DEPLOYED');
  });

  test('a listed device that sent nothing in the period has its rows, count 0 and completeness 0, with the fields left empty', async () => {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqttPort}`, { clientId: 'report-silent' });
    const before = Date.UTC(2026, 10, 20);
    for (let h = 0; h < 6; h++) await client.publishAsync('devices/meter-quiet/telemetry', JSON.stringify({ ts: before + h * HOUR, fields: { power: 10 + h } }), { qos: 1 });
    await client.endAsync();
    await eventually(async () => {
      const body = (await (await rt.get('/api/v1/readings?device=meter-quiet&limit=100')).json()) as { readings: unknown[] };
      return body.readings.length === 6 ? true : undefined;
    }, 20_000, '6 stored readings');
    const res = await post('/api/v1/reports/run', { name: 'quiet', devices: { mode: 'list', list: ['meter-quiet'] }, expectedEvery: '1h', from: '2026-11-25', to: '2026-11-26' });
    assert.equal(res.status, 201, await res.clone().text());
    const created = (await res.json()) as { files: Array<{ name: string; url: string }> };
    const csv = (await (await rt.get(created.files.find((f) => f.name.endsWith('.csv'))!.url)).text()).trimEnd().split('\r\n');
    const cols = csv[0].split(',');
    const rows = csv.slice(1).map((l) => Object.fromEntries(l.split(',').map((v, i) => [cols[i], v])));
    assert.deepEqual(rows.map((r) => [r.device, r.field, r.count, r.completeness_pct, r.gaps, r.longest_gap_s]), [['meter-quiet', 'power', '0', '0.00', '1', '86400']]);
  });
});
