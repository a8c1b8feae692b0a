/**
 * Which nodes of a deployed flow can lead a message to a node that settles
 * journal entries (a store or dead-letter node), following wires and link
 * nodes. Computed once per deploy from the flow configuration, so the receipts
 * can be shared out when one output feeds several destinations: each
 * destination that can reach a settling node owes a share; one that cannot (a
 * debug node, a branch that ends without storing) gets a copy without receipts.
 *
 * Unknown ids (nodes inside subflow instances, added at runtime) count as
 * reaching: when unsure, a share is kept (the entry may replay, never lost).
 * Disabled nodes and tabs count as what they would be enabled: a store node
 * disabled for a while keeps its share, so its messages replay once it is back
 * rather than being settled unstored. The walk is iterative: no recursion over
 * a user's flow.
 */

/** The part of a flow configuration node this needs. */
export interface FlowNode {
  id: string;
  type: string;
  z?: string;
  wires?: unknown;
  /** link out / link call: the link nodes it sends to. */
  links?: unknown;
  /** link out: 'link' or 'return'. */
  mode?: string;
  /** link call: 'static' or 'dynamic'. */
  linkType?: string;
  /** catch: node ids, null/absent for the whole tab, 'group' for its group. */
  scope?: unknown;
  g?: string;
}

const ids = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : typeof v === 'string' ? [v] : []);

export class SettlementGraph {
  private readonly known = new Map<string, { z?: string; g?: string }>();
  private readonly reaching = new Set<string>();
  private readonly catches: Array<{ id: string; z?: string; g?: string; scope: string[] | 'tab' | 'group' }> = [];

  constructor(nodes: readonly FlowNode[], settles: (type: string) => boolean) {
    const live = nodes.filter((n) => n.type !== 'tab' && n.type !== 'subflow');
    // Edges backwards: for each node, who sends to it.
    const from = new Map<string, string[]>();
    const edge = (a: string, b: string) => {
      const list = from.get(b);
      if (list) list.push(a);
      else from.set(b, [a]);
    };
    const start: string[] = [];
    for (const n of live) {
      this.known.set(n.id, { z: n.z, g: n.g });
      if (settles(n.type)) start.push(n.id);
      const wires = Array.isArray(n.wires) ? n.wires : [];
      for (const port of wires) for (const to of ids(port)) edge(n.id, to);
      const dynamic = (n.type === 'link out' && n.mode === 'return') || (n.type === 'link call' && n.linkType === 'dynamic');
      // Where the message goes next is decided at runtime, or inside a subflow: assume it can be stored.
      if (dynamic || n.type.startsWith('subflow:')) start.push(n.id);
      if (n.type === 'link out' || n.type === 'link call') for (const to of ids(n.links)) edge(n.id, to);
      if (n.type === 'catch') {
        const scope = n.scope === 'group' ? 'group' : Array.isArray(n.scope) ? ids(n.scope) : 'tab';
        this.catches.push({ id: n.id, z: n.z, g: n.g, scope });
      }
    }
    const queue = [...start];
    for (const id of queue) this.reaching.add(id);
    for (let i = 0; i < queue.length; i++) {
      for (const prev of from.get(queue[i]) ?? []) {
        if (this.reaching.has(prev)) continue;
        this.reaching.add(prev);
        queue.push(prev);
      }
    }
  }

  /** Whether a message delivered to `id` can end at a settling node; unknown nodes count as reaching. */
  reaches(id: string): boolean {
    return !this.known.has(id) || this.reaching.has(id);
  }

  /** Whether the node is in the deployed flow configuration. */
  has(id: string): boolean {
    return this.known.has(id);
  }

  /**
   * Whether an error the node reports reaches a Catch node that can lead it to
   * a settling node (a dead-letter node, typically). Catch scopes: the listed
   * nodes, the node's group, or its whole tab.
   */
  caught(id: string): boolean {
    const where = this.known.get(id);
    if (!where) return false;
    for (const c of this.catches) {
      if (!this.reaching.has(c.id)) continue;
      if (c.scope === 'tab' ? c.z !== undefined && c.z === where.z : c.scope === 'group' ? c.g !== undefined && c.g === where.g : c.scope.includes(id)) return true;
    }
    return false;
  }
}

/**
 * The nodes a message sent by `from` can pass through: along wires, and from a link out or link call to the
 * link nodes it names. Iterative, as SettlementGraph.
 */
export function downstreamOf(nodes: readonly FlowNode[], from: string): Set<string> {
  const next = new Map<string, string[]>();
  for (const n of nodes) {
    const to: string[] = [];
    const wires = Array.isArray(n.wires) ? n.wires : [];
    for (const port of wires) to.push(...ids(port));
    if (n.type === 'link out' || n.type === 'link call') to.push(...ids(n.links));
    if (to.length) next.set(n.id, to);
  }
  const seen = new Set<string>();
  const queue = [from];
  for (let i = 0; i < queue.length; i++) {
    for (const to of next.get(queue[i]) ?? []) {
      if (seen.has(to)) continue;
      seen.add(to);
      queue.push(to);
    }
  }
  return seen;
}
