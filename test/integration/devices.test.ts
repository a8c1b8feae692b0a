/**
 * Device identities on the real runtime (the default pack), with the clients
 * people use: the `upperstack devices` CLI to register, curl for HTTP,
 * coap-client-notls for CoAP. Device A cannot write as B, cannot use B's id
 * without B's secret (on loopback either), a disabled device and a rotated
 * secret are refused everywhere, registry tags land on the readings, the
 * registry survives a restart, and the audit log has each of these.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { eventually, startRuntime, type Runtime } from '../helpers/runtime';
import { auditEntries } from '../helpers/device-runtime';
import { tempDir } from '../helpers/temp';

const run = promisify(execFile);
const ROOT = join(__dirname, '..', '..', '..');
const CLI = join(ROOT, 'dist', 'scripts', 'cli.js');
let rt: Runtime;
const dataDir = tempDir('us-devices-');
const secrets: Record<string, string> = {};
/** What `devices add` printed, by device. */
const printed: Record<string, string> = {};

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, 'devices', ...args, '--url', rt.url, '--key', rt.apiKey]);
    return { code: 0, out: stdout, err: stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, out: x.stdout, err: x.stderr };
  }
}

function secretOf(out: string): string {
  const m = /^secret:\s+(\S+)$/m.exec(out);
  assert.ok(m, out);
  return m[1];
}

async function curl(path: string, body: string, headers: string[] = [], method = 'POST'): Promise<{ status: number; body: string }> {
  const args = ['-s', '-S', '-w', '\n%{http_code}', '-X', method, '-H', 'Content-Type: application/json', ...headers.flatMap((h) => ['-H', h]), '--data-binary', body, `${rt.url}${path}`];
  const { stdout } = await run('curl', args);
  const cut = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut) };
}

const basic = (id: string, secret: string) => `Authorization: Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
const bearer = (secret: string) => `Authorization: Bearer ${secret}`;

/** coap-client-notls POST; the answer code (from the client's output) and text. */
async function coap(path: string, payload: string, contentFormat = '50'): Promise<string> {
  try {
    const { stdout, stderr } = await run('coap-client-notls', ['-m', 'post', '-t', contentFormat, '-e', payload, `coap://127.0.0.1:${rt.coapPort}${path}`], { timeout: 20_000 });
    return `${stdout}${stderr}`;
  } catch (e) {
    const x = e as { stdout: string; stderr: string };
    return `${x.stdout}${x.stderr}`;
  }
}

async function coapGet(path: string): Promise<string> {
  try {
    const { stdout, stderr } = await run('coap-client-notls', ['-m', 'get', '-t', '50', `coap://127.0.0.1:${rt.coapPort}${path}`], { timeout: 20_000 });
    return `${stdout}${stderr}`;
  } catch (e) {
    const x = e as { stdout: string; stderr: string };
    return `${x.stdout}${x.stderr}`;
  }
}

async function readings(device: string): Promise<Array<{ fields: Record<string, unknown>; tags: Record<string, string> }>> {
  const res = await rt.get(`/api/v1/readings?device=${device}&limit=1000`);
  assert.equal(res.status, 200);
  return ((await res.json()) as { readings: Array<{ fields: Record<string, unknown>; tags: Record<string, string> }> }).readings;
}

const audit = () => auditEntries(dataDir);

before(async () => {
  rt = await startRuntime({ dataDir });
  for (const id of ['devA', 'devB']) {
    const r = await cli('add', id, '--tag', `customer=${id === 'devA' ? 'acme' : 'globex'}`);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /not shown again/);
    secrets[id] = secretOf(r.out);
    printed[id] = r.out;
  }
});

after(async () => {
  await rt?.stop();
});

test('the CLI lists what it added, without secrets', async () => {
  const list = await cli('list');
  assert.equal(list.code, 0, list.err);
  assert.match(list.out, /^devA\s+yes\s+no\s+customer=acme/m);
  assert.match(list.out, /^devB\s+yes\s+no\s+customer=globex/m);
  assert.equal(list.out.includes(secrets.devA), false);
  const dup = await cli('add', 'devA');
  assert.equal(dup.code, 2);
  assert.match(dup.err, /409 CONFLICT/);
});

