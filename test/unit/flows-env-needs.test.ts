/** The environment a pack declares it needs (nodes/lib/flows/env-needs.ts), and what `flows import` says when it is unset. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { envNeeds, unsetEnvNeeds } from '../../nodes/lib/flows/env-needs';
import { parsePack, validatePack, type FlowNode } from '../../nodes/lib/flows/validate';
import { knownTypes, warnUnsetEnv } from '../../scripts/flows';

const root = join(__dirname, '..', '..', '..');
const pack = (name: string) => parsePack(readFileSync(join(root, 'flows', `${name}.json`), 'utf8'));

test('the packs declare the variables they cannot run without; the default pack (optional InfluxDB) none', () => {
  const names = (p: string) => envNeeds(pack(p)).map((n) => n.name);
  assert.deepEqual(names('influx-grafana'), ['UPPERSTACK_MQTT_URL', 'UPPERSTACK_INFLUX_URL']);
  assert.deepEqual(names('data-market'), ['UPPERSTACK_MARKET_SECRET']);
  assert.deepEqual(names('alerts'), ['UPPERSTACK_API_KEY']);
  for (const p of ['pipeline', 'http-gateway', 'coap-devices', 'reports-invoices', 'simulator']) assert.deepEqual(names(p), [], p);
  for (const n of envNeeds(pack('influx-grafana'))) assert.match(n.for, /e\.g\. \w+:\/\//, 'each says what it is for, with an example');
});

test('unset: neither in the environment (empty counts as unset) nor in the declaring tab\'s own variables', () => {
  const ig = pack('influx-grafana');
  assert.deepEqual(unsetEnvNeeds(ig, {}).map((n) => n.name), ['UPPERSTACK_MQTT_URL', 'UPPERSTACK_INFLUX_URL']);
  assert.deepEqual(unsetEnvNeeds(ig, { UPPERSTACK_MQTT_URL: 'mqtt://m:1883', UPPERSTACK_INFLUX_URL: ' ' }).map((n) => n.name), ['UPPERSTACK_INFLUX_URL']);
  const withTabEnv = ig.map((n) => (n.type === 'tab' ? { ...n, env: [{ name: 'UPPERSTACK_INFLUX_URL', type: 'str', value: 'http://influx:8086' }] } : n));
  assert.deepEqual(unsetEnvNeeds(withTabEnv, { UPPERSTACK_MQTT_URL: 'mqtt://m:1883' }), []);
});

test('flows import warns naming each unset variable and what it is for; nothing when all are set', () => {
  const saved = { ...process.env };
  try {
    delete process.env.UPPERSTACK_MQTT_URL;
    delete process.env.UPPERSTACK_INFLUX_URL;
    const err = new PassThrough();
    warnUnsetEnv('influx-grafana.json', pack('influx-grafana'), err);
    const text = String(err.read());
    assert.match(text, /^warning: influx-grafana\.json needs environment variables not set here/);
    assert.match(text, /\n {2}UPPERSTACK_MQTT_URL: the external broker the devices publish to \(e\.g\. mqtt:\/\/mosquitto:1883\); without it the "mosquitto" connection fails at start/);
    assert.match(text, /\n {2}UPPERSTACK_INFLUX_URL: the InfluxDB the store writes every reading to/);
    process.env.UPPERSTACK_MQTT_URL = 'mqtt://127.0.0.1:1883';
    process.env.UPPERSTACK_INFLUX_URL = 'http://127.0.0.1:8086';
    const quiet = new PassThrough();
    warnUnsetEnv('influx-grafana.json', pack('influx-grafana'), quiet);
    assert.equal(quiet.read(), null);
  } finally {
    process.env = saved;
  }
});

test('a malformed declaration is a problem of flows validate', () => {
  const bad: FlowNode[] = [{ id: 't', type: 'tab', label: 'x', envNeeded: [{ name: 'NOT A NAME', for: 'x' }, 'UPPERSTACK_X'] }];
  const problems = validatePack(bad, { knownTypes: knownTypes() }).filter((p) => p.property === 'envNeeded');
  assert.equal(problems.length, 2);
});
