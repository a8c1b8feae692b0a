/**
 * upperstack-http-in on the real runtime (the default flow pack), driven by the
 * clients users have: curl for every answer, the CroMFlaG2 sample verbatim,
 * the `influx` 1.x CLI and @influxdata/influxdb-client on the InfluxDB routes.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { InfluxDB, Point } from '@influxdata/influxdb-client';
import mqtt from 'mqtt';
import { eventually, startRuntime, type Runtime } from '../helpers/runtime';
import { packageRoot } from '../../nodes/lib/paths';
import { tempDir } from '../helpers/temp';
import { encode } from '../../nodes/lib/codec';

const run = promisify(execFile);
let rt: Runtime;
const scratch = tempDir('us-http-');

interface CurlResult {
  status: number;
  body: string;
  headers: string;
}

/** curl with a body from a file; -w prints the status after the body. */
async function curl(args: string[]): Promise<CurlResult> {
  const headersFile = join(scratch, `h-${Math.random().toString(36).slice(2)}`);
  const { stdout } = await run('curl', ['-s', '-S', '-D', headersFile, '-w', '\n%{http_code}', ...args], { maxBuffer: 16 << 20 });
  const cut = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut), headers: readFileSync(headersFile, 'utf8') };
}

function post(path: string, body: string | Buffer, contentType?: string, extra: string[] = []): Promise<CurlResult> {
  const file = join(scratch, `b-${Math.random().toString(36).slice(2)}`);
  writeFileSync(file, body);
  return curl(['-X', 'POST', ...(contentType ? ['-H', `Content-Type: ${contentType}`] : ['-H', 'Content-Type:']), '--data-binary', `@${file}`, ...extra, `${rt.url}${path}`]);
}

async function readings(device: string, extra = ''): Promise<Array<{ ts: string; fields: Record<string, unknown>; tags: Record<string, string> }>> {
  const res = await rt.get(`/api/v1/readings?device=${encodeURIComponent(device)}&limit=10000${extra}`);
  assert.equal(res.status, 200);
  return ((await res.json()) as { readings: Array<{ ts: string; fields: Record<string, unknown>; tags: Record<string, string> }> }).readings;
}

async function readingsCount(device: string, n: number) {
  return eventually(async () => {
    const r = await readings(device);
    return r.length >= n ? r : undefined;
  }, 20_000, `${n} readings of ${device}`);
}

before(async () => {
  rt = await startRuntime();
});

after(async () => {
  await rt?.stop();
});

test('/ingest: 202 only with the readings stored, in every content type and gzip', async () => {
  const r1 = await post('/ingest/h1', JSON.stringify({ ts: 1767225600000, temperature: 22.5, door: true, mode: 'eco' }), 'application/json');
  assert.equal(r1.status, 202, r1.body);
  assert.deepEqual(JSON.parse(r1.body), { accepted: 1, deadLettered: 0 });
  const xml = '<reading ts="1767225601000"><temperature>23</temperature></reading>';
  assert.equal((await post('/ingest/h1', xml, 'application/xml')).status, 202);
  assert.equal((await post('/ingest/h1', 'm,device=h1 temperature=24 1767225602000000000', 'text/plain')).status, 202);
  const senml = JSON.stringify([{ bn: 'h1:', bt: 1767225603, n: 'temperature', u: 'Cel', v: 25 }]);
  assert.equal((await post('/ingest/h1', senml, 'application/senml+json')).status, 202);
  const gz = gzipSync(Buffer.from(JSON.stringify([{ ts: 1767225604000, temperature: 26 }, { ts: 1767225605000, temperature: 27 }])));
  const g = await post('/ingest/h1', gz, 'application/json', ['-H', 'Content-Encoding: gzip']);
  assert.equal(g.status, 202, g.body);
  assert.deepEqual(JSON.parse(g.body), { accepted: 2, deadLettered: 0 });
  const stored = await readingsCount('h1', 6);
  assert.deepEqual(stored.map((r) => r.fields.temperature), [22.5, 23, 24, 25, 26, 27]);
  assert.deepEqual(stored[0].fields, { temperature: 22.5, door: true, mode: 'eco' });
  assert.equal(stored[3].tags['temperature.unit'], 'Cel');
});

