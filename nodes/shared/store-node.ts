/**
 * The store config node a node names in its `store` option, for the nodes that
 * cannot work without one (api, query, report, invoice).
 */
import type { Node, NodeAPI } from 'node-red';
import type { StoreConfigNode } from '../store-config/options';
import { setStatus } from './status';

/** The deployed store config node `id`; without one, a red status, the node's own `<type>.errors.noStore` and undefined. */
export function requiredStore(RED: NodeAPI, node: Node, id: string): StoreConfigNode | undefined {
  const store = RED.nodes.getNode(id) as StoreConfigNode | null;
  if (store) return store;
  const text = RED._(`${node.type}.errors.noStore`);
  setStatus(node, 'failed', text);
  node.error(text);
  return undefined;
}
