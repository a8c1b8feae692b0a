/**
 * Anomaly likelihood: turns other detectors' deviations into the probability
 * of the recent behaviour. For each member, the average surprise of the last
 * few readings is compared with how that average has been distributed over
 * the series' long run, and the alarm goes off on the tail probability of the
 * most improbable member. A series that is always noisy stops alarming on
 * its usual spikes, and one whose behaviour changes (spikes that come more
 * often, a level that leaves its range and stays out) alarms even when no
 * single reading is extreme. One alarm per episode: after an alarm the layer
 * stays quiet until the behaviour has looked ordinary for a while.
 */
import { DetectorConfigError } from '../../errors';
import { durationWords, withUnit } from '../format';
import { bool, duration, known, num } from '../params';
import { deviationOf, ratioScore } from '../stats';
import type { Detector, DetectorType, FieldContext, LikelihoodConfig, Outcome } from '../types';
import { stillSpell } from './flatline';
import { BINS, binOf, rings, Stream, surprise, type StreamState } from './likelihood-stream';
import { log10Tail, odds } from './likelihood-tail';

export type { StreamState } from './likelihood-stream';
export { log10Tail } from './likelihood-tail';

export interface LikelihoodSettings {
  /** Readings averaged into the recent behaviour. */
  short: number;
  /** Half-life, in readings, of the long-run distribution of that average. */
  long: number;
  /** Alarm when the recent behaviour is this improbable. */
  probability: number;
  /** Readings of ordinary behaviour that end an episode, so that the next unusual spell alarms again. */
  quiet: number;
  /** Readings of a member learned before it is judged. */
  learn: number;
  /** Judge large deviations also by how often deviations that large have come before (spike trains). */
  recurrence: boolean;
  /** Time a new series is watched before it gives verdicts (0, the default: none); see SETTLE_READINGS. */
  settleMs: number;
}

export function likelihoodSettings(c: LikelihoodConfig): LikelihoodSettings {
  known('likelihood', c, ['detector', 'short', 'long', 'probability', 'quiet', 'learn', 'recurrence', 'settle']);
  if (c.detector !== undefined && (typeof c.detector !== 'object' || c.detector === null || Array.isArray(c.detector))) {
    throw new DetectorConfigError('likelihood.detector must be a detector config such as {"type": "zscore"}', { parameter: 'likelihood.detector' });
  }
  if (c.detector?.type === 'likelihood') {
    throw new DetectorConfigError('likelihood.detector cannot itself be a likelihood detector', { parameter: 'likelihood.detector' });
  }
  return {
    short: num('likelihood', 'short', c.short, 10, { min: 1, max: 1000, integer: true }),
    long: num('likelihood', 'long', c.long, 2000, { min: 10 }),
    probability: num('likelihood', 'probability', c.probability, 1e-6, { above: 0, max: 0.1 }),
    quiet: num('likelihood', 'quiet', c.quiet, 50, { min: 0, integer: true }),
    learn: num('likelihood', 'learn', c.learn, 600, { min: 10, integer: true }),
    recurrence: bool('likelihood', 'recurrence', c.recurrence, true),
    settleMs: c.settle === undefined || c.settle === 0 ? 0 : duration('likelihood', 'settle', c.settle, '1d'),
  };
}

export interface LikelihoodState {
  /** Member states, in the shape an ensemble of the same members saves. */
  inner: unknown[];
  streams: StreamState[];
  /** An alarm was raised and the behaviour has not looked ordinary since. */
  open: boolean;
  /** Readings in a row that looked ordinary while open. */
  calm: number;
  alarmTs: number;
  /**
   * A new series still settling: the time of its first reading and how many it has had. Absent once
   * settled, and in state saved before settling existed (those series had been learning already).
   */
  settling?: { firstTs: number | null; readings: number };
}

/**
 * The smallest spread of the average that counts: a member that has always
 * been at 0 (flatline on a lively series) must not alarm on a tiny wobble.
 */
const MIN_SPREAD = 0.03;

/**
 * Members whose spread follows their last hundred or so readings: Holt-Winters'
 * forecast error, the EWMA's in-control spread. After a quiet stretch that
 * spread is small, and the next ordinary burst of a bursty series is dozens
 * of it, beyond the swings the member remembers. Once the layer has learned
 * such a member it judges those bursts against the member's usual deviations;
 * before that (Holt-Winters' readings 1,000 to 1,600 at the defaults) the
 * member's own alarm stands only with a second opinion: a self-calibrated
 * member (novelty) finds the value at least SUPPORT levels from anything the
 * series did recently. The z-score's spread comes from a week of readings and
 * does not shrink that fast, so its own alarms stand alone.
 */
