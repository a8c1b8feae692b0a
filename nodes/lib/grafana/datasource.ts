/**
 * Grafana's JSON datasource (simpod-json-datasource, and the older SimpleJson)
 * over the embedded store, so Grafana works without InfluxDB. A metric is
 * "device:field"; a panel may also name only the field and put the device in
 * the target's payload (`{"device": "$device"}`), which suits a dashboard
 * variable. Values are aggregated into buckets of the panel's interval (never
 * more points than it asked for); annotations are the dead letters.
 *
 * POST /search, /metrics   metric names (filtered by the typed text), or devices
 * POST /variable           devices, for a dashboard variable
 * POST /query              time series: [{target, datapoints: [[value, ms]]}]
 * POST /annotations        dead letters in the range
 */
import { BadParameterError } from '../errors';
import type { AggregateFn, TimeSeriesStore } from '../store/types';

export const MAX_TARGETS = 50;
/** Largest request body, bytes. */
export const BODY_LIMIT = 256 * 1024;
export const MAX_POINTS = 10_000;
const MAX_METRICS = 1000;
/** The finest roll-up tier's width (DuckDB's rollup_1m). */
const MINUTE = 60_000;
const FNS: readonly AggregateFn[] = ['mean', 'min', 'max', 'sum', 'count', 'last'];

export interface GrafanaResponse {
  status: number;
  body: unknown;
}

type Json = Record<string, unknown>;

function object(v: unknown, name: string): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new BadParameterError(name, `${name} must be a JSON object`);
  return v as Json;
}

function time(v: unknown, name: string): number {
  const t = typeof v === 'number' ? v : typeof v === 'string' ? Date.parse(v) : NaN;
  if (!Number.isFinite(t)) throw new BadParameterError(name, `${name} must be an ISO 8601 time or epoch milliseconds`);
  return t;
}

function range(body: Json): { from: number; to: number } {
  const r = object(body.range, 'range');
  const from = time(r.from, 'range.from');
  const to = time(r.to, 'range.to');
  if (!(to > from)) throw new BadParameterError('range', 'range.to must be after range.from');
  return { from, to };
}

/** "device:field" → its parts; a bare field takes the device from the payload. `parameter` names it in errors. */
export function parseTarget(target: string, payload: Json | undefined, parameter = 'target'): { device: string; field: string } {
  const i = target.lastIndexOf(':');
  const device = i > 0 ? target.slice(0, i) : typeof payload?.device === 'string' ? payload.device : '';
  const field = i > 0 ? target.slice(i + 1) : target;
  const named = target.slice(0, 200);
  if (!device) throw new BadParameterError(parameter, `target "${named}" names no device: use "device:field", or put {"device": "..."} in the payload`);
  if (!field) throw new BadParameterError(parameter, `target "${named}" names no field: use "device:field"`);
  return { device, field };
}

async function metricNames(store: TimeSeriesStore, body: Json): Promise<string[]> {
  if (!store.devices) return [];
  const text = typeof body.target === 'string' ? body.target.trim().toLowerCase() : typeof body.metric === 'string' ? body.metric.trim().toLowerCase() : '';
  const window = body.range !== undefined ? range(body) : {};
  const out: string[] = [];
  for (const d of await store.devices(window)) {
    for (const f of d.fields) {
      const name = `${d.device}:${f}`;
      if (!text || name.toLowerCase().includes(text)) out.push(name);
      if (out.length >= MAX_METRICS) return out;
    }
  }
  return out;
}

async function deviceNames(store: TimeSeriesStore, body: Json): Promise<string[]> {
  if (!store.devices) return [];
  const window = body.range !== undefined ? range(body) : {};
  return (await store.devices(window)).map((d) => d.device).slice(0, MAX_METRICS);
}

/** POST /search (SimpleJson): names; the text "devices" lists devices (for a variable). */
export async function search(store: TimeSeriesStore, raw: unknown): Promise<string[]> {
  const body = raw === undefined || raw === null ? {} : object(raw, 'body');
  const target = body.target;
  if (target === 'devices' || (typeof target === 'object' && target !== null && (target as Json).target === 'devices')) return deviceNames(store, body);
  return metricNames(store, body);
}

