/**
 * The anomaly node with its engine in a worker thread (the default): every
 * message completes exactly once, outputs keep the order messages came in,
 * a worker that dies fails only what it held and comes back with what it had
 * saved, and with the worker turned off the node judges the same way.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Worker } from 'node:worker_threads';
import helper from 'node-red-node-test-helper';
import { migrate } from '../../nodes/shared/config';
import { anomalyMigrations, type AnomalyOptions } from '../../nodes/anomaly/options';
import type { EngineHost } from '../../nodes/lib/anomaly/remote/host';
import { renderMetrics } from '../../nodes/lib/metrics';
import { collect as tap, input, until, useTestRuntime } from '../helpers/node-red';
import { anomalyFlow, steadyReading, T0 } from '../helpers/anomaly-flow';

/* eslint-disable @typescript-eslint/no-require-imports */
const anomalyNode = require('../../nodes/anomaly/anomaly');
const completeNode = require('@node-red/nodes/core/common/24-complete.js');
const catchNode = require('@node-red/nodes/core/common/25-catch.js');

helper.init(require.resolve('node-red'));

interface Verdict {
  isAnomaly: boolean;
  reason: string;
}
const collect = (id: string) => tap<Out>(id);

interface Out {
  _msgid: string;
  seq?: number;
  payload: { device: string; ts: number; fields: Record<string, number>; anomaly: Verdict | null };
  error?: { message: string; source?: { id: string } };
}

const reading = steadyReading;

function flow(id: string, extra: Record<string, unknown> = {}) {
  return anomalyFlow(id, { configVersion: 3, worker: true, ...extra }, [
    { id: `${id}-complete`, type: 'complete', z: 'tab', scope: [id], uncaught: false, wires: [[`${id}-done`]] },
    { id: `${id}-done`, type: 'helper', z: 'tab' },
    { id: `${id}-catch`, type: 'catch', z: 'tab', scope: [id], uncaught: false, wires: [[`${id}-caught`]] },
    { id: `${id}-caught`, type: 'helper', z: 'tab' },
  ]);
}

function hostOf(id: string): EngineHost {
  return (helper.getNode(id) as unknown as { anomalyHost: EngineHost }).anomalyHost;
}

