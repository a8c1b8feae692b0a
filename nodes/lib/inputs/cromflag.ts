/**
 * The CroMFlaG2 HTTP API, kept verbatim so its devices, dashboards and scripts
 * work unchanged.
 *
 * `POST /insert/{device}` with
 * `{"deviceinfo":{"deviceid","fw_ver","batt_lvl"},"tsdata":[{...,"timestamp":<epoch ms>}]}`:
 * - every `tsdata` element is a Reading of the device at its `timestamp` (its
 *   other members are the fields; without a timestamp, the time of receipt);
 * - `deviceinfo` is the device's metadata: one Reading at the time of receipt
 *   whose fields are `deviceinfo.<key>` for every key but `deviceid`, so the
 *   battery level is also a series (`deviceinfo.batt_lvl`) and the latest values
 *   are the device's metadata (`GET /api/v1/devices/{device}`);
 * - `deviceinfo.deviceid` must be the device of the path (403 otherwise).
 *
 * `GET /fetch/{device}?from=&to=` (epoch ms, from inclusive, to exclusive, both
 * optional) answers in the shape the device posts, `{"deviceinfo":{...latest},
 * "tsdata":[{...fields, "timestamp": ms}]}`, oldest first, so code that reads
 * what it wrote keeps working. Numbers come back as JSON numbers (75.0 reads
 * back as 75), booleans as booleans.
 */
import { InvalidReadingError } from '../errors';
import { normalizeReadings, type FieldValue, type NormalizeResult, type Reading } from '../reading';
import { REQUEST_LIMITS } from '../limits';
import { DeviceMismatchError } from './errors';

/** Field prefix of the metadata readings; /fetch leaves these fields out of tsdata. */
export const DEVICEINFO_PREFIX = 'deviceinfo.';

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Readings of an /insert body; throws InvalidReadingError for a body of another shape. */
export function insertReadings(body: unknown, device: string, receivedAt: number): NormalizeResult {
  if (!isObject(body)) throw new InvalidReadingError('the body must be an object {"deviceinfo":{...},"tsdata":[...]}', { path: '' });
  const info = body.deviceinfo;
  if (!isObject(info)) throw new InvalidReadingError('"deviceinfo" must be an object with "deviceid"', { path: 'deviceinfo' });
  if (typeof info.deviceid !== 'string' && typeof info.deviceid !== 'number') throw new InvalidReadingError('"deviceinfo.deviceid" must name the device', { path: 'deviceinfo.deviceid' });
  if (String(info.deviceid) !== device) {
    throw new DeviceMismatchError(`deviceinfo.deviceid "${String(info.deviceid).slice(0, 60)}" is not the device of the path, "${device}"`, { path: 'deviceinfo.deviceid', claimed: String(info.deviceid).slice(0, 128) });
  }
  const tsdata = body.tsdata ?? [];
  if (!Array.isArray(tsdata)) throw new InvalidReadingError('"tsdata" must be an array of readings', { path: 'tsdata' });
  // Each element is a flat reading of this device; a "device" member inside cannot move it elsewhere.
  const items = tsdata.map((e) => (isObject(e) && 'device' in e ? { ...e, device } : e));
  // The request's limits: one that holds too many readings is told to split the request.
  const result = normalizeReadings(items, { device, receivedAt, limits: REQUEST_LIMITS });
  for (const r of result.rejected) r.error.details.path = `tsdata${String(r.error.details.path ?? `[${r.index}]`)}`;
  const meta: Record<string, FieldValue> = {};
  for (const [k, v] of Object.entries(info)) {
    if (k === 'deviceid') continue;
    if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string') meta[DEVICEINFO_PREFIX + k] = v;
  }
  if (Object.keys(meta).length) result.readings.push({ device, ts: receivedAt, fields: meta, tags: {} });
  return result;
}

export interface DeviceInfo {
  device: string;
  /** The latest value of every deviceinfo key, `deviceid` included. */
  deviceinfo: Record<string, FieldValue>;
  /** When the latest of them was received (epoch ms), if any. */
  updatedAt?: number;
}

/** The /fetch answer from stored readings (oldest first) and the device's latest metadata. */
export function fetchBody(readings: ReadonlyArray<Pick<Reading, 'ts' | 'fields'>>, info: DeviceInfo): string {
  const tsdata: Array<Record<string, FieldValue>> = [];
  for (const r of readings) {
    const row: Record<string, FieldValue> = {};
    let any = false;
    for (const [k, v] of Object.entries(r.fields)) {
      if (k.startsWith(DEVICEINFO_PREFIX)) continue;
      row[k] = v;
      any = true;
    }
    if (!any) continue;
    row.timestamp = r.ts;
    tsdata.push(row);
  }
  return JSON.stringify({ deviceinfo: info.deviceinfo, tsdata });
}
