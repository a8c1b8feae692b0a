/**
 * An Outcome whose reason is worded only when someone reads it. Every member
 * of an ensemble judges every reading, but only one member's reason reaches
 * the verdict: wording the others' (number formatting, durations, template
 * strings) was most of the garbage per reading. A subclass keeps the numbers
 * its sentence needs, taken when it judged, since the detector's own state
 * moves on with the next reading; the sentence is then the same whenever it
 * is read.
 */
import type { DetectorType, Outcome } from './types';

export abstract class LazyOutcome implements Outcome {
  // Declared and assigned in the constructor rather than as class fields: one is made for every member
  // on every reading, and defining fields (what class fields compile to) cost ~10% of judging.
  declare score: number;
  declare deviation: number;
  declare expected: number;
  declare low: number;
  declare high: number;
  declare detector?: DetectorType;
  declare private text: string | undefined;

  constructor(score: number, deviation: number, expected: number, low: number, high: number) {
    this.score = score;
    this.deviation = deviation;
    this.expected = expected;
    this.low = low;
    this.high = high;
    this.detector = undefined;
    this.text = undefined;
  }

  get reason(): string {
    if (this.text === undefined) this.text = this.word();
    return this.text;
  }

  /** A layer above may replace the sentence (the likelihood layer's spell, an episode already reported). */
  set reason(text: string) {
    this.text = text;
  }

  /** The sentence, from what was kept when judging. */
  protected abstract word(): string;
}