const FAST_SPREAD: ReadonlySet<DetectorType> = new Set<DetectorType>(['holtwinters', 'ewma']);
const SUPPORT = 0.5;

/** Which members are self-calibrated and fast-spread, by the members' types: one pair of lists per ensemble, not per series. */
const kinds = new Map<string, { calibrated: readonly boolean[]; fast: readonly boolean[] }>();
function memberKinds(members: readonly Detector[]): { calibrated: readonly boolean[]; fast: readonly boolean[] } {
  const key = members.map((m) => `${m.type}${m.selfCalibrated === true ? '!' : ''}`).join(',');
  let k = kinds.get(key);
  if (!k) {
    k = { calibrated: members.map((m) => m.selfCalibrated === true), fast: members.map((m) => FAST_SPREAD.has(m.type)) };
    kinds.set(key, k);
  }
  return k;
}

/**
 * A member whose average is this far below its mean (x, in spreads) has a tail of at most FAR_BELOW_MAX:
 * log10Tail(-0.01) is 0.2975786, and its erfc is within 1.2e-7 of the true one, which falls as x does. A member
 * at or above its mean is at 0.3010 or more, so a far-below member's tail (a log, an exp and a log10) is worked
 * out only when no other member's is above FAR_BELOW_MAX (see update()); on ordinary readings most are below.
 */
export const FAR_BELOW = -0.01;
export const FAR_BELOW_MAX = 0.2976;

/**
 * A new series settles after `settle` (a day) or this many readings, whichever comes first. A day, because
 * before a series has shown its daily rise and fall once, nothing can tell them from a jump or a drop: its
 * first morning would alarm. The readings bound a fast series (or a wrong first timestamp): the members
 * remember at most a few thousand readings (the z-score's 2,016 points), so waiting longer teaches nothing.
 */
export const SETTLE_READINGS = 2016;

/** Spells needed before they count as a pattern of the series: twice could be chance, three times is a habit. */
const RECUR = 3;

export class LikelihoodDetector implements Detector {
  readonly type = 'likelihood';
  private readonly streams: Stream[];
  private open = false;
  private calm = 0;
  /** A time, beyond a small integer: a double from the start (NaN, then 0 in the constructor; see Stream). */
  private alarmTs = NaN;
  private settling: { firstTs: number; readings: number } | null = null;
  private readonly alpha: number;
  /** -log10 of the alarm probability: the alarm level on the log scale. */
  private readonly level: number;
  /** Member i is self-calibrated; its type is in FAST_SPREAD (lists shared by every series with these members: memberKinds). */
  private readonly calibratedMember: readonly boolean[];
  private readonly fastSpread: readonly boolean[];
  /**
   * Members far below their mean on this reading (FAR_BELOW), their tail not
   * worked out yet: position, x and outcome. Made the first time one is.
   */
  private below?: { at: number[]; x: number[]; out: Array<Outcome | null> };

  /** `members` come with their own restored state; `state` is the layer's own (absent when taking over a plain ensemble's). */
  constructor(
    private readonly s: LikelihoodSettings,
    readonly members: Detector[],
    state?: LikelihoodState,
    restored = state !== undefined,
  ) {
    this.alarmTs = 0;
    this.alpha = 1 - Math.pow(0.5, 1 / s.long);
    ({ calibrated: this.calibratedMember, fast: this.fastSpread } = memberKinds(members));
    this.level = -Math.log10(s.probability);
    const ring = rings(s.short, members.length);
    this.streams = members.map((_, i) => new Stream(s.short, state?.streams?.[i], ring, i));
    if (state) {
      this.open = state.open;
      this.calm = state.calm;
      this.alarmTs = state.alarmTs;
      if (state.settling) this.settling = { firstTs: state.settling.firstTs ?? NaN, readings: state.settling.readings };
    } else if (!restored && s.settleMs > 0) {
      // Only a new series settles: a plain ensemble's members taken over (restored, no state of the layer's own) have been learning.
      this.settling = { firstTs: NaN, readings: 0 };
    }
  }

