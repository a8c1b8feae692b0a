/**
 * The message an input sends towards decode: the messages one turn journaled
 * together travel as one batch message whose `payload[i]`, `batch[i]` and
 * `upperstack.receipts[i]` describe the same received message; decode turns
 * the whole batch into one message of Readings and fails single items. Towards
 * any other node each received message leaves on its own (`single`).
 *
 * Plain data, no Node-RED: the input node adds `_msgid`.
 */
import { addressOf, type Received } from './record';
import type { Receipt } from './receipts';
import type { IntakeItem } from './intake';

/**
 * Most received messages in one batch message. A message settles only when all
 * of it is stored, so a large turn leaves in parts: the first parts are stored
 * (and the backlog falls below the resume mark) while later ones are on their way.
 */
export const BATCH_CHUNK = 500;

/** What the input knows of one received message, beside its payload. */
export interface BatchItem {
  /** `mqtt:<topic>`, `http:<path>`, `coap:<path>`, `replay:<what>`. */
  source: string;
  /** The MQTT topic or the HTTP/CoAP path (the address part of `source`). */
  topic: string;
  device?: string;
  /** MQTT only. */
  qos?: number;
  receivedAt: number;
  /** Fixed by the input's format or the message's content type. */
  format?: string;
  contentType?: string;
  remote?: string;
  /** Who sent it, when the transport knows (Received.actor). */
  actor?: string;
  meta?: Record<string, string>;
  /** Sent again from the journal after a restart, not by its sender now. */
  replayed?: true;
}

/** The body of a batch message (`_msgid` is the node's to add). */
export interface BatchBody {
  topic: string;
  payload: Buffer[];
  batch: BatchItem[];
  /** Set when every item names the same device. */
  device?: string;
  receivedAt: number;
  upperstack: { receipts: Receipt[] };
}

/** The body of a message that carries one received message. */
export interface SingleBody {
  topic: string;
  source: string;
  payload: Buffer;
  receivedAt: number;
  qos?: number;
  device?: string;
  format?: string;
  contentType?: string;
  remote?: string;
  actor?: string;
  meta?: Record<string, string>;
  replayed?: true;
  upperstack: { receipts: Receipt[] };
}

/** What the input adds to each journaled message before it leaves. */
export interface Described {
  device?: string;
  format?: string;
  /** What the journal left unsettled at the last stop, sent again on start. */
  replayed?: true;
}

export function receiptOf(journal: string, item: IntakeItem): Receipt {
  return { j: journal, s: item.seq };
}

export function batchItem(rec: Received, d: Described): BatchItem {
  const item: BatchItem = { source: rec.source, topic: addressOf(rec.source), receivedAt: rec.receivedAt };
  const device = d.device ?? rec.device;
  if (device !== undefined) item.device = device;
  if (rec.qos !== undefined) item.qos = rec.qos;
  if (d.format) item.format = d.format;
  if (rec.contentType) item.contentType = rec.contentType;
  if (rec.remote) item.remote = rec.remote;
  if (rec.actor) item.actor = rec.actor;
  if (rec.meta) item.meta = rec.meta;
  if (d.replayed) item.replayed = true;
  return item;
}

export function singleBody(journal: string, item: IntakeItem, d: Described): SingleBody {
  const rec = item.rec;
  const body: SingleBody = { topic: addressOf(rec.source), source: rec.source, payload: rec.payload, receivedAt: rec.receivedAt, upperstack: { receipts: [receiptOf(journal, item)] } };
  if (rec.qos !== undefined) body.qos = rec.qos;
  const device = d.device ?? rec.device;
  if (device !== undefined) body.device = device;
  if (d.format) body.format = d.format;
  if (rec.contentType) body.contentType = rec.contentType;
  if (rec.remote) body.remote = rec.remote;
  if (rec.actor) body.actor = rec.actor;
  if (rec.meta) body.meta = rec.meta;
  if (d.replayed) body.replayed = true;
  return body;
}

/**
 * Batch bodies of at most `chunk` messages each. `topic` is what the batch as
 * a whole came in on (the input's topic filter or route).
 */
export function batchBodies(journal: string, items: ReadonlyArray<{ item: IntakeItem; described: Described }>, topic: string, chunk = BATCH_CHUNK): BatchBody[] {
  const its = items.map((x) => x.item);
  const ds = items.map((x) => x.described);
  const out: BatchBody[] = [];
  for (let start = 0; start < items.length; start += chunk) out.push(batchBody(journal, its, ds, start, Math.min(chunk, items.length - start), topic));
  return out;
}

/**
 * The batch body of `n` journaled messages from `start` on, `described[i]`
 * what the input added to `items[i]` (two arrays: no pair object per message).
 */
export function batchBody(journal: string, items: readonly IntakeItem[], described: readonly Described[], start: number, n: number, topic: string): BatchBody {
  const payload = new Array<Buffer>(n);
  const batch = new Array<BatchItem>(n);
  const receipts = new Array<Receipt>(n);
  let device: string | undefined;
  let same = true;
  for (let i = 0; i < n; i++) {
    const item = items[start + i];
    payload[i] = item.rec.payload;
    const b = batchItem(item.rec, described[start + i]);
    batch[i] = b;
    receipts[i] = receiptOf(journal, item);
    if (i === 0) device = b.device;
    else if (b.device !== device) same = false;
  }
  const body: BatchBody = { topic, payload, batch, receivedAt: items[start].rec.receivedAt, upperstack: { receipts } };
  if (same && device !== undefined) body.device = device;
  return body;
}

/** True when msg has the batch shape: as many payloads, items and receipts. */
export function isBatchBody(msg: { payload?: unknown; batch?: unknown; upperstack?: { receipts?: unknown } }): msg is BatchBody {
  const b = msg.batch;
  const p = msg.payload;
  const r = msg.upperstack?.receipts;
  return Array.isArray(b) && Array.isArray(p) && b.length === p.length && Array.isArray(r) && r.length === b.length;
}
