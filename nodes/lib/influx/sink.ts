/**
 * InfluxDB (1.x `/write`, 2.x `/api/v2/write`, 3.x `/api/v3/write_lp` with the
 * v2 route as fallback) and VictoriaMetrics (`/api/v2/write`) as a durable
 * sink. HTTP goes through @influxdata/influxdb-client's transport (keep-alive,
 * gzip above a size, timeouts); batching, spooling and retries are the
 * DurableWriter's, one per sink, so nothing is held only in memory here.
 *
 * Failures follow the sink contract (../store/types.ts): a server that cannot
 * be reached, answers 5xx/429, refuses the credentials or lacks the database
 * is *unavailable* (spooled, retried with backoff); a 4xx about the data
 * (400, 413, 422) is *refused data* (the writer bisects the batch until the
 * bad lines are isolated and dead-letters them with the server's message).
 * InfluxDB 1.x answers a batch with some bad lines with 400 "partial write"
 * after writing the good ones; writing those again is harmless (a point with
 * the same series and time is replaced). Points older than the retention
 * ("points beyond retention policy dropped=N", 1.x and 2.x) are named in one
 * RetentionRefusedError: the writer dead-letters them together
 * (BEYOND_RETENTION, with the cutoff) instead of bisecting to each.
 */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { promisify } from 'node:util';
import { constants as zlibConstants, gzip } from 'node:zlib';
import type { InfluxDB, ResponseStartedFn, SendOptions, Transport } from '@influxdata/influxdb-client';
import { StoreFailedError, StoreUnavailableError, type RetentionRefusedError } from '../errors';
import type { Reading } from '../reading';
import type { ReadingSink, StoreHealth } from '../store/types';
import { encodeReadings, refusalError, type Dialect, type Precision } from './line';
import { influxClient, isHttpError, isTimeout, quoteIdent, serverMessage } from './sink-client';
import type { InfluxApi, InfluxSinkOptions, InfluxSinkStats, ServerKind } from './sink-options';
import { goDurationMs, retentionRefusal } from './retention';
import { adoptServerTypes, provisionV1, provisionV2, type InfluxQlResult, type ProvisionTarget } from './sink-provision';
import { shownUrl } from '../security/url-login';

export type { ApiSetting, InfluxApi, InfluxSinkOptions, InfluxSinkStats, ServerKind } from './sink-options';

const gzipAsync = promisify(gzip);
/** Line protocol compresses about 8:1 at the fastest level already; higher levels cost several times the CPU for a few per cent. */
const GZIP_OPTIONS = { level: zlibConstants.Z_BEST_SPEED };

const PRECISION_V3: Record<Precision, string> = { ns: 'nanosecond', us: 'microsecond', ms: 'millisecond', s: 'second' };

export class InfluxSink implements ReadingSink {
  readonly kind: string;
  private readonly client: InfluxDB;
  private readonly transport: Transport;
  private readonly agent: HttpAgent;
  private dialect: Dialect;
  private route: string;
  private server: ServerKind;
  private api: InfluxApi;
  private detected: boolean;
  private v3Fallback = false;
  private provisioned = false;
  private provisioning?: string;
  private skippedText = 0;
  private closed = false;
  /**
   * Why the last write was refused for its credentials (401/403), until a write goes through: `/ping` answers
   * without them, so the health check would call a server that refuses every write healthy.
   */
  private refusedAuth?: string;

  constructor(private readonly o: InfluxSinkOptions) {
    this.kind = o.server;
    this.server = o.server;
    this.detected = o.api !== 'auto';
    this.api = o.api === 'auto' ? (o.bucket ? 'v2' : 'v1') : o.api;
    const https = /^https:/i.test(o.url);
    this.agent = https ? new HttpsAgent({ keepAlive: true, maxSockets: 4 }) : new HttpAgent({ keepAlive: true, maxSockets: 4 });
    // The token goes in each request's headers (1.x takes user and password instead).
    this.client = new (influxClient().InfluxDB)({ url: o.url.replace(/\/+$/, ''), timeout: o.timeoutMs, transportOptions: { agent: this.agent } });
    this.transport = this.client.transport;
    this.dialect = this.dialectOf();
    this.route = this.writePath();
  }

  /** 1.x keeps backslashes literal; 2.x/3.x and VictoriaMetrics read `\\` as one. */
  private dialectOf(): Dialect {
    return this.server === 'influxdb' && this.api === 'v1' ? 'v1' : 'v2';
  }

