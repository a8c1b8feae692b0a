/**
 * Rough edges of device identity in the real runtime, met as a user meets them with mosquitto_pub/mosquitto_sub
 * (MQTT 5 and 3.1.1), curl and a packet-level client: an admin key sends commands to a registered device (not
 * its readings); a client using an MQTT 5 topic alias is disconnected with 0x94, told what to change, and the
 * operator's log says why; a device a payload names keeps the device id rule of topics and paths.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import { eventually, type Runtime } from '../helpers/runtime';
import { deviceRuntime } from '../helpers/device-runtime';
import { rawConnect } from '../helpers/mqtt-raw';
import { tempDir } from '../helpers/temp';

const run = promisify(execFile);
let rt: Runtime;
const devices = deviceRuntime(tempDir('us-idedges-'));
const { secrets, pub, readings } = devices;

before(async () => {
  rt = await devices.start(['plug1']);
});

after(async () => {
  await rt?.stop();
});

test('an admin key sends a command to a registered device with mosquitto_pub (MQTT 5 and 3.1.1); its readings it may not send', async () => {
  const device = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqttPort}`, { reconnectPeriod: 0, protocolVersion: 5, username: 'plug1', password: secrets.plug1 });
  const commands: string[] = [];
  device.on('message', (topic, payload) => commands.push(`${topic} ${payload.toString()}`));
  await device.subscribeAsync('devices/plug1/commands/#', { qos: 1 });
  const key = ['-u', 'apikey', '-P', rt.apiKey, '-q', '1'];
  assert.equal((await pub([...key, '-V', 'mqttv5', '-t', 'devices/plug1/commands', '-m', '{"relay":"off"}'])).out, '');
  assert.equal((await pub([...key, '-V', 'mqttv311', '-t', 'devices/plug1/commands/relay', '-m', 'on'])).code, 0);
  await eventually(async () => (commands.length === 2 ? true : undefined), 10_000, 'both commands at the device');
  assert.deepEqual(commands, ['devices/plug1/commands {"relay":"off"}', 'devices/plug1/commands/relay on']);
  await device.endAsync();
  const reading = await pub([...key, '-V', 'mqttv5', '-t', 'devices/plug1/telemetry', '-m', '{"t":1}']);
  assert.match(reading.out, /Publish 1 failed: Not authorized/);
});

test('a topic alias: DISCONNECT 0x94 with a reason string saying what to change, and one line in the log naming the client', async () => {
  const { client } = await rawConnect(rt.mqttPort, { clientId: 'aliaser', username: 'plug1', password: Buffer.from(secrets.plug1) });
  try {
    client.send({ cmd: 'publish', topic: 'devices/plug1/telemetry', payload: Buffer.from('{"t":2}'), qos: 1, messageId: 1, properties: { topicAlias: 1 } });
    client.send({ cmd: 'publish', topic: '', payload: Buffer.from('{"t":3}'), qos: 1, messageId: 2, properties: { topicAlias: 1 } });
    const disconnect = await client.next((p) => p.cmd === 'disconnect', 10_000);
    assert.equal(disconnect.reasonCode, 0x94);
    const reason = (disconnect.properties as { reasonString?: string } | undefined)?.reasonString ?? '';
    assert.match(reason, /takes no topic aliases/);
    assert.match(reason, /turn topic aliases off in the client and send the topic name in every PUBLISH/);
    await client.closed;
  } finally {
    client.end();
  }
  const lines = await eventually(async () => {
    const found = rt.output().split('\n').filter((l) => l.includes('client aliaser: publish devices/plug1/telemetry refused: this broker takes no topic aliases'));
    return found.length > 0 ? found : undefined;
  }, 10_000, 'the refusal in the log');
  assert.equal(lines.length, 1, lines.join('\n'));
});

test('mosquitto_pub -V mqttv5 with a topic alias: the log says the client was refused for it', async () => {
  const out = await pub(['-u', 'plug1', '-P', secrets.plug1, '-V', 'mqttv5', '-i', 'alias-cli', '-q', '1', '-D', 'publish', 'topic-alias', '1', '-t', 'devices/plug1/telemetry', '-m', '{"t":4}']);
  assert.notEqual(out.out, '', 'mosquitto_pub reports the refusal');
  await eventually(async () => (rt.output().includes('client alias-cli: publish devices/plug1/telemetry refused: this broker takes no topic aliases') ? true : undefined), 10_000, 'the refusal in the log');
});

async function curl(path: string, body: string, contentType: string): Promise<{ status: number; body: string }> {
  const { stdout } = await run('curl', ['-sS', '-o', '-', '-w', '\n%{http_code}', '-H', `Content-Type: ${contentType}`, '--data-binary', body, `${rt.url}${path}`], { timeout: 20_000 });
  const cut = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut) };
}

async function letters(device: string): Promise<Array<{ code?: string; reason?: string; error?: { code?: string; message?: string } }>> {
  const res = await rt.get(`/api/v1/deadletters?device=${encodeURIComponent(device)}&limit=100`);
  return ((await res.json()) as { deadLetters: Array<{ code?: string; reason?: string }> }).deadLetters;
}

test('curl: a body naming a device with a space is 422 BAD_DEVICE_ID; in a batch only that reading is refused', async () => {
  const one = await curl('/ingest/gw1', '{"device":"other dev","t":1}', 'application/json');
  assert.equal(one.status, 422, one.body);
  assert.match(one.body, /BAD_DEVICE_ID/);
  assert.match(one.body, /\\"other dev\\" is not a device id|"other dev\\?" is not a device id/);
  const batch = await curl('/ingest/gw1', '[{"device":"good1","t":2},{"device":"bad\\u0007dev","t":3}]', 'application/json');
  assert.equal(batch.status, 202, batch.body);
  assert.match(batch.body, /BAD_DEVICE_ID/);
  const lines = await curl('/ingest/gw1', 'my\\ dev t=4\ngood2 t=5', 'text/plain');
  assert.equal(lines.status, 202, lines.body);
  assert.match(lines.body, /BAD_DEVICE_ID/);
  await eventually(async () => ((await readings('good1')).length === 1 && (await readings('good2')).length === 1 ? true : undefined), 30_000, 'the good readings stored');
  assert.deepEqual(await readings('other dev'), []);
  assert.deepEqual(await readings('my dev'), []);
});

test('mosquitto_pub: JSON, line protocol and SenML naming a device against the id rule are dead-lettered BAD_DEVICE_ID; good readings of the batch are kept', async () => {
  const anon = ['-V', 'mqttv5', '-q', '1'];
  assert.equal((await pub([...anon, '-t', 'devices/gw2/telemetry', '-m', '[{"device":"good3","t":6},{"device":"other dev","t":7}]'])).out, '');
  assert.equal((await pub([...anon, '-t', 'devices/gw2/telemetry', '-m', 'weather,device=bad\\ tag t=8'])).out, '');
  assert.equal((await pub([...anon, '-t', 'devices/gw2/telemetry', '-m', '[{"bn":"sen/ml:","n":"t","v":9}]'])).out, '');
  await eventually(async () => ((await readings('good3')).length === 1 ? true : undefined), 30_000, 'the good reading stored');
  const refused = await eventually(async () => {
    const got = (await letters('gw2')).filter((l) => JSON.stringify(l).includes('BAD_DEVICE_ID'));
    return got.length >= 3 ? got : undefined;
  }, 30_000, 'three BAD_DEVICE_ID letters').catch(async (err: Error) => {
    const res = await rt.get('/api/v1/deadletters?limit=20');
    throw new Error(`${err.message}: ${await res.text()}`);
  });
  const reasons = refused.map((l) => JSON.stringify(l)).join('\n');
  for (const named of ['other dev', 'bad tag', 'sen/ml']) assert.ok(reasons.includes(`\\"${named}\\" is not a device id`), reasons);
  for (const named of ['other dev', 'bad tag', 'sen/ml']) assert.deepEqual(await readings(named), []);
});

test('coap-client: a body naming a device with a space is 4.22 BAD_DEVICE_ID; beside a good reading 2.04, the good one stored', async () => {
  const post = (payload: string) => new Promise<string>((resolve) => {
    execFile('coap-client-notls', ['-m', 'post', '-t', '50', '-e', payload, `coap://127.0.0.1:${rt.coapPort}/telemetry/gw3`], { timeout: 20_000 }, (_err, stdout, stderr) => resolve(`${stdout}${stderr}`));
  });
  const alone = await post('{"device":"other dev","t":1}');
  assert.match(alone, /4\.22/);
  assert.match(alone, /BAD_DEVICE_ID: device: "other dev" is not a device id/);
  const beside = await post('[{"device":"good4","t":2},{"device":"other dev","t":3}]');
  assert.doesNotMatch(beside, /4\.\d\d/, beside);
  assert.match(beside, /BAD_DEVICE_ID/);
  await eventually(async () => ((await readings('good4')).length === 1 ? true : undefined), 30_000, 'the good reading stored');
});
