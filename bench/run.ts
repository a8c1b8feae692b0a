/**
 * `npm run bench`: end-to-end throughput, latency and memory of the Upperstack
 * pipeline for QoS 1 JSON readings over loopback, next to two references on the
 * same broker and load:
 *
 *   raw    a bare MQTT.js subscriber that only JSON.parses (the ceiling)
 *   stock  a plain Node-RED 4.1 process with core nodes only:
 *          mqtt in → json → join (1000) → function writing the same DuckDB table
 *   ours   the real runtime (dist/scripts/start.js) with the default flow pack as
 *          shipped: journal → decode → validate → store (DuckDB) → anomaly, alerts
 *
 * for (a) the embedded broker (our runtime hosts it; raw and stock connect to it
 * as external clients on bench/... topics, which our pipeline does not subscribe
 * to) and (b) an external Debian mosquitto, with single-reading messages and
 * 10-reading batches. Each consumer is measured in its own phase, so they never
 * compete. Then the three at a fixed 10,000 readings/s (latency), our runtime
 * alone under a sustained burst of 10-reading batches (informational: what it keeps
 * resident once a burst lasts a minute), and the RSS of an idle runtime. Method
 * notes are in docs/performance.md.
 *
 * Environment: BENCH_READINGS (per phase, default 400000), BENCH_WARM_MESSAGES
 * (before each phase, every consumer alike, default 10000; BENCH_WARM_READINGS sets
 * readings instead), BENCH_PUBLISHERS (2),
 * BENCH_CLIENTS (MQTT clients per publisher, 2), BENCH_INFLIGHT (100),
 * BENCH_ROUNDS (rounds with 1 reading/msg, 3), BENCH_BATCH_ROUNDS (rounds with
 * 10 readings/msg, 1), BENCH_INGEST_ROW=0 (leave out the informational row with
 * the anomaly node disabled; BENCH_INGEST_ROUNDS, 1), BENCH_LATENCY_RATE (10000)
 * and BENCH_LATENCY_SECONDS (15) for the latency row, BENCH_SUSTAINED_READINGS
 * (6000000) for the sustained phase, BENCH_IDLE_SECONDS (15),
 * BENCH_PHASE_TIMEOUT_S (60), BENCH_MOSQUITTO (binary, or "none" to skip),
 * BENCH_ONLY (comma list of parts pipeline, latency, sustained, idle, anomaly, alerts,
 * inputs, hostile; brokers embedded, mosquitto; shapes single, batch; consumers
 * upperstack, raw, stock, upperstack-ingest), BENCH_PROFILE_DIR (the runtime
 * writes a V8 CPU profile there, see cpu-profile.ts), BENCH_JSON (write the
 * results there), BENCH_RUNTIME_NODE_OPTIONS (NODE_OPTIONS for the Upperstack
 * runtime only; a heap flag set there replaces the shipped one), BENCH_ANOMALY=0 (leave out the anomaly engine's table,
 * bench/anomaly.ts), BENCH_ALERTS=0 (leave out the alert rule engine's table,
 * bench/alerts.ts; BENCH_ONLY=alerts runs only that), BENCH_HOSTILE=0 (leave out
 * the hostile-mix row, bench/hostile.ts; BENCH_ONLY=hostile runs only that;
 * BENCH_HOSTILE_MESSAGES, default 10000), BENCH_INFLUX=0 (leave out the InfluxDB
 * rows, bench/influx.ts; BENCH_ONLY=influx runs only those; BENCH_INFLUX_READINGS,
 * default 50000; BENCH_INFLUX_ROUNDS, default 1; BENCH_INFLUX_MODE live, drain or both,
 * default both), BENCH_PROBE_LOG (append each latency probe's send time and latency
 * in ms to that file, to line the tail up with UPPERSTACK_DUCKDB_TRACE's writes and checkpoints;
 * the publishers' CPU per reading, first chunk and the rest, goes to <file>.pub),
 * BENCH_PUB_FRESH=1 (fork fresh publishers for each measured phase instead of going on with the
 * warm-up's, the method before 2026-11-30 23:20), BENCH_CONSUMER_NODE_OPTIONS (NODE_OPTIONS for every
 * consumer alike: our runtime, the stock flow and the raw subscriber; e.g. a --trace-opt preload),
 * BENCH_POLL_MS (the latency probe's poll interval, default 25), BENCH_STOCK_SHARED_CONN=1 (the stock
 * flow reads on its write connection, behind its writes, the method before 2026-12-02). BENCH_PROFILE_DIR
 * profiles the stock flow's first measured phase too.
 *
 * It is a measurement, not a test: it exits 0 whether targets are met or not.
 */
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { anomalyTable, benchAnomaly, type AnomalyBenchRow } from './anomaly';
import { alertsTable, benchAlerts, type AlertsBenchRow } from './alerts';
import { benchHostile, hostileTable, type HostileBenchRow } from './hostile';
import { benchInputs, inputsTable, type InputsBenchRow } from './inputs';
import { benchSharedPath, sharedPathTable } from './shared-path';
import { floorRows, floorTable, measureFloorParts, type FloorParts } from './batch-floor';
import { benchInflux } from './influx';
import { influxTable } from './influx-report';
import { ALERTS, ANOMALY, BATCH_ROUNDS, CLIENTS, HOSTILE, INFLIGHT, INGEST_ROUNDS, INGEST_ROW, LATENCY_RATE, LATENCY_SECONDS, POLL_MS, PUBLISHERS, READINGS, ROUNDS, SUSTAINED_READINGS, env, latencyRows, log, rows, skipped, sustainedRows, want, type Row } from './pipeline-knobs';
import { findMosquitto } from './pipeline-consumers';
import { group, idleRss, measureIdle } from './pipeline-groups';
import { fmtRate } from './pipeline-format';
import { latencyTable, summaries, sustainedTable, table, verdictTable, verdicts, type Summary } from './pipeline-report';

