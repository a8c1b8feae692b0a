/**
 * The editor as a person sees it, in Debian's headless Chromium: the login is
 * required, and after it the default pack shows the whole pipeline with every
 * Upperstack node known to the palette (no "unknown node" placeholders); the
 * anomaly node's Backtest button replays readings stored earlier.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { chromium, type Browser, type Page } from 'playwright-core';
import { eventually, startRuntime, type Runtime } from '../helpers/runtime';

let rt: Runtime;
let browser: Browser;

before(async () => {
  rt = await startRuntime();
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  await rt?.stop();
});

/** Opens the editor and logs in; resolves once the graph is drawn. */
async function login(page: Page): Promise<void> {
  await page.goto(rt.url + '/');
  await page.waitForSelector('#node-dialog-login-username', { timeout: 30_000 });
  await page.fill('#node-dialog-login-username', 'admin');
  await page.fill('#node-dialog-login-password', 'test-admin-password');
  await page.click('#node-dialog-login-submit');
  await page.waitForSelector('#red-ui-workspace-chart .red-ui-flow-node', { timeout: 30_000 });
}

/**
 * Waits until an edit dialog has finished opening. Its fields show at once, but the tray slides in on timers
 * and, once in place, moves the focus to its first field. Playwright's fill focuses a field and types in a
 * second step; under load the move can fall between the two, and the keys go to the first field instead.
 * A person waits for the dialog too.
 */
async function dialogOpened(page: Page, selector: string): Promise<void> {
  await page.waitForSelector(selector, { state: 'visible', timeout: 30_000 });
  await page.waitForFunction(() => document.activeElement?.closest('.red-ui-tray') != null, undefined, { timeout: 30_000 });
}

test('the editor asks for a login, then shows the pipeline graph with the Upperstack palette', { timeout: 120_000 }, async () => {
  const page = await browser.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await login(page);

  const info = await page.evaluate(() => {
    const RED = (window as unknown as { RED: { nodes: { eachNode(cb: (n: { type: string }) => void): void; getType(t: string): unknown } } }).RED;
    const types: string[] = [];
    RED.nodes.eachNode((n) => void types.push(n.type));
    const palette = [...document.querySelectorAll('.red-ui-palette-node')].map((el) => el.getAttribute('data-palette-type'));
    return { types, palette, unknown: document.querySelectorAll('.red-ui-flow-node-unknown').length };
  });
  for (const t of ['upperstack-broker', 'upperstack-mqtt-in', 'upperstack-decode', 'upperstack-validate', 'upperstack-store', 'upperstack-deadletter', 'upperstack-api', 'upperstack-anomaly']) {
    assert.ok(info.types.includes(t), `the graph shows ${t}`);
  }
  for (const t of ['upperstack-broker', 'upperstack-mqtt-in', 'upperstack-decode', 'upperstack-encode', 'upperstack-validate', 'upperstack-store', 'upperstack-deadletter', 'upperstack-query', 'upperstack-api', 'upperstack-anomaly']) {
    assert.ok(info.palette.includes(t), `the palette offers ${t}`);
  }
  assert.equal(info.unknown, 0, 'no node is unknown to the editor');
  assert.deepEqual(pageErrors, []);
  await page.screenshot({ path: `${rt.dataDir}/editor.png` });
});

