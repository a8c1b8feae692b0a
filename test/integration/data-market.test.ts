/**
 * The data-market pack (flows/data-market.json) deployed in the real runtime,
 * with mosquitto_pub/mosquitto_sub -V mqttv5 as devices and buyers: anonymous
 * subscribers get correct 1-minute means on market/plug1/1m and are refused
 * market/plug1/live; a client with a grant (POST /api/v1/grants, or the pack's
 * payment webhook) receives the live readings; when a grant expires its
 * subscription ends; grants and clients survive a restart.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { eventually, freePort, startRuntime, type Runtime } from '../helpers/runtime';
import { auditEntries } from '../helpers/device-runtime';
import { tempDir } from '../helpers/temp';

const run = promisify(execFile);
const ROOT = join(__dirname, '..', '..', '..');
const dataDir = tempDir('us-market-');
const MARKET_SECRET = 'payment-provider-shared-secret';
let rt: Runtime;
let mqttPort: number;
const subs: ChildProcess[] = [];

const start = () => startRuntime({ dataDir, mqttPort, env: { UPPERSTACK_MARKET_SECRET: MARKET_SECRET } });

async function api(method: string, path: string, body?: unknown, headers: Record<string, string> = { authorization: `Bearer ${rt.apiKey}` }) {
  const res = await fetch(`${rt.url}${path}`, {
    method,
    headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/** A device publishing with mosquitto_pub (MQTT 5, QoS 1: acknowledged once journaled). */
async function publish(payload: unknown): Promise<void> {
  await run('mosquitto_pub', ['-V', 'mqttv5', '-h', '127.0.0.1', '-p', String(mqttPort), '-q', '1', '-t', 'devices/plug1/telemetry', '-m', JSON.stringify(payload)], { timeout: 20_000 });
}

interface Sub {
  proc: ChildProcess;
  out: () => string;
  /** Payloads received on `topic`, parsed. */
  got: (topic: string) => Array<Record<string, unknown>>;
  exited: Promise<number | null>;
}

const DENIED = /Subscribed \(mid: \d+\): 135|All subscription requests were denied/;

/**
 * mosquitto_sub -V mqttv5 -d -v: its debug lines say when the SUBACK came and what it granted
 * (line-buffered through stdbuf: mosquitto_sub buffers them when writing to a pipe).
 */
async function subscribe(topic: string, login: string[] = []): Promise<Sub> {
  const proc = spawn('stdbuf', ['-oL', '-eL', 'mosquitto_sub', '-V', 'mqttv5', '-d', '-v', '-h', '127.0.0.1', '-p', String(mqttPort), '-q', '1', '-t', topic, ...login], { stdio: ['ignore', 'pipe', 'pipe'] });
  subs.push(proc);
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  const s: Sub = {
    proc,
    out: () => out,
    got: (t) =>
      out
        .split('\n')
        .filter((l) => l.startsWith(`${t} `))
        .map((l) => JSON.parse(l.slice(t.length + 1)) as Record<string, unknown>),
    exited,
  };
  await eventually(async () => (/received SUBACK/.test(out) || proc.exitCode !== null ? true : undefined), 20_000, `SUBACK for ${topic}: ${out}`);
  return s;
}

const audit = () => auditEntries(dataDir);

// Whole minutes in the recent past, so the means' windows are known exactly.
const M = Math.floor(Date.now() / 60_000) * 60_000 - 10 * 60_000;

before(async () => {
  mqttPort = await freePort();
  copyFileSync(join(ROOT, 'flows', 'data-market.json'), join(dataDir, 'flows.json'));
  rt = await start();
});

after(async () => {
  for (const p of subs) p.kill();
  await rt?.stop();
});

let john = '';

