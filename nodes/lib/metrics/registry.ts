/**
 * The Prometheus registry behind GET /metrics (prom-client). Every Upperstack
 * metric is read from the tallies and sources in pipeline.ts when a scrape
 * comes in; Node.js process metrics (event-loop lag, heap, RSS, GC) come from
 * prom-client's default collectors. One registry per process, separate from
 * prom-client's global one so that another package using prom-client in the
 * same runtime cannot clash with it.
 */
import type { Counter, Gauge, Registry } from 'prom-client';
import { anomalySources, retiredSinks, decoded, deadLettered, dropped, retainedCleared, inputSources, invalid, nodeErrors, nodeMessages, protocolOf, received, sinkSources, type AnomalyStats, type InputStats } from './pipeline';
import type { LabeledTally, Tally } from './tally';

let registry: Registry | undefined;
/** The inputs' stats taken once per scrape (renderMetrics), read by the received counter and the journal gauges. */
let snapshot: { inputs: Array<{ id: string; type: string; name: string; s: InputStats }>; now: number } = { inputs: [], now: 0 };

function fromTally(counter: Counter, tally: Tally): void {
  counter.reset();
  counter.inc(tally.value);
}

function fromLabeled(metric: Counter | Gauge, tally: LabeledTally): void {
  metric.reset();
  for (const e of tally.entries()) (metric as Counter).inc(e.labels, e.value);
}

