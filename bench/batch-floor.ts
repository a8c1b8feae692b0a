/**
 * Whether 10-reading batches at half the raw ceiling fit the machine: the CPU
 * a reading that rate leaves the runtime (both cores busy all the time, less
 * what the publishers, and mosquitto, took a reading in the raw phase of the
 * same run), against what the runtime's parts cost measured one at a time in
 * this process, each on its own:
 *   - the embedded broker's intake: EmbeddedMqttBroker with a subscriber that
 *     acknowledges at once, the bench's publisher processes sending 10-reading
 *     QoS 1 messages (their CPU is not counted here);
 *   - the MQTT client's receive on mosquitto: the raw subscriber's own CPU a
 *     reading in the run, less its JSON.parse of the payload (measured here:
 *     the input path parses it too);
 *   - the input path: decode, normalise, validate, journal and settle
 *     (bench/shared-path.ts, 10-reading requests of the batch row's own
 *     two-field readings);
 *   - the store: DuckDbStore.write of fresh two-field readings with the pack's
 *     settings (64 MB, roll-ups on), 5,000 a write, as the writer takes them in
 *     the batch row;
 *   - the anomaly node: what its worker does with the readings of devices it
 *     has not seen, only anomalous readings worded (the pack), on this thread
 *     (handing readings over and results back comes on top).
 * Parts measured alone are a lower bound: in the runtime they share caches and
 * cores, and Node-RED's messages, the alert node and V8's collector come on top.
 *
 *   node dist/bench/batch-floor.js   (the parts alone; BENCH_ONLY=floor in run.js adds the budget)
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { AnomalyEngine } from '../nodes/lib/anomaly/engine';
import { encodeReadings, judgeBatch, type ReadingBatch } from '../nodes/lib/anomaly/remote/protocol';
import { EmbeddedMqttBroker } from '../nodes/lib/broker/embedded';
import { DuckDbStore } from '../nodes/lib/store/duckdb';
import { tempDir } from '../test/helpers/temp';
import { batchJson, cpuSince } from './common';
import { storeBatch } from './duckdb-write';
import { median } from './pipeline-format';
import { anomalyReadings, WARM as ANOMALY_WARM } from './anomaly-cpu';
import { startPublishers, withTimeout } from './pipeline-load';
import { sharedPathRun } from './shared-path';
import type { Summary } from './pipeline-report';

export interface FloorParts {
  /** CPU µs a reading of each part, measured alone in this process. */
  brokerUs: number;
  inputUs: number;
  storeUs: number;
  anomalyUs: number;
  /** The raw subscriber's JSON.parse of a 10-reading payload, a reading: taken off its receive, which the input path repeats. */
  parseUs: number;
}

const BATCH = 10;

