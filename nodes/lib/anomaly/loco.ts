/**
 * Leave-one-category-out choice of a detector configuration. The files fall
 * into categories (kinds of series); for each category, the candidate that
 * scores best on all the other categories is chosen and then scored on the
 * one held out, so each held-out score says how well the choosing procedure
 * does on a kind of series it never saw. One threshold per candidate for all
 * files, as NAB's rules ask. Finally the same choice on every category gives
 * the configuration to ship.
 */
import { NAB_PROFILES, scoreNab, type NabFile, type NabProfile } from './nab';

export interface LocoCandidate {
  name: string;
  threshold: number;
}

export interface CategoryScore {
  category: string;
  normalized: number;
  windows: number;
  detected: number;
  falsePositives: number;
}

export interface LocoFold {
  heldOut: string;
  /** Index of the candidate chosen on the other categories. */
  chosen: number;
  /** Its score on the other categories (what it was chosen by). */
  tuning: number;
  /** Its score on the held-out category. */
  score: CategoryScore;
}

export interface LocoReport {
  categories: string[];
  /** Per candidate: its score on each category (same order as `categories`) and on the whole set. */
  table: Array<{ perCategory: CategoryScore[]; whole: number }>;
  folds: LocoFold[];
  /** Mean of the held-out scores. */
  mean: number;
  /** The candidate chosen on every category: the one to ship. */
  final: { chosen: number; whole: number; perCategory: CategoryScore[] };
}

/** A file's category: the first folder of its path ("realAWSCloudwatch/x.csv" → "realAWSCloudwatch"); "" at top level. */
export function categoryOf(name: string): string {
  const i = name.indexOf('/');
  return i < 0 ? '' : name.slice(0, i);
}

function total(files: readonly NabFile[], threshold: number, profile: NabProfile): number {
  return scoreNab(files, threshold, profile).total.normalized;
}

function categoryScore(category: string, files: readonly NabFile[], threshold: number, profile: NabProfile): CategoryScore {
  const t = scoreNab(files, threshold, profile).total;
  return { category, normalized: t.normalized, windows: t.windows, detected: t.detected, falsePositives: t.falsePositives };
}

/** The candidate with the best score on `files`; the first one on ties, so list preferred (simpler) candidates first. */
function best(scored: readonly NabFile[][], candidates: readonly LocoCandidate[], pick: (f: NabFile) => boolean, profile: NabProfile): [number, number] {
  let at = -1;
  let top = -Infinity;
  scored.forEach((files, i) => {
    const s = total(files.filter(pick), candidates[i].threshold, profile);
    if (s > top) {
      top = s;
      at = i;
    }
  });
  return [at, top];
}

/**
 * `scored[i]` holds candidate i's scores on every file, in the same file
 * order for every candidate. Categories without labelled windows cannot be
 * scored and are neither held out nor reported (their files still count in
 * the tuning totals, where false alarms cost).
 */
export function leaveOneCategoryOut(scored: readonly NabFile[][], candidates: readonly LocoCandidate[], profile: NabProfile = NAB_PROFILES[0]): LocoReport {
  if (scored.length === 0 || scored.length !== candidates.length) throw new RangeError('one list of scored files per candidate is needed');
  const files = scored[0];
  const all = [...new Set(files.map((f) => categoryOf(f.name)))].sort();
  const windows = (c: string) => files.filter((f) => categoryOf(f.name) === c).reduce((a, f) => a + f.windows.length, 0);
  const categories = all.filter((c) => windows(c) > 0);
  const per = (list: readonly NabFile[], threshold: number) => categories.map((c) => categoryScore(c, list.filter((f) => categoryOf(f.name) === c), threshold, profile));
  const table = scored.map((list, i) => ({ perCategory: per(list, candidates[i].threshold), whole: total(list, candidates[i].threshold, profile) }));
  const folds: LocoFold[] = categories.map((heldOut) => {
    const [chosen, tuning] = best(scored, candidates, (f) => categoryOf(f.name) !== heldOut, profile);
    return { heldOut, chosen, tuning, score: table[chosen].perCategory[categories.indexOf(heldOut)] };
  });
  const [chosen] = best(scored, candidates, () => true, profile);
  return {
    categories,
    table,
    folds,
    mean: folds.reduce((a, f) => a + f.score.normalized, 0) / Math.max(1, folds.length),
    final: { chosen, whole: table[chosen].whole, perCategory: table[chosen].perCategory },
  };
}
