/**
 * Receipts: which journal entries a message stands for. A receipt travels on
 * msg.upperstack.receipts as plain data (Node-RED deep-clones messages) and
 * names the input's journal and the entry's sequence number; the journal is
 * looked up here by id when a share of the entry is consumed.
 *
 * An entry is owed one share per message that carries its receipt. Whoever
 * sends one message on as several calls split() first; a terminal node (store,
 * dead letter) consumes its share once the data is durable. The entry settles,
 * and stops being replayed, when every share is consumed. nodes/shared/receipts.ts
 * wraps these for messages, and docs/architecture.md states the rule.
 */

export interface Receipt {
  /** Journal id (the input node's id). */
  j: string;
  /** Sequence number in that journal. */
  s: number;
}

/** What a journal offers the receipts (nodes/lib/journal/journal.ts). */
export interface ReceiptJournal {
  settle(seq: number): void;
  hold(seq: number, extra?: number): void;
  /** The entry holds this many readings (backpressure counts readings); optional for older journals. */
  weigh?(seq: number, readings: number): void;
  /** A store write has taken one share of seq's data (backpressure counts what is not taken yet); optional. */
  take?(seq: number): void;
  /** Entries up to seq are decoded, the last `entries` of them holding `readings` readings. */
  decoded?(upTo: number, entries: number, readings: number): void;
  stats(): { pending: number; bytes: number };
}

const journals = new Map<string, ReceiptJournal>();

export function registerJournal(id: string, journal: ReceiptJournal): void {
  journals.set(id, journal);
}

export function unregisterJournal(id: string, journal: ReceiptJournal): void {
  if (journals.get(id) === journal) journals.delete(id);
}

/**
 * One share of each entry is done: its data is durable where it ends (or it was
 * given up on, with the reason reported). Entries of journals that are closed
 * (the input was redeployed) are ignored: they replay at its next start.
 */
export function consumeReceipts(receipts: readonly Receipt[] | undefined): void {
  if (!receipts) return;
  for (let i = 0; i < receipts.length; i++) {
    const r = receipts[i];
    journals.get(r.j)?.settle(r.s);
  }
}

/**
 * A store write has taken this message's data; it is not durable yet (the
 * entries settle when consumeReceipts comes), but the input may take the next
 * readings meanwhile: nodes/lib/journal/gate.ts counts only readings not taken.
 */
export function takeReceipts(receipts: readonly Receipt[] | undefined): void {
  if (!receipts) return;
  for (let i = 0; i < receipts.length; i++) {
    const r = receipts[i];
    journals.get(r.j)?.take?.(r.s);
  }
}

/** The entries go on as `parts` messages: each part owes a share. `parts` below 2 changes nothing. */
export function splitReceipts(receipts: readonly Receipt[] | undefined, parts: number): void {
  if (!receipts || !(parts > 1)) return;
  for (let i = 0; i < receipts.length; i++) {
    const r = receipts[i];
    journals.get(r.j)?.hold(r.s, parts - 1);
  }
}

/**
 * The entry behind this receipt holds `readings` readings: told by the step that
 * decodes it, so the input's backpressure counts readings rather than messages
 * (nodes/lib/journal/gate.ts). One reading, the default, needs no call.
 */
export function weighReceipt(receipt: Receipt, readings: number): void {
  journals.get(receipt.j)?.weigh?.(receipt.s, readings);
}

/**
 * The entries behind these receipts are decoded and hold `readings` readings in
 * all: the input estimates from this what the entries decode has not reached
 * yet hold. Called once per decoded message, with or without weighReceipt.
 */
export function decodedReceipts(receipts: readonly Receipt[] | undefined, readings: number): void {
  if (!receipts || receipts.length === 0) return;
  // A batch comes from one input; receipts of several journals report to each.
  const first = receipts[0].j;
  let upTo = receipts[0].s;
  let mixed = false;
  for (let i = 1; i < receipts.length; i++) {
    const r = receipts[i];
    if (r.j !== first) mixed = true;
    else if (r.s > upTo) upTo = r.s;
  }
  if (!mixed) return void journals.get(first)?.decoded?.(upTo, receipts.length, readings);
  const per = readings / receipts.length;
  for (const r of receipts) journals.get(r.j)?.decoded?.(r.s, 1, per);
}

/** True when a value has the shape of a receipt list (messages may come from anywhere). */
export function isReceiptList(v: unknown): v is Receipt[] {
  return Array.isArray(v) && v.every((r) => r !== null && typeof r === 'object' && typeof (r as Receipt).j === 'string' && typeof (r as Receipt).s === 'number');
}

/** Sum of unsettled entries over all journals. */
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
