/**
 * Checkpoint size and cost per device for docs/scaling.md
 * (`node dist/bench/checkpoint.js`): the default anomaly detector after 50, 300
 * and 2,000 readings of two numeric fields per device (10 s apart), exported
 * and encoded as a partition owner does it, in the format of the previous
 * version (gzip'd JSON) and the current one (CBOR with packed number arrays,
 * raw deflate). Two kinds of values: sensor-like (two decimals) and full
 * double precision (random bits, what compresses worst).
 *
 * CPU is process CPU time per device for export + encode (what a member
 * spends every checkpoint period per busy device) and for decode (a take-over),
 * the median of BENCH_CHECKPOINT_ROUNDS (default 5) rounds. A measurement, not a test.
 */
import { loadavg } from 'node:os';
import { AnomalyEngine } from '../nodes/lib/anomaly/engine';
import { decodeCheckpoint, encodeCheckpoint, encodeCheckpointV1, type Checkpoint } from '../nodes/lib/cluster/state';
import type { Reading } from '../nodes/lib/reading';

const DEVICES = 50;
const ROUNDS = Number(process.env.BENCH_CHECKPOINT_ROUNDS ?? 5);

function cpuUs(work: () => void): number {
  const times: number[] = [];
  work();
  for (let r = 0; r < ROUNDS; r++) {
    const t = process.cpuUsage();
    work();
    const u = process.cpuUsage(t);
    times.push(u.user + u.system);
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1];
}

function engineAfter(readings: number, kind: 'sensor' | 'double'): AnomalyEngine {
  let seed = 11;
  const rnd = () => (seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648;
  const e = new AnomalyEngine({});
  const t0 = Date.now() - readings * 10_000;
  for (let i = 0; i < readings; i++) {
    const rs: Reading[] = [];
    for (let d = 0; d < DEVICES; d++) {
      const a = 20 + 3 * Math.sin(i / 40 + d) + rnd();
      const b = 50 + ((i * 7 + d) % 13) + rnd();
      rs.push({ device: `dev-${d}`, ts: t0 + i * 10_000 + d, fields: kind === 'sensor' ? { temperature: Math.round(a * 100) / 100, humidity: Math.round(b * 100) / 100 } : { temperature: a, humidity: b }, tags: {} });
    }
    e.process(rs);
  }
  return e;
}

// Compiled code for both formats before anything is timed.
{
  const e = engineAfter(300, 'sensor');
  for (let i = 0; i < 10; i++) {
    const cp: Checkpoint = { version: 2, partition: 0, holder: 'h', member: 'm', at: 0, state: e.exportDevices(() => true) };
    decodeCheckpoint(encodeCheckpoint(cp));
    decodeCheckpoint(encodeCheckpointV1(cp));
  }
}
console.log(`load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}; ${DEVICES} devices per checkpoint, two fields each; median of ${ROUNDS} rounds`);
console.log('| values | readings | JSON (KB/device) | gzip JSON (KB/device) | format 2 (KB/device) | export+encode gzip JSON (µs/device) | export+encode format 2 (µs/device) | decode gzip JSON (µs/device) | decode format 2 (µs/device) |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const kind of ['sensor', 'double'] as const) {
  for (const n of [50, 300, 2000]) {
    const e = engineAfter(n, kind);
    const cp = (): Checkpoint => ({ version: 2, partition: 0, holder: 'upperstack-anomaly:x', member: 'm', at: Date.now(), state: e.exportDevices(() => true) });
    const json = JSON.stringify(cp().state).length;
    const v1 = encodeCheckpointV1(cp());
    const v2 = encodeCheckpoint(cp());
    const encV1 = cpuUs(() => encodeCheckpointV1(cp()));
    const encV2 = cpuUs(() => encodeCheckpoint(cp()));
    const decV1 = cpuUs(() => decodeCheckpoint(v1));
    const decV2 = cpuUs(() => decodeCheckpoint(v2));
    const kb = (b: number) => (b / DEVICES / 1000).toFixed(1);
    const us = (t: number) => (t / DEVICES).toFixed(0);
    console.log(`| ${kind} | ${n} | ${kb(json)} | ${kb(v1.length)} | ${kb(v2.length)} | ${us(encV1)} | ${us(encV2)} | ${us(decV1)} | ${us(decV2)} |`);
  }
}
