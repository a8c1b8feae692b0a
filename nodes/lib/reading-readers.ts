/**
 * Which destinations of a deployed flow only read the readings they are given.
 *
 * When an output fans out, each wire gets its own copy so that a branch that
 * edits its message changes nothing another branch sees. A destination that
 * never changes the readings and passes none of them on (the alert engine,
 * the live-values node, the anomaly node with its pass-through output unwired,
 * or a link node leading only to such nodes) cannot
 * change what another branch sees, so all such destinations of one send may
 * share one copy: a copy is still made for every destination that may edit it
 * (any other node), so the isolation holds for them.
 *
 * Computed once per deploy from the flow configuration, as the settlement
 * graph is (nodes/lib/ingest/graph.ts). Unknown ids (subflow instances, nodes
 * added at runtime) are not readers; a link out in "return" mode is not one
 * either (where its message goes is decided at runtime). Link nodes in a loop
 * with only readers after them are readers (the greatest fixed point); the
 * walk is iterative, no recursion over a user's flow.
 */
import type { FlowNode } from './ingest/graph';

/** Node types whose input handler neither changes a reading nor sends one on. */
export const READER_TYPES: ReadonlySet<string> = new Set(['upperstack-alert', 'upperstack-live']);

/**
 * Node types that pass their input on from one output and are readers while
 * that output has no wire: the anomaly node annotates the readings it passes
 * on output 1, and with output 1 unwired leaves them as they are (flagged
 * readings go to output 2 as copies).
 */
export const READER_WHILE_UNWIRED: ReadonlyMap<string, number> = new Map([['upperstack-anomaly', 0]]);

const ids = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : typeof v === 'string' ? [v] : []);

export class ReadersGraph {
  private readonly readers = new Set<string>();

  constructor(nodes: readonly FlowNode[], readerTypes: ReadonlySet<string> = READER_TYPES, whileUnwired: ReadonlyMap<string, number> = READER_WHILE_UNWIRED) {
    // Link nodes pass the message object on as it is: a reader when everything after it is one.
    const links = new Map<string, string[]>();
    const wired = (n: FlowNode) => (Array.isArray(n.wires) ? (n.wires as unknown[]).flatMap(ids) : []);
    for (const n of nodes) {
      if (readerTypes.has(n.type)) this.readers.add(n.id);
      else if (whileUnwired.has(n.type)) {
        const port = Array.isArray(n.wires) ? (n.wires as unknown[])[whileUnwired.get(n.type)!] : undefined;
        if (ids(port).length === 0) this.readers.add(n.id);
      }
      else if (n.type === 'link in') links.set(n.id, wired(n));
      // At runtime a link out's wires are its links; the configuration may hold either.
      else if (n.type === 'link out' && n.mode !== 'return') links.set(n.id, [...ids(n.links), ...wired(n)]);
    }
    for (const id of links.keys()) this.readers.add(id);
    // Take out every link node with a successor that is not a reader, until nothing changes.
    for (let changed = true; changed; ) {
      changed = false;
      for (const [id, next] of links) {
        if (!this.readers.has(id)) continue;
        if (next.some((t) => !this.readers.has(t))) {
          this.readers.delete(id);
          changed = true;
        }
      }
    }
  }

  /** Whether a message delivered to `id` has its readings only read, never changed or passed to a node that may. */
  reader(id: string): boolean {
    return this.readers.has(id);
  }
}
