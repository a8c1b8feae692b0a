/**
 * The embedded DuckDB store, loaded when a DuckDB sink is first built rather
 * than when the sink kinds are registered. DuckDB's native part comes in a
 * package per platform (`@duckdb/node-bindings-<platform>-<arch>`), an
 * optional dependency: npm leaves it out on a platform DuckDB has no build
 * for (32-bit ARM, e.g.) and under `--omit=optional`. Loaded with the sink
 * kinds, its absence kept the store config type from registering, and Node-RED
 * then started none of the flows at all, Upperstack's or the user's own.
 */
import { ConfigError } from '../errors';
import type * as DuckDbModule from './duckdb';

let loaded: typeof DuckDbModule | undefined;

/** The DuckDB store module; a ConfigError naming the platform and what to do when DuckDB cannot be loaded here. */
export function loadDuckDb(sinkId: string, load: () => typeof DuckDbModule = defaultLoad): typeof DuckDbModule {
  if (loaded) return loaded;
  try {
    loaded = load();
    return loaded;
  } catch (err) {
    throw duckDbMissing(sinkId, err);
  }
}

function defaultLoad(): typeof DuckDbModule {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('./duckdb') as typeof DuckDbModule;
}

/** The error for a DuckDB that cannot be loaded: the platform, the package it looked for, and the ways out. */
export function duckDbMissing(sinkId: string, err: unknown): ConfigError {
  const platform = `${process.platform}-${process.arch}`;
  const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
  return new ConfigError(
    `sink ${sinkId}: the embedded DuckDB cannot be loaded on ${platform} (${why}). ` +
      `Its native part is the optional package @duckdb/node-bindings-${platform}: install node-red-contrib-upperstack again without --omit=optional (or --no-optional), ` +
      `or, where DuckDB has no build for this platform, keep readings in InfluxDB or VictoriaMetrics instead (a store config whose only sink is one of those)`,
    { setting: 'sinks', sink: sinkId, platform },
  );
}