  /** False while a new series settles (see SETTLE_READINGS): its members learn, but it gives no verdict. */
  private settled(ts: number): boolean {
    const st = this.settling;
    if (!st) return true;
    if (Number.isNaN(st.firstTs)) st.firstTs = ts;
    st.readings++;
    if (ts - st.firstTs < this.s.settleMs && st.readings <= SETTLE_READINGS) return false;
    this.settling = null;
    return true;
  }

  update(ts: number, value: number, ctx: FieldContext): Outcome | null {
    let best: Outcome | null = null;
    let bestL = -Infinity;
    let rawL = -Infinity;
    let bestAt = -1;
    let learning: Outcome | null = null;
    let learningAt = -1;
    // A fast-spread member still being learned, whose alarm needs support (see FAST_SPREAD).
    let unsupported: Outcome | null = null;
    let unsupportedAt = -1;
    let calibrated: Outcome | null = null;
    let calibratedAt = -1;
    let support = -1;
    let below = 0;
    for (let i = 0; i < this.members.length; i++) {
      const o = this.members[i].update(ts, value, ctx);
      if (!o) continue;
      if (this.calibratedMember[i]) {
        support = Math.max(support, deviationOf(o));
        if (!calibrated || o.score > calibrated.score) {
          calibrated = o;
          calibratedAt = i;
        }
        continue;
      }
      const st = this.streams[i];
      st.push(surprise(deviationOf(o)), value);
      const avg = st.average();
      if (st.n >= this.s.learn) {
        const x = (avg - st.mean) / Math.max(Math.sqrt(st.variance), MIN_SPREAD);
        if (x <= FAR_BELOW) {
          // At most FAR_BELOW_MAX, below level / 2 (the recurrence check's and the calm bound's): only bestL can change.
          const far = (this.below ??= { at: [], x: [], out: [] });
          far.at[below] = i;
          far.x[below] = x;
          far.out[below++] = o;
        } else {
          let l = log10Tail(x);
          // An episode ends on behaviour that is ordinary by the normal curve, not on a spell that is merely habitual.
          if (l > rawL) rawL = l;
          // Only an alarm can change: the recurrence check is skipped on ordinary readings.
          if (this.s.recurrence && l >= this.level / 2 && o.score < 0.5) l = Math.min(l, this.recurrence(st, avg));
          if (l > bestL) {
            bestL = l;
            best = o;
            bestAt = i;
          }
        }
      } else if (o.score >= 0.5 && this.fastSpread[i]) {
        if (!unsupported || o.score > unsupported.score) {
          unsupported = o;
          unsupportedAt = i;
        }
      } else if (!learning || o.score > learning.score) {
        learning = o;
        learningAt = i;
      }
      this.learn(st, avg);
      if (this.s.recurrence) this.count(st, avg);
    }
    // Checked after the members: a settling series learns from every reading, it only keeps quiet.
    if (this.settling && !this.settled(ts)) return null;
    // The members far below their mean, as judging all in turn would take them: the highest tail, the first of equals.
    if (below > 0 && !(bestL > FAR_BELOW_MAX)) {
      const far = this.below!;
      for (let k = 0; k < below; k++) {
        const l = log10Tail(far.x[k]);
        const i = far.at[k];
        if (l > bestL || (l === bestL && i < bestAt)) {
          bestL = l;
          best = far.out[k];
          bestAt = i;
        }
      }
    }
    // Without a self-calibrated member there is no second opinion to ask: the alarm stands as before.
    if (unsupported && (support < 0 || support >= SUPPORT) && (!learning || unsupported.score > learning.score)) {
      learning = unsupported;
      learningAt = unsupportedAt;
    }
    // Members' outcomes are theirs alone until their next reading: they are changed in place rather than copied.
    if (learning && !learning.detector) learning.detector = this.members[learningAt].type;
    let out: Outcome;
    let calmNow: boolean;
    if (best) {
      const memberScore = best.score;
      out = best;
      out.score = ratioScore(bestL / this.level);
      out.detector = best.detector ?? this.members[bestAt].type;
      // A stuck spell is unusual for being still at its expected value: "far from normal" would misread it.
      if (out.score >= 0.5) out.reason = stillSpell(out, odds(bestL)) ?? this.explain(memberScore, out.reason, out.expected, this.streams[bestAt], bestL, ctx);
      calmNow = rawL < this.level / 2;
      // A member still learning keeps its own say: the layer must not hide what it would have reported alone.
      if (learning && learning.score >= 0.5 && learning.score > out.score) out = learning;
    } else if (learning) {
      // Until some member knows its usual behaviour, the members' own verdicts stand.
      out = learning;
      calmNow = learning.score < 0.5;
    } else if (calibrated) {
      out = calibrated;
      out.detector = calibrated.detector ?? this.members[calibratedAt].type;
      calmNow = calibrated.score < 0.5;
    } else {
      return null;
    }
    // A self-calibrated member's alarm stands as it is, within the one-alarm-per-episode rule.
    if (calibrated && calibrated.score >= 0.5 && calibrated.score > out.score) {
      out = calibrated;
      out.detector = calibrated.detector ?? this.members[calibratedAt].type;
      calmNow = false;
    }
    if (this.open) {
      this.calm = calmNow ? this.calm + 1 : 0;
      if (this.calm >= this.s.quiet) this.open = false;
    }
    if (out.score < 0.5) return out;
    if (this.open) {
      out.score = Math.min(out.score, 0.49);
      out.reason = `${out.reason}; part of the unusual spell already reported ${durationWords(Math.max(1000, ts - this.alarmTs))} ago`;
      return out;
    }
    this.open = true;
    this.calm = 0;
    this.alarmTs = ts;
    return out;
  }

