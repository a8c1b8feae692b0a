/**
 * /health tells the truth, in a Node-RED test runtime with short thresholds:
 * a store that cannot be written (its database folder is missing), a journal
 * entry nobody settles, and backpressure held — each turns /health to 503
 * naming the component and its error, back to 200 once it recovers, and is
 * logged once when it starts and once when it ends. A store's healthy probe
 * answer serves the calls of its reuse time, and a write failing meanwhile (a
 * real influxd stopped) has the next call ask the sink again. Real DuckDB, real
 * journals; the broker is an in-process stand-in so the test decides what arrives.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { NodeAPI } from 'node-red';
import helper from 'node-red-node-test-helper';
import { registerBroker, unregisterBroker } from '../../nodes/shared/runtime';
import { consume } from '../../nodes/shared/receipts';
import { registerSettlingType } from '../../nodes/shared/settlement';
import type { UpperstackMessage } from '../../nodes/shared/input';
import type { StoreConfigNode } from '../../nodes/store-config/options';
import { fakeBroker, telemetry } from '../helpers/receipts-graph';
import { eventually } from '../helpers/runtime';
import { startInfluxd } from '../helpers/influxd';
import { tempDir } from '../helpers/temp';

helper.init(require.resolve('node-red'));
// The helper node stands in for a store that has not settled yet (a plain helper leads to no store, so
// the runtime would let its messages go as they leave the input).
registerSettlingType('helper');

let red: NodeAPI | undefined;
const logged: string[] = [];
/** Captures the runtime log the health monitor writes to. */
const capture = (r: NodeAPI) => {
  red = r;
  const log = r.log as unknown as Record<'warn' | 'info', (t: unknown) => void>;
  const { warn, info } = log;
  log.warn = (t) => {
    logged.push(`warn ${String(t)}`);
    warn(t);
  };
  log.info = (t) => {
    logged.push(`info ${String(t)}`);
    info(t);
  };
};
/* eslint-disable @typescript-eslint/no-require-imports */
const nodes = [capture, require('../../nodes/store-config/store-config'), require('../../nodes/api/api'), require('../../nodes/store/store'), require('../../nodes/mqtt-in/mqtt-in')];

interface HealthBody {
  status: string;
  failing: string[];
  problems: Array<{ component: string; code: string; message: string; since: string; lastError?: string }>;
  journals: Array<{ name: string; pending: number; bytes: number; budget: number; oldestUnsettledMs: number | null; paused: boolean }>;
  disk: { journals: Array<{ name: string; bytes: number; budget: number }>; spools: Array<{ name: string; bytes: number; budget: number; full: boolean }> };
  components: Record<string, { ok: boolean; detail: string }>;
}

