/**
 * Line protocol on the InfluxDB write routes, held against what InfluxDB 1.x
 * itself answers (a real `influxd` beside the runtime) where the two can be compared.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, startRuntime, type Runtime } from '../helpers/runtime';
import { startInfluxd, type TsdbServer } from '../helpers/influxd';

let rt: Runtime;
let influxd: TsdbServer;

interface Stored {
  ts: string;
  fields: Record<string, unknown>;
}

before(async () => {
  [rt, influxd] = await Promise.all([startRuntime(), startInfluxd()]);
  const created = await fetch(`${influxd.url}/query`, { method: 'POST', body: new URLSearchParams({ q: 'CREATE DATABASE d' }) });
  assert.equal(created.status, 200);
});

after(async () => {
  await Promise.all([rt?.stop(), influxd?.destroy()]);
});

async function write(base: string, path: string, body: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'text/plain; charset=utf-8' }, body });
  return { status: res.status, body: await res.text() };
}

async function readings(device: string, extra = ''): Promise<Stored[]> {
  const res = await rt.get(`/api/v1/readings?device=${encodeURIComponent(device)}&limit=10000${extra}`);
  assert.equal(res.status, 200, await res.clone().text());
  return ((await res.json()) as { readings: Stored[] }).readings;
}

/** Waits for `n` readings of a device (the store writes in batches after the 204). */
function stored(device: string, n: number, extra = ''): Promise<Stored[]> {
  return eventually(async () => {
    const r = await readings(device, extra);
    return r.length >= n ? r : undefined;
  }, 20_000, `${n} readings of ${device}`);
}

async function influxSelect(q: string): Promise<unknown[][]> {
  const res = await fetch(`${influxd.url}/query?db=d&epoch=ms&q=${encodeURIComponent(q)}`);
  const out = (await res.json()) as { results: Array<{ series?: Array<{ values: unknown[][] }> }> };
  return out.results[0].series?.[0].values ?? [];
}

test('times before 1970 are stored and read back, down to 1677-09-21 as InfluxDB keeps them', async () => {
  const body = 'old,device=pre1970 v=1 -9223372036\nold,device=pre1970 v=2 -86400\nold,device=pre1970 v=3 -1\nold,device=pre1970 v=4 86400\n';
  const ours = await write(rt.url, '/write?db=x&precision=s', body);
  assert.equal(ours.status, 204, ours.body);
  assert.equal((await write(influxd.url, '/write?db=d&precision=s', body)).status, 204);
  const r = await stored('pre1970', 4);
  assert.deepEqual(r.map((x) => [x.ts, x.fields.v]), [
    ['1677-09-21T00:12:44.000Z', 1],
    ['1969-12-31T00:00:00.000Z', 2],
    ['1969-12-31T23:59:59.000Z', 3],
    ['1970-01-02T00:00:00.000Z', 4],
  ]);
  assert.deepEqual((await influxSelect('SELECT v FROM old')).map((row) => row[0]), [-9223372036000, -86400000, -1000, 86400000]);
  // Asked for by epoch seconds (a number this small reads as seconds, as an input reads it) and by date, as any other range.
  assert.deepEqual((await readings('pre1970', '&from=-86400&to=0')).map((x) => x.fields.v), [2, 3]);
  assert.deepEqual((await readings('pre1970', '&from=1969-12-31&to=1970-01-01')).map((x) => x.fields.v), [2, 3]);
});

test('a tag given twice refuses its line as InfluxDB does ("duplicate tags"); a field given twice keeps the last value unless its type changes', async () => {
  const cases = [
    { body: 'dup,device=dupt,device=other v=1 1767225600000', status: 400, error: /duplicate tags/ },
    { body: 'dup,device=dupt,room=a,room=b v=1 1767225600000', status: 400, error: /duplicate tags/ },
    { body: 'dup,device=dupt v=1,v=2 1767225601000', status: 204 },
    { body: 'dupx,device=dupt v=1,v="s" 1767225602000', status: 400, error: /field type conflict/ },
  ];
  for (const c of cases) {
    const theirs = await write(influxd.url, '/write?db=d&precision=ms', c.body);
    const ours = await write(rt.url, '/write?db=x&precision=ms', c.body);
    assert.equal(theirs.status, c.status, `influxd: ${c.body}: ${theirs.body}`);
    assert.equal(ours.status, c.status, `upperstack: ${c.body}: ${ours.body}`);
    if (c.error) {
      assert.match(theirs.body, c.error);
      assert.match(ours.body, c.error);
    }
  }
  const room = await write(rt.url, '/write?db=x&precision=ms', 'dup,device=dupt,room=a,room=b v=1 1767225600000');
  assert.match((JSON.parse(room.body) as { error: string }).error, /tag "room" appears twice \(duplicate tags\)/);
  assert.deepEqual(await influxSelect('SELECT v FROM dup'), [[1767225601000, 2]]);
  const r = await stored('dupt', 1);
  assert.deepEqual(r.map((x) => [x.ts, x.fields]), [['2026-01-01T00:00:01.000Z', { v: 2 }]]);
});

