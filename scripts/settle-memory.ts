/**
 * One garbage collection a little after the flows have (re)started.
 *
 * Starting the runtime loads ~2,300 modules and deploys the flows; while it
 * does, V8 grows the young generation to its largest size (2 × 4 MB with the
 * runtime's flags) and keeps it there until a collection finds the runtime
 * allocating little. An idle runtime allocates so little (~75 KB/s) that the
 * next collection comes 30–60 s later. One collection once the start is over
 * lets V8 shrink it (docs/performance.md, "Memory"); it costs one pause of a
 * few to a few tens of milliseconds per start or deploy.
 */
import type { EventEmitter } from 'node:events';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** How long after `flows:started` the collection runs: the last startup work (dashboard, retention pass) is done by then. */
export const SETTLE_AFTER_MS = 10_000;

/**
 * V8's collector as a function, without leaving `gc` in the contexts created
 * afterwards (function nodes' sandboxes): the flag is on only while one new
 * context is made.
 *
 * Which collection depends on V8 (measured in docs/performance.md, "Memory",
 * 2026-12-05). V8 12 (Node 22): a full one of the 'last-resort' flavour, the
 * only kind that gives the freed pages back at once. V8 11 (Node 20): a
 * young-generation one. A full one there gives back no more RSS and puts off
 * V8's memory reducer, which is what gives an idle runtime's pages back, by
 * about 8 s; and V8 11 offers no memory-reducing flavour.
 */
export function settlingCollector(v8Major = Number(process.versions.v8.split('.')[0])): () => void {
  setFlagsFromString('--expose-gc');
  try {
    const gc = runInNewContext('gc') as (options: { type: 'major' | 'minor'; execution?: 'sync'; flavor?: 'last-resort' }) => void;
    return v8Major < 12 ? () => gc({ type: 'minor' }) : () => gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
}

/**
 * Runs `collect` once `afterMs` after each `flows:started` (a redeploy within
 * that time postpones it). The timer never keeps the process alive. Returns a
 * function that stops listening.
 */
export function settleAfterStart(events: EventEmitter, collect: () => void = settlingCollector(), afterMs = SETTLE_AFTER_MS): () => void {
  let timer: NodeJS.Timeout | undefined;
  const started = (): void => {
    clearTimeout(timer);
    timer = setTimeout(collect, afterMs);
    timer.unref();
  };
  events.on('flows:started', started);
  return () => {
    clearTimeout(timer);
    events.off('flows:started', started);
  };
}
