/** Helpers for messages whose payload is a Reading or a batch of them. */
import { asReadings, isReading, type Reading } from '../lib/reading';
import { fail, split } from './receipts';
import type { Done, Send, UpperstackMessage } from './input';

/** Readings of msg.payload, or undefined when it is not in the contract shape. */
export function readingsOf(msg: UpperstackMessage): Reading[] | undefined {
  const p = msg.payload;
  if (Array.isArray(p)) return p.every(isReading) ? (p as Reading[]) : undefined;
  return isReading(p) ? [p] : undefined;
}

export { asReadings };

/** @deprecated split(msg, count) from nodes/shared/receipts. */
export function splitReceipts(msg: UpperstackMessage, count: number): void {
  split(msg, count);
}

/** True when output `index` of the node has a wire. */
export function isWired(node: { wires?: string[][] }, index: number): boolean {
  return (node.wires?.[index]?.length ?? 0) > 0;
}

export interface Failure {
  msg: UpperstackMessage;
  error: Error;
}

/**
 * Sends what passed on output 1 and each failure on output 2, splitting the
 * journal receipt among all of them. With output 2 unwired, the first failure
 * goes to done(err) for Catch nodes and the log, and its share fails: kept for
 * a Catch → dead-letter path when there is one, else ended here (the readings
 * still on their way to the store keep theirs).
 */
export function routeResult(node: { id?: string; wires?: string[][] }, msg: UpperstackMessage, send: Send, done: Done, out: UpperstackMessage | null, failures: Failure[]): void {
  if (failures.length && !isWired(node, 1)) {
    split(msg, (out ? 1 : 0) + 1);
    if (out) send([out, null]);
    // out is a copy here (it differs from msg whenever something failed), so msg's share can end.
    fail(node.id ? { id: node.id } : null, msg);
    return done(failures[0].error);
  }
  split(msg, (out ? 1 : 0) + failures.length);
  send([out, failures.length ? failures.map((f) => f.msg) : null]);
  done();
}
