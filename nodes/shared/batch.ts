/** Helpers for messages whose payload is a Reading or a batch of them. */
import { asReadings, isReading, type Reading } from '../lib/reading';
import { holdReceipts } from '../lib/journal/receipts';
import type { UpperstackMessage } from './input';

/** Readings of msg.payload, or undefined when it is not in the contract shape. */
export function readingsOf(msg: UpperstackMessage): Reading[] | undefined {
  const p = msg.payload;
  if (Array.isArray(p)) return p.every(isReading) ? (p as Reading[]) : undefined;
  return isReading(p) ? [p] : undefined;
}

export { asReadings };

/**
 * A message sent out as `count` messages keeps one journal entry; each copy must
 * settle before it is done.
 */
export function splitReceipts(msg: UpperstackMessage, count: number): void {
  if (count > 1) holdReceipts(msg.upperstack?.receipts, count - 1);
}

/** True when output `index` of the node has a wire. */
export function isWired(node: { wires?: string[][] }, index: number): boolean {
  return (node.wires?.[index]?.length ?? 0) > 0;
}