test('/ingest: line protocol times are read in the unit ?precision= names (ns, us, ms, s), as on /api/v2/write; another unit is 400 naming it', async () => {
  const sec = await post('/ingest/prec1?precision=s', 'm,device=prec1 a=1 1767225600\n', 'text/plain');
  assert.equal(sec.status, 202, sec.body);
  const ms = await post('/ingest/prec1?precision=ms', 'm,device=prec1 b=2 1767225601000\n', 'text/plain');
  assert.equal(ms.status, 202, ms.body);
  const bad = await post('/ingest/prec2?precision=h', 'm,device=prec2 a=1 490896\n', 'text/plain');
  assert.equal(bad.status, 400);
  assert.deepEqual(JSON.parse(bad.body), { error: { code: 'BAD_PARAMETER', message: 'invalid precision "h" (use ns, us, ms or s)', parameter: 'precision' } });
  const stored = await readingsCount('prec1', 2);
  assert.deepEqual(stored.map((r) => [r.ts, r.fields]), [['2026-01-01T00:00:00.000Z', { a: 1 }], ['2026-01-01T00:00:01.000Z', { b: 2 }]]);
  assert.deepEqual(await readings('prec2'), []);
});

test('/ingest: a negative epoch time is stored and read back as the time before 1970 it is, in JSON, CBOR, MessagePack and protobuf', async () => {
  const bodies: Array<[string, string | Buffer]> = [
    ['application/json', '{"a":1,"ts":-86400}'],
    ['application/cbor', encode('cbor', { a: 2, ts: -1e12 })],
    ['application/msgpack', encode('msgpack', { a: 3, ts: -1e12 + 1 })],
    ['application/x-protobuf', encode('protobuf', { device: 'pre1970', ts: -1, fields: { a: 4 }, tags: {} })],
  ];
  for (const [type, body] of bodies) {
    const r = await post('/ingest/pre1970', body, type);
    assert.equal(r.status, 202, `${type}: ${r.body}`);
  }
  const stored = await readingsCount('pre1970', 4);
  assert.deepEqual(stored.map((r) => [r.ts, r.fields.a]), [
    ['1938-04-24T22:13:20.000Z', 2],
    ['1938-04-24T22:13:20.001Z', 3],
    ['1969-12-31T00:00:00.000Z', 1],
    ['1969-12-31T23:59:59.000Z', 4],
  ]);
});

test('/ingest: every error status names what is wrong, as JSON; what was read is dead-lettered', async () => {
  const watcher = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqttPort}`, { username: 'apikey', password: rt.apiKey });
  const letters: Array<{ code: string; source: string }> = [];
  watcher.on('message', (_t, p) => letters.push(JSON.parse(p.toString()) as { code: string; source: string }));
  await watcher.subscribeAsync('upperstack/deadletter/h2', { qos: 0 });
  const malformed = await post('/ingest/h2', '{"temperature": 1,', 'application/json');
  assert.equal(malformed.status, 400);
  const m = JSON.parse(malformed.body) as { error: { code: string; message: string; offset: number } };
  assert.equal(m.error.code, 'DECODE_FAILED');
  assert.equal(m.error.offset, 18);
  assert.match(m.error.message, /ends early at byte 18/);

  const type = await post('/ingest/h2', 'x', 'image/png');
  assert.equal(type.status, 415);
  assert.match(JSON.parse(type.body).error.message, /Content-Type image\/png is not supported/);

  const enc = await post('/ingest/h2', '{}', 'application/json', ['-H', 'Content-Encoding: br']);
  assert.equal(enc.status, 415);
  assert.match(JSON.parse(enc.body).error.message, /Content-Encoding br is not supported/);

  // A body may name a device nobody registered (a gateway's), not a registered one.
  const added = await fetch(`${rt.url}/api/v1/devices`, { method: 'POST', headers: { authorization: `Bearer ${rt.apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ id: 'h3' }) });
  assert.equal(added.status, 201, await added.text());
  const other = await post('/ingest/h2', JSON.stringify({ device: 'h3', t: 1 }), 'application/json');
  assert.equal(other.status, 403);
  assert.match(JSON.parse(other.body).error.message, /names device "h3" but the path names "h2"/);

  const invalid = await post('/ingest/h2', JSON.stringify([{ ts: 'yesterday', t: 1 }]), 'application/json');
  assert.equal(invalid.status, 422);
  const inv = JSON.parse(invalid.body) as { error: { violations: Array<{ path: string; index: number }> }; deadLettered: number };
  assert.equal(inv.error.violations[0].index, 0);
  assert.equal(inv.deadLettered, 1);

  const partial = await post('/ingest/h2', JSON.stringify([{ ts: 1767225600000, t: 1 }, { t: null }]), 'application/json');
  assert.equal(partial.status, 202);
  const p = JSON.parse(partial.body) as { accepted: number; deadLettered: number; errors: Array<{ index: number; code: string }> };
  assert.deepEqual([p.accepted, p.deadLettered, p.errors[0].index, p.errors[0].code], [1, 1, 1, 'INVALID_READING']);

  const big = await post('/ingest/h2', Buffer.alloc(2 * 1024 * 1024, 0x20), 'application/json');
  assert.equal(big.status, 413);
  assert.equal(JSON.parse(big.body).error.code, 'PAYLOAD_TOO_LARGE');

  const bomb = gzipSync(Buffer.alloc(8 * 1024 * 1024, 0x20));
  const inflated = await post('/ingest/h2', bomb, 'application/json', ['-H', 'Content-Encoding: gzip']);
  assert.equal(inflated.status, 413);

  const empty = await post('/ingest/h2', '', 'application/json');
  assert.equal(empty.status, 400);
  assert.deepEqual([JSON.parse(empty.body).error.code, JSON.parse(empty.body).error.message], ['DECODE_FAILED', 'the payload is empty']);
  for (const r of [malformed, type, other, invalid, big, empty]) assert.doesNotMatch(r.body, /<html|<!DOCTYPE/i);
  const stored = await readingsCount('h2', 1);
  assert.equal(stored.length, 1);
  // Journaled and answered 4xx (or partly): malformed, wrong type, another device, invalid, the bad item, empty.
  // 413s and the unsupported encoding were never read, so nothing of them is kept.
  await eventually(async () => (letters.length >= 6 ? true : undefined), 20_000, 'six dead letters');
  assert.deepEqual(letters.map((l) => l.code).sort(), ['DECODE_FAILED', 'DECODE_FAILED', 'DEVICE_MISMATCH', 'INVALID_READING', 'INVALID_READING', 'UNSUPPORTED_FORMAT']);
  assert.ok(letters.every((l) => l.source === 'http:/ingest/h2'));
  await watcher.endAsync();
});

