/**
 * The InfluxDB and VictoriaMetrics sinks against the real servers (Debian's
 * influxd 1.6.7 and victoria-metrics), started here on free loopback ports:
 * escaping round-trips, 100,000 readings read back with their exact values and
 * types, a batch the server refuses in part (400 "partial write") bisected
 * until the bad reading is dead-lettered with the server's message, and
 * influxd frozen with SIGSTOP while the writer keeps writing.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { InfluxSink, type InfluxSinkOptions } from '../../nodes/lib/influx/sink';
import { FieldTypeRegistry } from '../../nodes/lib/influx/field-types';
import { DEFAULT_MAPPING } from '../../nodes/lib/influx/line';
import { DurableWriter } from '../../nodes/lib/store/writer';
import { Journal } from '../../nodes/lib/journal/journal';
import type { DeadLetter } from '../../nodes/lib/store/types';
import type { Reading } from '../../nodes/lib/reading';
import { influxQuery, startInfluxd, startVictoria, type TsdbServer } from '../helpers/influxd';
import { tempDir } from '../helpers/temp';

const T0 = Date.UTC(2026, 0, 1);

function sinkOptions(server: TsdbServer, extra: Partial<InfluxSinkOptions>): InfluxSinkOptions {
  return {
    server: 'influxdb',
    url: server.url,
    api: 'v1',
    database: 'upperstack',
    precision: 'ms',
    mapping: DEFAULT_MAPPING,
    types: new FieldTypeRegistry(),
    gzipAbove: 65536,
    timeoutMs: 10000,
    create: true,
    retentionMs: 0,
    ...extra,
  };
}

/** A writer on a sink, with a spool in a temporary folder and dead letters collected. */
function writerFor(sink: InfluxSink, letters: DeadLetter[]): DurableWriter {
  const spool = new Journal({ dir: tempDir('us-influx-spool-') });
  return new DurableWriter(sink, spool, {
    batchSize: 5000,
    maxWrite: 5000,
    flushMs: 50,
    retryMs: 100,
    deadLetters: { writeDeadLetters: (l, durable) => (letters.push(...l), durable()) },
  });
}

function writeAll(w: DurableWriter, readings: Reading[], per = 1000): Promise<void> {
  const parts: Promise<void>[] = [];
  for (let i = 0; i < readings.length; i += per) {
    const part = readings.slice(i, i + per);
    parts.push(new Promise((resolve, reject) => w.write(part, (err) => (err ? reject(err) : resolve()))));
  }
  return Promise.all(parts).then(() => undefined);
}

/** Names and values that need every escaping rule, plus emoji. */
const NASTY = ['plain', 'with space', 'comma,here', 'eq=here', 'quote"here', 'back\\slash', 'double\\\\back', 'esc\\,comma', 'emoji 😀 é', 'mix \\ , = " x', 'lead\\ space'];
const NASTY_FIELDS = ['f space', 'f,comma', 'f=eq', 'f"q', 'f\\b'];
const NASTY_TEXT = ['say "hi"', 'back\\slash', 'ends\\', 'multi\nline', '😀', ''];

function escapingReadings(): Reading[] {
  const out: Reading[] = [];
  NASTY.forEach((device, i) => {
    out.push({ device, ts: T0 + i, fields: { v: i + 0.5 }, tags: { site: NASTY[(i + 3) % NASTY.length] } });
  });
  NASTY_FIELDS.forEach((f, i) => out.push({ device: 'fields', ts: T0 + 100 + i, fields: { [f]: i + 1 }, tags: {} }));
  NASTY_TEXT.forEach((s, i) => out.push({ device: 'texts', ts: T0 + 200 + i, fields: { s, n: i }, tags: {} }));
  out.push({ device: 'meas', ts: T0 + 300, fields: { v: 1 }, tags: { measurement: 'm space,comma=eq"q\\b' } });
  return out;
}

