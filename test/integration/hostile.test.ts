/**
 * Hostile devices against the real runtime and the default flow pack: deep
 * nesting is a DEPTH_EXCEEDED dead letter, settled and never replayed at the
 * next start; nested objects are stored under dotted names; odd readings sent
 * with curl, coap-client and mosquitto_pub are refused naming what is wrong.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
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

  test('a CBOR batch whose readings share one fields object (tags 28/29) is refused over HTTP, MQTT and CoAP, not stored once per reference', async () => {
    // 200 readings, the first marks its 1,000 fields shareable and the others refer to them: 12 KB for 200,000 values.
    const head = (n: number) => (n < 24 ? [0x80 + n] : [0x99, n >> 8, n & 0xff]);
    const text = (s: string) => [0x60 + s.length, ...Buffer.from(s)];
    const uint = (v: number) => (v < 24 ? [v] : v < 256 ? [0x18, v] : [0x19, v >> 8, v & 0xff]);
    const fields = [0xb9, 0x03, 0xe8, ...Array.from({ length: 1000 }, (_, i) => [...text(`f${i}`), ...uint(i)]).flat()];
    const ts = (i: number) => [0x1b, ...Buffer.from(BigInt(1767225600000 + i).toString(16).padStart(16, '0'), 'hex')];
    const body = Buffer.from([...head(200), ...Array.from({ length: 200 }, (_, i) => [0xa2, ...text('ts'), ...ts(i), ...text('fields'), ...(i === 0 ? [0xd8, 0x1c, ...fields] : [0xd8, 0x1d, 0x00])]).flat()]);
    const file = join(rt.dataDir, 'shared.cbor');
    writeFileSync(file, body);
    const reason = /^CBOR data uses tag 28 \(a value marked for sharing\) at byte 23, which is not accepted/;

    const curl = execFileSync('curl', ['-s', '-w', '\n%{http_code}', '-H', 'Content-Type: application/cbor', '--data-binary', `@${file}`, `${rt.url}/ingest/shared-http`]).toString().split('\n');
    assert.equal(curl[1], '400');
    const answer = JSON.parse(curl[0]) as { error: { code: string; message: string; offset: number } };
    assert.equal(answer.error.code, 'DECODE_FAILED');
    assert.match(answer.error.message, reason);
    assert.equal(answer.error.offset, 23);
    // Block-wise (Block1), as coap-client sends a body larger than a datagram; the error answer is on its stderr.
    const coapRun = spawnSync('coap-client-notls', ['-m', 'post', '-b', '1024', '-t', '60', '-f', file, `coap://127.0.0.1:${rt.coapPort}/telemetry/shared-coap`], { timeout: 20_000 });
    const coap = `${coapRun.stdout.toString()}${coapRun.stderr.toString()}`;
    assert.match(coap, /^4\.00 DECODE_FAILED: CBOR data uses tag 28 \(a value marked for sharing\) at byte 23/);
    // MQTT without a content type: the decode node guesses CBOR and names the tag, not "cannot tell the payload format".
    execFileSync('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(rt.mqttPort), '-q', '1', '-t', 'devices/shared-mqtt/telemetry', '-f', file]);
    execFileSync('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(rt.mqttPort), '-q', '1', '-t', 'devices/after-shared/telemetry', '-m', '{"v":4}']);

    const letters = await eventually(async () => {
      const res = (await (await rt.get('/api/v1/deadletters?code=DECODE_FAILED')).json()) as { deadLetters: Array<{ device: string; reason: string }> };
      const mine = res.deadLetters.filter((l) => l.device.startsWith('shared-'));
      return mine.length >= 3 ? mine : undefined;
    }, 30_000, 'three dead letters');
    assert.deepEqual(letters.map((l) => l.device).sort(), ['shared-coap', 'shared-http', 'shared-mqtt']);
    for (const l of letters) assert.match(l.reason, reason, l.device);
    await eventually(async () => {
      const got = (await (await rt.get('/api/v1/readings?device=after-shared')).json()) as { readings: unknown[] };
      return got.readings.length === 1 ? true : undefined;
    }, 30_000, 'the reading after the shared batch');
    for (const device of ['shared-http', 'shared-coap', 'shared-mqtt']) {
      const got = (await (await rt.get(`/api/v1/readings?device=${device}&from=0`)).json()) as { readings: unknown[] };
      assert.equal(got.readings.length, 0, `${device}: nothing stored`);
    }
    assert.equal((await fetch(`${rt.url}/health`)).status, 200);
  });

  test('odd readings over HTTP, CoAP and MQTT are refused naming what is wrong: a device member that is no id, two different times, a CBOR simple value, an XML number past a double', async () => {
    const post = (path: string, type: string, body: string | Buffer) => {
      const file = join(rt.dataDir, 'odd.body');
      writeFileSync(file, body);
      const out = execFileSync('curl', ['-s', '-w', '\n%{http_code}', '-H', `Content-Type: ${type}`, '--data-binary', `@${file}`, `${rt.url}${path}`]).toString().split('\n');
      return { status: out[1], body: JSON.parse(out[0]) as { error?: { code: string; message: string; offset?: number }; errors?: Array<{ code: string; message: string }> } };
    };
    const coapPost = (path: string, format: string, body: string | Buffer) => {
      const file = join(rt.dataDir, 'odd.coap');
      writeFileSync(file, body);
      const run = spawnSync('coap-client-notls', ['-m', 'post', '-t', format, '-f', file, `coap://127.0.0.1:${rt.coapPort}${path}`], { timeout: 20_000 });
      return `${run.stdout.toString()}${run.stderr.toString()}`;
    };
    const notString = /^device must be a non-empty string \(a device id\), got (the number 123|an empty string): /;

    // The path names the device; a body device that is no text is that body's mistake, named as such.
    for (const [device, body] of [['odd-num', '{"device":123,"t":1}'], ['odd-empty', '{"device":"","t":1}']]) {
      const got = post(`/ingest/${device}`, 'application/json', body);
      assert.equal(got.status, '422', device);
      assert.equal(got.body.error?.code, 'BAD_DEVICE_ID', device);
      assert.match(got.body.error!.message.replace(/^no reading is valid: /, ''), notString, device);
    }
    assert.match(coapPost('/telemetry/odd-coap', '50', '{"device":123,"t":1}'), /^4\.22 BAD_DEVICE_ID: device must be a non-empty string \(a device id\), got the number 123/);
    execFileSync('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(rt.mqttPort), '-q', '1', '-t', 'devices/odd-mqtt/telemetry', '-m', '{"device":123,"t":1}']);

    // Two times that disagree: neither is dropped without a word.
    const twice = post('/ingest/odd-times', 'application/json', '{"ts":1767225600000,"timestamp":"2025-01-01T00:00:00Z","t":1}');
    assert.equal(twice.status, '422');
    assert.equal(twice.body.error?.code, 'INVALID_READING');
    assert.equal(twice.body.error?.message, 'no reading is valid: ts (2026-01-01T00:00:00.000Z) and timestamp (2025-01-01T00:00:00.000Z) are two different times: a reading has one; send one of ts, timestamp and time, or the same time in each');
    // The same time twice, in two units, is one time.
    assert.equal(post('/ingest/odd-same-time', 'application/json', '{"ts":1767225600,"timestamp":"2026-01-01T00:00:00Z","t":1}').status, '202');

    // CBOR simple value 16 (0xf0) as a field's value, at byte 3.
    const simple = post('/ingest/odd-simple', 'application/cbor', Buffer.from([0xa1, 0x61, 0x74, 0xf0]));
    assert.equal(simple.status, '400');
    assert.equal(simple.body.error?.code, 'DECODE_FAILED');
    assert.match(simple.body.error!.message, /^CBOR data uses simple value 16 at byte 3, which is not accepted: /);
    assert.equal(simple.body.error?.offset, 3);
    assert.match(coapPost('/telemetry/odd-simple-coap', '60', Buffer.from([0xa1, 0x61, 0x74, 0xf8, 0x20])), /^4\.00 DECODE_FAILED: CBOR data uses simple value 32 at byte 3/);

    // XML: a number past the largest double is refused as line protocol refuses it, not kept as text.
    const xml = post('/ingest/odd-xml', 'application/xml', '<reading><t>1e400</t></reading>');
    assert.equal(xml.status, '400');
    assert.equal(xml.body.error?.code, 'DECODE_FAILED');
    assert.match(xml.body.error!.message, /^XML payload line 1, column \d+: field "t" value "1e400" is too large for a 64-bit float$/);

    const letters = await eventually(async () => {
      const res = (await (await rt.get('/api/v1/deadletters?code=BAD_DEVICE_ID')).json()) as { deadLetters: Array<{ device: string; reason: string }> };
      const mine = res.deadLetters.filter((l) => l.device.startsWith('odd-'));
      return mine.length >= 4 ? mine : undefined;
    }, 30_000, 'four BAD_DEVICE_ID dead letters');
    assert.deepEqual(letters.map((l) => l.device).sort(), ['odd-coap', 'odd-empty', 'odd-mqtt', 'odd-num']);
    for (const l of letters) assert.match(l.reason, notString, l.device);
    for (const device of ['odd-num', 'odd-empty', 'odd-coap', 'odd-mqtt', 'odd-times', 'odd-simple', 'odd-simple-coap', 'odd-xml']) {
      const got = (await (await rt.get(`/api/v1/readings?device=${device}&from=0`)).json()) as { readings: unknown[] };
      assert.equal(got.readings.length, 0, `${device}: nothing stored`);
    }
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
