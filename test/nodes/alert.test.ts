/**
 * The alert node in a Node-RED test runtime, with the rules API and the admin
 * routes on real HTTP servers and a real DuckDB store: rules created through
 * the API apply without a deploy, transitions leave both outputs and become
 * store rows, acknowledgement, the preview over stored history, and a redeploy
 * that keeps the running alert.
 */
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { NodeAPI } from 'node-red';
import helper from 'node-red-node-test-helper';
import type { StoreConfigNode } from '../../nodes/store-config/options';
import type { AlertEvent, AlertRecord } from '../../nodes/lib/rules/types';
import { summarizeEvents } from '../../nodes/lib/report/sources';
import { tempDir } from '../helpers/temp';

/* eslint-disable @typescript-eslint/no-require-imports */
let red: NodeAPI | undefined;
const captureRed = (r: NodeAPI) => {
  red = r;
};
const nodes = [require('../../nodes/store-config/store-config'), require('../../nodes/alert/alert'), captureRed];

helper.init(require.resolve('node-red'));

const KEY = 'alert-test-key';
const HOT = {
  id: 'hot',
  name: 'Too hot',
  devices: { all: true },
  when: { field: 'temperature', op: 'above', value: 30, for: '5s' },
  clear: { op: 'below', value: 28, for: '0s' },
  severity: 'warning',
  message: '{device}: {field} is {value} (above 30 since {since})',
};

function flow() {
  return [
    { id: 'tab', type: 'tab', label: 'test' },
    { id: 'cfg', type: 'upperstack-store-config', name: 'db', kind: 'duckdb', path: '', batchSize: 100, flushMs: 10, configVersion: 2, memoryLimit: 64 },
    { id: 'alert', type: 'upperstack-alert', z: 'tab', store: 'cfg', broker: '', topic: 'upperstack/alerts', configVersion: 1, wires: [['tell'], ['all']] },
    { id: 'tell', type: 'helper', z: 'tab' },
    { id: 'all', type: 'helper', z: 'tab' },
  ];
}

function listen(app: (req: never, res: never) => void): Promise<{ server: Server; url: string }> {
  const server = createServer(app as never);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })));
}

