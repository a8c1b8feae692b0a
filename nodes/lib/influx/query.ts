/**
 * InfluxDB 1.x (InfluxQL on `/query`) and VictoriaMetrics (`/api/v1/export`,
 * `/api/v1/series`) as a reading source: the query API, reports and the
 * Grafana routes read what the InfluxDB/VictoriaMetrics sink wrote, so every
 * instance that writes to the same server answers the same queries.
 *
 * Points map back to readings the way the sink wrote them (line.ts): the
 * device is the `device` tag (the sink's `deviceTag`), the other tags are the
 * reading's tags, a measurement other than the default one is the reading's
 * `measurement` tag. VictoriaMetrics names a series `<measurement>_<field>` and
 * keeps numbers only: the default measurement's prefix is taken off the name,
 * a series of another measurement keeps its whole name as the field, and text
 * fields are not there (the sink leaves them out).
 *
 * VictoriaMetrics may hold the same sample twice (a batch written again after
 * a timeout): samples are taken once per (series, timestamp), last one wins,
 * which is what the sink's idempotency promises. Aggregates over
 * VictoriaMetrics are computed here from the raw samples of the range, so
 * buckets are the same `[start, start + every)` ones as everywhere else
 * (PromQL windows are `(t - w, t]`).
 */
import { BadParameterError, StoreUnavailableError } from '../errors';
import type { FieldValue } from '../reading';
import { ALERT_FIELD_PREFIX, type AggregatePoint, type AggregateQuery, type DeviceQuery, type DeviceSummary, type ReadingSource, type ReadingsPage, type ReadingsQuery, type StoreHealth } from '../store/types';
import type { PointMapping } from './line';
import { shownUrl } from '../security/url-login';
import { decodeCursor } from '../store/cursor';
import { MAX_AGGREGATE_POINTS, withinBucketLimit } from '../store/aggregate-limit';
import { aggregateSamples, checkLimit, ident, lit, page, promString, type InfluxSeries, type Row } from './query-samples';

export interface InfluxReaderOptions {
  server: 'influxdb' | 'victoriametrics';
  url: string;
  /** InfluxDB 1.x database (and retention policy, '' the default one). */
  database?: string;
  retentionPolicy?: string;
  user?: string;
  password?: string;
  /** `Authorization: Token ...` (VictoriaMetrics behind a proxy, InfluxDB 1.8+ with tokens). */
  token?: string;
  mapping: PointMapping;
  timeoutMs: number;
  /** Most raw samples one query may read (VictoriaMetrics aggregates, wide pages); past it the query is refused. */
  maxSamples?: number;
}

const DEFAULT_MAX_SAMPLES = 5_000_000;
/** An upper bound for aggregates without one (InfluxQL's default is now(), which would leave out readings stamped later). */
const MAX_INFLUX_MS = 8_640_000_000_000;
/** VictoriaMetrics answers nothing for a lookback window of a century; the device list looks back at most this far. */
const VM_LONGEST_WINDOW_S = 20_000 * 86_400;

export class InfluxReader implements ReadingSource {
  readonly kind: string;
  private readonly maxSamples: number;

  constructor(private readonly o: InfluxReaderOptions) {
    this.kind = o.server;
    this.maxSamples = o.maxSamples ?? DEFAULT_MAX_SAMPLES;
  }

  async readings(q: ReadingsQuery): Promise<ReadingsPage> {
    checkLimit(q.limit);
    const after = q.cursor === undefined ? undefined : decodeCursor(q.cursor);
    if (q.fields?.length === 0) return { readings: [] };
    return this.o.server === 'victoriametrics' ? this.vmReadings(q, after) : this.influxReadings(q, after);
  }

  async aggregate(q: AggregateQuery): Promise<AggregatePoint[]> {
    if (!Number.isSafeInteger(q.everyMs) || q.everyMs < 1) {
      throw new BadParameterError('every', `"every" must be a bucket width of at least 1 ms, got ${q.everyMs}`);
    }
    if (!['mean', 'min', 'max', 'sum', 'count', 'last'].includes(q.fn)) {
      throw new BadParameterError('fn', `"fn" must be one of mean, min, max, sum, count, last, got "${String(q.fn)}"`);
    }
    return this.o.server === 'victoriametrics' ? this.vmAggregate(q) : this.influxAggregate(q);
  }

