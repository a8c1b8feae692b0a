/**
 * Cluster member mode: the settings that turn `npm start` into one of several
 * instances behind an external broker and a shared time-series server
 * (docs/scaling.md). Read from the environment; absent UPPERSTACK_CLUSTER_BROKER
 * means the default single-process pipeline.
 */
import { accessSync, constants } from 'node:fs';
import { hostname } from 'node:os';
import { ConfigError } from '../errors';
import { shownValue } from '../security/url-login';

export type SharedSinkKind = 'influxdb' | 'victoriametrics';

export interface ClusterOptions {
  /** The external broker devices publish to (mqtt://, mqtts://). */
  broker: string;
  /** Shared-subscription group: every member of it takes a share of `devices/+/telemetry`. */
  group: string;
  /** This member's name, stable across restarts (its broker session and partition claims carry it). */
  member: string;
  /** The time-series server every member writes to and reads from. */
  sink: { kind: SharedSinkKind; url: string; database: string };
  /** Analytics partitions (stable hash of the device id). */
  partitions: number;
  /** How long a partition claim lasts without renewal, ms; a failed member's partitions move after it. */
  leaseMs: number;
  /** Cadence of a partition's analytics state checkpoints while its readings come in, ms. */
  checkpointMs: number;
  /** The broker login is given (UPPERSTACK_CLUSTER_BROKER_USERNAME/_PASSWORD): the pack refers to those variables. */
  login: boolean;
  /** TLS files for mqtts:// (paths; empty: the system CAs, no client certificate). */
  tls: { ca: string; cert: string; key: string };
}

export const DEFAULT_GROUP = 'upperstack';
export const DEFAULT_PARTITIONS = 64;
export const DEFAULT_LEASE_MS = 15_000;
/**
 * What a kill -9 can cost the detectors' learning (docs/scaling.md). 10 s: the binary checkpoint makes a
 * 10 s cadence cheaper than the 30 s of gzip'd JSON was.
 */
export const DEFAULT_CHECKPOINT_MS = 10_000;

function whole(env: NodeJS.ProcessEnv, name: string, min: number, max: number, fallback: number): number {
  const raw = (env[name] ?? '').trim();
  if (raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`${name} must be a whole number from ${min} to ${max} (got "${raw}")`, { setting: name });
  return n;
}

/** Names MQTT topics and client ids are built from: letters, digits, - and _. */
function name(env: NodeJS.ProcessEnv, key: string, fallback: string): string {
  const v = (env[key] ?? '').trim() || fallback;
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(v)) throw new ConfigError(`${key} must be 1 to 64 letters, digits, - or _ (got "${v.slice(0, 80)}")`, { setting: key });
  return v;
}

/** A file the runtime must read (a CA, a certificate): checked at start so a typo is a clear error, not a TLS failure later. */
function file(env: NodeJS.ProcessEnv, key: string): string {
  const path = (env[key] ?? '').trim();
  if (path === '') return '';
  try {
    accessSync(path, constants.R_OK);
  } catch {
    throw new ConfigError(`${key} names a file that cannot be read: ${path.slice(0, 200)}`, { setting: key });
  }
  return path;
}

/** The cluster settings from the environment, or undefined when this instance runs on its own. */
export function clusterOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): ClusterOptions | undefined {
  const broker = (env.UPPERSTACK_CLUSTER_BROKER ?? '').trim();
  if (broker === '') return undefined;
  if (!/^(mqtts?|wss?|tcp|ssl):\/\/[^\s/]+/i.test(broker)) throw new ConfigError(`UPPERSTACK_CLUSTER_BROKER must be a broker URL such as mqtt://broker:1883 (got "${shownValue(broker)}")`, { setting: 'UPPERSTACK_CLUSTER_BROKER' });
  const url = (env.UPPERSTACK_CLUSTER_SINK ?? '').trim();
  if (!/^https?:\/\/[^\s/]+/i.test(url)) {
    throw new ConfigError(`a cluster member needs UPPERSTACK_CLUSTER_SINK, the URL of the InfluxDB or VictoriaMetrics server every member writes to (got "${shownValue(url)}")`, { setting: 'UPPERSTACK_CLUSTER_SINK' });
  }
  const kind = ((env.UPPERSTACK_CLUSTER_SINK_KIND ?? '').trim() || 'victoriametrics') as SharedSinkKind;
  if (kind !== 'influxdb' && kind !== 'victoriametrics') throw new ConfigError(`UPPERSTACK_CLUSTER_SINK_KIND must be influxdb or victoriametrics (got "${kind}")`, { setting: 'UPPERSTACK_CLUSTER_SINK_KIND' });
  const port = (env.UPPERSTACK_HTTP_PORT ?? '1880').trim();
  const login = (env.UPPERSTACK_CLUSTER_BROKER_USERNAME ?? '').trim() !== '';
  if (!login && (env.UPPERSTACK_CLUSTER_BROKER_PASSWORD ?? '') !== '') {
    throw new ConfigError('UPPERSTACK_CLUSTER_BROKER_PASSWORD is set without UPPERSTACK_CLUSTER_BROKER_USERNAME', { setting: 'UPPERSTACK_CLUSTER_BROKER_USERNAME' });
  }
  return {
    broker,
    group: name(env, 'UPPERSTACK_CLUSTER_GROUP', DEFAULT_GROUP),
    member: name(env, 'UPPERSTACK_CLUSTER_MEMBER', `${hostname().replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 48)}-${port}`),
    sink: { kind, url, database: kind === 'influxdb' ? (env.UPPERSTACK_CLUSTER_SINK_DB ?? '').trim() || 'upperstack' : '' },
    partitions: whole(env, 'UPPERSTACK_CLUSTER_PARTITIONS', 1, 4096, DEFAULT_PARTITIONS),
    leaseMs: whole(env, 'UPPERSTACK_CLUSTER_LEASE_SECONDS', 2, 3600, DEFAULT_LEASE_MS / 1000) * 1000,
    checkpointMs: whole(env, 'UPPERSTACK_CLUSTER_CHECKPOINT_SECONDS', 1, 3600, DEFAULT_CHECKPOINT_MS / 1000) * 1000,
    login,
    tls: { ca: file(env, 'UPPERSTACK_CLUSTER_BROKER_CA'), cert: file(env, 'UPPERSTACK_CLUSTER_BROKER_CERT'), key: file(env, 'UPPERSTACK_CLUSTER_BROKER_KEY') },
  };
}
