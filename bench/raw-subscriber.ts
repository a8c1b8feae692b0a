/**
 * The ceiling reference: a bare MQTT.js subscriber (QoS 1, so it acknowledges
 * every message like our input does) that only JSON.parses each payload and
 * counts readings. Whatever rate it reaches is the most any consumer on this
 * broker, machine and load can do. Probe messages give its latency: receive time
 * minus the send time embedded as the probe reading's ts.
 *
 * IPC: {type:'ready'} after SUBACK; {type:'complete'} when `expected` load
 * readings arrived; {type:'progress'} whenever asked with {type:'report'}, and
 * once unasked when half of `expected` arrived (the bench splits the phase's CPU there);
 * {type:'reset', expected} starts counting again (after the warm-up).
 *
 * BENCH_PROBE_LOG=<file>: each probe's send time and latency also go to
 * `<file>.raw`, as the store-backed rows' go to `<file>`, so the first second
 * of the phase can be told apart for the broker and load generator alone.
 */
import { appendFileSync } from 'node:fs';
import mqtt from 'mqtt';
import type { RawReport, RawSubscriberConfig } from './common';

const cfg = JSON.parse(process.argv[2]) as RawSubscriberConfig;
const report = (r: RawReport) => process.send?.(r);
const probeLog = process.env.BENCH_PROBE_LOG ? `${process.env.BENCH_PROBE_LOG}.raw` : undefined;

let readings = 0;
let firstAt = 0;
let lastAt = 0;
let completed = false;
let halfReported = false;
const latencies: number[] = [];

async function main(): Promise<void> {
  const client = await mqtt.connectAsync(cfg.url, { clientId: `bench-raw-${process.pid}`, protocolVersion: 4, clean: true, reconnectPeriod: 0 });
  client.on('message', (topic, payload) => {
    const now = Date.now();
    const data = JSON.parse(payload.toString('utf8')) as unknown;
    if (topic === cfg.probeTopic) {
      const first = (Array.isArray(data) ? data[0] : data) as { ts: number };
      latencies.push(now - first.ts);
      if (probeLog) appendFileSync(probeLog, `${first.ts} ${now - first.ts}\n`);
      return;
    }
    if (firstAt === 0) firstAt = now;
    readings += Array.isArray(data) ? data.length : 1;
    lastAt = now;
    // Unasked, once past half: the bench splits the phase's CPU there.
    if (!halfReported && readings >= cfg.expected / 2) {
      halfReported = true;
      report({ type: 'progress', readings, firstAt, lastAt, latencies: [] });
    }
    if (!completed && readings >= cfg.expected) {
      completed = true;
      report({ type: 'complete', readings, firstAt, lastAt, latencies });
    }
  });
  await client.subscribeAsync(cfg.filter, { qos: 1 });
  report({ type: 'ready' });
  process.on('message', (m: { type?: string }) => {
    if (m?.type === 'reset') {
      // The next phase: the warm-up is done, count the measured load from zero.
      readings = 0;
      firstAt = 0;
      lastAt = 0;
      completed = false;
      halfReported = false;
      latencies.length = 0;
      cfg.expected = (m as { expected: number }).expected;
    }
    if (m?.type === 'report') report({ type: 'progress', readings, firstAt, lastAt, latencies });
    if (m?.type === 'exit') void client.endAsync().finally(() => process.exit(0));
  });
}

process.on('disconnect', () => process.exit(0));
main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
