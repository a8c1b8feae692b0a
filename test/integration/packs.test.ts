/**
 * Every flow pack in flows/ deployed in the real runtime (npm start's settings)
 * with a smoke test of its own: data in, the expected result out. Standalone
 * packs are the runtime's only flow; packs meant to sit next to the default pack
 * are merged into it the way `upperstack flows import` does (fresh ids, config
 * nodes reused by name). Real servers where the pack uses them: mosquitto,
 * influxd 1.x, coap-client-notls.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import { planImport } from '../../nodes/lib/flows/import';
import { parsePack, validatePack, type FlowNode } from '../../nodes/lib/flows/validate';
import { AdminClient, knownTypes } from '../../scripts/flows';
import { startInfluxd, influxQuery, type TsdbServer } from '../helpers/influxd';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto';
import { eventually, startRuntime, type Runtime } from '../helpers/runtime';
import { tempDir } from '../helpers/temp';

const ROOT = join(__dirname, '..', '..', '..');
const run = promisify(execFile);
const types = knownTypes();
const pack = (name: string): FlowNode[] => parsePack(readFileSync(join(ROOT, 'flows', `${name}.json`), 'utf8'));

const cleanup: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => undefined);
});

/** Starts the runtime with these flows as its flows file. */
async function deploy(flows: FlowNode[], env: Record<string, string> = {}): Promise<Runtime> {
  const dataDir = tempDir('us-pack-');
  writeFileSync(join(dataDir, 'flows.json'), JSON.stringify(flows));
  const rt = await startRuntime({ dataDir, env });
  cleanup.push(() => rt.stop());
  return rt;
}

/** Starts the runtime on an empty data folder: settings.ts writes the first flows (UPPERSTACK_PACKS). */
async function firstStart(env: Record<string, string>): Promise<Runtime> {
  const rt = await startRuntime({ dataDir: tempDir('us-pack-'), env });
  cleanup.push(() => rt.stop());
  return rt;
}

/** The default pack with another imported next to it, as `flows import` plans it. */
function besidePipeline(name: string): FlowNode[] {
  return planImport(pack(name), pack('pipeline'), { knownTypes: types }).flows;
}

/** A pack deploys without a warning or an error from its nodes (a missing option, a bad reference). */
function assertCleanLog(rt: Runtime): void {
  const bad = rt.output().split('\n').filter((l) => /\[(warn|error)\]/.test(l));
  assert.deepEqual(bad, [], 'warnings or errors in the runtime log');
}

async function readings(rt: Runtime, device: string): Promise<Array<{ ts: string; fields: Record<string, unknown> }>> {
  const body = (await (await rt.get(`/api/v1/readings?device=${encodeURIComponent(device)}&limit=1000`)).json()) as { readings: Array<{ ts: string; fields: Record<string, unknown> }> };
  return body.readings;
}

test('every pack: each node type resolves, each reference resolves, no secret inside, a description on its tab and a comment', () => {
  const names = readdirSync(join(ROOT, 'flows')).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5));
  for (const n of ['pipeline', 'simulator', 'http-gateway', 'coap-devices', 'alerts', 'reports-invoices', 'influx-grafana']) assert.ok(names.includes(n), `flows/${n}.json`);
  const deployedIds = new Set(pack('pipeline').map((n) => n.id));
  for (const name of names) {
    const nodes = pack(name);
    assert.deepEqual(validatePack(nodes, { knownTypes: types, deployedIds }), [], name);
    const tab = nodes.find((n) => n.type === 'tab');
    assert.ok(tab && typeof tab.info === 'string' && tab.info.length > 80, `${name}: its tab describes it`);
    assert.ok(nodes.some((n) => n.type === 'comment' && String(n.name).length > 20), `${name}: a comment says what it does in the Import dialog's picture`);
  }
});

test('UPPERSTACK_PACKS naming a pack that runs instead of the default one stops the first start with one line saying what to do', { timeout: 120_000 }, async () => {
  const dataDir = tempDir('us-pack-');
  await assert.rejects(startRuntime({ dataDir, env: { UPPERSTACK_PACKS: 'http-gateway' } }), (err: Error) => {
    const [head, ...output] = err.message.split('\n');
    assert.equal(head, 'runtime exited with 1:');
    const text = output.join('\n');
    assert.ok(text.includes(`upperstack: UPPERSTACK_PACKS names "http-gateway", a pack that runs instead of the default one, not beside it`), text);
    assert.ok(text.includes(`copy ${join(ROOT, 'flows', 'http-gateway.json')} to ${join(dataDir, 'flows.json')} before the first start`), text);
    assert.doesNotMatch(text, /Error loading settings file|\n\s+at /, 'no stack trace');
    return true;
  });
});

