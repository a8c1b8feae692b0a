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
 *
 * Destinations that only read the readings (nodes/lib/reading-readers.ts: the
 * alert and live-values nodes, link nodes leading only to them) share one copy
 * of the payload among them, or the original when the original goes to one of
 * them; each still gets its own message object. Every other destination gets
 * its own copy as before, so a node that edits its readings never changes what
 * another branch sees.
 */
import type { NodeAPI } from 'node-red';
import { cloneReadingsPayload, isReadingsPayload } from '../lib/reading-clone';
import type { FlowNode } from '../lib/ingest/graph';
import { ReadersGraph } from '../lib/reading-readers';
import { shareReceipts } from './settlement';

const HOOK = 'onSend.upperstackReadingsCopy';

interface SendEvent {
  msg: Record<string, unknown>;
  source?: { node?: { type?: string } };
  destination?: { id?: string };
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
  return withPayload(msg, payload, cloneMessage);
}

/** A copy of the message without its payload, made the generic way, then given `payload`. */
function withPayload(msg: Record<string, unknown>, payload: unknown, cloneMessage: (m: unknown) => unknown): Record<string, unknown> {
  const rest: Record<string, unknown> = {};
  for (const k in msg) if (k !== 'payload' && Object.prototype.hasOwnProperty.call(msg, k)) rest[k] = msg[k];
  const out = cloneMessage(rest) as Record<string, unknown>;
  out.payload = payload;
  return out;
}

type EachNode = (cb: (n: FlowNode) => void) => void;

let readers: ReadersGraph | undefined;
let eachNode: EachNode | undefined;
const listening = new WeakSet<object>();

function readersGraph(): ReadersGraph | undefined {
  if (!readers && eachNode) {
    const nodes: FlowNode[] = [];
    eachNode((n) => {
      nodes.push(n);
    });
    readers = new ReadersGraph(nodes);
  }
  return readers;
}

/** Whether the destination holding the original of each payload (the event Node-RED does not clone) only reads it. */
function holders(events: readonly SendEvent[], g: ReadersGraph): Map<unknown, boolean> {
  const out = new Map<unknown, boolean>();
  for (let i = 0; i < events.length; i++) {
    const ev = events[i];
    if (ev.cloneMessage) continue;
    const p = ev.msg.payload;
    if (p !== null && typeof p === 'object') out.set(p, g.reader(ev.destination?.id ?? ''));
  }
  return out;
}

/** The readings copy for a send's events (the onSend hook); exported for tests. */
export function copyForSend(events: SendEvent[], cloneMessage: (m: unknown) => unknown, g: ReadersGraph | undefined): void {
  // Receipts are counted per send before any copy is made (whichever of the two hooks runs first),
  // so each copy below carries a share already owed: see settlement.ts.
  shareReceipts(events as unknown as Parameters<typeof shareReceipts>[0]);
  let held: Map<unknown, boolean> | undefined;
  // Per original payload: what the readers among its destinations share (undefined: not a readings payload).
  let shared: Map<unknown, unknown> | undefined;
  for (let i = 0; i < events.length; i++) {
    const ev = events[i];
    if (!ev.cloneMessage) continue;
    const type = ev.source?.node?.type;
    if (typeof type !== 'string' || !type.startsWith('upperstack-')) continue;
    const p = ev.msg.payload;
    let payload: unknown;
    if (g !== undefined && p !== null && typeof p === 'object' && g.reader(ev.destination?.id ?? '')) {
      shared ??= new Map();
      if (shared.has(p)) payload = shared.get(p);
      else {
        held ??= holders(events, g);
        // The original may be shared only when no destination that could change it holds it.
        payload = held.get(p) === true ? (isReadingsPayload(p) ? p : undefined) : cloneReadingsPayload(p);
        shared.set(p, payload);
      }
    } else payload = cloneReadingsPayload(p);
    if (payload === undefined) continue;
    ev.msg = withPayload(ev.msg, payload, cloneMessage);
    ev.cloneMessage = false;
  }
}

export function installReadingsCopy(RED: NodeAPI): void {
  const hooks = (RED as unknown as { hooks?: Hooks }).hooks;
  const cloneMessage = (RED.util as unknown as { cloneMessage?: (m: unknown) => unknown }).cloneMessage;
  const nodes = (RED as unknown as { nodes?: { eachNode?: EachNode } }).nodes;
  // Without the deployed configuration every destination gets its own copy.
  if (nodes && typeof nodes.eachNode === 'function') eachNode = nodes.eachNode.bind(nodes);
  const events = (RED as unknown as { events?: { on(ev: string, cb: () => void): void } }).events;
  if (events && typeof events.on === 'function' && !listening.has(events)) {
    listening.add(events);
    events.on('flows:starting', () => {
      readers = undefined;
    });
  }
  readers = undefined;
  // Registered once per runtime (the hooks are the runtime's); tests that reset the runtime reset them too.
  if (!hooks || typeof hooks.add !== 'function' || typeof hooks.has !== 'function' || !cloneMessage || hooks.has(HOOK)) return;
  hooks.add(HOOK, (sendEvents) => copyForSend(sendEvents, cloneMessage, readersGraph()));
}
