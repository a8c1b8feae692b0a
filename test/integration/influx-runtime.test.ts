/**
 * `npm start` with UPPERSTACK_INFLUX_URL: the default pack writes every
 * reading to DuckDB and to a real influxd (Debian's 1.6.7, started here), and a
 * message settles only once both have it. Outages of the InfluxDB server:
 *
 * - stopped in the middle of a steady stream and started again: every reading
 *   present exactly once. The outage lasts 10 s rather than 30: the spool takes
 *   over at the first failed write, and 10 s span five retries of the growing
 *   backoff (0.5, 1, 2, 4 s ...), which is what a longer outage also exercises;
 *   a longer one would only add CI time.
 * - the runtime killed (SIGKILL) mid-stream while the server is down, both
 *   started again: every reading the broker acknowledged is in InfluxDB.
 * - a spool budget of 1 MB with the server down: the input stops acknowledging
 *   (backpressure), nothing is dropped, and the backlog drains once it is back.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { eventually, startRuntime, type Runtime } from '../helpers/runtime';
import { influxQuery, startInfluxd, type TsdbServer } from '../helpers/influxd';

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

function publish(client: MqttClient, device: string, seq: number): Promise<void> {
  return client.publishAsync(`devices/${device}/telemetry`, JSON.stringify({ ts: BASE + seq, seq }), { qos: 1 }).then(() => undefined);
}

test('npm start with UPPERSTACK_INFLUX_URL: readings go to DuckDB and InfluxDB; /health shows the sink; an outage of the server mid-stream loses nothing and duplicates nothing', { timeout: 240_000 }, async () => {
  const rt = await startRuntime({ env: env('pack') });
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqttPort}`, { clientId: 'steady', reconnectPeriod: 0 });
  try {
    const TOTAL = 600;
    const sends: Array<Promise<void>> = [];
    for (let seq = 0; seq < TOTAL; seq++) {
      sends.push(publish(client, 'steady', seq));
      // A steady stream of about 20 readings a second, the server away for the middle 10 s of it.
      if (seq === 200) await influx.stop();
      if (seq === 400) await influx.start();
      await new Promise((r) => setTimeout(r, 50));
    }
    await Promise.all(sends);
    const seqs = await eventually(async () => {
      const s = await influxSeqs('pack', 'steady');
      return s.length >= TOTAL ? s : undefined;
    }, 90_000, 'every reading in InfluxDB');
    assert.equal(seqs.length, TOTAL, 'each reading exactly once');
    assert.deepEqual([...seqs].sort((a, b) => a - b), Array.from({ length: TOTAL }, (_, i) => i));
    assert.equal((await duckSeqs(rt, 'steady')).size, TOTAL);

    const health = (await (await fetch(`${rt.url}/health`)).json()) as { components: Record<string, { sink?: { kind: string; retries: number; queued: number; spooled: number; written: number } }> };
    const entry = Object.entries(health.components).find(([name]) => name.endsWith('/influx'));
    assert.ok(entry, `an entry for the InfluxDB sink: ${Object.keys(health.components).join(', ')}`);
    assert.equal(entry[1].sink?.kind, 'influxdb');
    assert.ok((entry[1].sink?.retries ?? 0) >= 1, 'the outage shows as retries');
    assert.equal(entry[1].sink?.spooled, 0);
    assert.ok((entry[1].sink?.written ?? 0) >= TOTAL);
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
  const dataDir = mkdtempSync(join(tmpdir(), 'us-influx-budget-'));
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
