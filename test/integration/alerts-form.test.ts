/**
 * The alert rule form on /upperstack/alerts with what a person meets beyond the first rule: opening a rule
 * written through the API (nested groups, per-device thresholds, a second schedule window, notification
 * targets) and saving it unchanged leaves it as it was; notification targets chosen in the form; a name
 * already in use; a number too large for the field, said under its label; every wrong field marked at once; no error on a new rule's empty form until a
 * field is typed into or Save is pressed; the field a group's recovery threshold and escalation watch, picked in the
 * form. In Debian's headless Chromium on the real runtime.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import mqtt from 'mqtt';
import { eventually, type Runtime } from '../helpers/runtime';
import { alertsPageLogin, useEditor } from '../helpers/editor-page';

let rt: Runtime;
let page: Page;

useEditor(async (editor) => {
  rt = editor.rt;
  page = await editor.browser.newPage({ viewport: { width: 1200, height: 1400 } });
  await alertsPageLogin(page, rt);
});

async function api(method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${rt.url}/api/v1/${path}`, {
    method,
    headers: { authorization: `Bearer ${rt.apiKey}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

async function rules(): Promise<{ id: string; name: string }[]> {
  return ((await (await api('GET', 'rules')).json()) as { rules: { id: string; name: string }[] }).rules;
}

/** The Rules tab, drawn afresh from the server. */
async function openRules(): Promise<void> {
  await page.click('nav button[data-tab="active"]');
  await page.reload();
  await page.waitForSelector('#app', { state: 'visible', timeout: 30_000 });
  await page.click('nav button[data-tab="rules"]');
  await page.waitForSelector('#usaf-add', { timeout: 30_000 });
}

