/**
 * A weekly profile on top of a daily season: how each part of the week
 * differs from the average day (quieter weekends, a Monday peak). It keeps
 * learning beside the daily model and is only used in the forecast while it
 * has proved itself: its forecast errors must be clearly smaller than those of
 * the daily model alone. So a series without a weekly pattern is judged
 * exactly as before, and one whose weekly pattern only shows after weeks of
 * data gets it then, without a restart.
 */

export const DAY_MS = 86_400_000;
export const WEEK_MS = 7 * DAY_MS;

/** At most this many slots per week (30-minute resolution), so the state stays small on fast series. */
const MAX_SLOTS = 336;
/** Switched on when its error variance is below this share of the daily model's, off again above OFF. */
const ON = 0.85;
const OFF = 0.95;
/** Weeks of readings learned before the profile may be used: one week is only a single visit of each slot. */
const PROOF_WEEKS = 2;
/** Past this many readings a slot's count no longer matters: the smoothing weight has long taken over. */
const COUNT_CAP = 1000;

export interface WeekState {
  slots: number[];
  /** Readings learned per slot (capped): the first visits average instead of smoothing, so the profile is usable after two weeks. */
  counts: number[];
  /** Sum of the slots, so the profile's mean can be taken out without a pass. */
  sum: number;
  slotMs: number;
  origin: number;
  /** Error variances with and without the profile, over about a week. */
  varWith: number;
  varWithout: number;
  seen: number;
  active: boolean;
}

/** A daily season (within 5%) gets a weekly profile; other seasons have no week to model. */
export function isDaily(seasonMs: number): boolean {
  return Math.abs(seasonMs - DAY_MS) <= 0.05 * DAY_MS;
}

export function freshWeek(stepMs: number, origin: number): WeekState {
  const slotMs = Math.max(stepMs, WEEK_MS / MAX_SLOTS);
  const n = Math.max(1, Math.round(WEEK_MS / slotMs));
  return { slots: new Array<number>(n).fill(0), counts: new Array<number>(n).fill(0), sum: 0, slotMs: WEEK_MS / n, origin, varWith: 0, varWithout: 0, seen: 0, active: false };
}

export class WeekProfile {
  private readonly gain: number;
  private readonly varAlpha: number;
  private readonly proof: number;

  constructor(
    readonly st: WeekState,
    stepMs: number,
    gamma: number,
  ) {
    // Each slot is visited by several readings in a row: together they move it as much as one daily update would.
    this.gain = 1 - Math.pow(1 - gamma, Math.min(1, stepMs / st.slotMs));
    this.varAlpha = Math.min(1, stepMs / WEEK_MS);
    this.proof = Math.ceil((PROOF_WEEKS * WEEK_MS) / stepMs);
  }

  private index(ts: number): number {
    const n = this.st.slots.length;
    const k = Math.floor((ts - this.st.origin) / this.st.slotMs);
    return ((k % n) + n) % n;
  }

  /** This point of the week's difference from the average day, whether or not the profile is in use. */
  offset(ts: number): number {
    return this.st.slots[this.index(ts)] - this.st.sum / this.st.slots.length;
  }

  /**
   * Learns one reading. `err` is the error of the forecast that was used,
   * `offset` the profile's value at `ts` and `target` what the daily model
   * (level, trend and daily season, without the profile) missed by, clipped
   * like the model's own learning so a spike does not bend the profile.
   */
  learn(ts: number, err: number, offset: number, target: number, clip: number): void {
    const st = this.st;
    const withWeek = st.active ? err : err - offset;
    const without = st.active ? err + offset : err;
    const a = st.seen === 0 ? 1 : this.varAlpha;
    st.varWith = (1 - a) * st.varWith + a * Math.min(withWeek * withWeek, clip * clip);
    st.varWithout = (1 - a) * st.varWithout + a * Math.min(without * without, clip * clip);
    const i = this.index(ts);
    if (st.counts[i] < COUNT_CAP) st.counts[i]++;
    const delta = Math.max(this.gain, 1 / st.counts[i]) * (target - st.slots[i]);
    st.slots[i] += delta;
    st.sum += delta;
    st.seen++;
    if (st.seen < this.proof) return;
    if (!st.active && st.varWith < ON * st.varWithout) st.active = true;
    else if (st.active && st.varWith > OFF * st.varWithout) st.active = false;
  }

  toJSON(): WeekState {
    return { ...this.st, slots: [...this.st.slots], counts: [...this.st.counts] };
  }
}
