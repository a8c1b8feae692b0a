/**
 * Protobuf readings and batches (proto/telemetry.proto) into the default pack with the clients
 * people use: mosquitto_pub -f on devices/{device}/protobuf and, over MQTT 5, with the content type
 * on devices/{device}/telemetry; curl --data-binary @file to POST /ingest/{device}; coap-client-notls
 * -f as octet-stream with ?format=protobuf. Payloads are encoded by protobufjs from the shipped .proto.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as protobuf from 'protobufjs';
import { eventually, startRuntime, type Runtime } from '../helpers/runtime';
import { tempDir } from '../helpers/temp';

const run = promisify(execFile);
const T = 1767225600000;

interface ApiReading {
  ts: string;
  fields: Record<string, unknown>;
  tags: Record<string, string>;
}

const root = protobuf.loadSync(join(__dirname, '..', '..', '..', 'proto', 'telemetry.proto'));
const Batch = root.lookupType('upperstack.Batch');
const Reading = root.lookupType('upperstack.Reading');

/** A Batch as a device builds it from the .proto: no device in the readings, the topic or URL names it. */
function batchBytes(count: number, from = 0): Uint8Array {
  const readings = Array.from({ length: count }, (_, i) => ({ ts: T + from + i, fields: { t: { number: from + i + 0.5 }, on: { flag: (from + i) % 2 === 0 } }, tags: { site: 'lab' } }));
  return Batch.encode(Batch.fromObject({ readings })).finish();
}

function expected(count: number, from = 0): ApiReading[] {
  return Array.from({ length: count }, (_, i) => ({ ts: new Date(T + from + i).toISOString(), fields: { t: from + i + 0.5, on: (from + i) % 2 === 0 }, tags: { site: 'lab' } }));
}

describe('protobuf batches in the default pack', () => {
  let rt: Runtime;
  const dir = tempDir('us-pb-');
  const file = (name: string, bytes: Uint8Array) => {
    const path = join(dir, name);
    writeFileSync(path, bytes);
    return path;
  };
  const readingsOf = (device: string, count: number) =>
    eventually(async () => {
      const res = await rt.get(`/api/v1/readings?device=${device}&limit=1000`);
      const body = (await res.json()) as { readings: ApiReading[] };
      return body.readings.length >= count ? body.readings : undefined;
    }, 30_000, `${count} readings of ${device}`);
  const curl = async (device: string, path: string, contentType: string) => {
    const { stdout } = await run('curl', ['-s', '-S', '-w', '\n%{http_code}', '-X', 'POST', '-H', `Content-Type: ${contentType}`, '--data-binary', `@${path}`, `${rt.url}/ingest/${device}`]);
    const cut = stdout.lastIndexOf('\n');
    return { status: Number(stdout.slice(cut + 1)), body: JSON.parse(stdout.slice(0, cut)) as Record<string, unknown> };
  };
  const coap = async (device: string, query: string, path: string) => {
    const r = await run('coap-client-notls', ['-m', 'post', '-t', '42', '-f', path, `coap://127.0.0.1:${rt.coapPort}/telemetry/${device}${query}`], { timeout: 20_000 }).catch((e: { stdout: string; stderr: string }) => e);
    return `${r.stdout}${r.stderr}`;
  };

  before(async () => {
    rt = await startRuntime();
  });
  after(async () => {
    await rt?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('MQTT: mosquitto_pub -f of a Batch on devices/{device}/protobuf and, MQTT 5, with application/x-protobuf on the telemetry topic', async () => {
    const path = file('batch.pb', batchBytes(3));
    await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(rt.mqttPort), '-q', '1', '-t', 'devices/pb-topic/protobuf', '-f', path]);
    await run('mosquitto_pub', ['-V', 'mqttv5', '-h', '127.0.0.1', '-p', String(rt.mqttPort), '-q', '1', '-t', 'devices/pb-v5/telemetry', '-D', 'publish', 'content-type', 'application/x-protobuf', '-f', path]);
    const named = file('named.pb', batchBytes(2, 10));
    await run('mosquitto_pub', ['-V', 'mqttv5', '-h', '127.0.0.1', '-p', String(rt.mqttPort), '-q', '1', '-t', 'devices/pb-named/telemetry', '-D', 'publish', 'content-type', 'application/x-protobuf; messageType=upperstack.Batch', '-f', named]);
    assert.deepEqual(await readingsOf('pb-topic', 3), expected(3));
    assert.deepEqual(await readingsOf('pb-v5', 3), expected(3));
    assert.deepEqual(await readingsOf('pb-named', 2), expected(2, 10));
  });

  test('HTTP: curl posts a Batch to /ingest/{device}, with or without the message type; a wrong type says how to name a Batch', async () => {
    const path = file('http.pb', batchBytes(3));
    assert.deepEqual(await curl('pb-http', path, 'application/x-protobuf'), { status: 202, body: { accepted: 3, deadLettered: 0 } });
    const more = file('http-more.pb', batchBytes(2, 3));
    assert.deepEqual(await curl('pb-http', more, 'application/x-protobuf; messageType=upperstack.Batch'), { status: 202, body: { accepted: 2, deadLettered: 0 } });
    assert.deepEqual(await readingsOf('pb-http', 5), expected(5));

    const single = file('single.pb', Reading.encode(Reading.fromObject({ ts: T, fields: { t: { number: 1 } } })).finish());
    assert.equal((await curl('pb-http-one', single, 'application/x-protobuf')).status, 202);
    assert.deepEqual(await readingsOf('pb-http-one', 1), [{ ts: new Date(T).toISOString(), fields: { t: 1 }, tags: {} }]);

    const wrong = await curl('pb-http-wrong', path, 'application/x-protobuf; messageType=upperstack.Reading');
    assert.equal(wrong.status, 400);
    const error = wrong.body.error as { code: string; message: string };
    assert.equal(error.code, 'DECODE_FAILED');
    assert.match(error.message, /^upperstack\.Reading cannot be decoded/);
    assert.match(error.message, /messageType=upperstack\.Batch/);
  });

  test('CoAP: coap-client-notls -f of a Batch as octet-stream with ?format=protobuf, beside the node\'s octet-stream codec', async () => {
    const path = file('coap.pb', batchBytes(3));
    assert.match(await coap('pb-coap', '?format=protobuf', path), /"accepted":3/);
    assert.deepEqual(await readingsOf('pb-coap', 3), expected(3));
    // Without the query, octet-stream is still the node's codec (MessagePack in the default pack).
    assert.match(await coap('pb-coap-plain', '', path), /4\.00|MessagePack|msgpack/i);
  });
});
