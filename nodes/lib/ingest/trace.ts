/**
 * UPPERSTACK_INTAKE_TRACE: when an input's gate closes and opens again, with the
 * backlog that closed or opened it. Read beside UPPERSTACK_DUCKDB_TRACE (the
 * store's writes) it shows the cycle of batch rows: how long the input stood
 * paused, and behind which writes (docs/performance.md, "Batches: the store
 * cycle traced"). 1 prints to stderr; an absolute path appends to that file
 * (the same file as the store's trace keeps one timeline).
 */
import { traceOut } from '../trace-out';
import type { PauseReason } from '../journal/gate';

export interface IntakeTraceEvent {
  input: string;
  paused: boolean;
  reason?: PauseReason;
  /** Unsettled messages, and the readings in them, when the gate changed. */
  messages: number;
  readings: number;
  /** Of those readings, the ones no store write has taken yet (what the readings mark counts). */
  untaken?: number;
}

export function intakeTraceFromEnv(env: NodeJS.ProcessEnv = process.env): ((e: IntakeTraceEvent) => void) | undefined {
  const out = traceOut(env.UPPERSTACK_INTAKE_TRACE);
  if (!out) return undefined;
  // `p` (ms on this process's monotonic clock) orders events closer than Date.now() can.
  return (e) => out(`intake ${JSON.stringify({ at: Date.now(), p: Math.round(performance.now() * 10) / 10, ...e })}\n`);
}