/** POST /metrics (simpod-json-datasource): [{label, value}]. */
export async function metrics(store: TimeSeriesStore, raw: unknown): Promise<Array<{ label: string; value: string }>> {
  const body = raw === undefined || raw === null ? {} : object(raw, 'body');
  return (await metricNames(store, body)).map((n) => ({ label: n, value: n }));
}

/** POST /variable (simpod-json-datasource): devices as [{__text, __value}]. */
export async function variable(store: TimeSeriesStore, raw: unknown): Promise<Array<{ __text: string; __value: string }>> {
  const body = raw === undefined || raw === null ? {} : object(raw, 'body');
  return (await deviceNames(store, body)).map((d) => ({ __text: d, __value: d }));
}

/**
 * POST /query: one series per target, values in buckets of the panel's interval.
 * The JSON datasource's answer is a list of series with no place for a target's
 * error, so a bad target fails the request (400) and the error names it: its
 * text and its index in `targets`, the `parameter`.
 */
export async function query(store: TimeSeriesStore, raw: unknown): Promise<Array<{ target: string; datapoints: Array<[number, number]> }>> {
  const body = object(raw, 'body');
  const { from, to } = range(body);
  if (!Array.isArray(body.targets)) throw new BadParameterError('targets', 'targets must be an array of {target}');
  const targets = (body.targets as unknown[])
    .map((t, i) => ({ t: object(t, `targets[${i}]`), i }))
    .filter(({ t }) => t.hide !== true && typeof t.target === 'string' && t.target !== '');
  if (targets.length > MAX_TARGETS) throw new BadParameterError('targets', `at most ${MAX_TARGETS} targets per query`);
  const maxPoints = Math.min(MAX_POINTS, Number(body.maxDataPoints) > 0 ? Number(body.maxDataPoints) : MAX_POINTS);
  const interval = Number(body.intervalMs) > 0 ? Number(body.intervalMs) : 0;
  const asked = Math.max(1, Math.ceil(interval), Math.ceil((to - from) / maxPoints));
  // Before the store's raw cutoff only its roll-ups are kept, in whole minutes: a panel zoomed into an old
  // stretch gets 1-minute points there instead of an error.
  const rawSince = await store.rawSince?.();
  const everyMs = rawSince !== undefined && from < rawSince && asked % MINUTE !== 0 ? Math.ceil(asked / MINUTE) * MINUTE : asked;
  const out: Array<{ target: string; datapoints: Array<[number, number]> }> = [];
  for (const { t, i } of targets) {
    const payload = typeof t.payload === 'object' && t.payload !== null ? (t.payload as Json) : undefined;
    const { device, field } = parseTarget(t.target as string, payload, `targets[${i}].target`);
    const fn = (payload?.fn ?? 'mean') as AggregateFn;
    if (!FNS.includes(fn)) throw new BadParameterError(`targets[${i}].payload.fn`, `target "${(t.target as string).slice(0, 200)}": payload.fn must be one of ${FNS.join(', ')}`);
    const points = await store.aggregate({ device, field, from, to, everyMs, fn });
    const datapoints: Array<[number, number]> = [];
    for (const p of points) {
      if (typeof p.value === 'number') datapoints.push([p.value, p.ts]);
      else if (typeof p.value === 'boolean') datapoints.push([p.value ? 1 : 0, p.ts]);
    }
    out.push({ target: `${device}:${field}`, datapoints });
  }
  return out;
}

/** POST /annotations: dead letters in the range; the query "deadletters:<device>" keeps one device's. */
export async function annotations(store: TimeSeriesStore, raw: unknown): Promise<Array<{ annotation: unknown; time: number; title: string; text: string; tags: string[] }>> {
  const body = object(raw, 'body');
  const { from, to } = range(body);
  const annotation = body.annotation === undefined ? {} : object(body.annotation, 'annotation');
  const q = typeof annotation.query === 'string' ? annotation.query.trim() : '';
  const m = /^deadletters(?::(.+))?$/.exec(q);
  if (q && !m) return [];
  const letters = await store.deadLetters({ device: m?.[1], limit: 1000 });
  return letters
    .filter((l) => l.ts >= from && l.ts < to)
    .map((l) => ({ annotation, time: l.ts, title: `${l.code} · ${l.device}`, text: l.reason, tags: [l.code, l.device].filter(Boolean) }));
}
