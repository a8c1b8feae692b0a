/**
 * An Intake's (intake.ts) acknowledgement gate as it is built at start, and its stats as /health reads them:
 * both from the journal and the gate, apart from intake.ts as neither runs on a message's way.
 */
import type { Journal } from '../journal/journal';
import { AckGate } from '../journal/gate';
import type { IntakeOptions, IntakeStats } from './intake-options';
import { intakeTraceFromEnv } from './trace';

/** The gate that holds acks and refuses submits past the marks or the disk budget; traced when UPPERSTACK_INTAKE_TRACE says so. */
export function intakeGate(id: string, journal: Journal, opts: IntakeOptions, highWater: number, highWaterReadings: number, budgetBytes: number): AckGate {
  const trace = intakeTraceFromEnv();
  return new AckGate(journal, {
    highWater,
    lowWater: opts.lowWater ?? Math.floor(highWater / 2),
    highReadings: highWaterReadings,
    lowReadings: opts.lowWaterReadings,
    budgetBytes,
    onChange: (paused, reason) => {
      trace?.({ input: id, paused, reason, messages: journal.backlog(), readings: journal.readings(), untaken: journal.untakenReadings() });
      opts.onPause?.(paused, reason);
    },
  });
}

/** What Intake.stats() reports, from its counters (`counts`), its journal (while open) and its gate. */
export function intakeStatsOf(
  counts: { id: string; name: string; budgetBytes: number; received: number; refused: number },
  open: boolean,
  journal: Journal,
  gate: AckGate,
  oldest: number | undefined,
  lastError: string | undefined,
  lastErrorSince: number,
): IntakeStats {
  const pause = gate.pauseState();
  const s: IntakeStats = {
    id: counts.id,
    name: counts.name,
    bytes: open ? journal.bytes() : 0,
    budgetBytes: counts.budgetBytes,
    pending: open ? journal.backlog() : 0,
    pendingReadings: open ? journal.readings() : 0,
    paused: pause !== undefined,
    heldAcks: gate.waiting(),
    received: counts.received,
    refused: counts.refused,
  };
  if (oldest !== undefined) s.oldestUnsettledAt = oldest;
  if (pause) {
    s.pausedSince = pause.since;
    s.pauseReason = pause.reason;
  }
  if (lastError !== undefined) {
    s.lastError = lastError;
    s.lastErrorSince = lastErrorSince;
  }
  return s;
}
