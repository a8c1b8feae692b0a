/**
 * The HTTP and CoAP inputs of the real runtime when the InfluxDB sink's spool reaches its disk budget
 * (1 MB) while a real influxd (Debian's 1.x, started here) is down: the writes are held, the readings stay
 * unsettled, and the inputs push back instead of dropping anything. HTTP (node's fetch) gets 503 with a
 * JSON BACKPRESSURE error and a Retry-After; coap-client-notls gets 5.03 with a diagnostic. Both messages
 * name the sink whose spool is at its budget.
 * Once the server is back the backlog drains, every reading that was accepted (202, 2.04) is in InfluxDB
 * exactly once with its value, and both inputs accept again.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { eventually, startRuntime, type Runtime } from '../helpers/runtime';
import { influxQuery, startInfluxd, type TsdbServer } from '../helpers/influxd';
import { tempDir } from '../helpers/temp';

const run = promisify(execFile);
const BASE = Date.UTC(2026, 0, 1);
/** Readings per HTTP request: 1 MB of spool is about 10,000 readings, so a few dozen requests reach it. */
const BATCH = 200;
let influx: TsdbServer;
let rt: Runtime | undefined;

before(async () => {
  influx = await startInfluxd();
});
after(async () => {
  await rt?.stop();
  await influx?.destroy();
});

interface HttpAnswer {
  status: number;
  retryAfter: string | null;
  body: string;
}

async function postBatch(device: string, first: number, count: number): Promise<HttpAnswer> {
  const readings = Array.from({ length: count }, (_, i) => ({ ts: BASE + first + i, seq: first + i, v: (first + i) / 4 }));
  const res = await fetch(`${rt!.url}/ingest/${device}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(readings) });
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: await res.text() };
}

/** coap-client-notls's whole output (it prints an error answer's code and payload) and whether it exited 0. */
async function coapPost(device: string, seq: number): Promise<{ ok: boolean; out: string }> {
  // Padding makes the request big enough for the whole diagnostic: an unauthenticated answer is cut to
  // three times the request's size (no amplification).
  const payload = JSON.stringify({ ts: BASE + seq, seq, v: seq / 4, pad: 'x'.repeat(200) });
  try {
    const { stdout, stderr } = await run('coap-client-notls', ['-m', 'post', '-t', 'application/json', '-e', payload, `coap://127.0.0.1:${rt!.coapPort}/telemetry/${device}`], { timeout: 20_000 });
    return { ok: true, out: `${stdout}${stderr}` };
  } catch (e) {
    const x = e as { stdout?: string; stderr?: string };
    return { ok: false, out: `${x.stdout ?? ''}${x.stderr ?? ''}` };
  }
}

/** Every point of a device in InfluxDB as [seq, v] (a point is its series and time: a duplicate would be a second time). */
async function influxPoints(db: string, device: string): Promise<Array<[number, number]>> {
  const [res] = await influxQuery(influx, `SELECT seq, v FROM telemetry WHERE device = '${device}'`, db);
  return (res.series?.[0]?.values ?? []).map((r) => [r[1] as number, r[2] as number]);
}

function assertExactlyOnce(points: Array<[number, number]>, accepted: Set<number>, what: string): void {
  assert.equal(points.length, accepted.size, `${what}: one point per accepted reading`);
  const seqs = points.map(([seq]) => seq).sort((a, b) => a - b);
  assert.deepEqual(seqs, [...accepted].sort((a, b) => a - b), `${what}: the accepted readings, no others`);
  for (const [seq, v] of points) assert.equal(v, seq / 4, `${what}: the value of reading ${seq}`);
}

