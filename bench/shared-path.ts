/**
 * CPU per reading of the input path every HTTP and CoAP request shares, in one
 * process, without the HTTP server, Node-RED or a store: decode, normalise and
 * validate (processRequest), the journal record and its write (Intake.submit,
 * one write per event-loop turn), the emitted readings, and settling the
 * journal entries. Part of the inputs rows (BENCH_ONLY=inputs); it moves only
 * when that path does, whatever else runs on the machine, which the end-to-end
 * rows cannot say.
 */
import { rmSync } from 'node:fs';
import { Intake } from '../nodes/lib/ingest/intake';
import type { Received } from '../nodes/lib/ingest/record';
import { consumeReceipts } from '../nodes/lib/ingest/receipts';
import { processRequest, type InputOptions, type InputOutcome } from '../nodes/lib/inputs/request';
import { loadSchema } from '../nodes/lib/schema/validator';
import { tempDir } from '../test/helpers/temp';
import { batchJson, readingJson } from './common';

export interface SharedPathRow {
  per: number;
  readings: number;
  /** CPU time (this process) per reading. */
  usPerReading: number;
}

const T0 = 1_600_000_000_000;
// Requests journaled per event-loop turn (32 keep-alive clients).
const CONCURRENT = 32;
// The HTTP input's meta for /ingest (one object per route).
const META = { route: 'ingest' };

/**
 * A request body: readings of one field (the inputs rows), or `pipeline`: the
 * readings the MQTT rows publish (bench/common.ts, two fields each).
 */
function body(device: string, i: number, per: number, pipeline: boolean): Buffer {
  if (pipeline) return Buffer.from(per === 1 ? readingJson(device, T0 + i, i) : batchJson(device, T0, i * per, per));
  const rs = Array.from({ length: per }, (_, k) => ({ device, ts: T0 + (i * per + k) * 10, temperature: 20 + ((i + k) % 50) / 10 }));
  return Buffer.from(JSON.stringify(per === 1 ? rs[0] : rs));
}

export async function sharedPathRun(per: number, readings: number, pipeline = false): Promise<SharedPathRow> {
  const dir = tempDir('us-bench-shared-');
  const opts: InputOptions = { validate: loadSchema({}).validate, maxBytes: 1_048_576, deviceTag: 'device' };
  let stored = 0;
  // As the input node does: the outcome computed for the answer goes out with the journaled request.
  const outcomes = new WeakMap<Received, InputOutcome>();
  const intake = new Intake({
    id: `bench-shared-${per}`,
    dir,
    highWater: 0,
    // What the input node does with a journaled request: its readings leave, its entry is settled once they are stored.
    emit: (items) => {
      for (const item of items) {
        const out = outcomes.get(item.rec);
        outcomes.delete(item.rec);
        stored += out?.readings.length ?? 0;
        consumeReceipts([{ j: `bench-shared-${per}`, s: item.seq }]);
      }
    },
  });
  intake.open();
  const bodies = Array.from({ length: 64 }, (_, i) => body(`bench-shared-${i % CONCURRENT}`, i, per, pipeline));
  const requests = Math.ceil(readings / per);
  const once = async (n: number) => {
    for (let i = 0; i < n; i += CONCURRENT) {
      const turn: Array<Promise<unknown>> = [];
      for (let c = 0; c < CONCURRENT && i + c < n; c++) {
        const payload = bodies[(i + c) % bodies.length];
        const rec: Received = { source: `http:/ingest/bench-shared-${c}`, payload, receivedAt: Date.now(), meta: META, contentType: 'application/json', device: `bench-shared-${(i + c) % CONCURRENT}`, remote: '127.0.0.1:40000' };
        const answer = processRequest({ route: 'ingest', device: rec.device, contentType: rec.contentType, payload, receivedAt: rec.receivedAt }, opts);
        if (answer.failures.length) throw new Error(`shared path bench: ${answer.failures[0].error.message}`);
        outcomes.set(rec, answer);
        turn.push(intake.submit([rec]));
      }
      await Promise.all(turn);
    }
  };
  try {
    await once(Math.min(requests, 2000)); // warm-up
    stored = 0;
    const cpu = process.cpuUsage();
    await once(requests);
    const used = process.cpuUsage(cpu);
    if (stored !== requests * per) throw new Error(`shared path bench: ${stored} of ${requests * per} readings came out`);
    return { per, readings: stored, usPerReading: (used.user + used.system) / stored };
  } finally {
    intake.close();
    // A background checkpoint of the journal may still be landing a file.
    rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
  }
}

export async function benchSharedPath(): Promise<SharedPathRow[]> {
  return [await sharedPathRun(1, 50_000), await sharedPathRun(100, 500_000)];
}

export function sharedPathTable(rows: SharedPathRow[]): string {
  const lines = ['| readings per request | readings | CPU µs/reading |', '|---|---|---|'];
  for (const r of rows) lines.push(`| ${r.per} | ${r.readings.toLocaleString('en-US')} | ${r.usPerReading.toFixed(2)} |`);
  return lines.join('\n');
}