test('/ingest: a body of more readings than a request may hold is 413 naming the limit, whatever its format, and nothing of it is kept', async () => {
  const since = new Date(Date.now() - 1000).toISOString();
  const json = JSON.stringify(Array.from({ length: 10_001 }, (_, i) => ({ ts: 1767225600000 + i, v: i })));
  const lp = Array.from({ length: 10_001 }, (_, i) => `m v=${i} ${1767225600000 + i}000000`).join('\n');
  const senml = JSON.stringify(Array.from({ length: 10_001 }, (_, i) => ({ n: 'v', v: i, t: 1767225600 + i })));
  for (const [body, type] of [[json, 'application/json'], [lp, 'text/plain'], [senml, 'application/senml+json']]) {
    const res = await post('/ingest/h-many', body, type);
    assert.equal(res.status, 413, `${type}: ${res.body}`);
    const e = (JSON.parse(res.body) as { error: { code: string; message: string; limit: number } }).error;
    assert.deepEqual([e.code, e.limit], ['TOO_MANY_READINGS', 10_000]);
    assert.match(e.message, /the limit is 10,000 per request: split the request into smaller ones/);
  }
  // Sent after the refused ones: once it is stored, their dead letters would be listed, had they been kept.
  assert.equal((await post('/ingest/h-many', JSON.stringify({ ts: 1767225600000, v: -1 }), 'application/json')).status, 202);
  assert.deepEqual((await readingsCount('h-many', 1)).map((r) => r.fields.v), [-1]);
  const letters = (await (await rt.get(`/api/v1/deadletters?from=${since}&device=h-many`)).json()) as { deadLetters: unknown[] };
  assert.equal(letters.deadLetters.length, 0);
});

test('CroMFlaG2: the sample verbatim, read back through /api/v1/readings, /fetch and /api/v1/devices', async () => {
  const sample = readFileSync(join(packageRoot(), 'test', 'fixtures', 'users', 'http-insert-sample.json'));
  const wrong = await post('/insert/not-sample', sample, 'application/json');
  assert.equal(wrong.status, 403);
  assert.match(JSON.parse(wrong.body).error.message, /deviceinfo.deviceid "sample" is not the device of the path/);
  const ok = await post('/insert/sample', sample, 'application/json');
  assert.equal(ok.status, 202, ok.body);
  assert.deepEqual(JSON.parse(ok.body), { accepted: 7, deadLettered: 0 });
  const expected = (JSON.parse(sample.toString()) as { tsdata: Array<Record<string, unknown>> }).tsdata;
  const stored = await readingsCount('sample', 7);
  const series = stored.filter((r) => !('deviceinfo.fw_ver' in r.fields));
  assert.equal(series.length, 6);
  for (let i = 0; i < 6; i++) {
    const { timestamp, ...fields } = expected[i];
    assert.equal(series[i].ts, new Date(timestamp as number).toISOString());
    assert.deepEqual(series[i].fields, fields);
  }
  const fetched = await curl([`${rt.url}/fetch/sample?from=1582046738255&to=1582046788256`]);
  assert.equal(fetched.status, 200);
  const body = JSON.parse(fetched.body) as { deviceinfo: Record<string, unknown>; tsdata: Array<Record<string, unknown>> };
  assert.deepEqual(body.tsdata, expected);
  assert.deepEqual(body.deviceinfo, { deviceid: 'sample', fw_ver: '12345.009', batt_lvl: 78 });
  const narrow = JSON.parse((await curl([`${rt.url}/fetch/sample?from=1582046748255&to=1582046758255`])).body) as { tsdata: unknown[] };
  assert.equal(narrow.tsdata.length, 1);
  const info = await rt.get('/api/v1/devices/sample');
  assert.equal(info.status, 200);
  assert.deepEqual(await info.json(), { device: 'sample', registered: false, deviceinfo: { deviceid: 'sample', fw_ver: '12345.009', batt_lvl: 78 } });
  const battery = await readings('sample', '&fields=deviceinfo.batt_lvl');
  assert.deepEqual(battery.map((r) => r.fields), [{ 'deviceinfo.batt_lvl': 78 }]);
});