test('InfluxDB sink spool at its budget with the server down: HTTP answers 503 and CoAP 5.03 instead of dropping; after recovery every accepted reading is in InfluxDB exactly once and both inputs accept again', { timeout: 300_000 }, async (t) => {
  // The default pack with a spool budget of 1 MB per sink and low pause marks on the two inputs, so few
  // requests past the budget are enough to make them push back.
  const dataDir = tempDir('us-influx-budget-inputs-');
  const pack = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'flows', 'pipeline.json'), 'utf8')) as Array<Record<string, unknown>>;
  (pack.find((n) => n.id === 'us_store_cfg') as { spoolBudget: number }).spoolBudget = 1;
  for (const id of ['us_http_in', 'us_coap_in']) Object.assign(pack.find((n) => n.id === id)!, { highWater: 20 });
  writeFileSync(join(dataDir, 'flows.json'), JSON.stringify(pack));
  await influx.stop();
  rt = await startRuntime({ dataDir, env: { UPPERSTACK_INFLUX_URL: influx.url, UPPERSTACK_INFLUX_DB: 'budin' } });

  // HTTP: batches until the input refuses (bounded: 400 batches are 80,000 readings, eight times the budget).
  const httpAccepted = new Set<number>();
  let next = 0;
  let refusal: HttpAnswer | undefined;
  for (let i = 0; i < 400 && !refusal; i++) {
    const a = await postBatch('budhttp', next, BATCH);
    if (a.status === 202) for (let s = next; s < next + BATCH; s++) httpAccepted.add(s);
    else refusal = a;
    next += BATCH;
  }
  assert.ok(refusal, `the HTTP input never refused; ${httpAccepted.size} readings accepted`);
  assert.equal(refusal.status, 503, refusal.body);
  assert.ok(httpAccepted.size >= 5000, `the spool took readings before the budget: ${httpAccepted.size}`);
  assert.match(refusal.retryAfter ?? '', /^\d+$/, 'a Retry-After header');
  const error = (JSON.parse(refusal.body) as { error: { code: string; message: string; retryAfter: number } }).error;
  assert.equal(error.code, 'BACKPRESSURE');
  assert.match(error.message, /HTTP telemetry cannot take more now: .*waiting to be stored/);
  assert.match(error.message, /because the influxdb sink "influx" holds its writes \(its spool has reached its disk budget of 1 MiB\)/, 'the message names the sink at its budget');
  assert.ok(error.retryAfter >= 1);
  assert.equal(Number(refusal.retryAfter), error.retryAfter);
  assert.match(rt.output(), /spool has reached its disk budget/);

  // CoAP: single readings until 5.03 (bounded by the pause mark: 20 unsettled requests, with some margin).
  const coapAccepted = new Set<number>();
  let coapRefusal: string | undefined;
  let cseq = 0;
  for (; cseq < 200 && coapRefusal === undefined; cseq++) {
    const a = await coapPost('budcoap', cseq);
    if (/[45]\.\d\d/.test(a.out)) coapRefusal = a.out;
    else {
      assert.ok(a.ok, `coap-client-notls failed without an answer code: ${a.out}`);
      coapAccepted.add(cseq);
    }
  }
  assert.ok(coapRefusal !== undefined, `the CoAP input never refused; ${coapAccepted.size} accepted`);
  assert.match(coapRefusal, /5\.03/);
  assert.match(coapRefusal, /CoAP telemetry cannot take more now: .*waiting to be stored/);
  assert.match(coapRefusal, /because the influxdb sink "influx" holds its writes/);

  t.diagnostic(`refused after ${httpAccepted.size} HTTP readings: ${error.message}`);
  t.diagnostic(`refused after ${coapAccepted.size} CoAP requests: ${coapRefusal.trim()}`);

  // /health names the sink that is full.
  const health = (await (await fetch(`${rt.url}/health`)).json()) as { components: Record<string, { sink?: { kind: string; spooled: number } }> };
  const sink = Object.entries(health.components).find(([name]) => name.endsWith('/influx'));
  assert.ok(sink && (sink[1].sink?.spooled ?? 0) > 0, `the InfluxDB sink holds a spool: ${JSON.stringify(sink)}`);

  await influx.start();
  // Devices retry after the time they were told: each input accepts again once the backlog drains.
  await eventually(async () => {
    const a = await postBatch('budhttp', next, BATCH);
    if (a.status !== 202) return undefined;
    for (let s = next; s < next + BATCH; s++) httpAccepted.add(s);
    return a;
  }, 120_000, 'the HTTP input to accept again (202)');
  await eventually(async () => {
    const a = await coapPost('budcoap', cseq);
    if (/[45]\.\d\d/.test(a.out) || !a.ok) return undefined;
    coapAccepted.add(cseq);
    return a;
  }, 120_000, 'the CoAP input to accept again (2.04)');

  for (const [device, accepted] of [['budhttp', httpAccepted], ['budcoap', coapAccepted]] as const) {
    const points = await eventually(async () => {
      const p = await influxPoints('budin', device);
      return p.length >= accepted.size ? p : undefined;
    }, 180_000, `the backlog of ${device} in InfluxDB`);
    assertExactlyOnce(points, accepted, device);
  }
});
