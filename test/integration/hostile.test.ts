/**
 * Hostile devices against the real runtime and the default flow pack: deep
 * nesting is a DEPTH_EXCEEDED dead letter, settled and never replayed at the
 * next start; nested objects are stored under dotted names.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { DuckDBInstance } from '@duckdb/node-api';
import { Journal } from '../../nodes/lib/journal/journal';
import { eventually, startRuntime, type Runtime } from '../helpers/runtime';

/** Entries the runtime's journals still hold unsettled (read after it stopped). */
function unsettled(dataDir: string): number {
  const root = join(dataDir, 'journal');
  let n = 0;
  for (const id of readdirSync(root)) {
    const j = new Journal({ dir: join(root, id) });
    n += j.open().length;
    j.close();
  }
  return n;
}

async function deadLetterCodes(dataDir: string): Promise<Record<string, string[]>> {
  const db = await DuckDBInstance.create(join(dataDir, 'upperstack.duckdb'));
  try {
    const conn = await db.connect();
    const rows = (await conn.runAndReadAll('SELECT device, code FROM deadletters ORDER BY device')).getRows();
    conn.closeSync();
    const out: Record<string, string[]> = {};
    for (const [device, code] of rows) (out[String(device)] ??= []).push(String(code));
    return out;
  } finally {
    db.closeSync();
  }
}

describe('hostile payloads on the real runtime', () => {
  let rt: Runtime;
  before(async () => {
    rt = await startRuntime();
  });
  after(async () => {
    await rt?.stop();
  });

  test('JSON and MessagePack nested 5,000 to 100,000 deep: DEPTH_EXCEEDED dead letters, settled, not replayed at the next start', async () => {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqttPort}`, { clientId: 'deep-device', username: 'apikey', password: rt.apiKey });
    await client.subscribeAsync('upperstack/deadletter/#', { qos: 0 });
    const letters: Array<{ device: string; code: string; reason: string }> = [];
    client.on('message', (_t, p) => letters.push(JSON.parse(p.toString()) as (typeof letters)[number]));
    const payloads: Array<[string, Buffer]> = [
      ['deep-json', Buffer.from(`${'['.repeat(100_000)}1${']'.repeat(100_000)}`)],
      ['deep-json-obj', Buffer.from(`${'{"a":'.repeat(5_000)}1${'}'.repeat(5_000)}`)],
      ['deep-msgpack', Buffer.concat([Buffer.alloc(100_000, 0x91), Buffer.from([0x01])])],
    ];
    for (const [device, body] of payloads) await client.publishAsync(`devices/${device}/telemetry`, body, { qos: 1 });
    // mosquitto_pub, as a device would use it.
    execFileSync('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(rt.mqttPort), '-q', '1', '-t', 'devices/deep-pub/telemetry', '-m', `${'['.repeat(5_000)}${']'.repeat(5_000)}`]);
    await eventually(async () => (letters.length >= 4 ? true : undefined), 20_000, 'four dead letters');
    await client.endAsync();
    assert.deepEqual(letters.map((l) => [l.device, l.code]).sort(), [['deep-json', 'DEPTH_EXCEEDED'], ['deep-json-obj', 'DEPTH_EXCEEDED'], ['deep-msgpack', 'DEPTH_EXCEEDED'], ['deep-pub', 'DEPTH_EXCEEDED']]);

    // Still storing for everyone else.
    execFileSync('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(rt.mqttPort), '-q', '1', '-t', 'devices/after-deep/telemetry', '-m', '{"v":7}']);
    await eventually(async () => {
      const body = (await (await rt.get('/api/v1/readings?device=after-deep')).json()) as { readings: unknown[] };
      return body.readings.length === 1 ? true : undefined;
    }, 30_000, 'the reading after the deep ones');
    assert.equal((await fetch(`${rt.url}/health`)).status, 200);

    await rt.stop();
    assert.equal(unsettled(rt.dataDir), 0, 'nothing left in the journals to replay');
    rt = await startRuntime({ dataDir: rt.dataDir, httpPort: rt.httpPort, mqttPort: rt.mqttPort });
    await rt.stop();
    const codes = await deadLetterCodes(rt.dataDir);
    for (const device of ['deep-json', 'deep-json-obj', 'deep-msgpack', 'deep-pub']) assert.deepEqual(codes[device], ['DEPTH_EXCEEDED'], `${device}: recorded once, not again at the restart`);
    rt = await startRuntime({ dataDir: rt.dataDir, httpPort: rt.httpPort, mqttPort: rt.mqttPort });
  });

  test('100 readings of 20,000 fields each do not wedge the store: another device is stored and queryable, /health stays 200', async () => {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqttPort}`, { clientId: 'wide-device' });
    for (let i = 0; i < 100; i++) {
      const body = JSON.stringify(Object.fromEntries([['ts', 1767225600000 + i], ...Array.from({ length: 20_000 }, (_, k) => [`f${k}`, k + i])]));
      await client.publishAsync('devices/wide/telemetry', body, { qos: 1 });
    }
    await client.endAsync();
    execFileSync('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(rt.mqttPort), '-q', '1', '-t', 'devices/after-wide/telemetry', '-m', '{"v":3}']);
    const readings = await eventually(async () => {
      const body = (await (await rt.get('/api/v1/readings?device=after-wide')).json()) as { readings: Array<{ fields: Record<string, unknown> }> };
      return body.readings.length ? body.readings : undefined;
    }, 30_000, 'the reading of another device');
    assert.deepEqual(readings[0].fields, { v: 3 });
    assert.equal((await fetch(`${rt.url}/health`)).status, 200);
  });

  test('a nested object in a flat JSON reading is stored under dotted names', async () => {
    execFileSync('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(rt.mqttPort), '-q', '1', '-t', 'devices/nested/telemetry', '-m', '{"ts":1767225600000,"x":1,"n":{"a":2}}']);
    const readings = await eventually(async () => {
      const body = (await (await rt.get('/api/v1/readings?device=nested')).json()) as { readings: Array<{ fields: Record<string, unknown> }> };
      return body.readings.length ? body.readings : undefined;
    }, 30_000, 'the nested reading');
    assert.deepEqual(readings[0].fields, { x: 1, 'n.a': 2 });
  });
});
