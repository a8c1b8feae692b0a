/**
 * API keys with scopes on the real runtime (the default pack, its HTTP input's
 * schema marking `lat` sensitive), with the clients people use: the
 * `upperstack keys` and `upperstack devices` CLIs, curl. A key scoped to one
 * customer's tag sees only that customer's devices (query API, Grafana, /fetch,
 * dead letters) and none of the admin API; sensitive fields are rounded for it
 * and served as sent with read:sensitive; a revoked key is refused; the key of
 * the settings is still an admin key; over MQTT (user name `apikey`) a scoped key
 * receives only its devices' telemetry and revoking it disconnects it; the audit log (GET /api/v1/audit) has
 * each read, each refusal and each key change.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import { eventually, startRuntime, type Runtime } from '../helpers/runtime';
import { tempDir } from '../helpers/temp';

const run = promisify(execFile);
const ROOT = join(__dirname, '..', '..', '..');
const CLI = join(ROOT, 'dist', 'scripts', 'cli.js');
let rt: Runtime;
const dataDir = tempDir('us-keys-');
const secrets: Record<string, string> = {};
/** What the first `keys add` printed. */
let addedOut = '';
let acmeKey = '';
let acmeId = '';
let sensitiveKey = '';
const DEAD_LETTERS = 'plant/errors';

const SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  required: ['device', 'ts', 'fields'],
  properties: {
    fields: {
      type: 'object',
      properties: {
        lat: { type: 'number', 'x-upperstack-sensitive': 'round:2' },
        owner: { type: 'string', 'x-upperstack-sensitive': true },
        note: { type: 'string', maxLength: 8, 'x-upperstack-sensitive': 'mask' },
      },
    },
  },
};

async function cli(command: string, ...args: string[]): Promise<{ code: number; out: string; err: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, command, ...args, '--url', rt.url, '--key', rt.apiKey]);
    return { code: 0, out: stdout, err: stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, out: x.stdout, err: x.stderr };
  }
}