function build(): Registry {
  // Loaded with the first scrape: prom-client and the OpenTelemetry API it loads are 88 modules,
  // ~1.4 MB of heap an idle runtime nobody scrapes would hold (docs/performance.md, Memory).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { collectDefaultMetrics, Counter, Gauge, Registry } = require('prom-client') as typeof import('prom-client');
  const reg = new Registry();
  const registers = [reg];
  new Counter({
    name: 'upperstack_messages_received_total',
    help: 'Messages accepted by an input (journaled, then acknowledged or answered), by protocol (mqtt, http, coap).',
    labelNames: ['protocol'],
    registers,
    collect() {
      const by = new Map<string, number>();
      for (const e of received.entries()) by.set(e.labels.protocol, (by.get(e.labels.protocol) ?? 0) + e.value);
      for (const i of snapshot.inputs) by.set(protocolOf(i.type), (by.get(protocolOf(i.type)) ?? 0) + i.s.received);
      this.reset();
      for (const [protocol, n] of by) this.inc({ protocol }, n);
    },
  });
  new Counter({
    name: 'upperstack_readings_decoded_total',
    help: 'Readings produced by decode nodes.',
    registers,
    collect() {
      fromTally(this, decoded);
    },
  });
  new Counter({
    name: 'upperstack_invalid_total',
    help: 'Messages (decode) or readings (validate) rejected as invalid, by stage.',
    labelNames: ['stage'],
    registers,
    collect() {
      fromLabeled(this, invalid);
    },
  });
  new Counter({
    name: 'upperstack_deadletters_total',
    help: 'Records written to the dead-letter path, by error code.',
    labelNames: ['code'],
    registers,
    collect() {
      fromLabeled(this, deadLettered);
    },
  });
  new Counter({
    name: 'upperstack_dropped_total',
    help: 'Acknowledged readings the pipeline dropped. Always 0: every acknowledged message ends stored or dead-lettered.',
    registers,
    collect() {
      fromTally(this, dropped);
    },
  });
  new Counter({
    name: 'upperstack_mqtt_retained_cleared_total',
    help: 'Empty retained MQTT publishes (clearing a topic\'s retained message) the inputs acknowledged with no reading and no dead letter.',
    registers,
    collect() {
      fromTally(this, retainedCleared);
    },
  });
  new Counter({
    name: 'upperstack_readings_stored_total',
    help: 'Readings written to a sink (store), by sink.',
    labelNames: ['sink', 'kind'],
    registers,
    collect() {
      this.reset();
      for (const s of sinkSources().values()) this.inc({ sink: s.name, kind: s.kind }, s.stats().written);
      for (const e of retiredSinks.written.entries()) this.inc(e.labels, e.value);
    },
  });
  new Gauge({
    name: 'upperstack_sink_queue_readings',
    help: 'Readings waiting in memory for the next write to a sink.',
    labelNames: ['sink', 'kind'],
    registers,
    collect() {
      this.reset();
      for (const s of sinkSources().values()) this.set({ sink: s.name, kind: s.kind }, s.stats().queued);
    },
  });
  new Gauge({
    name: 'upperstack_sink_spooled_readings',
    help: 'Readings held in a sink\'s disk spool while the sink is unreachable (durable; written once it is back).',
    labelNames: ['sink', 'kind'],
    registers,
    collect() {
      this.reset();
      for (const s of sinkSources().values()) this.set({ sink: s.name, kind: s.kind }, s.stats().spooled);
    },
  });
  new Counter({
    name: 'upperstack_sink_retries_total',
    help: 'Attempts to write a sink\'s spool again after an outage, by sink.',
    labelNames: ['sink', 'kind'],
    registers,
    collect() {
      this.reset();
      for (const s of sinkSources().values()) this.inc({ sink: s.name, kind: s.kind }, s.stats().retries ?? 0);
      for (const e of retiredSinks.retries.entries()) this.inc(e.labels, e.value);
    },
  });
  new Counter({
    name: 'upperstack_sink_rejected_total',
    help: 'Readings a sink refused for what they hold (dead-lettered as STORE_REJECTED, or BEYOND_RETENTION when older than the sink keeps), by sink.',
    labelNames: ['sink', 'kind'],
    registers,
    collect() {
      this.reset();
      for (const s of sinkSources().values()) this.inc({ sink: s.name, kind: s.kind }, s.stats().rejected ?? 0);
      for (const e of retiredSinks.rejected.entries()) this.inc(e.labels, e.value);
    },
  });
  new Gauge({
    name: 'upperstack_sink_oldest_age_seconds',
    help: 'How long the oldest reading not yet written to a sink (queued or spooled) has waited (0 when none).',
    labelNames: ['sink', 'kind'],
    registers,
    collect() {
      this.reset();
      const now = Date.now();
      for (const s of sinkSources().values()) {
        const at = s.stats().oldestAt;
        this.set({ sink: s.name, kind: s.kind }, at === undefined ? 0 : Math.max(0, (now - at) / 1000));
      }
    },
  });
  new Gauge({
    name: 'upperstack_journal_backlog_messages',
    help: 'Journaled messages not settled yet (not yet stored or dead-lettered), by journal (input node id).',
    labelNames: ['journal', 'type'],
    registers,
    collect() {
      this.reset();
      for (const i of snapshot.inputs) this.set({ journal: i.id, type: i.type }, i.s.pending);
    },
  });
  new Gauge({
    name: 'upperstack_journal_backlog_bytes',
    // The files, not the unsettled entries: what the disk budget counts. Settled entries stay in the file
    // being written until it is full (an eighth of the budget, at most 64 MiB), so this is not 0 with no backlog.
    help: 'Bytes of the journal\'s segment files on disk (settled entries included until their file is removed; what the journal\'s disk budget counts), by journal.',
    labelNames: ['journal', 'type'],
    registers,
    collect() {
      this.reset();
      for (const i of snapshot.inputs) this.set({ journal: i.id, type: i.type }, i.s.bytes);
    },
  });
  new Gauge({
    name: 'upperstack_journal_oldest_age_seconds',
    help: 'How long the oldest unsettled journal entry has waited since it was received (0 when none).',
    labelNames: ['journal', 'type'],
    registers,
    collect() {
      this.reset();
      for (const i of snapshot.inputs) {
        const at = i.s.oldestUnsettledAt;
        this.set({ journal: i.id, type: i.type }, at !== undefined && i.s.pending > 0 ? Math.max(0, (snapshot.now - at) / 1000) : 0);
      }
    },
  });
  new Counter({
    name: 'upperstack_node_messages_total',
    help: 'Messages each Upperstack node handled (an input: messages it accepted); rate() gives the node\'s messages per second.',
    labelNames: ['node', 'type', 'name'],
    registers,
    collect() {
      fromLabeled(this, nodeMessages);
      for (const i of snapshot.inputs) this.inc({ node: i.id, type: i.type, name: i.name }, i.s.received);
    },
  });
  new Counter({
    name: 'upperstack_node_errors_total',
    help: 'Messages each Upperstack node ended with an error (what Catch nodes see).',
    labelNames: ['node', 'type', 'name'],
    registers,
    collect() {
      fromLabeled(this, nodeErrors);
    },
  });
  // nodejs_eventloop_lag_*, nodejs_heap_*, process_resident_memory_bytes, GC and handles.
  const anomaly: Array<[string, 'gauge' | 'counter', keyof AnomalyStats, string]> = [
    ['upperstack_anomaly_series', 'gauge', 'series', 'Series (device × field) an anomaly node is watching.'],
    ['upperstack_anomaly_series_max', 'gauge', 'maxSeries', 'The cap on series of an anomaly node (max series): at it, the least recently seen series are evicted.'],
    ['upperstack_anomaly_series_evicted_total', 'counter', 'evicted', 'Series an anomaly node evicted to stay within its cap (raise max series if this grows).'],
    ['upperstack_anomaly_queued_readings', 'gauge', 'queued', 'Readings handed to an anomaly engine and not yet judged.'],
    ['upperstack_anomaly_refused_total', 'counter', 'refused', 'Messages an anomaly node refused (BACKPRESSURE) because its engine was too far behind.'],
    ['upperstack_anomaly_worker_restarts_total', 'counter', 'restarts', 'Times an anomaly node restarted its worker thread after it died.'],
  ];
  for (const [name, kind, key, help] of anomaly) {
    const Metric = kind === 'gauge' ? Gauge : Counter;
    new Metric({
      name,
      help,
      labelNames: ['node', 'name'],
      registers,
      collect(this: Gauge | Counter) {
        this.reset();
        for (const [id, s] of anomalySources()) (this as Gauge).inc({ node: id, name: s.name }, s.stats()[key]);
      },
    });
  }
  collectDefaultMetrics({ register: reg });
  return reg;
}

/** The registry, built on first use. */
export function metricsRegistry(): Registry {
  registry ??= build();
  return registry;
}

/** The Prometheus text exposition of every metric. */
export async function renderMetrics(): Promise<{ contentType: string; body: string }> {
  const reg = metricsRegistry();
  snapshot = { inputs: [...inputSources()].map(([id, src]) => ({ id, type: src.type, name: src.name ?? '', s: src.stats() })), now: Date.now() };
  return { contentType: reg.contentType, body: await reg.metrics() };
}