test('every precision reads the same instant; digits finer than a millisecond are dropped (rounded down)', async () => {
  const at = [
    ['n', '1767225600123456789'],
    ['ns', '1767225600123456789'],
    ['u', '1767225600123456'],
    ['us', '1767225600123456'],
    ['ms', '1767225600123'],
    ['s', '1767225600'],
  ];
  for (const [precision, t] of at) {
    const path = precision.length === 2 && precision !== 'ms' ? `/api/v2/write?org=o&bucket=b&precision=${precision}` : `/write?db=x&precision=${precision}`;
    const res = await write(rt.url, path, `p,device=prec-${precision} v=1 ${t}\n`);
    assert.equal(res.status, 204, `${precision}: ${res.body}`);
  }
  for (const [precision] of at) {
    const [r] = await stored(`prec-${precision}`, 1);
    assert.equal(r.ts, precision === 's' ? '2026-01-01T00:00:00.000Z' : '2026-01-01T00:00:00.123Z', precision);
  }
  // Before 1970 too: 1.5 ms before is in the millisecond that starts 2 ms before.
  assert.equal((await write(rt.url, '/write?db=x', 'p,device=prec-neg v=1 -1500000\n')).status, 204);
  assert.equal((await stored('prec-neg', 1))[0].ts, '1969-12-31T23:59:59.998Z');
  // Two points of one device and field within one millisecond are one reading: the last written.
  assert.equal((await write(rt.url, '/write?db=x', 'p,device=prec-same v=1 1767225600000000100\np,device=prec-same v=2 1767225600000000900\n')).status, 204);
  assert.equal((await write(rt.url, '/write?db=x', 'p,device=prec-same v=3 1767225600001000000\n')).status, 204);
  const same = await stored('prec-same', 2);
  assert.deepEqual(same.map((x) => [x.ts, x.fields.v]), [['2026-01-01T00:00:00.000Z', 2], ['2026-01-01T00:00:00.001Z', 3]]);
});

test('a refused line\'s dead letter names the device the line names; "unknown" only when none can be read', async () => {
  const since = new Date(Date.now() - 1000).toISOString();
  const res = await write(rt.url, '/write?db=x', 'dl,device=dl-named v=oops\ndl,device=dl-named,device=dl-named v=1\nnothing-readable\ndl-measurement v=\n');
  assert.equal(res.status, 400);
  const letters = await eventually(async () => {
    const page = (await (await rt.get(`/api/v1/deadletters?from=${since}&limit=100`)).json()) as { deadLetters: Array<{ device: string; payload: unknown }> };
    const ours = page.deadLetters.filter((l) => typeof l.payload === 'string' && /^(dl|nothing)/.test(l.payload));
    return ours.length >= 4 ? ours : undefined;
  }, 20_000, '4 dead letters');
  assert.deepEqual(letters.map((l) => [l.payload, l.device]).sort(), [
    ['dl,device=dl-named v=oops', 'dl-named'],
    ['dl,device=dl-named,device=dl-named v=1', 'dl-named'],
    ['dl-measurement v=', 'dl-measurement'],
    ['nothing-readable', 'unknown'],
  ]);
});

