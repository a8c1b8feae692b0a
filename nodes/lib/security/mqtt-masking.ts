/**
 * Sensitive fields (masking.ts) in MQTT deliveries to an API key that may not
 * see them, as the query API masks them (scoped-store.ts). The embedded
 * broker asks here for each such delivery:
 *
 * - device data (`devices/{id}/…`, commands excepted): decoded as the pipeline
 *   decodes it (content type, else the bytes); when a reading carries a
 *   sensitive field, or part of the payload is not a reading, the key gets the
 *   readings as JSON (content type application/json) with those fields
 *   masked; otherwise the bytes as sent. A payload that does not decode is
 *   withheld: nothing in it can be vouched for.
 * - the data market's averages and live readings (`market/{id}/…`): fields
 *   masked (the count `n` of a field left out goes too).
 * - alerts and notifications (`upperstack/alerts/…`, `upperstack/notifications/…`):
 *   `value` masked when `field` is sensitive.
 * - dead letters (`upperstack/deadletter/…`): the payload withheld and the
 *   values the reason quotes told by kind, as the dead letters API does for such a key.
 * - the same for the dead-letter, alert and notification topics configured in
 *   the flows (own-topics.ts), whatever their prefix.
 * - anything else: as is.
 */
import { decodeReadings } from '../codec/readings';
import { formatFromContentType } from '../codec/sniff';
import type { FieldValue, Reading } from '../reading';
import { maskFields, maskValue, type FieldMasks } from './masking';
import { redactReason } from './reason-redaction';
import { WITHHELD_PAYLOAD } from './scoped-store';
import type { OwnTopicMatch } from './own-topics';

/** The delivery as the key may see it: `undefined` as sent, `null` withheld, else the new body. */
export type MaskedDelivery = { payload: Buffer; contentType?: string } | null | undefined;

const JSON_TYPE = 'application/json';

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseJson(payload: Buffer): unknown {
  try {
    return JSON.parse(payload.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

function touches(fields: Record<string, unknown>, masks: FieldMasks): boolean {
  for (const name of masks.keys()) if (Object.prototype.hasOwnProperty.call(fields, name)) return true;
  return false;
}

const asJson = (v: unknown): MaskedDelivery => ({ payload: Buffer.from(JSON.stringify(v)), contentType: JSON_TYPE });

function deviceData(device: string, payload: Buffer, contentType: string | undefined, masks: FieldMasks): MaskedDelivery {
  let readings: Reading[];
  let partial: boolean;
  try {
    const r = decodeReadings(payload, { format: formatFromContentType(contentType) ?? 'auto', device, receivedAt: Date.now() });
    readings = r.readings;
    partial = r.rejected.length > 0;
  } catch {
    return null;
  }
  if (!partial && !readings.some((r) => touches(r.fields, masks))) return undefined;
  const shown = readings.map((r) => ({ ...r, fields: maskFields(r.fields, masks) }));
  return asJson(shown.length === 1 ? shown[0] : shown);
}

/** `{fields, n?}` bodies of the market: masked fields, and the counts of those left out. */
function marketBody(payload: Buffer, masks: FieldMasks): MaskedDelivery {
  const body = parseJson(payload);
  if (!isObject(body) || !isObject(body.fields)) return null;
  if (!touches(body.fields, masks)) return undefined;
  const fields = maskFields(body.fields as Record<string, FieldValue>, masks);
  const out: Record<string, unknown> = { ...body, fields };
  if (isObject(body.n)) out.n = Object.fromEntries(Object.entries(body.n).filter(([k]) => k in fields));
  return asJson(out);
}

function alertBody(payload: Buffer, masks: FieldMasks): MaskedDelivery {
  const body = parseJson(payload);
  if (!isObject(body)) return undefined;
  const mask = typeof body.field === 'string' ? masks.get(body.field) : undefined;
  if (!mask || body.value === undefined) return undefined;
  const out: Record<string, unknown> = { ...body };
  const v = body.value === null ? undefined : maskValue(body.value as FieldValue, mask);
  if (v === undefined) delete out.value;
  else out.value = v;
  return asJson(out);
}

function deadLetter(payload: Buffer): MaskedDelivery {
  const body = parseJson(payload);
  if (!isObject(body)) return null;
  const { quoted, ...rest } = body;
  const out: Record<string, unknown> = { ...rest, payload: WITHHELD_PAYLOAD };
  if (typeof body.reason === 'string') out.reason = redactReason(body.reason, quoted);
  return asJson(out);
}

/** A delivery on `topic` as a key with these masks may see it (see the rules above); `own`: what a configured topic of Upperstack's the topic is. */
export function maskDelivery(topic: string, payload: Buffer, contentType: string | undefined, masks: FieldMasks, own?: OwnTopicMatch): MaskedDelivery {
  if (masks.size === 0) return undefined;
  if (own?.kind === 'deadletter') return deadLetter(payload);
  if (own?.kind === 'alert') return alertBody(payload, masks);
  const levels = topic.split('/');
  if (levels[0] === 'devices' && levels.length > 2 && levels[2] !== 'commands') return deviceData(levels[1], payload, contentType, masks);
  if (levels[0] === 'market' && levels.length > 2) return marketBody(payload, masks);
  if (levels[0] === 'upperstack') {
    if (levels[1] === 'deadletter') return deadLetter(payload);
    if (levels[1] === 'alerts' || levels[1] === 'notifications') return alertBody(payload, masks);
  }
  return undefined;
}
