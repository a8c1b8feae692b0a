/**
 * The upperstack-alert node's dialog in the flow editor (Debian's headless
 * Chromium): the rule table of the runtime's one rule set, a rule built from
 * dropdowns and number fields, inline validation, the live preview over stored
 * history, and the saved rule as the API sees it (no deploy).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import type { Browser } from 'playwright-core';
import { eventually, type Runtime } from '../helpers/runtime';
import { loggedInPage, useEditor } from '../helpers/editor-page';

let rt: Runtime;
let browser: Browser;

useEditor((editor) => {
  ({ rt, browser } = editor);
});

test('the alert dialog edits the shared rule set with a form and previews it on stored history', { timeout: 180_000 }, async () => {
  // An hour of a boiler's temperature, with two hot spells of 3 minutes.
  const now = Date.now();
  const readings = Array.from({ length: 60 }, (_, i) => ({ ts: now - (60 - i) * 60_000, temperature: (i >= 10 && i < 13) || (i >= 40 && i < 43) ? 80 : 60 }));
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqttPort}`);
  await client.publishAsync('devices/boiler-1/telemetry', JSON.stringify(readings), { qos: 1 });
  await client.endAsync();
  await eventually(async () => {
    const body = (await (await rt.get('/api/v1/readings?device=boiler-1&fields=temperature')).json()) as { readings: unknown[] };
    return body.readings.length === 60 ? true : undefined;
  }, 20_000, 'the readings in the store');

  const { page, pageErrors: errors } = await loggedInPage(browser, rt);
  const opened = await page.evaluate(() => {
    const RED = (window as unknown as { RED: { nodes: { eachNode(cb: (n: { type: string; id: string }) => void): void; node(id: string): unknown }; editor: { edit(n: unknown): void } } }).RED;
    let id = '';
    RED.nodes.eachNode((n) => {
      if (n.type === 'upperstack-alert') id = n.id;
    });
    if (id) RED.editor.edit(RED.nodes.node(id));
    return id;
  });
  assert.ok(opened, 'the default pack has an alert node');
  await page.waitForSelector('#upperstack-alert-rules .usaf-empty', { timeout: 30_000 });
  await page.click('#usaf-add');
  await page.fill('#usaf-name', 'Boiler too hot');
  await page.fill('.usaf-cond .usaf-field', 'temperature');
  await page.selectOption('.usaf-cond .usaf-op', 'above');
  await page.fill('.usaf-cond .usaf-value', '75');
  await page.fill('.usaf-for-n', '2');
  await page.selectOption('.usaf-for-u', 'm');
  await page.selectOption('.usaf-severity', 'critical');
  const preview = await page.waitForFunction(() => {
    const t = document.querySelector('#upperstack-alert-rules .usaf-preview')?.textContent ?? '';
    return /would have fired \d+ time/.test(t) ? t : undefined;
  }, undefined, { timeout: 30_000 });
  assert.match(String(await preview.jsonValue()), /^Over the last 24 h of stored data this rule would have fired 2 times, at .*\(boiler-1\).*\(60 readings of 1 device\)/);
  // Outside with a band whose low is above its high: marked in the form, with the reason.
  await page.selectOption('.usaf-cond .usaf-op', 'outside');
  await page.fill('.usaf-cond .usaf-low', '90');
  await page.fill('.usaf-cond .usaf-high', '50');
  await page.waitForSelector('.usaf-cond .usaf-low.usaf-invalid', { timeout: 30_000 });
  // In words, under the field's label (the editor's locale), at the top and next to the field.
  assert.equal(await page.textContent('#upperstack-alert-rules .usaf-error'), 'From: must be below "To" (90 is not below 50)');
  assert.equal(await page.textContent('.usaf-cond .usaf-low.usaf-invalid + .usaf-field-error'), 'From: must be below "To" (90 is not below 50)');
  await page.selectOption('.usaf-cond .usaf-op', 'above');
  await page.waitForSelector('#upperstack-alert-rules .usaf-invalid', { state: 'detached', timeout: 30_000 });
  await page.click('#usaf-save');
  await page.waitForSelector('#upperstack-alert-rules tr[data-rule="boiler-too-hot"]', { timeout: 30_000 });
  // The table says the condition in the editor's words.
  assert.match((await page.textContent('#upperstack-alert-rules tr[data-rule="boiler-too-hot"]')) ?? '', /temperature is above 75 for 2m/);
  await page.screenshot({ path: `${rt.dataDir}/alert-dialog.png` });
  const rule = (await (await rt.get('/api/v1/rules/boiler-too-hot')).json()) as { when: unknown; severity: string };
  assert.deepEqual(rule.when, { field: 'temperature', op: 'above', value: 75, for: '2m' });
  assert.equal(rule.severity, 'critical');
  assert.deepEqual(errors, []);
});

test("the dialog's form picks the field a group's recovery threshold watches", { timeout: 180_000 }, async () => {
  const { page, pageErrors: errors } = await loggedInPage(browser, rt);
  await page.evaluate(() => {
    const RED = (window as unknown as { RED: { nodes: { eachNode(cb: (n: { type: string; id: string }) => void): void; node(id: string): unknown }; editor: { edit(n: unknown): void } } }).RED;
    RED.nodes.eachNode((n) => {
      if (n.type === 'upperstack-alert') RED.editor.edit(RED.nodes.node(n.id));
    });
  });
  await page.waitForSelector('#upperstack-alert-rules #usaf-add', { timeout: 30_000 });
  await page.click('#usaf-add');
  await page.fill('#usaf-name', 'Boiler hot and pressure high');
  await page.fill('.usaf-cond .usaf-field', 'temperature');
  await page.fill('.usaf-cond .usaf-value', '75');
  await page.click('.usaf-add-cond');
  await page.locator('.usaf-cond').nth(1).locator('.usaf-field').fill('pressure');
  await page.locator('.usaf-cond').nth(1).locator('.usaf-value').fill('3');
  await page.selectOption('.usaf-clear-kind', 'below');
  await page.fill('.usaf-clear-value', '70');
  await page.click('#usaf-save');
  await page.waitForSelector('.usaf-clear-field.usaf-invalid', { timeout: 30_000 });
  assert.equal(
    await page.textContent('.usaf-clear-field.usaf-invalid + .usaf-field-error'),
    'Recovery field: choose which field the recovery threshold watches: the conditions watch more than one',
  );
  await page.selectOption('.usaf-clear-field', 'temperature');
  await page.click('#usaf-save');
  await page.waitForSelector('#upperstack-alert-rules tr[data-rule="boiler-hot-and-pressure-high"]', { timeout: 30_000 });
  const rule = (await (await rt.get('/api/v1/rules/boiler-hot-and-pressure-high')).json()) as { clear: unknown };
  assert.deepEqual(rule.clear, { op: 'below', field: 'temperature', value: 70 });
  assert.deepEqual(errors, []);
});