  async devices(q: DeviceQuery = {}): Promise<DeviceSummary[]> {
    return this.o.server === 'victoriametrics' ? this.vmDevices(q) : this.influxDevices(q);
  }

  async health(): Promise<StoreHealth> {
    const path = this.o.server === 'victoriametrics' ? '/health' : '/ping';
    try {
      await this.get(path, new URLSearchParams());
      return { ok: true, detail: `${this.describe()} answers queries` };
    } catch (err) {
      return { ok: false, detail: err instanceof Error ? err.message : String(err) };
    }
  }

  describe(): string {
    return `${this.o.server === 'victoriametrics' ? 'VictoriaMetrics' : 'InfluxDB'} ${shownUrl(this.o.url)}${this.o.database ? ` (${this.o.database})` : ''}`;
  }

  // ---- transport ------------------------------------------------------------------------------

  private headers(): Record<string, string> {
    const h: Record<string, string> = {};
    if (this.o.token) h.authorization = `Token ${this.o.token}`;
    else if (this.o.user) h.authorization = `Basic ${Buffer.from(`${this.o.user}:${this.o.password ?? ''}`).toString('base64')}`;
    return h;
  }

  private async get(path: string, params: URLSearchParams): Promise<string> {
    const url = `${this.o.url.replace(/\/+$/, '')}${path}${params.size ? `?${params}` : ''}`;
    let res: Response;
    try {
      res = await fetch(url, { headers: this.headers(), signal: AbortSignal.timeout(this.o.timeoutMs) });
    } catch (err) {
      throw new StoreUnavailableError(`${this.describe()} cannot be reached: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    const text = await res.text();
    if (!res.ok) {
      if (res.status === 400 || res.status === 422) throw new BadParameterError('query', `${this.describe()} refused the query (HTTP ${res.status}): ${text.slice(0, 500)}`);
      throw new StoreUnavailableError(`${this.describe()} answered ${res.status}: ${text.slice(0, 500)}`);
    }
    return text;
  }

  // ---- InfluxDB 1.x ---------------------------------------------------------------------------

  private from(): string {
    // Every measurement: readings may name their own (the `measurement` tag of line protocol inputs).
    return this.o.retentionPolicy ? `${ident(this.o.retentionPolicy)}./.*/` : '/.*/';
  }

  private async influxql(q: string): Promise<InfluxSeries[]> {
    const params = new URLSearchParams({ q, epoch: 'ms' });
    if (this.o.database) params.set('db', this.o.database);
    if (this.o.retentionPolicy) params.set('rp', this.o.retentionPolicy);
    const text = await this.get('/query', params);
    const body = JSON.parse(text) as { results?: Array<{ error?: string; series?: InfluxSeries[] }>; error?: string };
    if (body.error) throw new StoreUnavailableError(`${this.describe()}: ${body.error}`);
    const r = body.results?.[0];
    if (r?.error) {
      if (/database not found/.test(r.error)) return [];
      throw new BadParameterError('query', `${this.describe()} refused the query: ${r.error}`);
    }
    return r?.series ?? [];
  }

  private timeWhere(q: { from?: number; to?: number }, after?: number): string[] {
    const w: string[] = [];
    if (q.from !== undefined) w.push(`time >= ${Math.trunc(q.from)}ms`);
    if (after !== undefined) w.push(`time > ${Math.trunc(after)}ms`);
    if (q.to !== undefined) w.push(`time < ${Math.trunc(q.to)}ms`);
    return w;
  }

  /** A series' tags back to a reading's tags: the device tag out, a measurement of its own back in. */
  private readingTags(s: InfluxSeries): Record<string, string> {
    const tags: Record<string, string> = {};
    for (const [k, v] of Object.entries(s.tags ?? {})) if (k !== this.o.mapping.deviceTag && v !== '') tags[k] = v;
    if (this.o.mapping.measurementTag && s.name !== this.o.mapping.measurement) tags[this.o.mapping.measurementTag] = s.name;
    return tags;
  }

  private async influxReadings(q: ReadingsQuery, after?: number): Promise<ReadingsPage> {
    const sel = q.fields ? q.fields.map(ident).join(', ') : '*';
    const where = [`${ident(this.o.mapping.deviceTag)} = ${lit(q.device)}`, ...this.timeWhere(q, after)];
    // LIMIT applies per series: each series' first limit+1 timestamps hold the first limit+1 of all of them.
    const series = await this.influxql(`SELECT ${sel} FROM ${this.from()} WHERE ${where.join(' AND ')} GROUP BY * ORDER BY time ASC LIMIT ${q.limit + 1}`);
    const byTs = new Map<number, Row>();
    for (const s of series) {
      const tags = this.readingTags(s);
      const timeCol = s.columns.indexOf('time');
      // Alert transitions are about the device, not measured by it (the alerts API serves them): only named fields bring them.
      const skipped = s.columns.map((c) => !q.fields && c.startsWith(ALERT_FIELD_PREFIX));
      for (const v of s.values) {
        const ts = Number(v[timeCol]);
        let row = byTs.get(ts);
        if (!row) byTs.set(ts, (row = { ts, fields: {}, tags: {} }));
        let any = false;
        for (let i = 0; i < s.columns.length; i++) {
          if (i === timeCol || v[i] === null || v[i] === undefined || skipped[i]) continue;
          row.fields[s.columns[i]] = v[i] as FieldValue;
          any = true;
        }
        if (any) Object.assign(row.tags, tags);
      }
    }
    return page([...byTs.values()].filter((r) => Object.keys(r.fields).length > 0), q.limit);
  }

  private async influxAggregate(q: AggregateQuery): Promise<AggregatePoint[]> {
    const f = ident(q.field);
    const where = [`${ident(this.o.mapping.deviceTag)} = ${lit(q.device)}`, ...this.timeWhere({ from: q.from ?? 0, to: q.to ?? MAX_INFLUX_MS })];
    const group = `GROUP BY time(${q.everyMs}ms) fill(none) LIMIT ${MAX_AGGREGATE_POINTS + 1}`;
    if (q.fn === 'last') {
      // The last value of each bucket, of whichever measurement holds it: the raw rows, folded here (a bucket's `last()` carries no time of its own).
      const series = await this.influxql(`SELECT ${f} FROM ${this.from()} WHERE ${where.join(' AND ')} ORDER BY time ASC`);
      const samples: Array<[number, FieldValue]> = [];
      for (const s of series) {
        const t = s.columns.indexOf('time');
        const c = s.columns.indexOf(q.field);
        for (const v of s.values) if (v[c] !== null && v[c] !== undefined) samples.push([Number(v[t]), v[c] as FieldValue]);
      }
      this.checkSamples(samples.length);
      return withinBucketLimit(aggregateSamples(samples, q), q);
    }
    // Count, sum, min and max combine across measurements; a mean is a sum over a count.
    const fns = q.fn === 'mean' ? ['sum', 'count'] : [q.fn];
    const series = await this.influxql(`SELECT ${fns.map((fn) => `${fn}(${f}) AS ${fn}`).join(', ')} FROM ${this.from()} WHERE ${where.join(' AND ')} ${group}`);
    const acc = new Map<number, { sum: number; count: number; min: number; max: number }>();
    for (const s of series) {
      const t = s.columns.indexOf('time');
      for (const v of s.values) {
        const ts = Number(v[t]);
        const a = acc.get(ts) ?? { sum: 0, count: 0, min: Infinity, max: -Infinity };
        for (const fn of fns) {
          const x = v[s.columns.indexOf(fn)];
          if (typeof x !== 'number') continue;
          if (fn === 'sum') a.sum += x;
          else if (fn === 'count') a.count += x;
          else if (fn === 'min') a.min = Math.min(a.min, x);
          else if (fn === 'max') a.max = Math.max(a.max, x);
        }
        acc.set(ts, a);
      }
    }
    const out: AggregatePoint[] = [];
    for (const [ts, a] of [...acc.entries()].sort((x, y) => x[0] - y[0])) {
      if (q.fn === 'mean') {
        if (a.count > 0) out.push({ ts, value: a.sum / a.count });
      } else if (q.fn === 'min' || q.fn === 'max') {
        if (Number.isFinite(a[q.fn])) out.push({ ts, value: a[q.fn] });
      } else {
        out.push({ ts, value: a[q.fn as 'sum' | 'count'] });
      }
    }
    return withinBucketLimit(out, q);
  }

  private async influxDevices(q: DeviceQuery): Promise<DeviceSummary[]> {
    const where = this.timeWhere(q);
    const whereText = where.length ? ` WHERE ${where.join(' AND ')}` : '';
    const byDevice = new Map<string, { ts: number; tags: Record<string, string>; fields: Set<string>; alerts: Set<string> }>();
    const entry = (device: string) => {
      let d = byDevice.get(device);
      if (!d) byDevice.set(device, (d = { ts: -Infinity, tags: {}, fields: new Set<string>(), alerts: new Set<string>() }));
      return d;
    };
    const keys = await this.influxql(`SHOW FIELD KEYS FROM ${this.from()}`);
    // An alert transition's tags are the alert's (severity, message...), in series of their own: a device
    // selected by its tags keeps those of its latest reading, so the latest row is asked of reading fields only.
    const readingFields = new Set<string>();
    let alerts = false;
    for (const k of keys) {
      for (const v of k.values) {
        const name = String(v[0]);
        if (name.startsWith(ALERT_FIELD_PREFIX)) alerts = true;
        else readingFields.add(name);
      }
    }
    if (readingFields.size > 0) {
      // ::field: a reading field named as an alert's tag (message, severity) must not select that tag.
      const sel = alerts ? [...readingFields].map((n) => `${ident(n)}::field`).join(', ') : '*';
      // One row per series with its latest time: its tags are the device's.
      const series = await this.influxql(`SELECT ${sel} FROM ${this.from()}${whereText} GROUP BY * ORDER BY time DESC LIMIT 1`);
      for (const s of series) {
        const device = s.tags?.[this.o.mapping.deviceTag];
        if (!device) continue;
        const t = s.columns.indexOf('time');
        const d = entry(device);
        const v = s.values[0] ?? [];
        if (Number(v[t]) >= d.ts) {
          d.ts = Number(v[t]);
          d.tags = this.readingTags(s);
        }
      }
    }
    // The fields: SHOW FIELD KEYS has no per-device filter, so the fields each device has are asked per measurement.
    for (const k of keys) {
      const names = k.values.map((v) => String(v[0]));
      if (names.length === 0) continue;
      const cnt = await this.influxql(`SELECT ${names.map((n) => `count(${ident(n)}) AS ${ident(n)}`).join(', ')} FROM ${ident(k.name)}${whereText} GROUP BY ${ident(this.o.mapping.deviceTag)}`);
      for (const s of cnt) {
        const device = s.tags?.[this.o.mapping.deviceTag];
        if (!device) continue;
        const v = s.values[0] ?? [];
        s.columns.forEach((c, i) => {
          // A device with nothing but alert transitions in the range is listed, without tags, as from DuckDB.
          if (c !== 'time' && typeof v[i] === 'number' && (v[i] as number) > 0) (c.startsWith(ALERT_FIELD_PREFIX) ? entry(device).alerts : entry(device).fields).add(c);
        });
      }
    }
    return [...byDevice.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([device, d]) => ({ device, tags: d.tags, fields: [...d.fields].sort(), ...(d.alerts.size ? { alerts: [...d.alerts].sort() } : {}) }));
  }

  // ---- VictoriaMetrics ------------------------------------------------------------------------

  private checkSamples(n: number): void {
    if (n > this.maxSamples) throw new BadParameterError('from', `the range holds more than ${this.maxSamples} values; ask for a shorter range`);
  }

  /** Series name → field: the default measurement's prefix off; another measurement's series keep their whole name. */
  private vmField(name: string): { field: string; own: boolean } {
    const prefix = `${this.o.mapping.measurement}_`;
    return name.startsWith(prefix) ? { field: name.slice(prefix.length), own: false } : { field: name, own: true };
  }

  private vmRange(params: URLSearchParams, q: { from?: number; to?: number }, after?: number): void {
    const from = Math.max(q.from ?? 0, after === undefined ? -Infinity : after + 1);
    // VictoriaMetrics takes seconds (with a fraction) and an inclusive end; ours is exclusive.
    params.set('start', (Math.max(0, from) / 1000).toFixed(3));
    if (q.to !== undefined) params.set('end', ((q.to - 1) / 1000).toFixed(3));
  }

  private async vmExport(match: string, q: { from?: number; to?: number }, after?: number): Promise<Array<{ metric: Record<string, string>; values: number[]; timestamps: number[] }>> {
    const params = new URLSearchParams({ 'match[]': match });
    this.vmRange(params, q, after);
    const text = await this.get('/api/v1/export', params);
    const out: Array<{ metric: Record<string, string>; values: number[]; timestamps: number[] }> = [];
    let n = 0;
    for (const line of text.split('\n')) {
      if (!line) continue;
      const s = JSON.parse(line) as { metric: Record<string, string>; values: number[]; timestamps: number[] };
      n += s.timestamps.length;
      this.checkSamples(n);
      out.push(s);
    }
    return out;
  }

  private deviceMatch(device: string): string {
    return `{${this.o.mapping.deviceTag}=${promString(device)}}`;
  }

  private async vmReadings(q: ReadingsQuery, after?: number): Promise<ReadingsPage> {
    const series = await this.vmExport(this.deviceMatch(q.device), q, after);
    const want = q.fields ? new Set(q.fields) : undefined;
    const byTs = new Map<number, Row>();
    for (const s of series) {
      const { field } = this.vmField(s.metric.__name__ ?? '');
      if (want && !want.has(field)) continue;
      const tags: Record<string, string> = {};
      for (const [k, v] of Object.entries(s.metric)) if (k !== '__name__' && k !== this.o.mapping.deviceTag) tags[k] = v;
      for (let i = 0; i < s.timestamps.length; i++) {
        const ts = s.timestamps[i];
        let row = byTs.get(ts);
        if (!row) byTs.set(ts, (row = { ts, fields: {}, tags: {} }));
        row.fields[field] = s.values[i];
        Object.assign(row.tags, tags);
      }
    }
    return page([...byTs.values()], q.limit);
  }

  private async vmAggregate(q: AggregateQuery): Promise<AggregatePoint[]> {
    const series = await this.vmExport(this.deviceMatch(q.device), q);
    // One value per timestamp: a sample written twice counts once.
    const byTs = new Map<number, FieldValue>();
    for (const s of series) {
      if (this.vmField(s.metric.__name__ ?? '').field !== q.field) continue;
      for (let i = 0; i < s.timestamps.length; i++) byTs.set(s.timestamps[i], s.values[i]);
    }
    return withinBucketLimit(aggregateSamples([...byTs.entries()], q), q);
  }

  private async vmDevices(q: DeviceQuery): Promise<DeviceSummary[]> {
    // The time of each series' last sample in the range: the device's latest tags are those of its newest series.
    const end = q.to !== undefined ? (q.to - 1) / 1000 : Date.now() / 1000 + 86_400;
    const start = q.from !== undefined ? q.from / 1000 : Math.max(0, end - VM_LONGEST_WINDOW_S);
    const window = Math.max(1, Math.ceil(end - start));
    const params = new URLSearchParams({ query: `tlast_over_time({${this.o.mapping.deviceTag}!=""}[${window}s]) keep_metric_names`, time: end.toFixed(3), nocache: '1' });
    const body = JSON.parse(await this.get('/api/v1/query', params)) as { data?: { result?: Array<{ metric: Record<string, string>; value: [number, string] }> } };
    const byDevice = new Map<string, { ts: number; tags: Record<string, string>; fields: Set<string> }>();
    for (const { metric: m, value } of body.data?.result ?? []) {
      const device = m[this.o.mapping.deviceTag];
      const d = byDevice.get(device) ?? { ts: -Infinity, tags: {}, fields: new Set<string>() };
      d.fields.add(this.vmField(m.__name__ ?? '').field);
      const last = Number(value[1]);
      if (last >= d.ts) {
        d.ts = last;
        d.tags = {};
        for (const [k, v] of Object.entries(m)) if (k !== '__name__' && k !== this.o.mapping.deviceTag) d.tags[k] = v;
      }
      byDevice.set(device, d);
    }
    return [...byDevice.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([device, d]) => ({ device, tags: d.tags, fields: [...d.fields].sort() }));
  }

}