describe('/health', () => {
  let server: Server | undefined;
  let url = '';
  let broker: ReturnType<typeof fakeBroker> | undefined;
  let n = 0;
  const dir = tempDir('us-health-');

  before(async () => {
    await helper.startServer();
  });
  after(async () => {
    await helper.stopServer();
  });
  afterEach(async () => {
    if (server) await new Promise((r) => server!.close(r));
    server = undefined;
    await helper.unload();
    if (broker) unregisterBroker(broker);
    broker = undefined;
  });

  async function load(health: Record<string, number>, flow: Array<Record<string, unknown>>): Promise<void> {
    logged.length = 0;
    helper.settings({ upperstack: { dataDir: join(dir, `data${n++}`), apiKey: 'k', health } });
    broker = fakeBroker(`fake-health-${n}`);
    registerBroker(broker);
    await helper.load(nodes, [{ id: 'tab', type: 'tab', label: 'test' }, ...flow]);
    server = createServer(red!.httpNode as never);
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  const health = async (signal?: AbortSignal): Promise<{ status: number; body: HealthBody }> => {
    const res = await fetch(`${url}/health`, { signal });
    return { status: res.status, body: (await res.json()) as HealthBody };
  };
  /** Waits for /health to answer `status` with the body matching `test`. */
  const until = (status: number, what: string, ok: (b: HealthBody) => boolean = () => true) =>
    eventually(async () => {
      const h = await health();
      return h.status === status && ok(h.body) ? h.body : undefined;
    }, 20_000, what);
  const lines = (pattern: RegExp) => logged.filter((l) => pattern.test(l));

  const inNode = (extra: Record<string, unknown>) => ({
    id: `in-${n}`,
    type: 'upperstack-mqtt-in',
    name: `telemetry${n}`,
    z: 'tab',
    source: 'embedded',
    broker: broker?.id ?? '',
    topic: 'devices/{device}/telemetry',
    qos: 1,
    format: 'auto',
    configVersion: 2,
    coalesce: true,
    highWater: 0,
    lowWater: 0,
    wires: [['sink']],
    ...extra,
  });
  const packet = (device: string) => telemetry(device, { t: 1 });
  const next = (): Promise<UpperstackMessage> => new Promise((resolve) => (helper.getNode('sink') as unknown as NodeJS.EventEmitter).once('input', resolve));

  test('a store that cannot be written: 503 with its error after the threshold, 200 once it can, logged once each way', async () => {
    const missing = join(dir, `missing-${n}`);
    await load({ storeFailingSeconds: 0.3, unsettledSeconds: 3600, backpressureSeconds: 3600 }, [
      { id: 'cfg', type: 'upperstack-store-config', name: 'db', kind: 'duckdb', path: join(missing, 'store.duckdb'), batchSize: 10, flushMs: 10, configVersion: 1 },
      { id: 'api', type: 'upperstack-api', z: 'tab', store: 'cfg', configVersion: 1, wires: [] },
      { id: 'store', type: 'upperstack-store', z: 'tab', store: 'cfg', configVersion: 1, wires: [] },
    ]);
    (helper.getNode('store') as unknown as { receive(m: unknown): void }).receive({ payload: { device: 'd', ts: 1767225600000, fields: { t: 1 }, tags: {} } });
    const down = await until(503, 'the store failing', (b) => b.failing.includes('store:db'));
    const problem = down.problems.find((p) => p.component === 'store:db');
    assert.equal(problem?.code, 'STORE_FAILING');
    assert.match(problem?.lastError ?? '', /store\.duckdb|open|IO Error/i);
    assert.equal(down.disk.spools[0].name, 'store:db');
    assert.ok(down.disk.spools[0].budget > 0);
    assert.ok(down.disk.spools[0].bytes > 0, 'the reading waits in the spool');
    // Asked again, it is still the one problem: logged once.
    await until(503, 'still failing');
    assert.equal(lines(/^warn health: store:db is failing \(STORE_FAILING\)/).length, 1, logged.join('\n'));

    mkdirSync(missing);
    await until(200, 'the store back', (b) => b.failing.length === 0);
    await until(200, 'still healthy');
    assert.equal(lines(/^info health: store:db is healthy again \(STORE_FAILING ended/).length, 1, logged.join('\n'));
    assert.equal(lines(/^warn health: store:db/).length, 1);
    // The spooled reading arrived.
    const cfg = helper.getNode('cfg') as unknown as StoreConfigNode;
    await eventually(async () => ((await cfg.store.readings({ device: 'd', limit: 1 })).readings.length === 1 ? true : undefined), 20_000, 'the spooled reading');
    // Drained, the spool says it holds nothing, not the outage's bytes until its segment fills.
    await until(200, 'the spool drained', (b) => b.disk.spools[0].bytes === 0);
  });

  test('calls arriving together or within the reuse time share one probe of the store', async () => {
    await load({ probeReuseSeconds: 3600 }, [
      { id: 'cfg', type: 'upperstack-store-config', name: 'db', kind: 'duckdb', path: join(dir, `ok${n}.duckdb`), batchSize: 10, flushMs: 10, configVersion: 1 },
      { id: 'api', type: 'upperstack-api', z: 'tab', store: 'cfg', configVersion: 1, wires: [] },
    ]);
    const cfg = helper.getNode('cfg') as unknown as StoreConfigNode;
    await cfg.ready;
    const sink = cfg.writer.entries[0].sink;
    const real = sink.health.bind(sink);
    let probes = 0;
    sink.health = () => {
      probes++;
      return real();
    };
    const together = await Promise.all(Array.from({ length: 10 }, () => health()));
    const later = [];
    for (let i = 0; i < 5; i++) later.push(await health());
    assert.deepEqual([...together, ...later].map((h) => h.status), Array<number>(15).fill(200));
    assert.equal(probes, 1, 'fifteen calls, one probe of the store');
  });

  test('a store write failing within the reuse time: the next /health asks the sink again and names its failure', async () => {
    const influx = await startInfluxd();
    try {
      await load({ storeFailingSeconds: 0, probeReuseSeconds: 3600 }, [
        {
          id: 'cfg',
          type: 'upperstack-store-config',
          name: 'two',
          sinks: [
            { id: 'main', kind: 'duckdb', path: ':memory:', memoryLimit: 64 },
            { id: 'influx', kind: 'influxdb', url: influx.url, api: 'auto', database: 'probe', flushMs: 10 },
          ],
          batchSize: 10,
          flushMs: 10,
          configVersion: 3,
        },
        { id: 'api', type: 'upperstack-api', z: 'tab', store: 'cfg', configVersion: 1, wires: [] },
        { id: 'store', type: 'upperstack-store', z: 'tab', store: 'cfg', configVersion: 1, wires: [] },
      ]);
      const cfg = helper.getNode('cfg') as unknown as StoreConfigNode;
      await cfg.ready;
      const entry = cfg.writer.entries.find((e) => e.id === 'influx')!;
      const store = helper.getNode('store') as unknown as { receive(m: unknown): void };
      const T0 = Date.UTC(2026, 0, 1);
      store.receive({ payload: { device: 'd', ts: T0, fields: { t: 1 }, tags: {} } });
      await eventually(async () => (entry.writer.stats().written === 1 ? true : undefined), 20_000, 'the first reading in InfluxDB');
      const up = await health();
      assert.equal(up.status, 200, JSON.stringify(up.body));
      assert.equal(up.body.components['store:two/influx'].ok, true);

      await influx.stop();
      store.receive({ payload: { device: 'd', ts: T0 + 1, fields: { t: 2 }, tags: {} } });
      await eventually(async () => (entry.writer.stats().failingSince !== undefined ? true : undefined), 20_000, 'the write to InfluxDB failing');
      // The healthy answer from before the outage would be reused for an hour; the failed write asks again.
      const down = await health();
      assert.equal(down.status, 503);
      assert.deepEqual(down.body.failing, ['store:two/influx']);
      const c = down.body.components['store:two/influx'];
      assert.equal(c.ok, false, c.detail);
      assert.match(c.detail, /^InfluxDB .*(ECONNREFUSED|refused|connect)/i);

      await influx.start();
      await until(200, 'InfluxDB back, the spool drained', (b) => b.failing.length === 0 && b.disk.spools.every((sp) => sp.bytes === 0));
      assert.equal(entry.writer.stats().written, 2);
    } finally {
      await influx.destroy();
    }
  });

  test('influxd frozen (SIGSTOP) with a request timeout of 10 minutes: /health answers without waiting for it, the sink not answering since its probe began; 200 once it runs again', { timeout: 120_000 }, async () => {
    const influx = await startInfluxd();
    try {
      await load({ storeFailingSeconds: 0, probeReuseSeconds: 0 }, [
        {
          id: 'cfg',
          type: 'upperstack-store-config',
          name: 'frozen',
          sinks: [
            { id: 'main', kind: 'duckdb', path: ':memory:', memoryLimit: 64 },
            // Waiting for the sink's own timeout would outlast the test.
            { id: 'influx', kind: 'influxdb', url: influx.url, api: 'auto', database: 'frozen', flushMs: 10, timeoutMs: 600_000 },
          ],
          batchSize: 10,
          flushMs: 10,
          configVersion: 3,
        },
        { id: 'api', type: 'upperstack-api', z: 'tab', store: 'cfg', configVersion: 1, wires: [] },
      ]);
      await (helper.getNode('cfg') as unknown as StoreConfigNode).ready;
      await until(200, 'InfluxDB answering', (b) => b.components['store:frozen/influx']?.ok === true);

      influx.pause();
      // Bounded far below the sink's timeout, so a /health waiting for it fails here rather than hanging the run.
      const bound = () => AbortSignal.timeout(60_000);
      const first = await health(bound());
      assert.equal(first.status, 503, JSON.stringify(first.body));
      assert.deepEqual(first.body.failing, ['store:frozen/influx']);
      const c = first.body.components['store:frozen/influx'] as { ok: boolean; detail: string; failingSince?: string };
      assert.equal(c.ok, false);
      assert.match(c.detail, /has not answered its health check for [\d.]+ s \(asked at \d{4}-\d\d-\d\dT/);
      assert.equal(first.body.problems[0].code, 'STORE_FAILING');
      assert.equal(first.body.components['store:frozen'].ok, true, 'the DuckDB sink is reported as it is');
      // Asked again, the same probe is still out: the sink has not answered since the same moment.
      const second = await health(bound());
      assert.equal(second.status, 503);
      assert.equal((second.body.components['store:frozen/influx'] as { failingSince?: string }).failingSince, c.failingSince);
      assert.equal(second.body.problems[0].since, first.body.problems[0].since);

      influx.resume();
      await until(200, 'InfluxDB answering again', (b) => b.components['store:frozen/influx'].ok && b.failing.length === 0);
    } finally {
      await influx.destroy();
    }
  });

  test('a journal entry nobody settles: 503 UNSETTLED after the threshold, 200 once it is settled', async () => {
    await load({ storeFailingSeconds: 3600, unsettledSeconds: 0.3, backpressureSeconds: 3600 }, [
      { id: 'cfg', type: 'upperstack-store-config', name: 'db', kind: 'duckdb', path: join(dir, `ok${n}.duckdb`), batchSize: 10, flushMs: 10, configVersion: 1 },
      { id: 'api', type: 'upperstack-api', z: 'tab', store: 'cfg', configVersion: 1, wires: [] },
      inNode({}),
      { id: 'sink', type: 'helper', z: 'tab' },
    ]);
    const name = `journal:telemetry${n - 1}`;
    const arrived = next();
    broker!.deliver(packet('stuck'), () => undefined);
    const msg = await arrived;
    const stuck = await until(503, 'the unsettled entry', (b) => b.failing.includes(name));
    assert.equal(stuck.problems.find((p) => p.component === name)?.code, 'UNSETTLED');
    const journal = stuck.journals.find((j) => j.name === name)!;
    assert.equal(journal.pending, 1);
    assert.ok(journal.oldestUnsettledMs! >= 300);
    assert.ok(stuck.disk.journals.find((j) => j.name === name)!.budget > 0);

    consume(msg);
    await until(200, 'settled');
    await until(200, 'still healthy');
    assert.equal(lines(new RegExp(`^warn health: ${name} is failing \\(UNSETTLED\\)`)).length, 1, logged.join('\n'));
    assert.equal(lines(new RegExp(`^info health: ${name} is healthy again \\(UNSETTLED`)).length, 1, logged.join('\n'));
  });

  test('backpressure held: 503 BACKPRESSURE after the threshold, 200 once the input resumes', async () => {
    await load({ storeFailingSeconds: 3600, unsettledSeconds: 3600, backpressureSeconds: 0.3 }, [
      { id: 'cfg', type: 'upperstack-store-config', name: 'db', kind: 'duckdb', path: join(dir, `ok${n}.duckdb`), batchSize: 10, flushMs: 10, configVersion: 1 },
      { id: 'api', type: 'upperstack-api', z: 'tab', store: 'cfg', configVersion: 1, wires: [] },
      inNode({ highWater: 2, lowWater: 1 }),
      { id: 'sink', type: 'helper', z: 'tab' },
    ]);
    const name = `journal:telemetry${n - 1}`;
    const got: UpperstackMessage[] = [];
    (helper.getNode('sink') as unknown as NodeJS.EventEmitter).on('input', (m: UpperstackMessage) => got.push(m));
    const acks: string[] = [];
    for (const d of ['a', 'b', 'c']) broker!.deliver(packet(d), () => acks.push(d));
    const held = await until(503, 'backpressure', (b) => b.failing.includes(name));
    const problem = held.problems.find((p) => p.component === name && p.code === 'BACKPRESSURE');
    assert.ok(problem, JSON.stringify(held.problems));
    assert.match(problem.message, /unsettled/);
    assert.ok(held.journals.find((j) => j.name === name)!.paused);
    assert.ok(acks.length < 3, `acks held back: ${acks.join(',')}`);

    await eventually(async () => (got.length === 3 ? true : undefined), 10_000, 'all three messages');
    for (const m of got) consume(m);
    await until(200, 'resumed', (b) => !b.journals.find((j) => j.name === name)!.paused);
    await eventually(async () => (acks.length === 3 ? true : undefined), 10_000, 'every ack sent');
    assert.equal(lines(new RegExp(`^warn health: ${name} is failing \\(BACKPRESSURE\\)`)).length, 1, logged.join('\n'));
    assert.equal(lines(new RegExp(`^info health: ${name} is healthy again \\(BACKPRESSURE`)).length, 1, logged.join('\n'));
  });
});
