/**
 * The editor as a person sees it, in Debian's headless Chromium: the login is
 * required, and after it the default pack shows the whole pipeline with every
 * Upperstack node known to the palette (no "unknown node" placeholders).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chromium, type Browser } from 'playwright-core';
import { startRuntime, type Runtime } from '../helpers/runtime';

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

test('the editor asks for a login, then shows the pipeline graph with the Upperstack palette', { timeout: 120_000 }, async () => {
  const page = await browser.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(rt.url + '/');
  await page.waitForSelector('#node-dialog-login-username', { timeout: 30_000 });
  await page.fill('#node-dialog-login-username', 'admin');
  await page.fill('#node-dialog-login-password', 'test-admin-password');
  await page.click('#node-dialog-login-submit');
  await page.waitForSelector('#red-ui-workspace-chart .red-ui-flow-node', { timeout: 30_000 });

  const info = await page.evaluate(() => {
    const RED = (window as unknown as { RED: { nodes: { eachNode(cb: (n: { type: string }) => void): void; getType(t: string): unknown } } }).RED;
    const types: string[] = [];
    RED.nodes.eachNode((n) => void types.push(n.type));
    const palette = [...document.querySelectorAll('.red-ui-palette-node')].map((el) => el.getAttribute('data-palette-type'));
    return { types, palette, unknown: document.querySelectorAll('.red-ui-flow-node-unknown').length };
  });
  for (const t of ['upperstack-broker', 'upperstack-mqtt-in', 'upperstack-decode', 'upperstack-validate', 'upperstack-store', 'upperstack-deadletter', 'upperstack-api']) {
    assert.ok(info.types.includes(t), `the graph shows ${t}`);
  }
  for (const t of ['upperstack-broker', 'upperstack-mqtt-in', 'upperstack-decode', 'upperstack-encode', 'upperstack-validate', 'upperstack-store', 'upperstack-deadletter', 'upperstack-query', 'upperstack-api']) {
    assert.ok(info.palette.includes(t), `the palette offers ${t}`);
  }
  assert.equal(info.unknown, 0, 'no node is unknown to the editor');
  assert.deepEqual(pageErrors, []);
  await page.screenshot({ path: `${rt.dataDir}/editor.png` });
});
