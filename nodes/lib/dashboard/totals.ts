/**
 * The pipeline's running totals (the same counters GET /metrics exports) and
 * rates between two looks, for a dashboard: messages received, readings stored,
 * dead letters, invalid, and what waits in memory, spools and journals.
 */
import { deadLettered, inputSources, invalid, received, retiredSinks, sinkSources } from '../metrics';

export interface PipelineTotals {
  /** Messages accepted by every input since start. */
  received: number;
  /** Readings written to every sink since start. */
  stored: number;
  deadLetters: number;
  invalid: number;
  /** Readings waiting in memory for a write, and held in spools during an outage. */
  queued: number;
  spooled: number;
  /** Journaled messages not settled yet, over every input. */
  backlog: number;
}

export function pipelineTotals(): PipelineTotals {
  let rx = received.total();
  let backlog = 0;
  for (const src of inputSources().values()) {
    const s = src.stats();
    rx += s.received;
    backlog += s.pending;
  }
  let stored = retiredSinks.written.total();
  let queued = 0;
  let spooled = 0;
  for (const sink of sinkSources().values()) {
    const s = sink.stats();
    stored += s.written;
    queued += s.queued;
    spooled += s.spooled;
  }
  return { received: rx, stored, deadLetters: deadLettered.total(), invalid: invalid.total(), queued, spooled, backlog };
}

export interface Rates {
  /** Per second since the previous look. */
  receivedPerSecond: number;
  storedPerSecond: number;
  deadLettersPerSecond: number;
}

/** Turns successive totals into per-second rates; a counter that went down (a restart of its node) counts from zero. */
export class RateMeter {
  private last: { at: number; t: PipelineTotals } | undefined;

  next(t: PipelineTotals, at: number): Rates {
    const prev = this.last;
    this.last = { at, t };
    if (!prev || at <= prev.at) return { receivedPerSecond: 0, storedPerSecond: 0, deadLettersPerSecond: 0 };
    const s = (at - prev.at) / 1000;
    const rate = (now: number, before: number) => Math.round(((now >= before ? now - before : now) / s) * 10) / 10;
    return {
      receivedPerSecond: rate(t.received, prev.t.received),
      storedPerSecond: rate(t.stored, prev.t.stored),
      deadLettersPerSecond: rate(t.deadLetters, prev.t.deadLetters),
    };
  }
}
