/**
 * GET /metrics in a Node-RED test runtime: devices publish good and bad
 * messages to the real embedded broker, post them to the HTTP input and send
 * them to the CoAP input (the coap package on UDP), the pipeline stores and
 * dead-letters them in a real DuckDB file, and a scrape over HTTP shows what
 * happened.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { NodeAPI } from 'node-red';
import helper from 'node-red-node-test-helper';
import mqtt from 'mqtt';
import * as coap from 'coap';
import { checkHealth, findBroker } from '../../nodes/shared/runtime';
import { eventually, freeUdpPort } from '../helpers/runtime';
import { ingestNodes } from '../helpers/simulate-flow';
import { tempDir } from '../helpers/temp';

/* eslint-disable @typescript-eslint/no-require-imports */
let red: NodeAPI | undefined;
const nodes = [
  ...ingestNodes,
  require('../../nodes/api/api'),
  require('../../nodes/http-in/http-in'),
  require('../../nodes/coap-in/coap-in'),
  (r: NodeAPI) => void (red = r),
];

helper.init(require.resolve('node-red'));

const KEY = 'metrics-test-key';

function flow(extra: Array<Record<string, unknown>> = []) {
  return [
    { id: 'tab', type: 'tab', label: 'test' },
    { id: 'cfg', type: 'upperstack-store-config', name: 'db', kind: 'duckdb', path: '', batchSize: 100, flushMs: 10, configVersion: 2, memoryLimit: 128 },
    { id: 'broker', type: 'upperstack-broker', z: 'tab', port: '0', bind: '127.0.0.1', configVersion: 1, wires: [[]] },
    { id: 'in', type: 'upperstack-mqtt-in', z: 'tab', source: 'embedded', broker: 'broker', topic: 'devices/{device}/telemetry', qos: 1, format: 'auto', configVersion: 1, wires: [['decode'], ['dead']] },
    { id: 'decode', type: 'upperstack-decode', z: 'tab', name: 'decoder', format: 'auto', maxBytes: 1048576, configVersion: 1, wires: [['validate'], ['dead']] },
    { id: 'validate', type: 'upperstack-validate', z: 'tab', schemaSource: 'default', configVersion: 1, wires: [['store'], ['dead']] },
    { id: 'store', type: 'upperstack-store', z: 'tab', store: 'cfg', configVersion: 1, wires: [[]] },
    { id: 'dead', type: 'upperstack-deadletter', z: 'tab', store: 'cfg', broker: 'broker', topic: 'upperstack/deadletter', configVersion: 1, wires: [[]] },
    { id: 'api', type: 'upperstack-api', z: 'tab', store: 'cfg', configVersion: 1, wires: [] },
    ...extra,
  ];
}

function series(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(name + ' '));
  return line ? Number(line.slice(name.length + 1)) : 0;
}

