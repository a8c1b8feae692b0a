/**
 * The editor as a person sees it, in Debian's headless Chromium: the login is
 * required, and after it the default pack shows the whole pipeline with every
 * Upperstack node known to the palette (no "unknown node" placeholders), no
 * configuration node offered as unused, and no node of any pack drawn on another; the
 * anomaly node's Backtest button replays readings stored earlier; the MQTT
 * connection's receive maximum is deployed as set. The dialogs' checks are in
 * editor-dialogs.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import type { Browser } from 'playwright-core';
import { eventually, type Runtime } from '../helpers/runtime';
import { dialogOpened, loggedInPage, useEditor, type Red } from '../helpers/editor-page';

const ROOT = join(__dirname, '..', '..', '..');
let rt: Runtime;
let browser: Browser;

useEditor((editor) => {
  ({ rt, browser } = editor);
});

test('the editor asks for a login, then shows the pipeline graph with the Upperstack palette', { timeout: 120_000 }, async () => {
  const { page, pageErrors } = await loggedInPage(browser, rt);

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
  // The condition of the editor's "You have some unused configuration nodes" after a deploy, and of its
  // search for them: the default pack's config nodes are all in use (the device registry was listed).
  const unused = await page.evaluate(() => {
    const RED = (window as unknown as { RED: { nodes: { eachConfig(cb: (n: { type: string; users: unknown[]; _def: { hasUsers?: boolean } }) => void): void } } }).RED;
    const list: string[] = [];
    RED.nodes.eachConfig((n) => {
      if (n._def.hasUsers !== false && n.users.length === 0) list.push(n.type);
    });
    return list;
  });
  assert.deepEqual(unused, [], 'no configuration node of the default pack is offered as unused');

  // Every pack as the editor draws it once imported (not deployed): no node or comment lies on another (the
  // default pack's alert node sat under a link, its dead-letter node under two comments), so each can be read
  // and clicked.
  const overlaps: Record<string, string[]> = {};
  for (const file of readdirSync(join(ROOT, 'flows')).filter((f) => f.endsWith('.json'))) {
    const pack = JSON.parse(readFileSync(join(ROOT, 'flows', file), 'utf8')) as unknown[];
    overlaps[file] = await page.evaluate(async (nodes) => {
      type Drawn = { z: string; name?: string; type: string; x: number; y: number; w?: number; h?: number };
      const RED = (window as unknown as {
        RED: { nodes: { eachWorkspace(cb: (w: { id: string }) => void): void; eachNode(cb: (n: Drawn) => void): void }; workspaces: { show(id: string): void }; view: { importNodes(n: unknown[], o: unknown): void } };
      }).RED;
      const before = new Set<string>();
      RED.nodes.eachWorkspace((w) => void before.add(w.id));
      RED.view.importNodes(nodes, { generateIds: true });
      const found: string[] = [];
      const tabs: string[] = [];
      RED.nodes.eachWorkspace((w) => void (before.has(w.id) || tabs.push(w.id)));
      for (const tab of tabs) {
        RED.workspaces.show(tab);
        await new Promise((r) => setTimeout(r, 300));
        const boxes: Drawn[] = [];
        RED.nodes.eachNode((n) => void (n.z === tab && n.w && boxes.push(n)));
        for (let i = 0; i < boxes.length; i++) {
          for (let j = i + 1; j < boxes.length; j++) {
            const [a, b] = [boxes[i], boxes[j]];
            if (Math.abs(a.x - b.x) * 2 < a.w! + b.w! && Math.abs(a.y - b.y) * 2 < a.h! + b.h!) found.push(`${a.name || a.type} / ${b.name || b.type}`);
          }
        }
      }
      return found;
    }, pack);
  }
  assert.deepEqual(Object.values(overlaps).flat(), [], JSON.stringify(overlaps));
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

  const { page, pageErrors } = await loggedInPage(browser, rt);
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

test('the MQTT connection\'s receive maximum: 100 for a new connection, a value set in the dialog is deployed and shown again', { timeout: 180_000 }, async () => {
  const { page, pageErrors } = await loggedInPage(browser, rt);
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