test('the README shows what `devices add` prints, line for line (the secret elided)', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const block = /^npx upperstack devices add plug1 [^\n]*\n((?:# [^\n]*\n)+)/m.exec(readme);
  assert.ok(block, 'README has the output of `devices add plug1`');
  const secretless = (line: string) => line.replace(/^(secret: +)\S+$/, '$1<secret>');
  const shown = block[1].trimEnd().split('\n').map((l) => secretless(l.slice(2).replace('plug1', 'devA')));
  assert.deepEqual(shown, printed.devA.trimEnd().split('\n').map(secretless));
});

test('HTTP: A writes as A; not as B, nor with its secret under B\'s id; nobody uses B\'s id anonymously', async () => {
  const ok = await curl('/ingest/devA', '{"t":1}', [bearer(secrets.devA)]);
  assert.equal(ok.status, 202, ok.body);
  assert.equal((await curl('/ingest/devA', '{"t":2}', [basic('devA', secrets.devA)])).status, 202);
  const asB = await curl('/ingest/devB', '{"t":3}', [basic('devA', secrets.devA)]);
  assert.equal(asB.status, 403);
  assert.equal((JSON.parse(asB.body) as { error: { code: string } }).error.code, 'DEVICE_MISMATCH');
  assert.equal((await curl('/ingest/devB', '{"t":4}', [bearer(secrets.devA)])).status, 401);
  const anon = await curl('/ingest/devB', '{"t":5}');
  assert.equal(anon.status, 401, 'a registered id is not anonymous, on loopback either');
  assert.match(anon.body, /registered/);
  // Line protocol naming B, sent by A.
  const lp = await run('curl', ['-s', '-w', '\n%{http_code}', '-u', `devA:${secrets.devA}`, '--data-binary', 'm,device=devB t=6', `${rt.url}/write?db=x`]);
  assert.match(lp.stdout, /403$/);
  // A device nobody registered still works on loopback, as before.
  assert.equal((await curl('/ingest/free1', '{"t":7}')).status, 202);
  const a = await eventually(async () => {
    const r = await readings('devA');
    return r.length >= 2 ? r : undefined;
  });
  assert.deepEqual(a.map((r) => r.fields.t), [1, 2]);
  assert.equal(a[0].tags.customer, 'acme', 'registry tags are copied onto the readings');
  assert.deepEqual(await readings('devB'), []);
  // CroMFlaG2 /fetch: a device reads back its own data only.
  const fetchB = await run('curl', ['-s', '-w', '\n%{http_code}', '-u', `devA:${secrets.devA}`, `${rt.url}/fetch/devB`]);
  assert.match(fetchB.stdout, /403$/);
  const fetchA = await run('curl', ['-s', '-w', '\n%{http_code}', '-u', `devA:${secrets.devA}`, `${rt.url}/fetch/devA`]);
  assert.match(fetchA.stdout, /200$/);
});

test('MQTT: a payload naming a registered device under another topic is dead-lettered, not stored as it', async () => {
  const pub = (topic: string, body: string, login: string[] = []) => run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(rt.mqttPort), '-q', '1', ...login, '-t', topic, '-m', body]);
  // Anonymous on loopback, under a free id, naming B.
  await pub('devices/free2/telemetry', '{"device":"devB","t":8}');
  // A logged in as itself, line protocol naming B.
  await pub('devices/devA/telemetry', 'm,device=devB t=9', ['-u', 'devA', '-P', secrets.devA]);
  // A gateway naming a device nobody registered: stored under that name, as the message contract says.
  await pub('devices/free2/telemetry', '{"device":"behind-gw","t":10}');
  await eventually(async () => ((await readings('behind-gw')).length === 1 ? true : undefined));
  const letters = await eventually(async () => {
    const res = await rt.get('/api/v1/deadletters?code=DEVICE_MISMATCH');
    const list = ((await res.json()) as { deadLetters: Array<{ device: string; reason: string }> }).deadLetters;
    return list.length >= 2 ? list : undefined;
  });
  assert.deepEqual(letters.map((l) => l.device).sort(), ['devA', 'free2']);
  for (const l of letters) assert.match(l.reason, /names device "devB" but the topic names/);
  assert.equal((await readings('devB')).filter((r) => r.fields.t === 8 || r.fields.t === 9).length, 0);
});

