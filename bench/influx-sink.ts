/**
 * The sink path alone (part of the InfluxDB rows, bench/influx.ts): readings
 * already decoded, handed to a DurableWriter in messages of 100 as the store
 * node does, through the InfluxDB (or VictoriaMetrics) sink into the real
 * server; against a bare writer in the same process that builds each line
 * inline and POSTs 5,000-line bodies with fetch. CPU µs per reading is the
 * process's CPU time (every thread: gzip runs on the libuv pool) over the
 * readings written: the sink's own cost, without the pipeline in front of it,
 * which is what the end-to-end rows cannot separate.
 */
import { rmSync } from 'node:fs';
import { InfluxSink } from '../nodes/lib/influx/sink';
import { FieldTypeRegistry } from '../nodes/lib/influx/field-types';
import { DEFAULT_MAPPING } from '../nodes/lib/influx/line';
import { DurableWriter } from '../nodes/lib/store/writer';
import { Journal } from '../nodes/lib/journal/journal';
import { influxSink, INFLUX_DEFAULTS } from '../nodes/lib/store/sinks-influx';
import type { Reading } from '../nodes/lib/reading';
import type { TsdbServer } from '../test/helpers/influxd';
import { tempDir } from '../test/helpers/temp';

export interface SinkPathRow {
  server: 'influxdb' | 'victoriametrics';
  writer: 'sink' | 'bare';
  readings: number;
  seconds: number;
  rate: number;
  cpuUsPerReading: number;
}

const MESSAGE = 100;

function readings(n: number, ts0: number): Reading[] {
  const out: Reading[] = [];
  for (let i = 0; i < n; i++) {
    const k = i >> 2;
    out.push({ device: `bench-p${(i >> 1) & 1}-c${i & 1}`, ts: ts0 + k, fields: { temperature: (200 + (k % 150)) / 10, humidity: (400 + (k % 97)) / 10 }, tags: {} });
  }
  return out;
}

function measure<T>(run: () => Promise<T>): Promise<{ seconds: number; cpuUs: number }> {
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  return run().then(() => {
    const cpu = process.cpuUsage(cpu0);
    return { seconds: Number(process.hrtime.bigint() - t0) / 1e9, cpuUs: cpu.user + cpu.system };
  });
}

/** The pack's InfluxDB sink settings (writer options from the sink kind), on a spool in a temporary folder. */
async function viaSink(server: TsdbServer, kind: 'influxdb' | 'victoriametrics', db: string, data: Reading[]): Promise<{ seconds: number; cpuUs: number }> {
  const dir = tempDir('us-bench-sinkpath-');
  const sink = new InfluxSink({
    server: kind,
    url: server.url,
    api: kind === 'victoriametrics' ? 'v2' : 'v1',
    database: db,
    bucket: kind === 'victoriametrics' ? db : undefined,
    precision: 'ms',
    mapping: DEFAULT_MAPPING,
    types: new FieldTypeRegistry(),
    gzipAbove: INFLUX_DEFAULTS.gzipAbove,
    timeoutMs: INFLUX_DEFAULTS.timeoutMs,
    create: true,
    retentionMs: 0,
  });
  const opts = influxSink.writerOptions!({ id: 'influx', kind, batchSize: INFLUX_DEFAULTS.batchSize, flushMs: INFLUX_DEFAULTS.flushMs });
  const writer = new DurableWriter(sink, new Journal({ dir }), { ...opts, deadLetters: { writeDeadLetters: (_l, durable) => durable() } });
  try {
    await sink.open();
    writer.start();
    return await measure(async () => {
      // As the store node hands them over: one write per message, a window of messages not yet durable.
      const parts: Array<Promise<void>> = [];
      for (let i = 0; i < data.length; i += MESSAGE) {
        parts.push(new Promise((resolve, reject) => writer.write(data.slice(i, i + MESSAGE), (err) => (err ? reject(err) : resolve()))));
        // The inputs pause at 5,000 unsettled messages: keep at most that many readings waiting here too.
        if (parts.length * MESSAGE >= 5000) await parts.shift();
        if ((i / MESSAGE) % 10 === 0) await new Promise((r) => setImmediate(r));
      }
      await Promise.all(parts);
    });
  } finally {
    await writer.close();
    await sink.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** bench/influx-bare.ts's writer, in process: a line per reading built inline, 5,000-line POSTs one at a time. */
async function viaBare(server: TsdbServer, kind: 'influxdb' | 'victoriametrics', db: string, data: Reading[]): Promise<{ seconds: number; cpuUs: number }> {
  const url = kind === 'victoriametrics' ? `${server.url}/write?precision=ms` : `${server.url}/write?db=${encodeURIComponent(db)}&precision=ms`;
  return measure(async () => {
    let lines: string[] = [];
    let chain = Promise.resolve();
    const post = (body: string) =>
      fetch(url, { method: 'POST', body }).then(async (res) => {
        if (res.status !== 204) throw new Error(`${res.status} ${await res.text()}`);
        await res.arrayBuffer();
      });
    for (let i = 0; i < data.length; i++) {
      const r = data[i];
      let fields = '';
      for (const k in r.fields) fields += `${fields ? ',' : ''}${k}=${r.fields[k] as number}`;
      lines.push(`telemetry,device=${r.device.replace(/[,= ]/g, (c) => `\\${c}`)} ${fields} ${r.ts}`);
      if (lines.length >= 5000) {
        const body = lines.join('\n');
        lines = [];
        chain = chain.then(() => post(body));
        await chain;
      }
    }
    if (lines.length) await chain.then(() => post(lines.join('\n')));
  });
}

/** Both writers against one server, sink first then bare, then again (so each pair ran close together). */
export async function benchSinkPath(server: TsdbServer, kind: 'influxdb' | 'victoriametrics', n: number, ts0: number, makeDb: (name: string) => Promise<void>): Promise<SinkPathRow[]> {
  const rows: SinkPathRow[] = [];
  // Warm-up (JIT, keep-alive sockets), not measured.
  await makeDb('sinkpath_warm');
  await viaSink(server, kind, 'sinkpath_warm', readings(20_000, ts0 - 1_000_000));
  await viaBare(server, kind, 'sinkpath_warm', readings(20_000, ts0 - 1_000_000));
  for (const writer of ['sink', 'bare', 'sink', 'bare'] as const) {
    const db = `sinkpath_${writer}_${rows.length}`;
    await makeDb(db);
    // Each run its own timestamps, so no run replaces another's points.
    const data = readings(n, ts0 + rows.length * n);
    const m = writer === 'sink' ? await viaSink(server, kind, db, data) : await viaBare(server, kind, db, data);
    rows.push({ server: kind, writer, readings: n, seconds: m.seconds, rate: n / m.seconds, cpuUsPerReading: m.cpuUs / n });
  }
  return rows;
}
