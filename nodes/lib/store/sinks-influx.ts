/**
 * The InfluxDB and VictoriaMetrics sink kinds: settings, checks and the
 * factory. Secrets (user, password, token) are not part of the saved settings:
 * the store config node adds them from its Node-RED credentials before the
 * settings are normalised.
 */
import { join } from 'node:path';
import { ConfigError, shiftQuoted } from '../errors';
import { DEFAULT_MAPPING, type FieldType, type Precision } from '../influx/line';
import { FieldTypeRegistry, fieldTypesFromSchema, parseFieldTypes } from '../influx/field-types';
import { InfluxSink, type ApiSetting, type ServerKind } from '../influx/sink';
import { gzipThreshold } from '../influx/loopback';
import { InfluxReader } from '../influx/query';
import { parseTagMap } from '../influx/tag-map';
import { readSchemaFile, schemaPath } from '../schema/validator';
import { parseRetention } from './retention';
import { shownUrl, shownValue, splitUrlLogin } from '../security/url-login';
import type { SinkConfig, SinkContext, SinkKind } from './sinks';
import { CREDENTIAL_SLOTS } from './credential-slots';

export interface InfluxSinkConfig extends SinkConfig {
  kind: 'influxdb' | 'victoriametrics';
  url: string;
  /** 'auto': the version the server reports (VictoriaMetrics: no version). */
  api: ApiSetting;
  database: string;
  retentionPolicy: string;
  org: string;
  bucket: string;
  precision: Precision;
  measurement: string;
  measurementTag: string;
  deviceTag: string;
  /** Which reading tags (the device's own and its registry tags) are written, and as what: tag-map.ts. */
  tags: string;
  /** `name:type` pairs (float, integer, unsigned, boolean, string). */
  fieldTypes: string;
  /** A JSON Schema for readings whose `fields` declare types (path, relative to the data folder); empty: the shipped reading schema. */
  schemaFile: string;
  /** Lines per write and the longest wait before a write. */
  batchSize: number;
  flushMs: number;
  /** Bodies above this many bytes are gzipped; 0 never. */
  gzipAbove: number;
  timeoutMs: number;
  /** Create the database / retention policy / bucket when missing. */
  create: boolean;
  /** Retention of what is created ("30d"; empty: forever / the server's). */
  retention: string;
  /** Which credential slot of the store config node holds this sink's user/password/token (1 to 8). */
  slot: number;
  /** Left out (not an error) while its URL is empty or an unset ${ENV} reference: the default pack's env-driven sink. */
  optional: boolean;
  /** From the node's credentials, never saved in the flow. */
  user?: string;
  password?: string;
  token?: string;
}

export const INFLUX_DEFAULTS = {
  url: '',
  api: 'v1',
  database: 'upperstack',
  retentionPolicy: '',
  org: '',
  bucket: '',
  precision: 'ms',
  measurement: DEFAULT_MAPPING.measurement,
  measurementTag: DEFAULT_MAPPING.measurementTag,
  deviceTag: DEFAULT_MAPPING.deviceTag,
  tags: '*',
  fieldTypes: '',
  schemaFile: '',
  batchSize: 5000,
  flushMs: 1000,
  gzipAbove: 65536,
  timeoutMs: 10000,
  create: true,
  retention: '',
  slot: 1,
  optional: false,
} as const;

export { CREDENTIAL_SLOTS };

/** Lines that start a write before the longest wait is up (bench/influx.ts measured 1.6× the readings/s of 5,000). */
export const FLUSH_AT = 1000;

const UNSET_ENV = /^\$\{[^}]*\}$/;

function text(v: unknown): string {
  return typeof v === 'string' ? v.trim() : v === undefined || v === null ? '' : String(v).trim();
}

function whole(raw: SinkConfig, name: string, min: number, max: number, fallback: number): number {
  const v = raw[name];
  const n = v === undefined || v === '' ? fallback : Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`sink ${raw.id}: ${name} must be a whole number from ${min} to ${max} (got ${JSON.stringify(v)})`, { setting: name, sink: raw.id });
  return n;
}

function bool(v: unknown, fallback: boolean): boolean {
  if (v === undefined || v === '') return fallback;
  return v === true || v === 'true';
}

/** Whether an optional sink is switched on: a URL that is set (not an unset ${ENV} reference). */
export function influxEnabled(raw: SinkConfig): boolean {
  if (!bool(raw.optional, false)) return true;
  const url = text(raw.url);
  return url !== '' && !UNSET_ENV.test(url);
}