describe('InfluxDB 1.x (influxd 1.6.7)', () => {
  let server: TsdbServer;
  before(async () => {
    server = await startInfluxd();
  });
  after(async () => {
    await server?.destroy();
  });

  test('escaping: device ids, tags, field names, texts and measurements read back identical; a trailing backslash is dead-lettered', async () => {
    const letters: DeadLetter[] = [];
    const sink = new InfluxSink(sinkOptions(server, { database: 'esc' }));
    await sink.open();
    const w = writerFor(sink, letters);
    w.start();
    const input = escapingReadings();
    input.push({ device: 'ends\\', ts: T0 + 400, fields: { v: 1 }, tags: {} });
    await writeAll(w, input, 7);
    await w.close();
    await sink.close();

    const [res] = await influxQuery(server, 'SELECT * FROM /.*/ GROUP BY *', 'esc');
    const got = new Map<string, { measurement: string; tags: Record<string, string>; row: Record<string, unknown> }>();
    for (const s of res.series ?? []) {
      for (const v of s.values) {
        const row = Object.fromEntries(s.columns.map((c, i) => [c, v[i]]));
        const tags = Object.fromEntries(Object.entries(s.tags ?? {}).filter(([, x]) => x !== ''));
        got.set(`${tags.device}@${row.time}`, { measurement: s.name, tags, row });
      }
    }
    for (const r of input.slice(0, -1)) {
      const g = got.get(`${r.device}@${r.ts}`);
      assert.ok(g, `reading of device ${JSON.stringify(r.device)} at ${r.ts} is stored`);
      const { measurement, ...tags } = r.tags;
      assert.equal(g.measurement, measurement ?? 'telemetry');
      assert.deepEqual(g.tags, { ...tags, device: r.device });
      for (const [f, v] of Object.entries(r.fields)) assert.deepEqual(g.row[f], v, `field ${JSON.stringify(f)} of ${JSON.stringify(r.device)}`);
    }
    assert.equal(letters.length, 1);
    assert.equal(letters[0].device, 'ends\\');
    assert.equal(letters[0].code, 'STORE_REJECTED');
    assert.match(letters[0].reason, /ends with a backslash, which InfluxDB 1\.x cannot store/);
  });

  test('100,000 readings are read back with their exact values and types (float, declared integer, boolean, text)', async () => {
    const letters: DeadLetter[] = [];
    const sink = new InfluxSink(sinkOptions(server, { database: 'bulk', types: new FieldTypeRegistry({ n: 'integer' }) }));
    await sink.open();
    const w = writerFor(sink, letters);
    w.start();
    const input: Reading[] = [];
    for (let i = 0; i < 100_000; i++) {
      const device = `dev-${i % 100}`;
      // The first value of t is a whole number: it must not make t an integer field.
      input.push({ device, ts: T0 + Math.floor(i / 100) * 1000, fields: { t: i < 100 ? 20 : Math.random() * 100 - 50, n: i, ok: i % 3 === 0, s: `r${i}` }, tags: {} });
    }
    await writeAll(w, input);
    assert.equal(w.stats().written, 100_000);
    await w.close();
    await sink.close();
    assert.deepEqual(letters, []);

    const [types] = await influxQuery(server, 'SHOW FIELD KEYS FROM telemetry', 'bulk');
    assert.deepEqual(Object.fromEntries(types.series![0].values as Array<[string, string]>), { n: 'integer', ok: 'boolean', s: 'string', t: 'float' });
    const byKey = new Map(input.map((r) => [`${r.device}@${r.ts}`, r]));
    let seen = 0;
    for (let d = 0; d < 100; d += 25) {
      // A quarter of the devices per query keeps each answer a few MB.
      const [res] = await influxQuery(server, `SELECT t, n, ok, s FROM telemetry WHERE device =~ /^dev-(${Array.from({ length: 25 }, (_, k) => d + k).join('|')})$/ GROUP BY device`, 'bulk');
      for (const s of res.series ?? []) {
        for (const [time, t, n, ok, str] of s.values) {
          const r = byKey.get(`${s.tags!.device}@${time}`);
          assert.ok(r, `unexpected point ${s.tags!.device}@${time}`);
          assert.equal(t, r.fields.t);
          assert.equal(n, r.fields.n);
          assert.equal(ok, r.fields.ok);
          assert.equal(str, r.fields.s);
          seen++;
        }
      }
    }
    assert.equal(seen, 100_000);
  });

  test('a 400 partial write (field type conflict made by another writer) is bisected: the bad reading is dead-lettered with the server message, the rest stored', async () => {
    const letters: DeadLetter[] = [];
    const sink = new InfluxSink(sinkOptions(server, { database: 'conflict' }));
    await sink.open();
    // Another writer makes `w` a text field after the sink learnt what the server had.
    const res = await fetch(`${server.url}/write?db=conflict&precision=ms`, { method: 'POST', body: `telemetry,device=other w="text" ${T0}` });
    assert.equal(res.status, 204);
    const w = writerFor(sink, letters);
    w.start();
    const input: Reading[] = Array.from({ length: 500 }, (_, i) => ({ device: 'd', ts: T0 + 1000 + i, fields: (i === 321 ? { v: i, w: 1.5 } : { v: i }) as Reading["fields"], tags: {} }));
    await writeAll(w, input, 500);
    await w.close();
    await sink.close();
    assert.equal(letters.length, 1);
    assert.match(letters[0].reason, /field type conflict/);
    assert.match(letters[0].payload, /"w":1\.5/);
    const [count] = await influxQuery(server, `SELECT count(v) FROM telemetry WHERE device = 'd'`, 'conflict');
    assert.equal(count.series![0].values[0][1], 499);
  });

  test('points older than the retention policy (influxd answers "partial write: points beyond retention policy dropped=N") are dead-lettered together as BEYOND_RETENTION with the cutoff, without bisection; the rest is stored', async () => {
    const letters: DeadLetter[] = [];
    const sink = new InfluxSink(sinkOptions(server, { database: 'kept1h', retentionMs: 3_600_000 }));
    await sink.open();
    let writes = 0;
    const write = sink.write.bind(sink);
    sink.write = (r) => (writes++, write(r));
    const w = writerFor(sink, letters);
    w.start();
    const now = Date.now();
    // Old and recent readings interleaved: the server names only how many it dropped.
    const input: Reading[] = Array.from({ length: 200 }, (_, i) => ({ device: `d${i % 4}`, ts: i % 3 === 0 ? now - 2 * 3_600_000 - i : now - i, fields: { v: i }, tags: {} }));
    await writeAll(w, input, 200);
    await w.close();
    await sink.close();
    const old = input.filter((_, i) => i % 3 === 0);
    assert.equal(letters.length, old.length);
    assert.ok(letters.every((l) => l.code === 'BEYOND_RETENTION'), letters.map((l) => l.code).join());
    assert.deepEqual(letters.map((l) => JSON.parse(l.payload).ts).sort(), old.map((r) => r.ts).sort());
    const cutoff = /cutoff (\S+)\)/.exec(letters[0].reason)?.[1];
    assert.ok(cutoff && Math.abs(Date.parse(cutoff) - (now - 3_600_000)) < 600_000, letters[0].reason);
    assert.match(letters[0].reason, /points beyond retention policy dropped=67.*retention policy "upperstack" keeps 1h/);
    // The refused write and the rest written again: no reading-by-reading bisection.
    assert.equal(writes, 2);
    const [count] = await influxQuery(server, 'SELECT count(v) FROM telemetry', 'kept1h');
    assert.equal(count.series![0].values[0][1], input.length - old.length);
  });

  test('an outage: readings wait in the spool with a long backoff; once the health check sees influxd answering again they are written at once', async () => {
    const letters: DeadLetter[] = [];
    const sink = new InfluxSink(sinkOptions(server, { database: 'outage', timeoutMs: 2000 }));
    await sink.open();
    // A backoff far longer than the test: only the health check can bring the spool back in time.
    const w = new DurableWriter(sink, new Journal({ dir: tempDir('us-influx-spool-') }), { flushMs: 20, retryMs: 600_000, maxRetryMs: 600_000, deadLetters: { writeDeadLetters: (l, durable) => (letters.push(...l), durable()) } });
    w.start();
    const probe = async () => {
      const h = await sink.health();
      await w.probed(h.ok);
      return h;
    };
    try {
      await writeAll(w, [{ device: 'o', ts: T0, fields: { v: 1 }, tags: {} }]);
      await server.stop();
      await writeAll(w, [{ device: 'o', ts: T0 + 1, fields: { v: 2 }, tags: {} }]);
      await writeAll(w, [{ device: 'o', ts: T0 + 2, fields: { v: 3 }, tags: {} }]);
      assert.equal((await probe()).ok, false);
      assert.equal(w.stats().spooled, 2);
      assert.match(w.stats().lastError ?? '', /ECONNREFUSED|connect/i);
      await server.start();
      const h = await probe();
      assert.equal(h.ok, true, h.detail);
      const s = w.stats();
      // The first spooled write went through before the report was made: no stale failure in it.
      assert.deepEqual([s.failingSince, s.lastError], [undefined, undefined]);
      await writeAll(w, [{ device: 'o', ts: T0 + 3, fields: { v: 4 }, tags: {} }]);
      // The rest of the spool, and what came behind it, follow without waiting for the backoff.
      for (let i = 0; w.stats().spooled > 0; i++) {
        assert.ok(i < 500, 'the spool is written');
        await new Promise((r) => setTimeout(r, 20));
      }
      const [res] = await influxQuery(server, 'SELECT v FROM telemetry', 'outage');
      assert.deepEqual(res.series![0].values.map((v) => v[1]), [1, 2, 3, 4]);
      assert.deepEqual(letters, []);
    } finally {
      await w.close();
      await sink.close();
    }
  });

  test('influxd frozen (SIGSTOP) mid-stream: writes spool as an outage and the health check fails saying why, however many requests went unanswered; once it runs again every reading is there once', { timeout: 120_000 }, async (t) => {
    const letters: DeadLetter[] = [];
    const sink = new InfluxSink(sinkOptions(server, { database: 'frozen', timeoutMs: 500 }));
    await sink.open();
    const w = writerFor(sink, letters);
    w.start();
    // Also when the test times out: a frozen server and a writer waiting on it would keep the file running.
    t.after(async () => {
      server.resume();
      await w.close();
      await sink.close();
    });
    const reading = (i: number): Reading => ({ device: 'frozen', ts: T0 + i, fields: { v: i }, tags: {} });
    await writeAll(w, [reading(0)]);
    server.pause();
    // One write at a time, each timed out and spooled, then retried from the spool: far more unanswered
    // requests than the sink keeps sockets.
    for (let i = 1; i <= 8; i++) await writeAll(w, [reading(i)]);
    for (let i = 0; w.stats().retries < 6; i++) {
      assert.ok(i < 1000, `the writer retries the spool (${w.stats().retries} retries)`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const frozen = await sink.health();
    assert.equal(frozen.ok, false);
    assert.match(frozen.detail, /\(frozen\): no answer within 0\.5 s/);
    assert.match(w.stats().lastError ?? '', /no answer within 0\.5 s/);
    server.resume();
    for (let i = 0; w.stats().spooled > 0 || !(await sink.health()).ok; i++) {
      assert.ok(i < 1000, `the spool is written (${w.stats().spooled} left)`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const [res] = await influxQuery(server, 'SELECT v FROM telemetry', 'frozen');
    assert.deepEqual(
      res.series![0].values.map((v) => v[1]),
      [0, 1, 2, 3, 4, 5, 6, 7, 8],
    );
    assert.deepEqual(letters, []);
  });

  test('with authentication: the database is created with its retention policy when the user may, and the sink says so when not', async () => {
    const auth = { user: 'admin', password: 'secret pass' };
    const secured = await startInfluxd({ auth });
    try {
      const notices: string[] = [];
      const sink = new InfluxSink(sinkOptions(secured, { database: 'made', user: auth.user, password: auth.password, retentionMs: 30 * 86_400_000, onNotice: (t) => notices.push(t) }));
      await sink.open();
      const w = writerFor(sink, []);
      w.start();
      await writeAll(w, [{ device: 'd', ts: Date.now(), fields: { v: 1 }, tags: {} }]);
      await w.close();
      await sink.close();
      assert.ok(notices.some((n) => /database "made" with retention policy "upperstack" of 30d is ready/.test(n)), notices.join('\n'));
      const [rps] = await influxQuery(secured, 'SHOW RETENTION POLICIES ON made', undefined, auth);
      const rp = rps.series![0].values.find((v) => v[0] === 'upperstack');
      assert.ok(rp, 'retention policy created');
      assert.equal(rp[1], '720h0m0s');
      assert.equal(rp[4], true, 'it is the default policy (Grafana queries need no policy name)');
      const [pts] = await influxQuery(secured, 'SELECT v FROM telemetry', 'made', auth);
      assert.equal(pts.series![0].values.length, 1);

      // A user without admin rights cannot create a database: said clearly, and writes wait in the spool.
      await influxQuery(secured, `CREATE USER "writer" WITH PASSWORD 'w'`, undefined, auth);
      const notices2: string[] = [];
      const sink2 = new InfluxSink(sinkOptions(secured, { database: 'notmine', user: 'writer', password: 'w', onNotice: (t) => notices2.push(t) }));
      await sink2.open();
      assert.ok(notices2.some((n) => /cannot create database "notmine".*create it yourself or give the user admin rights/.test(n)), notices2.join('\n'));
      await assert.rejects(sink2.write([{ device: 'd', ts: Date.now(), fields: { v: 1 }, tags: {} }]), (err: Error) => err.name === 'StoreUnavailableError');
      await sink2.close();
    } finally {
      await secured.destroy();
    }
  });
});

describe('VictoriaMetrics through @influxdata/influxdb-client (/api/v2/write)', () => {
  let server: TsdbServer;
  before(async () => {
    server = await startVictoria();
  });
  after(async () => {
    await server?.destroy();
  });

  type Exported = Array<{ metric: Record<string, string>; values: number[]; timestamps: number[] }>;
  /**
   * Every series as VictoriaMetrics exports it: `<measurement>_<field>` with the tags as labels.
   * VictoriaMetrics makes new series searchable a little after it answered the write (its index is
   * updated in the background, later still on a loaded machine), so this asks again until at least
   * `samples` samples are exported or 30 s have passed; the test then checks what came back.
   */
  async function exported(match: string, samples: number): Promise<Exported> {
    const deadline = performance.now() + 30_000;
    for (;;) {
      await fetch(`${server.url}/internal/force_flush`).catch(() => undefined);
      const res = await fetch(`${server.url}/api/v1/export?${new URLSearchParams({ 'match[]': match })}`);
      assert.equal(res.status, 200);
      const text = await res.text();
      const series = text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Exported[number]);
      const count = series.reduce((n, s) => n + s.timestamps.length, 0);
      if (count >= samples || performance.now() > deadline) return series;
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  test('escaping: device ids, tags, field names and measurements read back identical, a trailing backslash too; text fields are left out, not stored as 0', async () => {
    const sink = new InfluxSink(sinkOptions(server, { server: 'victoriametrics', api: 'v2' }));
    await sink.open();
    const letters: DeadLetter[] = [];
    const w = writerFor(sink, letters);
    w.start();
    const input = escapingReadings().filter((r) => !Object.keys(r.fields).some((f) => f.includes('"')));
    input.push({ device: 'ends\\', ts: T0 + 400, fields: { v: 1 }, tags: { site: 'x\\' } });
    await writeAll(w, input, 7);
    // A quote in a field name would make VictoriaMetrics read the rest of the line as text: refused, dead-lettered.
    await writeAll(w, [{ device: 'q', ts: T0 + 500, fields: { 'f"q': 1 }, tags: {} }]);
    await w.close();
    await sink.close();
    assert.equal(sink.stats().skippedText, NASTY_TEXT.length);
    assert.equal(letters.length, 1);
    assert.match(letters[0].reason, /double quote in a field name/);
    const expected = input.reduce((n, r) => n + Object.values(r.fields).filter((v) => typeof v !== 'string').length, 0);
    const series = await exported('{__name__=~".+"}', expected);
    const got = new Map<string, number>();
    for (const s of series) {
      const { __name__: name, ...labels } = s.metric;
      s.timestamps.forEach((t, i) => got.set(JSON.stringify([name, labels, t]), s.values[i]));
    }
    for (const r of input) {
      const { measurement, ...tags } = r.tags;
      for (const [f, v] of Object.entries(r.fields)) {
        if (typeof v === 'string') continue;
        const key = JSON.stringify([`${measurement ?? 'telemetry'}_${f}`, { ...tags, device: r.device }, r.ts]);
        // Labels come back sorted by name: compare as sets.
        const match = [...got.entries()].find(([k]) => {
          const [n, l, t] = JSON.parse(k) as [string, Record<string, string>, number];
          const [n2, l2, t2] = JSON.parse(key) as [string, Record<string, string>, number];
          return n === n2 && t === t2 && JSON.stringify(Object.entries(l).sort()) === JSON.stringify(Object.entries(l2).sort());
        });
        assert.ok(match, `series ${key} is stored`);
        assert.equal(match[1], v);
      }
    }
    assert.equal(series.filter((s) => s.metric.__name__ === 'telemetry_s').length, 0, 'no text field became a series of zeros');
  });

  test('a reading before 1970, which VictoriaMetrics answers 204 and does not keep, is dead-lettered saying so rather than lost', async () => {
    const raw = await fetch(`${server.url}/api/v2/write?precision=ms`, { method: 'POST', body: 'early,device=raw v=1 -86400000\nearly,device=raw v=2 86400000\n' });
    assert.equal(raw.status, 204);
    const sink = new InfluxSink(sinkOptions(server, { server: 'victoriametrics', api: 'v2' }));
    await sink.open();
    const letters: DeadLetter[] = [];
    const w = writerFor(sink, letters);
    w.start();
    await writeAll(w, [{ device: 'pre', ts: -86_400_000, fields: { v: 1 }, tags: { measurement: 'early' } }, { device: 'pre', ts: T0, fields: { v: 2 }, tags: { measurement: 'early' } }]);
    await w.close();
    await sink.close();
    assert.equal(letters.length, 1);
    assert.match(letters[0].reason, /^the victoriametrics store refused this reading of device "pre": .*ts 1969-12-31T00:00:00\.000Z is before 1970, which VictoriaMetrics cannot keep$/);
    const series = await exported('{__name__="early_v"}', 2);
    assert.deepEqual(series.map((x) => [x.metric.device, x.timestamps]).sort(), [['pre', [T0]], ['raw', [86_400_000]]]);
  });

  test('100,000 readings are read back with their exact values (numbers of up to 12 significant digits; booleans as 1 and 0)', async () => {
    const letters: DeadLetter[] = [];
    const sink = new InfluxSink(sinkOptions(server, { server: 'victoriametrics', api: 'v2', mapping: { ...DEFAULT_MAPPING, measurement: 'bulk' } }));
    await sink.open();
    const w = writerFor(sink, letters);
    w.start();
    const input: Reading[] = [];
    for (let i = 0; i < 100_000; i++) {
      input.push({ device: `dev-${i % 100}`, ts: T0 + Math.floor(i / 100) * 1000, fields: { t: (Math.round(Math.random() * 1e8) - 5e7) / 1000, n: i, ok: i % 3 === 0 }, tags: {} });
    }
    await writeAll(w, input);
    await w.close();
    await sink.close();
    assert.deepEqual(letters, []);
    const byKey = new Map(input.map((r) => [`${r.device}@${r.ts}`, r]));
    for (const [field, expect] of [
      ['t', (r: Reading) => r.fields.t],
      ['n', (r: Reading) => r.fields.n],
      ['ok', (r: Reading) => (r.fields.ok ? 1 : 0)],
    ] as const) {
      const series = await exported(`bulk_${field}`, 100_000);
      let seen = 0;
      for (const s of series) {
        s.timestamps.forEach((t, i) => {
          const r = byKey.get(`${s.metric.device}@${t}`);
          assert.ok(r, `unexpected sample ${s.metric.device}@${t}`);
          assert.equal(s.values[i], expect(r), `${field} of ${s.metric.device}@${t}`);
          seen++;
        });
      }
      assert.equal(seen, 100_000, `every value of ${field} is there`);
    }
  });
});