async function main(): Promise<void> {
  const started = Date.now();
  const mosquittoBin = findMosquitto();
  log(`${cpus().length} CPUs, node ${process.version}; ${READINGS.toLocaleString('en-US')} readings per phase, ${PUBLISHERS} publisher processes × ${CLIENTS} clients × ${INFLIGHT} in flight`);
  for (const broker of ['embedded', 'mosquitto'] as const) {
    if (!want('pipeline') || !want(broker)) continue;
    for (const batch of [1, 10]) {
      if (!want(batch === 1 ? 'single' : 'batch')) continue;
      if (broker === 'mosquitto' && !mosquittoBin) continue;
      await group(broker, batch, batch === 1 ? ROUNDS : BATCH_ROUNDS, mosquittoBin);
      // Right after the main rows it is compared with, on a runtime of its own.
      if (broker === 'embedded' && batch === 1 && INGEST_ROW && want('upperstack-ingest')) await group(broker, batch, INGEST_ROUNDS, mosquittoBin, 'ingest');
    }
  }
  if (want('pipeline') && want('mosquitto') && !mosquittoBin) skipped.push('mosquitto: skipped: mosquitto not installed');
  if (want('latency') && want('embedded') && want('single')) await group('embedded', 1, 1, mosquittoBin, 'latency');
  if (want('sustained') && want('embedded') && want('batch') && want('upperstack')) await group('embedded', 10, 1, mosquittoBin, 'sustained');
  if (want('idle')) await measureIdle();
  let floorParts: FloorParts | undefined;
  // BENCH_FLOOR=0 leaves out the budget of the batch rows (BENCH_ONLY=floor runs only its parts).
  if (env.BENCH_FLOOR !== '0' && want('floor')) {
    log('floor: the runtime\'s parts one at a time in this process, against what half the raw ceiling of the batch rows leaves');
    try {
      floorParts = await measureFloorParts(log);
    } catch (err) {
      skipped.push(`floor: failed: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  let anomaly = '';
  let anomalyRows: AnomalyBenchRow[] | undefined;
  if (ANOMALY) {
    // After the pipeline phases, so it never competes with them for the CPU.
    log('anomaly engine: steady-state throughput and memory per series');
    try {
      anomalyRows = await benchAnomaly();
      anomaly = anomalyTable(anomalyRows);
    } catch (err) {
      anomaly = `anomaly benchmark failed: ${(err as Error).message}`;
    }
  }
  let alerts = '';
  let alertsRows: AlertsBenchRow[] | undefined;
  if (ALERTS) {
    log('alert rule engine: readings/s through 100 rules over 10,000 devices, memory per (rule, device)');
    try {
      alertsRows = await benchAlerts();
      alerts = alertsTable(alertsRows);
    } catch (err) {
      alerts = `alerts benchmark failed: ${(err as Error).message}`;
    }
  }
  let inputs = '';
  let inputsRows: InputsBenchRow[] | undefined;
  // BENCH_INPUTS=0 leaves out the HTTP and CoAP input rows (BENCH_ONLY=inputs runs only them).
  if (env.BENCH_INPUTS !== '0' && want('inputs')) {
    log('inputs: HTTP and CoAP into the default pack, and the stock HTTP flow');
    try {
      inputsRows = await benchInputs(log);
      inputs = inputsTable(inputsRows);
      log('inputs: the shared input path in-process (decode, normalise, validate, journal, intake, settle)');
      inputs += `\n\nThe shared input path in this process (bench/shared-path.ts; no HTTP server, Node-RED or store):\n\n${sharedPathTable(await benchSharedPath())}`;
    } catch (err) {
      inputs = `inputs benchmark failed: ${(err as Error).message}`;
    }
  }
  let hostile = '';
  let hostileRow: HostileBenchRow | undefined;
  if (HOSTILE) {
    log('hostile mix: 10,000 MQTT messages, half of them hostile, then time until healthy again');
    try {
      hostileRow = await benchHostile();
      hostile = hostileTable(hostileRow);
    } catch (err) {
      hostile = `hostile-mix benchmark failed: ${(err as Error).message}`;
    }
  }
  let influx = '';
  let influxRows: Awaited<ReturnType<typeof benchInflux>> | undefined;
  // BENCH_INFLUX=0 leaves out the InfluxDB rows (BENCH_ONLY=influx runs only them).
  if (env.BENCH_INFLUX !== '0' && want('influx')) {
    log('influx: Upperstack → InfluxDB 1.x against two stock Node-RED flows and a bare writer; roll-up query');
    try {
      influxRows = await benchInflux(log);
      influx = influxTable(influxRows);
    } catch (err) {
      influx = `influx benchmark failed: ${(err as Error).message}`;
    }
  }
  const sums = summaries(rows);
  const lat = summaries(latencyRows);
  const v = verdicts(sums, lat);
  const floor = floorParts ? floorRows(sums, floorParts, cpus().length) : [];
  const pipeline =
    sums.length + lat.length + sustainedRows.length === 0 && !idleRss && !floorParts
      ? []
      : [
          '',
          `Upperstack pipeline benchmark: QoS 1 JSON readings over loopback, ${READINGS.toLocaleString('en-US')} readings per phase, the flow pack as shipped (anomaly and alert nodes on)`,
          `(${cpus().length} CPUs, node ${process.version}, ${PUBLISHERS} publisher processes × ${CLIENTS} MQTT clients × ${INFLIGHT} messages in flight; rounds: ${ROUNDS} with 1 reading/msg, ${BATCH_ROUNDS} with 10)`,
          '',
          ...(sums.length ? [table(sums), ''] : []),
          ...(lat.length ? [`Latency at a fixed ${fmtRate(LATENCY_RATE)} readings/s (single-reading messages, ${LATENCY_SECONDS} s), published → queryable:`, '', latencyTable(lat), ''] : []),
          ...(sustainedRows.length
            ? [
                `Sustained (informational, no target of its own): ${fmtRate(SUSTAINED_READINGS)} readings in 10-reading batches into the pack as shipped on the embedded broker, as fast as acknowledged; the other phases end before the runtime's memory has settled:`,
                '',
                sustainedTable(sustainedRows),
                '',
              ]
            : []),
          ...(floorParts
            ? [
                `What half the raw ceiling of the 10-reading batch rows leaves the runtime, against its parts measured one at a time in this process (bench/batch-floor.ts; a lower bound: Node-RED's messages, the alert node and the collector come on top):`,
                '',
                floorTable(floorParts, floor),
                '',
              ]
            : []),
          ...skipped.map((s) => `- ${s}`),
          ...(skipped.length ? [''] : []),
          verdictTable(v),
          '',
          `readings/s: published → counted in the store (raw: received); acked/s: published → last PUBACK; latency: publish → first poll that sees the probe row (poll every ${POLL_MS} ms); µs/reading: CPU time of the consumer process (all: consumer, broker and publishers together) per reading`,
          '',
        ];
  const out = [
    ...pipeline,
    ...(anomaly ? ['', 'Anomaly engine (bench/anomaly.ts): 100,000 points through AnomalyEngine.process() over 20 warmed-up series; heap per series with full windows', '', anomaly, ''] : []),
    ...(inputs ? ['', 'HTTP and CoAP inputs (bench/inputs.ts): JSON readings into the default pack (anomaly node disabled) a stock Node-RED http in → json → http response + join → DuckDB writer flow, and a bare node:http server that only JSON.parses (the ceiling); readings/s counted in the store, latency request → answer', '', inputs, ''] : []),
    ...(hostile ? ['', 'Hostile mix (bench/hostile.ts): the default flow pack takes 10,000 QoS 1 messages (test/helpers/hostile-mix.ts), half ordinary, half hostile; peak RSS of the runtime while it works through them, and seconds from the last PUBACK until a new device is queryable, /health is 200 and the journals are settled', '', hostile, ''] : []),
    ...(influx ? ['', 'InfluxDB 1.x (bench/influx.ts): a burst of 50,000 single-reading QoS 1 messages through mosquitto into influxd, one consumer at a time, measured live (published while it runs: first publish → counted in InfluxDB) and as a backlog drain (queued at the broker while it is stopped: continue → counted); lost = acknowledged by the broker and never stored, peak RSS of the consumer; roll-up query on the embedded store', '', influx, ''] : []),
    ...(alerts ? ['', 'Alert rule engine (bench/alerts.ts): 400,000 readings (5 fields each) through RuleEngine.process() in messages of 100, 100 rules of every kind over 10,000 devices, one timer tick per 10,000 readings; heap per (rule, device) pair (target: 200,000 readings/s per core)', '', alerts, ''] : []),
    `total ${Math.round((Date.now() - started) / 1000)} s`,
    '',
  ].join('\n');
  process.stdout.write(out);
  if (env.BENCH_JSON) {
    // The probes' latencies are in the percentiles; the JSON keeps their count.
    const stripRow = ({ latencies, ...r }: Row) => ({ ...r, probes: latencies.length });
    const strip = (list: Summary[]) => list.map(({ rounds, ...rest }) => ({ ...rest, rounds: rounds.map(stripRow) }));
    writeFileSync(env.BENCH_JSON, JSON.stringify({ summary: strip(sums), latency: strip(lat), sustained: sustainedRows.map(stripRow), idleRss, floor: floorParts ? { parts: floorParts, rows: floor } : undefined, verdicts: v, skipped, anomaly: anomalyRows, alerts: alertsRows, inputs: inputsRows, hostile: hostileRow, influx: influxRows, readings: READINGS, publishers: PUBLISHERS, clients: CLIENTS, inflight: INFLIGHT, rounds: ROUNDS, batchRounds: BATCH_ROUNDS }, null, 2));
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    // A measurement, not a test: report and still exit 0.
    log(`benchmark failed: ${err instanceof Error ? err.stack : String(err)}`);
    process.exit(0);
  },
);
