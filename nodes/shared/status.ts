/** The one status vocabulary of every Upperstack node. */
import type { Node } from 'node-red';

export type StatusState = 'connecting' | 'connected' | 'failed' | 'warning' | 'idle' | 'clear';

export function setStatus(node: Node, state: StatusState, text = ''): void {
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
  let lastKey = '';
  return (state, text) => {
    const now = Date.now();
    if (now - last < intervalMs && state !== 'failed') return;
    const shown = typeof text === 'function' ? text() : text;
    const key = state + shown;
    if (key === lastKey) return;
    last = now;
    lastKey = key;
    setStatus(node, state, shown);
  };
}
