/** The intake every input protocol shares: record, journal-then-ack, backpressure, replay, receipts, batch shape. */
export { Intake, intakeStats, DEFAULT_JOURNAL_BUDGET, DEFAULT_HIGH_WATER, type IntakeItem, type IntakeOptions, type IntakeStats, type SubmitResult, type RefusalReason } from './intake';
export { RECORD_VERSION, RECORD_ENCODER, encodeRecord, decodeRecord, protocolOf, addressOf, type Received } from './record';
export { consumeReceipts, splitReceipts, registerJournal, unregisterJournal, journalBacklog, isReceiptList, type Receipt } from './receipts';
export { BATCH_CHUNK, batchBodies, batchBody, batchItem, singleBody, isBatchBody, type BatchItem, type BatchBody, type SingleBody, type Described } from './batch';
export type { PauseReason } from '../journal/gate';
