/** The MQTT input through a connection config node to a real, external mosquitto. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { encode } from '../../nodes/lib/codec';
import { eventually, startRuntime, type Runtime } from '../helpers/runtime';
import { pipelineOnConnection } from '../helpers/packs';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto';
import { tempDir } from '../helpers/temp';

let mosq: Mosquitto;
let rt: Runtime;

before(async () => {
  mosq = await startMosquitto();
  const dataDir = tempDir('us-ext-');
  // The default pack, with its input switched to the external broker.
  const flows = pipelineOnConnection({ id: 'ext_conn', name: 'mosquitto', url: `mqtt://127.0.0.1:${mosq.port}`, clientId: 'upperstack-e2e', protocolVersion: 5, persistent: true, keepalive: 30, ca: '', cert: '', key: '', rejectUnauthorized: true, configVersion: 1 });
  writeFileSync(join(dataDir, 'flows.json'), JSON.stringify(flows));
  rt = await startRuntime({ dataDir, env: { UPPERSTACK_HEALTH_CONNECTION_SECONDS: '2' } });
});

after(async () => {
  await rt?.stop();
  await mosq?.stop();
});

test('readings published to an external mosquitto at QoS 1 and 2 are stored', async () => {
  execFileSync('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(mosq.port), '-q', '1', '-t', 'devices/ext1/telemetry', '-m', '{"temperature":19.5,"ts":1767225600000}']);
  execFileSync('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(mosq.port), '-q', '2', '-t', 'devices/ext1/telemetry', '-m', '{"temperature":19.75,"ts":1767225601000}']);
  const readings = await eventually(async () => {
    const res = await rt.get('/api/v1/readings?device=ext1');
    const body = (await res.json()) as { readings: Array<{ ts: string; fields: Record<string, unknown> }> };
    return body.readings.length >= 2 ? body.readings : undefined;
  }, 20_000, 'two readings from mosquitto');
  assert.deepEqual(readings.map((r) => [r.ts, r.fields.temperature]), [
    ['2026-01-01T00:00:00.000Z', 19.5],
    ['2026-01-01T00:00:01.000Z', 19.75],
  ]);
});

test('an MQTT 5 content type picks the decoder: protobuf on the auto-format topic', async () => {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${mosq.port}`, { protocolVersion: 5 });
  await client.publishAsync('devices/ext2/telemetry', encode('protobuf', { device: 'ext2', ts: 1767225600000, fields: { v: 3 }, tags: {} }, { protoType: 'upperstack.Reading' }), { qos: 1, properties: { contentType: 'application/x-protobuf' } });
  await client.endAsync();
  const readings = await eventually(async () => {
    const res = await rt.get('/api/v1/readings?device=ext2');
    const body = (await res.json()) as { readings: Array<{ fields: Record<string, unknown> }> };
    return body.readings.length ? body.readings : undefined;
  }, 20_000, 'the protobuf reading');
  assert.equal(readings[0].fields.v, 3);
});

test('an empty retained publish to mosquitto clears its retained message, and the MQTT 5 input acknowledges it with no reading and no letter', async () => {
  const topic = 'devices/ext-retained/telemetry';
  const pub = (...args: string[]) => execFileSync('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(mosq.port), '-q', '1', '-t', topic, ...args]);
  // --retained-only -W: what mosquitto keeps for the topic, or nothing once the wait is over (exit 27).
  const retained = () => {
    try {
      return execFileSync('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(mosq.port), '-t', topic, '--retained-only', '-C', '1', '-W', '3'], { encoding: 'utf8' });
    } catch (err) {
      return (err as { stdout: string }).stdout;
    }
  };
  pub('-r', '-m', '{"ts":1767225600000,"t":1}');
  assert.equal(retained().trim(), '{"ts":1767225600000,"t":1}');
  pub('-r', '-n');
  assert.equal(retained(), '', 'mosquitto cleared the retained message');
  // A bad message after the clear: once its letter is there, the clear before it has been handled.
  pub('-m', '{"t":');
  const letters = await eventually(async () => {
    const body = (await (await rt.get('/api/v1/deadletters?device=ext-retained')).json()) as { deadLetters: Array<{ code: string; payload: string }> };
    return body.deadLetters.length >= 1 ? body.deadLetters : undefined;
  }, 20_000, 'the letter after the clear');
  assert.deepEqual(letters.map((l) => [l.code, l.payload]), [['DECODE_FAILED', '{"t":']]);
  const readings = await eventually(async () => {
    const body = (await (await rt.get('/api/v1/readings?device=ext-retained')).json()) as { readings: Array<{ fields: Record<string, unknown> }> };
    return body.readings.length >= 1 ? body.readings : undefined;
  }, 20_000, 'the retained reading');
  assert.deepEqual(readings.map((r) => r.fields.t), [1]);
  assert.match(await (await rt.get('/metrics')).text(), /^upperstack_mqtt_retained_cleared_total 1$/m);
});

interface Health {
  status: string;
  problems: Array<{ component: string; code: string; lastError?: string }>;
  components: Record<string, { ok: boolean; detail: string }>;
}

async function health(): Promise<[number, Health]> {
  const res = await fetch(`${rt.url}/health`);
  return [res.status, (await res.json()) as Health];
}

const failedLines = () => rt.output().split('\n').filter((l) => l.includes('MQTT connection to') && l.includes('failed')).length;

// Last: it takes mosquitto down and stops the runtime.
test('/health reports the broker connection: 503 once it has been down past its threshold, logged once, and the runtime still stops at once', async () => {
  const [status, up] = await health();
  assert.equal(status, 200);
  assert.equal(up.components['mqtt:mosquitto']?.ok, true);

  const before = failedLines();
  mosq.proc.kill('SIGTERM');
  await new Promise((r) => mosq.proc.once('exit', r));
  // The threshold can pass before the first reconnect attempt has failed (a loaded machine): until then the
  // last error is the disconnection itself, after it the refused connection.
  const down = await eventually(async () => {
    const [s, h] = await health();
    return s === 503 && /ECONNREFUSED/.test(h.problems.find((p) => p.component === 'mqtt:mosquitto')?.lastError ?? '') ? h : undefined;
  }, 20_000, '/health 503 with mosquitto down, naming the refused connection');
  const problem = down.problems.find((p) => p.component === 'mqtt:mosquitto');
  assert.equal(problem?.code, 'DISCONNECTED');
  assert.match(problem?.lastError ?? '', /ECONNREFUSED/);
  // MQTT.js retries every 2 s; a few more attempts fail meanwhile, and the warning is not repeated.
  await new Promise((r) => setTimeout(r, 5000));
  assert.equal(failedLines() - before, 1, rt.output());

  await mosq.restart();
  await eventually(async () => ((await health())[0] === 200 ? true : undefined), 20_000, '/health 200 with mosquitto back');
  await eventually(async () => (/connected to mqtt:\/\/127\.0\.0\.1:\d+ again after \d+ s/.test(rt.output()) ? true : undefined), 30_000, 'the reconnection logged');

  // Shut down while the client is reconnecting: the connection's close does not wait for the broker.
  mosq.proc.kill('SIGTERM');
  await new Promise((r) => mosq.proc.once('exit', r));
  await eventually(async () => ((await health())[1].components['mqtt:mosquitto']?.ok === false ? true : undefined), 30_000, 'the connection seen down');
  await rt.stop();
  assert.equal(rt.proc.signalCode, null, 'the runtime had to be killed');
  assert.doesNotMatch(rt.output(), /Close timed out/);
});