  /** What answers at the URL: InfluxDB 1/2/3 (X-Influxdb-Version) or VictoriaMetrics (no version header). */
  private async detect(): Promise<void> {
    let version: string | undefined;
    try {
      await this.request('/ping', '', { method: 'GET', headers: this.headers() }, (headers) => {
        const v = headers['x-influxdb-version'];
        version = Array.isArray(v) ? v[0] : v;
      });
    } catch (err) {
      throw this.classify(err);
    }
    const major = version ? /^v?(\d+)/.exec(version)?.[1] : undefined;
    if (!version) {
      this.server = 'victoriametrics';
      this.api = 'v2';
    } else if (major === '1') this.api = 'v1';
    else if (major === '2') this.api = 'v2';
    else this.api = 'v3';
    this.detected = true;
    this.dialect = this.dialectOf();
    this.route = this.writePath();
    this.o.onNotice?.(`${this.describe()}: ${version ? `InfluxDB ${version}` : 'VictoriaMetrics (no InfluxDB version header)'} answers; writing with the ${this.api} API`);
  }

  /** Checks the server and creates what is missing; a server that is down is not an error yet (writes spool until it is up). */
  async open(): Promise<void> {
    this.closed = false;
    try {
      await this.provision();
    } catch (err) {
      if (!(err instanceof StoreUnavailableError)) throw err;
    }
  }

  async write(readings: Reading[]): Promise<void> {
    if (readings.length === 0) return;
    if (this.closed) throw new StoreUnavailableError(`the ${this.describe()} sink is closed`);
    // The dialect depends on the server: known before anything is encoded.
    if (!this.detected || !this.provisioned) await this.provision();
    const enc = encodeReadings(readings, { dialect: this.dialect, precision: this.o.precision, mapping: this.o.mapping, types: this.o.types, victoria: this.server === 'victoriametrics' });
    // Refused readings are the data's fault: the writer splits the batch until each is alone and dead-letters it.
    if (enc.refused.length) throw refusalError(enc.refused, this.describe());
    if (enc.skippedText) this.noteSkipped(enc.skippedText);
    if (enc.lines === 0) return;
    // New field types are on disk before the points that fixed them count as written.
    this.o.types.save();
    try {
      await this.post(enc.bytes);
    } catch (err) {
      throw (enc.empty === 0 && (await this.retentionRefusal(err, readings))) || err;
    }
  }

  /** The server's "points beyond retention policy dropped=N" as the readings it dropped, named; undefined for any other failure. */
  private async retentionRefusal(err: unknown, readings: Reading[]): Promise<RetentionRefusedError | undefined> {
    const cause = (err as { cause?: unknown })?.cause;
    if (!isHttpError(cause)) return undefined;
    return retentionRefusal(serverMessage(cause), readings, this.kind, this.describe(), () => this.retention());
  }

  /** The retention the writes go to, as the server has it: 1.x the policy written to (or the default), 2.x the bucket's. */
  private async retention(): Promise<{ name: string; ms: number } | undefined> {
    if (this.api === 'v1') {
      const [r] = await this.influxql(`SHOW RETENTION POLICIES ON ${quoteIdent(this.database())}`);
      const s = r?.series?.[0];
      if (!s) return undefined;
      const col = (c: string) => s.columns.indexOf(c);
      const row = s.values.find((v) => (this.o.retentionPolicy ? v[col('name')] === this.o.retentionPolicy : v[col('default')] === true));
      const ms = row ? goDurationMs(String(row[col('duration')])) : undefined;
      return row && ms !== undefined ? { name: `retention policy "${String(row[col('name')])}"`, ms } : undefined;
    }
    const q = new URLSearchParams({ name: this.bucket(), ...(this.o.org ? { org: this.o.org } : {}) });
    const res = (await this.request(`/api/v2/buckets?${q}`, '', { method: 'GET', headers: this.headers() })) as { buckets?: Array<{ retentionRules?: Array<{ type?: string; everySeconds?: number }> }> };
    const rule = res?.buckets?.[0]?.retentionRules?.find((r) => r.type === 'expire' && typeof r.everySeconds === 'number');
    return rule ? { name: `bucket "${this.bucket()}"`, ms: rule.everySeconds! * 1000 } : undefined;
  }

