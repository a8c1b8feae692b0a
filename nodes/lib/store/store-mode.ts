/**
 * UPPERSTACK_STORE: which store the default pack starts with. `duckdb` (the
 * default) keeps readings in the embedded database, with the InfluxDB sink
 * beside it while UPPERSTACK_INFLUX_URL is set; `influxdb` or `victoriametrics`
 * makes that server the only store (server-store.ts): no embedded database,
 * queries read back from the server.
 */
import { ConfigError } from '../errors';
import { shownValue } from '../security/url-login';

export type StoreMode = 'duckdb' | 'influxdb' | 'victoriametrics';

const MODES: readonly StoreMode[] = ['duckdb', 'influxdb', 'victoriametrics'];

export function storeModeFromEnv(env: NodeJS.ProcessEnv = process.env): StoreMode {
  const raw = (env.UPPERSTACK_STORE ?? '').trim().toLowerCase();
  const mode = (raw === '' ? 'duckdb' : raw) as StoreMode;
  if (!MODES.includes(mode)) throw new ConfigError(`UPPERSTACK_STORE must be one of ${MODES.join(', ')} (got "${raw.slice(0, 40)}")`, { setting: 'UPPERSTACK_STORE' });
  if (mode === 'duckdb') return mode;
  const url = (env.UPPERSTACK_INFLUX_URL ?? '').trim();
  if (!/^https?:\/\/[^\s/]+/i.test(url)) {
    throw new ConfigError(`UPPERSTACK_STORE=${mode} keeps readings in that server only: set UPPERSTACK_INFLUX_URL to its URL (got "${shownValue(url)}")`, { setting: 'UPPERSTACK_INFLUX_URL' });
  }
  if (mode === 'influxdb' && (env.UPPERSTACK_INFLUX_BUCKET ?? '').trim() !== '') {
    throw new ConfigError('UPPERSTACK_STORE=influxdb reads readings back with InfluxQL: use a database (UPPERSTACK_INFLUX_DB, InfluxDB 1.x or the v1 API of 2.x/3.x), not UPPERSTACK_INFLUX_BUCKET', { setting: 'UPPERSTACK_INFLUX_BUCKET' });
  }
  if ((env.UPPERSTACK_CLUSTER_BROKER ?? '').trim() !== '') {
    throw new ConfigError(`UPPERSTACK_STORE=${mode} is for an instance on its own; a cluster member writes to UPPERSTACK_CLUSTER_SINK beside its embedded store (docs/scaling.md)`, { setting: 'UPPERSTACK_STORE' });
  }
  return mode;
}

interface FlowNode {
  id: string;
  type: string;
  [key: string]: unknown;
}

/**
 * The pack with its store configs' server sink as their only sink: the
 * embedded DuckDB sink goes, the env-driven InfluxDB sink stays (no longer
 * optional) with the server kind asked for. Store configs without such a sink
 * are left as they are.
 */
export function serverOnlyPack<T extends FlowNode>(pack: readonly T[], mode: Exclude<StoreMode, 'duckdb'>): T[] {
  const serverOnly = new Set<string>();
  const out = pack.map((n) => {
    if (n.type !== 'upperstack-store-config' || !Array.isArray(n.sinks)) return { ...n };
    const sinks = n.sinks as Array<Record<string, unknown>>;
    const server = sinks.find((s) => s.kind === 'influxdb' || s.kind === 'victoriametrics');
    if (!server) return { ...n };
    const only: Record<string, unknown> = { ...server, kind: mode, optional: false };
    if (mode === 'victoriametrics') Object.assign(only, { api: 'v2', database: '', org: '', bucket: '' });
    serverOnly.add(n.id);
    return { ...n, name: mode === 'influxdb' ? 'InfluxDB only' : 'VictoriaMetrics only', sinks: [only], querySink: '' };
  });
  // A server cannot be asked for the latest values, so a dashboard live node starting from such a store would
  // only warn at every start that it cannot: it starts from none, as README says of this mode.
  return out.map((n) => (n.type === 'upperstack-live' && typeof n.store === 'string' && serverOnly.has(n.store) ? { ...n, store: '' } : n));
}
