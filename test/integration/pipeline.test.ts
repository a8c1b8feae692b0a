/**
 * End to end on the real runtime with the default flow pack: devices publish with
 * Debian's mosquitto_pub and with mqtt.js in every format, and the query API must
 * return exactly what they sent.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createConnection } from 'node:net';
import mqtt from 'mqtt';
import { encode } from '../../nodes/lib/codec';
import { eventually, startRuntime, type Runtime } from '../helpers/runtime';
import { tempDir } from '../helpers/temp';

/** CONNECT + QoS 1 PUBLISH with arbitrary topic bytes; resolves on PUBACK. */
function rawPublish(port: number, topic: Buffer, payload: Buffer): Promise<void> {
  const str = (b: Buffer) => Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);
  const packet = (type: number, body: Buffer) => {
    const len: number[] = [];
    let n = body.length;
    do {
      let byte = n % 128;
      n = Math.floor(n / 128);
      if (n > 0) byte |= 0x80;
      len.push(byte);
    } while (n > 0);
    return Buffer.concat([Buffer.from([type, ...len]), body]);
  };
  const connect = packet(0x10, Buffer.concat([str(Buffer.from('MQTT')), Buffer.from([4, 2, 0, 30]), str(Buffer.from('raw-client'))]));
  const publish = packet(0x32, Buffer.concat([str(topic), Buffer.from([0, 1]), payload]));
  return new Promise((resolve, reject) => {
    const sock = createConnection(port, '127.0.0.1', () => sock.write(Buffer.concat([connect, publish])));
    let seen = Buffer.alloc(0);
    sock.on('data', (d) => {
      seen = Buffer.concat([seen, d]);
      if (seen.includes(Buffer.from([0x40, 0x02, 0x00, 0x01]))) {
        sock.end();
        resolve();
      }
    });
    sock.on('error', reject);
    setTimeout(() => reject(new Error('no PUBACK for the raw publish')), 30_000).unref();
  });
}

interface ApiReading {
  ts: string;
  fields: Record<string, unknown>;
  tags: Record<string, string>;
}

async function readingsOf(rt: Runtime, device: string, expected: number): Promise<ApiReading[]> {
  return eventually(async () => {
    const res = await rt.get(`/api/v1/readings?device=${encodeURIComponent(device)}`);
    if (res.status !== 200) throw new Error(`status ${res.status}: ${await res.text()}`);
    const body = (await res.json()) as { device: string; readings: ApiReading[] };
    return body.readings.length >= expected ? body.readings : undefined;
  }, 30_000, `${expected} readings of ${device}`);
}