test('InfluxDB: the influx 1.x CLI INSERTs, escapes read back exactly', async () => {
  const insert = (line: string) => run('influx', ['-host', '127.0.0.1', '-port', String(rt.httpPort), '-database', 'telemetry', '-precision', 'ms', '-execute', `INSERT ${line}`]);
  await insert('weather,device=cli1,site=a\\ b\\,c\\=d temp=21.5,ok=true,note="say \\"hi\\" \\\\ 👋" 1767225600000');
  await insert('weather,device=cli1,site=emoji🌡 temp=22i 1767225601000');
  const stored = await readingsCount('cli1', 2);
  assert.deepEqual(stored[0].fields, { temp: 21.5, ok: true, note: 'say "hi" \\ 👋' });
  assert.deepEqual(stored[0].tags, { site: 'a b,c=d', measurement: 'weather' });
  assert.deepEqual(stored[1].tags, { site: 'emoji🌡', measurement: 'weather' });
  assert.equal(stored[1].fields.temp, 22);
  const noDb = await run('influx', ['-host', '127.0.0.1', '-port', String(rt.httpPort), '-execute', 'INSERT m v=1']).catch((e: { stdout: string; stderr: string }) => e);
  assert.match(`${noDb.stdout}${noDb.stderr}`, /database is required/);
});

