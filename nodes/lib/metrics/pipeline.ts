/**
 * What the pipeline counts, in one place. Nodes keep the Tally they need (taken
 * once at deploy) and call inc(); everything that is a level rather than a count
 * (queues, spools, journal backlog) is read from its owner at scrape time
 * through a registered source, so the hot path does no extra work for it.
 */
import { LabeledTally, Tally } from './tally';

/**
 * Messages accepted (journaled, then acknowledged), by protocol, from inputs
 * that do not register an intake, plus what registered inputs had counted when
 * they closed (a redeploy), so the exported counter never goes down while the
 * process lives. Open inputs report their own count.
 */
export const received = new LabeledTally(['protocol'], 16);
/** Readings that left a decode node. */
export const decoded = new Tally();
/** Messages or readings rejected as invalid, by the stage that rejected them (decode, validate, ...). */
export const invalid = new LabeledTally(['stage'], 16);
/** Records written to the dead-letter path, by error code. */
export const deadLettered = new LabeledTally(['code'], 64);
/**
 * Acknowledged readings the pipeline dropped. It never drops any: this stays 0
 * and exists so that an alert rule on it can be written (and would fire).
 */
export const dropped = new Tally();
/** Empty retained MQTT publishes (a retained message cleared) the MQTT inputs acknowledged without a reading or a dead letter. */
export const retainedCleared = new Tally();
/** Messages each node handled, and how many of them ended in done(err). */
export const nodeMessages = new LabeledTally(['node', 'type', 'name'], 2000);
export const nodeErrors = new LabeledTally(['node', 'type', 'name'], 2000);

/** A durable sink's counters as its writer reports them. */
export interface SinkStats {
  /** Readings written to the sink since start. */
  written: number;
  /** Readings waiting in memory for the next write. */
  queued: number;
  /** Readings held in the spool while the sink is unreachable. */
  spooled: number;
  /** Attempts to write the spool again after an outage. */
  retries?: number;
  /** Readings the sink refused, dead-lettered. */
  rejected?: number;
  /** Epoch ms the oldest reading not yet in the sink was handed to its writer. */
  oldestAt?: number;
}

export interface SinkSource {
  name: string;
  kind: string;
  stats(): SinkStats;
}

const sinks = new Map<string, SinkSource>();

/**
 * What closed sinks had counted, by (sink, kind): a redeploy restarts a store
 * config and its writer counts from zero, and Prometheus counters must not go
 * down while the process lives (a drop reads as a restart and skews rate()).
 */
export const retiredSinks = {
  written: new LabeledTally(['sink', 'kind'], 200),
  retries: new LabeledTally(['sink', 'kind'], 200),
  rejected: new LabeledTally(['sink', 'kind'], 200),
};

/** A store config registers its writer; the returned function unregisters it (on close). */
export function registerSink(id: string, source: SinkSource): () => void {
  sinks.set(id, source);
  return () => {
    if (sinks.get(id) !== source) return;
    sinks.delete(id);
    const s = source.stats();
    retiredSinks.written.child(source.name, source.kind).inc(s.written);
    retiredSinks.retries.child(source.name, source.kind).inc(s.retries ?? 0);
    retiredSinks.rejected.child(source.name, source.kind).inc(s.rejected ?? 0);
  };
}

export function sinkSources(): ReadonlyMap<string, SinkSource> {
  return sinks;
}

/** Per-node tallies for a node's lifetime; forget() drops its series when it closes. */
export function nodeTallies(node: { id: string; type: string; name?: string }): { messages: Tally; errors: Tally; forget(): void } {
  const labels = [node.id, node.type, node.name ?? ''];
  return {
    messages: nodeMessages.child(...labels),
    errors: nodeErrors.child(...labels),
    forget: () => {
      nodeMessages.remove(...labels);
      nodeErrors.remove(...labels);
    },
  };
}

/** An input's intake as /metrics reads it (nodes/lib/ingest IntakeStats). */
export interface InputStats {
  /** Messages journaled since start. */
  received: number;
  /** Journaled messages not settled yet, and their journal's bytes on disk. */
  pending: number;
  bytes: number;
  /** When the oldest unsettled message was received (epoch ms). */
  oldestUnsettledAt?: number;
}

export interface InputSource {
  /** The node type, e.g. upperstack-mqtt-in; the protocol label is taken from it. */
  type: string;
  name?: string;
  stats(): InputStats;
}

const inputs = new Map<string, InputSource>();

/** An input node registers its intake (by node id); the returned function unregisters it. */
export function registerInput(id: string, source: InputSource): () => void {
  inputs.set(id, source);
  return () => {
    if (inputs.get(id) !== source) return;
    inputs.delete(id);
    received.child(protocolOf(source.type)).inc(source.stats().received);
  };
}

export function inputSources(): ReadonlyMap<string, InputSource> {
  return inputs;
}

/** An anomaly node's engine as /metrics reads it. */
export interface AnomalyStats {
  series: number;
  /** The node's cap on series (maxSeries): at it, the least recently seen series make room. */
  maxSeries: number;
  /** Series evicted to stay within the cap since the engine started. */
  evicted: number;
  /** Readings handed to the engine and not yet judged. */
  queued: number;
  /** Messages refused because the engine was too far behind. */
  refused: number;
  /** Times its worker thread was restarted after dying. */
  restarts: number;
}

export interface AnomalySource {
  name: string;
  stats(): AnomalyStats;
}

const anomalies = new Map<string, AnomalySource>();

/** An anomaly node registers its engine (by node id); the returned function unregisters it. */
export function registerAnomaly(id: string, source: AnomalySource): () => void {
  anomalies.set(id, source);
  return () => {
    if (anomalies.get(id) === source) anomalies.delete(id);
  };
}

export function anomalySources(): ReadonlyMap<string, AnomalySource> {
  return anomalies;
}

/** "upperstack-mqtt-in" → "mqtt". */
export function protocolOf(type: string): string {
  const m = /^upperstack-([a-z0-9]+)-in$/.exec(type);
  return m ? m[1] : type;
}
