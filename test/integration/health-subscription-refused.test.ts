/**
 * An MQTT input whose subscription a real mosquitto refuses (its dynamic security plugin's access rules answer
 * the SUBSCRIBE with a failure SUBACK): the connection is up, but that input receives nothing, so /health must
 * not answer 200.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { eventually, startRuntime, type Runtime } from '../helpers/runtime';
import { pipelineOnConnection } from '../helpers/packs';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto';
import { tempDir } from '../helpers/temp';

let mosq: Mosquitto;
let rt: Runtime;

/** mosquitto's dynamic security plugin's rules: anonymous clients may subscribe to these filters only. */
function allowingSubscribe(filters: string[]): string {
  const acls = filters.map((topic) => ({ acltype: 'subscribePattern', topic, allow: true }));
  return JSON.stringify({
    defaultACLAccess: { publishClientSend: true, publishClientReceive: true, subscribe: false, unsubscribe: true },
    clients: [],
    groups: [{ groupname: 'anonymous', roles: [{ rolename: 'devices' }] }],
    roles: [{ rolename: 'devices', acls }],
    anonymousGroup: 'anonymous',
  });
}

before(async () => {
  mosq = await startMosquitto({
    files: { 'dynsec.json': allowingSubscribe(['devices/+/telemetry']) },
    conf: (file) => ['plugin /usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so', `plugin_opt_config_file ${file('dynsec.json')}`],
  });
  const dataDir = tempDir('us-acl-rt-');
  // The default pack, its two MQTT inputs on the external broker: JSON readings allowed, protobuf ones not.
  const flows = pipelineOnConnection({ id: 'ext_conn', name: 'mosquitto', url: `mqtt://127.0.0.1:${mosq.port}`, clientId: 'upperstack-acl', protocolVersion: 4, persistent: false, keepalive: 30, ca: '', cert: '', key: '', rejectUnauthorized: true, configVersion: 2, receiveMaximum: 0 });
  writeFileSync(join(dataDir, 'flows.json'), JSON.stringify(flows));
  rt = await startRuntime({ dataDir });
});

after(async () => {
  await rt?.stop();
  await mosq?.stop();
});

interface Health {
  status: string;
  problems: Array<{ component: string; code: string; message: string }>;
  components: Record<string, { ok: boolean; detail: string }>;
}

async function health(): Promise<[number, Health]> {
  const res = await fetch(`${rt.url}/health`);
  return [res.status, (await res.json()) as Health];
}

test('a subscription the broker refuses fails /health at once, naming the input and its filter; granted after a change of rules, /health is 200 again', async () => {
  const [status, body] = await eventually(async () => {
    const got = await health();
    return got[1].components['mqtt:mosquitto']?.ok === false ? got : undefined;
  }, 30_000, 'the refused subscription in /health');
  assert.equal(status, 503);
  const problem = body.problems.find((p) => p.component === 'mqtt:mosquitto');
  assert.equal(problem?.code, 'FAILING');
  assert.match(problem?.message ?? '', /refused the subscription to devices\/\+\/protobuf \(MQTT input "protobuf telemetry"\)/);
  assert.doesNotMatch(problem?.message ?? '', /devices\/\+\/telemetry/);
  assert.equal(rt.output().split('\n').filter((l) => l.includes('[error]') && l.includes('refused the subscription to devices/+/protobuf')).length, 1, rt.output());

  // The granted input still takes readings over the same connection.
  execFileSync('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(mosq.port), '-q', '1', '-t', 'devices/acl1/telemetry', '-m', '{"temperature":7.5,"ts":1767225600000}']);
  await eventually(async () => {
    const res = await rt.get('/api/v1/readings?device=acl1');
    return ((await res.json()) as { readings: unknown[] }).readings.length === 1 ? true : undefined;
  }, 20_000, 'the reading on the granted subscription stored');

  // The rules now allow it: once the connection is back and the broker grants it, /health is healthy again.
  await mosq.down();
  mosq.write('dynsec.json', allowingSubscribe(['devices/+/telemetry', 'devices/+/protobuf']));
  await mosq.up();
  // (A connection down for less than its threshold is ok: false with /health still 200, so the wait is for both.)
  await eventually(async () => {
    const [s, h] = await health();
    return s === 200 && h.components['mqtt:mosquitto']?.ok === true ? true : undefined;
  }, 30_000, '/health 200 with the subscription granted');
});