  async health(): Promise<StoreHealth> {
    const path = this.server === 'victoriametrics' ? '/health' : '/ping';
    try {
      await this.request(path, '', { method: 'GET', headers: this.headers() }, undefined, true);
      if (this.refusedAuth) return { ok: false, detail: `${this.describe()} answers but refuses the writes: ${this.refusedAuth}` };
      const notes = [this.provisioning, this.skippedText ? `${this.skippedText} text field value(s) left out (VictoriaMetrics keeps numbers only)` : undefined].filter(Boolean);
      return { ok: true, detail: `${this.describe()} answers${notes.length ? `; ${notes.join('; ')}` : ''}` };
    } catch (err) {
      return { ok: false, detail: `${this.describe()}: ${this.reason(err)}` };
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.o.types.save();
    this.agent.destroy();
  }

  stats(): InfluxSinkStats {
    return { skippedText: this.skippedText, provisioning: this.provisioning, route: this.route };
  }

  describe(): string {
    const where = this.api === 'v2' ? `${this.o.org ? `${this.o.org}/` : ''}${this.bucket()}` : this.database();
    return `${this.server === 'victoriametrics' ? 'VictoriaMetrics' : `InfluxDB ${this.detected ? this.api : '(version not known yet)'}`} ${shownUrl(this.o.url)}${where ? ` (${where})` : ''}`;
  }

  /** With 'auto', one name serves whichever API answers. */
  private database(): string {
    return this.o.database || this.o.bucket || '';
  }

  private bucket(): string {
    return this.o.bucket || this.o.database || '';
  }

  private writePath(): string {
    const p = this.o.precision;
    const q = (params: Record<string, string | undefined>) =>
      Object.entries(params)
        .filter(([, v]) => v !== undefined && v !== '')
        .map(([k, v]) => `${k}=${encodeURIComponent(v!)}`)
        .join('&');
    if (this.api === 'v1') return `/write?${q({ db: this.database(), rp: this.o.retentionPolicy, precision: p === 'us' ? 'u' : p })}`;
    if (this.api === 'v3' && !this.v3Fallback) return `/api/v3/write_lp?${q({ db: this.database(), precision: PRECISION_V3[p] })}`;
    // 3.x on the v2 route takes the database as the bucket.
    const bucket = this.api === 'v3' ? this.database() : this.bucket();
    return `/api/v2/write?${q({ org: this.o.org, bucket, precision: p })}`;
  }

  private headers(): Record<string, string> {
    const h: Record<string, string> = { 'content-type': 'text/plain; charset=utf-8' };
    if (this.o.token) h.authorization = `Token ${this.o.token}`;
    else if (this.o.user) h.authorization = `Basic ${Buffer.from(`${this.o.user}:${this.o.password ?? ''}`).toString('base64')}`;
    return h;
  }

  private async post(body: Buffer): Promise<void> {
    // One buffer per batch; gzipped (on the libuv pool, at the fastest level) only above the size set.
    let data = body;
    const headers = this.headers();
    if (this.o.gzipAbove > 0 && data.length > this.o.gzipAbove) {
      data = await gzipAsync(data, GZIP_OPTIONS);
      headers['content-encoding'] = 'gzip';
    }
    try {
      await this.send(this.route, data, headers);
      this.refusedAuth = undefined;
    } catch (err) {
      if (this.api === 'v3' && !this.v3Fallback && isHttpError(err) && (err.statusCode === 404 || err.statusCode === 405)) {
        // A server without the v3 route (InfluxDB 2.x, or 3.x behind a proxy that passes only v2): the v2 route.
        this.v3Fallback = true;
        this.route = this.writePath();
        this.o.onNotice?.(`${this.describe()} has no /api/v3/write_lp; writing through /api/v2/write`);
        return this.post(body);
      }
      const e = this.classify(err);
      if (isHttpError(err) && (err.statusCode === 401 || err.statusCode === 403)) this.refusedAuth = e.message;
      throw e;
    }
  }

  /** A body as bytes through the client's transport (its request() takes text or JSON only); the answer's body is dropped. */
  private send(path: string, body: Buffer, headers: Record<string, string>): Promise<void> {
    return this.bounded(
      (signal) =>
        new Promise((resolve, reject) => {
          this.transport.send(path, body as unknown as string, { method: 'POST', headers, signal }, { next: () => undefined, complete: () => resolve(), error: (e: Error) => reject(e) });
        }),
      false,
    );
  }

  /** The transport's request(), bounded as bounded() says. */
  private request(path: string, body: string, options: SendOptions, onHeaders?: ResponseStartedFn, probe = false): Promise<unknown> {
    return this.bounded((signal) => this.transport.request(path, body, { ...options, signal }, onHeaders), probe);
  }

  /**
   * The client library's timeout only reports an idle socket and leaves the request open: against a server that
   * takes connections and never answers (stopped with SIGSTOP, hung) each timed-out request kept one of the
   * agent's sockets, and once all were held the next requests waited for one with no timeout at all. Aborting
   * frees the socket. A probe (health, reachability) is bounded as a whole, including any wait for a socket, so
   * `/health` answers during such an outage; a write keeps the idle timeout, since a large batch to a busy
   * server may take longer than that in all and still be answered.
   */
  private async bounded<T>(call: (signal: AbortSignal) => Promise<T>, probe: boolean): Promise<T> {
    const abort = new AbortController();
    const signal = probe ? AbortSignal.any([abort.signal, AbortSignal.timeout(this.o.timeoutMs)]) : abort.signal;
    try {
      return await call(signal);
    } catch (err) {
      const timedOut = isTimeout(err) || signal.aborted;
      if (timedOut) abort.abort();
      throw timedOut ? new StoreUnavailableError(`no answer within ${this.o.timeoutMs / 1000} s`, { cause: err }) : err;
    }
  }

  /** HTTP answer → the two kinds of failure of the sink contract. */
  private classify(err: unknown): Error {
    const where = this.describe();
    if (isHttpError(err)) {
      const msg = serverMessage(err);
      const s = err.statusCode;
      if (s === 401 || s === 403) return new StoreUnavailableError(`${where} refused the credentials (HTTP ${s}): ${msg}`, { cause: err });
      if (s === 404) {
        // 1.x: database not found. Created again (if allowed) before the next try.
        this.provisioned = false;
        return new StoreUnavailableError(`${where} answered 404: ${msg}`, { cause: err });
      }
      if (s === 408 || s === 429 || s >= 500) return new StoreUnavailableError(`${where} answered ${s}: ${msg}`, { cause: err });
      return new StoreFailedError(`${where} refused the data (HTTP ${s}): ${msg}`, { cause: err });
    }
    return new StoreUnavailableError(`${where} cannot be reached: ${this.reason(err)}`, { cause: err });
  }

  private reason(err: unknown): string {
    // The bound of bounded(): its message is the reason.
    if (err instanceof StoreUnavailableError) return err.message;
    if (isHttpError(err)) return `HTTP ${err.statusCode}: ${serverMessage(err)}`;
    const e = err as { code?: string; message?: string };
    return [e?.code, e?.message].filter(Boolean).join(' ') || String(err);
  }

  private noteSkipped(n: number): void {
    if (this.skippedText === 0) this.o.onNotice?.(`${this.describe()} keeps numbers only: text fields are left out (they stay in the embedded store)`);
    this.skippedText += n;
  }

  /**
   * Makes sure the target exists: 1.x database (and retention policy), 2.x
   * bucket with its retention. Unreachable → StoreUnavailableError (tried again
   * before the next write). Not allowed → a notice once, and writes go ahead
   * (the target may exist already; if not, the server's 404 keeps them spooled).
   */
  private async provision(): Promise<void> {
    if (!this.detected) await this.detect();
    if (this.server === 'victoriametrics' || this.api === 'v3') {
      // VictoriaMetrics keeps everything for its -retentionPeriod; 3.x creates a database on its first write.
      await this.reachable();
      this.provisioned = true;
      return;
    }
    if (this.api === 'v1') await this.provisionV1();
    else await provisionV2(this.provisionTarget());
    this.provisioned = true;
  }

  private async reachable(): Promise<void> {
    try {
      await this.request(this.server === 'victoriametrics' ? '/health' : '/ping', '', { method: 'GET', headers: this.headers() }, undefined, true);
    } catch (err) {
      throw this.classify(err);
    }
  }

  private async influxql(q: string): Promise<InfluxQlResult[]> {
    const params = new URLSearchParams({ q });
    if (this.database()) params.set('db', this.database());
    let res: { results?: InfluxQlResult[]; error?: string };
    try {
      res = (await this.request('/query', params.toString(), { method: 'POST', headers: { ...this.headers(), 'content-type': 'application/x-www-form-urlencoded' } })) as typeof res;
    } catch (err) {
      throw this.classify(err);
    }
    return res?.results ?? [];
  }

  /** The sink as sink-provision.ts uses it. */
  private provisionTarget(): ProvisionTarget {
    return {
      o: this.o,
      database: this.database(),
      bucket: this.bucket(),
      influxql: (q) => this.influxql(q),
      request: async (path, body, options) => {
        try {
          return await this.request(path, body, { ...options, headers: { ...this.headers(), ...options.headers } });
        } catch (err) {
          throw this.classify(err);
        }
      },
      reachable: () => this.reachable(),
      note: (text) => {
        if (this.provisioning !== text) this.o.onNotice?.(`${this.describe()}: ${text}`);
        this.provisioning = text;
      },
    };
  }

  private async provisionV1(): Promise<void> {
    const target = this.provisionTarget();
    const rp = await provisionV1(target);
    if (rp && !this.o.retentionPolicy) {
      // Writes go to the policy created for them.
      this.o.retentionPolicy = rp;
      this.route = this.writePath();
    }
    await adoptServerTypes(target);
  }
}
