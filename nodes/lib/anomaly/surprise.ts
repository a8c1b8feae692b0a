/** The alarm levels the z-score, Holt-Winters, EWMA and rate detectors learn from their own recent swings. */
import { ratioScore } from './stats';

export interface SurpriseState {
  up: number;
  down: number;
  /** Deviations not yet learned, oldest first. */
  pending: number[];
}

/** How far past its recent largest swing a deviation must go to alarm. */
export const SURPRISE_MARGIN = 1.25;

/**
 * Ordinary deviations join the alarm levels only this many readings later, so
 * a deviation that grows step by step (a drift) is still measured against
 * the swings from before it began, instead of raising the bar as it climbs.
 */
const LAG = 32;

/**
 * Scores a deviation against the alarm level k and against the largest
 * recent deviation in the same direction, which fades with a half-life of
 * `memory` readings. A noisy series must beat its own usual swings to alarm,
 * and a shift that persists alarms once, not on every reading after it: an
 * alarm raises the bar at once. Both keep alarms rare enough to be trusted.
 */
export class Surprise {
  // Doubles (NaN) before the constructor sets them: a field declared without a value starts as undefined and then
  // holds each new fraction in a box of its own (two per reading here); see also Stream in likelihood-stream.ts.
  private up = NaN;
  private down = NaN;
  /**
   * Deviations not yet learned, the oldest at `head`: a ring rather than a list shifted and pushed on
   * every reading, which grew new storage each time. State saved with more than LAG keeps them all, as
   * the list did (it dropped one only for each one added).
   */
  private readonly pending: Float64Array;
  private head = 0;
  private count = 0;
  private readonly fade: number;

  constructor(
    private readonly k: number,
    memory: number,
    state?: SurpriseState,
    private readonly margin = SURPRISE_MARGIN,
  ) {
    this.fade = memory > 0 ? Math.pow(0.5, 1 / memory) : 0;
    this.up = state?.up ?? 0;
    this.down = state?.down ?? 0;
    const saved = state?.pending ?? [];
    this.pending = new Float64Array(Math.max(LAG, saved.length));
    for (const z of saved) this.pending[this.count++] = z;
  }

  /** The deviation (in σ, signed like z) at which z would alarm right now. */
  level(z: number): number {
    return Math.max(this.k, this.margin * (z >= 0 ? this.up : this.down));
  }

  /** Score of z, after which z counts among the recent deviations. */
  score(z: number): number {
    const s = ratioScore(Math.abs(z) / this.level(z));
    this.learn(z, s >= 0.5);
    return s;
  }

  /** Fades the levels by one reading and takes z in: at once when it alarmed, LAG readings later when not. */
  learn(z: number, now = false): void {
    this.up *= this.fade;
    this.down *= this.fade;
    const ring = this.pending;
    if (now) this.take(z);
    else if (this.count < ring.length) ring[(this.head + this.count++) % ring.length] = z;
    else {
      const oldest = ring[this.head];
      ring[this.head] = z;
      this.head = (this.head + 1) % ring.length;
      this.take(oldest);
    }
  }

  private take(z: number): void {
    // Capped so that a deviation from a constant series (z = Infinity) stays valid JSON.
    if (z > this.up) this.up = Math.min(z, 1e6);
    else if (-z > this.down) this.down = Math.min(-z, 1e6);
  }

  toJSON(): SurpriseState {
    const pending: number[] = [];
    for (let k = 0; k < this.count; k++) pending.push(Math.max(-1e6, Math.min(1e6, this.pending[(this.head + k) % this.pending.length])));
    return { up: this.up, down: this.down, pending };
  }
}
