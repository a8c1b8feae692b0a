/** The environment a pack declares it needs (nodes/lib/flows/env-needs.ts), and what `flows import` says when it is unset. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { envNeeds, unsetEnvNeeds } from '../../nodes/lib/flows/env-needs';
import { parsePack, validatePack, type FlowNode } from '../../nodes/lib/flows/validate';
import { knownTypes, startingEnvWarnings, warnUnsetEnv } from '../../scripts/flows';

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

test('a variable npm start sets itself (the alerts pack\'s API key) is no warning: named as needed by a Node-RED of your own only', () => {
  const saved = { ...process.env };
  try {
    delete process.env.UPPERSTACK_API_KEY;
    const err = new PassThrough();
    warnUnsetEnv('alerts.json', pack('alerts'), err);
    const text = String(err.read());
    assert.doesNotMatch(text, /warning/);
    assert.match(text, /^note: alerts\.json needs a variable not set here that npm start sets in its runtime itself; only a Node-RED of your own needs it in its environment:\n {2}UPPERSTACK_API_KEY: the query API key/);
    // Beside one the user must set, each is said as what it is.
    const both = [...pack('alerts'), ...pack('influx-grafana')];
    delete process.env.UPPERSTACK_MQTT_URL;
    process.env.UPPERSTACK_INFLUX_URL = 'http://127.0.0.1:8086';
    const mixed = new PassThrough();
    warnUnsetEnv('mixed.json', both, mixed);
    const lines = String(mixed.read()).trimEnd().split('\n');
    assert.equal(lines.length, 4, lines.join('\n'));
    assert.match(lines[0], /^warning: mixed\.json needs an environment variable not set here/);
    assert.match(lines[1], /^ {2}UPPERSTACK_MQTT_URL: /);
    assert.match(lines[2], /^note: mixed\.json needs a variable not set here that npm start sets/);
    assert.match(lines[3], /^ {2}UPPERSTACK_API_KEY: /);
  } finally {
    process.env = saved;
  }
});

test('a first start names, one line each, the unset variables of the packs UPPERSTACK_PACKS adds', () => {
  assert.deepEqual(startingEnvWarnings(root, 'alerts, influx-grafana', { UPPERSTACK_API_KEY: 'k', UPPERSTACK_MQTT_URL: 'mqtt://m:1883' }), [
    'UPPERSTACK_PACKS pack "influx-grafana" needs UPPERSTACK_INFLUX_URL, not set: ' + envNeeds(pack('influx-grafana'))[1].for,
  ]);
  assert.deepEqual(startingEnvWarnings(root, undefined, {}), []);
});

test('a malformed declaration is a problem of flows validate', () => {
  const bad: FlowNode[] = [{ id: 't', type: 'tab', label: 'x', envNeeded: [{ name: 'NOT A NAME', for: 'x' }, 'UPPERSTACK_X', { name: 'UPPERSTACK_Y', for: 'y', setByNpmStart: 'yes' }] }];
  const problems = validatePack(bad, { knownTypes: knownTypes() }).filter((p) => p.property === 'envNeeded');
  assert.equal(problems.length, 3);
});
