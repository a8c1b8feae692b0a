/**
 * `npm start` with UPPERSTACK_STORE=influxdb / victoriametrics: the server
 * (Debian's influxd 1.6.7 and victoria-metrics, started here) is the only
 * store, no embedded DuckDB. For each server:
 *
 * - readings in over MQTT and HTTP (a registered device: the registry lives in
 *   a file), read back exactly through the query API and the aggregate route;
 *   a bad message is listed by the dead letters API and can be replayed (the
 *   letters live in a file too); /health names the server;
 * - the server stopped mid-stream (3 s InfluxDB; VictoriaMetrics until the
 *   writer has retried 4 times, read from /health: 0.5 + 1 + 2 + 4 s of its
 *   growing backoff) while readings keep coming, and started again: /health
 *   says the store is failing meanwhile, and every reading is there exactly
 *   once afterwards (on VictoriaMetrics, which keeps duplicates, counted on its
 *   raw samples);
 * - the runtime killed (SIGKILL) mid-stream while the server is down, both
 *   started again: every acknowledged reading is there, the device registry too.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import mqtt, { type MqttClient } from 'mqtt';
import { eventually, startRuntime, type Runtime } from '../helpers/runtime';
import { startInfluxd, startVictoria, type TsdbServer } from '../helpers/influxd';

// Recent: nothing here depends on a retention pass, but the server's own retention must keep them.
const BASE = Date.now() - 3_600_000;
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface Row {
  ts: number;
  fields: Record<string, unknown>;
  tags?: Record<string, string>;
}

/**
 * Every reading of a device through the query API, page by page. The server is asked first to make what it
 * has taken searchable (VictoriaMetrics does so by itself within about 8 s): the API then answers from it.
 */
