/**
 * The alert rule form on /upperstack/alerts when more than one person works on a rule: two people with the
 * same rule open, each saving a change (the second save would have undone the first: it is refused, saying so,
 * and the form keeps what was typed); and a silence added with the Silence button while the rule is open in the
 * form, which the form's save keeps; a rule deleted while open in the form (the save says so and offers to save
 * what was typed as a new rule); and leaving the page with an edit not saved. In Debian's headless Chromium on the real runtime.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import type { Runtime } from '../helpers/runtime';
import { alertsPageLogin, useEditor, type Editor } from '../helpers/editor-page';

let rt: Runtime;
let editor: Editor;

useEditor((e) => {
  editor = e;
  rt = e.rt;
});

async function api(method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${rt.url}/api/v1/${path}`, {
    method,
    headers: { authorization: `Bearer ${rt.apiKey}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

async function rule(id: string): Promise<Record<string, unknown>> {
  return (await (await api('GET', `rules/${id}`)).json()) as Record<string, unknown>;
}

/** A person of their own (a browser context of their own), logged in, on the Rules tab. */
async function person(): Promise<Page> {
  const page = await (await editor.browser.newContext({ viewport: { width: 1200, height: 1400 } })).newPage();
  await alertsPageLogin(page, rt);
  await page.click('nav button[data-tab="rules"]');
  await page.waitForSelector('#usaf-add', { timeout: 30_000 });
  return page;
}

async function open(page: Page, id: string): Promise<void> {
  await page.click(`button.usaf-edit[data-rule="${id}"]`);
  await page.waitForSelector('#usaf-name', { state: 'visible', timeout: 30_000 });
}

async function saved(page: Page, name: string): Promise<void> {
  await page.waitForFunction((n) => (document.querySelector('.usaf-status')?.textContent ?? '').includes(`saved "${n}"`), name, { timeout: 30_000 });
}

const HOT = { id: 'kiln-hot', name: 'Kiln too hot', devices: { list: ['kiln'] }, when: { field: 'temperature', op: 'above', value: 30 }, severity: 'warning' };

test('two people with one rule open: the second save is refused instead of undoing the first, and the form keeps what was typed', { timeout: 180_000 }, async () => {
  assert.equal((await api('POST', 'rules', HOT)).status, 201);
  const ann = await person();
  const bob = await person();
  await open(ann, 'kiln-hot');
  await open(bob, 'kiln-hot');

  await ann.fill('.usaf-cond .usaf-value', '35');
  await ann.click('#usaf-save');
  await saved(ann, 'Kiln too hot');
  assert.equal(((await rule('kiln-hot')) as { when: { value: number } }).when.value, 35);

  // Bob's form still shows 30: saved as it stands, it would put the threshold Ann just set back to 30.
  // The preview his change starts is held until the save has its answer, as a slow store would: it answers last.
  let release = () => {};
  const held = new Promise<void>((resolve) => (release = resolve));
  await bob.route('**/upperstack-alert/preview', async (route) => {
    await held;
    await route.continue();
  });
  await bob.selectOption('.usaf-severity', 'critical');
  await bob.waitForRequest('**/upperstack-alert/preview', { timeout: 30_000 });
  await bob.click('#usaf-save');
  const refused = () => /was changed by admin \(page\) at .* after you opened it/.test(document.querySelector('.usaf-error')?.textContent ?? '');
  await bob.waitForFunction(refused, undefined, { timeout: 30_000 });
  const previewed = bob.waitForResponse('**/upperstack-alert/preview', { timeout: 30_000 });
  release();
  await previewed;
  // One more round trip from the page: by its end the page has read the preview's answer.
  await bob.evaluate(() => fetch(location.href).then((r) => r.text()).then(() => undefined));
  assert.equal(await bob.evaluate(refused), true, 'the preview answering after the save does not wipe what the save was told');
  assert.equal(await bob.isVisible('#usaf-name'), true, 'the form stays open');
  assert.equal(await bob.inputValue('.usaf-severity'), 'critical', 'with what was chosen');
  const after = (await rule('kiln-hot')) as { when: { value: number }; severity: string };
  assert.deepEqual([after.when.value, after.severity], [35, 'warning'], "Ann's change stands, Bob's is not saved");

  // Opened again, the form shows Ann's threshold; Bob's change saved on it keeps both.
  await bob.click('.usaf-cancel');
  await bob.reload();
  await bob.waitForSelector('#app', { state: 'visible', timeout: 30_000 });
  await bob.click('nav button[data-tab="rules"]');
  await bob.waitForSelector('button.usaf-edit[data-rule="kiln-hot"]', { timeout: 30_000 });
  await open(bob, 'kiln-hot');
  assert.equal(await bob.inputValue('.usaf-cond .usaf-value'), '35');
  await bob.selectOption('.usaf-severity', 'critical');
  await bob.click('#usaf-save');
  await saved(bob, 'Kiln too hot');
  const both = (await rule('kiln-hot')) as { when: { value: number }; severity: string };
  assert.deepEqual([both.when.value, both.severity], [35, 'critical']);
  await ann.context().close();
  await bob.context().close();
});

