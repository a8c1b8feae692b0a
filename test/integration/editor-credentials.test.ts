/**
 * A node that can hold credentials but has none saved (a login left empty, no API key), opened in the editor
 * (Debian's headless Chromium) and closed with Done without an edit, stays unchanged: Deploy stays off. The
 * runtime sends no credential entries at all for such a node, and the editor took the form's empty fields for
 * an edit of every one of them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { deployBeside, dialogOpened, loggedInPage, useEditor, type Red } from '../helpers/editor-page';

let page: Page;
let pageErrors: string[] = [];

// On a disabled tab: the editor holds and opens them as any other, the runtime starts none of them
// (no second broker on the pack's ports, no second API on its routes).
const TAB = 'creds_tab';
const NODES: Array<{ type: string; id: string; config?: boolean; props: Record<string, unknown> }> = [
  { type: 'upperstack-alert', id: 'creds_alert', props: { name: 'no mail login', broker: 'us_broker' } },
  { type: 'upperstack-api', id: 'creds_api', props: { name: 'no api key', store: 'us_store_cfg' } },
  { type: 'upperstack-broker', id: 'creds_broker', props: { name: 'no broker login', port: '11883' } },
  { type: 'upperstack-simulate', id: 'creds_sim', props: { name: 'no simulator login' } },
  { type: 'upperstack-http-in', id: 'creds_http', props: { name: 'no http login', store: 'us_store_cfg' } },
  { type: 'upperstack-coap-in', id: 'creds_coap', props: { name: 'no coap login', port: '15699' } },
  { type: 'upperstack-store-config', id: 'creds_store', config: true, props: { name: 'no sink login' } },
];

useEditor(async ({ rt, browser }) => {
  ({ page, pageErrors } = await loggedInPage(browser, rt));
  // Each node as its dialog would save it (every option at its default), so that Done has nothing but the
  // credentials to change.
  const defaults = await page.evaluate((types) => {
    const RED = (window as unknown as { RED: { nodes: { getType(t: string): { defaults: Record<string, { value?: unknown }> } } } }).RED;
    return Object.fromEntries(types.map((t) => [t, Object.fromEntries(Object.entries(RED.nodes.getType(t).defaults).map(([k, d]) => [k, d.value]))]));
  }, NODES.map((n) => n.type));
  await deployBeside(rt, [
    { id: TAB, type: 'tab', label: 'credentials', disabled: true },
    ...NODES.map((n, i) => ({ ...defaults[n.type], id: n.id, type: n.type, ...(n.config ? {} : { z: TAB, x: 200, y: 60 + 60 * i, wires: [] }), ...n.props })),
  ]);
  await page.reload();
  await page.waitForSelector('#red-ui-workspace-chart .red-ui-flow-node', { timeout: 30_000 });
  await page.waitForFunction((id) => !!(window as unknown as { RED: Red }).RED.nodes.node(id), NODES[0].id, { timeout: 30_000 });
});

test('nodes without saved credentials, opened and closed with Done, are not marked changed and Deploy stays off', { timeout: 300_000 }, async () => {
  const seen: Record<string, { changed: boolean; dirty: boolean }> = {};
  for (const n of NODES) {
    const prefix = n.config ? 'node-config' : 'node';
    await page.evaluate(
      ({ id, type, config }) => {
        const RED = (window as unknown as { RED: Red }).RED;
        if (config) RED.editor.editConfig('', type, id);
        else RED.editor.edit(RED.nodes.node(id));
      },
      { id: n.id, type: n.type, config: !!n.config },
    );
    await dialogOpened(page, `#${prefix}-input-name`);
    assert.equal(await page.inputValue(`#${prefix}-input-name`), n.props.name, `${n.type}: its own dialog`);
    await page.click(`#${prefix}-dialog-ok`);
    await page.waitForSelector(`#${prefix}-dialog-ok`, { state: 'detached', timeout: 30_000 });
    seen[n.type] = await page.evaluate((id) => {
      const RED = (window as unknown as { RED: Red }).RED;
      return { changed: !!(RED.nodes.node(id) as { changed?: boolean }).changed, dirty: RED.nodes.dirty() };
    }, n.id);
  }
  assert.deepEqual(seen, Object.fromEntries(NODES.map((n) => [n.type, { changed: false, dirty: false }])));
  assert.deepEqual(pageErrors, []);
});
