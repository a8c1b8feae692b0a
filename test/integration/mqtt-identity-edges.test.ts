/**
 * Rough edges of identities on the embedded broker of the real runtime, met as a user meets them with
 * mosquitto_pub/mosquitto_sub (MQTT 5 and 3.1.1) and a packet-level client: an admin key sends commands to a
 * registered device (not its readings); a client using an MQTT 5 topic alias is disconnected with 0x94, told
 * what to change, and the operator's log says why.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import { eventually, startRuntime, type Runtime } from '../helpers/runtime';
import { rawConnect } from '../helpers/mqtt-raw';
import { tempDir } from '../helpers/temp';

const run = promisify(execFile);
let rt: Runtime;
const dataDir = tempDir('us-mqttedges-');
const secrets: Record<string, string> = {};

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${rt.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${rt.apiKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/** mosquitto_pub; stdout+stderr and the exit code (it exits 0 with a warning when a v5 PUBACK refuses). */
async function pub(args: string[]): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(rt.mqttPort), ...args], { timeout: 20_000 });
    return { code: 0, out: `${stdout}${stderr}` };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, out: `${x.stdout}${x.stderr}` };
  }
}

before(async () => {
  rt = await startRuntime({ dataDir });
  const r = await api('POST', '/api/v1/devices', { id: 'plug1' });
  assert.equal(r.status, 201);
  secrets.plug1 = r.json.secret as string;
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