function normalizeInflux(raw: SinkConfig, server: ServerKind): InfluxSinkConfig {
  const id = raw.id;
  const fail = (setting: string, message: string): never => {
    throw new ConfigError(`sink ${id}: ${message}`, { setting, sink: id });
  };
  const url = text(raw.url);
  if (!/^https?:\/\/[^\s/]+/i.test(url)) fail('url', `the URL must start with http:// or https:// and name a host (got "${shownValue(url)}")`);
  let api = text(raw.api || (server === 'victoriametrics' ? 'v2' : 'v1')) as ApiSetting;
  if (server === 'victoriametrics') api = 'v2';
  if (api !== 'v1' && api !== 'v2' && api !== 'v3' && api !== 'auto') fail('api', `the API must be auto, v1, v2 or v3 (got "${String(raw.api)}")`);
  const precision = text(raw.precision || 'ms') as Precision;
  if (!['ns', 'us', 'ms', 's'].includes(precision)) fail('precision', `the precision must be ns, us, ms or s (got "${String(raw.precision)}")`);
  const database = text(raw.database);
  const bucket = text(raw.bucket);
  const org = text(raw.org);
  if (server === 'influxdb' && (api === 'v1' || api === 'v3') && !database) fail('database', `InfluxDB ${api} needs a database`);
  if (server === 'influxdb' && api === 'v2' && (!bucket || !org)) fail('bucket', 'InfluxDB 2 needs an organisation and a bucket');
  if (api === 'auto' && !database && !bucket) fail('database', 'name a database (InfluxDB 1.x/3.x) or a bucket (2.x)');
  const measurement = text(raw.measurement) || DEFAULT_MAPPING.measurement;
  if (measurement.startsWith('#') || /[\n\r]/.test(measurement)) fail('measurement', 'the measurement cannot start with # or hold a line break');
  const deviceTag = text(raw.deviceTag) || DEFAULT_MAPPING.deviceTag;
  const tags = typeof raw.tags === 'string' ? raw.tags.trim() || '*' : INFLUX_DEFAULTS.tags;
  parseTagMap(tags, `sink ${id}`, [deviceTag]);
  const retention = text(raw.retention);
  parseRetention(retention, `sink ${id}: retention`);
  parseFieldTypes(raw.fieldTypes, `sink ${id}: field types`);
  // A login in the URL (`http://user:password@influxdb:8086`, as UPPERSTACK_INFLUX_URL may carry one) is the
  // sink's login: the HTTP clients take none from a URL (fetch refuses such a URL, quoting it whole in its
  // error, password included), so it is taken out of the URL and wins over the credentials' user, password
  // and token, as a URL's login does for MQTT.js.
  const login = splitUrlLogin(url);
  return {
    ...raw,
    id,
    kind: server,
    url: login?.url ?? url,
    api,
    database,
    retentionPolicy: text(raw.retentionPolicy),
    org,
    bucket,
    precision,
    measurement,
    measurementTag: raw.measurementTag === undefined ? DEFAULT_MAPPING.measurementTag : text(raw.measurementTag),
    deviceTag,
    tags,
    fieldTypes: typeof raw.fieldTypes === 'string' ? raw.fieldTypes : '',
    schemaFile: text(raw.schemaFile),
    batchSize: whole(raw, 'batchSize', 1, 100_000, INFLUX_DEFAULTS.batchSize),
    flushMs: whole(raw, 'flushMs', 1, 3_600_000, INFLUX_DEFAULTS.flushMs),
    gzipAbove: whole(raw, 'gzipAbove', 0, 1_073_741_824, INFLUX_DEFAULTS.gzipAbove),
    timeoutMs: whole(raw, 'timeoutMs', 100, 600_000, INFLUX_DEFAULTS.timeoutMs),
    create: bool(raw.create, true),
    retention,
    slot: whole(raw, 'slot', 1, CREDENTIAL_SLOTS, 1),
    optional: bool(raw.optional, false),
    ...(login ? { user: login.username, password: login.password ?? '', token: undefined } : {}),
  };
}

/**
 * The schema a sink takes field types from: its own `schemaFile` (relative to the data folder, as the
 * validate node's schema file is), else the shipped reading schema, the one the validate, http in and
 * coap in nodes use with their schema left at "default" (so in the default pack both check and type
 * readings by the same schema). A sink of a flow whose validate node reads another file names that file.
 */
export function schemaFileOf(c: Pick<InfluxSinkConfig, 'schemaFile'>, dataDir: string): string {
  return schemaPath(c.schemaFile, dataDir);
}