test('the anomaly node\'s Backtest button replays stored readings with the dialog\'s unsaved settings', { timeout: 180_000 }, async () => {
  // Stored earlier: 40 normal readings a minute apart over the last hour, then a spike.
  const device = 'editor-boiler';
  const start = Date.now() - 50 * 60_000;
  const normal = Array.from({ length: 40 }, (_, i) => ({ ts: start + i * 60_000, fields: { temperature: 20 + Math.sin(i * 1.7) * 0.5 } }));
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqttPort}`);
  await client.publishAsync(`devices/${device}/telemetry`, JSON.stringify(normal), { qos: 1 });
  await client.publishAsync(`devices/${device}/telemetry`, JSON.stringify({ ts: start + 40 * 60_000, temperature: 45 }), { qos: 1 });
  await client.endAsync();
  await eventually(async () => {
    const body = (await (await rt.get(`/api/v1/readings?device=${device}`)).json()) as { readings: unknown[] };
    return body.readings.length === 41 ? true : undefined;
  }, 20_000, 'the 41 readings in the store');

  const page = await browser.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await login(page);
  // The pack's anomaly node, opened as a double-click would.
  const opened = await page.evaluate(() => {
    const RED = (window as unknown as { RED: { nodes: { eachNode(cb: (n: { type: string; id: string }) => void): void; node(id: string): unknown }; editor: { edit(n: unknown): void } } }).RED;
    let id = '';
    RED.nodes.eachNode((n) => {
      if (n.type === 'upperstack-anomaly') id = n.id;
    });
    if (id) RED.editor.edit(RED.nodes.node(id));
    return id;
  });
  assert.ok(opened, 'the default pack has an anomaly node');
  await dialogOpened(page, '#upperstack-anomaly-bt-run');
  assert.equal(await page.inputValue('#upperstack-anomaly-bt-range'), '24h', 'the last 24 hours unless chosen otherwise');
  await page.fill('#upperstack-anomaly-bt-device', device);
  await page.fill('#upperstack-anomaly-bt-field', 'temperature');

  await page.click('#upperstack-anomaly-bt-run');
  const summary = await page.waitForSelector('#upperstack-anomaly-bt-result .upperstack-anomaly-bt-summary', { timeout: 30_000 });
  assert.equal((await summary.textContent())?.trim(), '1 of 41 readings would have been flagged');
  const reasons = await page.$$eval('#upperstack-anomaly-bt-result .upperstack-anomaly-bt-reasons li', (lis) => lis.map((li) => li.textContent ?? ''));
  assert.equal(reasons.length, 1);
  assert.match(reasons[0], /temperature 45(\.0)? is .*above/);

  // An unsaved edit counts: with a warm-up longer than the history nothing gets a verdict.
  await page.fill('#node-input-warmup', '50');
  await page.click('#upperstack-anomaly-bt-run');
  const again = await page.waitForSelector('#upperstack-anomaly-bt-result .upperstack-anomaly-bt-summary', { timeout: 30_000 });
  assert.equal((await again.textContent())?.trim(), '0 of 41 readings would have been flagged');
  const notes = await page.$$eval('#upperstack-anomaly-bt-result .upperstack-anomaly-bt-note', (els) => els.map((e) => e.textContent ?? ''));
  assert.ok(notes.includes('the first 41 readings were warm-up (no verdict)'), notes.join(' | '));

  // A bad setting shows the error instead of a count.
  await page.fill('#node-input-warmup', 'soon');
  await page.click('#upperstack-anomaly-bt-run');
  const error = await page.waitForSelector('#upperstack-anomaly-bt-result .upperstack-anomaly-bt-error', { timeout: 30_000 });
  assert.match((await error.textContent()) ?? '', /warmup must be a number/);

  assert.deepEqual(pageErrors, []);
  await error.scrollIntoViewIfNeeded();
  await page.screenshot({ path: `${rt.dataDir}/anomaly-backtest.png` });
});

/** The part of the editor's RED the dialog test drives. */
type Red = {
  nodes: { id(): string; import(n: unknown[], o: unknown): void; node(id: string): unknown; remove(id: string): void; eachConfig(cb: (n: { id: string; type: string }) => void): void; dirty(): boolean };
  workspaces: { active(): string };
  settings: { get(key: string): unknown };
  editor: { edit(n: unknown): void; editConfig(name: string, type: string, id: string): void };
};

/** One dialog interaction: fill fields (text or select), then which fields the editor marks red and which not, and which it shows. */
interface Step {
  fill?: Record<string, string>;
  select?: Record<string, string>;
  invalid?: string[];
  valid?: string[];
  shown?: string[];
  hidden?: string[];
}

/** Per node type, edits a fresh node would get wrong; the templates' shared helpers (number limits, legacy options, broker list, form values) decide. */
const dialogs: { type: string; config?: boolean; steps: Step[] }[] = [
  {
    type: 'upperstack-broker',
    steps: [
      { fill: { port: '70000' }, invalid: ['port'] },
      // A TLS listener needs both files.
      { fill: { port: '1884', tlsPort: '8883' }, valid: ['port', 'tlsPort'], invalid: ['tlsKey', 'tlsCert'] },
      { fill: { tlsKey: 'key.pem' }, valid: ['tlsKey'], invalid: ['tlsCert'] },
      { fill: { tlsCert: 'cert.pem' }, valid: ['tlsKey', 'tlsCert'] },
      { fill: { tlsKey: '', tlsCert: '', tlsPort: '' }, valid: ['tlsPort', 'tlsKey', 'tlsCert'] },
    ],
  },
  {
    type: 'upperstack-mqtt-connection',
    config: true,
    steps: [
      { fill: { keepaliveSec: '70000' }, invalid: ['keepaliveSec'] },
      { fill: { keepaliveSec: '0', url: 'http://host' }, valid: ['keepaliveSec'], invalid: ['url'] },
      { fill: { url: 'mqtts://host', cert: 'c.pem' }, valid: ['url'], invalid: ['cert'] },
      // The receive maximum shows with MQTT 5 only: 0 (the broker decides) to 65535.
      { select: { protocolVersionSel: '5' }, fill: { receiveMaximumNum: '65536' }, invalid: ['receiveMaximumNum'] },
      { fill: { receiveMaximumNum: 'many' }, invalid: ['receiveMaximumNum'] },
      { fill: { receiveMaximumNum: '0' }, valid: ['receiveMaximumNum'] },
    ],
  },
  {
    type: 'upperstack-http-in',
    steps: [
      { hidden: ['schema', 'schemaFile'] },
      { fill: { deviceTag: 'a b', maxBytes: '0', rateLimit: '-1', protoType: '1bad' }, invalid: ['deviceTag', 'maxBytes', 'rateLimit', 'protoType'] },
      { fill: { deviceTag: 'site', maxBytes: '268435456', rateLimit: '0', protoType: '' }, valid: ['deviceTag', 'maxBytes', 'rateLimit', 'protoType'] },
      { fill: { highWater: 'x', highWaterReadings: '100000001' }, invalid: ['highWater', 'highWaterReadings'] },
      { fill: { highWater: '0', highWaterReadings: '0' }, valid: ['highWater', 'highWaterReadings'] },
      { select: { schemaSource: 'file' }, shown: ['schemaFile'], hidden: ['schema'] },
      { select: { schemaSource: 'inline' }, shown: ['schema'], hidden: ['schemaFile'] },
    ],
  },
  {
    type: 'upperstack-coap-in',
    steps: [
      { hidden: ['schema', 'schemaFile'] },
      { fill: { port: '70000', maxBytes: '16777217', protoType: 'a..b' }, invalid: ['port', 'maxBytes', 'protoType'] },
      { fill: { port: '${COAP_PORT}', maxBytes: '1', protoType: 'upperstack.Reading' }, valid: ['port', 'maxBytes', 'protoType'] },
      { fill: { highWater: '-1', highWaterReadings: 'many' }, invalid: ['highWater', 'highWaterReadings'] },
      { fill: { highWater: '5000', highWaterReadings: '50000' }, valid: ['highWater', 'highWaterReadings'] },
      { select: { schemaSource: 'inline' }, shown: ['schema'], hidden: ['schemaFile'] },
      { select: { schemaSource: 'file' }, shown: ['schemaFile'], hidden: ['schema'] },
    ],
  },
  { type: 'upperstack-mqtt-in', steps: [{ fill: { highWater: '-1' }, invalid: ['highWater'] }, { fill: { highWater: '100', lowWater: '150' }, valid: ['highWater'], invalid: ['lowWater'] }, { fill: { lowWater: '50', topic: 'a/#/b' }, valid: ['lowWater'], invalid: ['topic'] }] },
  { type: 'upperstack-decode', steps: [{ fill: { maxBytesNum: '0' }, invalid: ['maxBytesNum'] }, { fill: { maxBytesNum: '2048', protoType: '1bad' }, valid: ['maxBytesNum'], invalid: ['protoType'] }] },
  { type: 'upperstack-encode', steps: [{ select: { format: 'protobuf' }, fill: { protoType: 'not a name' }, invalid: ['protoType'] }, { fill: { protoType: 'upperstack.Batch' }, valid: ['protoType', 'format'] }] },
  { type: 'upperstack-validate', steps: [{ select: { schemaSource: 'file' }, fill: { schemaFile: '' }, invalid: ['schemaFile'] }, { fill: { schemaFile: 'schema.json' }, valid: ['schemaFile'] }] },
  // The main DuckDB sink is the first row of the sink list.
  { type: 'upperstack-store-config', config: true, steps: [{ fill: { batchSizeNum: '0', flushMsNum: '3600001', 'sinks-0-memoryLimit': '64.5', querySink: 'nope' }, invalid: ['batchSizeNum', 'flushMsNum', 'sinks-0-memoryLimit', 'querySink'] }, { fill: { batchSizeNum: '1000000', flushMsNum: '1', 'sinks-0-memoryLimit': '0', querySink: 'main' }, valid: ['batchSizeNum', 'flushMsNum', 'sinks-0-memoryLimit', 'querySink'] }] },
  { type: 'upperstack-store', steps: [{ valid: ['name'] }] },
  { type: 'upperstack-partition', steps: [{ fill: { broker: 'http://b', partitions: '0', leaseSeconds: '1', group: 'a/b', prefix: 'p/#', checkpointSeconds: '0' }, invalid: ['broker', 'partitions', 'leaseSeconds', 'group', 'prefix', 'checkpointSeconds'] }, { fill: { broker: 'mqtt://b:1883', partitions: '64', leaseSeconds: '15', group: 'g1', prefix: 'upperstack/p', checkpointSeconds: '5' }, valid: ['broker', 'partitions', 'leaseSeconds', 'group', 'prefix', 'checkpointSeconds'] }] },
  { type: 'upperstack-deadletter', steps: [{ fill: { topic: 'dead/#' }, invalid: ['topic'] }, { fill: { topic: 'dead/letters/' }, invalid: ['topic'] }, { fill: { topic: 'dead' }, valid: ['topic', 'broker'] }] },
  { type: 'upperstack-query', steps: [{ valid: ['kind'] }] },
  { type: 'upperstack-api', steps: [{ valid: ['name'] }] },
  {
    type: 'upperstack-anomaly',
    steps: [
      { select: { detector: 'limits' }, fill: { max: '80' }, valid: ['detector', 'min', 'max'] },
      { fill: { max: '' }, invalid: ['min'], valid: ['max'] },
      { fill: { min: 'cold', max: 'hot' }, invalid: ['min', 'max'] },
      { fill: { min: '90', max: '80' }, invalid: ['min'], valid: ['max'] },
      { fill: { min: '10' }, valid: ['min', 'max'] },
      { select: { detector: 'zscore' }, fill: { sigma: '0', window: '7 days' }, invalid: ['sigma', 'window'], valid: ['min'] },
      { fill: { sigma: '3', window: '7d' }, valid: ['sigma', 'window'] },
      { select: { detector: 'holtwinters' }, fill: { season: 'weekly' }, invalid: ['season'] },
      { fill: { season: '1d' }, valid: ['season'] },
      {
        fill: { advanced: '{', threshold: '1.5', warmup: '2.5', maxSeries: '0', maxSeriesPerDevice: '0.5', heartbeatMissed: '-1', units: 'temperature' },
        invalid: ['advanced', 'threshold', 'warmup', 'maxSeries', 'maxSeriesPerDevice', 'heartbeatMissed', 'units'],
      },
      {
        fill: { advanced: '', threshold: '1', warmup: '10', maxSeries: '1', maxSeriesPerDevice: '1', heartbeatMissed: '2', heartbeatInterval: 'often', units: 'temperature=°C' },
        valid: ['advanced', 'threshold', 'warmup', 'maxSeries', 'maxSeriesPerDevice', 'heartbeatMissed', 'units'],
        invalid: ['heartbeatInterval'],
      },
      { fill: { heartbeatInterval: '5m' }, valid: ['heartbeatInterval'] },
      // Heartbeats off: the interval is not used.
      { fill: { heartbeatInterval: 'often', heartbeatMissed: '0' }, valid: ['heartbeatInterval', 'heartbeatMissed'] },
      { select: { detector: 'default' }, fill: { advanced: '{"window": "1d"}' }, invalid: ['advanced'] },
      { fill: { advanced: '{"type": "zscore", "window": "1d"}' }, valid: ['advanced', 'detector'] },
    ],
  },
  {
    type: 'upperstack-report',
    steps: [
      { fill: { report: '' }, invalid: ['report'] },
      { fill: { report: 'energy daily', at: '6am' }, valid: ['report'], invalid: ['at'] },
      { fill: { at: '06:00', timezone: 'Mars/Base' }, valid: ['at'], invalid: ['timezone'] },
      { fill: { timezone: 'Europe/Berlin', thresholds: 'temp >= 5', units: 'power W', gapsLongerThan: '10 minutes', expectedEvery: 'often' }, valid: ['timezone'], invalid: ['thresholds', 'units', 'gapsLongerThan', 'expectedEvery'] },
      { fill: { thresholds: 'temp > 5, temp < -1', units: 'power = W', gapsLongerThan: '10m', expectedEvery: '1m', keepNum: '-1' }, valid: ['thresholds', 'units', 'gapsLongerThan', 'expectedEvery'], invalid: ['keepNum'] },
      { fill: { keepNum: '0' }, valid: ['keepNum'] },
      { select: { schedule: 'cron' }, fill: { cron: '0 6 * *' }, invalid: ['cron'] },
      { fill: { cron: '0 6 * * 1-5' }, valid: ['cron'] },
      { select: { devicesMode: 'list' }, fill: { devices: ' , ' }, invalid: ['devices'] },
      { fill: { devices: 'pump-1, pump-2' }, valid: ['devices'] },
    ],
  },
  {
    type: 'upperstack-invoice',
    steps: [
      { fill: { series: 'a b' }, invalid: ['series'] },
      { fill: { series: 'INV', prefix: 'x y', quantityDigitsNum: '12' }, valid: ['series'], invalid: ['prefix', 'quantityDigitsNum'] },
      { fill: { prefix: 'R-', quantityDigitsNum: '2', timezone: 'Nowhere/City', at: '25:00' }, valid: ['prefix', 'quantityDigitsNum'], invalid: ['timezone', 'at'] },
      { fill: { timezone: 'Asia/Tokyo', at: '00:30' }, valid: ['timezone', 'at'] },
    ],
  },
];

test('every Upperstack dialog opens for a new node and flags bad values as before', { timeout: 180_000 }, async () => {
  const page = await browser.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await login(page);

  for (const { type, config, steps } of dialogs) {
    const prefix = config ? 'node-config-input' : 'node-input';
    // A node as the palette would add it: its defaults, configVersion included.
    const id = await page.evaluate(
      ({ type, config }) => {
        const RED = (window as unknown as { RED: Red }).RED;
        if (config) return void RED.editor.editConfig('', type, '_ADD_');
        const id = RED.nodes.id();
        RED.nodes.import([{ id, type, z: RED.workspaces.active(), x: 200, y: 400, wires: [] }], { applyNodeDefaults: true });
        RED.editor.edit(RED.nodes.node(id));
        return id;
      },
      { type, config },
    );
    await dialogOpened(page, `#${prefix}-name`);
    for (const [i, step] of steps.entries()) {
      for (const [field, value] of Object.entries(step.select ?? {})) await page.selectOption(`#${prefix}-${field}`, value);
      for (const [field, value] of Object.entries(step.fill ?? {})) {
        await page.fill(`#${prefix}-${field}`, value);
        await page.dispatchEvent(`#${prefix}-${field}`, 'change');
      }
      for (const [field, bad] of [...(step.invalid ?? []).map((f) => [f, true] as const), ...(step.valid ?? []).map((f) => [f, false] as const)]) {
        // The editor marks fields in its change handlers, which have run when dispatchEvent returns.
        const marked = await page.$eval(`#${prefix}-${field}`, (el) => el.classList.contains('input-error'));
        assert.equal(marked, bad, `${type} step ${i + 1}: ${field} is ${bad ? '' : 'not '}marked invalid`);
      }
      for (const field of step.shown ?? []) assert.equal(await page.isVisible(`#${prefix}-${field}`), true, `${type} step ${i + 1}: ${field} shows`);
      for (const field of step.hidden ?? []) assert.equal(await page.isVisible(`#${prefix}-${field}`), false, `${type} step ${i + 1}: ${field} is hidden`);
    }
    if (type === 'upperstack-mqtt-in' || type === 'upperstack-deadletter') {
      // The pack's one embedded broker is listed; only mqtt in preselects it.
      const brokers = await page.$$eval(`#${prefix}-broker option`, (os) => os.map((o) => (o as HTMLOptionElement).value));
      assert.equal(brokers.length, 2, `${type} lists "the only broker" and the pack's broker`);
      assert.equal(brokers[0], '');
      assert.equal(await page.inputValue(`#${prefix}-broker`), type === 'upperstack-mqtt-in' ? brokers[1] : '');
    }
    const cancel = config ? '#node-config-dialog-cancel' : '#node-dialog-cancel';
    await page.click(cancel);
    await page.waitForSelector(cancel, { state: 'detached', timeout: 30_000 });
    // Gone again, so the next dialog sees only the pack's nodes (one broker).
    if (id) await page.evaluate((id) => (window as unknown as { RED: Red }).RED.nodes.remove(id), id);
  }
  // The validate and invoice dialogs hold a code editor, destroyed on cancel as Node-RED's own function node does.
  // Closed within milliseconds of opening, the editor's JSON worker may still answer for the disposed model, and
  // the editor library itself throws "Model is disposed!" from that late answer: not an error of a dialog.
  assert.deepEqual(
    pageErrors.filter((m) => !m.startsWith('Model is disposed!')),
    [],
  );
});

