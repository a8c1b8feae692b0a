/**
 * The built-in dashboard (FlowFuse Dashboard 2 in the default pack) as a person
 * sees it in Debian's headless Chromium, with data from the simulator: it asks
 * for an editor login; it shows the latest value per device, a chart per field,
 * the ingest rate, the dead letters and the active alerts; an operator's
 * Acknowledge button acknowledges an alert (a viewer's is refused). The
 * screenshots are kept in test-artifacts/ (ARTIFACTS_DIR to put them elsewhere).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import type { Browser, Page } from 'playwright-core';
import { eventually, type Runtime } from '../helpers/runtime';
import { dataDirWithUsers, useEditor } from '../helpers/editor-page';

const ROOT = join(__dirname, '..', '..', '..');
const ARTIFACTS = process.env.ARTIFACTS_DIR ?? join(ROOT, 'test-artifacts');
const CLI = join(__dirname, '..', '..', 'scripts', 'cli.js');

let rt: Runtime;
let browser: Browser;
let sim: ChildProcess | undefined;

// Before the browser and the runtime are closed.
after(() => {
  sim?.kill('SIGINT');
});

useEditor(
  (editor) => {
    ({ rt, browser } = editor);
    mkdirSync(ARTIFACTS, { recursive: true });
  },
  () => ({
    dataDir: dataDirWithUsers('us-dash-', [
      { username: 'olga', password: 'olga-pw-1', role: 'operator' },
      { username: 'vera', password: 'vera-pw-1', role: 'viewer' },
    ]),
  }),
);

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(rt.url + path, {
    method,
    headers: { authorization: `Bearer ${rt.apiKey}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

async function open(user: string, password: string): Promise<{ page: Page; errors: string[] }> {
  // A German reader in Berlin: times the browser formats differ from ISO text in order, separators and zone.
  const context = await browser.newContext({ httpCredentials: { username: user, password }, viewport: { width: 1400, height: 1300 }, locale: 'de-DE', timezoneId: 'Europe/Berlin' });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${rt.url}/dashboard/pipeline`);
  return { page, errors };
}

/** Connects to the dashboard's socket.io namespace as its client does (Engine.IO v4 long polling); the server's answer packet. */
async function socketConnect(authorization?: string): Promise<string> {
  const headers: Record<string, string> = authorization ? { authorization } : {};
  const base = `${rt.url}/dashboard/socket.io/?EIO=4&transport=polling`;
  const open = await (await fetch(base, { headers })).text();
  const sid = (JSON.parse(open.slice(1)) as { sid: string }).sid;
  await fetch(`${base}&sid=${sid}`, { method: 'POST', headers: { ...headers, 'content-type': 'text/plain;charset=UTF-8' }, body: '40' });
  return (await fetch(`${base}&sid=${sid}`, { headers })).text();
}