async function eventually<T>(fn: () => T | undefined | Promise<T | undefined>, ms = 30_000): Promise<T> {
  const end = performance.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (performance.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('upperstack-alert node', () => {
  let servers: Server[] = [];
  let api = '';
  let admin = '';
  let dataDir = '';
  const tell: AlertEvent[] = [];
  const all: AlertEvent[] = [];

  before(async () => {
    dataDir = tempDir('us-alert-node-');
    helper.settings({ upperstack: { dataDir, apiKey: KEY } });
    await helper.startServer();
  });
  after(async () => {
    await helper.stopServer();
  });
  async function deploy() {
    await helper.load(nodes, flow());
    await (helper.getNode('cfg') as unknown as StoreConfigNode).ready;
    const on = (id: string, list: AlertEvent[]) => (helper.getNode(id) as unknown as { on(e: 'input', cb: (m: { payload: AlertEvent }) => void): void }).on('input', (m) => list.push(m.payload));
    on('tell', tell);
    on('all', all);
  }
  beforeEach(async () => {
    await deploy();
    const a = await listen(red!.httpNode as never);
    const b = await listen(red!.httpAdmin as never);
    servers = [a.server, b.server];
    api = a.url;
    admin = b.url;
  });
  afterEach(async () => {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    await helper.unload();
  });

  const call = (method: string, url: string, body?: unknown, key: string | null = KEY) =>
    fetch(url, { method, headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) }, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
  const send = (temperature: number, ts: number, device = 'dev1') => (helper.getNode('alert') as unknown as { receive(m: unknown): void }).receive({ payload: { device, ts, fields: { temperature }, tags: {} } });

  test('rules through the API: key required, bad rules get 400 naming the JSON pointer, changes apply without a deploy, alerts flow out', async () => {
    assert.equal((await call('GET', `${api}/api/v1/rules`, undefined, null)).status, 401);
    const bad = await call('POST', `${api}/api/v1/rules`, { ...HOT, when: { ...HOT.when, value: 'thirty' } });
    assert.equal(bad.status, 400);
    const e = ((await bad.json()) as { error: { code: string; pointer: string; message: string } }).error;
    assert.deepEqual([e.code, e.pointer], ['RULE_INVALID', '/when/value']);
    assert.equal((await call('POST', `${api}/api/v1/rules`, '{"id":')).status, 400);
    const created = await call('POST', `${api}/api/v1/rules`, HOT);
    assert.equal(created.status, 201);
    assert.equal((await call('POST', `${api}/api/v1/rules`, HOT)).status, 409);
    assert.deepEqual(((await (await call('GET', `${api}/api/v1/rules/hot`)).json()) as typeof HOT).when, HOT.when);

    // Readings from half a minute ago (their own timestamps decide), so what people do next comes after them.
    const t0 = Date.now() - 30_000;
    for (let i = 0; i <= 8; i++) send(31, t0 + i * 1000);
    await eventually(() => (all.length >= 2 ? true : undefined));
    assert.deepEqual(all.map((x) => x.event), ['pending', 'firing']);
    assert.deepEqual(tell.map((x) => x.event), ['firing']);
    assert.equal(all[1].ts, t0 + 5000);
    const list = (await (await call('GET', `${api}/api/v1/alerts?state=firing`)).json()) as { alerts: AlertRecord[] };
    assert.deepEqual(list.alerts.map((a) => a.id), ['hot:dev1']);
    assert.equal((await call('GET', `${api}/api/v1/alerts?state=loud`)).status, 400);

    const ack = await call('POST', `${api}/api/v1/alerts/hot:dev1/ack`, { by: 'ann', note: 'on my way' });
    assert.equal(ack.status, 200);
    assert.equal(((await ack.json()) as { alert: AlertRecord }).alert.state, 'acknowledged');
    assert.equal((await call('POST', `${api}/api/v1/alerts/hot:dev1/ack`, { by: 'bob' })).status, 409);
    assert.equal((await call('POST', `${api}/api/v1/alerts/nope:dev1/ack`, { by: 'bob' })).status, 404);
    assert.equal((await call('POST', `${api}/api/v1/alerts/hot:dev1/ack`, {})).status, 400);
    await eventually(() => (tell.some((x) => x.event === 'acknowledged') ? true : undefined));

    // A new message only: the alert keeps running.
    assert.equal((await call('PUT', `${api}/api/v1/rules/hot`, { ...HOT, message: 'hot: {value}' })).status, 200);
    assert.equal(((await (await call('GET', `${api}/api/v1/alerts/hot:dev1`)).json()) as AlertRecord).state, 'acknowledged');
    send(27, Date.now());
    await eventually(() => (tell.some((x) => x.event === 'cleared') ? true : undefined));
    assert.equal(tell.at(-1)?.message, 'hot: 27');

    // Every transition is a store row: field alert.hot holds the state.
    const store = (helper.getNode('cfg') as unknown as StoreConfigNode).store;
    const rows = await eventually(async () => {
      const page = await store.readings({ device: 'dev1', fields: ['alert.hot'], limit: 100 });
      return page.readings.length >= 4 ? page.readings : undefined;
    });
    assert.deepEqual(rows.map((r) => r.fields['alert.hot']), ['pending', 'firing', 'acknowledged', 'cleared']);
    assert.equal(rows[2].tags.by, 'ann');
    // Reports count it among "alerts raised", from those rows, while the node is deployed.
    const raised = await summarizeEvents('alerts', true, undefined, { devices: ['dev1'], fields: [], from: 0, to: Date.now() + 60_000, limit: 10 });
    assert.equal(raised.available, true, raised.note);
    assert.equal(raised.total, 1);
    assert.equal(raised.items[0].device, 'dev1');

    const audit = readFileSync(join(dataDir, 'audit.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { action: string });
    assert.deepEqual(audit.slice(-3).map((a) => a.action), ['rule.create', 'alert.ack', 'rule.update']);
    assert.equal((await call('DELETE', `${api}/api/v1/rules/hot`)).status, 204);
    assert.equal((await call('GET', `${api}/api/v1/rules/hot`)).status, 404);
  });

  test('POST /api/v1/rules/import refuses a pack with two rules of one name: 409 naming it, no rule imported', async () => {
    const before = ((await (await call('GET', `${api}/api/v1/rules`)).json()) as { rules: unknown[] }).rules;
    const r = await call('POST', `${api}/api/v1/rules/import?mode=merge`, { rules: [{ ...HOT, id: 'twin1', name: 'Twin' }, { ...HOT, id: 'twin2', name: 'twin' }] });
    assert.equal(r.status, 409);
    const e = ((await r.json()) as { error: { code: string; pointer: string; message: string } }).error;
    assert.deepEqual([e.code, e.pointer], ['CONFLICT', '/rules/1/name']);
    assert.match(e.message, /two rules of the pack are named "twin"/);
    assert.deepEqual(((await (await call('GET', `${api}/api/v1/rules`)).json()) as { rules: unknown[] }).rules, before);
  });

  test('rule names over the API: a blank name is refused with 400 naming /name; composed and decomposed accents are one name in create, update and import', async () => {
    const before = ((await (await call('GET', `${api}/api/v1/rules`)).json()) as { rules: unknown[] }).rules;
    const blank = await call('POST', `${api}/api/v1/rules`, { ...HOT, id: 'blank', name: '   ' });
    assert.equal(blank.status, 400);
    const e = ((await blank.json()) as { error: { code: string; pointer: string; message: string } }).error;
    assert.deepEqual([e.code, e.pointer], ['RULE_INVALID', '/name']);
    assert.match(e.message, /^\/name must not be blank/);
    const blankPack = await call('POST', `${api}/api/v1/rules/import?mode=merge`, { rules: [{ ...HOT, id: 'blank', name: ' ' }] });
    assert.equal(blankPack.status, 400);
    assert.equal(((await blankPack.json()) as { error: { pointer: string } }).error.pointer, '/rules/0/name');

    const composed = 'Temp\u00e9rature';
    const decomposed = 'Tempe\u0301rature';
    assert.equal((await call('POST', `${api}/api/v1/rules`, { ...HOT, id: 'temp1', name: composed })).status, 201);
    assert.equal((await call('POST', `${api}/api/v1/rules`, { ...HOT, id: 'temp2', name: ` ${decomposed.toUpperCase()}` })).status, 409);
    assert.equal((await call('POST', `${api}/api/v1/rules`, { ...HOT, id: 'temp2', name: 'Humidity' })).status, 201);
    assert.equal((await call('PUT', `${api}/api/v1/rules/temp2`, { ...HOT, id: 'temp2', name: decomposed })).status, 409);
    assert.equal((await call('POST', `${api}/api/v1/rules/import?mode=merge`, { rules: [{ ...HOT, id: 'temp3', name: decomposed }] })).status, 409);
    const twins = await call('POST', `${api}/api/v1/rules/import?mode=replace`, { rules: [{ ...HOT, id: 'a', name: composed }, { ...HOT, id: 'b', name: decomposed }] });
    assert.equal(twins.status, 409);
    assert.equal(((await twins.json()) as { error: { pointer: string } }).error.pointer, '/rules/1/name');
    await call('DELETE', `${api}/api/v1/rules/temp1`);
    await call('DELETE', `${api}/api/v1/rules/temp2`);
    assert.deepEqual(((await (await call('GET', `${api}/api/v1/rules`)).json()) as { rules: unknown[] }).rules, before);
  });

  test('PUT on a rule deleted since it was opened (If-Match): 404 saying who deleted it and when, and how to keep the change', async () => {
    assert.equal((await call('POST', `${api}/api/v1/rules`, { ...HOT, id: 'gone', name: 'Gone soon' })).status, 201);
    const opened = ((await (await call('GET', `${api}/api/v1/rules`)).json()) as { revisions: Record<string, string> }).revisions.gone;
    assert.equal((await call('DELETE', `${api}/api/v1/rules/gone`)).status, 204);
    const res = await fetch(`${api}/api/v1/rules/gone`, { method: 'PUT', headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}`, 'if-match': `"${opened}"` }, body: JSON.stringify({ ...HOT, id: 'gone', name: 'Gone soon', severity: 'critical' }) });
    assert.equal(res.status, 404);
    const e = ((await res.json()) as { error: { code: string; message: string; rule: string; deleted: { by: string; via: string; at: string } } }).error;
    assert.equal(e.code, 'NOT_FOUND');
    assert.match(e.message, /^the rule "Gone soon" \(gone\) was deleted by api \(api\) at .* UTC after you opened it: your change was not saved; to keep it, save it as a new rule$/);
    assert.deepEqual([e.rule, e.deleted.by, e.deleted.via], ['gone', 'api', 'api']);
    assert.ok(Date.parse(e.deleted.at) <= Date.now());
    assert.equal((await call('GET', `${api}/api/v1/rules/gone`)).status, 404, 'the save made nothing');
  });

  test('a number JSON cannot keep (1e309 reads as infinity, saved as null) is refused in create, update and import with 400 naming the field; nothing is kept', async () => {
    const before = ((await (await call('GET', `${api}/api/v1/rules`)).json()) as { rules: unknown[] }).rules;
    const refused = async (method: string, path: string, body: string, pointer: string) => {
      const r = await call(method, `${api}${path}`, body);
      assert.equal(r.status, 400, `${method} ${path}`);
      const e = ((await r.json()) as { error: { code: string; pointer: string; message: string } }).error;
      assert.deepEqual([e.code, e.pointer], ['RULE_INVALID', pointer]);
      assert.equal(e.message, `${pointer} is too large a number to keep: numbers must stay within ±1.7e308 (a larger one, such as 1e309, reads as infinity and would be saved as null)`);
    };
    const text = JSON.stringify({ ...HOT, id: 'huge', name: 'Huge' });
    await refused('POST', '/api/v1/rules', text.replace('"value":30', '"value":1e309'), '/when/value');
    assert.equal((await call('POST', `${api}/api/v1/rules`, text)).status, 201);
    await refused('PUT', '/api/v1/rules/huge', text.replace('"value":28', '"value":-1e309'), '/clear/value');
    const band = JSON.stringify({ ...HOT, id: 'band', name: 'Band', when: { any: [{ field: 'temperature', op: 'outside', low: 0, high: 40 }] }, clear: undefined, message: undefined, flap: { changes: 5, within: '10m' } });
    await refused('POST', '/api/v1/rules/import?mode=replace', `{"rules":[${text},${band.replace('"high":40', '"high":4e400')}]}`, '/rules/1/when/any/0/high');
    await refused('POST', '/api/v1/rules/import?mode=merge', `[${band.replace('"changes":5', '"changes":1e999')}]`, '/0/flap/changes');
    // The rule kept is the one created, with its values; rules.json has no null where a number was.
    assert.deepEqual(((await (await call('GET', `${api}/api/v1/rules/huge`)).json()) as typeof HOT).when, HOT.when);
    assert.doesNotMatch(readFileSync(join(dataDir, 'alerts', 'rules.json'), 'utf8'), /null/);
    await call('DELETE', `${api}/api/v1/rules/huge`);
    assert.deepEqual(((await (await call('GET', `${api}/api/v1/rules`)).json()) as { rules: unknown[] }).rules, before);
  });

  test('a redeploy keeps a firing alert and a pending duration', async () => {
    tell.length = 0;
    all.length = 0;
    assert.equal((await call('POST', `${api}/api/v1/rules`, { ...HOT, id: 'hot2', name: 'hot, for an hour', when: { ...HOT.when, for: '1h' } })).status, 201);
    assert.equal((await call('POST', `${api}/api/v1/rules`, { ...HOT, id: 'now', name: 'hot, at once', when: { ...HOT.when, for: '0s' } })).status, 201);
    const t0 = Date.now();
    send(35, t0, 'dev9');
    await eventually(() => (all.length >= 2 ? true : undefined));
    await helper.unload();
    await deploy();
    const list = (await (await call('GET', `${api}/api/v1/alerts?device=dev9`)).json()) as { alerts: AlertRecord[] };
    assert.deepEqual(list.alerts.map((a) => `${a.rule}:${a.state}`).sort(), ['hot2:pending', 'now:firing']);
    await call('DELETE', `${api}/api/v1/rules/hot2`);
    await call('DELETE', `${api}/api/v1/rules/now`);
  });

  test('the editor\'s preview replays stored history; the admin routes speak JSON errors with pointers', async () => {
    const store = (helper.getNode('cfg') as unknown as StoreConfigNode).store;
    const now = Date.now();
    // Two hot spells of 3 minutes in the last hours, one reading a minute.
    const readings = Array.from({ length: 120 }, (_, i) => ({ device: 'oven', ts: now - (120 - i) * 60_000, fields: { temperature: (i >= 20 && i < 23) || (i >= 80 && i < 83) ? 35 : 20 }, tags: {} }));
    await store.write(readings);
    const rule = { ...HOT, id: 'oven', when: { field: 'temperature', op: 'above', value: 30, for: '1m' } };
    const res = await call('POST', `${admin}/upperstack-alert/preview`, { rule, devices: ['oven'] }, null);
    assert.equal(res.status, 200);
    const p = (await res.json()) as { fired: number; firings: Array<{ ts: number }>; scanned: number };
    assert.equal(p.scanned, 120);
    assert.equal(p.fired, 2);
    assert.deepEqual(p.firings.map((f) => f.ts), [readings[21].ts, readings[81].ts]);
    const bad = await call('POST', `${admin}/upperstack-alert/preview`, { rule: { ...rule, severity: 'loud' } }, null);
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { error: { pointer: string } }).error.pointer, '/rule/severity');
    // The editor's routes keep the rules' answer for a number JSON cannot keep, where the form places it.
    const huge = await call('POST', `${admin}/upperstack-alert/preview`, JSON.stringify({ rule, devices: ['oven'] }).replace('"value":30', '"value":1e309'), null);
    assert.equal(huge.status, 400);
    assert.deepEqual(((await huge.json()) as { error: { code: string; pointer: string } }).error, { code: 'RULE_INVALID', pointer: '/rule/when/value', message: '/rule/when/value is too large a number to keep: numbers must stay within ±1.7e308 (a larger one, such as 1e309, reads as infinity and would be saved as null)' });
    const me = (await (await call('GET', `${admin}/upperstack-alert/me`, undefined, null)).json()) as { can: { write: boolean } };
    assert.equal(me.can.write, true, 'no adminAuth in this runtime: everything is allowed');
  });

  test('the preview of a rule on a field its devices never sent says so, naming the fields they did send', async () => {
    const store = (helper.getNode('cfg') as unknown as StoreConfigNode).store;
    const now = Date.now();
    await store.write(Array.from({ length: 10 }, (_, i) => ({ device: 'kiln', ts: now - (10 - i) * 60_000, fields: { 'temp.outside': 20 + i, power: 5 }, tags: {} })));
    const preview = async (field: string) => {
      const rule = { id: 'kiln', name: 'Kiln too hot', severity: 'warning', devices: { list: ['kiln'] }, when: { field, op: 'above', value: 25, for: '0s' } };
      const res = await call('POST', `${admin}/upperstack-alert/preview`, { rule }, null);
      assert.equal(res.status, 200);
      return (await res.json()) as { fired: number; notes: string[] };
    };
    // "Temperature.outside" as a person might type it: the rule would stay silent for good, and the preview says why.
    const typo = await preview('Temperature.outside');
    assert.equal(typo.fired, 0);
    assert.deepEqual(typo.notes, ['no reading of "Temperature.outside" from the device kiln in this range: check the field\'s name; it sent power, temp.outside']);
    const right = await preview('temp.outside');
    assert.equal(right.fired, 1);
    assert.deepEqual(right.notes, []);
  });
});
