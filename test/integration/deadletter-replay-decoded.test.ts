/**
 * Dead letters of messages decoding refused for a value only their bytes hold: JSON `1e309`
 * (Infinity), MessagePack NaN, a CBOR byte string, over HTTP (curl), MQTT and CoAP
 * (coap-client-notls). A letter keeps the bytes that arrived (or, for one item of a batch, that
 * item in a form that decodes back to the same value), so replaying it meets the same refusal
 * again, as a new letter, and stores nothing; written anew as JSON (`{"a":null,"b":1}`) it stored
 * `b` and lost `a` without a trace.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import { encodeCbor } from '../../nodes/lib/codec/cbor';
import { encodeMsgpack } from '../../nodes/lib/codec/msgpack';
import { eventually, startRuntime, type Runtime } from '../helpers/runtime';
import { tempDir } from '../helpers/temp';

const run = promisify(execFile);
const T0 = Date.UTC(2026, 0, 1);

interface Letter {
  id: number;
  device: string;
  code: string;
  reason: string;
  payload: string;
  contentType?: string;
  replayable: boolean;
  replayedAt: string | null;
}

/** Device, and the reason its letter must give (again after the replay). */
const WHOLE: Array<[string, RegExp]> = [
  ['rd-http-inf', /^a is Infinity/],
  ['rd-mqtt-inf', /^a is Infinity/],
  ['rd-coap-inf', /^a is Infinity/],
  ['rd-http-nan', /^a is NaN/],
  ['rd-mqtt-nan', /^a is NaN/],
  ['rd-http-bytes', /^a must be a number, boolean or string, got binary data/],
];
/** Batches: the first item refused, the second (field c) stored. */
const BATCHES: Array<[string, RegExp]> = [
  ['rd-http-batch-inf', /a is Infinity/],
  ['rd-mqtt-batch-nan', /a is NaN/],
  ['rd-http-batch-bytes', /a must be a number, boolean or string, got binary data/],
];

