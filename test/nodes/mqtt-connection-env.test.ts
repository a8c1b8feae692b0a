/**
 * upperstack-mqtt-connection whose URL is an `${ENV}` reference to a variable that is not set, as the
 * influx-grafana pack's `${UPPERSTACK_MQTT_URL}` is in a Node-RED started without it. Node-RED leaves
 * such a reference as it is, so the connection must say which variable to set rather than pass the
 * text to MQTT.js, which answers only "Missing protocol".
 */
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import helper from 'node-red-node-test-helper';
import { tempDir } from '../helpers/temp';
import { catalogTranslator, translating } from '../helpers/node-red';
import { checkHealth } from '../../nodes/shared/runtime';

/* eslint-disable @typescript-eslint/no-require-imports */
const nodes = [
  translating(catalogTranslator(['mqtt-connection'])),
  require('../../nodes/mqtt-connection/mqtt-connection'),
  require('../../nodes/mqtt-in/mqtt-in'),
];

helper.init(require.resolve('node-red'));

interface Call {
  thisValue: unknown;
  args: unknown[];
}

/** The helper spies on Node-RED's Node prototype: the calls made on node `id` alone. */
function callsOn(id: string, method: 'error' | 'status'): unknown[][] {
  const node = helper.getNode(id) as unknown as Record<'error' | 'status', { getCalls(): Call[] }>;
  return node[method].getCalls().filter((c) => c.thisValue === node).map((c) => c.args);
}

const VARIABLE = 'UPPERSTACK_TEST_BROKER_URL_NOT_SET';

before(async () => {
  delete process.env[VARIABLE];
  helper.settings({ upperstack: { dataDir: tempDir('us-mqtt-env-') } });
  await helper.startServer();
});
after(async () => {
  await helper.stopServer();
});
afterEach(async () => {
  await helper.unload();
});

test('a broker URL naming an unset environment variable: the error, the status and /health name the variable to set', async () => {
  await helper.load(nodes, [
    { id: 'tab', type: 'tab', label: 'test' },
    { id: 'conn', type: 'upperstack-mqtt-connection', name: 'mosquitto', url: `\${${VARIABLE}}`, clientId: 'us-test-env', protocolVersion: 4, persistent: true, keepalive: 30, ca: '', cert: '', key: '', rejectUnauthorized: true, configVersion: 1 },
    { id: 'in', type: 'upperstack-mqtt-in', z: 'tab', source: 'external', connection: 'conn', topic: 'devices/{device}/telemetry', qos: 1, format: 'auto', configVersion: 2, coalesce: true, wires: [[], []] },
  ]);
  const errors = callsOn('conn', 'error').map((a) => String(a[0]));
  assert.equal(errors.length, 1, JSON.stringify(errors));
  assert.match(errors[0], new RegExp(`^the broker URL is not set: .*${VARIABLE} is not set in Node-RED's environment; set it`));
  const last = callsOn('in', 'status').at(-1)?.[0] as { fill?: string; text?: string } | undefined;
  assert.equal(last?.fill, 'red');
  assert.match(String(last?.text), new RegExp(`${VARIABLE} is not set`));
  const health = (await checkHealth())['mqtt:mosquitto'];
  assert.equal(health?.ok, false);
  assert.match(String(health?.detail), new RegExp(`${VARIABLE} is not set`));
  assert.doesNotMatch(String(health?.detail), /Missing protocol/);
});