test('anonymous: correct 1-minute means on market/plug1/1m, market/plug1/live refused', async () => {
  const means = await subscribe('market/plug1/1m');
  assert.match(means.out(), /Subscribed \(mid: \d+\): 1/, means.out());
  const live = await subscribe('market/plug1/live');
  assert.match(live.out(), DENIED, live.out());

  await publish([{ ts: M + 1000, power: 10, volts: 230 }, { ts: M + 20_000, power: 20 }, { ts: M + 59_999, power: 60, volts: 232 }]);
  await publish({ ts: M + 60_000, power: 1 });
  await publish({ ts: M + 119_000, power: 3 });
  await publish({ ts: M + 120_000, power: 100 });
  const got = await eventually(async () => (means.got('market/plug1/1m').length >= 2 ? means.got('market/plug1/1m') : undefined), 30_000, `two means: ${means.out()}`);
  assert.deepEqual(got[0], { device: 'plug1', ts: M, end: M + 60_000, fields: { power: 30, volts: 231 }, n: { power: 3, volts: 2 } });
  assert.deepEqual(got[1], { device: 'plug1', ts: M + 60_000, end: M + 120_000, fields: { power: 2 }, n: { power: 2 } });
  // The latest mean is retained: a subscriber arriving now has it at once.
  const late = await subscribe('market/plug1/1m');
  const retained = await eventually(async () => late.got('market/plug1/1m')[0], 20_000, 'the retained mean');
  assert.deepEqual(retained.fields, { power: 2 });
  assert.equal(means.got('market/plug1/live').length, 0);
  means.proc.kill();
  late.proc.kill();
});

test('with a grant, a client receives the live readings; anonymous still only the means', async () => {
  const g = await api('POST', '/api/v1/grants', { client: 'john', device: 'plug1', minutes: 60 });
  assert.equal(g.status, 201, JSON.stringify(g.json));
  const login = g.json.login as { username: string; password: string };
  assert.equal(login.username, 'john');
  john = login.password;
  const listed = await api('GET', '/api/v1/grants?client=john');
  assert.equal((listed.json.grants as unknown[]).length, 1);
  assert.ok(!JSON.stringify(listed.json).includes(john), 'the password is never listed');
  assert.equal((await api('POST', '/api/v1/grants', { client: 'x', device: 'plug1', minutes: 1 }, {})).status, 401, 'an API key is needed');
  const huge = await fetch(`${rt.url}/api/v1/grants`, { method: 'POST', headers: { authorization: `Bearer ${rt.apiKey}`, 'content-type': 'application/json' }, body: '{"client":"x","device":"plug1","minutes":1e309}' });
  assert.equal(huge.status, 400, 'a number JSON cannot keep is named, not read as a grant for ever');
  assert.deepEqual(await huge.json(), { error: { code: 'BAD_PARAMETER', parameter: 'minutes', pointer: '/minutes', message: '/minutes is too large a number to keep: numbers must stay within ±1.7e308 (a larger one, such as 1e309, reads as infinity and would be saved as null)' } });
  const reader = await api('POST', '/api/v1/keys', { name: 'dashboard', scopes: ['read'] });
  assert.equal(reader.status, 201, JSON.stringify(reader.json));
  const asReader = { authorization: `Bearer ${String(reader.json.key)}` };
  assert.equal((await api('POST', '/api/v1/grants', { client: 'x', device: 'plug1', minutes: 1 }, asReader)).status, 403, 'the admin scope is needed');
  assert.equal((await api('GET', '/api/v1/grants', undefined, asReader)).status, 403);

  const wrong = await subscribe('market/plug1/live', ['-u', 'john', '-P', 'not-his-password']);
  assert.notEqual(await wrong.exited, 0);
  assert.match(wrong.out(), /Bad user name or password|not authori[sz]ed/i, wrong.out());
  const otherDevice = await subscribe('market/plug2/live', ['-u', 'john', '-P', john]);
  assert.match(otherDevice.out(), DENIED, `a grant is for one device: ${otherDevice.out()}`);

  const live = await subscribe('market/plug1/live', ['-u', 'john', '-P', john]);
  assert.match(live.out(), /Subscribed \(mid: \d+\): 1/, live.out());
  const wide = await subscribe('market/#');
  assert.match(wide.out(), DENIED, `a filter that takes in the live topics is refused to anonymous clients: ${wide.out()}`);
  const anon = await subscribe('market/+/1m');
  await publish([{ ts: M + 240_000, power: 100 }, { ts: M + 250_000, power: 42 }]);
  const got = await eventually(async () => (live.got('market/plug1/live').length >= 2 ? live.got('market/plug1/live') : undefined), 30_000, `live readings: ${live.out()}`);
  assert.deepEqual(got, [{ device: 'plug1', ts: M + 240_000, fields: { power: 100 } }, { device: 'plug1', ts: M + 250_000, fields: { power: 42 } }]);
  await publish({ ts: M + 305_000, power: 7 });
  const mean = await eventually(async () => anon.got('market/plug1/1m').find((m) => m.ts === M + 240_000), 30_000, `mean via market/+/1m: ${anon.out()}`);
  assert.deepEqual(mean.fields, { power: 71 }, 'the minute of 100 and 42');
  assert.equal(anon.out().includes('market/plug1/live'), false, anon.out());
  anon.proc.kill();
  live.proc.kill();
});