test('a silence added while the rule is open in the form stays after the form saves', { timeout: 180_000 }, async () => {
  const quiet = { ...HOT, id: 'door-open', name: 'Door open', when: { field: 'door', op: 'equal', value: 'open' } };
  assert.equal((await api('POST', 'rules', quiet)).status, 201);
  const ann = await person();
  await open(ann, 'door-open');
  await ann.fill('.usaf-message', '{device}: the door is open');

  // Meanwhile someone on night duty silences the door alert for an hour (the page's Silence button, or the API).
  const silenced = await api('POST', 'alerts/door-open:kiln/silence', { for: '1h', by: 'otto', note: 'door propped open for a delivery' });
  assert.equal(silenced.status, 200, await silenced.clone().text());
  const silence = ((await silenced.json()) as { silence: unknown }).silence;

  await ann.click('#usaf-save');
  await saved(ann, 'Door open');
  const now = (await rule('door-open')) as { message?: string; silences?: unknown[] };
  assert.equal(now.message, '{device}: the door is open');
  assert.deepEqual(now.silences, [silence], 'the silence is kept');
  await ann.context().close();
});

test('a rule deleted while open in the form: the save says who deleted it and when, keeps what was typed, and saves it as a new rule on request', { timeout: 180_000 }, async () => {
  assert.equal((await api('POST', 'rules', { ...HOT, id: 'kiln-gone', name: 'Kiln gone' })).status, 201);
  const ann = await person();
  await open(ann, 'kiln-gone');
  await ann.fill('.usaf-cond .usaf-value', '40');
  assert.equal((await api('DELETE', 'rules/kiln-gone')).status, 204);

  await ann.click('#usaf-save');
  const told = () => /the rule "Kiln gone" \(kiln-gone\) was deleted by api \(api\) at .* UTC after you opened it/.test(document.querySelector('.usaf-error')?.textContent ?? '');
  await ann.waitForFunction(told, undefined, { timeout: 30_000 });
  assert.equal(await ann.isVisible('#usaf-name'), true, 'the form stays open');
  assert.equal(await ann.inputValue('.usaf-cond .usaf-value'), '40', 'with what was typed');
  assert.equal((await api('GET', 'rules/kiln-gone')).status, 404, 'nothing was saved');
  assert.match((await ann.textContent('.usaf-gone')) ?? '', /What you typed is still in the form/);

  await ann.click('.usaf-gone button.usaf-save-new');
  await saved(ann, 'Kiln gone');
  const again = (await rule('kiln-gone')) as { when: { value: number }; devices: unknown };
  assert.deepEqual([again.when.value, again.devices], [40, HOT.devices]);
  await ann.context().close();
});

/** How leaving the page went: the browser asked first (a beforeunload dialog), or the page just closed. */
async function leave(page: Page): Promise<'asked' | 'closed'> {
  const asked = page.waitForEvent('dialog', { timeout: 30_000 }).then(async (d) => {
    assert.equal(d.type(), 'beforeunload');
    await d.accept();
    return 'asked' as const;
  });
  const closed = page.waitForEvent('close', { timeout: 30_000 }).then(() => 'closed' as const);
  await page.close({ runBeforeUnload: true });
  return Promise.race([asked, closed]);
}

test('leaving the page (reload, Back, closing the tab) with a rule edit not saved asks first; with nothing typed it does not', { timeout: 180_000 }, async () => {
  assert.equal((await api('POST', 'rules', { ...HOT, id: 'cold', name: 'Kiln too cold', when: { field: 'temperature', op: 'below', value: 5 } })).status, 201);
  const idle = await person();
  await open(idle, 'cold');
  assert.equal(await leave(idle), 'closed', 'a rule only looked at');

  const busy = await person();
  await open(busy, 'cold');
  await busy.click('.usaf-cond .usaf-value');
  await busy.fill('.usaf-cond .usaf-value', '3');
  assert.equal(await leave(busy), 'asked', 'a threshold typed and not saved');
});