test('a rule opened in the form and saved unchanged keeps everything the API gave it', { timeout: 120_000 }, async () => {
  const rich = {
    id: 'rich',
    name: 'Hot and humid, or power off its band',
    description: 'written through the API',
    devices: { tags: { site: 'lab' } },
    when: {
      all: [
        { any: [{ field: 'temperature', op: 'above', value: 30 }, { field: 'humidity', op: 'above', value: 90 }] },
        { field: 'power', op: 'outside', low: 1, high: 5, lowTag: 'p_min', highTag: 'p_max' },
      ],
      for: '10s',
    },
    clear: { field: 'power', op: 'inside', low: 2, high: 4, for: '5s' },
    escalate: { severity: 'critical', op: 'above', value: 40, field: 'temperature' },
    schedule: [
      { days: ['mon'], from: '08:00', to: '12:00' },
      { days: ['tue'], from: '13:00', to: '18:00' },
    ],
    severity: 'warning',
    notify: { email: ['ann@example.org'], webhook: false, mqtt: true },
  };
  assert.equal((await api('POST', 'rules', rich)).status, 201);
  await openRules();
  // The table says what the rule means, groups included.
  assert.match((await page.textContent('tr[data-rule="rich"]')) ?? '', /\(temperature is above 30 OR humidity is above 90\) AND power is outside 1–5 for 10s/);
  await page.click('button.usaf-edit[data-rule="rich"]');
  await page.waitForSelector('#usaf-name', { state: 'visible' });
  await page.click('#usaf-save');
  await page.waitForFunction(() => /saved "Hot and humid/.test(document.querySelector('.usaf-status')?.textContent ?? ''), undefined, { timeout: 30_000 });
  assert.deepEqual(await (await api('GET', 'rules/rich')).json(), rich);
});

test('notification targets are chosen in the form: only e-mail, to one person', { timeout: 120_000 }, async () => {
  await openRules();
  await page.click('#usaf-add');
  await page.fill('#usaf-name', 'Door open');
  await page.fill('.usaf-cond .usaf-field', 'door');
  await page.selectOption('.usaf-cond .usaf-op', 'equal');
  await page.fill('.usaf-cond .usaf-value', 'true');
  assert.equal(await page.isVisible('.usaf-notify-webhook'), false, 'every channel until the person says otherwise');
  await page.selectOption('.usaf-notify-kind', 'some');
  await page.uncheck('.usaf-notify-webhook');
  await page.uncheck('.usaf-notify-mqtt');
  await page.fill('.usaf-notify-to', 'bob@example.org');
  await page.click('#usaf-save');
  await page.waitForSelector('tr[data-rule="door-open"]', { timeout: 30_000 });
  const saved = (await (await api('GET', 'rules/door-open')).json()) as { notify?: unknown };
  assert.deepEqual(saved.notify, { email: ['bob@example.org'], webhook: false, mqtt: false });

  // A recipient that is no e-mail address is marked on its field, with the server's reason.
  await page.click('button.usaf-edit[data-rule="door-open"]');
  await page.fill('.usaf-notify-to', 'bob at example');
  await page.click('#usaf-save');
  await page.waitForSelector('.usaf-notify-to.usaf-invalid', { timeout: 30_000 });
  assert.match((await page.textContent('.usaf-error')) ?? '', /^E-mail to: /);
  await page.click('.usaf-cancel');
});

test('a name already in use and a number too large are refused in the form, and nothing is saved', { timeout: 120_000 }, async () => {
  assert.equal((await api('POST', 'rules', { id: 'too-hot', name: 'Too hot', devices: { all: true }, when: { field: 'temperature', op: 'above', value: 30 }, severity: 'warning' })).status, 201);
  const before = await rules();
  await openRules();
  await page.click('#usaf-add');
  await page.fill('#usaf-name', '  too HOT ');
  await page.fill('.usaf-cond .usaf-field', 'humidity');
  await page.fill('.usaf-cond .usaf-value', '80');
  await page.click('#usaf-save');
  await page.waitForSelector('#usaf-name.usaf-invalid', { timeout: 30_000 });
  assert.match((await page.textContent('.usaf-error')) ?? '', /a rule named "Too hot" exists already/);

  await page.fill('#usaf-name', 'Too humid');
  await page.fill('.usaf-cond .usaf-value', '1e400');
  await page.click('#usaf-save');
  await page.waitForSelector('.usaf-cond .usaf-value.usaf-invalid', { timeout: 30_000 });
  assert.equal(await shownError('.usaf-cond .usaf-value'), 'Value: not a number this field can hold (too large, or not a number at all)');

  // "devices with the tag" and no tag name: a rule that would never fire; the tag field is marked.
  await page.fill('.usaf-cond .usaf-value', '80');
  await page.selectOption('.usaf-devices-kind', 'tag');
  await page.click('#usaf-save');
  await page.waitForSelector('.usaf-tag-name.usaf-invalid', { timeout: 30_000 });
  assert.match((await page.textContent('.usaf-error')) ?? '', /needs a tag name/);
  assert.deepEqual(await rules(), before);

  // Renaming a rule to its own name in other letters is no clash.
  await page.click('.usaf-cancel');
  await page.click('button.usaf-edit[data-rule="too-hot"]');
  await page.fill('#usaf-name', 'TOO HOT');
  await page.click('#usaf-save');
  await page.waitForFunction(() => /saved "TOO HOT"/.test(document.querySelector('.usaf-status')?.textContent ?? ''), undefined, { timeout: 30_000 });
});

test('a threshold typed with a decimal comma or a unit is marked as typed, never saved as another number', { timeout: 120_000 }, async () => {
  const before = await rules();
  await openRules();
  await page.click('#usaf-add');
  await page.fill('#usaf-name', 'Cold store');
  await page.fill('.usaf-cond .usaf-field', 'temperature');
  // Typed key by key as a person does: a number box of the browser would drop the comma and keep 215.
  await page.locator('.usaf-cond .usaf-value').pressSequentially('21,5');
  await page.click('#usaf-save');
  assert.equal(await shownError('.usaf-cond .usaf-value'), 'Value: write the number with a point before its decimals and without thousands separators, e.g. 21.5');
  assert.equal(await page.inputValue('.usaf-cond .usaf-value'), '21,5', 'the box keeps what was typed');
  assert.deepEqual(await rules(), before);

  await page.fill('.usaf-cond .usaf-value', '');
  await page.locator('.usaf-cond .usaf-value').pressSequentially('30 °C');
  await page.click('#usaf-save');
  assert.equal(await shownError('.usaf-cond .usaf-value'), 'Value: enter the number alone, without a unit');
  await page.fill('.usaf-for-n', '1,5');
  await page.click('#usaf-save');
  assert.equal(await shownError('.usaf-for-n'), 'For at least: write the number with a point before its decimals and without thousands separators, e.g. 21.5');
  assert.deepEqual(await rules(), before);

  await page.fill('.usaf-for-n', '1.5');
  await page.fill('.usaf-cond .usaf-value', '21.5');
  await page.click('#usaf-save');
  await page.waitForSelector('tr[data-rule="cold-store"]', { timeout: 30_000 });
  const saved = (await (await api('GET', 'rules/cold-store')).json()) as { when: { value: number; for: string } };
  assert.equal(saved.when.value, 21.5);
  assert.equal(saved.when.for, '1.5m');
});

/** The words shown for a field's error: next to the marked field and as one line at the top (none with a JSON pointer). */
async function shownError(fieldSelector: string): Promise<string> {
  await page.waitForSelector(`${fieldSelector}.usaf-invalid + .usaf-field-error`, { timeout: 30_000 });
  const text = (await page.textContent(`${fieldSelector}.usaf-invalid + .usaf-field-error`)) ?? '';
  assert.ok((await page.locator('.usaf-error > div').allTextContents()).includes(text), `${text} is listed at the top`);
  assert.doesNotMatch((await page.textContent('.usaf-error')) ?? '', /\/when|\/devices/);
  return text;
}

test('errors are said in words next to the field, under its label, once it is typed into or Save is pressed: a number too large, a missing name, a missing value, a negative duration, a device id no device can have', { timeout: 120_000 }, async () => {
  const before = await rules();
  await openRules();
  await page.click('#usaf-add');
  // A new rule's form is not met with errors: a field's shows once it is typed into, the others' on Save.
  await page.fill('.usaf-cond .usaf-value', '1e309');
  assert.equal(await shownError('.usaf-cond .usaf-value'), 'Value: not a number this field can hold (too large, or not a number at all)');
  await page.fill('.usaf-cond .usaf-value', '30');
  await page.waitForSelector('.usaf-cond .usaf-value.usaf-invalid', { state: 'detached', timeout: 30_000 });
  assert.equal(await page.textContent('.usaf-error'), '', 'the name not given yet is not an error before Save');
  assert.equal(await page.locator('.usaf-invalid, .usaf-field-error').count(), 0);
  await page.click('#usaf-save');
  assert.equal(await shownError('#usaf-name'), 'Name: give the rule a name');
  assert.deepEqual(await rules(), before);

  await page.fill('#usaf-name', 'Words please');
  await page.fill('.usaf-cond .usaf-field', 'temperature');
  await page.fill('.usaf-cond .usaf-value', '');
  await page.click('#usaf-save');
  assert.equal(await shownError('.usaf-cond .usaf-value'), 'Value: enter a number');

  await page.fill('.usaf-cond .usaf-value', '30');
  await page.fill('.usaf-for-n', '-5');
  await page.click('#usaf-save');
  assert.equal(await shownError('.usaf-for'), 'For at least: must be a positive duration, e.g. 10 minutes');

  await page.fill('.usaf-for-n', '');
  await page.selectOption('.usaf-devices-kind', 'list');
  await page.fill('.usaf-devices-list', 'door-1, door 1, door/2');
  await page.click('#usaf-save');
  assert.match(await shownError('.usaf-devices-list'), /^Devices: "door 1" is not a device id: use 1 to 128 letters, digits/);
  assert.deepEqual(await rules(), before);

  await page.fill('.usaf-devices-list', 'door-1, door:2');
  await page.click('#usaf-save');
  await page.waitForSelector('tr[data-rule="words-please"]', { timeout: 30_000 });
  assert.deepEqual(((await (await api('GET', 'rules/words-please')).json()) as { devices: unknown }).devices, { list: ['door-1', 'door:2'] });
});

test('every wrong field is marked at once, each with its own words: two the server finds, and one the form finds with one the server finds', { timeout: 120_000 }, async () => {
  const before = await rules();
  await openRules();
  await page.click('#usaf-add');
  await page.fill('#usaf-name', 'Two wrongs');
  await page.fill('.usaf-cond .usaf-field', 'temperature');
  await page.fill('.usaf-for-n', '-5');
  await page.click('#usaf-save');
  await page.waitForSelector('.usaf-for.usaf-invalid', { timeout: 30_000 });
  await page.waitForSelector('.usaf-cond .usaf-value.usaf-invalid', { timeout: 30_000 });
  assert.equal(await page.textContent('.usaf-cond .usaf-value.usaf-invalid + .usaf-field-error'), 'Value: enter a number');
  assert.equal(await page.textContent('.usaf-for.usaf-invalid + .usaf-field-error'), 'For at least: must be a positive duration, e.g. 10 minutes');
  assert.equal(await page.locator('.usaf-field-error').count(), 2);
  assert.deepEqual((await page.locator('.usaf-error > div').allTextContents()).sort(), ['For at least: must be a positive duration, e.g. 10 minutes', 'Value: enter a number']);

  // A missing name is the form's own finding; the value is still the server's: both are marked.
  await page.fill('#usaf-name', '');
  await page.fill('.usaf-for-n', '');
  await page.click('#usaf-save');
  await page.waitForSelector('#usaf-name.usaf-invalid', { timeout: 30_000 });
  await page.waitForSelector('.usaf-cond .usaf-value.usaf-invalid', { timeout: 30_000 });
  assert.equal(await page.textContent('#usaf-name.usaf-invalid + .usaf-field-error'), 'Name: give the rule a name');
  assert.equal(await page.textContent('.usaf-cond .usaf-value.usaf-invalid + .usaf-field-error'), 'Value: enter a number');
  assert.equal(await page.locator('.usaf-field-error').count(), 2);
  assert.deepEqual(await rules(), before);

  // A value the schema wants and a message only the later checks refuse: one Save marks both.
  await page.fill('#usaf-name', 'Two wrongs');
  await page.fill('.usaf-message', 'too {hot}');
  await page.click('#usaf-save');
  await page.waitForSelector('.usaf-message.usaf-invalid', { timeout: 30_000 });
  await page.waitForSelector('.usaf-cond .usaf-value.usaf-invalid', { timeout: 30_000 });
  assert.match((await page.textContent('.usaf-message.usaf-invalid + .usaf-field-error')) ?? '', /\{hot\}/);
  assert.equal(await page.locator('.usaf-field-error').count(), 2);
  assert.deepEqual(await rules(), before);
  await page.click('.usaf-cancel');

  // A group with a condition missing its value and a recovery threshold without a field: one Save marks both,
  // the second not left for after the first is fixed.
  await page.click('#usaf-add');
  await page.fill('#usaf-name', 'Hot and humid group');
  await page.fill('.usaf-cond .usaf-field', 'temperature');
  await page.click('.usaf-add-cond');
  await page.locator('.usaf-cond').nth(1).locator('.usaf-field').fill('humidity');
  await page.locator('.usaf-cond').nth(1).locator('.usaf-value').fill('80');
  await page.selectOption('.usaf-clear-kind', 'below');
  await page.fill('.usaf-clear-value', '25');
  await page.click('#usaf-save');
  await page.waitForSelector('.usaf-clear-field.usaf-invalid', { timeout: 30_000 });
  await page.waitForSelector('.usaf-cond .usaf-value.usaf-invalid', { timeout: 30_000 });
  const marked = await page.locator('.usaf-field-error').allTextContents();
  assert.equal(marked.length, 2, marked.join(' | '));
  assert.equal(marked[0], 'condition 1, Value: enter a number');
  assert.equal(marked[1], 'Recovery field: choose which field the recovery threshold watches: the conditions watch more than one');
  assert.deepEqual(await rules(), before);
  await page.click('.usaf-cancel');

  // The API's 400 lists them too; its code, message and pointer are those of the first, as before the list.
  const res = await api('POST', 'rules', { id: 'two-wrongs', name: 'Two wrongs', devices: { all: true }, when: { field: 'temperature', op: 'above', value: 'hot' }, severity: 'bad' });
  assert.equal(res.status, 400);
  const { error } = (await res.json()) as { error: { code: string; message: string; pointer: string; errors: Array<{ field: string; message: string }> } };
  assert.equal(error.code, 'RULE_INVALID');
  assert.deepEqual(error.errors.map((e) => e.field).sort(), ['/severity', '/when/value']);
  assert.deepEqual([error.message, error.pointer], [error.errors[0].message, error.errors[0].field]);
});

test('a group\'s recovery threshold and escalation watch the field chosen in the form, and the alert clears by it', { timeout: 120_000 }, async () => {
  const before = await rules();
  await openRules();
  await page.click('#usaf-add');
  await page.fill('#usaf-name', 'Hot and damp');
  await page.fill('.usaf-cond .usaf-field', 'temp');
  await page.fill('.usaf-cond .usaf-value', '30');
  assert.equal(await page.isVisible('.usaf-clear-field'), false, 'one condition: its field is the one');
  // The condition is under its "When" label; AND or OR is asked once there is a second one.
  assert.equal(await page.textContent('.usaf-row:has(.usaf-combine) > label'), 'When');
  assert.equal(await page.isVisible('.usaf-row:has(.usaf-combine) > label'), true);
  assert.equal(await page.isVisible('.usaf-combine'), false);
  await page.selectOption('.usaf-clear-kind', 'below');
  assert.equal(await page.isVisible('.usaf-clear-field'), false);
  await page.click('.usaf-add-cond');
  await page.locator('.usaf-cond').nth(1).locator('.usaf-field').fill('hum');
  await page.locator('.usaf-cond').nth(1).locator('.usaf-value').fill('80');
  await page.fill('.usaf-clear-value', '25');
  assert.equal(await page.isVisible('.usaf-combine'), true);
  // Two fields watched: the picker offers both and guesses neither; Save says what to choose, in words.
  assert.equal(await page.isVisible('.usaf-clear-field'), true);
  assert.deepEqual(await page.locator('.usaf-clear-field option').allTextContents(), ['which field?', 'temp', 'hum']);
  assert.equal(await page.inputValue('.usaf-clear-field'), '');
  await page.selectOption('.usaf-esc-severity', 'critical');
  await page.fill('.usaf-esc-value', '95');
  assert.equal(await page.isVisible('.usaf-esc-field'), true);
  await page.click('#usaf-save');
  assert.equal(await shownError('.usaf-clear-field'), 'Recovery field: choose which field the recovery threshold watches: the conditions watch more than one');
  assert.equal(await shownError('.usaf-esc-field'), 'Escalation field: choose which field the escalation value watches: the conditions watch more than one');
  assert.doesNotMatch((await page.textContent('.usaf-error')) ?? '', /\/clear|\/escalate/);
  assert.deepEqual(await rules(), before);

  await page.selectOption('.usaf-clear-field', 'hum');
  await page.selectOption('.usaf-esc-field', 'hum');
  await page.click('#usaf-save');
  await page.waitForSelector('tr[data-rule="hot-and-damp"]', { timeout: 30_000 });
  const saved = (await (await api('GET', 'rules/hot-and-damp')).json()) as { clear: unknown; escalate: unknown };
  assert.deepEqual(saved.clear, { op: 'below', field: 'hum', value: 25 });
  assert.deepEqual(saved.escalate, { severity: 'critical', op: 'above', value: 95, field: 'hum' });

  // Opened again, the pickers show what was saved; saved unchanged, the rule stays as it was.
  await page.click('button.usaf-edit[data-rule="hot-and-damp"]');
  assert.equal(await page.inputValue('.usaf-clear-field'), 'hum');
  assert.equal(await page.inputValue('.usaf-esc-field'), 'hum');
  await page.click('#usaf-save');
  await page.waitForFunction(() => /saved "Hot and damp"/.test(document.querySelector('.usaf-status')?.textContent ?? ''), undefined, { timeout: 30_000 });
  const again = (await (await api('GET', 'rules/hot-and-damp')).json()) as { clear: unknown; escalate: unknown };
  assert.deepEqual(again, saved);

  // Hot and damp fires; drier but not below 25 it keeps firing (the recovery threshold, not the condition, clears it); at 20 it clears.
  const ts = Date.now() - 60_000;
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqttPort}`);
  for (const [i, reading] of [{ temp: 31, hum: 85 }, { temp: 20, hum: 50 }, { temp: 20, hum: 20 }].entries()) {
    await client.publishAsync('devices/cellar-1/telemetry', JSON.stringify({ ts: ts + i * 1000, ...reading }), { qos: 1 });
  }
  await client.endAsync();
  const events = await eventually(async () => {
    const res = await api('GET', 'alerts/hot-and-damp%3Acellar-1');
    const body = res.status === 200 ? ((await res.json()) as { state: string; events: Array<{ event: string; ts: number; reason: string }> }) : undefined;
    return body?.state === 'cleared' ? body.events : undefined;
  }, 30_000, 'the alert cleared');
  assert.deepEqual(events.map((e) => [e.event, e.ts - ts]), [['firing', 0], ['cleared', 2000]]);
  assert.match(events[1].reason, /^hum 20 is below 25/);
});

test('a group\'s only field is chosen by itself; a rule whose recovery field was set through the API opens with it and keeps it', { timeout: 120_000 }, async () => {
  await openRules();
  await page.click('#usaf-add');
  await page.fill('#usaf-name', 'Temperature out of band');
  await page.fill('.usaf-cond .usaf-field', 'temperature');
  await page.fill('.usaf-cond .usaf-value', '30');
  await page.click('.usaf-add-cond');
  await page.locator('.usaf-cond').nth(1).locator('.usaf-field').fill('temperature');
  await page.locator('.usaf-cond').nth(1).locator('.usaf-op').selectOption('below');
  await page.locator('.usaf-cond').nth(1).locator('.usaf-value').fill('5');
  await page.selectOption('.usaf-combine', 'any');
  await page.selectOption('.usaf-clear-kind', 'below');
  await page.fill('.usaf-clear-value', '28');
  assert.deepEqual(await page.locator('.usaf-clear-field option').allTextContents(), ['temperature']);
  assert.equal(await page.inputValue('.usaf-clear-field'), 'temperature');
  await page.click('#usaf-save');
  await page.waitForSelector('tr[data-rule="temperature-out-of-band"]', { timeout: 30_000 });
  assert.deepEqual(((await (await api('GET', 'rules/temperature-out-of-band')).json()) as { clear: unknown }).clear, { op: 'below', field: 'temperature', value: 28 });

  const byApi = {
    id: 'damp-by-api',
    name: 'Damp, set through the API',
    devices: { all: true },
    when: { any: [{ field: 'hum', op: 'above', value: 80 }, { field: 'dew', op: 'above', value: 18 }] },
    clear: { field: 'dew', op: 'above', value: 15, for: '5m' },
    escalate: { severity: 'critical', after: '1h', op: 'above', value: 95, field: 'hum' },
    severity: 'warning',
  };
  assert.equal((await api('POST', 'rules', byApi)).status, 201);
  await openRules();
  await page.click('button.usaf-edit[data-rule="damp-by-api"]');
  await page.waitForSelector('#usaf-name', { state: 'visible' });
  assert.equal(await page.inputValue('.usaf-clear-kind'), 'above');
  assert.equal(await page.inputValue('.usaf-clear-field'), 'dew');
  assert.equal(await page.inputValue('.usaf-esc-field'), 'hum');
  await page.click('#usaf-save');
  await page.waitForFunction(() => /saved "Damp, set through the API"/.test(document.querySelector('.usaf-status')?.textContent ?? ''), undefined, { timeout: 30_000 });
  assert.deepEqual(await (await api('GET', 'rules/damp-by-api')).json(), byApi);

  // Down to one condition, the thresholds watch its field: no field picked for the group is left behind.
  await page.click('button.usaf-edit[data-rule="damp-by-api"]');
  await page.locator('.usaf-cond').nth(0).locator('.usaf-remove-cond').click();
  assert.equal(await page.isVisible('.usaf-clear-field'), false);
  assert.equal(await page.isVisible('.usaf-esc-field'), false);
  // The save before this one left the same words in the status line: cleared, the wait is for this save's.
  await page.evaluate(() => {
    const status = document.querySelector('.usaf-status');
    if (status) status.textContent = '';
  });
  await page.click('#usaf-save');
  await page.waitForFunction(() => /saved "Damp, set through the API"/.test(document.querySelector('.usaf-status')?.textContent ?? ''), undefined, { timeout: 30_000 });
  const one = (await (await api('GET', 'rules/damp-by-api')).json()) as typeof byApi;
  assert.deepEqual([one.when, one.clear, one.escalate], [
    { field: 'dew', op: 'above', value: 18 },
    { op: 'above', value: 15, for: '5m' },
    { severity: 'critical', after: '1h', op: 'above', value: 95 },
  ]);
});

test('"has not reported for" has one duration: "For at least" typed first moves into it, nothing typed is dropped', { timeout: 120_000 }, async () => {
  await openRules();
  await page.click('#usaf-add');
  await page.fill('#usaf-name', 'Silent sensor');
  await page.fill('.usaf-for-n', '10');
  await page.selectOption('.usaf-for-u', 'm');
  await page.selectOption('.usaf-cond .usaf-op', 'not-reported');
  assert.equal(await page.isVisible('.usaf-for-row'), false, '"For at least" is not offered for this condition');
  assert.equal(await page.inputValue('.usaf-cond .usaf-silence-n'), '10');
  assert.equal(await page.inputValue('.usaf-cond .usaf-silence-u'), 'm');
  await page.click('#usaf-save');
  await page.waitForSelector('tr[data-rule="silent-sensor"]', { timeout: 30_000 });
  assert.deepEqual(((await (await api('GET', 'rules/silent-sensor')).json()) as { when: unknown }).when, { op: 'not-reported', for: '10m' });

  // Both durations filled (the condition's own, then "For at least" under another condition): neither is dropped
  // in silence; the form asks to empty the one the rule would not use.
  await page.click('button.usaf-edit[data-rule="silent-sensor"]');
  await page.selectOption('.usaf-cond .usaf-op', 'above');
  await page.fill('.usaf-cond .usaf-field', 'temperature');
  await page.fill('.usaf-cond .usaf-value', '30');
  await page.fill('.usaf-for-n', '5');
  await page.selectOption('.usaf-cond .usaf-op', 'not-reported');
  assert.equal(await page.isVisible('.usaf-for-row'), true);
  await page.click('#usaf-save');
  assert.match(await shownError('.usaf-for'), /^For at least: not used by "has not reported for"/);
  assert.deepEqual(((await (await api('GET', 'rules/silent-sensor')).json()) as { when: unknown }).when, { op: 'not-reported', for: '10m' });
  await page.fill('.usaf-for-n', '');
  assert.equal(await page.isVisible('.usaf-for-row'), false);
  await page.click('.usaf-cancel');
});

test('"has not reported for" and "is anomalous" are offered no recovery or escalation value, and one typed before is said once, in the form\'s words', { timeout: 120_000 }, async () => {
  const before = await rules();
  await openRules();
  await page.click('#usaf-add');
  await page.fill('#usaf-name', 'Quiet meter');
  // "no escalation" asks for no time nor value; an escalation does.
  assert.equal(await page.isVisible('.usaf-esc-after'), false);
  assert.equal(await page.isVisible('.usaf-esc-value'), false);
  await page.selectOption('.usaf-esc-severity', 'critical');
  assert.equal(await page.isVisible('.usaf-esc-after'), true);
  assert.equal(await page.isVisible('.usaf-esc-value'), true);
  for (const op of ['not-reported', 'anomalous']) {
    await page.selectOption('.usaf-cond .usaf-op', op);
    assert.deepEqual(await page.locator('.usaf-clear-kind option:not([hidden])').allTextContents(), ['when the condition no longer holds'], op);
    assert.equal(await page.isVisible('.usaf-esc-value'), false, op);
    assert.equal(await page.isVisible('.usaf-esc-after'), true, op);
  }
  // Values given under another condition stay shown when it changes, and each is one problem in words.
  await page.selectOption('.usaf-cond .usaf-op', 'above');
  await page.fill('.usaf-cond .usaf-field', 'power');
  await page.fill('.usaf-cond .usaf-value', '30');
  await page.selectOption('.usaf-clear-kind', 'below');
  await page.fill('.usaf-clear-value', '5');
  await page.fill('.usaf-esc-value', '40');
  await page.selectOption('.usaf-cond .usaf-op', 'not-reported');
  await page.fill('.usaf-cond .usaf-field', '');
  await page.fill('.usaf-cond .usaf-silence-n', '10');
  assert.equal(await page.isVisible('.usaf-esc-value'), true);
  await page.click('#usaf-save');
  assert.equal(
    await shownError('.usaf-clear-kind'),
    'Recovery threshold: is not used with "has not reported for": the alert clears when the device reports again (give only "for" to wait longer)',
  );
  assert.equal(await shownError('.usaf-esc-value'), 'Escalation value: is not used with "has not reported for"; escalate after a time instead');
  assert.equal(await page.locator('.usaf-field-error').count(), 2);
  assert.deepEqual(await rules(), before);
  await page.selectOption('.usaf-clear-kind', 'auto');
  await page.fill('.usaf-esc-value', '');
  await page.fill('.usaf-esc-after-n', '30');
  await page.click('#usaf-save');
  await page.waitForSelector('tr[data-rule="quiet-meter"]', { timeout: 30_000 });
  const saved = (await (await api('GET', 'rules/quiet-meter')).json()) as { when: unknown; clear?: unknown; escalate: unknown };
  assert.deepEqual([saved.when, saved.clear, saved.escalate], [{ op: 'not-reported', for: '10m' }, undefined, { severity: 'critical', after: '30m' }]);
});

test('each form keeps its own words: a second form mounted with other words leaves the page\'s form as it was', { timeout: 120_000 }, async () => {
  await openRules();
  const second = await page.evaluate(async () => {
    const form = (window as unknown as { UpperstackAlertForm: { mount(c: HTMLElement, o: unknown): unknown } }).UpperstackAlertForm;
    const box = document.createElement('div');
    document.body.appendChild(box);
    form.mount(box, { request: () => Promise.resolve({ rules: [] }), canWrite: false, t: (k: string) => `«${k}»` });
    // Its rule table is drawn once its (immediate) request has answered.
    await new Promise((resolve) => setTimeout(resolve, 0));
    const heading = box.querySelector('th')?.textContent;
    box.remove();
    return heading;
  });
  assert.equal(second, '«form.ui.column.name»', 'the second form speaks its own words');
  assert.equal(await page.textContent('#rules th'), 'Name');
  await page.click('#usaf-add');
  await page.waitForSelector('#usaf-name', { state: 'visible' });
  assert.equal(await page.textContent('#rules .usaf-form h3'), 'New rule', 'the page\'s form still speaks the page\'s');
  await page.click('.usaf-cancel');
});

test('opening a new rule asks the server nothing about the empty rule: no validate request until a field is typed into', { timeout: 120_000 }, async () => {
  const asked: string[] = [];
  const seen = (r: { url(): string }) => {
    if (r.url().includes('/upperstack-alert/validate')) asked.push(r.url());
  };
  page.on('request', seen);
  try {
    // The form waits 600 ms after a change before it checks the rule: a controlled clock runs that wait.
    await page.clock.install();
    await openRules();
    await page.clock.pauseAt(Date.now() + 60_000);
    await page.click('#usaf-add');
    await page.clock.runFor(5_000);
    assert.deepEqual(asked, []);
    // Typed into, an incomplete rule is checked by the server too.
    const validated = page.waitForRequest((r) => r.url().includes('/upperstack-alert/validate'), { timeout: 30_000 });
    await page.fill('.usaf-cond .usaf-value', '5');
    await page.clock.runFor(5_000);
    await validated;
    assert.equal(asked.length, 1);
  } finally {
    page.off('request', seen);
  }
});