test('the dashboard needs an editor login', async () => {
  const anonymous = await fetch(`${rt.url}/dashboard/pipeline`);
  assert.equal(anonymous.status, 401);
  assert.match(anonymous.headers.get('www-authenticate') ?? '', /^Basic realm="Upperstack dashboard"/);
  const wrong = await fetch(`${rt.url}/dashboard/pipeline`, { headers: { authorization: `Basic ${Buffer.from('admin:nope').toString('base64')}` } });
  assert.equal(wrong.status, 401);
  const right = await fetch(`${rt.url}/dashboard/pipeline`, { headers: { authorization: `Basic ${Buffer.from('admin:test-admin-password').toString('base64')}` } });
  assert.equal(right.status, 200);
  // The socket the page's widgets use is guarded as well: socket.io refuses to connect without the login.
  assert.match(await socketConnect(), /^44.*log in with an editor user/);
  assert.match(await socketConnect(`Basic ${Buffer.from('admin:test-admin-password').toString('base64')}`), /^40\{"sid"/);
});

test('simulated devices show on the dashboard: latest values, a chart per field, ingest rate, dead letters, alerts with acknowledge', { timeout: 240_000 }, async () => {
  // Every simulated environment sensor is "warm" at once, so alerts fire.
  const rule = await api('POST', '/api/v1/rules', {
    id: 'warm',
    name: 'Warm',
    devices: { all: true },
    when: { field: 'temperature', op: 'above', value: -100, for: '0s' },
    severity: 'warning',
    message: '{device}: {field} is {value}',
  });
  assert.equal(rule.status, 201, JSON.stringify(rule.body));

  sim = spawn(process.execPath, [CLI, 'simulate', '--devices', '6', '--rate', '1/s', '--plug-rate', '1/s', '--mix', 'env:50,plug:50', '--duration', '3m', '--anomalies', '0', '--seed', '4', '--prefix', 'dash-', '--url', `mqtt://127.0.0.1:${rt.mqttPort}`, '--truth', join(rt.dataDir, 'truth.json')], { stdio: 'ignore' });
  // One undecodable message, so there is a dead letter to show.
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqttPort}`);
  await client.publishAsync('devices/dash-broken/telemetry', '{"temperature": 21.5,', { qos: 1 });
  // A device whose last reading has a known time (a field no chart or rule uses), to find in the latest values table.
  const fixedTs = Math.floor(Date.now() / 60_000) * 60_000 - 3_600_000 + 7_250;
  await client.publishAsync('devices/dash-fixed/telemetry', JSON.stringify({ ts: fixedTs, battery: 42 }), { qos: 1 });
  await client.endAsync();

  const alerts = await eventually(async () => {
    const r = await api('GET', '/api/v1/alerts?state=firing');
    const list = r.body.alerts as Array<{ id: string }> | undefined;
    return list && list.length >= 2 ? list : undefined;
  }, 60_000, 'firing alerts');

  const { page, errors } = await open('olga', 'olga-pw-1');
  // Latest value per device: a row per simulated device, with its temperature or power.
  await page.waitForFunction(() => document.body.innerText.includes('dash-1') && document.body.innerText.includes('dash-4'), undefined, { timeout: 60_000 });
  const latest = await page.locator('text=latest value per device').first().isVisible();
  assert.ok(latest, 'the latest values group is shown');
  // A chart per field (temperature, humidity, power) and the ingest rate chart, drawn.
  await page.waitForFunction(() => document.querySelectorAll('canvas').length >= 4, undefined, { timeout: 30_000 });
  await page.waitForFunction(() => document.body.innerText.includes('DECODE_FAILED'), undefined, { timeout: 30_000 });
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true });
  const text = await page.evaluate(() => document.body.innerText);
  // Charts draw their titles on the canvas; one chart widget each for temperature, humidity, power and the rate.
  assert.equal(await page.locator('canvas').count(), 4);
  for (const label of ['temperature', 'humidity', 'power', 'messages received', 'readings stored', 'dead letters', 'DECODE_FAILED', 'dash-broken']) {
    assert.ok(text.includes(label), `the dashboard shows "${label}"`);
  }
  // The counters moved: "readings stored" is a positive number.
  const stored = await page.evaluate(() => {
    const el = [...document.querySelectorAll('.nrdb-ui-text')].find((e) => e.textContent?.includes('readings stored'));
    return Number((el?.textContent ?? '').replace(/[^0-9]/g, ''));
  });
  assert.ok(stored > 0, `readings stored shown as ${stored}`);

  // The latest values table shows when each device last reported as the browser formats a time (here German, in
  // Berlin's zone), like the alerts and dead letters tables, not as ISO text.
  const latestTable = page.locator('table', { has: page.locator('th', { hasText: 'illuminance' }) });
  const fixedRow = latestTable.locator('tr', { hasText: 'dash-fixed' }).first();
  await fixedRow.waitFor({ timeout: 30_000 });
  const latestHeaders = (await latestTable.locator('th').allTextContents()).map((h) => h.trim());
  const fixedCells = (await fixedRow.locator('td').allTextContents()).map((c) => c.trim());
  const fixedShown = await page.evaluate((ts) => new Date(ts).toLocaleString(), fixedTs);
  assert.match(fixedShown, /^\d{1,2}\.\d{1,2}\.\d{4}, \d\d:\d\d:\d\d$/, 'the page formats times the German way');
  assert.equal(fixedCells[latestHeaders.indexOf('time')], fixedShown);
  assert.equal(fixedCells[latestHeaders.indexOf('battery')], '42');
  const simRow = (await latestTable.locator('tr', { hasText: 'dash-1' }).first().locator('td').allTextContents()).map((c) => c.trim());
  assert.match(simRow[latestHeaders.indexOf('time')], /^\d{1,2}\.\d{1,2}\.\d{4}, \d\d:\d\d:\d\d$/);
  assert.ok(Number(simRow[latestHeaders.indexOf('temperature')]) > -100, `dash-1's temperature shown: ${simRow.join(' | ')}`);

  // A viewer sees the alerts but may not acknowledge.
  const viewer = await open('vera', 'vera-pw-1');
  const vButton = viewer.page.locator('button:has-text("Acknowledge")').first();
  await vButton.waitFor({ timeout: 60_000 });
  await vButton.click();
  await viewer.page.waitForFunction(() => document.body.innerText.includes('vera may not acknowledge'), undefined, { timeout: 30_000 });
  for (const a of alerts) {
    const r = await api('GET', `/api/v1/alerts/${encodeURIComponent(a.id)}`);
    assert.equal((r.body as { state: string }).state, 'firing', `${a.id} is still firing after the viewer's click`);
  }
  await viewer.page.close();

  // The operator acknowledges the first alert in the table.
  const row = page.locator('tr', { has: page.locator('button:has-text("Acknowledge")') }).first();
  const device = (await row.locator('td').nth(2).textContent())?.trim() ?? '';
  assert.match(device, /^dash-\d+$/);
  await row.locator('button:has-text("Acknowledge")').click();
  const id = `warm:${device}`;
  const acked = await eventually(async () => {
    const r = await api('GET', `/api/v1/alerts/${encodeURIComponent(id)}`);
    const b = r.body as { state: string; acknowledged?: { by: string; ts: number } };
    return b.state === 'acknowledged' ? b : undefined;
  }, 30_000, `${id} acknowledged`);
  assert.equal(acked.acknowledged?.by, 'olga');
  await page.waitForFunction((d) => document.body.innerText.includes(`warm:${d} acknowledged by olga`), device, { timeout: 30_000 });
  // Who in its column; when in the next, formatted by the browser as the "since" column is, not as ISO text.
  const ackedRow = page.locator('tr', { has: page.locator('td', { hasText: /^\s*olga\s*$/ }) }).filter({ hasText: device }).first();
  await ackedRow.waitFor({ timeout: 30_000 });
  const headers = (await page.locator('th').allTextContents()).map((h) => h.trim());
  const cells = (await ackedRow.locator('td').allTextContents()).map((c) => c.trim());
  const cell = (title: string) => cells[headers.indexOf(title)];
  const shownAt = await page.evaluate((ts) => new Date(ts).toLocaleString(), acked.acknowledged!.ts);
  assert.equal(cell('acknowledged by'), 'olga');
  assert.equal(cell('acknowledged at'), shownAt);
  assert.doesNotMatch(cell('acknowledged at'), /\d{4}-\d\d-\d\dT/);
  assert.doesNotMatch(cell('since'), /\d{4}-\d\d-\d\dT/);
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-acknowledged.png'), fullPage: true });
  // The README's picture (docs/dashboard.png): the top of the page at a laptop's width.
  const small = await browser.newContext({ httpCredentials: { username: 'olga', password: 'olga-pw-1' }, viewport: { width: 1400, height: 1300 }, deviceScaleFactor: 0.6 });
  const readme = await small.newPage();
  await readme.goto(`${rt.url}/dashboard/pipeline`);
  await readme.waitForFunction(() => document.querySelectorAll('canvas').length === 4 && document.body.innerText.includes('DECODE_FAILED'), undefined, { timeout: 30_000 });
  await readme.waitForTimeout(3000);
  await readme.screenshot({ path: join(ARTIFACTS, 'dashboard-readme.png'), fullPage: true });
  await small.close();
  assert.deepEqual(errors, []);
});
