/**
 * NAB-style scoring (Numenta Anomaly Benchmark). A detection inside a labelled
 * window counts once, weighted by how early it came (scaled sigmoid over the
 * position in the window); a detection outside every window is a false
 * positive, penalised less just after a window; a window with no detection is
 * a miss. The first 15% of a file (at most 750 points) is a probation period
 * that is not scored. Totals are normalised so that a detector that never
 * fires scores 0 and one that fires at the start of every window scores 100.
 */
import { parseTimestamp } from '../reading';
import { DetectorConfigError } from '../errors';

export interface NabProfile {
  name: string;
  tp: number;
  fp: number;
  fn: number;
}

export const NAB_PROFILES: readonly NabProfile[] = [
  { name: 'standard', tp: 1, fp: 0.11, fn: 1 },
  { name: 'reward_low_FP_rate', tp: 1, fp: 0.22, fn: 1 },
  { name: 'reward_low_FN_rate', tp: 1, fp: 0.11, fn: 2 },
];

/** Start and end, epoch ms, both inclusive. */
export type LabelWindow = [number, number];

export interface NabFile {
  name: string;
  timestamps: readonly number[];
  scores: readonly number[];
  windows: readonly LabelWindow[];
}

export interface NabFileScore {
  name: string;
  raw: number;
  /** 0 = never fires, 100 = every window at its start with no false positive. */
  normalized: number;
  windows: number;
  detected: number;
  falsePositives: number;
}

export interface NabResult {
  profile: string;
  threshold: number;
  files: NabFileScore[];
  total: { raw: number; normalized: number; windows: number; detected: number; falsePositives: number };
}

export function scaledSigmoid(position: number): number {
  if (position > 3) return -1;
  return 2 / (1 + Math.exp(5 * position)) - 1;
}

const MAX_TP = scaledSigmoid(-1);

export function probationLength(n: number): number {
  return Math.min(Math.floor(0.15 * n), 750);
}

/** Per point: the window it falls in (-1 none) and its weight if it fires, before profile weights. */
interface Layout {
  window: Int32Array;
  /** In a window: scaled sigmoid / max (0..1]. Outside: scaled sigmoid (-1..0]. */
  weight: Float64Array;
  probation: number;
  windows: number;
}

function layout(f: NabFile): Layout {
  const n = f.timestamps.length;
  const window = new Int32Array(n).fill(-1);
  const weight = new Float64Array(n);
  const wins = [...f.windows].sort((a, b) => a[0] - b[0]);
  let prevRight = -1;
  let prevWidth = 0;
  let w = 0;
  let i = 0;
  while (i < n) {
    const t = f.timestamps[i];
    while (w < wins.length && wins[w][1] < t) w++;
    if (w < wins.length && t >= wins[w][0]) {
      let right = i;
      while (right + 1 < n && f.timestamps[right + 1] <= wins[w][1]) right++;
      const width = right - i + 1;
      for (let k = i; k <= right; k++) {
        window[k] = w;
        weight[k] = scaledSigmoid(-(right - k + 1) / width) / MAX_TP;
      }
      prevRight = right;
      prevWidth = width;
      i = right + 1;
      w++;
      continue;
    }
    weight[i] = prevRight < 0 ? -1 : scaledSigmoid(Math.abs(prevRight - i) / Math.max(1, prevWidth - 1));
    i++;
  }
  return { window, weight, probation: probationLength(n), windows: wins.length };
}

function check(f: NabFile): void {
  if (f.timestamps.length !== f.scores.length) {
    throw new DetectorConfigError(`${f.name}: ${f.timestamps.length} timestamps but ${f.scores.length} scores`, { file: f.name });
  }
}

