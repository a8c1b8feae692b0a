/**
 * The MQTT input on nats-server's MQTT listener, a broker users run that speaks MQTT 3.1.1 only: through a
 * 3.1.1 connection readings are stored, bad payloads dead-lettered and nothing published around a broker
 * restart is lost; a connection asking it for MQTT 5 is named as refused, not retried in a loop, and a shared
 * subscription, which it takes and never delivers to, is named as such.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { eventually, startRuntime, type Runtime } from '../helpers/runtime';
import { pipelineOnConnection } from '../helpers/packs';
import { startNats, type Nats } from '../helpers/nats';
import { tempDir } from '../helpers/temp';

let nats: Nats;
let rt: Runtime;

interface Health {
  components: Record<string, { ok: boolean; detail?: string } | undefined>;
}

before(async () => {
  nats = await startNats();
  const dataDir = tempDir('us-nats-rt-');
  // The default pack with its inputs on nats-server over MQTT 3.1.1, and one more input on an MQTT 5 connection to it.
  const conn = { type: 'upperstack-mqtt-connection', url: `mqtt://127.0.0.1:${nats.port}`, persistent: true, keepalive: 30, ca: '', cert: '', key: '', rejectUnauthorized: true, configVersion: 2, receiveMaximum: 100 };
  const flows = pipelineOnConnection({ ...conn, id: 'nats_conn', name: 'nats', clientId: 'upperstack-nats', protocolVersion: 4 });
  flows.push({ ...conn, id: 'nats5_conn', name: 'nats5', clientId: 'upperstack-nats5', protocolVersion: 5 });
  flows.push({ ...conn, id: 'natsg_conn', name: 'natsg', clientId: 'upperstack-natsg', protocolVersion: 4 });
  const tab = flows.find((n) => n.type === 'upperstack-mqtt-in')?.z;
  flows.push({ id: 'natsg_in', type: 'upperstack-mqtt-in', z: tab, name: 'shared group', source: 'external', connection: 'natsg_conn', topic: 'grouped/{device}/telemetry', qos: 1, format: 'auto', group: 'g1', configVersion: 2, coalesce: true, wires: [[], []] });
  flows.push({ id: 'nats5_in', type: 'upperstack-mqtt-in', z: tab, name: 'on mqtt 5', source: 'external', connection: 'nats5_conn', topic: 'other/{device}/telemetry', qos: 1, format: 'auto', configVersion: 2, coalesce: true, wires: [[], []] });
  writeFileSync(join(dataDir, 'flows.json'), JSON.stringify(flows));
  rt = await startRuntime({ dataDir });
});

after(async () => {
  await rt?.stop();
  await nats?.stop();
});

const publish = (device: string, message: string) =>
  execFileSync('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(nats.port), '-V', 'mqttv311', '-q', '1', '-t', `devices/${device}/telemetry`, '-m', message]);

async function health(): Promise<Health> {
  return (await (await fetch(`${rt.url}/health`)).json()) as Health;
}

async function readings(device: string): Promise<Array<{ ts: string; fields: Record<string, unknown> }>> {
  const body = (await (await rt.get(`/api/v1/readings?device=${device}&from=2026-01-01T00:00:00Z&limit=1000`)).json()) as { readings: Array<{ ts: string; fields: Record<string, unknown> }> };
  return body.readings;
}

test('readings published to nats-server over MQTT 3.1.1 are stored, and a bad payload is dead-lettered', async () => {
  await eventually(async () => ((await health()).components['mqtt:nats']?.ok ? true : undefined), 30_000, 'the 3.1.1 connection');
  publish('nt1', '{"temperature":19.5,"ts":1767225600000}');
  publish('nt1', '{"temperature":19.75,"ts":1767225601000}');
  publish('nt1', '{bad');
  const got = await eventually(async () => {
    const r = await readings('nt1');
    return r.length >= 2 ? r : undefined;
  }, 20_000, 'two readings from nats-server');
  assert.deepEqual(got.map((r) => [r.ts, r.fields.temperature]), [
    ['2026-01-01T00:00:00.000Z', 19.5],
    ['2026-01-01T00:00:01.000Z', 19.75],
  ]);
  const letters = await eventually(async () => {
    const body = (await (await rt.get('/api/v1/deadletters?device=nt1')).json()) as { deadLetters: Array<{ code: string; payload: string }> };
    return body.deadLetters.length ? body.deadLetters : undefined;
  }, 20_000, 'the dead letter');
  assert.deepEqual(letters.map((l) => [l.code, l.payload]), [['DECODE_FAILED', '{bad']]);
});

test('a connection asking nats-server for MQTT 5 is named as refused, with the version to set', async () => {
  const h = await eventually(async () => {
    const c = (await health()).components['mqtt:nats5'];
    return c && !c.ok && /does not accept MQTT 5/.test(c.detail ?? '') ? c : undefined;
  }, 30_000, 'the MQTT 5 connection named as refused');
  assert.match(h.detail ?? '', /set the connection's MQTT version to 3\.1\.1/);
  assert.doesNotMatch(rt.output(), /Connection refused: Unacceptable protocol version/);
});

test('an input with a shared group on nats-server, which takes $share/... and delivers nothing to it, says so instead of showing green', async () => {
  const h = await eventually(async () => {
    const c = (await health()).components['mqtt:natsg'];
    return c && !c.ok ? c : undefined;
  }, 40_000, 'the shared subscription named as undelivered');
  assert.match(h.detail ?? '', /accepted the shared subscription \$share\/g1\/grouped\/\+\/telemetry but delivered nothing to it/);
  assert.match(rt.output(), /leave the input's Shared group empty/);
});

test('what is published while nats-server restarts and before the connection is back is stored', async () => {
  await nats.restart();
  // Published at once, while the persistent session's client is still reconnecting: the broker keeps it for the session.
  const T = 1767229200000;
  for (let i = 0; i < 20; i++) publish('nt2', JSON.stringify({ seq: i, ts: T + i }));
  const got = await eventually(async () => {
    const r = await readings('nt2');
    return r.length >= 20 ? r : undefined;
  }, 30_000, 'the 20 readings published around the restart');
  assert.deepEqual(got.map((r) => r.fields.seq), Array.from({ length: 20 }, (_, i) => i));
  assert.ok((await health()).components['mqtt:nats']?.ok);
});
