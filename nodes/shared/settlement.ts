/**
 * Receipts across the flow graph, through Node-RED's messaging hooks.
 *
 * onSend: when one send delivers a message that carries receipts to several
 * destinations (one output wired to two store nodes, or to a store and a
 * debug node), each destination that can reach a settling node (a store or
 * dead-letter node, along wires and link nodes; see nodes/lib/ingest/graph.ts)
 * gets a share of the journal entry, and every other destination gets a copy
 * without receipts. The entry then settles only once every store on the way
 * has the data, and a debug tap never holds the journal. A message whose every
 * destination ends without a store or dead-letter node has left the pipeline
 * on purpose: its share ends there.
 *
 * The shares are counted once per send, before any copy for an extra wire is
 * made: Node-RED passes a send's destinations as one array of events whose
 * messages are still the objects the node sent, so the events of one message
 * are those sharing its object. Any onSend hook that copies messages (the
 * readings copy, nodes/shared/fan-out.ts) calls shareReceipts first; the copies
 * then each carry a share already counted, whatever their identity, and the
 * settlement hook leaves a send it has seen alone.
 *
 * onComplete: a message that ends in done(err) for what it holds (an
 * Upperstack data error) with no Catch node that leads to a dead-letter node
 * has its share ended, so it does not replay forever. Other errors (a schema
 * that does not load, a store that cannot start) keep it: it replays once the
 * flow is fixed.
 *
 * The graph is rebuilt from the deployed configuration after each deploy.
 */
import type { NodeAPI } from 'node-red';
import { SettlementGraph, type FlowNode } from '../lib/ingest/graph';
import { consumeReceipts, splitReceipts, type Receipt } from '../lib/ingest/receipts';
import { UpperstackError } from '../lib/errors';

/** Node types that settle journal entries (terminal). */
const SETTLING = new Set(['upperstack-store', 'upperstack-deadletter']);

/** Error codes that say the system, not the message, is at fault: the message is kept for a replay. */
const NOT_ABOUT_THE_DATA = new Set(['CONFIG_INVALID', 'STORE_UNAVAILABLE', 'JOURNAL_FAILED', 'BACKPRESSURE', 'UNAUTHORIZED']);

interface SendEvent {
  msg: Carrier;
  destination: { id: string };
  cloneMessage?: boolean;
}

interface CompleteEvent {
  msg: Carrier | undefined;
  error?: unknown;
  node: { id: string };
}

interface Carrier {
  upperstack?: { receipts?: Receipt[] };
  [key: string]: unknown;
}

interface Hooks {
  add(id: string, fn: (payload: never) => unknown): void;
  has(id: string): boolean;
}

let graph: SettlementGraph | undefined;
/** The event emitters listened to (a test runtime may be started more than once in one process). */
const listening = new WeakSet<object>();
let eachNode: ((cb: (n: FlowNode) => void) => void) | undefined;

/** A node type of your own that stores data durably and consumes receipts (see docs/architecture.md). */
export function registerSettlingType(type: string): void {
  SETTLING.add(type);
  graph = undefined;
}

function current(): SettlementGraph | undefined {
  if (!graph && eachNode) {
    const nodes: FlowNode[] = [];
    eachNode((n) => {
      nodes.push(n);
      // No return value: returning false would stop eachNode early.
    });
    graph = new SettlementGraph(nodes, (t) => SETTLING.has(t));
  }
  return graph;
}

/** Whether errors `nodeId` reports reach a Catch node that leads to a dead-letter (or store) node. */
export function caughtToSettle(nodeId: string): boolean {
  return current()?.caught(nodeId) ?? false;
}

function receiptsOf(msg: Carrier | undefined): Receipt[] | undefined {
  const r = msg?.upperstack?.receipts;
  return Array.isArray(r) && r.length ? r : undefined;
}

function without(msg: Carrier): Carrier {
  const copy = { ...msg };
  delete copy.upperstack;
  return copy;
}

