/**
 * What an InfluxSink does once before it writes: create (when allowed) the 1.x
 * database and retention policy or the 2.x bucket, and adopt the field types the
 * server already has. Run at start-up and again after a 404, never per batch:
 * it stands apart from sink.ts, which keeps the write path, and reaches the
 * server only through the sink's own requests (ProvisionTarget).
 */
import type { SendOptions } from '@influxdata/influxdb-client';
import { StoreFailedError, StoreUnavailableError } from '../errors';
import type { FieldType } from './line';
import { quoteIdent } from './sink-client';
import type { InfluxSinkOptions } from './sink-options';
import { durationText } from './retention';

/** One statement's answer from `/query`. */
export interface InfluxQlResult {
  error?: string;
  series?: Array<{ name: string; columns: string[]; values: unknown[][] }>;
}

/** What provisioning uses of the sink: its options, names, requests (failures classified) and its provisioning notice. */
export interface ProvisionTarget {
  readonly o: InfluxSinkOptions;
  readonly database: string;
  readonly bucket: string;
  influxql(q: string): Promise<InfluxQlResult[]>;
  request(path: string, body: string, options: SendOptions): Promise<unknown>;
  reachable(): Promise<void>;
  /** Says what provisioning found (logged once per new text, shown by health()). */
  note(text: string): void;
}

/** The 1.x database and retention policy; returns the retention policy the writes should go to ('' for the default). */
export async function provisionV1(p: ProvisionTarget): Promise<string> {
  const { o } = p;
  const db = p.database;
  const rp = o.retentionPolicy || (o.retentionMs > 0 ? 'upperstack' : '');
  if (o.create) {
    const steps = [`CREATE DATABASE ${quoteIdent(db)}`];
    if (o.retentionMs > 0) steps.push(`CREATE RETENTION POLICY ${quoteIdent(rp)} ON ${quoteIdent(db)} DURATION ${durationText(o.retentionMs)} REPLICATION 1 DEFAULT`);
    try {
      for (const q of steps) {
        const [r] = await p.influxql(q);
        if (r?.error && !/already exists/.test(r.error)) throw new StoreFailedError(r.error);
        if (r?.error && /retention policy already exists/.test(r.error)) {
          const [a] = await p.influxql(`ALTER RETENTION POLICY ${quoteIdent(rp)} ON ${quoteIdent(db)} DURATION ${durationText(o.retentionMs)} DEFAULT`);
          if (a?.error) throw new StoreFailedError(a.error);
        }
      }
      p.note(`database "${db}"${o.retentionMs > 0 ? ` with retention policy "${rp}" of ${durationText(o.retentionMs)}` : ''} is ready`);
    } catch (err) {
      if (err instanceof StoreUnavailableError && !/credentials/.test(err.message)) throw err;
      p.note(`cannot create database "${db}"${o.retentionMs > 0 ? ` or its retention policy "${rp}"` : ''}: ${err instanceof Error ? err.message : String(err)}; create it yourself or give the user admin rights`);
    }
  } else {
    await p.reachable();
  }
  return rp;
}

/** A field the server already has keeps the server's type (another writer may have created it first). */
export async function adoptServerTypes(p: ProvisionTarget): Promise<void> {
  let results;
  try {
    results = await p.influxql('SHOW FIELD KEYS');
  } catch {
    return;
  }
  const map: Record<string, FieldType> = { float: 'float', integer: 'integer', unsigned: 'unsigned', boolean: 'boolean', string: 'string' };
  for (const s of results[0]?.series ?? []) {
    for (const [field, type] of s.values as Array<[string, string]>) if (map[type]) p.o.types.adopt(s.name, field, map[type]);
  }
}

/** The 2.x bucket, with its retention. */
export async function provisionV2(p: ProvisionTarget): Promise<void> {
  const { o } = p;
  const org = o.org;
  const bucket = p.bucket;
  const get = (path: string): Promise<unknown> => p.request(path, '', { method: 'GET' });
  if (!o.create || !org || !bucket) {
    await p.reachable();
    return;
  }
  try {
    const orgs = (await get(`/api/v2/orgs?org=${encodeURIComponent(org)}`)) as { orgs?: Array<{ id: string }> };
    const orgID = orgs?.orgs?.[0]?.id;
    if (!orgID) throw new StoreFailedError(`organisation "${org}" not found`);
    const found = (await get(`/api/v2/buckets?orgID=${orgID}&name=${encodeURIComponent(bucket)}`)) as { buckets?: Array<{ id: string }> };
    let text: string;
    if (found?.buckets?.length) {
      text = `bucket "${bucket}" exists`;
    } else {
      const rules = o.retentionMs > 0 ? [{ type: 'expire', everySeconds: Math.round(o.retentionMs / 1000) }] : [];
      await p.request('/api/v2/buckets', JSON.stringify({ orgID, name: bucket, retentionRules: rules }), { method: 'POST', headers: { 'content-type': 'application/json' } });
      text = `bucket "${bucket}" created${o.retentionMs > 0 ? ` with a retention of ${durationText(o.retentionMs)}` : ''}`;
    }
    p.note(text);
  } catch (err) {
    if (err instanceof StoreUnavailableError && !/credentials/.test(err.message)) throw err;
    p.note(`cannot check or create bucket "${bucket}": ${err instanceof Error ? err.message : String(err)}; create it yourself or use a token allowed to read and write buckets`);
  }
}