/** curl with a Bearer key; status and parsed body. */
async function curl(key: string, path: string, opts: { method?: string; body?: string } = {}): Promise<{ status: number; json: Record<string, unknown> }> {
  const args = ['-s', '-S', '-w', '\n%{http_code}', '-X', opts.method ?? 'GET', '-H', `Authorization: Bearer ${key}`];
  if (opts.body !== undefined) args.push('-H', 'Content-Type: application/json', '--data-binary', opts.body);
  const { stdout } = await run('curl', [...args, `${rt.url}${path}`]);
  const cut = stdout.lastIndexOf('\n');
  const text = stdout.slice(0, cut);
  return { status: Number(stdout.slice(cut + 1)), json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

const fieldsOf = (body: Record<string, unknown>) => (body.readings as Array<{ fields: Record<string, unknown> }>).map((r) => r.fields);

before(async () => {
  // The default pack, its HTTP input validating with a schema that marks lat and owner sensitive.
  const flows = JSON.parse(readFileSync(join(ROOT, 'flows', 'pipeline.json'), 'utf8')) as Array<Record<string, unknown>>;
  const httpIn = flows.find((n) => n.type === 'upperstack-http-in')!;
  httpIn.schemaSource = 'inline';
  httpIn.schema = JSON.stringify(SCHEMA);
  // Dead letters on a topic of the integrator's choosing: masking and device scopes follow it.
  flows.find((n) => n.type === 'upperstack-deadletter')!.topic = DEAD_LETTERS;
  writeFileSync(join(dataDir, 'flows.json'), JSON.stringify(flows));
  rt = await startRuntime({ dataDir });
  for (const [id, customer] of [['acme1', 'acme'], ['acme2', 'acme'], ['globex1', 'globex']]) {
    const r = await cli('devices', 'add', id, '--tag', `customer=${customer}`);
    assert.equal(r.code, 0, r.err);
    secrets[id] = /^secret:\s+(\S+)$/m.exec(r.out)![1];
  }
  for (const id of Object.keys(secrets)) {
    const body = JSON.stringify({ lat: 52.520008, owner: 'Jane Doe', temp: id.length });
    const { stdout } = await run('curl', ['-s', '-w', '\n%{http_code}', '-H', `Authorization: Bearer ${secrets[id]}`, '-H', 'Content-Type: application/json', '--data-binary', body, `${rt.url}/ingest/${id}`]);
    assert.match(stdout, /202$/, stdout);
  }
  await eventually(async () => ((await (await rt.get('/api/v1/readings?device=globex1')).json()) as { readings: unknown[] }).readings.length === 1 || undefined);
});

after(async () => {
  await rt?.stop();
});

test('keys add / list: the key is printed once and listed without its secret; bad scopes are refused', async () => {
  const made = await cli('keys', 'add', '--scope', 'read:tag=customer:acme', '--name', 'acme dashboard');
  assert.equal(made.code, 0, made.err);
  acmeKey = /^key:\s+(\S+)$/m.exec(made.out)![1];
  acmeId = /^id:\s+(\S+)$/m.exec(made.out)![1];
  assert.match(made.out, /not shown again/);
  addedOut = made.out;
  const sens = await cli('keys', 'add', '--scope', 'read:tag=customer:acme', '--scope', 'read:sensitive', '--name', 'acme engineer');
  sensitiveKey = /^key:\s+(\S+)$/m.exec(sens.out)![1];
  const list = await cli('keys', 'list');
  assert.equal(list.code, 0, list.err);
  assert.match(list.out, new RegExp(`^${acmeId}\\s+acme dashboard\\s+read:tag=customer:acme\\s`, 'm'));
  assert.equal(list.out.includes(acmeKey), false);
  const bad = await cli('keys', 'add', '--scope', 'write');
  assert.equal(bad.code, 2);
  assert.match(bad.err, /400 BAD_PARAMETER.*"write" is not a scope/);
});

test('docs/security.md shows what `keys add` prints, line for line (the id and key elided)', () => {
  const doc = /^npx upperstack keys add --scope read:tag=customer:acme [^\n]*\n((?:# [^\n]*\n)+)/m.exec(readFileSync(join(ROOT, 'docs', 'security.md'), 'utf8'));
  assert.ok(doc, 'docs/security.md has the output of `keys add`');
  const elided = (line: string) => line.trim().replace(/^(id|key):\s+\S+$/, '$1: <elided>');
  assert.deepEqual(doc[1].trimEnd().split('\n').map((l) => elided(l.slice(1))), addedOut.trimEnd().split('\n').map(elided));
});

test('a key scoped to customer acme reads acme devices only: 403 by name for the others, lists filtered', async () => {
  const own = await curl(acmeKey, '/api/v1/readings?device=acme1');
  assert.equal(own.status, 200, JSON.stringify(own.json));
  assert.equal(fieldsOf(own.json).length, 1);
  const agg = await curl(acmeKey, '/api/v1/readings/aggregate?device=acme2&field=temp&every=1d&fn=max');
  assert.equal(agg.status, 200);
  for (const path of ['/api/v1/readings?device=globex1', '/api/v1/readings/aggregate?device=globex1&field=temp&every=1d&fn=max', '/api/v1/deadletters?device=globex1', '/api/v1/readings?device=nobody']) {
    const other = await curl(acmeKey, path);
    assert.equal(other.status, 403, path);
    assert.equal((other.json.error as { code: string }).code, 'FORBIDDEN');
  }
  // Grafana lists its devices only and refuses a target of another customer.
  const search = await curl(acmeKey, '/api/v1/grafana/search', { method: 'POST', body: '{"target":"devices"}' });
  assert.deepEqual((search.json as unknown as string[]).sort(), ['acme1', 'acme2']);
  const q = await curl(acmeKey, '/api/v1/grafana/query', { method: 'POST', body: JSON.stringify({ targets: [{ target: 'globex1:temp' }], range: { from: '2000-01-01T00:00:00Z', to: '2100-01-01T00:00:00Z' }, intervalMs: 60000 }) });
  assert.equal(q.status, 403);
  // CroMFlaG2 /fetch with the key.
  assert.equal((await curl(acmeKey, '/fetch/globex1')).status, 403);
  assert.equal((await curl(acmeKey, '/fetch/acme1')).status, 200);
});

test('a read key backtests the devices it may read (values as served to it) and gets 403 for the others', async () => {
  const body = (device: string, field: string) => JSON.stringify({ device, field, detector: { type: 'zscore' } });
  const own = await curl(acmeKey, '/api/v1/anomaly/backtest', { method: 'POST', body: body('acme1', 'temp') });
  assert.equal(own.status, 200, JSON.stringify(own.json));
  assert.equal(own.json.scanned, 1);
  // A field it may not have figures of is refused as the aggregate route refuses it, not replayed as an empty series.
  const hidden = await curl(acmeKey, '/api/v1/anomaly/backtest', { method: 'POST', body: body('acme1', 'owner') });
  const aggregate = await curl(acmeKey, '/api/v1/readings/aggregate?device=acme1&field=owner&every=1d&fn=max');
  assert.equal(aggregate.status, 403);
  assert.deepEqual([hidden.status, hidden.json], [aggregate.status, aggregate.json]);
  assert.equal((hidden.json.error as { code: string }).code, 'FORBIDDEN');
  // With read:sensitive the series is there to replay.
  assert.equal((await curl(sensitiveKey, '/api/v1/anomaly/backtest', { method: 'POST', body: body('acme1', 'owner') })).status, 200);
  for (const device of ['globex1', 'nobody']) {
    const other = await curl(acmeKey, '/api/v1/anomaly/backtest', { method: 'POST', body: body(device, 'temp') });
    assert.equal(other.status, 403, device);
    assert.equal((other.json.error as { code: string }).code, 'FORBIDDEN');
  }
  assert.equal((await curl(rt.apiKey, '/api/v1/anomaly/backtest', { method: 'POST', body: body('globex1', 'temp') })).json.scanned, 1);
});

test('a scoped key gets none of the admin API; the key of the settings still has all of it', async () => {
  for (const [method, path] of [['GET', '/api/v1/devices'], ['POST', '/api/v1/devices'], ['GET', '/api/v1/keys'], ['GET', '/api/v1/audit'], ['POST', '/api/v1/deadletters/replay'], ['POST', '/api/v1/rules'], ['GET', '/api/v1/alerts']]) {
    const r = await curl(acmeKey, path, { method, ...(method === 'POST' ? { body: '{}' } : {}) });
    assert.equal(r.status, 403, `${method} ${path}`);
    assert.match((r.json.error as { message: string }).message, /admin scope/);
  }
  assert.equal((await curl(rt.apiKey, '/api/v1/keys')).status, 200);
  assert.equal((await curl(rt.apiKey, '/api/v1/devices')).status, 200);
  assert.equal((await curl('usk_000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', '/api/v1/readings?device=acme1')).status, 401);
});

test('/metrics: a read key is answered 403 naming the admin scope (not 401 as if it were wrong); an admin key made with keys add scrapes', async () => {
  const { stdout } = await run('curl', ['-s', '-w', '\n%{http_code}', '-H', `Authorization: Bearer ${acmeKey}`, `${rt.url}/metrics`]);
  assert.match(stdout, /\n403$/, stdout);
  assert.match(stdout, /FORBIDDEN.*needs the admin scope/, stdout);
  const made = await cli('keys', 'add', '--scope', 'admin', '--name', 'prometheus');
  assert.equal(made.code, 0, made.err);
  const adminKey = /^key:\s+(\S+)$/m.exec(made.out)![1];
  const scraped = await run('curl', ['-s', '-w', '\n%{http_code}', '-H', `Authorization: Bearer ${adminKey}`, `${rt.url}/metrics`]);
  assert.match(scraped.stdout, /upperstack_messages_received_total[\s\S]*\n200$/);
  const wrong = await run('curl', ['-s', '-w', '\n%{http_code}', '-H', `Authorization: Bearer ${adminKey.slice(0, -4)}AAAA`, `${rt.url}/metrics`]);
  assert.match(wrong.stdout, /\n401$/);
  assert.equal((await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-H', `Authorization: Bearer ${rt.apiKey}`, `${rt.url}/metrics`])).stdout, '200');
});

test('sensitive fields: rounded or left out for a reader, as sent with read:sensitive and for the admin key; stored as sent', async () => {
  const masked = fieldsOf((await curl(acmeKey, '/api/v1/readings?device=acme1')).json)[0];
  assert.deepEqual(masked, { lat: 52.52, temp: 5 });
  const fetched = await curl(acmeKey, '/fetch/acme1');
  assert.equal(JSON.stringify(fetched.json).includes('52.520008'), false, JSON.stringify(fetched.json));
  assert.equal(JSON.stringify(fetched.json).includes('Jane'), false);
  assert.deepEqual(fieldsOf((await curl(sensitiveKey, '/api/v1/readings?device=acme1')).json)[0], { lat: 52.520008, owner: 'Jane Doe', temp: 5 });
  assert.deepEqual(fieldsOf((await curl(rt.apiKey, '/api/v1/readings?device=acme1')).json)[0], { lat: 52.520008, owner: 'Jane Doe', temp: 5 });
  const owner = await curl(acmeKey, '/api/v1/readings/aggregate?device=acme1&field=owner&every=1d&fn=last');
  assert.equal(owner.status, 403);
});

test('a revoked key is refused at once', async () => {
  const extra = await cli('keys', 'add', '--scope', 'read');
  const key = /^key:\s+(\S+)$/m.exec(extra.out)![1];
  const id = /^id:\s+(\S+)$/m.exec(extra.out)![1];
  assert.equal((await curl(key, '/api/v1/readings?device=globex1')).status, 200);
  const revoked = await cli('keys', 'revoke', id);
  assert.equal(revoked.code, 0, revoked.err);
  assert.equal((await curl(key, '/api/v1/readings?device=globex1')).status, 401);
  assert.match((await cli('keys', 'list')).out, new RegExp(`^${id}\\s.*\\d{4}-\\d{2}-\\d{2}T\\S+Z\\s*$`, 'm'));
});

test('GET /api/v1/audit: the scoped key\'s reads and refusals, key changes; filters and paging', async () => {
  const mine = await curl(rt.apiKey, `/api/v1/audit?actor=key:${acmeId}&limit=1000`);
  assert.equal(mine.status, 200);
  const entries = mine.json.entries as Array<{ action: string; target?: string; outcome: string; remote?: string; ts: string }>;
  assert.ok(entries.some((e) => e.action === 'query.readings' && e.target === 'acme1' && e.outcome === 'ok'), JSON.stringify(entries));
  assert.ok(entries.some((e) => e.action === 'query.readings' && e.target === 'globex1' && e.outcome === 'denied'));
  assert.ok(entries.some((e) => e.action === 'acl.denied' && /\/api\/v1\/devices/.test(e.target ?? '')));
  assert.ok(entries.some((e) => e.action === 'query.fetch' && e.target === 'globex1' && e.outcome === 'denied'));
  assert.ok(entries.some((e) => e.action === 'query.fetch' && e.target === 'acme1' && e.outcome === 'ok'));
  assert.ok(entries.every((e) => /^\d{4}-/.test(e.ts) && e.remote));
  const keyChanges = await curl(rt.apiKey, '/api/v1/audit?action=key');
  const changes = keyChanges.json.entries as Array<{ action: string; actor: string; target: string }>;
  assert.ok(changes.some((e) => e.action === 'key.add' && e.actor === 'admin' && e.target === `key:${acmeId}`));
  assert.ok(changes.some((e) => e.action === 'key.revoke'));
  const failed = await curl(rt.apiKey, '/api/v1/audit?action=auth.failed');
  assert.ok((failed.json.entries as unknown[]).length >= 1);
  // Two pages of one entry each, the second older than the first.
  const p1 = await curl(rt.apiKey, '/api/v1/audit?limit=1');
  const p2 = await curl(rt.apiKey, `/api/v1/audit?limit=1&cursor=${p1.json.next as string}`);
  const [a] = p1.json.entries as Array<{ ts: string; action: string }>;
  const [b] = p2.json.entries as Array<{ ts: string; action: string }>;
  assert.ok(b.ts <= a.ts);
  assert.notDeepEqual(a, b);
  assert.equal((await curl(rt.apiKey, '/api/v1/audit?from=yesterday')).status, 400);
});

test('MQTT: a scoped key logs in as "apikey" and receives its devices\' telemetry only; revoking it disconnects it', async () => {
  const watcher = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqttPort}`, { username: 'apikey', password: acmeKey, reconnectPeriod: 0 });
  const got: string[] = [];
  watcher.on('message', (topic) => got.push(topic));
  await watcher.subscribeAsync('devices/#', { qos: 1 });
  const pub = (id: string) => run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(rt.mqttPort), '-u', id, '-P', secrets[id], '-q', '1', '-t', `devices/${id}/telemetry`, '-m', '{"t":1}']);
  await pub('globex1');
  await pub('acme2');
  await eventually(async () => (got.includes('devices/acme2/telemetry') ? true : undefined));
  assert.deepEqual(got, ['devices/acme2/telemetry'], 'nothing of globex1');
  watcher.end();

  const extra = await cli('keys', 'add', '--scope', 'read');
  const key = /^key:\s+(\S+)$/m.exec(extra.out)![1];
  const id = /^id:\s+(\S+)$/m.exec(extra.out)![1];
  const reader = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqttPort}`, { username: 'apikey', password: key, reconnectPeriod: 0 });
  const closed = new Promise<void>((r) => reader.once('close', () => r()));
  assert.equal((await cli('keys', 'revoke', id)).code, 0);
  await closed;
  const again = await run('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(rt.mqttPort), '-u', 'apikey', '-P', key, '-t', 'devices/#', '-C', '1', '-W', '5']).catch((e: { stderr: string }) => e);
  assert.match(String((again as { stderr?: string }).stderr), /not authori[sz]ed|bad user name or password|refused/i);
  reader.end(true);
});

test('MQTT: a key without read:sensitive gets sensitive fields masked in telemetry and dead letters (on the topic the dead-letter node is configured with); read:sensitive gets the bytes as sent', async () => {
  const listen = async (key: string) => {
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqttPort}`, { username: 'apikey', password: key, reconnectPeriod: 0, protocolVersion: 5 });
    const got: Array<{ topic: string; body: string; contentType?: string }> = [];
    c.on('message', (topic, payload, packet) => got.push({ topic, body: payload.toString(), contentType: packet.properties?.contentType }));
    await c.subscribeAsync(['devices/acme1/#', `${DEAD_LETTERS}/acme1`], { qos: 1 });
    return { c, got };
  };
  const reader = await listen(acmeKey);
  const engineer = await listen(sensitiveKey);
  try {
    const sent = '{"lat":52.520008,"owner":"Jane Doe","temp":7}';
    await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(rt.mqttPort), '-u', 'acme1', '-P', secrets.acme1, '-q', '1', '-t', 'devices/acme1/telemetry', '-m', sent]);
    await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(rt.mqttPort), '-u', 'acme1', '-P', secrets.acme1, '-q', '1', '-t', 'devices/acme1/telemetry', '-m', '{"owner":"Jane Doe","lat":']);
    // The dead letter comes after both deliveries of the telemetry (the broker delivers before the pipeline decodes).
    const done = (g: typeof reader.got) => g.some((m) => m.topic.startsWith(`${DEAD_LETTERS}/`));
    await eventually(async () => (done(reader.got) && done(engineer.got) ? true : undefined), 20_000, 'both keys got the dead letter');
    const [masked, undecodable] = reader.got.filter((m) => m.topic === 'devices/acme1/telemetry');
    const reading = JSON.parse(masked.body) as { device: string; fields: Record<string, unknown> };
    assert.equal(reading.device, 'acme1');
    assert.deepEqual(reading.fields, { lat: 52.52, temp: 7 });
    assert.equal(masked.contentType, 'application/json');
    assert.equal(undecodable, undefined, 'a payload that cannot be decoded is withheld from the reader');
    const letter = JSON.parse(reader.got.find((m) => m.topic.startsWith(`${DEAD_LETTERS}/`))!.body) as { code: string; payload: string };
    assert.equal(letter.code, 'DECODE_FAILED');
    assert.equal(letter.payload.includes('Jane'), false, letter.payload);
    // read:sensitive: as sent.
    assert.deepEqual(engineer.got.filter((m) => m.topic === 'devices/acme1/telemetry').map((m) => m.body), [sent, '{"owner":"Jane Doe","lat":']);
    assert.ok(engineer.got.some((m) => m.topic.startsWith(`${DEAD_LETTERS}/`) && m.body.includes('Jane')));
  } finally {
    reader.c.end(true);
    engineer.c.end(true);
  }
});

test('a schema-refused value of a sensitive field: a key without read:sensitive reads the dead letter\'s reason with the value told by kind (API JSON and CSV, Grafana, MQTT)', async () => {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqttPort}`, { username: 'apikey', password: acmeKey, reconnectPeriod: 0 });
  const got: string[] = [];
  c.on('message', (_topic, payload) => got.push(payload.toString()));
  await c.subscribeAsync(`${DEAD_LETTERS}/acme2`, { qos: 1 });
  try {
    for (const body of ['{"lat":"52.987654"}', '{"owner":55512345678}']) {
      const { stdout } = await run('curl', ['-s', '-w', '\n%{http_code}', '-H', `Authorization: Bearer ${secrets.acme2}`, '-H', 'Content-Type: application/json', '--data-binary', body, `${rt.url}/ingest/acme2`]);
      assert.doesNotMatch(stdout, /20\d$/, stdout);
    }
    await eventually(async () => (got.length === 2 ? true : undefined), 20_000, 'both dead letters over MQTT');
    const leaks = (text: string) => /52\.987654|55512345678/.test(text);
    for (const m of got) assert.equal(leaks(m), false, m);
    assert.match(got.join('\n'), /got a string/);
    assert.match(got.join('\n'), /got a number/);
    const api = await curl(acmeKey, '/api/v1/deadletters?device=acme2');
    const reasons = (api.json.deadLetters as Array<{ reason: string }>).map((l) => l.reason);
    assert.equal(reasons.length, 2);
    for (const r of reasons) assert.equal(leaks(r), false, r);
    const csv = await run('curl', ['-s', '-H', `Authorization: Bearer ${acmeKey}`, '-H', 'Accept: text/csv', `${rt.url}/api/v1/deadletters?device=acme2`]);
    assert.match(csv.stdout, /got a string/);
    assert.equal(leaks(csv.stdout), false, csv.stdout);
    const notes = await curl(acmeKey, '/api/v1/grafana/annotations', { method: 'POST', body: JSON.stringify({ range: { from: '2000-01-01T00:00:00Z', to: '2100-01-01T00:00:00Z' }, annotation: { query: 'deadletters:acme2' } }) });
    assert.equal(notes.status, 200);
    const texts = (notes.json as unknown as Array<{ text: string }>).map((n) => n.text);
    assert.equal(texts.length, 2);
    for (const t of texts) assert.equal(leaks(t), false, t);
    // The admin key reads the reasons as written.
    const admin = await curl(rt.apiKey, '/api/v1/deadletters?device=acme2');
    assert.equal(leaks(JSON.stringify(admin.json)), true);
  } finally {
    c.end(true);
  }
});

test('reasons that quote a value in other words (line protocol\'s "has value", a schema refusal of text with "…") over HTTP and MQTT: told by kind to a key without read:sensitive, as sent to the admin key', async () => {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqttPort}`, { username: 'apikey', password: acmeKey, reconnectPeriod: 0 });
  const got: string[] = [];
  c.on('message', (_topic, payload) => got.push(payload.toString()));
  await c.subscribeAsync(`${DEAD_LETTERS}/acme1`, { qos: 1 });
  const leaks = (text: string) => /JaneDoe5551234|555-1234|Call me/.test(text);
  try {
    // A phone turns "..." into "…", which the reason's text rule took for the end of a cut value.
    for (const [type, body] of [['text/plain', 'acme1 temp=5,owner=JaneDoe5551234'], ['application/json', '{"note":"Call me… 555-1234"}']]) {
      const { stdout } = await run('curl', ['-s', '-w', '\n%{http_code}', '-H', `Authorization: Bearer ${secrets.acme1}`, '-H', `Content-Type: ${type}`, '--data-binary', body, `${rt.url}/ingest/acme1`]);
      assert.doesNotMatch(stdout, /20\d$/, stdout);
    }
    await run('mosquitto_pub', ['-V', 'mqttv311', '-h', '127.0.0.1', '-p', String(rt.mqttPort), '-u', 'acme1', '-P', secrets.acme1, '-q', '1', '-t', 'devices/acme1/telemetry', '-m', 'acme1 owner=JaneDoe5551234']);
    await eventually(async () => (got.length === 3 ? true : undefined), 20_000, 'three dead letters over MQTT');
    for (const m of got) assert.equal(leaks(m), false, m);
    assert.equal(got.filter((m) => /field \\"owner\\" has value \(text without quotes\)/.test(m)).length, 2, got.join('\n'));
    // The letter of the MQTT message may be published before the store has it listed.
    const reasonsFor = async (key: string, want: RegExp) => eventually(async () => {
      const rs = ((await curl(key, '/api/v1/deadletters?device=acme1')).json.deadLetters as Array<{ reason: string }>).map((l) => l.reason);
      return rs.filter((r) => want.test(r)).length === 2 ? rs : undefined;
    }, 20_000, 'both line protocol letters listed');
    const reasons = await reasonsFor(acmeKey, /has value \(text without quotes\)/);
    for (const r of reasons) assert.equal(leaks(r), false, r);
    assert.ok(reasons.some((r) => /^\/fields\/note .*\(got a string\)$/.test(r)), reasons.join('\n'));
    const csv = await run('curl', ['-s', '-H', `Authorization: Bearer ${acmeKey}`, '-H', 'Accept: text/csv', `${rt.url}/api/v1/deadletters?device=acme1`]);
    assert.equal(leaks(csv.stdout), false, csv.stdout);
    const notes = await curl(acmeKey, '/api/v1/grafana/annotations', { method: 'POST', body: JSON.stringify({ range: { from: '2000-01-01T00:00:00Z', to: '2100-01-01T00:00:00Z' }, annotation: { query: 'deadletters:acme1' } }) });
    assert.equal(notes.status, 200);
    for (const n of notes.json as unknown as Array<{ text: string }>) assert.equal(leaks(n.text), false, n.text);
    // read:sensitive and the admin key read them as written.
    for (const key of [sensitiveKey, rt.apiKey]) {
      const written = await reasonsFor(key, /has value "JaneDoe5551234"/);
      assert.ok(written.some((r) => r.includes('(got "Call me… 555-1234")')), written.join('\n'));
    }
  } finally {
    c.end(true);
  }
});

// Last: it blocks this address for the rest of the minute.
test('wrong secrets of a key: 20 a minute from one address, then 429 with Retry-After, even for a good key', async () => {
  // Keys that name no live key cost nothing to refuse and are not counted.
  for (let i = 0; i < 25; i++) assert.equal((await curl(`wrong-${i}`, '/api/v1/readings?device=acme1')).status, 401);
  let status = 0;
  const wrongSecret = `usk_${acmeId}_${'A'.repeat(32)}`;
  for (let i = 0; i < 25 && status !== 429; i++) status = (await curl(wrongSecret, '/api/v1/readings?device=acme1')).status;
  assert.equal(status, 429);
  const { stdout } = await run('curl', ['-s', '-D', '-', '-o', '/dev/null', '-H', `Authorization: Bearer ${rt.apiKey}`, `${rt.url}/api/v1/keys`]);
  assert.match(stdout, /^HTTP\/1\.1 429/);
  assert.match(stdout, /^retry-after: \d+\r?$/im);
});
