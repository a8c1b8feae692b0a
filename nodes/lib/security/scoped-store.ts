/**
 * A store as one API key sees it: the read routes (query API, fetch, Grafana,
 * dead letters) are handed this view instead of the store, so no route can
 * forget the key's scopes.
 *
 * - A device the key may not read: `readings` and `aggregate` throw
 *   ForbiddenError (403), asked by name; `devices` and `deadLetters` leave it
 *   out of their lists (a list is filtered, never refused).
 * - Sensitive fields (masking.ts), unless the key may see them: masked in
 *   readings, in aggregates (rounded; a hidden or masked field's aggregate is 403, and so is its backtest) and
 *   dead-letter payloads are withheld (they are the raw message) and the
 *   values their reasons quote are told by kind (reason-redaction.ts).
 * - Nothing can be written through it.
 */
import { ForbiddenError } from '../errors';
import type { AggregatePoint, AggregateQuery, DeadLetter, DeadLetterQuery, DeviceQuery, DeviceSummary, ReadingsPage, ReadingsQuery, StoreHealth, TimeSeriesStore } from '../store/types';
import { maskAggregate, maskFields, type FieldMasks, type Mask } from './masking';
import { redactReason } from './reason-redaction';

export interface ReadScope {
  /** May the key read this device's data? */
  sees(device: string): boolean;
  /** Masks to apply (absent or empty: the key sees sensitive fields as sent). */
  masks?: FieldMasks;
  /** For messages: the key's scopes, e.g. "read:tag=customer:acme". */
  describe: string;
}

/** How many pages of dead letters a filtered listing reads at most to fill one page. */
const MAX_SCAN_PAGES = 20;
export const WITHHELD_PAYLOAD = '(withheld: dead letters may hold sensitive fields; this needs the read:sensitive scope)';

export class ScopedStore implements TimeSeriesStore {
  readonly kind?: string;

  constructor(private readonly inner: TimeSeriesStore, private readonly scope: ReadScope) {
    this.kind = inner.kind;
    if (inner.devices) this.devices = (q: DeviceQuery) => this.listDevices(q);
    if (inner.rawSince) this.rawSince = () => inner.rawSince!();
    if (inner.aggregateWithTier) {
      const withTier = inner.aggregateWithTier.bind(inner);
      this.aggregateWithTier = async (q) => {
        const mask = this.aggregateMask(q);
        const r = await withTier(q);
        return { points: ScopedStore.maskPoints(r.points, q, mask), tier: r.tier };
      };
    }
  }

  devices?: (q: DeviceQuery) => Promise<DeviceSummary[]>;
  rawSince?: () => Promise<number | undefined>;

  private refuse(device: string): never {
    throw new ForbiddenError(`this API key (${this.scope.describe}) may not read device "${device.slice(0, 128)}"`, { device: device.slice(0, 128) });
  }

  private masking(): FieldMasks | undefined {
    const m = this.scope.masks;
    return m && m.size > 0 ? m : undefined;
  }

  async readings(q: ReadingsQuery): Promise<ReadingsPage> {
    if (!this.scope.sees(q.device)) this.refuse(q.device);
    const page = await this.inner.readings(q);
    const masks = this.masking();
    if (!masks) return page;
    return { ...page, readings: page.readings.map((r) => ({ ...r, fields: maskFields(r.fields, masks) })) };
  }

  /**
   * The mask of one device's series of a field after the checks: 403 for a device the key may not see, or for
   * a field it may not have figures of (hidden or masked). Aggregates and backtests, which compute over a
   * series, ask this first, so both refuse what one refuses.
   */
  seriesMask(device: string, field: string): Mask | undefined {
    if (!this.scope.sees(device)) this.refuse(device);
    const mask = this.masking()?.get(field);
    if (mask?.kind === 'hide' || mask?.kind === 'mask') {
      throw new ForbiddenError(`field "${field.slice(0, 128)}" is sensitive: its values need the read:sensitive scope`, { field: field.slice(0, 128) });
    }
    return mask;
  }

  private aggregateMask(q: AggregateQuery): Mask | undefined {
    return this.seriesMask(q.device, q.field);
  }

  private static maskPoints(points: AggregatePoint[], q: AggregateQuery, mask: Mask | undefined): AggregatePoint[] {
    // count says how many, not what: it stays as it is.
    return mask && q.fn !== 'count' ? points.map((p) => ({ ts: p.ts, value: maskAggregate(p.value, mask) })) : points;
  }

  async aggregate(q: AggregateQuery): Promise<AggregatePoint[]> {
    const mask = this.aggregateMask(q);
    return ScopedStore.maskPoints(await this.inner.aggregate(q), q, mask);
  }

  aggregateWithTier?: (q: AggregateQuery) => Promise<{ points: AggregatePoint[]; tier: string }>;

  async deadLetters(q: DeadLetterQuery): Promise<DeadLetter[]> {
    if (q.device !== undefined && !this.scope.sees(q.device)) this.refuse(q.device);
    const withheld = (letters: DeadLetter[]) => (this.masking() ? letters.map((l) => ({ ...l, reason: redactReason(l.reason, l.quoted), quoted: undefined, payload: WITHHELD_PAYLOAD, body: undefined })) : letters);
    if (q.device !== undefined) return withheld(await this.inner.deadLetters(q));
    // Filtered page by page, continuing after the last letter read, until the page is full.
    const out: DeadLetter[] = [];
    let after = q.after;
    for (let i = 0; i < MAX_SCAN_PAGES && out.length < q.limit; i++) {
      const page = await this.inner.deadLetters({ ...q, after });
      for (const l of page) if (this.scope.sees(l.device) && out.length < q.limit) out.push(l);
      const last = page[page.length - 1];
      if (page.length < q.limit || last?.id === undefined) break;
      after = { ts: last.ts, id: last.id };
    }
    return withheld(out);
  }

  private async listDevices(q: DeviceQuery): Promise<DeviceSummary[]> {
    const all = await this.inner.devices!(q);
    const masks = this.masking();
    return all
      .filter((d) => this.scope.sees(d.device))
      .map((d) => (masks ? { ...d, fields: d.fields.filter((f) => masks.get(f)?.kind !== 'hide') } : d));
  }

  health(): Promise<StoreHealth> {
    return this.inner.health();
  }

  open(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  write(): Promise<void> {
    return Promise.reject(new ForbiddenError('a read-only view of the store cannot be written to'));
  }

  writeDeadLetters(): Promise<void> {
    return Promise.reject(new ForbiddenError('a read-only view of the store cannot be written to'));
  }
}
