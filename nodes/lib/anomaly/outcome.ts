/**
 * An Outcome whose reason is worded only when someone reads it. Every member
 * of an ensemble judges every reading, but only one member's reason reaches
 * the verdict: wording the others' (number formatting, durations, template
 * strings) was most of the garbage per reading. Each detector keeps, in a
 * Wording of its own, the numbers its sentence needs, taken when it judged,
 * since the detector's own state moves on with the next reading; the sentence
 * is then the same whenever it is read.
 *
 * A detector compiled for the engine (compileDetector's `reuse`) keeps one
 * outcome and sets it again on every reading: the engine reads an outcome
 * (its numbers, its reason) before that series' next reading, and a fresh
 * object per member per field was most of what judging allocated.
 *
 * Every detector's outcome is this one class, its fields doubles from the
 * start, and only the Wording differs. The places that read outcomes (the
 * engine, the ensemble, the likelihood layer) are compiled once for one
 * hidden class: with a class per detector they met the classes one after
 * another as the members of new series warmed up, and with a score first
 * stored as 0 they met the same class again once it took a fraction, each
 * time throwing their optimised code away (4-5 recompiles of the worker's
 * judging loop per 100,000 readings of new series).
 */
import type { DetectorType, Outcome } from './types';

/** The detector's side of an outcome: what its sentence needs beyond the outcome's own numbers. */
export interface Wording {
  word(o: LazyOutcome): string;
}

export class LazyOutcome<W extends Wording = Wording> implements Outcome {
  // NaN, a double: the fields hold fractions from their first reading on (see above).
  score = NaN;
  deviation = NaN;
  expected = NaN;
  low = NaN;
  high = NaN;
  detector: DetectorType | undefined = undefined;
  /** The sentence, once worded or set; set() clears it. */
  private text: string | undefined = undefined;

  constructor(readonly why: W) {}

  /** Starts the outcome of a new reading, forgetting what a layer above set, or a sentence worded, for the last one. */
  set(score: number, deviation: number, expected: number, low: number, high: number): this {
    this.score = score;
    this.deviation = deviation;
    this.expected = expected;
    this.low = low;
    this.high = high;
    this.detector = undefined;
    this.text = undefined;
    return this;
  }

  get reason(): string {
    if (this.text === undefined) this.text = this.why.word(this);
    return this.text;
  }

  /** A layer above may replace the sentence (the likelihood layer's spell, an episode already reported). */
  set reason(text: string) {
    this.text = text;
  }
}
