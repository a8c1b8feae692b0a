/** Metrics for GET /metrics: cheap tallies for the hot path, prom-client at scrape time. */
export { Tally, LabeledTally } from './tally';
export { received, decoded, invalid, deadLettered, dropped, nodeMessages, nodeErrors, nodeTallies, registerSink, sinkSources, type SinkSource, type SinkStats } from './pipeline';
export { metricsRegistry, renderMetrics, setJournalSource, startSampling, stopSampling, type JournalSource } from './registry';
export { JournalAges, type JournalLevel } from './journals';
export { handleMetrics, metricsAccess, type MetricsAccess, type MetricsAuth, type MetricsResponse } from './http';
