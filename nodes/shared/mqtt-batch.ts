/**
 * The batch message between an input and decode, as a Node-RED message. The
 * shape itself is protocol-neutral and lives in nodes/lib/ingest/batch.ts;
 * this module keeps the names decode has always imported.
 */
import { isBatchBody, type BatchBody, type BatchItem } from '../lib/ingest/batch';
import type { UpperstackMessage } from './input';

export type { BatchItem };

export interface BatchMessage extends UpperstackMessage {
  topic: string;
  payload: BatchBody['payload'];
  batch: BatchItem[];
  device?: string;
  receivedAt: number;
  upperstack: BatchBody['upperstack'];
}

export function isBatchMessage(msg: UpperstackMessage): msg is BatchMessage {
  return isBatchBody(msg);
}
