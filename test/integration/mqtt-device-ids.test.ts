/**
 * Device ids in MQTT topics on the real runtime follow the rule the HTTP input
 * and the registry use: a topic naming `m q` or `é€` is dead-lettered with
 * BAD_DEVICE_ID (as HTTP answers 400) instead of stored, and the pipeline goes
 * on storing what comes after.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { eventually, startRuntime, type Runtime } from '../helpers/runtime';

interface Letter {
  device: string;
  source: string;
  code: string;
  reason: string;
}

describe('MQTT topics naming a device id HTTP refuses', () => {
  let rt: Runtime;
  before(async () => {
    rt = await startRuntime();
  });
  after(async () => {
    await rt?.stop();
  });

  const pub = (topic: string, message: string) => execFileSync('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(rt.mqttPort), '-q', '1', '-t', topic, '-m', message]);

  test('are dead letters with BAD_DEVICE_ID, nothing is stored under them, and later messages are stored', async () => {
    pub('devices/m q/telemetry', '{"v":1}');
    pub('devices/é€/telemetry', '{"v":2}');
    pub('devices/after-bad-id/telemetry', '{"v":3}');
    const letters = await eventually(async () => {
      const ls = ((await (await rt.get('/api/v1/deadletters?code=BAD_DEVICE_ID')).json()) as { deadLetters: Letter[] }).deadLetters;
      return ls.length === 2 ? ls : undefined;
    }, 20_000, 'two BAD_DEVICE_ID letters');
    assert.deepEqual(letters.map((l) => l.source).sort(), ['mqtt:devices/m q/telemetry', 'mqtt:devices/é€/telemetry']);
    assert.match(letters.find((l) => l.source.includes('m q'))!.reason, /"m q" is not a device id/);
    const stored = await eventually(async () => {
      const rs = ((await (await rt.get('/api/v1/readings?device=after-bad-id')).json()) as { readings: Array<{ fields: { v: number } }> }).readings;
      return rs.length === 1 ? rs : undefined;
    }, 20_000, 'the reading after them');
    assert.equal(stored[0].fields.v, 3);
    for (const device of ['m q', 'é€']) {
      const res = await rt.get(`/api/v1/readings?device=${encodeURIComponent(device)}`);
      assert.deepEqual(((await res.json()) as { readings: unknown[] }).readings, [], device);
    }
    const health = (await (await fetch(`${rt.url}/health`)).json()) as { status: string };
    assert.equal(health.status, 'ok');
  });
});