/** NAB scores of every file and the corpus at one threshold (a point fires when score >= threshold). */
export function scoreNab(files: readonly NabFile[], threshold: number, profile: NabProfile): NabResult {
  const out: NabFileScore[] = [];
  for (const f of files) {
    check(f);
    const l = layout(f);
    const best = new Float64Array(l.windows).fill(-Infinity);
    let fpSum = 0;
    let fps = 0;
    for (let i = l.probation; i < f.scores.length; i++) {
      if (!(f.scores[i] >= threshold)) continue;
      const w = l.window[i];
      if (w >= 0) best[w] = Math.max(best[w], l.weight[i] * profile.tp);
      else {
        fpSum += l.weight[i] * profile.fp;
        fps++;
      }
    }
    let raw = fpSum;
    let detected = 0;
    for (const b of best) {
      if (b === -Infinity) raw -= profile.fn;
      else {
        raw += b;
        detected++;
      }
    }
    out.push({ name: f.name, raw, normalized: normalise(raw, l.windows, profile), windows: l.windows, detected, falsePositives: fps });
  }
  const sum = (k: 'raw' | 'windows' | 'detected' | 'falsePositives') => out.reduce((a, f) => a + f[k], 0);
  const windows = sum('windows');
  return {
    profile: profile.name,
    threshold,
    files: out,
    total: { raw: sum('raw'), normalized: normalise(sum('raw'), windows, profile), windows, detected: sum('detected'), falsePositives: sum('falsePositives') },
  };
}

function normalise(raw: number, windows: number, p: NabProfile): number {
  if (windows === 0) return NaN;
  const nullScore = -p.fn * windows;
  return (100 * (raw - nullScore)) / (p.tp * windows - nullScore);
}

/**
 * The single threshold (for all files) that maximises the corpus score, as
 * NAB's optimiser picks it. Every score is tried in one sorted sweep.
 */
export function bestThreshold(files: readonly NabFile[], profile: NabProfile): number {
  const layouts = files.map((f) => (check(f), layout(f)));
  const points: Array<[number, number, number]> = [];
  files.forEach((f, fi) => {
    for (let i = layouts[fi].probation; i < f.scores.length; i++) points.push([f.scores[i], fi, i]);
  });
  points.sort((a, b) => b[0] - a[0]);
  const best = layouts.map((l) => new Float64Array(l.windows).fill(-Infinity));
  let raw = -profile.fn * layouts.reduce((a, l) => a + l.windows, 0);
  let bestRaw = raw;
  let bestT = Infinity;
  for (let k = 0; k < points.length; k++) {
    const [score, fi, i] = points[k];
    const l = layouts[fi];
    const w = l.window[i];
    if (w >= 0) {
      const v = l.weight[i] * profile.tp;
      const old = best[fi][w];
      if (v > old) {
        raw += old === -Infinity ? v + profile.fn : v - old;
        best[fi][w] = v;
      }
    } else {
      raw += l.weight[i] * profile.fp;
    }
    // A threshold takes all points with the same score at once.
    if ((k + 1 === points.length || points[k + 1][0] !== score) && raw > bestRaw) {
      bestRaw = raw;
      bestT = score;
    }
  }
  return bestT;
}

/** Reads NAB's windows.json: {"dir/file.csv": [["start", "end"], ...]}. */
export function parseLabels(json: unknown): Map<string, LabelWindow[]> {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new DetectorConfigError('labels must be an object of file name to a list of [start, end] windows', { parameter: 'labels' });
  }
  const out = new Map<string, LabelWindow[]>();
  for (const [file, wins] of Object.entries(json)) {
    if (!Array.isArray(wins)) throw new DetectorConfigError(`labels for ${file} must be a list of [start, end] windows`, { parameter: file });
    out.set(
      file,
      wins.map((w, i) => {
        if (!Array.isArray(w) || w.length !== 2) throw new DetectorConfigError(`labels for ${file}, window ${i + 1}, must be [start, end]`, { parameter: file });
        return [nabTime(w[0]), nabTime(w[1])] as LabelWindow;
      }),
    );
  }
  return out;
}

/** NAB times carry no zone and are UTC; epoch numbers and zoned ISO times are taken as they are. */
export function nabTime(v: unknown): number {
  if (typeof v === 'string' && /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(v.trim())) {
    // Date.parse reads 7+ fraction digits inconsistently; NAB's microseconds add nothing at ms precision.
    return parseTimestamp(v.trim().replace(/(\.\d{3})\d+$/, '$1') + 'Z');
  }
  return parseTimestamp(v);
}
