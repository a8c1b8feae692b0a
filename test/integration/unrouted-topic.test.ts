/**
 * A device publishing beside the inputs' topics (a typo, a level too many) on the default pack's embedded
 * broker: with mosquitto_pub, the message is dead-lettered with the topic and the patterns it missed instead
 * of being acknowledged and lost; MQTT traffic someone else receives, retained messages and topics outside
 * the inputs' tree stay ordinary MQTT.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { eventually, startRuntime, type Runtime } from '../helpers/runtime';

interface Letter {
  id: number;
  device: string;
  source: string;
  code: string;
  reason: string;
  payload: string;
  replayable: boolean;
}

function pub(port: number, topic: string, message: string, ...extra: string[]): Promise<number> {
  return new Promise((resolve) => {
    execFile('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '-q', '1', '-t', topic, '-m', message, ...extra], { timeout: 20_000 }, (err) =>
      resolve(err ? (typeof err.code === 'number' ? err.code : 1) : 0),
    );
  });
}

describe('a publish no input takes, on the embedded broker', () => {
  let rt: Runtime;
  let watcher: ChildProcess | undefined;

  before(async () => {
    rt = await startRuntime();
  });
  after(async () => {
    watcher?.kill();
    await rt?.stop();
  });

  const letters = async (query: string): Promise<Letter[]> => {
    const res = await rt.get(`/api/v1/deadletters?${query}`);
    assert.equal(res.status, 200, await res.clone().text());
    return ((await res.json()) as { deadLetters: Letter[] }).deadLetters;
  };

  test('a typo and a level too many are dead-lettered, naming the topic and the patterns it missed', async () => {
    assert.equal(await pub(rt.mqttPort, 'devices/ut-a/telemtry', '{"temperature":21.5}'), 0);
    assert.equal(await pub(rt.mqttPort, 'devices/ut-a/telemetry/extra', '{"temperature":22}'), 0);
    const got = await eventually(async () => {
      const l = await letters('device=ut-a');
      return l.length >= 2 ? l : undefined;
    }, 20_000, 'two letters of ut-a');
    assert.deepEqual(got.map((l) => l.source).sort(), ['mqtt:devices/ut-a/telemetry/extra', 'mqtt:devices/ut-a/telemtry']);
    for (const l of got) {
      assert.equal(l.code, 'BAD_TOPIC');
      assert.match(l.reason, /no input subscribes to topic "devices\/ut-a\/tele/);
      assert.match(l.reason, /devices\/\+\/telemetry, devices\/\+\/protobuf/);
      assert.equal(l.replayable, true);
    }
    assert.deepEqual(got.map((l) => l.payload).sort(), ['{"temperature":21.5}', '{"temperature":22}']);
    const readings = async () => {
      const q = await rt.get('/api/v1/readings?device=ut-a');
      assert.equal(q.status, 200);
      return ((await q.json()) as { readings: Array<{ fields: Record<string, number> }> }).readings;
    };
    // Nothing of it was stored as a reading; a replay of a letter is the user's word to store it as the device's.
    assert.deepEqual(await readings(), []);
    const typo = got.find((l) => l.source === 'mqtt:devices/ut-a/telemtry')!;
    const replay = await fetch(`${rt.url}/api/v1/deadletters/replay?ids=${typo.id}`, { method: 'POST', headers: { authorization: `Bearer ${rt.apiKey}` } });
    assert.equal(replay.status, 200, await replay.clone().text());
    const stored = await eventually(async () => {
      const r = await readings();
      return r.length > 0 ? r : undefined;
    }, 20_000, 'the replayed reading');
    assert.deepEqual(stored.map((r) => r.fields), [{ temperature: 21.5 }]);
  });

  test('an MQTT 5 device is told in its PUBACK: 0x10 No matching subscribers; a routed publish gets 0', async () => {
    const debug = (topic: string, qos: string) =>
      new Promise<string>((resolve) => {
        execFile('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(rt.mqttPort), '-V', 'mqttv5', '-d', '-q', qos, '-t', topic, '-m', '{"t":1}'], { timeout: 20_000 }, (_err, stdout) => resolve(stdout));
      });
    assert.match(await debug('devices/ut-c/telemtry', '1'), /received PUBACK \(Mid: \d+, RC:16\)/);
    assert.match(await debug('devices/ut-c/telemetry', '1'), /received PUBACK \(Mid: \d+, RC:0\)/);
    await eventually(async () => ((await letters('device=ut-c')).length === 1 ? true : undefined), 20_000, 'the letter of ut-c');
  });

  test('traffic outside the tree, retained messages and topics an MQTT client subscribes to stay ordinary', async () => {
    // A tool reading device status over MQTT (the API key's login): its topic is delivered, not a lost reading.
    watcher = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(rt.mqttPort), '-u', 'apikey', '-P', rt.apiKey, '-q', '1', '-t', 'devices/+/status'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    watcher.stdout?.on('data', (b: Buffer) => (out += b.toString()));
    // Retained: the watcher gets it whenever it has subscribed, which tells the test it has.
    assert.equal(await pub(rt.mqttPort, 'devices/ut-b/status', 'online', '-r'), 0);
    await eventually(async () => (out.includes('online') ? true : undefined), 20_000, 'the watcher subscribed');
    assert.equal(await pub(rt.mqttPort, 'devices/ut-b/status', 'busy'), 0);
    await eventually(async () => (out.includes('busy') ? true : undefined), 20_000, 'the watcher got the status');
    assert.equal(await pub(rt.mqttPort, 'elsewhere/ut-b/telemetry', '{"t":1}'), 0);
    assert.equal(await pub(rt.mqttPort, 'devices/ut-b/config', '{"t":2}', '-r'), 0);
    // The last one is a typo again: once its letter is in, the ones sent before it would be too.
    assert.equal(await pub(rt.mqttPort, 'devices/ut-b/telemtry', '{"t":3}'), 0);
    const got = await eventually(async () => {
      const l = await letters('device=ut-b');
      return l.some((x) => x.source === 'mqtt:devices/ut-b/telemtry') ? l : undefined;
    }, 20_000, 'the letter of the typo');
    assert.deepEqual(got.map((l) => l.source), ['mqtt:devices/ut-b/telemtry']);
    assert.equal((await letters('code=BAD_TOPIC')).filter((l) => !l.source.startsWith('mqtt:devices/ut-')).length, 0);
  });
});