test('MQTT: a SenML base name names the device as a device member does, with the registered-device rule', async () => {
  const pub = (topic: string, body: string, v5: string[] = []) => run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(rt.mqttPort), '-q', '1', ...v5, '-t', topic, '-m', body]);
  // A gateway publishing for two devices behind it, as SenML told apart by its bytes and by its MQTT 5 content type.
  await pub('devices/gw1/telemetry', '[{"bn":"senA:","n":"t","v":1},{"bn":"senB:","n":"t","v":2}]');
  await pub('devices/gw1/telemetry', '[{"bn":"urn:dev:ow:senC:","n":"t","v":3}]', ['-V', 'mqttv5', '-D', 'publish', 'content-type', 'application/senml+json']);
  // Naming a registered device under another device's topic.
  await pub('devices/free3/telemetry', '[{"bn":"devB:","n":"t","v":40}]');
  for (const [device, t] of [['senA', 1], ['senB', 2], ['urn:dev:ow:senC', 3]] as const) {
    const r = await eventually(async () => {
      const list = await readings(encodeURIComponent(device));
      return list.length ? list : undefined;
    });
    assert.deepEqual(r.map((x) => x.fields), [{ t }]);
  }
  assert.deepEqual(await readings('gw1'), []);
  const letter = await eventually(async () => {
    const res = await rt.get('/api/v1/deadletters?code=DEVICE_MISMATCH&device=free3');
    return ((await res.json()) as { deadLetters: Array<{ device: string; reason: string }> }).deadLetters[0];
  });
  assert.match(letter.reason, /names device "devB" but the topic names "free3"/);
  assert.equal((await readings('devB')).filter((r) => r.fields.t === 40).length, 0);
});

test('a registry tag named "__proto__" is refused with 400 naming it, not dropped', async () => {
  const made = await curl('/api/v1/devices', '{"id":"protoTag","tags":{"__proto__":"acme","site":"n"}}', [bearer(rt.apiKey)]);
  assert.equal(made.status, 400, made.body);
  assert.match(made.body, /tag name \\"__proto__\\" cannot name a tag/);
  assert.equal((await cli('list')).out.includes('protoTag'), false);
  // The CLI sends the tag as typed: the same refusal reaches the user, and no device is made without it.
  const added = await cli('add', 'protoCli', '--tag', '__proto__=a');
  assert.equal(added.code, 2, added.out);
  assert.match(added.err, /400 .*"__proto__" cannot name a tag/);
  assert.equal((await cli('list')).out.includes('protoCli'), false);
  // And in a reading, on every input: refused naming it, where /ingest answered 202 before.
  const ingest = await curl('/ingest/free4', '{"__proto__":5,"a":1}');
  assert.equal(ingest.status, 422, ingest.body);
  assert.match(ingest.body, /__proto__: \\"__proto__\\" cannot name a field/);
});

test('a number JSON cannot keep (1e309) in a device body is refused with 400 naming it, not kept as the tag "Infinity"', async () => {
  const problem = 'is too large a number to keep: numbers must stay within ±1.7e308 (a larger one, such as 1e309, reads as infinity and would be saved as null)';
  const refused = async (method: string, path: string, body: string, parameter: string, pointer: string) => {
    const r = await curl(path, body, [bearer(rt.apiKey)], method);
    assert.equal(r.status, 400, `${method} ${path}: ${r.body}`);
    assert.deepEqual(JSON.parse(r.body), { error: { code: 'BAD_PARAMETER', parameter, pointer, message: `${pointer} ${problem}` } });
  };
  await refused('POST', '/api/v1/devices', '{"id":"hugeTag","tags":{"site":"n","rack":1e309}}', 'tags', '/tags/rack');
  await refused('PATCH', '/api/v1/devices/devA', '{"tags":{"customer":"acme","rack":-1e309}}', 'tags', '/tags/rack');
  await refused('PATCH', '/api/v1/devices/devA', '{"meta":{"watts":2e308}}', 'meta', '/meta/watts');
  assert.equal((await cli('list')).out.includes('hugeTag'), false);
  const a = (await (await rt.get('/api/v1/devices/devA')).json()) as { tags: Record<string, string> };
  assert.deepEqual(a.tags, { customer: 'acme' });
  // The CLI sends a tag as the text typed, which is kept as typed.
  const added = await cli('add', 'hugeCli', '--tag', 'rack=1e309', '--json');
  assert.equal(added.code, 0, added.err);
  assert.deepEqual((JSON.parse(added.out) as { device: { tags: Record<string, string> } }).device.tags, { rack: '1e309' });
  assert.equal((await cli('remove', 'hugeCli')).code, 0);
});

