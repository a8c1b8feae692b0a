/**
 * The device registry's HTTP API without a transport (routes in
 * nodes/shared/devices-routes.ts): list, register, read, change, rotate and
 * remove devices. A device's secret (and signing key) is in the answer to the
 * request that made it, and nowhere else, ever.
 *
 * GET /api/v1/devices/{id} also answers for devices that are not registered:
 * `deviceinfo` is what the device itself reported (CroMFlaG2 `deviceinfo`, or
 * any fields named `deviceinfo.<key>` on any protocol), the latest value of each.
 */
import { BadParameterError } from '../errors';
import { DEVICEINFO_PREFIX, type DeviceInfo } from '../inputs/cromflag';
import type { DeviceRegistry, IssuedDevice } from '../devices/registry';
import type { DeviceView } from '../devices/types';
import type { FieldValue } from '../reading';
import type { TimeSeriesStore } from '../store/types';

// One bucket (floor(t / 8e15) is 0 for every time until the year 255,000): "last" over all of history.
const ALL_TIME_MS = 8e15;

export interface ApiAnswer {
  status: number;
  body: unknown;
}

/** The latest value of every deviceinfo key the device reported (deviceid is the device). */
export async function deviceInfo(store: TimeSeriesStore, device: string): Promise<DeviceInfo> {
  const info: DeviceInfo = { device, deviceinfo: { deviceid: device } };
  const summaries = store.devices ? await store.devices({}) : [];
  const fields = summaries.find((s) => s.device === device)?.fields.filter((f) => f.startsWith(DEVICEINFO_PREFIX)) ?? [];
  for (const field of fields) {
    const points = await store.aggregate({ device, field, everyMs: ALL_TIME_MS, fn: 'last' });
    const last = points[points.length - 1];
    if (last && last.value !== null) info.deviceinfo[field.slice(DEVICEINFO_PREFIX.length)] = last.value as FieldValue;
  }
  return info;
}

function body(input: unknown): Record<string, unknown> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new BadParameterError('body', 'the body must be a JSON object');
  return input as Record<string, unknown>;
}

const ALLOWED_NEW = new Set(['id', 'enabled', 'signing', 'tags', 'meta']);
const ALLOWED_PATCH = new Set(['enabled', 'signing', 'tags', 'meta']);

function onlyKnown(b: Record<string, unknown>, allowed: Set<string>): void {
  for (const k of Object.keys(b)) if (!allowed.has(k)) throw new BadParameterError(k, `"${k.slice(0, 40)}" is not a device property; use ${[...allowed].join(', ')}`);
}

function issued(i: IssuedDevice): Record<string, unknown> {
  const out: Record<string, unknown> = { device: i.device, secret: i.secret };
  if (i.signingKey) out.signingKey = i.signingKey;
  out.note = 'the secret is shown only now: it is kept as a hash';
  return out;
}

export function listDevices(registry: DeviceRegistry, visible: (d: DeviceView) => boolean = () => true): ApiAnswer {
  return { status: 200, body: { devices: registry.list().filter(visible) } };
}

export async function createDevice(registry: DeviceRegistry, input: unknown): Promise<ApiAnswer> {
  const b = body(input);
  onlyKnown(b, ALLOWED_NEW);
  if (b.id !== undefined && typeof b.id !== 'string') throw new BadParameterError('id', '"id" must be a string');
  if (b.enabled !== undefined && typeof b.enabled !== 'boolean') throw new BadParameterError('enabled', '"enabled" must be true or false');
  if (b.signing !== undefined && typeof b.signing !== 'boolean') throw new BadParameterError('signing', '"signing" must be true or false');
  const made = await registry.add(b as Parameters<DeviceRegistry['add']>[0]);
  return { status: 201, body: issued(made) };
}

export async function readDevice(registry: DeviceRegistry | undefined, store: TimeSeriesStore | undefined, id: string): Promise<ApiAnswer> {
  const rec = registry?.list().find((d) => d.id === id);
  const info = store ? (await deviceInfo(store, id)).deviceinfo : { deviceid: id };
  const out: Record<string, unknown> = rec ? { device: id, registered: true, ...rec, deviceinfo: info } : { device: id, registered: false, deviceinfo: info };
  return { status: 200, body: out };
}

export async function patchDevice(registry: DeviceRegistry, id: string, input: unknown): Promise<ApiAnswer> {
  const b = body(input);
  onlyKnown(b, ALLOWED_PATCH);
  const r = await registry.update(id, b);
  const out: Record<string, unknown> = { device: r.device };
  if (r.signingKey) {
    out.signingKey = r.signingKey;
    out.note = 'the signing key is shown only now';
  }
  return { status: 200, body: out };
}

export async function rotateDevice(registry: DeviceRegistry, id: string): Promise<ApiAnswer> {
  return { status: 200, body: issued(await registry.rotate(id)) };
}

export async function removeDevice(registry: DeviceRegistry, id: string): Promise<ApiAnswer> {
  return { status: 200, body: { device: await registry.remove(id), removed: true } };
}
