/**
 * The config nodes in the editor (Debian's headless Chromium): opened and closed with Done, without an edit, a
 * deployed one stays valid and unchanged (Deploy stays off), and one saved by an earlier release (each node's
 * migrations, options.ts) opens without red fields and stays valid, changed only where its migration must.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { deployBeside, dialogOpened, loggedInPage, useEditor, type Red } from '../helpers/editor-page';

let page: Page;
let pageErrors: string[] = [];

useEditor(async ({ rt, browser }) => {
  // Deployed beside the default pack, as the flows file of an earlier release holds them (the runtime migrates
  // what it runs, never the file): the editor loads them as they were saved.
  await deployBeside(rt, OLD.map((o) => o.node));
  ({ page, pageErrors } = await loggedInPage(browser, rt));
});

type Seen = { valid: boolean; changed: boolean; errors: unknown; dirty: boolean; node: Record<string, unknown>; currentVersion: unknown };

/** Opens the config node's dialog, notes the fields marked red, presses Done; what the editor then holds. */
async function openAndDone(type: string, id: string, field: string): Promise<{ redOnOpen: string[]; seen: Seen }> {
  await page.evaluate(({ t, nodeId }) => (window as unknown as { RED: Red }).RED.editor.editConfig('', t, nodeId), { t: type, nodeId: id });
  await dialogOpened(page, `#node-config-input-${field}`);
  const redOnOpen = await page.$$eval('.red-ui-tray .input-error', (els) => els.map((e) => e.id));
  await page.click('#node-config-dialog-ok');
  await page.waitForSelector('#node-config-dialog-ok', { state: 'detached', timeout: 30_000 });
  const seen = await page.evaluate((nodeId) => {
    const RED = (window as unknown as { RED: Red }).RED;
    const n = RED.nodes.node(nodeId) as Record<string, unknown> & { valid: boolean; changed?: boolean; validationErrors?: unknown };
    const node: Record<string, unknown> = {};
    // Its saved properties only (the editor's own hold references back into it).
    const defaults = (n._def as { defaults: Record<string, { value?: unknown }> }).defaults;
    for (const k of Object.keys(defaults)) node[k] = n[k];
    const currentVersion = defaults.configVersion?.value;
    return { valid: n.valid, changed: !!n.changed, errors: n.validationErrors, dirty: RED.nodes.dirty(), node: JSON.parse(JSON.stringify(node)) as Record<string, unknown>, currentVersion };
  }, id);
  return { redOnOpen, seen };
}

test('the default pack\'s store config and device registry, opened and closed with Done, stay valid and unchanged', { timeout: 120_000 }, async () => {
  for (const [type, id, field] of [
    ['upperstack-store-config', 'us_store_cfg', 'name'],
    ['upperstack-devices', 'us_devices', 'name'],
  ]) {
    const { redOnOpen, seen } = await openAndDone(type, id, field);
    assert.deepEqual(redOnOpen, [], `${type}: no field is red when the dialog opens`);
    assert.deepEqual({ valid: seen.valid, changed: seen.changed, errors: seen.errors, dirty: seen.dirty }, { valid: true, changed: false, errors: [], dirty: false }, `${type}: ${JSON.stringify(seen.node)}`);
  }
  assert.deepEqual(pageErrors, []);
});

/**
 * Config nodes as earlier releases saved them (the version before each migration of options.ts), and current ones
 * the default pack lacks. Those that do not migrate come first: the workspace's Deploy state is one for all.
 */
const OLD: Array<{ what: string; field: string; node: Record<string, unknown>; migrates: boolean }> = [
  {
    what: 'an MQTT connection of version 2 without a login',
    field: 'url',
    migrates: false,
    node: { id: 'mqtt_v2_nologin', type: 'upperstack-mqtt-connection', name: 'no login', url: 'mqtt://127.0.0.1:9', clientId: '', persistent: true, ca: '', cert: '', key: '', rejectUnauthorized: true, protocolVersion: 5, keepalive: 60, receiveMaximum: 100, configVersion: 2 },
  },
  { what: 'a store config of version 1 (one database, no memory limit)', field: 'name', migrates: true, node: { id: 'old_store_v1', type: 'upperstack-store-config', name: 'old store v1', kind: 'duckdb', path: ':memory:', batchSize: 1000, flushMs: 100, configVersion: 1 } },
  {
    what: 'a store config of version 4 (sinks, no retention)',
    field: 'name',
    migrates: true,
    node: { id: 'old_store_v4', type: 'upperstack-store-config', name: 'old store v4', sinks: [{ id: 'main', kind: 'duckdb', path: ':memory:', memoryLimit: 64 }], batchSize: 1000, flushMs: 100, spoolBudget: 1024, configVersion: 4 },
  },
  {
    what: 'an MQTT connection of version 1 (no receive maximum)',
    field: 'url',
    migrates: true,
    node: { id: 'old_mqtt_v1', type: 'upperstack-mqtt-connection', name: 'old connection', url: 'mqtt://127.0.0.1:9', clientId: '', persistent: true, ca: '', cert: '', key: '', rejectUnauthorized: true, protocolVersion: 4, keepalive: 60, configVersion: 1 },
  },
  { what: 'a device registry of version 1 (no rate limits)', field: 'name', migrates: true, node: { id: 'old_devices_v1', type: 'upperstack-devices', name: 'old registry', store: 'us_store_cfg', checkDigits: false, requireAuth: false, configVersion: 1 } },
];

for (const { what, field, node, migrates } of OLD) {
  test(`${what}, opened and closed with Done, is valid${migrates ? '' : ' and unchanged'}`, { timeout: 120_000 }, async () => {
    const { redOnOpen, seen } = await openAndDone(String(node.type), String(node.id), field);
    assert.deepEqual(redOnOpen, [], 'no field is red when the dialog opens');
    assert.equal(seen.valid, true, `${JSON.stringify(seen.errors)} ${JSON.stringify(seen.node)}`);
    if (!migrates) assert.deepEqual({ changed: seen.changed, dirty: seen.dirty }, { changed: false, dirty: false }, JSON.stringify(seen.node));
    // What Done saved is what the runtime's migrations make of it: the current version, so they do not run again.
    else assert.equal(seen.node.configVersion, seen.currentVersion, JSON.stringify(seen.node));
    assert.deepEqual(pageErrors, []);
  });
}