async function brokerIntake(readings: number): Promise<number> {
  const dataDir = tempDir('us-bench-floor-broker-');
  const broker = new EmbeddedMqttBroker({ port: 0, bind: '127.0.0.1', dataDir });
  await broker.start();
  broker.subscribe('floor/+/telemetry', (_payload, ack) => ack());
  try {
    const url = `mqtt://127.0.0.1:${broker.addresses.tcp}`;
    const warm = await startPublishers(url, 'floor', 'floor-w', BATCH, Math.min(readings, 100_000));
    try {
      await withTimeout(warm.go(), 120_000, 'the broker floor warm-up');
      const pubs = warm.reuse('floor-m', readings);
      const cpu0 = process.cpuUsage();
      await withTimeout(pubs.go(), 300_000, 'the broker floor');
      return cpuSince(cpu0) / pubs.total;
    } finally {
      await warm.stop();
    }
  } finally {
    await broker.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function storeWrite(writes: number, size: number): Promise<number> {
  const dir = tempDir('us-bench-floor-store-');
  const store = new DuckDbStore({ path: join(dir, 'floor.duckdb'), memoryLimitMb: 64 });
  try {
    await store.open();
    const t = { ts: Date.now(), i: 0 };
    // As many readings before as measured: the table, its WAL and roll-ups past their first checkpoints.
    for (let i = 0; i < writes; i++) await store.write(storeBatch(t, size, true));
    const batches = Array.from({ length: writes }, () => storeBatch(t, size, true));
    const cpu0 = process.cpuUsage();
    for (const b of batches) await store.write(b);
    return cpuSince(cpu0) / (writes * size);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The worker's own work, on this thread: batches as the worker gets them in the batch row (hundreds of readings
 * a postMessage) judged with only anomalous readings worded. Handing them over costs both threads on top.
 */
function anomalyJudgement(readings: number): number {
  const engine = new AnomalyEngine({ heartbeat: false });
  const rs = anomalyReadings(readings, true);
  const batches: ReadingBatch[] = [];
  for (let k = ANOMALY_WARM; k < rs.length; k += 256) batches.push(encodeReadings(rs.slice(k, k + 256)));
  for (let k = 0; k < ANOMALY_WARM; k += 256) judgeBatch(engine, encodeReadings(rs.slice(k, Math.min(ANOMALY_WARM, k + 256))), true);
  const cpu0 = process.cpuUsage();
  for (const b of batches) judgeBatch(engine, b, true);
  return cpuSince(cpu0) / (rs.length - ANOMALY_WARM);
}

/** What the raw subscriber does with each payload of the batch row, as text from a buffer, then parsed. */
function rawParse(messages: number): number {
  const payloads = Array.from({ length: 64 }, (_, m) => Buffer.from(batchJson(`floor-${m % 4}`, 1_700_000_000_000, m * BATCH, BATCH)));
  let n = 0;
  for (let i = 0; i < messages / 10; i++) n += (JSON.parse(payloads[i % 64].toString('utf8')) as unknown[]).length;
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < messages; i++) n += (JSON.parse(payloads[i % 64].toString('utf8')) as unknown[]).length;
  const used = cpuSince(cpu0);
  if (n === 0) throw new Error('nothing parsed');
  return used / (messages * BATCH);
}

/** How much each part measures: readings (the store: writes of `storeSize`). */
export interface FloorCounts {
  broker: number;
  input: number;
  storeWrites: number;
  storeSize: number;
  /** Judged after the engine's warm-up (bench/anomaly-cpu.ts WARM). */
  anomaly: number;
  parse: number;
}

/** What `npm run bench` measures: each part a few seconds. */
export const FLOOR_COUNTS: FloorCounts = { broker: 400_000, input: 300_000, storeWrites: 100, storeSize: 5000, anomaly: 400_000, parse: 100_000 };

export async function measureFloorParts(log: (s: string) => void = () => undefined, counts: FloorCounts = FLOOR_COUNTS): Promise<FloorParts> {
  log('  floor: the embedded broker\'s intake');
  const brokerUs = await brokerIntake(counts.broker);
  log('  floor: the input path (decode, validate, journal)');
  const inputUs = (await sharedPathRun(BATCH, counts.input, true)).usPerReading;
  log('  floor: the store\'s writes');
  const storeUs = await storeWrite(counts.storeWrites, counts.storeSize);
  log('  floor: the anomaly engine\'s judgement');
  const anomalyUs = anomalyJudgement(ANOMALY_WARM + counts.anomaly);
  const parseUs = rawParse(counts.parse);
  return { brokerUs, inputUs, storeUs, anomalyUs, parseUs };
}

export interface FloorRow {
  broker: Summary['broker'];
  raw: number;
  /** CPU µs a reading the whole machine has at half the raw ceiling. */
  machineUs: number;
  /** Of it, what the publishers (and mosquitto) took a reading in the raw phase. */
  othersUs: number;
  /** Left for the runtime. */
  budgetUs: number;
  /** The receive part: the embedded broker's intake, or on mosquitto the raw subscriber's own CPU less its JSON.parse. */
  receiveUs: number;
  /** The runtime's parts measured alone, summed: receive, input, store, anomaly. */
  partsUs: number;
  /** The runtime's CPU a reading in its batch phase of this run. */
  oursUs?: number;
}

/** The budget at half the raw ceiling for each broker whose 10-reading raw row ran. */
export function floorRows(sums: Summary[], parts: FloorParts, cores: number): FloorRow[] {
  const out: FloorRow[] = [];
  for (const raw of sums) {
    if (raw.batch !== BATCH || raw.consumer !== 'raw') continue;
    const perReading = (f: (r: Summary['rounds'][number]) => number) => median(raw.rounds.map((r) => (f(r) / r.readings) * 1e6));
    const machineUs = (cores * 1e6) / (raw.rate / 2);
    // On the embedded broker the raw row's broker is a second runtime: that work is the runtime's own, counted as the broker's intake.
    const othersUs = perReading((r) => r.loadCpu + (raw.broker === 'mosquitto' ? r.brokerCpu : 0));
    const receiveUs = raw.broker === 'mosquitto' ? Math.max(0, perReading((r) => r.consumerCpu) - parts.parseUs) : parts.brokerUs;
    const ours = sums.find((s) => s.broker === raw.broker && s.batch === BATCH && s.consumer === 'upperstack');
    out.push({
      broker: raw.broker,
      raw: raw.rate,
      machineUs,
      othersUs,
      budgetUs: machineUs - othersUs,
      receiveUs,
      partsUs: receiveUs + parts.inputUs + parts.storeUs + parts.anomalyUs,
      oursUs: ours ? ours.consumerPerReading * 1e6 : undefined,
    });
  }
  return out;
}

const us = (n: number) => n.toFixed(2);

export function floorTable(parts: FloorParts, rows: FloorRow[]): string {
  const lines = [
    `Parts measured alone, CPU µs a reading: the embedded broker's intake ${us(parts.brokerUs)}; decode, validate and journal ${us(parts.inputUs)}; the store's writes ${us(parts.storeUs)}; the anomaly engine's judgement ${us(parts.anomalyUs)}; taken off the raw subscriber's receive on mosquitto, its JSON.parse ${us(parts.parseUs)}.`,
  ];
  if (rows.length) {
    lines.push(
      '',
      '| broker | raw ceiling | half of it | CPU µs a reading, both cores | publishers (and mosquitto) | left for the runtime | its parts alone (receive + input + store + anomaly) | Upperstack measured | fits |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
      ...rows.map(
        (r) =>
          `| ${r.broker} | ${Math.round(r.raw).toLocaleString('en-US')} | ${Math.round(r.raw / 2).toLocaleString('en-US')} | ${us(r.machineUs)} | ${us(r.othersUs)} | ${us(r.budgetUs)} | ${us(r.partsUs)} (${us(r.receiveUs)} + ${us(parts.inputUs)} + ${us(parts.storeUs)} + ${us(parts.anomalyUs)}) | ${r.oursUs === undefined ? '—' : us(r.oursUs)} | ${r.partsUs <= r.budgetUs ? 'yes, if nothing else costs' : `no: the parts alone are ${us(r.partsUs - r.budgetUs)} µs over`} |`,
      ),
    );
  }
  return lines.join('\n');
}

if (require.main === module) {
  measureFloorParts((s) => console.error(s)).then(
    (parts) => console.log(floorTable(parts, [])),
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
