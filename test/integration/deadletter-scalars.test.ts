/**
 * Dead letters of bare JSON values on the real runtime: a device posts `"on"`
 * or `null` (over HTTP and MQTT), or an array with a string in it. Each letter
 * keeps the bytes that arrived (or the item's own JSON) with its content type,
 * so replaying it meets the same refusal again instead of a new one (`found
 * 'o'`, "the payload is empty").
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { eventually, startRuntime, type Runtime } from '../helpers/runtime';

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

describe('dead letters of bare JSON values', () => {
  let rt: Runtime;

  before(async () => {
    rt = await startRuntime();
    const post = async (device: string, body: string) => {
      const res = await fetch(`${rt.url}/ingest/${device}`, { method: 'POST', headers: { authorization: `Bearer ${rt.apiKey}`, 'content-type': 'application/json' }, body });
      await res.arrayBuffer();
    };
    await post('sc-http-on', '"on"');
    await post('sc-http-null', 'null');
    await post('sc-http-mixed', '["on",{"ts":1767225600000,"v":1}]');
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqttPort}`, { clientId: 'scalar-device' });
    await client.publishAsync('devices/sc-mqtt-on/telemetry', '"on"', { qos: 1 });
    await client.publishAsync('devices/sc-mqtt-null/telemetry', 'null', { qos: 1 });
    await client.publishAsync('devices/sc-mqtt-mixed/telemetry', '["on",{"ts":1767225600000,"v":1}]', { qos: 1 });
    await client.endAsync();
  });
  after(async () => {
    await rt?.stop();
  });

  const letters = async (device: string): Promise<Letter[]> => ((await (await rt.get(`/api/v1/deadletters?device=${device}`)).json()) as { deadLetters: Letter[] }).deadLetters;
  const one = (device: string) => eventually(async () => ((await letters(device)).length === 1 ? (await letters(device))[0] : undefined), 20_000, `the dead letter of ${device}`);

  const DEVICES: Array<[string, string]> = [
    ['sc-http-on', '"on"'],
    ['sc-http-null', 'null'],
    ['sc-http-mixed', '"on"'],
    ['sc-mqtt-on', '"on"'],
    ['sc-mqtt-null', 'null'],
    ['sc-mqtt-mixed', '"on"'],
  ];

  test('each letter keeps the JSON that arrived, with its content type where the sender gave one', async () => {
    for (const [device, payload] of DEVICES) {
      const l = await one(device);
      assert.deepEqual([l.code, l.payload, l.replayable], ['INVALID_READING', payload, true], `${device}: ${l.reason}`);
      if (device.startsWith('sc-http') || device.endsWith('mixed')) assert.equal(l.contentType, 'application/json', device);
    }
    // The reading beside the string was stored.
    const stored = (await (await rt.get('/api/v1/readings?device=sc-http-mixed')).json()) as { readings: Array<{ fields: { v: number } }> };
    assert.deepEqual(stored.readings.map((r) => r.fields.v), [1]);
  });

  test('replayed, each fails again for the same reason, not a new one', async () => {
    const before = new Map<string, Letter>();
    for (const [device] of DEVICES) before.set(device, await one(device));
    const res = await fetch(`${rt.url}/api/v1/deadletters/replay`, {
      method: 'POST',
      headers: { authorization: `Bearer ${rt.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ids: [...before.values()].map((l) => l.id) }),
    });
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(((await res.json()) as { replayed: number }).replayed, DEVICES.length);
    for (const [device, payload] of DEVICES) {
      const now = await eventually(async () => {
        const ls = await letters(device);
        return ls.length === 2 ? ls : undefined;
      }, 20_000, `a new dead letter of ${device}`);
      const old = before.get(device)!;
      assert.ok(now[0].replayedAt, `${device}: marked replayed`);
      assert.deepEqual([now[1].code, now[1].payload], [old.code, payload], device);
      // An item of an array comes back alone, so only a whole message's reason names the same place.
      if (!device.endsWith('mixed')) assert.equal(now[1].reason, old.reason, device);
    }
  });
});
