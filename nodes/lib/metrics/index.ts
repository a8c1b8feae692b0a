/** Metrics for GET /metrics: cheap tallies for the hot path, prom-client at scrape time. */
export { Tally, LabeledTally } from './tally';
export { received, decoded, invalid, deadLettered, dropped, retainedCleared, nodeMessages, nodeErrors, nodeTallies, registerSink, sinkSources, retiredSinks, registerInput, inputSources, protocolOf, registerAnomaly, anomalySources, type AnomalySource, type AnomalyStats, type SinkSource, type SinkStats, type InputSource, type InputStats } from './pipeline';
export { metricsRegistry, renderMetrics } from './registry';
export { handleMetrics, metricsAccess, type MetricsAccess, type MetricsAuth, type MetricsResponse } from './http';