describe('http-gateway', () => {
  test('CroMFlaG2 insert, then fetch and the query API read it back; a bad body is a 400 and a dead letter', { timeout: 120_000 }, async () => {
    const rt = await deploy(pack('http-gateway'));
    const sample = readFileSync(join(ROOT, 'test', 'fixtures', 'users', 'http-insert-sample.json'));
    const ok = await fetch(`${rt.url}/insert/sample`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: sample });
    assert.equal(ok.status, 202);
    assert.deepEqual(await ok.json(), { accepted: 7, deadLettered: 0 });
    await eventually(async () => ((await readings(rt, 'sample')).length === 7 ? true : undefined), 20_000, 'seven readings stored');
    const fetched = (await (await fetch(`${rt.url}/fetch/sample?from=1582046738255&to=1582046788256`)).json()) as { tsdata: unknown[]; deviceinfo: Record<string, unknown> };
    assert.equal(fetched.tsdata.length, 6);
    assert.equal(fetched.deviceinfo.fw_ver, '12345.009');
    const bad = await fetch(`${rt.url}/ingest/gw-2`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"temperature": ' });
    assert.equal(bad.status, 400);
    await eventually(async () => {
      const body = (await (await rt.get('/api/v1/deadletters?device=gw-2')).json()) as { deadLetters: Array<{ code: string }> };
      return body.deadLetters.length === 1 && body.deadLetters[0].code === 'DECODE_FAILED' ? true : undefined;
    }, 20_000, 'the dead letter');
    // It has no MQTT broker: nothing listens on the MQTT port.
    assert.equal((await fetch(`${rt.url}/health`)).status, 200);
    assertCleanLog(rt);
  });
});

describe('coap-devices', () => {
  test('a confirmable CoAP POST is answered 2.04 and stored; a bad one gets 4.00 and a dead letter', { timeout: 120_000 }, async () => {
    const rt = await deploy(pack('coap-devices'));
    const post = (device: string, body: string) => run('coap-client-notls', ['-m', 'post', '-t', 'application/json', '-e', body, `coap://127.0.0.1:${rt.coapPort}/telemetry/${device}`], { timeout: 20_000 });
    const good = await eventually(async () => post('cd-1', '{"temperature": 19.5, "humidity": 40}'), 20_000, 'the CoAP input answering');
    assert.doesNotMatch(good.stdout + good.stderr, /4\.\d\d|5\.\d\d/);
    await eventually(async () => ((await readings(rt, 'cd-1')).length === 1 ? true : undefined), 20_000, 'the reading stored');
    assert.deepEqual((await readings(rt, 'cd-1'))[0].fields, { temperature: 19.5, humidity: 40 });
    const bad = await post('cd-2', '{"temperature": ').catch((e: { stdout?: string; stderr?: string }) => ({ stdout: e.stdout ?? '', stderr: e.stderr ?? '' }));
    assert.match(bad.stdout + bad.stderr, /4\.00|JSON/);
    await eventually(async () => {
      const body = (await (await rt.get('/api/v1/deadletters?device=cd-2')).json()) as { deadLetters: unknown[] };
      return body.deadLetters.length === 1 ? true : undefined;
    }, 20_000, 'the dead letter');
    // The pack's button sets a command for dev1, which a device observing /commands/dev1 gets: the pack has no MQTT broker.
    const admin = await AdminClient.connect(rt.url, 'admin', async () => 'test-admin-password');
    const button = pack('coap-devices').find((n) => n.type === 'inject' && n.name === 'reboot dev1')!;
    const r = await admin.request('POST', `/inject/${button.id}`);
    assert.equal(r.status, 200);
    const observer = spawn('coap-client-notls', ['-s', '60', '-m', 'get', `coap://127.0.0.1:${rt.coapPort}/commands/dev1`]);
    let seen = '';
    observer.stdout.on('data', (d: Buffer) => (seen += d.toString()));
    cleanup.push(async () => void observer.kill());
    await eventually(async () => (seen.includes('"action":"reboot"') ? true : undefined), 20_000, 'the command at the observer');
    observer.kill();
    assertCleanLog(rt);
  });
});