/** The sends whose receipts are shared out: each send is counted once, by whichever hook sees it first. */
const counted = new WeakSet<object>();

/**
 * Shares out the receipts of each message among the destinations of one send
 * (the events array of one onSend call). Safe to call more than once per send:
 * only the first call counts, so a hook that copies messages calls it before.
 */
export function shareReceipts(events: SendEvent[]): void {
  if (counted.has(events)) return;
  counted.add(events);
  const n = events.length;
  if (n === 1) return single(events[0]);
  // One send can carry many messages (a batch's failures), each usually to one destination: count the
  // destinations of each message in one pass, and look at the events of a message sent to several only then.
  let counts: Map<Carrier, number> | undefined;
  for (let i = 0; i < n; i++) {
    const msg = events[i].msg;
    if (!receiptsOf(msg)) continue;
    counts ??= new Map();
    counts.set(msg, (counts.get(msg) ?? 0) + 1);
  }
  if (!counts) return;
  for (let i = 0; i < n; i++) {
    const msg = events[i].msg;
    const c = counts.get(msg);
    if (c === undefined) continue;
    if (c === 1) {
      single(events[i]);
      continue;
    }
    counts.delete(msg);
    const r = receiptsOf(msg)!;
    const g = current();
    if (!g) {
      // No graph (should not happen once flows run): every destination owes a share, so nothing settles early.
      splitReceipts(r, c);
      continue;
    }
    let reaching = 0;
    for (let j = i; j < n; j++) if (events[j].msg === msg && g.reaches(events[j].destination.id)) reaching++;
    if (reaching === 0) consumeReceipts(r);
    else splitReceipts(r, reaching);
    if (reaching < c) for (let j = i; j < n; j++) if (events[j].msg === msg && !g.reaches(events[j].destination.id)) events[j].msg = without(msg);
  }
}

/** The onSend hook. */
export const onSend = shareReceipts;

/** A message to one destination: it keeps its share, unless nothing after that destination can settle it. */
function single(e: SendEvent): void {
  const r = receiptsOf(e.msg);
  if (!r) return;
  const g = current();
  if (!g || g.reaches(e.destination.id)) return;
  consumeReceipts(r);
  e.msg = without(e.msg);
}

/** Ends the share of a message that failed for what it holds when no Catch path will record it. */
export function onComplete(ev: CompleteEvent): void {
  if (!ev.error || !ev.msg) return;
  const r = receiptsOf(ev.msg);
  if (!r) return;
  const err = ev.error;
  if (!(err instanceof UpperstackError) || NOT_ABOUT_THE_DATA.has(err.code)) return;
  if (caughtToSettle(ev.node.id)) return;
  consumeReceipts(r);
  delete ev.msg.upperstack;
}

/**
 * Installs the hooks once per process and keeps the graph in step with
 * deploys. Every node that sends or settles receipts calls it at registration.
 */
export function installSettlement(RED: NodeAPI): void {
  const nodes = RED.nodes as unknown as { eachNode?: (cb: (n: FlowNode) => void) => void };
  if (nodes.eachNode) eachNode = nodes.eachNode.bind(RED.nodes);
  if (!listening.has(RED.events)) {
    listening.add(RED.events);
    RED.events.on('flows:starting', () => {
      graph = undefined;
    });
  }
  graph = undefined;
  const hooks = hooksOf(RED);
  if (!hooks || hooks.has('onSend.upperstack-receipts')) return;
  hooks.add('onSend.upperstack-receipts', onSend as (p: never) => unknown);
  hooks.add('onComplete.upperstack-receipts', onComplete as (p: never) => unknown);
}

function hooksOf(RED: NodeAPI): Hooks | undefined {
  const own = (RED as unknown as { hooks?: Hooks }).hooks;
  if (own) return own;
  // node-red-node-test-helper leaves RED.hooks out; the runtime's hooks are @node-red/util's.
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require('@node-red/util') as { hooks: Hooks }).hooks;
  } catch {
    return undefined;
  }
}
