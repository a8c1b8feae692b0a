/**
 * The bench's floor table (bench/batch-floor.ts): what half the raw ceiling of the 10-reading batch rows leaves
 * the runtime, against the runtime's parts measured alone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { floorRows, floorTable, type FloorParts } from '../../bench/batch-floor';
import { summaries } from '../../bench/pipeline-report';
import type { Row } from '../../bench/pipeline-knobs';

function row(broker: Row['broker'], consumer: Row['consumer'], rate: number, cpu: { consumer: number; broker: number; load: number }): Row {
  const readings = 400_000;
  return {
    broker,
    batch: 10,
    consumer,
    round: 1,
    latencies: [],
    readings,
    seconds: readings / rate,
    rate,
    p50: 0,
    p99: 0,
    samples: 0,
    ackSeconds: readings / rate,
    peakRss: 0,
    phaseRss: 0,
    earlyRss: 0,
    consumerCores: 0,
    brokerCores: NaN,
    loadCores: 0,
    // CPU seconds over the phase from µs a reading.
    consumerCpu: (cpu.consumer * readings) / 1e6,
    consumerMainCpu: 0,
    brokerCpu: (cpu.broker * readings) / 1e6,
    loadCpu: (cpu.load * readings) / 1e6,
    note: '',
  };
}

/** µs figures come from CPU seconds over readings: equal to the last few bits. */
const near = (actual: number | undefined, expected: number) => assert.ok(actual !== undefined && Math.abs(actual - expected) < 1e-9, `${actual} is not ${expected}`);

const parts: FloorParts = { brokerUs: 1, inputUs: 1.5, storeUs: 3.5, anomalyUs: 4, parseUs: 0.5 };

test('half the raw ceiling leaves the runtime both cores less the publishers, and mosquitto on that broker', () => {
  const sums = summaries([
    row('embedded', 'upperstack', 100_000, { consumer: 13.5, broker: 0, load: 2.5 }),
    row('embedded', 'raw', 400_000, { consumer: 1.5, broker: 2, load: 2 }),
    row('mosquitto', 'raw', 400_000, { consumer: 1.5, broker: 1.5, load: 2.5 }),
  ]);
  const [embedded, mosquitto] = floorRows(sums, parts, 2);
  // 200,000 readings/s on two cores: 10 µs of CPU a reading.
  near(embedded.machineUs, 10);
  // The raw row's broker is a runtime too: its work is the runtime's own, the embedded broker's intake.
  near(embedded.othersUs, 2);
  near(embedded.budgetUs, 8);
  near(embedded.receiveUs, 1);
  near(embedded.partsUs, 10);
  near(embedded.oursUs, 13.5);
  near(mosquitto.othersUs, 4);
  near(mosquitto.budgetUs, 6);
  // On mosquitto the runtime receives as an MQTT client, as the raw subscriber does; its parse is the input path's to count.
  near(mosquitto.receiveUs, 1);
  near(mosquitto.partsUs, 10);
  assert.equal(mosquitto.oursUs, undefined);
});

test('the table says by how much the parts alone are over the budget, or that they fit', () => {
  const over = floorRows(summaries([row('embedded', 'raw', 400_000, { consumer: 1.5, broker: 2, load: 2 })]), parts, 2);
  const fits = floorRows(summaries([row('embedded', 'raw', 100_000, { consumer: 1.5, broker: 2, load: 2 })]), parts, 2);
  const overLine = floorTable(parts, over).split('\n').at(-1)!;
  assert.match(overLine, /^\| embedded \| 400,000 \| 200,000 \| 10\.00 \| 2\.00 \| 8\.00 \| 10\.00 \(1\.00 \+ 1\.50 \+ 3\.50 \+ 4\.00\) \| — \| no: the parts alone are 2\.00 µs over \|$/);
  assert.match(floorTable(parts, fits).split('\n').at(-1)!, /\| 40\.00 \| 2\.00 \| 38\.00 \| 10\.00 .*\| yes, if nothing else costs \|$/);
});

test('without a raw batch row the table gives the parts alone', () => {
  const text = floorTable(parts, floorRows(summaries([row('embedded', 'upperstack', 100_000, { consumer: 13.5, broker: 0, load: 2.5 })]), parts, 2));
  assert.equal(text.split('\n').length, 1);
  assert.match(text, /the embedded broker's intake 1\.00; decode, validate and journal 1\.50; the store's writes 3\.50; the anomaly engine's judgement 4\.00; taken off the raw subscriber's receive on mosquitto, its JSON\.parse 0\.50/);
});
