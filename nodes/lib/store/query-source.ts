/**
 * A store whose readings come from another source: the query API, reports,
 * backtests and the Grafana routes read readings, aggregates and the device
 * list from a time-series server (InfluxDB, VictoriaMetrics) the instances of
 * a cluster share, while dead letters, the device registry and writes stay
 * with the store that keeps them (DuckDB).
 */
import type { ReadingSource, TimeSeriesStore } from './types';

export function withReadingSource(store: TimeSeriesStore, source: ReadingSource): TimeSeriesStore {
  const routed: TimeSeriesStore = {
    kind: store.kind,
    open: () => store.open(),
    write: (r) => store.write(r),
    writeDeadLetters: (l) => store.writeDeadLetters(l),
    deadLetters: (q) => store.deadLetters(q),
    readings: (q) => source.readings(q),
    aggregate: (q) => source.aggregate(q),
    health: () => store.health(),
    close: () => store.close(),
  };
  if (store.markDeadLettersReplayed) routed.markDeadLettersReplayed = (ids, at) => store.markDeadLettersReplayed!(ids, at);
  if (store.unmarkDeadLettersReplayed) routed.unmarkDeadLettersReplayed = (l) => store.unmarkDeadLettersReplayed!(l);
  if (store.registry) routed.registry = () => store.registry!();
  if (source.devices) routed.devices = (q) => source.devices!(q);
  return routed;
}