describe('GET /metrics', () => {
  let server: Server | undefined;
  let url = '';
  let settings: Record<string, unknown> = {};

  before(async () => {
    // uiHost on loopback: the HTTP input takes anonymous devices there.
    settings = { uiHost: '127.0.0.1', upperstack: { dataDir: tempDir('us-metrics-'), apiKey: KEY } };
    helper.settings(settings);
    await helper.startServer();
  });
  after(async () => {
    await helper.stopServer();
  });
  afterEach(async () => {
    await new Promise((r) => (server ? server.close(r) : r(undefined)));
    server = undefined;
    await helper.unload();
  });

  async function start(extra: Array<Record<string, unknown>> = []): Promise<mqtt.MqttClient> {
    await helper.load(nodes, flow(extra));
    server = createServer(red!.httpNode as never);
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const port = await eventually(async () => (findBroker('broker')?.listening() ? findBroker('broker')!.addresses().tcp : undefined), 10_000, 'the broker');
    return mqtt.connectAsync(`mqtt://127.0.0.1:${port}`);
  }
  const scrape = async (headers: Record<string, string> = { authorization: `Bearer ${KEY}` }) => {
    const res = await fetch(`${url}/metrics`, { headers });
    return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() };
  };

  test('counts what devices sent: received, decoded, invalid, stored, dead-lettered, per node; dropped stays 0', async () => {
    const client = await start();
    const before = (await scrape()).text;
    for (let i = 0; i < 3; i++) await client.publishAsync('devices/m1/telemetry', JSON.stringify({ ts: 1767225600000 + i, t: i }), { qos: 1 });
    await client.publishAsync('devices/m1/telemetry', '{"t": oops}', { qos: 1 });
    await client.publishAsync('devices/m1/telemetry', JSON.stringify({ ts: 1767225600100, 'bad name!': 1 }), { qos: 1 });
    await client.endAsync();
    const delta = (text: string, name: string) => series(text, name) - series(before, name);
    const after = await eventually(async () => {
      const s = await scrape();
      return delta(s.text, 'upperstack_readings_stored_total{sink="db",kind="duckdb"}') >= 3 && delta(s.text, 'upperstack_deadletters_total{code="SCHEMA_VIOLATION"}') >= 1 ? s : undefined;
    }, 20_000, 'the readings stored and the bad ones dead-lettered');
    assert.equal(after.status, 200);
    assert.match(after.type, /^text\/plain; version=0\.0\.4/);
    const t = after.text;
    assert.equal(delta(t, 'upperstack_messages_received_total{protocol="mqtt"}'), 5);
    assert.equal(delta(t, 'upperstack_readings_decoded_total'), 4);
    assert.equal(delta(t, 'upperstack_invalid_total{stage="decode"}'), 1);
    assert.equal(delta(t, 'upperstack_invalid_total{stage="validate"}'), 1);
    assert.equal(delta(t, 'upperstack_readings_stored_total{sink="db",kind="duckdb"}'), 3);
    assert.equal(delta(t, 'upperstack_deadletters_total{code="DECODE_FAILED"}'), 1);
    assert.equal(delta(t, 'upperstack_deadletters_total{code="SCHEMA_VIOLATION"}'), 1);
    assert.equal(series(t, 'upperstack_dropped_total'), 0);
    assert.equal(delta(t, 'upperstack_node_messages_total{node="decode",type="upperstack-decode",name="decoder"}'), 5);
    assert.equal(delta(t, 'upperstack_node_messages_total{node="in",type="upperstack-mqtt-in",name=""}'), 5);
    assert.equal(series(t, 'upperstack_journal_backlog_messages{journal="in",type="upperstack-mqtt-in"}'), 0, 'everything settled');
    assert.equal(series(t, 'upperstack_journal_oldest_age_seconds{journal="in",type="upperstack-mqtt-in"}'), 0);
    assert.equal(series(t, 'upperstack_sink_spooled_readings{sink="db",kind="duckdb"}'), 0);
    assert.ok(series(t, 'process_resident_memory_bytes') > 0);
    assert.match(t, /^nodejs_eventloop_lag_seconds \d/m);
  });

  test('counts HTTP and CoAP requests by protocol, what those inputs decode and reject, per node, and lists their journals', async () => {
    const coapPort = await freeUdpPort();
    const client = await start([
      { id: 'hin', type: 'upperstack-http-in', z: 'tab', name: 'web', wires: [['store'], ['dead']] },
      { id: 'cin', type: 'upperstack-coap-in', z: 'tab', name: 'udp', port: String(coapPort), bind: '127.0.0.1', wires: [['store'], ['dead']] },
    ]);
    await client.endAsync();
    await eventually(async () => (/^listening/.test((await checkHealth())['coap:udp']?.detail ?? '') ? true : undefined), 10_000, 'the CoAP input listening');
    const before = (await scrape()).text;
    const post = async (body: string) => (await fetch(`${url}/ingest/h1`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })).status;
    assert.equal(await post(JSON.stringify([{ ts: 1767225700000, t: 1 }, { ts: 1767225700001, t: 2 }])), 202);
    assert.equal(await post('{"t": oops}'), 400);
    assert.equal(await post(JSON.stringify({ ts: 1767225700002, 'bad name!': 1 })), 422);
    const agent = new coap.Agent({ type: 'udp4' });
    const send = (body: string) =>
      new Promise<string>((resolve, reject) => {
        const req = coap.request({ hostname: '127.0.0.1', port: coapPort, method: 'POST', pathname: '/telemetry/c1', confirmable: true, agent });
        req.setOption('Content-Format', 'application/json');
        req.on('response', (res: coap.IncomingMessage) => resolve(String(res.code)));
        req.on('error', reject);
        req.end(body);
      });
    try {
      assert.equal(await send(JSON.stringify({ ts: 1767225700003, t: 3 })), '2.04');
      assert.equal(await send('{"t": oops}'), '4.00');
    } finally {
      await new Promise<void>((r) => agent.once('close', () => r()).close());
    }
    const delta = (text: string, name: string) => series(text, name) - series(before, name);
    const journal = (type: string, id: string) => `{journal="${id}",type="upperstack-${type}-in"}`;
    const t = await eventually(async () => {
      const s = (await scrape()).text;
      const settled = series(s, `upperstack_journal_backlog_messages${journal('http', 'hin')}`) === 0 && series(s, `upperstack_journal_backlog_messages${journal('coap', 'cin')}`) === 0;
      return settled && delta(s, 'upperstack_readings_stored_total{sink="db",kind="duckdb"}') >= 3 && delta(s, 'upperstack_deadletters_total{code="DECODE_FAILED"}') >= 2 ? s : undefined;
    }, 20_000, 'the readings stored, the bad ones dead-lettered and both journals settled');
    assert.equal(delta(t, 'upperstack_messages_received_total{protocol="http"}'), 3);
    assert.equal(delta(t, 'upperstack_messages_received_total{protocol="coap"}'), 2);
    assert.equal(delta(t, 'upperstack_messages_received_total{protocol="mqtt"}'), 0);
    // Decoded: the three readings stored and the one the schema refused.
    assert.equal(delta(t, 'upperstack_readings_decoded_total'), 4);
    assert.equal(delta(t, 'upperstack_invalid_total{stage="decode"}'), 2);
    assert.equal(delta(t, 'upperstack_invalid_total{stage="validate"}'), 1);
    assert.equal(delta(t, 'upperstack_node_messages_total{node="hin",type="upperstack-http-in",name="web"}'), 3);
    assert.equal(delta(t, 'upperstack_node_messages_total{node="cin",type="upperstack-coap-in",name="udp"}'), 2);
    for (const [type, id] of [['http', 'hin'], ['coap', 'cin'], ['mqtt', 'in']]) {
      assert.ok(t.split('\n').includes(`upperstack_journal_oldest_age_seconds${journal(type, id)} 0`), `${id}'s journal is listed`);
      // The journal's files on disk, not the settled backlog: what was written stays in the current file.
      if (type !== 'mqtt') assert.ok(series(t, `upperstack_journal_backlog_bytes${journal(type, id)}`) > 0, `${id}'s journal file holds its settled requests`);
    }
    assert.match(t, /^# HELP upperstack_journal_backlog_bytes Bytes of the journal's segment files on disk \(settled entries included/m);
  });

  test('a scrape without the key, or with a wrong one, is refused with a JSON error', async () => {
    await (await start()).endAsync();
    const none = await scrape({});
    assert.equal(none.status, 401);
    assert.equal((JSON.parse(none.text) as { error: { code: string } }).error.code, 'UNAUTHORIZED');
    assert.doesNotMatch(none.text, /upperstack_/);
    assert.equal((await scrape({ authorization: 'Bearer nope' })).status, 401);
  });

  test('with the metrics setting auth "none" a scrape needs no key', async () => {
    (settings.upperstack as Record<string, unknown>).metrics = { auth: 'none' };
    try {
      await (await start()).endAsync();
      const open = await scrape({});
      assert.equal(open.status, 200);
      assert.match(open.text, /^# TYPE upperstack_dropped_total counter$/m);
    } finally {
      delete (settings.upperstack as Record<string, unknown>).metrics;
    }
  });
});
