/**
 * `npm start` with UPPERSTACK_INFLUX_URL: the default pack writes every
 * reading to DuckDB and to a real influxd (Debian's 1.6.7, started here), and a
 * message settles only once both have it. Outages of the InfluxDB server:
 *
 * - stopped in the middle of a steady stream until the writer's backoff has
 *   reached its 15 s ceiling (five failed retries of its spool, 0.5 + 1 + 2 +
 *   4 + 8 s, counted by /health), and started again: every reading present
 *   exactly once, the spool written by a further retry (the runtime's health
 *   monitor probes the sink every few seconds and retries at once when it
 *   answers again, else the retry after the 15 s wait).
 * - the runtime killed (SIGKILL) mid-stream while the server is down, both
 *   started again: every reading the broker acknowledged is in InfluxDB.
 * - a spool budget of 1 MB with the server down: the input stops acknowledging
 *   (backpressure), nothing is dropped, and the backlog drains once it is back.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { eventually, startRuntime, type Runtime } from '../helpers/runtime';
import { influxQuery, startInfluxd, type TsdbServer } from '../helpers/influxd';
import { tempDir } from '../helpers/temp';

const BASE = Date.UTC(2026, 0, 1);
let influx: TsdbServer;

before(async () => {
  influx = await startInfluxd();
});
after(async () => {
  await influx?.destroy();
});

function env(db: string): Record<string, string> {
  return { UPPERSTACK_INFLUX_URL: influx.url, UPPERSTACK_INFLUX_DB: db };
}

/** The seq values InfluxDB holds for a device, with how many points each has (always 1: a point is its series and time). */
async function influxSeqs(db: string, device: string): Promise<number[]> {
  const [res] = await influxQuery(influx, `SELECT seq FROM telemetry WHERE device = '${device}'`, db);
  return (res.series?.[0]?.values ?? []).map((v) => v[1] as number);
}