/** A bad setting left in the dialog: after Done the node carries the warning triangle and lists the reason; fixed, both go. */
const afterDone: { type: string; bad: Step; reasons: string[]; good: Step }[] = [
  {
    type: 'upperstack-broker',
    bad: { fill: { tlsPort: '8883', tlsKey: 'key.pem' } },
    reasons: ['TLS needs both a key file and a certificate file'],
    good: { fill: { tlsCert: 'cert.pem' } },
  },
  {
    type: 'upperstack-anomaly',
    bad: { select: { detector: 'limits' }, fill: { min: '', max: '' } },
    reasons: ['give a minimum, a maximum, or per-field limits in the advanced config'],
    good: { fill: { max: '80' } },
  },
  {
    type: 'upperstack-anomaly',
    bad: { fill: { threshold: '2', warmup: 'soon', maxSeries: '0', heartbeatMissed: '-1', advanced: '{' } },
    reasons: [
      'the advanced config is not valid JSON: ',
      'a number above 0 and at most 1',
      'a whole number, at least 1',
      'a whole number of readings, 0 or more',
      'a number of intervals, 0 (off) or more',
    ],
    good: { fill: { threshold: '0.9', warmup: '10', maxSeries: '500', heartbeatMissed: '3', advanced: '' } },
  },
  {
    // The default detector runs Holt-Winters, which needs at least 10 readings first.
    type: 'upperstack-anomaly',
    bad: { fill: { warmup: '5' } },
    reasons: ['a whole number of readings, at least 10 for this detector'],
    good: { fill: { warmup: '10' } },
  },
  {
    type: 'upperstack-anomaly',
    bad: { select: { detector: 'zscore' }, fill: { sigma: 'x', window: 'week' } },
    reasons: ['must be a number', 'a duration such as 30s, 5m, 1h, 1d or 1w'],
    good: { fill: { sigma: '4', window: '1w' } },
  },
  {
    type: 'upperstack-http-in',
    bad: { fill: { highWaterReadings: 'many', deviceTag: 'a b' } },
    reasons: ['a whole number of readings, 0 for no mark', 'a tag key without spaces, commas or ='],
    good: { fill: { highWaterReadings: '50000', deviceTag: 'device' } },
  },
  {
    type: 'upperstack-coap-in',
    bad: { fill: { port: '70000', highWater: 'x' } },
    reasons: ['a UDP port (0 to 65535) or ${VARIABLE}', 'a whole number of requests, 0 for no mark'],
    good: { fill: { port: '5683', highWater: '0' } },
  },
  {
    // The connection picker's "none" is saved as "".
    type: 'upperstack-mqtt-in',
    bad: { select: { source: 'external' } },
    reasons: ['choose the connection to the external broker'],
    good: { select: { source: 'embedded' } },
  },
];