test('more lines than a request may hold is 413 naming the limit, before anything is kept, so clients split and resend', async () => {
  const lines = (n: number, device: string, from = 0) => Array.from({ length: n }, (_, i) => `big,device=${device} v=${from + i} ${1767225600000 + from + i}`).join('\n') + '\n';
  const since = new Date(Date.now() - 1000).toISOString();
  const v1 = await write(rt.url, '/write?db=x&precision=ms', lines(10_001, 'big-over'));
  assert.equal(v1.status, 413);
  assert.match((JSON.parse(v1.body) as { error: string }).error, /10,001 lines .*the limit is 10,000 lines per request/);
  const v2 = await write(rt.url, '/api/v2/write?org=o&bucket=b&precision=ms', lines(10_001, 'big-over'));
  assert.equal(v2.status, 413);
  const e2 = JSON.parse(v2.body) as { code: string; message: string };
  assert.equal(e2.code, 'request too large');
  assert.match(e2.message, /the limit is 10,000 lines/);
  // Line breaks inside string values are not points: the parser counts, and still refuses one past the limit.
  const strings = `big,device=big-over s="a\nb" 1767225500000\n${lines(10_000, 'big-over')}`;
  assert.equal((await write(rt.url, '/write?db=x&precision=ms', strings)).status, 413);
  // Comments and blank lines do not count; a body at the limit is written whole.
  const atLimit = `# a comment\n\n${lines(9_999, 'big-at')}big,device=big-at s="x\ny" 1767225700000\n`;
  const ok = await write(rt.url, '/write?db=x&precision=ms', atLimit);
  assert.equal(ok.status, 204, ok.body);
  assert.equal((await stored('big-at', 10_000)).length, 10_000);
  // Written after the refused ones: once it is stored, they would be too, had they been kept.
  assert.equal((await write(rt.url, '/write?db=x&precision=ms', lines(1, 'big-over', 20_000))).status, 204);
  assert.deepEqual((await stored('big-over', 1)).map((x) => x.fields.v), [20_000]);
  const letters = (await (await rt.get(`/api/v1/deadletters?from=${since}&device=big-over`)).json()) as { deadLetters: unknown[] };
  assert.equal(letters.deadLetters.length, 0);
});

test('a line over a per-reading limit (fields, string length) is refused on its own as a bad line: the other lines of the body are written', async () => {
  const since = new Date(Date.now() - 1000).toISOString();
  // influxd answers a body with one bad line 400 "partial write" and writes the rest; ours does the same.
  const parseBad = 'pw,device=pw-ok v=1 1767225600000\npw,device=pw-ok v=oops 1767225601000\n';
  const theirs = await write(influxd.url, '/write?db=d&precision=ms', parseBad);
  assert.equal(theirs.status, 400, theirs.body);
  assert.match(theirs.body, /partial write/);
  const manyFields = `pw,device=pw-fields ${Array.from({ length: 1001 }, (_, i) => `f${i}=${i}`).join(',')} 1767225602000`;
  // A line break inside the long string is part of it: the line after the string is read as the next line.
  const longString = `pw,device=pw-string s="${'x'.repeat(40_000)}\n${'y'.repeat(30_000)}",v=2 1767225603000`;
  const body = `pw,device=pw-lim v=1 1767225600000\n${manyFields}\n${longString}\npw,device=pw-lim v=4 1767225604000\n`;
  for (const path of ['/write?db=x&precision=ms', '/api/v2/write?org=o&bucket=b&precision=ms']) {
    const ours = await write(rt.url, path, body);
    assert.equal(ours.status, 400, ours.body);
    const message = path.startsWith('/write') ? (JSON.parse(ours.body) as { error: string }).error : (JSON.parse(ours.body) as { code: string; message: string }).message;
    assert.match(message, /^partial write: unable to parse 'pw,device=pw-fields .*line 2 has more than 1,000 fields.*\(and 1 more bad line\) dropped=2$/);
  }
  assert.deepEqual((await stored('pw-lim', 2)).map((x) => x.fields.v), [1, 4]);
  const letters = await eventually(async () => {
    const page = (await (await rt.get(`/api/v1/deadletters?from=${since}&limit=100`)).json()) as { deadLetters: Array<{ device: string; code: string }> };
    const ours = page.deadLetters.filter((l) => l.device === 'pw-fields' || l.device === 'pw-string');
    return ours.length >= 4 ? ours : undefined;
  }, 20_000, '4 dead letters');
  assert.deepEqual(letters.map((l) => `${l.device} ${l.code}`).sort(), ['pw-fields TOO_MANY_FIELDS', 'pw-fields TOO_MANY_FIELDS', 'pw-string STRING_TOO_LONG', 'pw-string STRING_TOO_LONG']);
});