test('CoAP: ?k=<secret> of the path\'s device; B\'s id needs B\'s secret', async () => {
  assert.match(await coap(`/telemetry/devA?k=${secrets.devA}`, '{"c":1}'), /"accepted":1/);
  assert.match(await coap('/telemetry/devB', '{"c":2}'), /4\.01/);
  assert.match(await coap(`/telemetry/devB?k=${secrets.devA}`, '{"c":3}'), /4\.01/);
  assert.match(await coap(`/telemetry/devB?u=devA&p=${secrets.devA}`, '{"c":4}'), /4\.03/);
  await eventually(async () => ((await readings('devA')).some((r) => r.fields.c === 1) ? true : undefined));
  assert.deepEqual(await readings('devB'), []);
  // Reading B's commands: A's secret under B's id, A logged in, or nobody: refused; A's own: allowed.
  assert.match(await coapGet(`/commands/devB?k=${secrets.devA}`), /4\.01/);
  assert.match(await coapGet(`/commands/devB?u=devA&p=${secrets.devA}`), /4\.03/);
  assert.match(await coapGet('/commands/devB'), /4\.01/);
  assert.match(await coapGet(`/commands/devA?k=${secrets.devA}`), /4\.04.*no command/);
});

test('a body naming another device than the one that sends it (403 / 4.03 DEVICE_MISMATCH) is in the audit log: who, the device claimed, the input, the address', async () => {
  // A body may name a device nobody registered (a gateway's); devC is registered, so only it may send its readings.
  assert.equal((await cli('add', 'devC')).code, 0);
  const since = new Date().toISOString();
  const asB = await curl('/ingest/devA', '{"device":"devC","t":30}', [bearer(secrets.devA)]);
  assert.equal(asB.status, 403, asB.body);
  assert.equal((JSON.parse(asB.body) as { error: { code: string } }).error.code, 'DEVICE_MISMATCH');
  // Devices not claimed before in this file: a refusal like an earlier one (same actor, input, target and
  // reason) within 10 s is folded into the next entry, not written at once.
  const insert = await curl('/insert/devA', JSON.stringify({ deviceinfo: { deviceid: 'devD' }, tsdata: [] }), [bearer(secrets.devA)]);
  assert.equal(insert.status, 403, insert.body);
  assert.match(await coap(`/telemetry/devA?k=${secrets.devA}`, '{"device":"devC","c":31}'), /4\.03/);
  // Anonymous under a free id on loopback: the path's device is in the note.
  assert.equal((await curl('/ingest/free3', '{"device":"devB","t":32}')).status, 403);
  const res = await rt.get(`/api/v1/audit?from=${since}&action=acl.denied&limit=100`);
  assert.equal(res.status, 200);
  const entries = ((await res.json()) as { entries: Array<Record<string, unknown>> }).entries.filter((e) => e.reason === 'DEVICE_MISMATCH');
  const seen = entries.map((e) => [e.actor, e.via, e.target, e.remote, e.outcome, e.note].join(' ')).sort();
  assert.deepEqual(seen, [
    'anonymous http devB 127.0.0.1 denied the body sent for device "free3" names device "devB"',
    'device:devA coap devC 127.0.0.1 denied the body sent for device "devA" names device "devC"',
    'device:devA http devC 127.0.0.1 denied the body sent for device "devA" names device "devC"',
    'device:devA http devD 127.0.0.1 denied the body sent for device "devA" names device "devD"',
  ]);
});