test('a node saved with a bad setting shows the warning triangle with the reason; corrected, it clears', { timeout: 180_000 }, async () => {
  const page = await browser.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await login(page);

  const edit = async (id: string, step: Step) => {
    await page.evaluate((id) => {
      const RED = (window as unknown as { RED: Red }).RED;
      RED.editor.edit(RED.nodes.node(id));
    }, id);
    await dialogOpened(page, '#node-input-name');
    for (const [field, value] of Object.entries(step.select ?? {})) await page.selectOption(`#node-input-${field}`, value);
    for (const [field, value] of Object.entries(step.fill ?? {})) {
      await page.fill(`#node-input-${field}`, value);
      await page.dispatchEvent(`#node-input-${field}`, 'change');
    }
    await page.click('#node-dialog-ok');
    await page.waitForSelector('#node-dialog-ok', { state: 'detached', timeout: 30_000 });
    return page.evaluate((id) => {
      const RED = (window as unknown as { RED: Red }).RED;
      const node = RED.nodes.node(id) as { valid: boolean; validationErrors?: string[] };
      const badge = document.getElementById(id)?.querySelector('.red-ui-flow-node-error');
      return { valid: node.valid, reasons: node.validationErrors ?? [], triangle: !!badge && !badge.classList.contains('hide') };
    }, id);
  };

  for (const [i, { type, bad, reasons, good }] of afterDone.entries()) {
    const what = `${type} (case ${i + 1})`;
    const id = await page.evaluate((type) => {
      const RED = (window as unknown as { RED: Red }).RED;
      const id = RED.nodes.id();
      RED.nodes.import([{ id, type, z: RED.workspaces.active(), x: 300, y: 500, wires: [] }], { applyNodeDefaults: true });
      return id;
    }, type);
    const saved = await edit(id, bad);
    assert.equal(saved.valid, false, `${what}: invalid after Done`);
    assert.equal(saved.triangle, true, `${what}: the triangle shows`);
    assert.equal(saved.reasons.length, reasons.length, `${what}: ${saved.reasons.join(' | ')}`);
    for (const reason of reasons) assert.ok(saved.reasons.some((r) => r.startsWith(reason)), `${what}: lists "${reason}" among ${saved.reasons.join(' | ')}`);
    const fixed = await edit(id, good);
    assert.deepEqual(fixed, { valid: true, reasons: [], triangle: false }, `${what}: valid once corrected`);
    await page.evaluate((id) => (window as unknown as { RED: Red }).RED.nodes.remove(id), id);
  }
  assert.deepEqual(pageErrors, []);
});

