/** The MQTT input through a connection config node to a real, external mosquitto. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { encode } from '../../nodes/lib/codec';
import { eventually, startRuntime, type Runtime } from '../helpers/runtime';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto';
import { tempDir } from '../helpers/temp';

let mosq: Mosquitto;
let rt: Runtime;

before(async () => {
  mosq = await startMosquitto();
  const dataDir = tempDir('us-ext-');
  // The default pack, with its input switched to the external broker.
  const flows = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'flows', 'pipeline.json'), 'utf8')) as Array<Record<string, unknown>>;
  flows.push({ id: 'ext_conn', type: 'upperstack-mqtt-connection', name: 'mosquitto', url: `mqtt://127.0.0.1:${mosq.port}`, clientId: 'upperstack-e2e', protocolVersion: 5, persistent: true, keepalive: 30, ca: '', cert: '', key: '', rejectUnauthorized: true, configVersion: 1 });
  for (const n of flows) {
    if (n.type === 'upperstack-mqtt-in') {
      n.source = 'external';
      n.connection = 'ext_conn';
    }
  }
  writeFileSync(join(dataDir, 'flows.json'), JSON.stringify(flows));
  rt = await startRuntime({ dataDir });
});

after(async () => {
  await rt?.stop();
  await mosq?.stop();
});

test('readings published to an external mosquitto at QoS 1 and 2 are stored', async () => {
  execFileSync('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(mosq.port), '-q', '1', '-t', 'devices/ext1/telemetry', '-m', '{"temperature":19.5,"ts":1767225600000}']);
  execFileSync('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(mosq.port), '-q', '2', '-t', 'devices/ext1/telemetry', '-m', '{"temperature":19.75,"ts":1767225601000}']);
  const readings = await eventually(async () => {
    const res = await rt.get('/api/v1/readings?device=ext1');
    const body = (await res.json()) as { readings: Array<{ ts: string; fields: Record<string, unknown> }> };
    return body.readings.length >= 2 ? body.readings : undefined;
  }, 20_000, 'two readings from mosquitto');
  assert.deepEqual(readings.map((r) => [r.ts, r.fields.temperature]), [
    ['2026-01-01T00:00:00.000Z', 19.5],
    ['2026-01-01T00:00:01.000Z', 19.75],
  ]);
});

test('an MQTT 5 content type picks the decoder: protobuf on the auto-format topic', async () => {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${mosq.port}`, { protocolVersion: 5 });
  await client.publishAsync('devices/ext2/telemetry', encode('protobuf', { device: 'ext2', ts: 1767225600000, fields: { v: 3 }, tags: {} }, { protoType: 'upperstack.Reading' }), { qos: 1, properties: { contentType: 'application/x-protobuf' } });
  await client.endAsync();
  const readings = await eventually(async () => {
    const res = await rt.get('/api/v1/readings?device=ext2');
    const body = (await res.json()) as { readings: Array<{ fields: Record<string, unknown> }> };
    return body.readings.length ? body.readings : undefined;
  }, 20_000, 'the protobuf reading');
  assert.equal(readings[0].fields.v, 3);
});
