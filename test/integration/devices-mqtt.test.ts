/**
 * Device identities on the embedded broker of the real runtime, with
 * mosquitto_pub/mosquitto_sub (-u/-P, MQTT 5 and 3.1.1) and MQTT.js: device A
 * publishes only under devices/A/, cannot publish or read as B, cannot use B's
 * id anonymously; anonymous clients read neither device data nor upperstack/#;
 * an API key logs in as `apikey` to read them; disabling a device or rotating
 * its secret drops its connection and refuses it; all of it in the audit log.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import mqtt from 'mqtt';
import { eventually, type Runtime } from '../helpers/runtime';
import { deviceRuntime } from '../helpers/device-runtime';
import { tempDir } from '../helpers/temp';

let rt: Runtime;
const devices = deviceRuntime(tempDir('us-devmqtt-'));
const { secrets, api, pub, readings, audit } = devices;

function connect(opts: mqtt.IClientOptions): Promise<mqtt.MqttClient> {
  return mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqttPort}`, { reconnectPeriod: 0, connectTimeout: 10_000, ...opts });
}

before(async () => {
  rt = await devices.start(['devA', 'devB']);
});

after(async () => {
  await rt?.stop();
});

test('mosquitto_pub: A publishes as A; as B refused with 0x87 (MQTT 5) or a closed connection (3.1.1)', async () => {
  const A = ['-u', 'devA', '-P', secrets.devA, '-q', '1'];
  assert.equal((await pub([...A, '-V', 'mqttv5', '-t', 'devices/devA/telemetry', '-m', '{"t":1}'])).out, '');
  assert.equal((await pub([...A, '-V', 'mqttv311', '-t', 'devices/devA/telemetry', '-m', '{"t":2}'])).code, 0);
  const v5 = await pub([...A, '-V', 'mqttv5', '-t', 'devices/devB/telemetry', '-m', '{"t":3}']);
  assert.match(v5.out, /Publish 1 failed: Not authorized/);
  const v3 = await pub([...A, '-V', 'mqttv311', '-t', 'devices/devB/telemetry', '-m', '{"t":4}']);
  assert.notEqual(v3.code, 0, v3.out);
  // Fake dead letters and other devices' topics are Upperstack's own.
  assert.match((await pub([...A, '-V', 'mqttv5', '-t', 'upperstack/deadletter/devB', '-m', '{}'])).out, /Not authorized/);
  await eventually(async () => ((await readings('devA')).length >= 2 ? true : undefined));
  assert.deepEqual((await readings('devA')).map((r) => r.fields.t), [1, 2]);
  assert.deepEqual(await readings('devB'), []);
});

test('B\'s id cannot be used without B\'s secret: anonymously, with A\'s secret, or with a wrong one', async () => {
  const anon = await pub(['-V', 'mqttv5', '-q', '1', '-t', 'devices/devB/telemetry', '-m', '{"t":5}']);
  assert.match(anon.out, /Not authorized/);
  const withA = await pub(['-u', 'devB', '-P', secrets.devA, '-V', 'mqttv5', '-q', '1', '-t', 'devices/devB/telemetry', '-m', '{"t":6}']);
  assert.notEqual(withA.code, 0);
  assert.match(withA.out, /[Bb]ad user name or password|not authori[sz]ed/i);
  // A device nobody registered still works anonymously on loopback.
  assert.equal((await pub(['-V', 'mqttv5', '-q', '1', '-t', 'devices/free2/telemetry', '-m', '{"t":7}'])).out, '');
  await eventually(async () => ((await readings('free2')).length === 1 ? true : undefined));
  assert.deepEqual(await readings('devB'), []);
});

test('subscriptions: A its own commands only; anonymous neither device data nor upperstack/#; an API key reads both', async () => {
  const a = await connect({ username: 'devA', password: secrets.devA, protocolVersion: 5 });
  // The SUBACK's reason codes, as they come off the wire.
  const subacks: number[][] = [];
  a.on('packetreceive', (p) => {
    if (p.cmd === 'suback') subacks.push((p as unknown as { granted: number[] }).granted);
  });
  await a.subscribeAsync(['devices/devA/commands', 'devices/devB/commands', 'devices/devB/telemetry', '#'], { qos: 1 }).catch((err: Error) => assert.match(err.message, /Not authorized/));
  assert.deepEqual(subacks, [[1, 0x87, 0x87, 0x87]]);
  await a.endAsync();
  const anon = await connect({ protocolVersion: 4 });
  anon.on('packetreceive', (p) => {
    if (p.cmd === 'suback') subacks.push((p as unknown as { granted: number[] }).granted);
  });
  await anon.subscribeAsync(['#', 'devices/+/telemetry', 'upperstack/#', 'devices/free2/commands'], { qos: 0 }).catch(() => undefined);
  assert.deepEqual(subacks[1], [128, 128, 128, 0], 'MQTT 3.1.1: 0x80 for each refused filter');
  await anon.endAsync();
  // mosquitto_sub with the API key sees a dead letter published by the pipeline.
  // -d prints the SUBACK (line-buffered by stdbuf, or it waits in stdio's buffer until exit): a dead
  // letter published before it would not reach this subscriber.
  const sub = spawn('stdbuf', ['-oL', 'mosquitto_sub', '-d', '-h', '127.0.0.1', '-p', String(rt.mqttPort), '-u', 'apikey', '-P', rt.apiKey, '-t', 'upperstack/deadletter/#', '-C', '1', '-W', '60']);
  let out = '';
  sub.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number>((r) => sub.once('exit', (code) => r(code ?? -1)));
  await eventually(async () => (/received SUBACK/.test(out) ? true : undefined), 30_000, 'mosquitto_sub subscribed');
  await pub(['-u', 'devA', '-P', secrets.devA, '-q', '1', '-t', 'devices/devA/telemetry', '-m', '{not json']);
  assert.equal(await exited, 0, out);
  assert.match(out, /DECODE_FAILED/);
  const wrongKey = await pub(['-u', 'apikey', '-P', 'nope', '-q', '1', '-t', 'x', '-m', '1']);
  assert.notEqual(wrongKey.code, 0);
});

test('disable drops A\'s connection and refuses it; a rotated secret is refused at once', async () => {
  const a = await connect({ username: 'devA', password: secrets.devA, protocolVersion: 5 });
  const closed = new Promise<number | undefined>((r) => {
    a.once('disconnect', (p) => r(p.reasonCode));
    a.once('close', () => r(undefined));
  });
  assert.equal((await api('PATCH', '/api/v1/devices/devA', { enabled: false })).status, 200);
  const code = await closed;
  assert.ok(code === 0x87 || code === undefined, String(code));
  const refused = await pub(['-u', 'devA', '-P', secrets.devA, '-q', '1', '-t', 'devices/devA/telemetry', '-m', '{"t":8}']);
  assert.notEqual(refused.code, 0);
  await api('PATCH', '/api/v1/devices/devA', { enabled: true });

  const b = await connect({ username: 'devB', password: secrets.devB, protocolVersion: 4 });
  const bClosed = new Promise<void>((r) => b.once('close', () => r()));
  const rotated = await api('POST', '/api/v1/devices/devB/rotate');
  await bClosed;
  const old = await pub(['-u', 'devB', '-P', secrets.devB, '-q', '1', '-t', 'devices/devB/telemetry', '-m', '{"t":9}']);
  assert.notEqual(old.code, 0);
  secrets.devB = rotated.json.secret as string;
  assert.equal((await pub(['-u', 'devB', '-P', secrets.devB, '-q', '1', '-V', 'mqttv5', '-t', 'devices/devB/telemetry', '-m', '{"t":10}'])).out, '');
  await eventually(async () => ((await readings('devB')).length === 1 ? true : undefined));
});

test('a payload naming another registered device than its topic is refused and in the audit log: who, from where, the topic and the device named', async () => {
  // A device no refusal named before in this file: one like an earlier refusal (same actor, input, target,
  // reason and address) within 10 s is folded into the next entry, not written at once.
  assert.equal((await api('POST', '/api/v1/devices', { id: 'devC' })).status, 201);
  // A logged in as itself on its own topic (the broker takes it), its payload naming C: refused by decode.
  assert.equal((await pub(['-u', 'devA', '-P', secrets.devA, '-V', 'mqttv5', '-q', '1', '-t', 'devices/devA/telemetry', '-m', '{"device":"devC","t":40}'])).out, '');
  // Anonymous under a free id (loopback), naming C.
  assert.equal((await pub(['-V', 'mqttv5', '-q', '1', '-t', 'devices/free4/telemetry', '-m', '[{"device":"free4","t":41},{"device":"devC","t":42}]'])).out, '');
  const mismatches = await eventually(async () => {
    const found = audit().filter((e) => e.reason === 'DEVICE_MISMATCH' && typeof e.note === 'string' && e.note.startsWith('the message on topic'));
    return found.length >= 2 ? found : undefined;
  }, 30_000, 'two DEVICE_MISMATCH entries of MQTT messages');
  assert.deepEqual(mismatches.map((e) => [e.actor, e.action, e.via, e.target, e.remote, e.outcome, e.note].join(' ')).sort(), [
    'anonymous acl.denied mqtt devC 127.0.0.1 denied the message on topic "devices/free4/telemetry" names device "devC"',
    'device:devA acl.denied mqtt devC 127.0.0.1 denied the message on topic "devices/devA/telemetry" names device "devC"',
  ]);
  assert.deepEqual(await readings('devC'), []);
});

test('the audit log has the refused publishes, subscriptions and logins over MQTT', () => {
  const entries = audit();
  const has = (pred: (e: Record<string, unknown>) => boolean, what: string) => assert.ok(entries.some(pred), `${what}:\n${entries.map((e) => JSON.stringify(e)).join('\n')}`);
  has((e) => e.action === 'acl.denied' && e.actor === 'device:devA' && e.via === 'mqtt' && e.target === 'devB', 'publish as B');
  has((e) => e.action === 'acl.denied' && e.actor === 'device:devA' && e.via === 'mqtt' && e.target === 'devices/devB/commands', 'subscribe to B');
  has((e) => e.action === 'acl.denied' && e.actor === 'anonymous' && e.target === '#', 'anonymous #');
  has((e) => e.action === 'auth.failed' && e.via === 'mqtt' && e.target === 'devB', 'B with A\'s secret');
  has((e) => e.action === 'auth.failed' && e.via === 'mqtt' && e.reason === 'DEVICE_DISABLED', 'disabled');
});