test('InfluxDB: the influx 1.x CLI\'s "use <db>" finds a database created or written to, and its INSERTs are stored', async () => {
  const cli = async (...args: string[]) => {
    const r = await run('influx', ['-host', '127.0.0.1', '-port', String(rt.httpPort), ...args]).catch((e: { stdout: string; stderr: string }) => e);
    return `${r.stdout}${r.stderr}`;
  };
  // As InfluxDB answers: a database nobody created or wrote to is not there.
  assert.match(await cli('-execute', 'use never_named\nINSERT m,device=usecli0 v=1'), /Database never_named doesn't exist/);
  const created = await cli('-execute', 'CREATE DATABASE usedb\nuse usedb\nINSERT m,device=usecli1 v=1');
  assert.match(created, /Using database usedb/);
  assert.doesNotMatch(created, /ERR/);
  // A database a write named (Telegraf's, another CLI's -database) is listed too.
  await cli('-database', 'written', '-execute', 'INSERT m,device=usecli2 v=2');
  const written = await cli('-execute', 'use written\nINSERT m,device=usecli2 w=3\nSHOW DATABASES');
  assert.match(written, /Using database written/);
  assert.match(written, /^usedb$/m);
  assert.match(written, /^written$/m);
  assert.deepEqual((await readingsCount('usecli1', 1)).map((r) => r.fields), [{ v: 1 }]);
  assert.deepEqual((await readingsCount('usecli2', 2)).map((r) => r.fields), [{ v: 2 }, { w: 3 }]);
  assert.deepEqual(await readings('usecli0'), []);
});

test('InfluxDB: @influxdata/influxdb-client on /api/v2/write, and InfluxDB-style errors with the line', async () => {
  const client = new InfluxDB({ url: rt.url, token: 'ignored-on-loopback' });
  const write = client.getWriteApi('org', 'bucket', 'ms', { maxRetries: 0 });
  write.writePoint(new Point('env').tag('device', 'lib1').tag('room', 'a,b c=d\\e').floatField('t', 1.25).stringField('s', 'x "y" \\ z ✓').booleanField('b', false).intField('i', -7).timestamp(1767225600000));
  write.writePoint(new Point('env').tag('device', 'lib1').floatField('t', 2).timestamp(1767225601000));
  await write.close();
  const stored = await readingsCount('lib1', 2);
  assert.deepEqual(stored[0].fields, { t: 1.25, s: 'x "y" \\ z ✓', b: false, i: -7 });
  assert.deepEqual(stored[0].tags, { room: 'a,b c=d\\e', measurement: 'env' });

  const v1 = await post('/write?db=x&precision=s', 'm,device=e1 v=1 1767225600\nm,device=e1 v=oops\n', 'text/plain');
  assert.equal(v1.status, 400);
  const e1 = JSON.parse(v1.body) as { error: string; line: number };
  assert.equal(e1.line, 2);
  assert.match(e1.error, /^partial write: unable to parse 'm,device=e1 v=oops': line 2/);
  const v2 = await post('/api/v2/write?org=o&bucket=b', 'bad', 'text/plain; charset=utf-8');
  assert.equal(v2.status, 400);
  assert.equal((JSON.parse(v2.body) as { code: string }).code, 'invalid');
  const ping = await curl(['-I', `${rt.url}/ping`]);
  assert.equal(ping.status, 204);
  assert.match(ping.headers, /X-Influxdb-Version: 1\.8/i);
  await readingsCount('e1', 1);
});

test('InfluxDB: a line break inside a string field is part of the string, as InfluxDB takes it (the client sends it raw)', async () => {
  const client = new InfluxDB({ url: rt.url, token: 'ignored-on-loopback' });
  const write = client.getWriteApi('org', 'bucket', 'ms', { maxRetries: 0 });
  write.writePoint(new Point('log').tag('device', 'nl1').stringField('msg', 'first line\nsecond "quoted"\r\nthird \\').floatField('n', 1).timestamp(1767225600000));
  write.writePoint(new Point('log').tag('device', 'nl1').stringField('msg', 'one line').floatField('n', 2).timestamp(1767225601000));
  await write.close();
  const stored = await readingsCount('nl1', 2);
  assert.deepEqual(stored.map((r) => r.fields), [{ msg: 'first line\nsecond "quoted"\r\nthird \\', n: 1 }, { msg: 'one line', n: 2 }]);
  // A bad line after a string that spans lines: the others are stored, and the error counts the lines as they are.
  const v1 = await post('/write?db=x&precision=s', 'm,device=nl2 s="a\nb" 1767225600\nm,device=nl2 v=oops\nm,device=nl2 v=3 1767225601\n', 'text/plain');
  assert.equal(v1.status, 400);
  assert.equal((JSON.parse(v1.body) as { line: number }).line, 3);
  const nl2 = await readingsCount('nl2', 2);
  assert.deepEqual(nl2.map((r) => r.fields), [{ s: 'a\nb' }, { v: 3 }]);
});

test('401 without the device login, 429 over the rate limit, 503 with Retry-After under backpressure', async () => {
  // A flow whose readings go nowhere (nothing settles, so the input pauses at 3), a rate limit of
  // 5 requests a second and a device login from the environment.
  const dataDir = tempDir('us-http-limits-');
  const flows = [
    { id: 't', type: 'tab', label: 't' },
    { id: 'cfg', type: 'upperstack-store-config', name: 'db', kind: 'duckdb', path: '', batchSize: 1000, flushMs: 100, memoryLimit: 128, configVersion: 2 },
    { id: 'api', type: 'upperstack-api', z: 't', name: '', store: 'cfg', configVersion: 1, wires: [] },
    { id: 'in', type: 'upperstack-http-in', z: 't', name: 'limited', store: 'cfg', rateLimit: 5, highWater: 3, wires: [[], []] },
  ];
  writeFileSync(join(dataDir, 'flows.json'), JSON.stringify(flows));
  const limited = await startRuntime({ dataDir, env: { UPPERSTACK_MQTT_USERNAME: 'dev', UPPERSTACK_MQTT_PASSWORD: 'pw' } });
  try {
    const body = join(scratch, 'one.json');
    writeFileSync(body, '{"t":1}');
    const ask = (auth: string[]) => curl(['-X', 'POST', '-H', 'Content-Type: application/json', '--data-binary', `@${body}`, ...auth, `${limited.url}/ingest/x`]);
    const anonymous = await ask([]);
    assert.equal(anonymous.status, 401);
    assert.match(JSON.parse(anonymous.body).error.message, /device login is required/);
    assert.match(anonymous.headers, /WWW-Authenticate: Basic/i);
    assert.equal((await ask(['-u', 'dev:wrong'])).status, 401);
    // Telegraf's InfluxDB 2 output sends its token alone: the 401 says how to give the user name with it.
    const token = await curl(['-X', 'POST', '-H', 'Authorization: Token pw', '--data-binary', 'm,device=x v=1', `${limited.url}/api/v2/write?org=o&bucket=b`]);
    assert.equal(token.status, 401);
    assert.deepEqual(JSON.parse(token.body), { code: 'unauthorized', message: 'a user name is required: send the device id (or the shared user name) with the password, as HTTP Basic user:password, "Authorization: Token user:password" or u and p' });
    const statuses: number[] = [];
    const answers: CurlResult[] = [];
    for (let i = 0; i < 8; i++) {
      const r = await ask(['-u', 'dev:pw']);
      statuses.push(r.status);
      answers.push(r);
    }
    assert.deepEqual(statuses.slice(0, 3), [202, 202, 202]);
    const busy = answers.find((r) => r.status === 503);
    assert.ok(busy, `no 503 in ${statuses.join(',')}`);
    assert.match(busy.headers, /Retry-After: \d+/i);
    assert.match(JSON.parse(busy.body).error.message, /cannot take more now/);
    const limitedAnswer = answers.find((r) => r.status === 429);
    assert.ok(limitedAnswer, `no 429 in ${statuses.join(',')}`);
    assert.match(limitedAnswer.headers, /Retry-After: \d+/i);
    assert.equal(JSON.parse(limitedAnswer.body).error.code, 'RATE_LIMITED');
  } finally {
    await limited.stop();
  }
});

test('a gzip bomb\'s 413 names the limit and the bytes sent, never a payload size it did not measure', async () => {
  // 20 MiB of zeros gzips to ~20 KB: under the 1 MiB limit as sent, far over it inflated.
  const bomb = gzipSync(Buffer.alloc(20 * 1024 * 1024));
  const r = await post('/ingest/bomb1', bomb, 'application/json', ['-H', 'Content-Encoding: gzip']);
  assert.equal(r.status, 413, r.body);
  const error = (JSON.parse(r.body) as { error: Record<string, unknown> }).error;
  assert.equal(error.code, 'PAYLOAD_TOO_LARGE');
  assert.equal(error.message, `the gzip body inflates to more than the limit of 1048576 bytes (${bomb.length} bytes as sent)`);
  assert.equal(error.limit, 1048576);
  assert.equal(error.size, undefined);
});

test('JSON labelled with a charset other than UTF-8 is refused with 415 naming it, not read as UTF-8', async () => {
  // "°C" in ISO-8859-1: read as UTF-8 it would become a replacement character without a word.
  const latin1 = Buffer.from('{"unit":"\u00b0C","t":21.5}', 'latin1');
  const r = await post('/ingest/latin1', latin1, 'application/json; charset=ISO-8859-1');
  assert.equal(r.status, 415, r.body);
  const error = (JSON.parse(r.body) as { error: Record<string, unknown> }).error;
  assert.equal(error.code, 'UNSUPPORTED_FORMAT');
  assert.match(String(error.message), /charset ISO-8859-1 is not supported: send the body as UTF-8/);
  const insert = await post('/insert/latin1', latin1, 'application/json; charset=latin1');
  assert.equal(insert.status, 415, insert.body);
  // UTF-8 said out loud, in any case, is what JSON is anyway.
  const utf8 = await post('/ingest/latin1', Buffer.from('{"unit":"\u00b0C","t":21.5}', 'utf8'), 'application/json; charset=UTF-8');
  assert.equal(utf8.status, 202, utf8.body);
  assert.deepEqual((await readingsCount('latin1', 1))[0].fields, { unit: '\u00b0C', t: 21.5 });
});

test('GET /fetch of a device nothing was ever stored for is 404 naming it; a known device with nothing in the range is 200 with an empty tsdata', async () => {
  const unknown = await curl([`${rt.url}/fetch/never-sent`]);
  assert.equal(unknown.status, 404, unknown.body);
  assert.deepEqual(JSON.parse(unknown.body), { error: { code: 'NOT_FOUND', message: 'no reading of device "never-sent" is stored', device: 'never-sent' } });
  const ts = Date.now() - 60_000;
  assert.equal((await post('/ingest/fetch1', JSON.stringify({ ts, t: 1 }), 'application/json')).status, 202);
  await readingsCount('fetch1', 1);
  const empty = await curl([`${rt.url}/fetch/fetch1?from=0&to=1000`]);
  assert.equal(empty.status, 200, empty.body);
  assert.deepEqual(JSON.parse(empty.body), { deviceinfo: { deviceid: 'fetch1' }, tsdata: [] });
});

test('GET /fetch with "from" after "to" is 400 naming both, as the query API answers an inverted range', async () => {
  assert.equal((await post('/ingest/fetch2', JSON.stringify({ ts: Date.now() - 60_000, t: 1 }), 'application/json')).status, 202);
  await readingsCount('fetch2', 1);
  const r = await curl([`${rt.url}/fetch/fetch2?from=2000&to=1000`]);
  assert.equal(r.status, 400, r.body);
  assert.match(r.headers, /content-type: application\/json/i);
  assert.deepEqual(JSON.parse(r.body), {
    error: { code: 'BAD_PARAMETER', message: '"from" (2000) is after "to" (1000); "from" must be earlier', parameter: 'from' },
  });
  // The same instant at both ends is an empty range, not an error.
  assert.equal((await curl([`${rt.url}/fetch/fetch2?from=1000&to=1000`])).status, 200);
});

test('GET /fetch and POST /query: a query parameter that is not valid percent-encoding is 400 BAD_PARAMETER naming it, as on the write routes', async () => {
  assert.equal((await post('/ingest/fetch3', JSON.stringify({ ts: Date.now() - 60_000, t: 1 }), 'application/json')).status, 202);
  await readingsCount('fetch3', 1);
  const fetched = await curl([`${rt.url}/fetch/fetch3?from=0&u=fetch3%FC&p=x`]);
  assert.equal(fetched.status, 400, fetched.body);
  assert.deepEqual(JSON.parse(fetched.body), {
    error: { code: 'BAD_PARAMETER', message: 'the query parameter "u" is not valid percent-encoding: encode its UTF-8 bytes as %XX', parameter: 'u' },
  });
  // Well-formed percent-encoding is read as before.
  const good = await curl([`${rt.url}/fetch/fetch3?from=0&note=%C3%BC`]);
  assert.equal(good.status, 200, good.body);
  assert.equal((JSON.parse(good.body) as { tsdata: unknown[] }).tsdata.length, 1);
  // The InfluxDB route answers in InfluxDB 1.x's error shape, for the query string and a form body alike.
  for (const args of [['-X', 'POST', `${rt.url}/query?q=CREATE%20DATABASE%20a%FC`], ['--data-binary', 'q=CREATE+DATABASE+a%FC', `${rt.url}/query`]]) {
    const query = await curl(args);
    assert.equal(query.status, 400, query.body);
    assert.deepEqual(JSON.parse(query.body), { error: 'the query parameter "q" is not valid percent-encoding: encode its UTF-8 bytes as %XX' });
  }
  const create = await curl(['--data-binary', 'q=CREATE+DATABASE+%C3%BC', `${rt.url}/query`]);
  assert.equal(create.status, 200, create.body);
});

test('another method on a route of the input is 405 as JSON with Allow naming the methods it takes, in InfluxDB\'s shape on its routes; a path nothing serves stays 404', async () => {
  const refused = await curl(['-X', 'PUT', '-H', 'Content-Type: application/json', '--data', '{"t":1}', `${rt.url}/ingest/dev1`]);
  assert.equal(refused.status, 405, refused.body);
  assert.match(refused.headers, /^Allow: POST, OPTIONS\r$/m);
  assert.match(refused.headers, /^Content-Type: application\/json/m);
  assert.deepEqual(JSON.parse(refused.body), { error: { code: 'METHOD_NOT_ALLOWED', message: 'PUT is not accepted on /ingest/{device}: send readings with POST', allow: ['POST', 'OPTIONS'] } });
  // OPTIONS is one of them, answered with the same Allow, where Node-RED's admin CORS handler answered it without one.
  const options = await curl(['-X', 'OPTIONS', `${rt.url}/ingest/dev1`]);
  assert.equal(options.status, 204, options.body);
  assert.match(options.headers, /^Allow: POST, OPTIONS\r$/m);
  for (const [path, allow] of [['/fetch/dev1', 'GET, HEAD, OPTIONS'], ['/write', 'POST, OPTIONS'], ['/api/v2/write', 'POST, OPTIONS'], ['/query', 'GET, HEAD, POST, OPTIONS']]) {
    const r = await curl(['-X', 'OPTIONS', `${rt.url}${path}`]);
    assert.equal(r.status, 204, `${path}: ${r.body}`);
    assert.match(r.headers, new RegExp(`^Allow: ${allow}\\r$`, 'm'), path);
  }
  // A browser's preflight is still the CORS handler's to answer.
  const preflight = await curl(['-X', 'OPTIONS', '-H', 'Origin: https://app.example', '-H', 'Access-Control-Request-Method: POST', `${rt.url}/ingest/dev1`]);
  assert.equal(preflight.status, 204, preflight.body);
  assert.match(preflight.headers, /^Access-Control-Allow-Origin: \*\r$/m);
  assert.match(preflight.headers, /^Access-Control-Allow-Methods: .*POST/m);
  const cases: Array<[string, string, string]> = [
    ['PATCH', '/insert/dev1', 'POST, OPTIONS'],
    ['POST', '/fetch/dev1', 'GET, HEAD, OPTIONS'],
  ];
  for (const [method, path, allow] of cases) {
    const r = await curl(['-X', method, `${rt.url}${path}`]);
    assert.equal(r.status, 405, `${method} ${path}: ${r.body}`);
    assert.match(r.headers, new RegExp(`^Allow: ${allow}\\r$`, 'm'), `${method} ${path}`);
    assert.equal((JSON.parse(r.body) as { error: { code: string } }).error.code, 'METHOD_NOT_ALLOWED');
  }
  // The InfluxDB routes answer as their other errors, in the shape InfluxDB's clients read: v1 a string "error", v2 code and message.
  const influx: Array<[string, string, string, unknown]> = [
    ['GET', '/write', 'POST, OPTIONS', { error: 'GET is not accepted on /write: write line protocol with POST' }],
    ['PUT', '/query', 'GET, HEAD, POST, OPTIONS', { error: 'PUT is not accepted on /query: send SHOW DATABASES with GET or POST, CREATE DATABASE with POST' }],
    ['DELETE', '/api/v2/write', 'POST, OPTIONS', { code: 'method not allowed', message: 'DELETE is not accepted on /api/v2/write: write line protocol with POST' }],
  ];
  for (const [method, path, allow, body] of influx) {
    const r = await curl(['-X', method, `${rt.url}${path}`]);
    assert.equal(r.status, 405, `${method} ${path}: ${r.body}`);
    assert.match(r.headers, new RegExp(`^Allow: ${allow}\\r$`, 'm'), `${method} ${path}`);
    assert.match(r.headers, /^Content-Type: application\/json/m);
    assert.deepEqual(JSON.parse(r.body), body);
  }
  // @influxdata/influxdb-client reads the code and message of the v2 one.
  const v2 = await new InfluxDB({ url: rt.url, token: 'any' }).transport.request('/api/v2/write', '', { method: 'PUT' }).then(
    () => undefined,
    (e: { statusCode?: number; code?: string; message?: string }) => e,
  );
  assert.deepEqual([v2?.statusCode, v2?.code, v2?.message], [405, 'method not allowed', 'PUT is not accepted on /api/v2/write: write line protocol with POST']);
  for (const path of ['/no/such/path', '/ingest/dev1/more']) {
    const r = await curl(['-X', 'PUT', `${rt.url}${path}`]);
    assert.equal(r.status, 404, r.body);
    assert.deepEqual(JSON.parse(r.body), { error: { code: 'NOT_FOUND', message: `nothing is served at PUT ${path}` } });
  }
});

test('GET /query: SHOW DATABASES lists the databases written to; CREATE DATABASE on GET creates it with influxd\'s warning to use POST', async () => {
  const written = await post('/write?db=getdb', 'm,device=getq1 v=1', 'text/plain');
  assert.equal(written.status, 204, written.body);
  const shown = await curl([`${rt.url}/query?q=SHOW+DATABASES`]);
  assert.equal(shown.status, 200, shown.body);
  const names = (JSON.parse(shown.body) as { results: Array<{ series: Array<{ values: string[][] }> }> }).results[0].series[0].values.flat();
  assert.ok(names.includes('getdb'), shown.body);
  const created = await curl([`${rt.url}/query?q=CREATE+DATABASE+getcreated`]);
  assert.equal(created.status, 200, created.body);
  assert.deepEqual(JSON.parse(created.body), {
    results: [{ statement_id: 0, messages: [{ level: 'warning', text: "deprecated use of 'CREATE DATABASE getcreated' in a read only context, please use a POST request instead" }] }],
  });
  assert.match((await curl([`${rt.url}/query?q=SHOW%20DATABASES`])).body, /\["getcreated"\]/);
  const other = await curl([`${rt.url}/query?q=SELECT+*+FROM+m`]);
  assert.equal(other.status, 400, other.body);
});

test('CoAP: an unsupported Content-Format is answered 4.15 naming the Content-Format and the ones the input takes', async () => {
  const file = join(scratch, 'exi.bin');
  writeFileSync(file, 'x');
  const { stdout, stderr } = await run('coap-client-notls', ['-m', 'post', '-t', '47', '-f', file, `coap://127.0.0.1:${rt.coapPort}/telemetry/exi1`], { timeout: 20_000 });
  const answer = `${stdout}${stderr}`;
  // The diagnostic is cut to three times the request's size (no amplification): its start is what counts.
  assert.match(answer, /4\.15/);
  assert.match(answer, /UNSUPPORTED_FORMAT: Content-Format application\/exi is not/);
  assert.doesNotMatch(answer, /Content-Type/);
});
