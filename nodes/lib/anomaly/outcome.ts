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
  detector?: DetectorType = undefined;
  private text: string | undefined = undefined;

  constructor(
    public score: number,
    public deviation: number,
    public expected: number,
    public low: number,
    public high: number,
  ) {}

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