async function deadLetterOf(client: mqtt.MqttClient, device: string, publish: () => Promise<unknown>): Promise<{ code: string; reason: string }> {
  const topic = `upperstack/deadletter/${device}`;
  await client.subscribeAsync(topic, { qos: 0 });
  const got = new Promise<{ code: string; reason: string }>((resolve) => {
    const onMessage = (t: string, payload: Buffer) => {
      if (t !== topic) return;
      client.off('message', onMessage);
      resolve(JSON.parse(payload.toString()) as { code: string; reason: string });
    };
    client.on('message', onMessage);
  });
  await publish();
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no dead letter on ${topic}`)), 30_000).unref());
  return Promise.race([got, timeout]);
}

describe('default pipeline, embedded broker', () => {
  let rt: Runtime;
  let client: mqtt.MqttClient;
  before(async () => {
    rt = await startRuntime();
    client = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqttPort}`, { clientId: 'e2e-device', username: 'apikey', password: rt.apiKey });
  });
  after(async () => {
    await client?.endAsync();
    await rt?.stop();
  });

  test('mosquitto_pub at QoS 0 and QoS 1: the API returns the same values and types', async () => {
    execFileSync('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(rt.mqttPort), '-q', '0', '-t', 'devices/dev1/telemetry', '-m', '{"temperature":22.5,"humidity":41,"ts":1767225600000}']);
    execFileSync('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(rt.mqttPort), '-q', '1', '-t', 'devices/dev1/telemetry', '-m', '{"temperature":23.25,"door":true,"mode":"eco","ts":"2026-01-01T00:00:01.500Z"}']);
    const readings = await readingsOf(rt, 'dev1', 2);
    assert.deepEqual(readings, [
      { ts: '2026-01-01T00:00:00.000Z', fields: { temperature: 22.5, humidity: 41 }, tags: {} },
      { ts: '2026-01-01T00:00:01.500Z', fields: { temperature: 23.25, door: true, mode: 'eco' }, tags: {} },
    ]);
  });

  test('a reading without a timestamp is stored at the time it was received', async () => {
    const before = Date.now();
    execFileSync('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(rt.mqttPort), '-q', '1', '-t', 'devices/dev-now/telemetry', '-m', '{"v":1}']);
    const [r] = await readingsOf(rt, 'dev-now', 1);
    const ts = Date.parse(r.ts);
    assert.ok(ts >= before - 5 && ts <= Date.now(), `ts ${r.ts} should be the receive time`);
  });

  test('SenML JSON from mosquitto_pub over MQTT 3.1.1 (no content type): a pack and a lone record are SenML, never fields "bn", "n" and "v"', async () => {
    const pub = (device: string, body: string) => execFileSync('mosquitto_pub', ['-V', 'mqttv311', '-h', '127.0.0.1', '-p', String(rt.mqttPort), '-q', '1', '-t', `devices/${device}/telemetry`, '-m', body]);
    pub('senml-pack', '[{"bn":"senml-pack/","bt":1767225600,"n":"temp","u":"Cel","v":21.5},{"n":"hum","v":40}]');
    pub('senml-one', '{"bn":"senml-one/","bt":1767225600,"n":"temp","u":"Cel","v":21.5}');
    // Not SenML beyond doubt (a name that is not text): the fields of a reading, as before.
    pub('senml-not', '{"n":3,"v":1}');
    assert.deepEqual(await readingsOf(rt, 'senml-pack', 1), [{ ts: '2026-01-01T00:00:00.000Z', fields: { temp: 21.5, hum: 40 }, tags: { 'temp.unit': 'Cel' } }]);
    assert.deepEqual(await readingsOf(rt, 'senml-one', 1), [{ ts: '2026-01-01T00:00:00.000Z', fields: { temp: 21.5 }, tags: { 'temp.unit': 'Cel' } }]);
    assert.deepEqual((await readingsOf(rt, 'senml-not', 1))[0].fields, { n: 3, v: 1 });
  });

  test('CBOR, MessagePack and Protobuf from mqtt.js arrive intact, batches included', async () => {
    const reading = { device: 'dev2', ts: 1767225600000, fields: { temperature: -3.5, ok: false, label: 'north' }, tags: { site: 'lab' } };
    const batch = [1, 2, 3].map((i) => ({ ts: 1767225700000 + i, fields: { n: i } }));
    await client.publishAsync('devices/dev2/telemetry', encode('cbor', reading), { qos: 1 });
    await client.publishAsync('devices/dev3/telemetry', encode('msgpack', batch), { qos: 1 });
    await client.publishAsync('devices/dev4/protobuf', encode('protobuf', { ...reading, device: 'dev4' }, { protoType: 'upperstack.Reading' }), { qos: 1 });
    assert.deepEqual(await readingsOf(rt, 'dev2', 1), [{ ts: '2026-01-01T00:00:00.000Z', fields: { temperature: -3.5, ok: false, label: 'north' }, tags: { site: 'lab' } }]);
    assert.deepEqual(
      (await readingsOf(rt, 'dev3', 3)).map((r) => r.fields.n),
      [1, 2, 3],
    );
    assert.deepEqual(await readingsOf(rt, 'dev4', 1), [{ ts: '2026-01-01T00:00:00.000Z', fields: { temperature: -3.5, ok: false, label: 'north' }, tags: { site: 'lab' } }]);
  });

  test('MQTT 5 devices: mosquitto_pub -V mqttv5 and mqtt.js v5, with the content type choosing the decoder', async () => {
    // Protobuf cannot be recognised by sniffing, so only the content type can make this decode.
    const dir = tempDir('us-v5-');
    const file = join(dir, 'reading.pb');
    writeFileSync(file, encode('protobuf', { device: 'v5-pub', ts: 1767225600000, fields: { v: 5.5 }, tags: {} }, { protoType: 'upperstack.Reading' }));
    execFileSync('mosquitto_pub', ['-V', 'mqttv5', '-h', '127.0.0.1', '-p', String(rt.mqttPort), '-q', '1', '-t', 'devices/v5-pub/telemetry', '-D', 'publish', 'content-type', 'application/x-protobuf', '-f', file]);
    rmSync(dir, { recursive: true, force: true });
    assert.deepEqual(await readingsOf(rt, 'v5-pub', 1), [{ ts: '2026-01-01T00:00:00.000Z', fields: { v: 5.5 }, tags: {} }]);

    const v5 = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqttPort}`, { clientId: 'e2e-v5', protocolVersion: 5 });
    try {
      const packet = await v5.publishAsync('devices/v5-js/telemetry', encode('cbor', { ts: 1767225601000, fields: { n: 1 } }), { qos: 1, properties: { contentType: 'application/cbor' } });
      // A v5 PUBACK carries a reason code; success is 0 (or omitted).
      assert.ok(!packet || !('reasonCode' in packet) || packet.reasonCode === 0, `PUBACK reason ${JSON.stringify(packet)}`);
      // A content type that contradicts the bytes is a specific dead letter, not a guess.
      const letter = await deadLetterOf(client, 'v5-wrong', () =>
        v5.publishAsync('devices/v5-wrong/telemetry', Buffer.from('{"v":1}'), { qos: 1, properties: { contentType: 'application/cbor' } }),
      );
      assert.equal(letter.code, 'DECODE_FAILED');
      assert.match(letter.reason, /CBOR/);
    } finally {
      await v5.endAsync();
    }
    assert.deepEqual(await readingsOf(rt, 'v5-js', 1), [{ ts: '2026-01-01T00:00:01.000Z', fields: { n: 1 }, tags: {} }]);
  });

  test('bad input lands on the dead-letter topic with a specific reason, and the runtime keeps going', async () => {
    const cases: Array<{ device: string; topic?: string; payload: Buffer; code: string; reason: RegExp }> = [
      { device: 'bad-json', payload: Buffer.from('{"temperature": 22.5,'), code: 'DECODE_FAILED', reason: /JSON/ },
      { device: 'bad-cbor', payload: encode('cbor', { temperature: 1, humidity: 2, pressure: 3 }).subarray(0, 9), code: 'DECODE_FAILED', reason: /CBOR/ },
      { device: 'bad-proto', topic: 'devices/bad-proto/protobuf', payload: Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01]), code: 'DECODE_FAILED', reason: /upperstack\.Reading/ },
      { device: 'bad-schema', payload: Buffer.from(JSON.stringify({ 'temperature °C': 21 })), code: 'SCHEMA_VIOLATION', reason: /fields/ },
      { device: 'junk', payload: Buffer.alloc(1_000_000, 0xc1), code: 'UNSUPPORTED_FORMAT', reason: /cannot tell the payload format/ },
    ];
    for (const c of cases) {
      const letter = await deadLetterOf(client, c.device, () => client.publishAsync(c.topic ?? `devices/${c.device}/telemetry`, c.payload, { qos: 1 }));
      assert.equal(letter.code, c.code, `${c.device}: ${letter.reason}`);
      assert.match(letter.reason, c.reason, c.device);
    }
    // A topic whose device level is not UTF-8 cannot name a device. mqtt.js and mosquitto_pub
    // both insist on UTF-8, so these bytes go on the wire by hand.
    const letter = await deadLetterOf(client, 'unknown', () =>
      rawPublish(rt.mqttPort, Buffer.concat([Buffer.from('devices/'), Buffer.from([0xff, 0xfe]), Buffer.from('/telemetry')]), Buffer.from('{"v":1}')),
    );
    assert.equal(letter.code, 'BAD_TOPIC');
    // Still alive and storing.
    execFileSync('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(rt.mqttPort), '-q', '1', '-t', 'devices/after-junk/telemetry', '-m', '{"v":7}']);
    assert.equal((await readingsOf(rt, 'after-junk', 1))[0].fields.v, 7);
    const health = await fetch(`${rt.url}/health`);
    assert.equal(health.status, 200);
  });

  test('the query API answers bad requests with 400/401 naming the problem, and CSV on request', async () => {
    const noKey = await fetch(`${rt.url}/api/v1/readings?device=dev1`);
    assert.equal(noKey.status, 401);
    const wrongKey = await fetch(`${rt.url}/api/v1/readings?device=dev1`, { headers: { authorization: 'Bearer nope' } });
    assert.equal(wrongKey.status, 401);
    const bad = await rt.get('/api/v1/readings?device=dev1&from=yesterday');
    assert.equal(bad.status, 400);
    const body = (await bad.json()) as { error: { parameter: string; message: string } };
    assert.equal(body.error.parameter, 'from');
    const csv = await rt.get('/api/v1/readings?device=dev1', { accept: 'text/csv' });
    assert.equal(csv.status, 200);
    const lines = (await csv.text()).trim().split(/\r?\n/);
    assert.equal(lines[0], 'ts,device,field,value');
    assert.ok(lines.includes('2026-01-01T00:00:00.000Z,dev1,temperature,22.5'), lines.join('\n'));
    const agg = await rt.get('/api/v1/readings/aggregate?device=dev1&field=temperature&from=2026-01-01T00:00:00Z&to=2026-01-01T01:00:00Z&every=5m&fn=mean');
    assert.equal(agg.status, 200);
    const a = (await agg.json()) as { points: Array<{ ts: string; value: number }> };
    assert.deepEqual(a.points, [{ ts: '2026-01-01T00:00:00.000Z', value: (22.5 + 23.25) / 2 }]);
  });
});