async function readAll(rt: Runtime, server: TsdbServer, device: string): Promise<Row[]> {
  await server.flush();
  const out: Row[] = [];
  let cursor = '';
  for (;;) {
    const res = await rt.get(`/api/v1/readings?device=${encodeURIComponent(device)}&limit=5000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    assert.equal(res.status, 200, await res.clone().text());
    const body = (await res.json()) as { readings: Array<Omit<Row, 'ts'> & { ts: string }>; next?: string };
    for (const r of body.readings) out.push({ ...r, ts: Date.parse(r.ts) });
    if (!body.next) return out;
    cursor = body.next;
  }
}

async function seqsOf(rt: Runtime, server: TsdbServer, device: string): Promise<number[]> {
  return (await readAll(rt, server, device)).map((r) => r.fields.seq as number);
}

function publish(client: MqttClient, device: string, seq: number): Promise<void> {
  return client.publishAsync(`devices/${device}/telemetry`, JSON.stringify({ ts: BASE + seq * 1000, seq, t: 20 + seq / 4 }), { qos: 1 }).then(() => undefined);
}

interface HealthBody {
  status: string;
  components: Record<string, { ok: boolean; sink?: { kind: string; spooled: number; retries: number } }>;
}

async function storeHealth(rt: Runtime): Promise<[string, HealthBody['components'][string]]> {
  const h = (await (await fetch(`${rt.url}/health`)).json()) as HealthBody;
  const stores = Object.entries(h.components).filter(([n]) => n.startsWith('store:'));
  assert.equal(stores.length, 1, `one store component: ${Object.keys(h.components).join(', ')}`);
  return stores[0];
}

for (const kind of ['influxdb', 'victoriametrics'] as const) {
  test(`UPPERSTACK_STORE=${kind}: no embedded store; MQTT and HTTP readings read back exactly through the API; dead letters listed; an outage mid-stream loses nothing; kill -9 while the server is down keeps every acknowledged reading`, { timeout: 400_000 }, async () => {
    const server: TsdbServer = kind === 'influxdb' ? await startInfluxd() : await startVictoria();
    const env = { UPPERSTACK_STORE: kind, UPPERSTACK_INFLUX_URL: server.url, UPPERSTACK_INFLUX_DB: 'only' };
    let rt = await startRuntime({ env });
    dirs.push(rt.dataDir);
    let client: MqttClient | undefined;
    try {
      // No DuckDB file: the server is the store.
      assert.deepEqual(readdirSync(rt.dataDir).filter((f) => f.endsWith('.duckdb')), []);
      const [name, comp] = await storeHealth(rt);
      assert.equal(comp.sink?.kind, kind, name);
      assert.equal(comp.ok, true);

      // HTTP, from a registered device (the registry is kept in a file in this mode).
      const made = await fetch(`${rt.url}/api/v1/devices`, {
        method: 'POST',
        headers: { authorization: `Bearer ${rt.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ id: 'meter-1', tags: { site: 'north' } }),
      });
      assert.equal(made.status, 201, await made.clone().text());
      const { secret } = (await made.json()) as { secret: string };
      const sent = await fetch(`${rt.url}/ingest/meter-1`, {
        method: 'POST',
        headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
        body: JSON.stringify([
          { ts: BASE, fields: { kwh: 1234.5, on: 1 } },
          { ts: BASE + 60_000, fields: { kwh: 1240.25, on: 0 } },
        ]),
      });
      assert.equal(sent.status, 202, await sent.text());
      const meter = await eventually(async () => {
        const r = await readAll(rt, server, 'meter-1');
        return r.length === 2 ? r : undefined;
      }, 30_000, 'the HTTP readings through the API');
      assert.deepEqual(meter.map((r) => [r.ts, r.fields]), [
        [BASE, { kwh: 1234.5, on: 1 }],
        [BASE + 60_000, { kwh: 1240.25, on: 0 }],
      ]);
      assert.equal(meter[0].tags?.site, 'north', 'the registry\'s tags reach the server');

      // MQTT: a steady stream (a reading every 20 ms), the server stopped mid-stream and started again while
      // readings keep coming: 3 s for InfluxDB; for VictoriaMetrics (which keeps duplicate samples, so
      // "exactly once" is checked on its raw samples below) until its writer has tried the spool again
      // RETRIES times, each after a longer wait, as /health counts them.
      const outageMs = 3_000;
      const RETRIES = 4;
      const retriesNow = async () => (await storeHealth(rt))[1].sink?.retries ?? 0;
      client = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqttPort}`, { clientId: `only-${kind}`, reconnectPeriod: 0 });
      const sends: Array<Promise<void>> = [];
      let seq = 0;
      let downSeen = false;
      let stoppedAt = 0;
      let retriesBefore = 0;
      let retriesDuring = 0;
      let upAt = -1;
      for (; upAt < 0 || seq < upAt + 100; seq++) {
        sends.push(publish(client, 'steady', seq));
        if (seq === 100) {
          retriesBefore = await retriesNow();
          await server.stop();
          stoppedAt = Date.now();
        }
        if (seq === 200) {
          // While it is down, /health says so for the store.
          const [, during] = await eventually(async () => {
            const e = await storeHealth(rt);
            return e[1].ok ? undefined : e;
          }, 30_000, 'the store failing in /health');
          downSeen = !during.ok;
        }
        if (seq > 200 && upAt < 0) {
          // Asked every 25 readings (half a second).
          if (kind === 'victoriametrics' && seq % 25 === 0) retriesDuring = (await retriesNow()) - retriesBefore;
          if (kind === 'victoriametrics' ? retriesDuring >= RETRIES : Date.now() - stoppedAt >= outageMs) {
            await server.start();
            upAt = seq;
          }
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      const total = seq;
      await Promise.all(sends);
      assert.ok(downSeen);
      assert.ok(upAt > 200, `readings went on during the outage (up again at ${upAt} of ${total})`);
      if (kind === 'victoriametrics') assert.ok(retriesDuring >= RETRIES, `the outage spanned ${retriesDuring} retries of the spool`);
      const steady = await eventually(async () => {
        const s = await readAll(rt, server, 'steady');
        return s.length >= total ? s : undefined;
      }, 120_000, 'every MQTT reading through the API');
      assert.equal(steady.length, total, 'each reading exactly once');
      assert.deepEqual(
        steady.map((r) => [r.ts, r.fields.seq, r.fields.t]),
        Array.from({ length: total }, (_, i) => [BASE + i * 1000, i, 20 + i / 4]),
      );
      if (kind === 'victoriametrics') {
        // The raw samples (export is not deduplicated: the server runs without -dedup.minScrapeInterval): one
        // series per field, each with every acknowledged reading's timestamp exactly once, none missing.
        const res = await fetch(`${server.url}/api/v1/export?${new URLSearchParams({ 'match[]': '{device="steady"}', start: ((BASE - 1000) / 1000).toFixed(3), end: ((BASE + total * 1000 + 1000) / 1000).toFixed(3) })}`);
        assert.equal(res.status, 200, await res.clone().text());
        const series = (await res.text()).split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as { metric: Record<string, string>; values: number[]; timestamps: number[] });
        assert.deepEqual(series.map((x) => x.metric.__name__).sort(), ['telemetry_seq', 'telemetry_t']);
        const want = Array.from({ length: total }, (_, i) => BASE + i * 1000);
        for (const x of series) {
          assert.equal(x.timestamps.length, total, `${x.metric.__name__}: ${total} samples, no duplicates`);
          assert.deepEqual([...x.timestamps].sort((a, b) => a - b), want, `${x.metric.__name__}: every timestamp once`);
          if (x.metric.__name__ === 'telemetry_seq') {
            const byTs = new Map(x.timestamps.map((t, i) => [t, x.values[i]]));
            assert.deepEqual(want.map((t) => byTs.get(t)), want.map((_, i) => i));
          }
        }
      }

      // The aggregate route, answered by the server (no roll-up tier without the embedded store).
      const from = Math.ceil(BASE / 60_000) * 60_000;
      const to = from + 180_000;
      const agg = await rt.get(`/api/v1/readings/aggregate?device=steady&field=seq&fn=sum&every=1m&from=${from}&to=${to}`);
      assert.equal(agg.status, 200, await agg.clone().text());
      const aggBody = (await agg.json()) as { points: Array<{ ts: string; value: number | null }>; tier?: string };
      const sums = new Map<number, number>();
      for (let i = 0; i < total; i++) {
        const ts = BASE + i * 1000;
        if (ts < from || ts >= to) continue;
        const bucket = Math.floor(ts / 60_000) * 60_000;
        sums.set(bucket, (sums.get(bucket) ?? 0) + i);
      }
      assert.deepEqual(
        aggBody.points.filter((p) => p.value !== null).map((p) => [Date.parse(p.ts), p.value]),
        [...sums],
      );
      assert.equal(aggBody.tier, undefined);

      // A message that cannot be decoded: a dead letter, listed by the API (kept in a file in this mode).
      await client.publishAsync('devices/broken/telemetry', '{"ts": oops', { qos: 1 });
      const letters = await eventually(async () => {
        const res = await rt.get('/api/v1/deadletters?device=broken');
        const body = (await res.json()) as { deadLetters?: Array<{ device: string; code: string }> };
        return res.status === 200 && body.deadLetters?.length ? body.deadLetters : undefined;
      }, 30_000, 'the dead letter');
      assert.equal(letters[0].device, 'broken');
      // Replayed through the input that took it: it fails again, so it is marked and a new letter takes its place.
      const replay = await fetch(`${rt.url}/api/v1/deadletters/replay?device=broken`, { method: 'POST', headers: { authorization: `Bearer ${rt.apiKey}` } });
      assert.equal(replay.status, 200, await replay.clone().text());
      assert.equal(((await replay.json()) as { replayed: number }).replayed, 1);
      const after = await eventually(async () => {
        const body = (await (await rt.get('/api/v1/deadletters?device=broken')).json()) as { deadLetters: Array<{ id: number; replayedAt: string | null }> };
        return body.deadLetters.length === 2 ? body.deadLetters.sort((a, b) => a.id - b.id) : undefined;
      }, 30_000, 'the replayed letter marked and a new one');
      assert.ok(after[0].replayedAt);
      assert.equal(after[1].replayedAt, null);

      // kill -9 while the server is down.
      await server.stop();
      client.on('error', () => undefined);
      const acked = new Set<number>();
      const crashSends: Array<Promise<void>> = [];
      for (let i = 0; i < 1500; i++) {
        crashSends.push(publish(client, 'crash', i).then(() => void acked.add(i), () => undefined));
        if (i % 100 === 99) await Promise.race([Promise.all(crashSends.slice(-100)), new Promise((r) => setTimeout(r, 2000))]);
      }
      await Promise.race([Promise.allSettled(crashSends), new Promise((r) => setTimeout(r, 5000))]);
      await rt.kill9();
      client.end(true);
      client = undefined;
      await Promise.allSettled(crashSends);
      assert.ok(acked.size > 0, 'readings were acknowledged while the server was down');
      await server.start();
      rt = await startRuntime({ dataDir: rt.dataDir, httpPort: rt.httpPort, mqttPort: rt.mqttPort, env });
      const stored = await eventually(async () => {
        const s = new Set(await seqsOf(rt, server, 'crash'));
        for (const i of acked) if (!s.has(i)) return undefined;
        return s;
      }, 120_000, 'every acknowledged reading through the API');
      assert.ok(stored.size >= acked.size);
      const devices = (await (await rt.get('/api/v1/devices')).json()) as { devices: Array<{ id: string }> };
      assert.ok(devices.devices.some((d) => d.id === 'meter-1'), 'the registry survived the kill');
      assert.equal(existsSync(`${rt.dataDir}/upperstack.duckdb`), false);
    } finally {
      client?.end(true);
      await rt.stop();
      await server.destroy();
    }
  });
}
