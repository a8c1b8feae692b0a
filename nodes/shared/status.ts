/** The one status vocabulary of every Upperstack node. */
import type { Node } from 'node-red';

export type StatusState = 'connecting' | 'connected' | 'failed' | 'warning' | 'idle' | 'clear';

/** What each node's status shows now, as state + text: a throttled status compares against it (below). */
const shownNow = new WeakMap<Node, string>();

export function setStatus(node: Node, state: StatusState, text = ''): void {
  shownNow.set(node, state + text);
  switch (state) {
    case 'connecting':
      node.status({ fill: 'yellow', shape: 'ring', text });
      break;
    case 'connected':
      node.status({ fill: 'green', shape: 'dot', text });
      break;
    case 'failed':
      node.status({ fill: 'red', shape: 'ring', text });
      break;
    case 'warning':
      node.status({ fill: 'yellow', shape: 'dot', text });
      break;
    case 'idle':
      node.status({ fill: 'grey', shape: 'ring', text });
      break;
    case 'clear':
      node.status({});
      break;
  }
}

/**
 * Limits status updates to one a second: a status per message would flood the
 * editor. The text may be a function, so a translated text is built only when it
 * will be shown, not on every message.
 */
export function throttledStatus(node: Node, intervalMs = 1000): (state: StatusState, text: string | (() => string)) => void {
  let last = 0;
  return (state, text) => {
    const now = Date.now();
    if (now - last < intervalMs && state !== 'failed') return;
    const shown = typeof text === 'function' ? text() : text;
    // Compared with what the node shows now, not with what this helper showed last: a status set meanwhile by
    // other code (a red failure) is replaced by the same text this helper had shown before it.
    if (shownNow.get(node) === state + shown) return;
    last = now;
    setStatus(node, state, shown);
  };
}