test('HTTP and CoAP: a gateway\'s SenML pack of three devices nobody registered is stored under each, from an unregistered or a registered gateway', async () => {
  const pack = (...recs: Array<[string, number]>) => JSON.stringify(recs.map(([bn, v]) => ({ bn: `${bn}:`, n: 't', v })));
  // Anonymous under a free id on loopback (the path's device not registered either), and devA logged in with its own secret.
  const http = await curl('/ingest/gw2', pack(['senD', 4], ['senE', 5], ['senF', 6]), ['Content-Type: application/senml+json']);
  assert.equal(http.status, 202, http.body);
  assert.equal((JSON.parse(http.body) as { accepted: number }).accepted, 3);
  const asA = await curl('/ingest/devA', pack(['senG', 7], ['senH', 8], ['senI', 9]), [bearer(secrets.devA)]);
  assert.equal(asA.status, 202, asA.body);
  assert.match(await coap('/telemetry/gw3', pack(['senJ', 10], ['senK', 11], ['senL', 12]), '110'), /"accepted":3/);
  assert.match(await coap(`/telemetry/devA?k=${secrets.devA}`, pack(['senM', 13], ['senN', 14], ['senO', 15]), '110'), /"accepted":3/);
  const stored = [['senD', 4], ['senE', 5], ['senF', 6], ['senG', 7], ['senH', 8], ['senI', 9], ['senJ', 10], ['senK', 11], ['senL', 12], ['senM', 13], ['senN', 14], ['senO', 15]] as const;
  for (const [device, t] of stored) {
    const r = await eventually(async () => {
      const list = await readings(device);
      return list.length ? list : undefined;
    });
    assert.deepEqual(r.map((x) => x.fields), [{ t }], device);
  }
  // None under the gateways' own ids.
  assert.deepEqual([await readings('gw2'), await readings('gw3')], [[], []]);
  assert.equal((await readings('devA')).filter((x) => Number(x.fields.t) >= 4 && Number(x.fields.t) <= 15).length, 0);
});

test('HTTP and CoAP: a gateway\'s pack naming a registered device the sender may not write for is refused whole (403 / 4.03 DEVICE_MISMATCH), nothing stored, audited', async () => {
  const pack = (...recs: Array<[string, number]>) => JSON.stringify(recs.map(([bn, v]) => ({ bn: `${bn}:`, n: 't', v })));
  // A device no test here has claimed yet: a refusal like an earlier one within 10 s is folded into a later audit entry.
  assert.equal((await cli('add', 'devE')).code, 0);
  const since = new Date().toISOString();
  const refused = await curl('/ingest/gw4', pack(['senP', 50], ['senQ', 51], ['devE', 52]), ['Content-Type: application/senml+json']);
  assert.equal(refused.status, 403, refused.body);
  const err = (JSON.parse(refused.body) as { error: { code: string; message: string } }).error;
  assert.equal(err.code, 'DEVICE_MISMATCH');
  assert.match(err.message, /names device "devE" but the path names "gw4"; "devE" is a registered device/);
  // A registered gateway may not write for another registered device either; libcoap prints the diagnostic.
  const coapRefused = await coap(`/telemetry/devA?k=${secrets.devA}`, pack(['senR', 53], ['devE', 54], ['senS', 55]), '110');
  assert.match(coapRefused, /4\.03/);
  assert.match(coapRefused, /DEVICE_MISMATCH: the body names device "devE" but the path names "devA"/);
  // Sent after the refused packs on the same inputs: once these are stored, so would the refused ones have been.
  assert.equal((await curl('/ingest/gw4', pack(['senT', 56]))).status, 202);
  assert.match(await coap('/telemetry/gw4', pack(['senU', 57]), '110'), /"accepted":1/);
  for (const device of ['senT', 'senU']) await eventually(async () => ((await readings(device)).length ? true : undefined));
  for (const device of ['senP', 'senQ', 'senR', 'senS', 'gw4']) assert.deepEqual(await readings(device), [], device);
  assert.equal((await readings('devE')).filter((x) => Number(x.fields.t) >= 50).length, 0);
  const res = await rt.get(`/api/v1/audit?from=${since}&action=acl.denied&limit=100`);
  const entries = ((await res.json()) as { entries: Array<Record<string, unknown>> }).entries.filter((e) => e.reason === 'DEVICE_MISMATCH');
  assert.deepEqual(entries.map((e) => [e.actor, e.via, e.target, e.note].join(' ')).sort(), [
    'anonymous http devE the body sent for device "gw4" names device "devE"',
    'device:devA coap devE the body sent for device "devA" names device "devE"',
  ]);
});

