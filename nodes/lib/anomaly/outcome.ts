/**
 * An Outcome whose reason is worded only when someone reads it. Every member
 * of an ensemble judges every reading, but only one member's reason reaches
 * the verdict: wording the others' (number formatting, durations, template
 * strings) was most of the garbage per reading. A subclass keeps the numbers
 * its sentence needs, taken when it judged, since the detector's own state
 * moves on with the next reading; the sentence is then the same whenever it
 * is read.
 *
 * A detector compiled for the engine (compileDetector's `reuse`) keeps one
 * outcome and sets it again on every reading: the engine reads an outcome
 * (its numbers, its reason) before that series' next reading, and a fresh
 * object per member per field was most of what judging allocated. Its
 * numbers are then held in the object's own boxes, written in place.
 */
import type { DetectorType, Outcome } from './types';

export abstract class LazyOutcome implements Outcome {
  // Declared here and assigned by each subclass's set(), which starts the outcome of a new reading (forgetting what
  // a layer above set, or a sentence worded, for the last one): not class fields, since defining fields on a fresh
  // outcome per reading cost ~10% of judging; and not in a shared method of this class, whose stores would each
  // see every detector's outcome class (polymorphic property stores were ~20% of judging: the set() of each class
  // stores to one shape only).
  declare score: number;
  declare deviation: number;
  declare expected: number;
  declare low: number;
  declare high: number;
  declare detector?: DetectorType;
  /** The sentence, once worded or set; set() clears it. */
  declare protected text: string | undefined;

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
