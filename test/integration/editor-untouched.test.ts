/**
 * Opening a node in the editor (Debian's headless Chromium) and pressing Done without an edit leaves it as it
 * was: the default pack's HTTP input stays valid and unchanged (Deploy stays off), and one saved by an earlier
 * release, without the options added since, shows their defaults instead of empty red fields and stays valid.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import type { Runtime } from '../helpers/runtime';
import { dialogOpened, loggedInPage, useEditor, type Red } from '../helpers/editor-page';

let rt: Runtime;
let browser: Browser;

useEditor((editor) => {
  ({ rt, browser } = editor);
});

type Seen = { valid: boolean; changed: boolean; errors: unknown; props: Record<string, unknown>; dirty: boolean };

/** Opens the node's dialog, notes the fields marked red, presses Done; what the editor then holds. */
async function openAndDone(page: Page, id: string, field = 'bodyTimeout'): Promise<{ redOnOpen: string[]; fields: Record<string, string>; after: Seen }> {
  await page.evaluate((nodeId) => {
    const RED = (window as unknown as { RED: Red }).RED;
    RED.editor.edit(RED.nodes.node(nodeId));
  }, id);
  await dialogOpened(page, `#node-input-${field}`);
  const redOnOpen = await page.$$eval('.red-ui-tray .input-error', (els) => els.map((e) => e.id));
  const fields = field === 'bodyTimeout' ? { bodyTimeout: await page.inputValue('#node-input-bodyTimeout'), highWaterReadings: await page.inputValue('#node-input-highWaterReadings') } : { [field]: await page.inputValue(`#node-input-${field}`) };
  await page.click('#node-dialog-ok');
  await page.waitForSelector('#node-dialog-ok', { state: 'detached', timeout: 30_000 });
  const seen = await page.evaluate((nodeId) => {
    const RED = (window as unknown as { RED: Red }).RED;
    const n = RED.nodes.node(nodeId) as Record<string, unknown> & { valid: boolean; changed?: boolean; validationErrors?: unknown };
    const props: Record<string, unknown> = {};
    for (const k of ['bodyTimeout', 'highWaterReadings', 'broker', 'configVersion']) if (k in n) props[k] = n[k];
    return { valid: n.valid, changed: !!n.changed, errors: n.validationErrors, props, dirty: RED.nodes.dirty() };
  }, id);
  return { redOnOpen, fields, after: seen };
}

test('the default pack\'s HTTP input, opened and closed with Done, stays valid and unchanged', { timeout: 120_000 }, async () => {
  const { page, pageErrors } = await loggedInPage(browser, rt);
  const { redOnOpen, fields, after: seen } = await openAndDone(page, 'us_http_in');
  assert.deepEqual(redOnOpen, [], 'no field is red when the dialog opens');
  assert.deepEqual(fields, { bodyTimeout: '30', highWaterReadings: '50000' });
  assert.deepEqual(seen, { valid: true, changed: false, errors: [], props: { bodyTimeout: 30, highWaterReadings: 50000, configVersion: 3 }, dirty: false });
  assert.deepEqual(pageErrors, []);
});

test('an HTTP input saved by an earlier release shows the defaults of the options it lacks, and Done saves them valid', { timeout: 120_000 }, async () => {
  const { page, pageErrors } = await loggedInPage(browser, rt);
  // As the default pack saved it at config version 1: no body timeout, no readings mark.
  const id = await page.evaluate(() => {
    const RED = (window as unknown as { RED: Red }).RED;
    const nodeId = RED.nodes.id();
    RED.nodes.import(
      [{ id: nodeId, type: 'upperstack-http-in', z: RED.workspaces.active(), name: 'old HTTP', store: '', ingest: true, cromflag: true, influx: true, deviceTag: 'device', maxBytes: 1048576, rateLimit: 0, schemaSource: 'default', schema: '', schemaFile: '', protoType: 'upperstack.Reading', highWater: 5000, configVersion: 1, x: 400, y: 700, wires: [[], []] }],
      { generateIds: false },
    );
    return nodeId;
  });
  const { redOnOpen, fields, after: seen } = await openAndDone(page, id);
  assert.deepEqual(redOnOpen, [], 'no field is red when the dialog opens');
  assert.equal(fields.bodyTimeout, '30', 'the runtime\'s default body timeout');
  assert.equal(fields.highWaterReadings, '', 'empty: the default (its placeholder says so)');
  assert.equal(seen.valid, true, JSON.stringify(seen.errors));
  assert.deepEqual(seen.props, { bodyTimeout: '30', highWaterReadings: '50000', configVersion: 3 });
  await page.evaluate((nodeId) => (window as unknown as { RED: Red }).RED.nodes.remove(nodeId), id);
  assert.deepEqual(pageErrors, []);
});

test('the default pack\'s device commands node, opened and closed with Done, keeps its broker and is unchanged', { timeout: 120_000 }, async () => {
  const { page, pageErrors } = await loggedInPage(browser, rt);
  const { fields, after: seen } = await openAndDone(page, 'us_command', 'broker');
  assert.deepEqual(fields, { broker: 'us_broker' }, 'the dialog shows the node\'s broker');
  assert.deepEqual(seen, { valid: true, changed: false, errors: [], props: { broker: 'us_broker', configVersion: 1 }, dirty: false });
  assert.deepEqual(pageErrors, []);
});

test('an anomaly node saved before the worker option opens with "worker" ticked, and Done keeps it in a worker', { timeout: 120_000 }, async () => {
  const { page, pageErrors } = await loggedInPage(browser, rt);
  // As saved at config version 2: the runtime's migration puts it in a worker; the dialog must agree.
  const id = await page.evaluate(() => {
    const RED = (window as unknown as { RED: Red }).RED;
    const nodeId = RED.nodes.id();
    RED.nodes.import(
      [{ id: nodeId, type: 'upperstack-anomaly', z: RED.workspaces.active(), name: 'old anomaly', detector: 'default', configVersion: 2, x: 400, y: 760, wires: [[]] }],
      { generateIds: false },
    );
    return nodeId;
  });
  await page.evaluate((nodeId) => {
    const RED = (window as unknown as { RED: Red }).RED;
    RED.editor.edit(RED.nodes.node(nodeId));
  }, id);
  await dialogOpened(page, '#node-input-worker');
  assert.equal(await page.isChecked('#node-input-worker'), true, 'the box says what the runtime does');
  await page.click('#node-dialog-ok');
  await page.waitForSelector('#node-dialog-ok', { state: 'detached', timeout: 30_000 });
  const worker = await page.evaluate((nodeId) => ((window as unknown as { RED: Red }).RED.nodes.node(nodeId) as Record<string, unknown>).worker, id);
  assert.equal(worker, true);
  await page.evaluate((nodeId) => (window as unknown as { RED: Red }).RED.nodes.remove(nodeId), id);
  assert.deepEqual(pageErrors, []);
});
