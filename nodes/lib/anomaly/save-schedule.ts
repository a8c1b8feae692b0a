/**
 * When the anomaly node saves what its engine learned. The node looks every
 * 30 s; a save starts only when something changed since the last one, never
 * while another is running, and not before the wait the last save's size
 * earned (saveIntervalMs: a large state is rewritten less often). A save that
 * failed leaves the state changed, so the next look tries again.
 */
import { saveIntervalMs } from './state-file';

/** Slack on the wait, because the node's next look comes a whole period after the last look, not after the save ended. */
const SLACK_MS = 1000;

export class SaveSchedule {
  private changed = false;
  private saving = false;
  private nextAt = 0;

  constructor(private readonly clock: () => number = Date.now) {}

  /** The engine's state changed (readings judged, devices imported or forgotten, state still in the old place). */
  change(): void {
    this.changed = true;
  }

  /**
   * A save is due now: it is marked as started, and its start time returned
   * for done(). Undefined when nothing changed, a save runs, or the wait is not over.
   */
  begin(): number | undefined {
    const now = this.clock();
    if (!this.changed || this.saving || now < this.nextAt) return undefined;
    this.changed = false;
    this.saving = true;
    return now;
  }

  /** The save begun at `startedAt` wrote `bytes` (undefined: there was nothing to write). */
  done(startedAt: number, bytes: number | undefined): void {
    this.saving = false;
    if (bytes !== undefined) this.nextAt = startedAt + saveIntervalMs(bytes) - SLACK_MS;
  }

  /** The save failed: what it was to write is still unsaved. */
  failed(): void {
    this.saving = false;
    this.changed = true;
  }
}
