/**
 * Node-RED glue for the readings fan-out copy (nodes/lib/reading-clone.ts).
 *
 * An `onSend` hook: for messages an Upperstack node sends to more than one
 * wire, the copies Node-RED would make with its generic deep clone are made
 * here instead, the payload with the readings-shaped copy and the rest of the
 * message with Node-RED's own cloneMessage (which keeps msg.req/msg.res shared,
 * as Node-RED does). Every wire still gets its own copy; only the cost changes.
 * Messages of other nodes, and payloads of another shape, are left to Node-RED.
 * A message holding journal receipts is copied the same way: the send's
 * receipts are shared out among its destinations first (settlement.ts), so
 * each copy carries a share that is already counted.
 */
import type { NodeAPI } from 'node-red';
import { cloneReadingsPayload } from '../lib/reading-clone';
import { shareReceipts } from './settlement';

const HOOK = 'onSend.upperstackReadingsCopy';

interface SendEvent {
  msg: Record<string, unknown>;
  source?: { node?: { type?: string } };
  cloneMessage?: boolean;
}

interface Hooks {
  add(id: string, cb: (events: SendEvent[]) => void): void;
  has(id: string): boolean;
}

/** The copy of one message for one more wire, or undefined to leave it to Node-RED. */
export function copyForWire(msg: Record<string, unknown>, cloneMessage: (m: unknown) => unknown): Record<string, unknown> | undefined {
  const payload = cloneReadingsPayload(msg.payload);
  if (payload === undefined) return undefined;
  const rest: Record<string, unknown> = {};
  for (const k in msg) if (k !== 'payload' && Object.prototype.hasOwnProperty.call(msg, k)) rest[k] = msg[k];
  const out = cloneMessage(rest) as Record<string, unknown>;
  out.payload = payload;
  return out;
}

export function installReadingsCopy(RED: NodeAPI): void {
  const hooks = (RED as unknown as { hooks?: Hooks }).hooks;
  const cloneMessage = (RED.util as unknown as { cloneMessage?: (m: unknown) => unknown }).cloneMessage;
  // Registered once per runtime (the hooks are the runtime's); tests that reset the runtime reset them too.
  if (!hooks || typeof hooks.add !== 'function' || typeof hooks.has !== 'function' || !cloneMessage || hooks.has(HOOK)) return;
  hooks.add(HOOK, (events) => {
    // Receipts are counted per send before any copy is made (whichever of the two hooks runs first),
    // so each copy below carries a share already owed: see settlement.ts.
    shareReceipts(events as Parameters<typeof shareReceipts>[0]);
    for (let i = 0; i < events.length; i++) {
      const ev = events[i];
      if (!ev.cloneMessage) continue;
      const type = ev.source?.node?.type;
      if (typeof type !== 'string' || !type.startsWith('upperstack-')) continue;
      const copy = copyForWire(ev.msg, cloneMessage);
      if (copy === undefined) continue;
      ev.msg = copy;
      ev.cloneMessage = false;
    }
  });
}
