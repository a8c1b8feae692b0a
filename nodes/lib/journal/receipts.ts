/**
 * The receipts now live in nodes/lib/ingest/receipts.ts; these names stay so
 * code written against them keeps working.
 */
import { consumeReceipts, splitReceipts, type Receipt } from '../ingest/receipts';

export { registerJournal, unregisterJournal, journalBacklog, type Receipt } from '../ingest/receipts';

/** @deprecated consumeReceipts (nodes/lib/ingest/receipts) or consume(msg) (nodes/shared/receipts). */
export function settleReceipts(receipts: readonly Receipt[] | undefined): void {
  consumeReceipts(receipts);
}

/** @deprecated splitReceipts(receipts, extra + 1) or split(msg, parts). */
export function holdReceipts(receipts: readonly Receipt[] | undefined, extra = 1): void {
  splitReceipts(receipts, extra + 1);
}