async function duckSeqs(rt: Runtime, device: string): Promise<Set<number>> {
  const seen = new Set<number>();
  let cursor = '';
  for (;;) {
    const res = await rt.get(`/api/v1/readings?device=${device}&limit=10000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as { readings: Array<{ fields: { seq: number } }>; next?: string };
    for (const r of body.readings) seen.add(r.fields.seq);
    if (!body.next) return seen;
    cursor = body.next;
  }
}

interface SinkHealth {
  kind: string;
  retries: number;
  queued: number;
  spooled: number;
  written: number;
}

/** The InfluxDB sink's entry in /health. */
async function influxHealth(rt: Runtime): Promise<SinkHealth> {
  const health = (await (await fetch(`${rt.url}/health`)).json()) as { components: Record<string, { sink?: SinkHealth }> };
  const entry = Object.entries(health.components).find(([name]) => name.endsWith('/influx'));
  assert.ok(entry?.[1].sink, `an entry for the InfluxDB sink: ${Object.keys(health.components).join(', ')}`);
  return entry[1].sink;
}

function publish(client: MqttClient, device: string, seq: number): Promise<void> {
  return client.publishAsync(`devices/${device}/telemetry`, JSON.stringify({ ts: BASE + seq, seq }), { qos: 1 }).then(() => undefined);
}

test('npm start with UPPERSTACK_INFLUX_URL: readings go to DuckDB and InfluxDB with the device registry\'s tags; /health shows the sink; an outage of the server mid-stream, as long as the writer\'s longest backoff, loses nothing and duplicates nothing', { timeout: 300_000 }, async () => {
  const rt = await startRuntime({ env: env('pack') });
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqttPort}`, { clientId: 'steady', reconnectPeriod: 0 });
  try {
    // A registered device: its registry tags are written as tags of its points (and win over what it sends).
    const made = await fetch(`${rt.url}/api/v1/devices`, {
      method: 'POST',
      headers: { authorization: `Bearer ${rt.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'tagged', tags: { customer: 'acme', site: 'north' } }),
    });
    assert.equal(made.status, 201, await made.clone().text());
    const { secret } = (await made.json()) as { secret: string };
    const sent = await fetch(`${rt.url}/ingest/tagged`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ts: BASE, fields: { t: 21.5 }, tags: { customer: 'spoofed', room: '12' } }),
    });
    assert.equal(sent.status, 202, await sent.text());
    const tagged = await eventually(async () => {
      const [res] = await influxQuery(influx, `SELECT * FROM telemetry WHERE device = 'tagged'`, 'pack');
      const series = res.series?.[0];
      return series ? Object.fromEntries(series.columns.map((c, i) => [c, series.values[0][i]])) : undefined;
    }, 30_000, 'the registered device\'s point in InfluxDB');
    assert.deepEqual(tagged, { time: BASE, customer: 'acme', device: 'tagged', room: '12', site: 'north', t: 21.5 });
    const [keys] = await influxQuery(influx, 'SHOW TAG KEYS FROM telemetry', 'pack');
    assert.deepEqual(keys.series?.[0]?.values.map((v) => v[0]).sort(), ['customer', 'device', 'room', 'site'], 'registry tags are tags, not fields');

    const sends: Array<Promise<void>> = [];
    // A steady stream of up to 50 readings a second; the server goes away after 200 readings and comes
    // back once the writer has tried its spool again RETRIES times, asked every 25 readings (the last fails
    // as the others: a refused connection is answered long before influxd is up), so its next wait is the
    // backoff's ceiling; then 200 more.
    const RETRIES = 5;
    let seq = 0;
    let stoppedAt = 0;
    let retriesBefore = 0;
    let retriesDuring = 0;
    let restartedAt = -1;
    while (restartedAt < 0 || seq < restartedAt + 200) {
      sends.push(publish(client, 'steady', seq));
      seq++;
      if (seq === 200) {
        retriesBefore = (await influxHealth(rt)).retries;
        await influx.stop();
        stoppedAt = Date.now();
      }
      if (stoppedAt && restartedAt < 0 && seq % 25 === 0) retriesDuring = (await influxHealth(rt)).retries - retriesBefore;
      if (restartedAt < 0 && retriesDuring >= RETRIES) {
        await influx.start();
        restartedAt = seq;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    const TOTAL = seq;
    await Promise.all(sends);
    const seqs = await eventually(async () => {
      const s = await influxSeqs('pack', 'steady');
      return s.length >= TOTAL ? s : undefined;
    }, 90_000, 'every reading in InfluxDB');
    assert.equal(seqs.length, TOTAL, 'each reading exactly once');
    assert.deepEqual([...seqs].sort((a, b) => a - b), Array.from({ length: TOTAL }, (_, i) => i));
    // The two sinks write independently: InfluxDB having every reading says nothing of DuckDB's last write.
    const duck = await eventually(async () => {
      const d = await duckSeqs(rt, 'steady');
      return d.size >= TOTAL ? d : undefined;
    }, 30_000, 'every reading in DuckDB');
    assert.equal(duck.size, TOTAL);

    const sink = await influxHealth(rt);
    assert.equal(sink.kind, 'influxdb');
    // The failed ones, and at least one more that wrote the spool.
    assert.ok(sink.retries - retriesBefore >= RETRIES + 1, `the outage shows as retries: ${sink.retries - retriesBefore}`);
    assert.equal(sink.spooled, 0);
    assert.ok(sink.written >= TOTAL);
    assert.match(rt.output(), /influx: .*InfluxDB 1\.6\.7.*answers; writing with the v1 API/);
  } finally {
    client.end(true);
    await rt.stop();
    if (!influx.running()) await influx.start();
  }
});

test('kill -9 of the runtime while InfluxDB is down: after both restart, every acknowledged reading is in InfluxDB', { timeout: 240_000 }, async () => {
  const first = await startRuntime({ env: env('crash') });
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${first.mqttPort}`, { clientId: 'crash', reconnectPeriod: 0 });
  client.on('error', () => undefined);
  const acked = new Set<number>();
  const sends: Array<Promise<void>> = [];
  for (let seq = 0; seq < 3000; seq++) {
    sends.push(publish(client, 'crash', seq).then(() => void acked.add(seq), () => undefined));
    if (seq === 1000) await influx.stop();
    if (seq % 100 === 99) await Promise.race([Promise.all(sends.slice(-100)), new Promise((r) => setTimeout(r, 2000))]);
  }
  await Promise.race([Promise.allSettled(sends), new Promise((r) => setTimeout(r, 5000))]);
  await first.kill9();
  client.end(true);
  await Promise.allSettled(sends);
  assert.ok(acked.size > 1000, `acknowledged ${acked.size}`);
  await influx.start();
  const second = await startRuntime({ dataDir: first.dataDir, httpPort: first.httpPort, mqttPort: first.mqttPort, env: env('crash') });
  try {
    const stored = await eventually(async () => {
      const s = new Set(await influxSeqs('crash', 'crash'));
      for (const seq of acked) if (!s.has(seq)) return undefined;
      return s;
    }, 120_000, 'every acknowledged reading in InfluxDB');
    assert.ok(stored.size >= acked.size);
  } finally {
    await second.stop();
  }
});

test('spool budget reached while InfluxDB is down: the input pushes back, nothing is dropped, the backlog drains after recovery', { timeout: 300_000 }, async () => {
  // The default pack with a spool budget of 1 MB per sink (about 10,000 readings).
  const dataDir = tempDir('us-influx-budget-');
  const pack = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'flows', 'pipeline.json'), 'utf8')) as Array<Record<string, unknown>>;
  const cfg = pack.find((n) => n.id === 'us_store_cfg') as { spoolBudget: number };
  cfg.spoolBudget = 1;
  writeFileSync(join(dataDir, 'flows.json'), JSON.stringify(pack));
  await influx.stop();
  const rt = await startRuntime({ dataDir, env: env('budget') });
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqttPort}`, { clientId: 'budget', reconnectPeriod: 0 });
  try {
    const TOTAL = 40_000;
    const acked = new Set<number>();
    const sends: Array<Promise<void>> = [];
    for (let seq = 0; seq < TOTAL; seq++) {
      sends.push(publish(client, 'budget', seq).then(() => void acked.add(seq)));
      if (seq % 500 === 499) await new Promise((r) => setImmediate(r));
    }
    // Acknowledgements stop: the spool is at its budget, messages stay unsettled, the input pauses.
    let last = -1;
    await eventually(async () => {
      const n = acked.size;
      const still = n === last;
      last = n;
      await new Promise((r) => setTimeout(r, 3000));
      return still && n < TOTAL ? n : undefined;
    }, 120_000, 'acknowledgements to stop');
    assert.ok(acked.size < TOTAL, `held back: ${acked.size} of ${TOTAL} acknowledged`);
    assert.match(rt.output(), /spool has reached its disk budget/);
    await influx.start();
    await Promise.all(sends);
    assert.equal(acked.size, TOTAL);
    const seqs = await eventually(async () => {
      const s = await influxSeqs('budget', 'budget');
      return s.length >= TOTAL ? s : undefined;
    }, 180_000, 'the backlog in InfluxDB');
    assert.equal(new Set(seqs).size, TOTAL);
    assert.equal((await duckSeqs(rt, 'budget')).size, TOTAL);
  } finally {
    client.end(true);
    await rt.stop();
    if (!influx.running()) await influx.start();
  }
});