test('the MQTT connection\'s receive maximum: 100 for a new connection, a value set in the dialog is deployed and shown again', { timeout: 180_000 }, async () => {
  const page = await browser.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await login(page);
  const connections = () =>
    page.evaluate(() => {
      const ids: string[] = [];
      (window as unknown as { RED: Red }).RED.nodes.eachConfig((n) => void (n.type === 'upperstack-mqtt-connection' && ids.push(n.id)));
      return ids;
    });
  const before = await connections();

  await page.evaluate(() => (window as unknown as { RED: Red }).RED.editor.editConfig('', 'upperstack-mqtt-connection', '_ADD_'));
  await dialogOpened(page, '#node-config-input-name');
  assert.equal(await page.isVisible('#node-config-input-receiveMaximumNum'), false, 'hidden with MQTT 3.1.1, which cannot announce it');
  await page.selectOption('#node-config-input-protocolVersionSel', '5');
  assert.equal(await page.inputValue('#node-config-input-receiveMaximumNum'), '100', 'the default a new connection announces');
  await page.fill('#node-config-input-name', 'receive maximum test');
  await page.fill('#node-config-input-receiveMaximumNum', '250');
  await page.dispatchEvent('#node-config-input-receiveMaximumNum', 'change');
  await page.click('#node-config-dialog-ok');
  await page.waitForSelector('#node-config-dialog-ok', { state: 'detached', timeout: 30_000 });
  const added = (await connections()).filter((id) => !before.includes(id));
  assert.equal(added.length, 1, 'the dialog added one connection');

  await page.click('#red-ui-header-button-deploy');
  await page.waitForFunction(() => !(window as unknown as { RED: Red }).RED.nodes.dirty(), undefined, { timeout: 30_000 });
  // What the runtime now holds, read back with the editor's own login.
  const deployed = await page.evaluate(async (id) => {
    const RED = (window as unknown as { RED: Red }).RED;
    const tokens = RED.settings.get('auth-tokens') as { access_token?: string } | null;
    const res = await fetch('flows', { headers: { authorization: `Bearer ${tokens?.access_token ?? ''}` } });
    const flows = (await res.json()) as Array<Record<string, unknown>>;
    return flows.find((n) => n.id === id);
  }, added[0]);
  assert.ok(deployed, 'the connection is in the deployed flow');
  assert.deepEqual({ protocolVersion: deployed.protocolVersion, receiveMaximum: deployed.receiveMaximum, configVersion: deployed.configVersion }, { protocolVersion: 5, receiveMaximum: 250, configVersion: 2 });

  // Opened again, the dialog shows the deployed value.
  await page.evaluate((id) => (window as unknown as { RED: Red }).RED.editor.editConfig('', 'upperstack-mqtt-connection', id), added[0]);
  await dialogOpened(page, '#node-config-input-receiveMaximumNum');
  assert.equal(await page.inputValue('#node-config-input-receiveMaximumNum'), '250');
  await page.click('#node-config-dialog-cancel');
  await page.waitForSelector('#node-config-dialog-cancel', { state: 'detached', timeout: 30_000 });
  assert.deepEqual(pageErrors, []);
});