test('the payment webhook of the pack makes a grant and answers the login once', async () => {
  const refused = await api('POST', '/market/payment', { client: 'eve', device: 'plug1', minutes: 60 }, { 'x-market-secret': 'guess' });
  assert.equal(refused.status, 403);
  const paid = await api('POST', '/market/payment', { client: 'ann', device: 'plug1', minutes: 30 }, { 'x-market-secret': MARKET_SECRET });
  assert.equal(paid.status, 201, JSON.stringify(paid.json));
  assert.equal((paid.json.login as { username: string }).username, 'ann');
  assert.equal((paid.json.grant as { by: string }).by.startsWith('flow:'), true);
  const bad = await api('POST', '/market/payment', { client: 'ann', device: 'plug1', minutes: -1 }, { 'x-market-secret': MARKET_SECRET });
  assert.equal(bad.status, 400, JSON.stringify(bad.json));
  const again = await api('POST', '/market/payment', { client: 'ann', device: 'plug1', minutes: 30 }, { 'x-market-secret': MARKET_SECRET });
  assert.equal(again.status, 201);
  assert.equal(again.json.login, undefined, 'the login is shown only the first time');
});

test('when a short grant expires, its live subscription ends', async () => {
  const johnLive = await subscribe('market/plug1/live', ['-u', 'john', '-P', john]);
  // Ten seconds: long enough to see a live reading arrive first, on a slow machine too (only mary's
  // subscription and one publish take place in them; a reading that came too late fails the wait below).
  const g = await api('POST', '/api/v1/grants', { client: 'mary', device: 'plug1', minutes: 1 / 6 });
  assert.equal(g.status, 201);
  const password = (g.json.login as { password: string }).password;
  const grant = g.json.grant as { id: string };
  const mary = await subscribe('market/plug1/live', ['-u', 'mary', '-P', password]);
  await publish({ ts: M + 300_000, power: 5 });
  await eventually(async () => mary.got('market/plug1/live')[0], 30_000, `mary's live reading: ${mary.out()}`);

  await eventually(async () => (audit().some((e) => e.action === 'grant.expired' && String(e.note).includes('mary')) ? true : undefined), 120_000, 'the expiry');
  const view = await api('GET', `/api/v1/grants/${grant.id}`);
  assert.equal((view.json.grant as { active: boolean }).active, false);
  await publish({ ts: M + 360_000, power: 6 });
  await eventually(async () => (johnLive.got('market/plug1/live').some((r) => r.ts === M + 360_000) ? true : undefined), 30_000, 'john still receives');
  assert.deepEqual(mary.got('market/plug1/live').map((r) => r.ts), [M + 300_000], 'nothing after the expiry');
  const resubscribe = await subscribe('market/plug1/live', ['-u', 'mary', '-P', password]);
  assert.match(resubscribe.out(), DENIED, `refused after expiry: ${resubscribe.out()}`);
  mary.proc.kill();
  johnLive.proc.kill();
});

test('grants and logins survive a restart', async () => {
  await rt.stop();
  rt = await start();
  const listed = await api('GET', '/api/v1/grants?client=john&active=true');
  assert.equal((listed.json.grants as unknown[]).length, 1, JSON.stringify(listed.json));
  const expired = await api('GET', '/api/v1/grants?client=mary');
  assert.equal((expired.json.grants as Array<{ active: boolean }>)[0].active, false);
  const live = await subscribe('market/plug1/live', ['-u', 'john', '-P', john]);
  assert.match(live.out(), /Subscribed \(mid: \d+\): 1/, live.out());
  await publish({ ts: M + 400_000, power: 9 });
  const got = await eventually(async () => live.got('market/plug1/live')[0], 30_000, `live after restart: ${live.out()}`);
  assert.deepEqual(got.fields, { power: 9 });
  live.proc.kill();
  const actions = audit().map((e) => e.action);
  for (const a of ['grant.create', 'grant.expired']) assert.ok(actions.includes(a), `${a} in the audit log`);
});
