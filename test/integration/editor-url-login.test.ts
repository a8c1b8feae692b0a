/**
 * A broker URL typed with its login (mqtt://user:password@host) into the MQTT connection's dialog, in the editor
 * (Debian's headless Chromium): the login goes to the connection's credentials, so after Deploy the password is
 * neither in the flows file, nor in the flows the editor exports, nor on a label.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import type { Runtime } from '../helpers/runtime';
import { dialogOpened, loggedInPage, useEditor, type Red } from '../helpers/editor-page';

let rt: Runtime;
let browser: Browser;

useEditor((editor) => {
  ({ rt, browser } = editor);
});

test('a login typed into the MQTT connection\'s URL is kept as its credentials, not in the flows or the export', { timeout: 180_000 }, async () => {
  const { page, pageErrors } = await loggedInPage(browser, rt);
  const connections = () =>
    page.evaluate(() => {
      const ids: string[] = [];
      (window as unknown as { RED: Red }).RED.nodes.eachConfig((n) => void (n.type === 'upperstack-mqtt-connection' && ids.push(n.id)));
      return ids;
    });
  const before = await connections();
  await page.evaluate(() => (window as unknown as { RED: Red }).RED.editor.editConfig('', 'upperstack-mqtt-connection', '_ADD_'));
  await dialogOpened(page, '#node-config-input-url');
  await page.fill('#node-config-input-url', 'mqtt://bob:s3cr%40t@broker.example:1883');
  await page.click('#node-config-dialog-ok');
  await page.waitForSelector('#node-config-dialog-ok', { state: 'detached', timeout: 30_000 });
  const [id] = (await connections()).filter((c) => !before.includes(c));
  assert.ok(id, 'the dialog added a connection');

  await page.click('#red-ui-header-button-deploy');
  await page.waitForFunction(() => !(window as unknown as { RED: Red }).RED.nodes.dirty(), undefined, { timeout: 30_000 });
  const onDisk = readFileSync(join(rt.dataDir, 'flows.json'), 'utf8');
  assert.ok(onDisk.includes('"mqtt://broker.example:1883"'), 'the connection is deployed with the URL without its login');
  assert.ok(!onDisk.includes('s3cr'), 'no password in flows.json');
  const exported = await page.evaluate(() => JSON.stringify((window as unknown as { RED: { nodes: { createCompleteNodeSet(o: unknown): unknown } } }).RED.nodes.createCompleteNodeSet({ credentials: false })));
  assert.ok(exported.includes('"mqtt://broker.example:1883"') && !exported.includes('s3cr'), 'no password in the flows the editor exports');
  const label = await page.evaluate((cid) => {
    const n = (window as unknown as { RED: Red }).RED.nodes.node(cid) as { _def: { label: { call(n: unknown): string } } };
    return n._def.label.call(n);
  }, id);
  assert.equal(label, 'mqtt://broker.example:1883');

  // Opened again after a reload (credentials come from the runtime): the login is in its fields.
  await page.reload();
  await page.waitForSelector('#red-ui-workspace-chart .red-ui-flow-node', { timeout: 30_000 });
  await page.waitForFunction((cid) => !!(window as unknown as { RED: Red }).RED.nodes.node(cid), id, { timeout: 30_000 });
  await page.evaluate((cid) => (window as unknown as { RED: Red }).RED.editor.editConfig('', 'upperstack-mqtt-connection', cid), id);
  await dialogOpened(page, '#node-config-input-username');
  assert.equal(await page.inputValue('#node-config-input-url'), 'mqtt://broker.example:1883');
  assert.equal(await page.inputValue('#node-config-input-username'), 'bob');
  assert.notEqual(await page.inputValue('#node-config-input-password'), '', 'a password is saved');
  await page.click('#node-config-dialog-cancel');
  assert.deepEqual(pageErrors, []);
});