/** Field name → type from the sink's schema (schemaFileOf) and, over those, its `fieldTypes` setting. */
export function declaredTypes(c: Pick<InfluxSinkConfig, 'id' | 'schemaFile' | 'fieldTypes'>, ctx: Pick<SinkContext, 'dataDir'>): Record<string, FieldType> {
  let schema: unknown;
  try {
    schema = readSchemaFile(schemaFileOf(c, ctx.dataDir));
  } catch (err) {
    // readSchemaFile says every problem of the file as a ConfigError; anything else is a bug, passed on as it is.
    if (!(err instanceof ConfigError)) throw err;
    const prefix = `sink ${c.id}: `;
    throw new ConfigError(prefix + err.message, { ...shiftQuoted(err.details, prefix.length), setting: 'schemaFile', sink: c.id });
  }
  // Types written in the settings win over the schema's.
  return { ...fieldTypesFromSchema(schema), ...parseFieldTypes(c.fieldTypes) };
}

/** Where a sink's learnt field types are kept: beside the spools. */
export function fieldTypesFile(ctx: SinkContext, sinkId: string): string | undefined {
  return ctx.configId ? join(ctx.dataDir, 'spool', `${ctx.configId}.${sinkId}.fields.json`) : undefined;
}

function kindOf(server: ServerKind): SinkKind {
  return {
    kind: server,
    queryable: false,
    defaults: () => ({ ...INFLUX_DEFAULTS, ...(server === 'victoriametrics' ? { api: 'v2', database: '' } : {}) }),
    enabled: influxEnabled,
    normalize: (raw) => normalizeInflux(raw, server),
    // A write starts once FLUSH_AT lines wait (or after flushMs) and takes up to batchSize lines: what
    // came in while the previous write ran. Waiting for a full 5,000 would hold the inputs paused (they
    // pause at 5,000 unsettled messages) while each write runs, instead of overlapping the two.
    writerOptions: (c) => {
      const at = Math.min(FLUSH_AT, Number(c.batchSize));
      // A burst's last lines are written once a tenth of flushMs brings nothing new, not after flushMs.
      return { batchSize: at, minWrite: at, maxWrite: Number(c.batchSize), flushMs: Number(c.flushMs), quietMs: Math.max(1, Math.round(Number(c.flushMs) / 10)) };
    },
    create(config, ctx) {
      const c = config as InfluxSinkConfig;
      return new InfluxSink({
        server,
        url: c.url,
        api: c.api,
        database: c.database,
        retentionPolicy: c.retentionPolicy,
        org: c.org,
        bucket: c.bucket,
        user: c.user,
        password: c.password,
        token: c.token,
        precision: c.precision,
        mapping: { measurement: c.measurement, measurementTag: c.measurementTag, deviceTag: c.deviceTag, tags: parseTagMap(c.tags, `sink ${c.id}`, [c.deviceTag]) },
        types: new FieldTypeRegistry(declaredTypes(c, ctx), fieldTypesFile(ctx, c.id)),
        // Not to a server on this machine: compressing there costs CPU and saves nothing.
        gzipAbove: gzipThreshold(c.url, c.gzipAbove),
        timeoutMs: c.timeoutMs,
        create: c.create,
        retentionMs: parseRetention(c.retention, 'retention'),
        onNotice: ctx.notice ? (t) => ctx.notice!(c.id, t) : undefined,
      });
    },
    reader(config) {
      const c = config as InfluxSinkConfig;
      if (server === 'influxdb' && c.api !== 'v1' && c.api !== 'auto') {
        throw new ConfigError(`sink ${c.id}: queries are read with InfluxQL (InfluxDB 1.x, or 2.x/3.x with the v1 compatibility API: api v1); this sink uses ${c.api}`, { setting: 'querySink', sink: c.id });
      }
      return new InfluxReader({
        server,
        url: c.url,
        database: c.database,
        retentionPolicy: c.retentionPolicy || (c.retention ? 'upperstack' : ''),
        user: c.user,
        password: c.password,
        token: c.token,
        mapping: { measurement: c.measurement, measurementTag: c.measurementTag, deviceTag: c.deviceTag },
        timeoutMs: c.timeoutMs,
      });
    },
    describe: (config) => {
      const c = config as InfluxSinkConfig;
      const where = c.api === 'v2' ? [c.org, c.bucket].filter(Boolean).join('/') : c.database;
      return `${server}:${shownUrl(c.url)}${where ? `/${where}` : ''}`;
    },
  };
}

export const influxSink = kindOf('influxdb');
export const victoriaSink = kindOf('victoriametrics');