  /**
   * How often a spell this unusual came before on this series. The normal
   * curve fitted to the average underrates a series whose spikes recur (a
   * job that runs every few hours): each one lifts the average the same way.
   * Once spells at least this high have come RECUR times (weighted like the
   * long run), their share of the readings is the probability; before that,
   * and whenever a member alarms on its own (beyond its recent largest
   * swing), this has no say (Infinity).
   */
  private recurrence(st: Stream, avg: number): number {
    const seen = st.seen;
    // No spell has ended yet: every bin is 0.
    if (!seen) return Infinity;
    let tail = 0;
    for (let b = binOf(avg); b < BINS; b++) tail += seen[b];
    const spells = tail / st.gain;
    return spells >= RECUR ? -Math.log10(tail / st.total) : Infinity;
  }

  /**
   * Counts spells: a spell runs while the average is above its usual range
   * (mean + 1 spread) and counts once, at its highest bin, when it ends.
   */
  private count(st: Stream, avg: number): void {
    const g = st.gain;
    st.total += g;
    if (avg > st.mean + Math.max(Math.sqrt(st.variance), MIN_SPREAD)) st.peak = Math.max(st.peak, binOf(avg));
    else if (st.peak >= 0) {
      (st.seen ??= new Array<number>(BINS).fill(0))[st.peak] += g;
      st.peak = -1;
    }
    st.gain = g / (1 - this.alpha);
    // Rescaled long before the weights could overflow; only ratios are used.
    if (st.gain > 1e100) {
      const seen = st.seen;
      if (seen) for (let b = 0; b < BINS; b++) seen[b] /= st.gain;
      st.total /= st.gain;
      st.gain = 1;
    }
  }

  private learn(st: Stream, avg: number): void {
    st.n++;
    // A plain running mean at first, exponential later: an EW start from a single reading would be noise.
    const a = Math.max(this.alpha, 1 / st.n);
    const d = avg - st.mean;
    st.mean += a * d;
    st.variance = (1 - a) * (st.variance + a * d * d);
  }

  /** `score`, `reason` and `expected` are the member's own, before the layer rescored its outcome. */
  private explain(score: number, reason: string, expected: number, st: Stream, l: number, ctx: FieldContext): string {
    let far = 0;
    for (let k = 1; k < st.size; k++) if (st.surprise(k) > st.surprise(far)) far = k;
    const n = st.size;
    const spell = `${ctx.field} has been unusually far from normal over its last ${n} readings, furthest at ${withUnit(st.value(far), ctx.unit)} (a spell like this comes ${odds(l)})`;
    // A member that alarms on its own explains the latest reading best; one that does not would only say it looks normal.
    return score >= 0.5 ? `${spell}; latest: ${reason}` : `${spell}; latest ${withUnit(st.value(n - 1), ctx.unit)}, expected about ${withUnit(expected, ctx.unit)}`;
  }

  toJSON(): LikelihoodState {
    return {
      inner: this.members.map((m) => m.toJSON()),
      streams: this.streams.map((st) => st.toJSON()),
      open: this.open,
      calm: this.calm,
      alarmTs: this.alarmTs,
      ...(this.settling && { settling: { firstTs: Number.isNaN(this.settling.firstTs) ? null : this.settling.firstTs, readings: this.settling.readings } }),
    };
  }
}