test('a disabled device is refused everywhere until enabled; a rotated secret at once', async () => {
  assert.equal((await cli('disable', 'devA')).code, 0);
  const off = await curl('/ingest/devA', '{"t":10}', [bearer(secrets.devA)]);
  assert.equal(off.status, 403);
  assert.match(off.body, /DEVICE_DISABLED/);
  assert.match(await coap(`/telemetry/devA?k=${secrets.devA}`, '{"c":10}'), /4\.03/);
  assert.equal((await cli('enable', 'devA')).code, 0);
  assert.equal((await curl('/ingest/devA', '{"t":11}', [bearer(secrets.devA)])).status, 202);

  const rotated = await cli('rotate', 'devB');
  assert.equal(rotated.code, 0, rotated.err);
  const old = secrets.devB;
  secrets.devB = secretOf(rotated.out);
  assert.equal((await curl('/ingest/devB', '{"t":12}', [bearer(old)])).status, 401);
  assert.match(await coap(`/telemetry/devB?k=${old}`, '{"c":12}'), /4\.01/);
  assert.equal((await curl('/ingest/devB', '{"t":13}', [bearer(secrets.devB)])).status, 202);
  assert.match(await coap(`/telemetry/devB?k=${secrets.devB}`, '{"c":13}'), /"accepted":1/);
});

test('GET /api/v1/devices/{id}: the registry entry with what the device reported about itself', async () => {
  const insert = await curl('/insert/devA', JSON.stringify({ deviceinfo: { deviceid: 'devA', fw_ver: '1.4.2', batt_lvl: 88 }, tsdata: [] }), [bearer(secrets.devA)]);
  assert.equal(insert.status, 202, insert.body);
  const info = await eventually(async () => {
    const body = (await (await rt.get('/api/v1/devices/devA')).json()) as { registered: boolean; tags: Record<string, string>; deviceinfo: Record<string, unknown> };
    return body.deviceinfo.fw_ver ? body : undefined;
  });
  assert.equal(info.registered, true);
  assert.deepEqual(info.tags, { customer: 'acme' });
  assert.deepEqual(info.deviceinfo, { deviceid: 'devA', fw_ver: '1.4.2', batt_lvl: 88 });
  const unknown = (await (await rt.get('/api/v1/devices/free1')).json()) as { registered: boolean };
  assert.equal(unknown.registered, false);
  assert.equal((await fetch(`${rt.url}/api/v1/devices`)).status, 401, 'the admin API needs the key');
});

test('the audit log has the registry changes, failed logins and refused writes, with who and where from', () => {
  const entries = audit();
  const has = (pred: (e: Record<string, unknown>) => boolean, what: string) => assert.ok(entries.some(pred), `${what}:\n${entries.map((e) => JSON.stringify(e)).join('\n')}`);
  has((e) => e.action === 'device.add' && e.target === 'devA' && e.actor === 'admin' && e.via === 'api', 'device.add');
  has((e) => e.action === 'device.disable' && e.target === 'devA', 'device.disable');
  has((e) => e.action === 'device.enable' && e.target === 'devA', 'device.enable');
  has((e) => e.action === 'device.rotate' && e.target === 'devB', 'device.rotate');
  has((e) => e.action === 'auth.failed' && e.target === 'devB' && e.via === 'coap', 'auth.failed over CoAP');
  has((e) => e.action === 'acl.denied' && e.actor === 'device:devA' && e.target === 'devB' && e.via === 'http' && e.remote === '127.0.0.1', 'acl.denied');
  has((e) => e.action === 'auth.failed' && e.reason === 'DEVICE_DISABLED', 'disabled');
  assert.equal(JSON.stringify(entries).includes(secrets.devA), false, 'no secret in the audit log');
});

test('`devices add` says "copy it" of a secret alone and "copy them" of a secret and a signing key', async () => {
  assert.match(printed.devA, /\nCopy it now: it is not shown again\.\n$/);
  const signing = await cli('add', 'devS', '--signing');
  assert.equal(signing.code, 0, signing.err);
  assert.match(signing.out, /^secret: +\S+\nsigning key: \S+\nCopy them now: they are not shown again\.\n$/m);
  assert.equal((await cli('remove', 'devS')).code, 0);
});

test('the registry survives a restart', async () => {
  await rt.stop();
  rt = await startRuntime({ dataDir });
  const list = await cli('list', '--json');
  assert.deepEqual((JSON.parse(list.out) as Array<{ id: string }>).map((d) => d.id), ['devA', 'devB', 'devC', 'devE']);
  assert.equal((await curl('/ingest/devB', '{"t":20}', [bearer(secrets.devB)])).status, 202);
  assert.equal((await curl('/ingest/devB', '{"t":21}')).status, 401);
});