describe('replaying dead letters of values only their bytes hold', () => {
  let rt: Runtime;
  const scratch = tempDir('us-rd-');

  const curl = async (device: string, type: string, body: Buffer): Promise<number> => {
    const file = join(scratch, `${device}.bin`);
    writeFileSync(file, body);
    const { stdout } = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-X', 'POST', '-H', `authorization: Bearer ${rt.apiKey}`, '-H', `content-type: ${type}`, '--data-binary', `@${file}`, `${rt.url}/ingest/${device}`]);
    return Number(stdout);
  };

  before(async () => {
    rt = await startRuntime();
    const inf = Buffer.from('{"a":1e309,"b":1}');
    assert.equal(await curl('rd-http-inf', 'application/json', inf), 422);
    assert.equal(await curl('rd-http-nan', 'application/msgpack', encodeMsgpack({ a: NaN, b: 1 })), 422);
    assert.equal(await curl('rd-http-bytes', 'application/cbor', encodeCbor({ a: new Uint8Array([1, 2, 3]), b: 1 })), 422);
    assert.equal(await curl('rd-http-batch-inf', 'application/json', Buffer.from(`[{"ts":${T0},"a":1e309,"b":1},{"ts":${T0},"c":2}]`)), 202);
    assert.equal(await curl('rd-http-batch-bytes', 'application/cbor', encodeCbor([{ ts: T0, a: new Uint8Array([1, 2, 3]), b: 1 }, { ts: T0, c: 2 }])), 202);
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqttPort}`, { clientId: 'rd-device' });
    await client.publishAsync('devices/rd-mqtt-inf/telemetry', inf, { qos: 1 });
    await client.publishAsync('devices/rd-mqtt-nan/telemetry', encodeMsgpack({ a: NaN, b: 1 }), { qos: 1 });
    await client.publishAsync('devices/rd-mqtt-batch-nan/telemetry', encodeMsgpack([{ ts: T0, a: NaN, b: 1 }, { ts: T0, c: 2 }]), { qos: 1 });
    await client.endAsync();
    const coap = await run('coap-client-notls', ['-m', 'post', '-t', '50', '-e', inf.toString(), `coap://127.0.0.1:${rt.coapPort}/telemetry/rd-coap-inf`], { timeout: 20_000 }).catch((e: { stdout: string; stderr: string }) => e);
    assert.match(`${coap.stdout}${coap.stderr}`, /4\.22 INVALID_READING/);
  });
  after(async () => {
    await rt?.stop();
  });

  const letters = async (device: string): Promise<Letter[]> => ((await (await rt.get(`/api/v1/deadletters?device=${device}`)).json()) as { deadLetters: Letter[] }).deadLetters;
  const count = (device: string, n: number) =>
    eventually(async () => {
      const ls = await letters(device);
      return ls.length === n ? ls : undefined;
    }, 20_000, `${n} dead letter(s) of ${device}`);
  const fields = async (device: string) =>
    ((await (await rt.get(`/api/v1/readings?device=${device}`)).json()) as { readings: Array<{ fields: Record<string, unknown> }> }).readings.map((r) => r.fields);

  test('a letter keeps the bytes that arrived, not the decoded value written as JSON', async () => {
    const [inf] = await count('rd-http-inf', 1);
    assert.deepEqual([inf.code, inf.payload, inf.contentType, inf.replayable], ['INVALID_READING', '{"a":1e309,"b":1}', 'application/json', true]);
    const [mqttInf] = await count('rd-mqtt-inf', 1);
    assert.equal(mqttInf.payload, '{"a":1e309,"b":1}');
    const [bytes] = await count('rd-http-bytes', 1);
    assert.equal(bytes.payload, `base64:${encodeCbor({ a: new Uint8Array([1, 2, 3]), b: 1 }).toString('base64')}`);
    assert.equal(bytes.contentType, 'application/cbor');
    // The item of a batch alone: JSON keeps Infinity as 1e309.
    const [item] = await count('rd-http-batch-inf', 1);
    assert.deepEqual([item.payload, item.contentType], [`{"ts":${T0},"a":1e309,"b":1}`, 'application/json']);
  });

  test('replayed, each fails again for the same reason as a new letter, and nothing of it is stored', async () => {
    const before = new Map<string, Letter>();
    for (const [device, reason] of [...WHOLE, ...BATCHES]) {
      const [l] = await count(device, 1);
      assert.equal(l.code, 'INVALID_READING', `${device}: ${l.reason}`);
      assert.match(l.reason, reason, device);
      before.set(device, l);
    }
    // The batches' other readings were stored, once.
    for (const [device] of BATCHES) assert.deepEqual(await eventually(async () => ((await fields(device)).length ? fields(device) : undefined), 20_000, `the reading of ${device}`), [{ c: 2 }], device);

    const ids = [...before.values()].map((l) => l.id);
    const res = await fetch(`${rt.url}/api/v1/deadletters/replay?ids=${ids.join(',')}`, { method: 'POST', headers: { authorization: `Bearer ${rt.apiKey}` } });
    assert.equal(res.status, 200, await res.clone().text());
    assert.deepEqual(((await res.json()) as { replayed: number }).replayed, ids.length);

    for (const [device, reason] of [...WHOLE, ...BATCHES]) {
      const [old, again] = await count(device, 2);
      assert.ok(old.replayedAt, `${device}: marked replayed`);
      assert.equal(again.code, old.code, device);
      // A whole message meets the very same refusal; an item of a batch comes back alone, without its index in the path.
      if (WHOLE.some(([d]) => d === device)) assert.equal(again.reason, old.reason, device);
      else assert.match(again.reason, reason, device);
      assert.equal(again.payload, old.payload, `${device}: the new letter keeps the same message`);
    }
    for (const [device] of WHOLE) assert.deepEqual(await fields(device), [], `${device}: nothing stored`);
    for (const [device] of BATCHES) assert.deepEqual(await fields(device), [{ c: 2 }], `${device}: the stored reading not again, the refused one not at all`);
  });
});
