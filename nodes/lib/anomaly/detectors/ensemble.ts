/**
 * Several detectors on one series. Each scores 0.5 at its own alarm level, so
 * "max" alarms when any member does, and the verdict carries the reason of
 * the member that scored highest.
 */
import type { Detector, FieldContext, Outcome } from '../types';

export class EnsembleDetector implements Detector {
  readonly type = 'ensemble';

  constructor(
    readonly members: Detector[],
    private readonly combine: 'max' | 'mean',
  ) {}

  update(ts: number, value: number, ctx: FieldContext): Outcome | null {
    let best: Outcome | null = null;
    let bestMember: Detector | null = null;
    let sum = 0;
    let count = 0;
    for (const m of this.members) {
      const o = m.update(ts, value, ctx);
      if (!o) continue;
      sum += o.score;
      count++;
      if (!best || o.score > best.score) {
        best = o;
        bestMember = m;
      }
    }
    // Members still warming up give no opinion rather than a vote for "normal".
    if (!best || !bestMember) return null;
    // The member's outcome is its alone until its next reading: changed in place rather than copied.
    if (this.combine === 'mean') best.score = sum / count;
    best.detector = best.detector ?? bestMember.type;
    return best;
  }

  toJSON(): unknown[] {
    return this.members.map((m) => m.toJSON());
  }
}
