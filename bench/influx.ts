/**
 * The InfluxDB rows of `npm run bench` (BENCH_ONLY=influx runs only them).
 *
 * Ingest: a burst of 50,000 single-reading QoS 1 messages (BENCH_INFLUX_READINGS),
 * 2 publisher processes × 2 MQTT clients × 100 in flight, through a Debian
 * mosquitto into the same Debian influxd 1.x (one database per phase), for:
 *
 *   upperstack    the real runtime (`npm start` with UPPERSTACK_INFLUX_URL: the default pack,
 *                 anomaly node disabled, journal → decode → validate → store → DuckDB + InfluxDB)
 *   upperstack-only  the same with UPPERSTACK_STORE=influxdb (victoriametrics on that server): the
 *                 server is the only store, no DuckDB; dashboard and alerts still fed
 *   stock message mqtt in → function → influxdb out (node-red-contrib-influxdb, one write per message)
 *   stock batch   mqtt in → function → join 1000 → influxdb batch
 *   bare writer   MQTT.js + JSON.parse + line protocol, 5,000-line POSTs (bench/influx-bare.ts): the ceiling
 *
 * Each consumer gets a fresh broker and process and is measured two ways
 * (BENCH_INFLUX_MODE=live|drain|both, default both):
 *
 *   live   the burst is published while the consumer runs; readings/s: first publish →
 *          the moment InfluxDB counts every reading (or its last new one). On this 2-core
 *          machine the publishers, mosquitto, influxd and the consumer share the CPU, and a
 *          consumer cannot be faster than the burst is published: a fast one measures the
 *          publishers (docs/performance.md).
 *   drain  the consumer is stopped (SIGSTOP; its connection and session stay), a second
 *          burst is published and queued by mosquitto for it, then it is continued
 *          (SIGCONT): readings/s from SIGCONT to the moment InfluxDB counts every reading of
 *          that burst. The backlog a consumer catches up after a pause, with no publisher
 *          running; the same for every consumer.
 *
 * Before either, a warm-up reading every 500 ms until one is stored, then until every warm-up
 * reading is (bench/influx-load.ts), then an unmeasured burst of 20,000 (BENCH_INFLUX_WARM_BURST)
 * until all of it is stored: every consumer starts warm (its path compiled), with no batch or
 * `join` group open.
 *
 * lost: published and acknowledged by the broker but never in InfluxDB (waited for until
 * the count stops growing for 15 s); peak RSS of the consumer process (VmHWM or sampled);
 * CPU µs/reading: CPU time of the consumer process (all threads) while measured / readings stored.
 * CPU budget (bench/influx-budget.ts): every process of the burst's window per reading stored
 * (the consumer's main thread, V8's helper threads and the rest; mosquitto; the server; the
 * publishers; the machine's other busy time), and the rate two cores allow at that total.
 *
 * The same burst into VictoriaMetrics (a fresh server per phase; counted with
 * count_over_time) for Upperstack and the bare writer. Sink path (bench/influx-sink.ts):
 * the sink's writer alone against a bare writer in one process, CPU per reading.
 * BENCH_PROFILE_DIR profiles the runtime over the measured burst (bench/cpu-profile.ts).
 *
 * Roll-up query: one device with a year of 1-minute readings in an embedded
 * store; hourly means over the year from the 1-hour tier and from the raw rows,
 * p50 of repeated queries.
 *
 * Targets (issue 11): ≥ 2× the batched stock flow, ≥ 0.8× the bare writer, 0 lost.
 */
import { influxQuery, startInfluxd, startVictoria } from '../test/helpers/influxd';
import { TS_BASE } from './common';
import { benchSinkPath, type SinkPathRow } from './influx-sink';
import { CONSUMERS, ROLLUP, ROUNDS, SERVERS, SINKPATH, SINKPATH_READINGS, type InfluxBenchRow, type InfluxConsumer, type RollupBenchRow } from './influx-knobs';
import { phase } from './influx-phase';
import { benchRollup } from './influx-rollup';

export async function benchInflux(log: (s: string) => void): Promise<{ rows: InfluxBenchRow[]; sinkPath: SinkPathRow[]; rollup?: RollupBenchRow; failures: string[] }> {
  const influx = await startInfluxd();
  const rows: InfluxBenchRow[] = [];
  const sinkPath: SinkPathRow[] = [];
  const failures: string[] = [];
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      for (const server of SERVERS) {
        // The stock flows write InfluxDB 1.x's /write; against VictoriaMetrics only ours and the bare writer run.
        const consumers: InfluxConsumer[] = server === 'influxdb' ? ['bare', 'upperstack', 'upperstack-only', 'upperstack-duckdb', 'stock-batch', 'stock-message'] : ['bare', 'upperstack', 'upperstack-only'];
        for (const c of consumers) {
          if (CONSUMERS.size && !CONSUMERS.has(c)) continue;
          try {
            rows.push(...(await phase(c, round, server, influx, log)));
          } catch (err) {
            failures.push(`${c} → ${server}: ${(err as Error).message.split('\n')[0]}`);
          }
        }
      }
    }
    if (SINKPATH) {
      for (const server of SERVERS) {
        log(`  sink path → ${server}: ${SINKPATH_READINGS.toLocaleString('en-US')} readings, the sink's writer against the bare writer in process`);
        const vm = server === 'victoriametrics' ? await startVictoria() : undefined;
        try {
          const target = vm ?? influx;
          const made = vm ? async () => undefined : async (name: string) => void (await influxQuery(influx, `CREATE DATABASE "${name}"`));
          const got = await benchSinkPath(target, server, SINKPATH_READINGS, TS_BASE - 30 * 86_400_000, made);
          for (const r of got) log(`    ${r.writer}: ${Math.round(r.rate).toLocaleString('en-US')} readings/s, ${r.cpuUsPerReading.toFixed(2)} µs CPU/reading`);
          sinkPath.push(...got);
        } catch (err) {
          failures.push(`sink path → ${server}: ${(err as Error).message.split('\n')[0]}`);
        } finally {
          await vm?.destroy().catch(() => undefined);
        }
      }
    }
  } finally {
    await influx.destroy();
  }
  let rollup: RollupBenchRow | undefined;
  if (ROLLUP) {
    log('  roll-up query: a year of 1-minute readings, hourly means');
    try {
      rollup = await benchRollup();
    } catch (err) {
      failures.push(`roll-up: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  return { rows, sinkPath, rollup, failures };
}
