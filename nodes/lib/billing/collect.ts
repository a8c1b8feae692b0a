/**
 * The usage of one customer over a period, read from the store: every device
 * whose customer tag names the customer, every meter field of the tariff.
 */
import type { TimeSeriesStore } from '../store/types';
import type { DeviceDirectory } from '../report/sources';
import type { Tariff } from './tariff';
import { UsageAccumulator, type DeviceUsage } from './usage';
import { readingsBefore, readingsFrom } from '../report/neighbours';

const PAGE = 10_000;

export interface UsageQuery {
  customer: string;
  /** Tag that names a device's customer (default "customer"). */
  customerTag: string;
  from: number;
  to: number;
  tariff: Tariff;
}

/** Customers with readings in the range, by the customer tag, sorted. */
export async function customersIn(directory: DeviceDirectory, customerTag: string, range: { from: number; to: number }): Promise<string[]> {
  const found = new Set<string>();
  for (const d of await directory.devices(range)) {
    const c = d.tags[customerTag];
    if (typeof c === 'string' && c !== '') found.add(c);
  }
  return [...found].sort();
}

export async function collectUsage(store: TimeSeriesStore, directory: DeviceDirectory, q: UsageQuery): Promise<DeviceUsage[]> {
  const devices = (await directory.devices({ from: q.from, to: q.to })).filter((d) => d.tags[q.customerTag] === q.customer).map((d) => d.device).sort();
  const fields = [...new Set(q.tariff.meters.map((m) => m.field))];
  const out: DeviceUsage[] = [];
  if (fields.length === 0) return out;
  for (const device of devices) {
    const acc = q.tariff.meters.map((m) => new UsageAccumulator(device, m.field, m.measure, m.per ?? 'h'));
    // The boundary segments: looked for up to one period away (a meter silent longer bills nothing across the boundary).
    const span = q.to - q.from;
    const before = await readingsBefore(store, device, fields, q.from, span);
    for (const a of acc) {
      const b = before.get(a.field);
      if (b && typeof b.value === 'number') a.opening(b.ts, b.value, q.from);
    }
    let cursor: string | undefined;
    do {
      const page = await store.readings({ device, from: q.from, to: q.to, fields, limit: PAGE, cursor });
      for (const r of page.readings) {
        for (const a of acc) {
          const v = r.fields[a.field];
          if (typeof v === 'number') a.add(r.ts, v);
        }
      }
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    const after = await readingsFrom(store, device, fields, q.to, span);
    for (const a of acc) {
      const n = after.get(a.field);
      if (n && typeof n.value === 'number') a.closing(n.ts, n.value, q.to);
    }
    // Two meters on the same field, measure and unit bill the same usage; keep one entry.
    const seen = new Set<string>();
    for (const a of acc) {
      const key = `${a.field}\u0000${a.measure}\u0000${a.per}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(a.result());
    }
  }
  return out;
}