describe('anomaly node, engine in a worker thread', () => {
  useTestRuntime('us-anomaly-worker-');

  test('each message completes once, and output 1 keeps the order messages came in, device by device', async () => {
    await helper.load([anomalyNode, completeNode, catchNode], flow('order'));
    const out1 = collect('order-out1');
    const out2 = collect('order-out2');
    const done = collect('order-done');
    const caught = collect('order-caught');
    await until(() => hostOf('order').mode === 'worker' && hostOf('order').stats() !== undefined);
    const devices = ['a', 'b', 'c'];
    const sent: string[] = [];
    // Interleaved devices, some messages as batches, sent in bursts so several share one hand-over.
    let seq = 0;
    for (let i = 0; i < 60; i++) {
      for (const d of devices) {
        const spike = i === 50 && d === 'b';
        const payload = i % 7 === 3 ? [reading(d, 2 * i), reading(d, 2 * i + 1, spike ? 60 : undefined)] : reading(d, 2 * i, spike ? 60 : undefined);
        input('order', { payload, seq: seq++ });
        sent.push(`${d}:${2 * i}`);
      }
      if (i % 10 === 9) await new Promise((r) => setImmediate(r));
    }
    await until(() => done.length === seq);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(done.length, seq, 'one completion per message, no more');
    assert.equal(new Set(done.map((m) => m._msgid)).size, seq, 'no message completed twice');
    assert.equal(caught.length, 0);
    assert.deepEqual(
      out1.map((m) => m.seq),
      Array.from({ length: seq }, (_, k) => k),
      'output 1 in the order of the input',
    );
    assert.equal(out1.length, seq);
    const first = (m: Out) => (Array.isArray(m.payload) ? m.payload[0] : m.payload) as Out['payload'];
    assert.deepEqual(out1.map((m) => `${first(m).device}:${(first(m).ts - T0) / 60_000}`), sent);
    assert.ok(out1.slice(-3).every((m) => first(m).anomaly !== null), 'verdicts once warmed up');
    assert.ok(out2.some((m) => (Array.isArray(m.payload) ? m.payload : [m.payload]).some((r) => r.device === 'b' && r.fields.temperature === 60)), 'the spike is on output 2');
  });

  test('a worker that dies fails only the messages it held, restarts from the saved state and judges again', async () => {
    await helper.load([anomalyNode, completeNode, catchNode], flow('crash'));
    const out1 = collect('crash-out1');
    const out2 = collect('crash-out2');
    const done = collect('crash-done');
    const caught = collect('crash-caught');
    for (let i = 0; i < 40; i++) input('crash', { payload: reading('dev1', i) });
    await until(() => out1.length === 40);
    const host = hostOf('crash');
    assert.equal(host.mode, 'worker');
    // What the periodic save does: the state file the worker will restart from.
    assert.equal((await host.save())?.series, 2);
    // Messages in flight when the thread dies, as a bug or an out-of-memory would kill it.
    for (let i = 40; i < 45; i++) input('crash', { payload: reading('dev1', i) });
    await new Promise((r) => setImmediate(r));
    await (host as unknown as { worker: Worker }).worker.terminate();
    await until(() => done.length + caught.length === 45);
    const lost = caught.length;
    for (const m of caught) assert.match(m.error!.message, /anomaly worker stopped/);
    assert.equal(out1.length, 45 - lost, 'a message is either judged and sent or failed, never both');
    await until(() => host.restarts === 1 && (helper.getNode('crash') as unknown as { status?: unknown }) !== undefined);
    // The restarted worker knows the series: no new warm-up, and a spike is flagged.
    input('crash', { payload: reading('dev1', 46) });
    input('crash', { payload: reading('dev1', 47, 60) });
    await until(() => done.length + caught.length === 47);
    assert.equal(caught.length, lost, 'nothing fails after the restart');
    const tail = out1.slice(-2);
    assert.notEqual(tail[0].payload.anomaly, null, 'no new warm-up after the restart');
    assert.equal(tail[1].payload.anomaly?.isAnomaly, true);
    assert.equal(out2.at(-1)?.payload.fields.temperature, 60);
    // /metrics tells the cap, the series, and the restart.
    const body = (await renderMetrics()).body;
    const metric = (name: string) => Number(new RegExp(`^${name}\\{node="crash",name=""\\} (\\S+)$`, 'm').exec(body)?.[1]);
    assert.equal(metric('upperstack_anomaly_series'), 2);
    assert.equal(metric('upperstack_anomaly_series_max'), 100);
    assert.equal(metric('upperstack_anomaly_worker_restarts_total'), 1);
    assert.equal(metric('upperstack_anomaly_queued_readings'), 0);
  });

  test('with the worker off the node judges on the main thread, the same verdicts', async () => {
    await helper.load(anomalyNode, [...flow('inproc', { worker: false }).slice(0, 4), ...flow('threaded').slice(1, 4)]);
    const a = collect('inproc-out1');
    const b = collect('threaded-out1');
    for (let i = 0; i < 60; i++) {
      const r = reading('dev1', i, i === 55 ? 45 : undefined);
      input('inproc', { payload: r });
      input('threaded', { payload: structuredClone(r) });
    }
    await until(() => a.length === 60 && b.length === 60);
    assert.equal(hostOf('inproc').mode, 'in-process');
    assert.equal(hostOf('threaded').mode, 'worker');
    assert.deepEqual(
      a.map((m) => m.payload.anomaly),
      b.map((m) => m.payload.anomaly),
    );
    assert.equal(a[55].payload.anomaly?.isAnomaly, true);
  });

  test('config: v2 nodes get the worker on unless they had it off', () => {
    const v2 = { id: 'x', configVersion: 2, detector: 'default' };
    assert.equal(migrate<AnomalyOptions>(v2, anomalyMigrations).worker, true);
    assert.equal(migrate<AnomalyOptions>({ ...v2, worker: false }, anomalyMigrations).worker, false);
    assert.equal(migrate<AnomalyOptions>({ id: 'y' }, anomalyMigrations).configVersion, 4);
  });
});
