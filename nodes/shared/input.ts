/**
 * Every input handler goes through onInput(): the handler may be sync or async,
 * and a throw or a rejection becomes done(err) so Catch nodes see it instead of
 * Node-RED exiting on an uncaught exception.
 */
import type { Node, NodeMessageInFlow } from 'node-red';
import type { Receipt } from '../lib/journal/receipts';
import { nodeTallies } from '../lib/metrics/pipeline';
import { describeError } from '../lib/errors';
import { setStatus } from './status';

export type Send = (msg: UpperstackMessage | Array<UpperstackMessage | UpperstackMessage[] | null>) => void;
export type Done = (err?: Error) => void;

export interface UpperstackMessage extends NodeMessageInFlow {
  upperstack?: { receipts?: Receipt[] };
  [key: string]: unknown;
}

export function onInput(
  node: Node,
  handler: (msg: UpperstackMessage, send: Send, done: Done) => void | Promise<void>,
): void {
  // Counted for /metrics: one addition per message on tallies made here, once.
  const tallies = nodeTallies(node as Node & { name?: string });
  node.on('close', () => tallies.forget());
  node.on('input', (msg, send, done) => {
    let finished = false;
    tallies.messages.inc();
    const once: Done = (err) => {
      if (finished) return;
      finished = true;
      if (err) {
        tallies.errors.inc();
        done(err);
      } else done();
    };
    try {
      const r = handler(msg as UpperstackMessage, send as Send, once);
      if (r && typeof (r as Promise<void>).then === 'function') {
        (r as Promise<void>).then(undefined, (err: unknown) => once(err instanceof Error ? err : new Error(String(err))));
      }
    } catch (err) {
      once(err instanceof Error ? err : new Error(String(err)));
    }
  });
}

/**
 * A node whose options cannot work: a red status with the reason, the reason in the log (`logged`
 * words it), and every message it is sent ends in the error, so Catch nodes see it.
 */
export function refuseOnConfig(node: Node, err: unknown, logged: (message: string) => string): void {
  const message = describeError(err).message;
  setStatus(node, 'failed', message);
  node.error(logged(message));
  onInput(node, () => {
    throw err;
  });
}

/** close(removed, done) that always calls done, even when cleanup throws. */
export function onClose(node: Node, cleanup: (removed: boolean) => void | Promise<void>): void {
  node.on('close', (removed: boolean, done: () => void) => {
    Promise.resolve()
      .then(() => cleanup(removed))
      .catch((err: unknown) => node.warn(`cleanup failed: ${err instanceof Error ? err.message : String(err)}`))
      .finally(() => done());
  });
}

export function receiptsOf(msg: UpperstackMessage): Receipt[] | undefined {
  return msg.upperstack?.receipts;
}
