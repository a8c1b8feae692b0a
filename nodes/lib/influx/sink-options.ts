/** What an InfluxDB/VictoriaMetrics sink (sink.ts) is configured with and reports. */
import type { FieldTypeRegistry } from './field-types';
import type { PointMapping, Precision } from './line';

export type InfluxApi = 'v1' | 'v2' | 'v3';
/** 'auto': asks the server (/ping): InfluxDB says its version in X-Influxdb-Version, VictoriaMetrics says nothing. */
export type ApiSetting = InfluxApi | 'auto';
export type ServerKind = 'influxdb' | 'victoriametrics';

export interface InfluxSinkOptions {
  server: ServerKind;
  /** Base URL, e.g. http://localhost:8086 (a path prefix is kept). */
  url: string;
  /** Which write API (VictoriaMetrics: v2); 'auto' asks the server before the first write. */
  api: ApiSetting;
  /** 1.x and 3.x: the database. */
  database?: string;
  /** 1.x: the retention policy ('' the database's default). */
  retentionPolicy?: string;
  /** 2.x: organisation and bucket (3.x: the bucket is the database on the v2 route). */
  org?: string;
  bucket?: string;
  /** 1.x credentials (basic auth). */
  user?: string;
  password?: string;
  /** 2.x/3.x (and VictoriaMetrics behind a proxy): `Authorization: Token ...`. */
  token?: string;
  precision: Precision;
  mapping: PointMapping;
  types: FieldTypeRegistry;
  /** Bodies larger than this many bytes are sent gzipped; 0 never. */
  gzipAbove: number;
  /** Per request. */
  timeoutMs: number;
  /** Create the database (1.x), retention policy or bucket when missing, if the credentials allow. */
  create: boolean;
  /** Retention to give what is created, in ms; 0 keeps data forever (or leaves the server's setting). */
  retentionMs: number;
  /** Messages for the log (database created, cannot create it, text fields left out). */
  onNotice?: (text: string) => void;
}

/** What /health and the node status show besides the writer's figures. */
export interface InfluxSinkStats {
  /** Text fields left out because the server keeps numbers only (VictoriaMetrics). */
  skippedText: number;
  /** What provisioning did or why it could not: e.g. 'database "x" created'. */
  provisioning?: string;
  /** The write route in use (3.x falls back to the v2 route). */
  route: string;
}
