/**
 * The receipts API for nodes: what a node does with the journal entries a
 * message stands for (msg.upperstack.receipts). Four verbs:
 *
 * - forward(from, to): a node that sends a new message object in place of the
 *   one it received hands the receipts over to it.
 * - split(msg, parts): the message goes on as `parts` messages (valid and
 *   invalid halves, several failures): each owes a share.
 * - consume(msg): a terminal node (store, dead letter) has made the message
 *   durable: its share is done, and the receipts leave the message so nothing
 *   after it can consume them again.
 * - fail(node, msg): the message ends in an error about what it holds,
 *   reported with node.error(err, msg) or done(err). When a Catch node that
 *   leads to a dead-letter node handles the node's errors, the receipts stay on
 *   the message and the dead-letter node settles them; otherwise its share
 *   ends here (the log has the error) and the receipts leave the message.
 *
 * And two reports: weigh(msg, readings) when a node learns how many readings the
 * message holds (decode), so the input's backpressure counts readings; and
 * taken(msg) when a store write has taken the message's data, so that
 * backpressure counts only readings no write has taken yet.
 *
 * Anything else passes the message on unchanged and the receipts with it.
 * docs/architecture.md states the rule for people writing their own nodes.
 */
import { consumeReceipts, decodedReceipts, splitReceipts, takeReceipts, weighReceipt, type Receipt } from '../lib/ingest/receipts';
import type { UpperstackMessage } from './input';
import { caughtToSettle } from './settlement';

export type { Receipt };

export function receiptsOf(msg: { upperstack?: { receipts?: Receipt[] } } | null | undefined): Receipt[] | undefined {
  const r = msg?.upperstack?.receipts;
  return Array.isArray(r) && r.length ? r : undefined;
}

/** `to` carries `from`'s receipts from now on; `from` no longer does (unless it is `to`). */
export function forward<T extends UpperstackMessage>(from: UpperstackMessage, to: T, receipts: Receipt[] | undefined = receiptsOf(from)): T {
  if (to !== from) {
    if (receipts) to.upperstack = { ...to.upperstack, receipts };
    else delete to.upperstack;
    if (from.upperstack && from.upperstack.receipts === receipts) delete from.upperstack;
  }
  return to;
}

/** The message goes on as `parts` messages, each carrying its receipts. */
export function split(msg: UpperstackMessage, parts: number): void {
  splitReceipts(receiptsOf(msg), parts);
}

/** The message holds `readings` readings (shared out evenly when it stands for several entries). */
export function weigh(msg: UpperstackMessage, readings: number): void {
  const r = receiptsOf(msg);
  if (!r) return;
  decodedReceipts(r, readings);
  if (!(readings > r.length)) return;
  const each = Math.ceil(readings / r.length);
  for (let i = 0; i < r.length; i++) weighReceipt(r[i], each);
}

/**
 * A store write has taken the message's data (not durable yet: consume() comes
 * when it is). The input's readings mark stops counting it, so the next readings
 * arrive while the write runs; the entries still replay if the process dies.
 */
export function taken(msg: UpperstackMessage): void {
  takeReceipts(receiptsOf(msg));
}

/** Terminal: the message's data is durable here. */
export function consume(msg: UpperstackMessage): void {
  const r = receiptsOf(msg);
  if (!r) return;
  consumeReceipts(r);
  delete msg.upperstack;
}

/** The message ends in an error about its data that this node reports (node.error(err, msg) or done(err)). */
export function fail(node: { id: string } | null, msg: UpperstackMessage): void {
  if (node && caughtToSettle(node.id)) return;
  consume(msg);
}

/** A copy that carries no receipts (an alert beside the reading, a side output). */
export function withoutReceipts<T extends UpperstackMessage>(msg: T): T {
  const copy = { ...msg };
  delete copy.upperstack;
  return copy;
}
