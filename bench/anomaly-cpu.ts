/**
 * CPU per reading of the anomaly node's engine, split by thread, on readings
 * shaped like the pipeline benchmark's (4 devices, temperature and humidity,
 * one reading per message): the engine alone on one thread, then the worker
 * host as the node uses it (messages handed over in turns of the event loop,
 * verdicts rebuilt on the main thread). The main thread's CPU comes from
 * /proc/thread-self/stat, the rest (worker thread, GC helpers) is the
 * process's CPU minus that. Run alone: node dist/bench/anomaly-cpu.js
 * (ANOMALY_CPU_READINGS, default 200,000; ANOMALY_CPU_TURN, messages per
 * turn of the event loop, default 64; ANOMALY_CPU_RATE, readings/s of the
 * paced row, default 10,000, which hands over a millisecond's worth per
 * timer tick, as a broker delivers them, rather than as fast as it can;
 * ANOMALY_CPU_MESSAGE, readings per message, default 1; ANOMALY_CPU_FRESH=1,
 * the measured readings come from 4 devices not seen in the warm-up, as in
 * the pipeline benchmark's measured phase, so their series warm up while
 * measured). The "only anomalous readings" row is the pack's node (output 1
 * unwired: processFlagged).
 */
import { readFileSync } from 'node:fs';
import { AnomalyEngine } from '../nodes/lib/anomaly/engine';
import { WorkerEngineHost } from '../nodes/lib/anomaly/remote/host';
import type { Reading } from '../nodes/lib/reading';

const READINGS = Number(process.env.ANOMALY_CPU_READINGS) || 200_000;
const TURN = Number(process.env.ANOMALY_CPU_TURN) || 64;
const RATE = Number(process.env.ANOMALY_CPU_RATE) || 10_000;
const PER_MESSAGE = Number(process.env.ANOMALY_CPU_MESSAGE) || 1;
const FRESH = process.env.ANOMALY_CPU_FRESH === '1';
/** Readings judged before measuring, so every series is past its warm-up. */
export const WARM = 20_000;
const DEVICES = ['bench-p0-c0', 'bench-p0-c1', 'bench-p1-c0', 'bench-p1-c1'];

export interface AnomalyCpuRow {
  path: string;
  /** CPU µs per reading on the calling (main) thread. */
  mainUs: number;
  /** CPU µs per reading elsewhere in the process (worker thread, GC helper threads). */
  otherUs: number;
}

/** Like bench/common.ts readingJson: a sawtooth per field, one millisecond apart per device. */
export function anomalyReadings(n: number, fresh = FRESH): Reading[] {
  const out: Reading[] = [];
  for (let k = 0; k < n; k++) {
    const device = fresh && k >= WARM ? `${DEVICES[k % 4]}-m` : DEVICES[k % 4];
    out.push({ device, ts: 1_700_000_000_000 + Math.floor(k / 4), fields: { temperature: (200 + (k % 150)) / 10, humidity: (400 + (k % 97)) / 10 }, tags: {} });
  }
  return out;
}

// CLK_TCK is 100 on Linux.
function threadCpuSeconds(): number {
  const stat = readFileSync('/proc/thread-self/stat', 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / 100;
}

function processCpuSeconds(): number {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1e6;
}

function measure(n: number, run: () => void | Promise<void>): Promise<{ main: number; other: number }> {
  const m0 = threadCpuSeconds();
  const p0 = processCpuSeconds();
  return Promise.resolve(run()).then(() => {
    const main = threadCpuSeconds() - m0;
    const all = processCpuSeconds() - p0;
    return { main: (main / n) * 1e6, other: (Math.max(0, all - main) / n) * 1e6 };
  });
}

async function inProcess(rs: Reading[]): Promise<AnomalyCpuRow> {
  const engine = new AnomalyEngine({ heartbeat: false, clock: () => 0 });
  for (let k = 0; k < WARM; k++) engine.process([rs[k]]);
  let flagged = 0;
  const t = await measure(rs.length - WARM, () => {
    for (let k = WARM; k < rs.length; k++) if (engine.process([rs[k]])[0].isAnomaly) flagged++;
  });
  if (flagged < 0) console.log(flagged);
  return { path: 'engine on this thread (one reading per call)', mainUs: t.main, otherUs: t.other };
}

async function worker(rs: Reading[], paced: boolean, flaggedOnly = false): Promise<AnomalyCpuRow> {
  const host = new WorkerEngineHost({ engine: { heartbeat: false }, heartbeatEveryMs: null, events: { onHeartbeats: () => undefined } });
  await host.start();
  const judge = (from: number) => (flaggedOnly ? host.processFlagged(rs.slice(from, from + PER_MESSAGE)) : host.process(rs.slice(from, from + PER_MESSAGE)));
  const feed = async (from: number, to: number) => {
    // TURN messages per turn of the event loop, up to 8 turns in flight: the worker works while the main thread hands over more.
    const inflight: Array<Promise<unknown>> = [];
    for (let k = from; k < to; k += TURN * PER_MESSAGE) {
      const end = Math.min(to, k + TURN * PER_MESSAGE);
      const turn: Array<Promise<unknown>> = [];
      for (let i = k; i < end; i += PER_MESSAGE) turn.push(judge(i));
      inflight.push(Promise.all(turn));
      if (inflight.length >= 8) await inflight.shift();
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all(inflight);
  };
  const pace = async (from: number, to: number) => {
    const perTick = Math.max(1, Math.round(RATE / 1000));
    const pending: Array<Promise<unknown>> = [];
    const start = Date.now();
    for (let k = from; k < to; k += perTick) {
      for (let i = k; i < Math.min(to, k + perTick); i += PER_MESSAGE) pending.push(judge(i));
      // The next tick at its due time: a millisecond's worth of readings per tick.
      const due = start + ((k - from) / perTick + 1);
      await new Promise((r) => setTimeout(r, Math.max(0, due - Date.now())));
    }
    await Promise.all(pending);
  };
  try {
    await feed(0, WARM);
    const t = await measure(rs.length - WARM, () => (paced ? pace(WARM, rs.length) : feed(WARM, rs.length)));
    const only = flaggedOnly ? ', only anomalous readings back' : '';
    const path = paced ? `worker host (${RATE.toLocaleString('en-US')} readings/s in messages of ${PER_MESSAGE}${only})` : `worker host (${TURN} messages of ${PER_MESSAGE} reading(s) per turn${only})`;
    return { path, mainUs: t.main, otherUs: t.other };
  } finally {
    await host.close();
  }
}

export async function benchAnomalyCpu(): Promise<AnomalyCpuRow[]> {
  const rs = anomalyReadings(READINGS);
  // The paced row takes READINGS / RATE seconds: 10 s at the defaults with 100,000 readings.
  const paced = rs.slice(0, Math.min(rs.length, WARM + RATE * 10));
  return [await inProcess(rs), await worker(rs, false), await worker(rs, false, true), await worker(paced, true), await worker(paced, true, true)];
}

export function anomalyCpuTable(rows: AnomalyCpuRow[]): string {
  const lines = [
    '| path | main thread µs/reading | other threads µs/reading | total µs/reading |',
    '|---|---:|---:|---:|',
    ...rows.map((r) => `| ${r.path} | ${r.mainUs.toFixed(1)} | ${r.otherUs.toFixed(1)} | ${(r.mainUs + r.otherUs).toFixed(1)} |`),
  ];
  return lines.join('\n');
}

if (require.main === module) {
  benchAnomalyCpu().then(
    (rows) => console.log(anomalyCpuTable(rows)),
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
