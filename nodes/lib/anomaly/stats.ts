/** Small numeric building blocks shared by the detectors. */

/**
 * Maps a ratio (observed deviation / alarm deviation) to 0..1 so that every
 * detector's own alarm level lands on 0.5 and the ensemble can compare them.
 */
export function ratioScore(ratio: number): number {
  if (!(ratio > 0)) return 0;
  if (ratio === Infinity) return 1;
  const r4 = ratio * ratio * ratio * ratio;
  return r4 / (1 + r4);
}

/** Inverse of ratioScore: the ratio to the alarm level that a score stands for. */
export function scoreRatio(score: number): number {
  if (!(score > 0)) return 0;
  if (score >= 1) return Infinity;
  return Math.pow(score / (1 - score), 0.25);
}

/** An outcome's deviation in units of its alarm level; detectors that do not say are read from their score. */
export function deviationOf(o: { score: number; deviation?: number }): number {
  return o.deviation ?? scoreRatio(o.score);
}

/** mulberry32: tiny, fast and seedable, so forests are the same run after run. */
export class Prng {
  state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}

export { Window, type WindowState } from './window';
