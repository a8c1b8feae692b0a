/**
 * The package's library entry point (`require('node-red-contrib-upperstack')`):
 * what the nodes are built on, usable without Node-RED — codecs, the Reading
 * contract, schema validation, the embedded store and its durable writer,
 * anomaly detection, and the editor login throttle for a Node-RED settings file.
 */
export * from './errors';
export type { Reading, FieldValue } from './reading';
export * as readings from './reading';
export * as codec from './codec';
export * as schema from './schema/validator';
export * as anomaly from './anomaly';
export type * from './store/types';
export { DuckDbStore, type DuckDbStoreOptions } from './store/duckdb';
export { DurableWriter } from './store/writer';
export { loginThrottle, type LoginThrottleOptions } from './security/login';
