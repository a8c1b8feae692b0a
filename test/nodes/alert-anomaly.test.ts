/**
 * The anomaly node wired into the alert node, as a flow pack does: an
 * "anomalous" rule's alert says why, in the anomaly node's words, in its
 * reason and through {reason} in the message.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import helper from 'node-red-node-test-helper';
import type { AlertEvent } from '../../nodes/lib/rules/types';
import { collect, input, until, useTestRuntime } from '../helpers/node-red';
import { anomalyFlow, steadyReading, T0 } from '../helpers/anomaly-flow';

/* eslint-disable @typescript-eslint/no-require-imports */
const nodes = [require('../../nodes/anomaly/anomaly'), require('../../nodes/alert/alert')];

helper.init(require.resolve('node-red'));

describe('anomaly node → alert node', () => {
  const { dataDir } = useTestRuntime('us-alert-anomaly-');

  test('an "anomalous" alert carries the anomaly node\'s explanation in its reason and in {reason}', async () => {
    mkdirSync(join(dataDir, 'alerts'), { recursive: true });
    const rule = { id: 'odd', name: 'Odd reading', devices: { all: true }, when: { op: 'anomalous', score: 0.5 }, severity: 'warning', message: '{device}: {reason}' };
    writeFileSync(join(dataDir, 'alerts', 'rules.json'), JSON.stringify({ rules: [rule] }));
    const alert = { id: 'alert', type: 'upperstack-alert', z: 'tab', store: '', broker: '', topic: 'upperstack/alerts', configVersion: 1, wires: [['tell'], []] };
    const flow = anomalyFlow('an', { fields: 'temperature', units: 'temperature=°C', heartbeatInterval: '', advanced: '', configVersion: 1 }, [alert, { id: 'tell', type: 'helper', z: 'tab' }]);
    (flow[1] as { wires: string[][] }).wires[0].push('alert');
    await helper.load(nodes, flow);
    const tell = collect<{ payload: AlertEvent }>('tell');
    const explained = collect<{ payload: { anomaly: { reason: string } | null } }>('an-out2');
    for (let i = 0; i < 40; i++) input('an', { payload: steadyReading('dev1', i) });
    input('an', { payload: steadyReading('dev1', 40, 45) });
    await until(() => tell.some((m) => m.payload.event === 'firing'), 'the alert to fire');
    await until(() => explained.length > 0, 'the anomaly on output 2');
    const why = explained[0].payload.anomaly!.reason;
    assert.match(why, /temperature 45/);
    const fired = tell.find((m) => m.payload.event === 'firing')!.payload;
    assert.ok(fired.reason.includes(why), `reason "${fired.reason}" should include "${why}"`);
    assert.equal(fired.message, `dev1: ${fired.reason}`);
    assert.equal(fired.ts, T0 + 40 * 60_000);
  });
});

describe('anomaly node → alert node, a bulk import', () => {
  const { dataDir } = useTestRuntime('us-alert-anomaly-bulk-');

  test('a bulk import of 500 readings: the alert starts at the anomalous reading and clears with the batch\'s last reading', async () => {
    mkdirSync(join(dataDir, 'alerts'), { recursive: true });
    const rule = { id: 'odd', name: 'Odd reading', devices: { all: true }, when: { op: 'anomalous', score: 0.5 }, severity: 'warning' };
    writeFileSync(join(dataDir, 'alerts', 'rules.json'), JSON.stringify({ rules: [rule] }));
    const alert = { id: 'alert', type: 'upperstack-alert', z: 'tab', store: '', broker: '', topic: 'upperstack/alerts', configVersion: 1, wires: [['tell'], []] };
    // As in the pack: the store's output feeds the alert node, the anomaly node's anomalies output too.
    const flow = anomalyFlow('an', { fields: '', heartbeatInterval: '', advanced: '', configVersion: 1 }, [alert, { id: 'tell', type: 'helper', z: 'tab' }]);
    (flow[1] as { wires: string[][] }).wires[1].push('alert');
    await helper.load(nodes, flow);
    const tell = collect<{ payload: AlertEvent }>('tell');
    const flagged = collect<{ payload: Array<{ ts: number }> }>('an-out2');
    const readings = Array.from({ length: 500 }, (_, i) => ({ device: 'dev1', ts: T0 + i * 60_000, fields: { temperature: i === 300 ? 45 : 20 + Math.sin(i * 1.7) * 0.5 }, tags: {} }));
    input('alert', { payload: structuredClone(readings) });
    input('an', { payload: readings });
    await until(() => flagged.length > 0, 'the anomalies output');
    const first = flagged[0].payload[0].ts;
    assert.equal(first, T0 + 300 * 60_000, 'the spike is the first anomalous reading');
    await until(() => tell.some((m) => m.payload.event === 'cleared'), 'the alert to clear');
    const events = tell.map((m) => m.payload);
    const fired = events.find((e) => e.event === 'firing')!;
    assert.equal(fired.since, first);
    assert.equal(fired.message, 'Odd reading: dev1 temperature is 45');
    const cleared = events.find((e) => e.event === 'cleared')!;
    assert.equal(cleared.ts, readings[499].ts);
  });
});

describe('anomaly node watching one field → alert node on any field', () => {
  const { dataDir } = useTestRuntime('us-alert-anomaly-field-');

  test('readings with several numbers, the anomaly node watching one: the alert names that field and its value', async () => {
    mkdirSync(join(dataDir, 'alerts'), { recursive: true });
    const rule = { id: 'odd', name: 'Odd reading', devices: { all: true }, when: { op: 'anomalous', score: 0.5 }, severity: 'warning' };
    writeFileSync(join(dataDir, 'alerts', 'rules.json'), JSON.stringify({ rules: [rule] }));
    const alert = { id: 'alert', type: 'upperstack-alert', z: 'tab', store: '', broker: '', topic: 'upperstack/alerts', configVersion: 1, wires: [['tell'], []] };
    const flow = anomalyFlow('an', { fields: 'temperature', heartbeatInterval: '', advanced: '', configVersion: 1 }, [alert, { id: 'tell', type: 'helper', z: 'tab' }]);
    (flow[1] as { wires: string[][] }).wires[0].push('alert');
    await helper.load(nodes, flow);
    const tell = collect<{ payload: AlertEvent }>('tell');
    const flagged = collect<{ payload: { anomaly: { field?: string } | null; anomalies?: unknown } }>('an-out2');
    for (let i = 0; i < 40; i++) input('an', { payload: steadyReading('dev1', i) });
    input('an', { payload: steadyReading('dev1', 40, 45) });
    await until(() => tell.some((m) => m.payload.event === 'firing'), 'the alert to fire');
    await until(() => flagged.length > 0, 'the anomaly on output 2');
    assert.equal(flagged[0].payload.anomalies, undefined, 'one watched field: one verdict');
    assert.equal(flagged[0].payload.anomaly!.field, 'temperature');
    const fired = tell.find((m) => m.payload.event === 'firing')!.payload;
    assert.equal(fired.field, 'temperature');
    assert.equal(fired.value, 45);
    assert.equal(fired.message, 'Odd reading: dev1 temperature is 45');
  });
});