describe('alerts', () => {
  test('next to the default pack: a critical transition published by the alert node is routed to the critical branch; a cleared one is logged', { timeout: 120_000 }, async () => {
    // The first start deploys it beside the default pack (UPPERSTACK_PACKS), with its broker login from the environment.
    const rt = await firstStart({ UPPERSTACK_PACKS: 'alerts' });
    const admin = await AdminClient.connect(rt.url, 'admin', async () => 'test-admin-password');
    const deployed = (await admin.request('GET', '/flows')).body as FlowNode[] | { flows: FlowNode[] };
    const flows = Array.isArray(deployed) ? deployed : deployed.flows;
    assert.ok(flows.some((n) => n.type === 'tab' && n.label === 'Alert routing'));
    const rule = await fetch(`${rt.url}/api/v1/rules`, {
      method: 'POST',
      headers: { authorization: `Bearer ${rt.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'boiling', name: 'Boiling', devices: { all: true }, when: { field: 'temperature', op: 'above', value: 95, for: '0s' }, severity: 'critical', message: '{device} boils at {value}' }),
    });
    assert.equal(rule.status, 201);
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqttPort}`);
    cleanup.push(() => client.endAsync(true));
    // The pack's subscriber connects as the embedded broker starts (test/integration/alerts-pack-start.test.ts).
    await eventually(async () => (/\[mqtt-broker:embedded broker \(loopback\)\] Connected to broker/.test(rt.output()) ? true : undefined), 30_000, 'the pack\'s subscriber connected');
    await client.publishAsync('devices/kettle/telemetry', JSON.stringify({ temperature: 99 }), { qos: 1 });
    await eventually(async () => (/\[debug:critical\] kettle boils at 99/.test(rt.output()) ? true : undefined), 30_000, 'the critical alert in the log');
    await client.publishAsync('devices/kettle/telemetry', JSON.stringify({ temperature: 20 }), { qos: 1 });
    await eventually(async () => (/\[debug:cleared\]/.test(rt.output()) ? true : undefined), 30_000, 'the cleared transition logged');
    await client.endAsync();
    // The pack's dashboard pop-up uses the default pack's dashboard, not a second one.
    assert.equal(flows.filter((n) => n.type === 'ui-base').length, 1);
    assertCleanLog(rt);
  });
});

describe('reports-invoices', () => {
  test('next to the default pack, on its store: the report button produces yesterday\'s report and the invoice button last month\'s invoices', { timeout: 180_000 }, async () => {
    const flows = besidePipeline('reports-invoices');
    assert.equal(flows.filter((n) => n.type === 'upperstack-store-config').length, 1, 'it uses the default pack\'s store');
    const rt = await deploy(flows);
    const day = 86_400_000;
    const yesterday = Math.floor(Date.now() / day) * day - day;
    const now = new Date();
    const lastMonth = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 10);
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqttPort}`);
    cleanup.push(() => client.endAsync(true));
    // An alert rule of the default pack's alert node: the report lists the alerts raised in its period.
    const rule = await fetch(`${rt.url}/api/v1/rules`, {
      method: 'POST',
      headers: { authorization: `Bearer ${rt.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'overload', name: 'Overload', devices: { all: true }, when: { field: 'power', op: 'above', value: 4000, for: '0s' }, severity: 'warning', message: '{device} draws {value} W' }),
    });
    assert.equal(rule.status, 201);
    const plug = (t0: number, power: (h: number) => number) => Array.from({ length: 24 }, (_, h) => ({ ts: t0 + h * 3_600_000, fields: { power: power(h) }, tags: { customer: 'acme' } }));
    await client.publishAsync('devices/plug-7/telemetry', JSON.stringify([...plug(lastMonth, () => 1000), ...plug(yesterday, (h) => (h === 12 ? 5000 : 1000))]), { qos: 1 });
    await client.endAsync();
    await eventually(async () => ((await readings(rt, 'plug-7')).length === 48 ? true : undefined), 20_000, 'the readings stored');
    // The alert node stores its transitions after the readings: the report must find the alert raised in the store.
    await eventually(async () => {
      const body = (await (await rt.get('/api/v1/readings?device=plug-7&fields=alert.overload&limit=10')).json()) as { readings?: unknown[] };
      return body.readings?.length ? true : undefined;
    }, 30_000, 'the alert\'s transition stored');

    const admin = await AdminClient.connect(rt.url, 'admin', async () => 'test-admin-password');
    const press = async (name: string) => {
      const node = flows.find((n) => n.type === 'inject' && n.name === name)!;
      const r = await admin.request('POST', `/inject/${node.id}`);
      assert.equal(r.status, 200, `${name}: ${JSON.stringify(r.body)}`);
    };
    await press('run the daily report now');
    const report = await eventually(async () => {
      const body = (await (await rt.get('/api/v1/reports?name=daily%20report')).json()) as { reports: Array<{ files: Array<{ name: string; url: string }> }> };
      return body.reports[0];
    }, 60_000, 'the report');
    assert.deepEqual(report.files.map((f) => f.name.split('.').pop()).sort(), ['csv', 'html', 'json', 'pdf']);
    const csv = await (await rt.get(report.files.find((f) => f.name.endsWith('.csv'))!.url)).text();
    assert.match(csv, /plug-7/);
    assert.match(csv, /power/);
    const json = (await (await rt.get(report.files.find((f) => f.name.endsWith('.json'))!.url)).json()) as { alerts: { available: boolean; total: number; items: Array<{ device: string; ts: string; text: string }> } };
    assert.equal(json.alerts.available, true, 'alerts raised come from the alert node\'s history');
    assert.equal(json.alerts.total, 1);
    assert.equal(json.alerts.items[0].device, 'plug-7');
    assert.equal(json.alerts.items[0].ts, new Date(yesterday + 12 * 3_600_000).toISOString());
    assert.match(json.alerts.items[0].text, /plug-7 draws 5000 W/);

    await press('invoice last month now');
    const invoice = await eventually(async () => {
      const body = (await (await rt.get('/api/v1/invoices')).json()) as { invoices: Array<{ info?: Record<string, unknown>; files: Array<{ name: string }> }> };
      return body.invoices[0];
    }, 60_000, 'the invoice');
    assert.equal(invoice.info?.customer, 'acme');
    assert.ok(invoice.files.some((f) => f.name.endsWith('.pdf')));
    assertCleanLog(rt);
  });
});

