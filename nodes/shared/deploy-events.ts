/**
 * Node-RED's `flows:started` (the end of every deploy, of every type) heard through one listener on RED.events
 * for all of Upperstack's nodes. Each input (its replay, and its resend after a partial deploy), each broker and
 * each store config wants to know when a deploy is over; one RED.events listener apiece passed Node's default of
 * ten with the default pack alone, and the MaxListenersExceededWarning it printed is not a log line anyone can
 * act on (nor JSON, as every other line of the runtime's log is).
 */
import type { NodeAPI } from 'node-red';

/** What Node-RED's flows:started event says of the deploy. */
export interface DeployEvent {
  type?: string;
  diff?: { changed?: string[]; removed?: string[]; rewired?: string[]; linked?: string[] };
}

export type DeployListener = (ev?: DeployEvent) => void;

interface Emitter {
  on(event: string, fn: (ev?: DeployEvent) => void): unknown;
}

/** Per RED.events (a test harness makes a runtime after another): the listeners its one listener calls. */
const hubs = new WeakMap<object, Set<DeployListener>>();

function hubOf(RED: NodeAPI): Set<DeployListener> {
  const events = RED.events as unknown as Emitter;
  let hub = hubs.get(events);
  if (!hub) {
    const listeners = new Set<DeployListener>();
    hubs.set(events, listeners);
    events.on('flows:started', (ev) => {
      let first: unknown;
      // A copy: a listener may remove itself (once) or another while they are called.
      for (const fn of [...listeners]) {
        try {
          fn(ev);
        } catch (err) {
          // Each is told, as with listeners of their own; the first failure is thrown as it would have been.
          first ??= err;
        }
      }
      if (first !== undefined) throw first;
    });
    hub = listeners;
  }
  return hub;
}

/** Calls `fn` at the end of every deploy (once: the next one only) until the returned function is called. */
export function onFlowsStarted(RED: NodeAPI, fn: DeployListener, once = false): () => void {
  const hub = hubOf(RED);
  const entry: DeployListener = once
    ? (ev) => {
        hub.delete(entry);
        fn(ev);
      }
    : fn;
  hub.add(entry);
  return () => {
    hub.delete(entry);
  };
}
