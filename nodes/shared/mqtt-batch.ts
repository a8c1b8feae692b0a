/**
 * The batch message of upperstack-mqtt-in: the MQTT messages of one event-loop
 * turn as one Node-RED message. `payload[i]`, `batch[i]` and
 * `upperstack.receipts[i]` describe the same MQTT message; the decode node
 * turns the whole batch into one message of Readings and fails single items.
 */
import type { Receipt } from '../lib/journal/receipts';
import type { UpperstackMessage } from './input';

export interface BatchItem {
  topic: string;
  device?: string;
  qos: number;
  receivedAt: number;
  /** Fixed by the input's format or the MQTT 5 content type. */
  format?: string;
  contentType?: string;
}

export interface BatchMessage extends UpperstackMessage {
  payload: Buffer[];
  batch: BatchItem[];
  upperstack: { receipts: Receipt[] };
}

export function isBatchMessage(msg: UpperstackMessage): msg is BatchMessage {
  const b = msg.batch;
  const p = msg.payload;
  return Array.isArray(b) && Array.isArray(p) && b.length === p.length && Array.isArray(msg.upperstack?.receipts) && msg.upperstack!.receipts!.length === b.length;
}
