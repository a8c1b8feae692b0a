/**
 * /upperstack/alerts as a person uses it, in Debian's headless Chromium on a
 * phone-sized screen: log in, add "temperature above 30 for 1 minute → warning"
 * in the form, save, publish readings (their timestamps span the minute), see
 * the alert, acknowledge it, see it clear. A screenshot of each step is kept
 * (test-artifacts/alerts/, or $TEST_ARTIFACTS). Also the roles: viewer, operator,
 * rules editor, through Node-RED's login. And the page's words, taken from the alert node's locale catalog.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import type { Browser } from 'playwright-core';
import type { Runtime } from '../helpers/runtime';
import { dataDirWithUsers, useEditor } from '../helpers/editor-page';

const ROOT = join(__dirname, '..', '..', '..');
const ARTIFACTS = process.env.TEST_ARTIFACTS ? join(process.env.TEST_ARTIFACTS, 'alerts') : join(ROOT, 'test-artifacts', 'alerts');

let rt: Runtime;
let browser: Browser;

useEditor(
  (editor) => {
    ({ rt, browser } = editor);
    mkdirSync(ARTIFACTS, { recursive: true });
  },
  () => ({
    dataDir: dataDirWithUsers('us-alerts-page-', [
      { username: 'vera', password: 'pw-123456', role: 'viewer' },
      { username: 'otto', password: 'pw-123456', role: 'operator' },
      { username: 'rita', password: 'pw-123456', role: 'rules-editor' },
    ]),
  }),
);

async function token(user: string, password: string): Promise<string> {
  const res = await fetch(`${rt.url}/auth/token`, { method: 'POST', body: new URLSearchParams({ client_id: 'node-red-editor', grant_type: 'password', scope: '', username: user, password }) });
  assert.equal(res.status, 200, `${user} logs in`);
  return ((await res.json()) as { access_token: string }).access_token;
}

test('roles: a viewer looks, an operator acknowledges and silences, a rules editor edits rules', { timeout: 120_000 }, async () => {
  // One login each: Node-RED refuses a sixth login of one user within 10 minutes.
  const tokens: Record<string, string> = {};
  const as = async (user: string, method: string, path: string, body?: unknown) => {
    const t = (tokens[user] ??= await token(user, 'pw-123456'));
    return fetch(`${rt.url}/upperstack-alert/${path}`, { method, headers: { authorization: `Bearer ${t}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  };
  const rule = { id: 'roles', name: 'Roles', devices: { list: ['r1'] }, when: { field: 't', op: 'above', value: 1 }, severity: 'info' };
  assert.equal((await fetch(`${rt.url}/upperstack-alert/rules`)).status, 401, 'no login, no rules');
  assert.equal((await as('vera', 'GET', 'rules')).status, 200);
  assert.equal((await as('vera', 'POST', 'alerts/roles:r1/ack', { note: 'x' })).status, 403);
  assert.equal((await as('otto', 'POST', 'rules', rule)).status, 403);
  assert.equal((await as('rita', 'POST', 'rules', rule)).status, 201);
  // The operator may act on alerts: this one does not fire yet, so the answer is about the alert, not the permission.
  assert.equal((await as('otto', 'POST', 'alerts/roles:r1/ack', { note: 'x' })).status, 404);
  assert.equal((await as('otto', 'POST', 'alerts/roles:r1/silence', { for: '1h' })).status, 200);
  const me = (await (await as('otto', 'GET', 'me')).json()) as { user: string; can: { ack: boolean; write: boolean } };
  assert.deepEqual(me, { user: 'otto', can: { read: true, ack: true, write: false }, deployed: true });
  assert.equal((await as('rita', 'DELETE', 'rules/roles')).status, 204);
});

test('a non-programmer adds "temperature above 30 for 1 minute → warning", sees the alert, acknowledges it, sees it clear', { timeout: 240_000 }, async () => {
  // A viewer half an hour off a whole-hour zone: the times shown must name it.
  const page = await browser.newPage({ viewport: { width: 412, height: 915 }, deviceScaleFactor: 1, locale: 'en-US', timezoneId: 'Asia/Kolkata' });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, name), fullPage: true });

  await page.goto(`${rt.url}/upperstack/alerts`);
  await page.waitForSelector('#login-form', { state: 'visible', timeout: 30_000 });
  await page.fill('#username', 'admin');
  await page.fill('#password', 'test-admin-password');
  await shot('1-login.png');
  await page.click('#login-submit');
  await page.waitForSelector('#app', { state: 'visible', timeout: 30_000 });
  await page.waitForSelector('#no-alerts', { timeout: 30_000 });

  await page.click('nav button[data-tab="rules"]');
  await page.click('#usaf-add');
  await page.fill('#usaf-name', 'Server room too hot');
  await page.fill('.usaf-cond .usaf-field', 'temperature');
  await page.selectOption('.usaf-cond .usaf-op', 'above');
  await page.fill('.usaf-cond .usaf-value', '30');
  await page.fill('.usaf-for-n', '1');
  await page.selectOption('.usaf-for-u', 'm');
  await page.fill('.usaf-unit', '°C');
  await page.selectOption('.usaf-severity', 'warning');
  // The live preview answers (no stored readings yet: it would have fired 0 times).
  await page.waitForFunction(() => /would have fired 0 times/.test(document.querySelector('.usaf-preview')?.textContent ?? ''), undefined, { timeout: 30_000 });
  // Inline validation: a value that is no number is marked before saving.
  await page.fill('.usaf-cond .usaf-value', '');
  await page.waitForSelector('.usaf-cond .usaf-value.usaf-invalid', { timeout: 30_000 });
  assert.equal(await page.textContent('.usaf-error'), 'Value: enter a number');
  await page.fill('.usaf-cond .usaf-value', '30');
  await page.waitForSelector('.usaf-invalid', { state: 'detached', timeout: 30_000 });
  await shot('2-rule-form.png');
  await page.click('#usaf-save');
  await page.waitForSelector('tr[data-rule="server-room-too-hot"]', { timeout: 30_000 });
  assert.match((await page.textContent('tr[data-rule="server-room-too-hot"]')) ?? '', /temperature is above 30 for 1m/);
  await shot('3-rule-saved.png');

  // The rule is the same one the API sees.
  const viaApi = (await (await rt.get('/api/v1/rules/server-room-too-hot')).json()) as { when: unknown; severity: string };
  assert.deepEqual(viaApi.when, { field: 'temperature', op: 'above', value: 30, for: '1m' });
  assert.equal(viaApi.severity, 'warning');

  // Readings from the last 70 seconds: above 30 for more than a minute.
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqttPort}`);
  const now = Date.now();
  for (const [ago, t] of [[70, 31], [45, 31.5], [20, 32], [5, 32.4]] as const) {
    await client.publishAsync('devices/server-room/telemetry', JSON.stringify({ ts: now - ago * 1000, temperature: t }), { qos: 1 });
  }
  await page.click('nav button[data-tab="active"]');
  const card = await page.waitForSelector('.alert[data-alert="server-room-too-hot:server-room"][data-state="firing"]', { timeout: 30_000 });
  assert.match((await card.textContent()) ?? '', /Server room too hot: server-room temperature is 32\.4 °C/);
  assert.match((await card.textContent()) ?? '', /since [^(]* GMT\+5:30 \(/, 'the since time names the viewer\'s zone');
  await shot('4-alert-firing.png');

  page.once('dialog', (d) => void d.accept('fan restarted'));
  await page.click('.alert[data-alert="server-room-too-hot:server-room"] button.ack');
  const acked = await page.waitForSelector('.alert[data-alert="server-room-too-hot:server-room"][data-state="acknowledged"]', { timeout: 30_000 });
  assert.match((await acked.textContent()) ?? '', /acknowledged by admin: fan restarted/);
  await shot('5-acknowledged.png');

  await client.publishAsync('devices/server-room/telemetry', JSON.stringify({ ts: Date.now(), temperature: 24 }), { qos: 1 });
  await client.endAsync();
  await page.waitForSelector('#no-alerts', { timeout: 30_000 });
  await shot('6-cleared.png');
  await page.click('nav button[data-tab="history"]');
  await page.waitForSelector('#history tr[data-alert="server-room-too-hot:server-room"][data-event="cleared"]', { timeout: 30_000 });
  const events = await page.$$eval('#history tr[data-alert="server-room-too-hot:server-room"]', (rows) => rows.map((r) => r.getAttribute('data-event')));
  assert.deepEqual(events, ['cleared', 'acknowledged', 'firing', 'pending'], 'newest first');
  await shot('7-history.png');
  assert.deepEqual(errors, []);
});

test('the page\'s words are the locale catalog\'s: a catalog with other words shows those', { timeout: 180_000 }, async () => {
  // The catalog as the runtime serves it, each of the page's words marked, as another language's file would differ.
  const mark = (o: Record<string, unknown>): Record<string, unknown> =>
    Object.fromEntries(Object.entries(o).map(([k, v]) => [k, typeof v === 'string' ? `¤${v}` : mark(v as Record<string, unknown>)]));
  const page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
  await page.route('**/locales/node-red-contrib-upperstack/upperstack-alert*', async (route) => {
    const catalog = (await (await route.fetch()).json()) as { 'upperstack-alert': { page: Record<string, unknown> } };
    catalog['upperstack-alert'].page = mark(catalog['upperstack-alert'].page);
    await route.fulfill({ json: catalog });
  });
  await page.goto(`${rt.url}/upperstack/alerts`);
  await page.waitForSelector('#login-form', { state: 'visible', timeout: 30_000 });
  assert.equal(await page.title(), '¤Upperstack alerts');
  assert.deepEqual(await page.$$eval('#login label, #login-submit', (els) => els.map((e) => e.textContent)), ['¤User name', '¤Password', '¤Log in']);
  await page.fill('#username', 'admin');
  await page.fill('#password', 'test-admin-password');
  await page.click('#login-submit');
  await page.waitForSelector('#app', { state: 'visible', timeout: 30_000 });
  assert.deepEqual(await page.$$eval('nav button, #logout', (els) => els.map((e) => e.textContent)), ['¤Log out', '¤Active', '¤History', '¤Rules']);
  assert.equal(await page.textContent('#who'), 'admin¤ · rules editor');
  assert.equal(await page.textContent('#no-alerts'), '¤No active alerts.');

  // A firing alert, for its buttons.
  const rule = { id: 'words', name: 'Words', devices: { list: ['words-1'] }, when: { field: 'temperature', op: 'above', value: 30 }, severity: 'critical' };
  assert.equal((await fetch(`${rt.url}/api/v1/rules`, { method: 'POST', headers: { authorization: `Bearer ${rt.apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify(rule) })).status, 201);
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqttPort}`);
  await client.publishAsync('devices/words-1/telemetry', JSON.stringify({ temperature: 35 }), { qos: 1 });
  await client.endAsync();
  const card = '.alert[data-alert="words:words-1"][data-state="firing"]';
  await page.waitForSelector(card, { timeout: 30_000 });
  assert.equal(await page.textContent(`${card} button.ack`), '¤Acknowledge');
  assert.equal(await page.textContent(`${card} button.silence`), '¤Silence');
  assert.deepEqual(await page.$$eval(`${card} .silence-for option`, (els) => els.map((e) => e.textContent)), ['¤1 hour', '¤4 hours', '¤1 day', '¤7 days']);
  assert.deepEqual(await page.$$eval(`${card} .state, ${card} .sev`, (els) => els.map((e) => e.textContent)), ['¤firing', '¤critical']);
  assert.match((await page.textContent(`${card} .meta`)) ?? '', /^¤words-1 · Words · since .* \(¤\d+ s\)$/);
  await page.click('nav button[data-tab="history"]');
  await page.waitForSelector('#history tr[data-alert="words:words-1"]', { timeout: 30_000 });
  assert.deepEqual(await page.$$eval('#history th', (els) => els.map((e) => e.textContent)), ['¤When', '¤Device', '¤Rule', '¤What', '¤Severity', '¤Why']);
  await page.close();
  assert.equal((await fetch(`${rt.url}/api/v1/rules/words`, { method: 'DELETE', headers: { authorization: `Bearer ${rt.apiKey}` } })).status, 204);
});