describe('influx-grafana', () => {
  let mosq: Mosquitto;
  let influx: TsdbServer;
  test('next to the default pack: readings published to an external mosquitto land in the default store and in InfluxDB', { timeout: 180_000 }, async () => {
    mosq = await startMosquitto();
    cleanup.push(() => mosq.stop());
    influx = await startInfluxd();
    cleanup.push(() => influx.stop());
    const flows = besidePipeline('influx-grafana');
    assert.equal(flows.filter((n) => n.type === 'upperstack-store-config').length, 1, 'it writes to the default pack\'s store');
    const rt = await deploy(flows, { UPPERSTACK_MQTT_URL: `mqtt://127.0.0.1:${mosq.port}`, UPPERSTACK_INFLUX_URL: influx.url, UPPERSTACK_INFLUX_DB: 'packtest' });
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${mosq.port}`);
    cleanup.push(() => client.endAsync(true));
    const t0 = Date.now() - 60_000;
    await eventually(async () => {
      await client.publishAsync('devices/ig-1/telemetry', JSON.stringify({ ts: t0, temperature: 21.25, humidity: 55 }), { qos: 1 });
      return (await readings(rt, 'ig-1')).length > 0 ? true : undefined;
    }, 30_000, 'the reading in DuckDB');
    await client.endAsync();
    const rows = await eventually(async () => {
      const res = await influxQuery(influx, `SELECT * FROM /.*/ WHERE "device" = 'ig-1'`, 'packtest').catch(() => []);
      return res[0]?.series?.length ? res[0].series : undefined;
    }, 30_000, 'the reading in InfluxDB');
    const cols = rows[0].columns;
    const row = rows[0].values[0];
    assert.equal(row[cols.indexOf('time')], t0);
    assert.equal(row[cols.indexOf('temperature')], 21.25);
    assert.equal(row[cols.indexOf('humidity')], 55);
    // Grafana's provisioned InfluxDB dashboard finds the device and charts its fields: its own queries, with
    // the values Grafana puts in for $device, $timeFilter and $__interval.
    const dash = JSON.parse(readFileSync(join(ROOT, 'grafana', 'dashboards', 'upperstack-influxdb.json'), 'utf8')) as {
      panels: Array<{ title: string; targets: Array<{ query: string }> }>;
      templating: { list: Array<{ name: string; query: string }> };
    };
    const devices = await influxQuery(influx, dash.templating.list.find((v) => v.name === 'device')!.query, 'packtest');
    assert.ok(devices[0].series![0].values.some((v) => v[1] === 'ig-1'), 'the device variable lists ig-1');
    const charted: Record<string, unknown> = {};
    for (const panel of dash.panels) {
      for (const t of panel.targets) {
        const q = t.query.replaceAll('$device', '(ig-1)').replaceAll('$timeFilter', 'time > now() - 1h').replaceAll('$__interval', '1m');
        const res = await influxQuery(influx, q, 'packtest');
        const points = (res[0].series ?? []).flatMap((s) => s.values.map((v) => v[1]));
        if (points.length) charted[panel.title] = points[0];
      }
    }
    assert.deepEqual(charted, { Temperature: 21.25, Humidity: 55 });
    assertCleanLog(rt);
  });
});

describe('simulator', () => {
  test('next to the default pack: its simulated devices\' readings are stored', { timeout: 120_000 }, async () => {
    const rt = await deploy(besidePipeline('simulator'));
    await eventually(async () => ((await readings(rt, 'sim-01')).length > 0 ? true : undefined), 60_000, 'sim-01 readings');
    assertCleanLog(rt);
  });
});
