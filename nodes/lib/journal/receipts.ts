/**
 * A receipt travels on msg.upperstack.receipts and names the journal entry the
 * message came from. It is plain data (Node-RED deep-clones messages), and the
 * journals are looked up here by id when the store or the dead-letter path
 * settles it.
 */
import type { Journal } from './journal';

export interface Receipt {
  /** Journal id (the input node's id). */
  j: string;
  /** Sequence number in that journal. */
  s: number;
}

const journals = new Map<string, Journal>();

export function registerJournal(id: string, journal: Journal): void {
  journals.set(id, journal);
}

export function unregisterJournal(id: string, journal: Journal): void {
  if (journals.get(id) === journal) journals.delete(id);
}

export function settleReceipts(receipts: readonly Receipt[] | undefined): void {
  if (!receipts) return;
  for (const r of receipts) journals.get(r.j)?.settle(r.s);
}

/** The message goes two ways (e.g. valid and invalid halves); both must settle. */
export function holdReceipts(receipts: readonly Receipt[] | undefined, extra = 1): void {
  if (!receipts) return;
  for (const r of receipts) journals.get(r.j)?.hold(r.s, extra);
}

/** Sum of unsettled entries over all journals, for /health. */
export function journalBacklog(): { journals: number; pending: number; bytes: number } {
  let pending = 0;
  let bytes = 0;
  for (const j of journals.values()) {
    const s = j.stats();
    pending += s.pending;
    bytes += s.bytes;
  }
  return { journals: journals.size, pending, bytes };
}

/** Each journal's level for /metrics: unsettled entries, bytes, newest and oldest unsettled sequence numbers. */
export function* journalLevels(): Generator<[string, { pending: number; bytes: number; lastSeq: number; oldestPending: number | undefined }]> {
  for (const [id, j] of journals) {
    const s = j.stats();
    yield [id, { pending: s.pending, bytes: s.bytes, lastSeq: s.lastSeq, oldestPending: j.oldestPending() }];
  }
}
