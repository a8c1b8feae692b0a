/** Shapes shared by the detectors, the engine, the backtest and the node. */

/** A duration: "30s", "5m", "1h", "1d", "1w", or milliseconds. */
export type Duration = string | number;

interface Common {
  /** Readings a series must have seen before this detector gives verdicts. */
  warmup?: number;
}

/** Detectors that score a deviation in standard deviations. */
interface Adaptive extends Common {
  /**
   * Readings over which a past large deviation fades to half. An alarm needs a
   * deviation beyond both the threshold and the series' recent largest swing
   * in that direction; 0 turns this off.
   */
  memory?: number;
}

/** Fixed limits; `fields` sets them per field name and wins over min/max. */
export interface LimitsConfig extends Common {
  type: 'limits';
  min?: number;
  max?: number;
  fields?: Record<string, { min?: number; max?: number }>;
}

/** Distance from the mean of a rolling time window, in standard deviations. */
export interface ZScoreConfig extends Adaptive {
  type: 'zscore';
  window?: Duration;
  /** Cap on points kept per series, to bound memory on fast series. */
  maxPoints?: number;
  /** Alarm at this many standard deviations. */
  threshold?: number;
  /** Median and MAD instead of mean and standard deviation: past spikes do not widen the band. */
  robust?: boolean;
  /**
   * With `robust`, the spread is at least what the middle 90% of the window
   * spans, so the usual bursts of a bursty series are not dozens of σ away (default true).
   */
  tails?: boolean;
}

/** EWMA control chart: catches small sustained shifts and drifts. */
export interface EwmaConfig extends Adaptive {
  type: 'ewma';
  /** Weight of the newest reading in the smoothed value (0..1]. */
  lambda?: number;
  /** Control limit in standard deviations of the smoothed value. */
  threshold?: number;
  /** How fast the in-control mean and spread follow the data (0..1]. */
  baselineAlpha?: number;
}

/** Additive Holt-Winters: level, trend and a repeating season. */
export interface HoltWintersConfig extends Adaptive {
  type: 'holtwinters';
  /** Season length, "auto" to find it in the warm-up history, or "none". */
  season?: Duration | 'auto' | 'none';
  alpha?: number;
  beta?: number;
  gamma?: number;
  /**
   * With a daily season, also learn how each part of the week differs from
   * the average day, and use it once it forecasts clearly better (default true).
   */
  weekly?: boolean;
  /** Alarm at this many standard deviations of the forecast error. */
  threshold?: number;
}

/** Isolation Forest over shingles (the last few values) of a sliding window. */
export interface IsolationForestConfig extends Common {
  type: 'iforest';
  /** Points kept for training. */
  window?: number;
  trees?: number;
  sampleSize?: number;
  retrainEvery?: number;
  /** How many consecutive values make one feature vector. */
  shingle?: number;
  /** Alarm when s(x, n) = 2^(-E[h(x)]/c(n)) reaches this. */
  cut?: number;
  seed?: number;
}

/** A value stuck for much longer than the series was ever stuck before. */
export interface FlatlineConfig extends Common {
  type: 'flatline';
  /** Values within this distance count as the same. */
  tolerance?: number;
  /** Never alarm before the value has been stuck for this many readings. */
  minReadings?: number;
  /** Alarm once a run is this many times the longest run seen before. */
  factor?: number;
}

/** A value at a level the series has not visited in its recent history. */
export interface NoveltyConfig extends Common {
  type: 'novelty';
  /** Levels the usual range (the middle 90% of the warm-up) is split into; a value alarms a whole level away from every recent one. */
  resolution?: number;
  /** Readings after which a level the series visited counts as unvisited again. */
  horizon?: number;
}

/** Change per second beyond a fixed maximum or beyond what the series usually does. */
export interface RateConfig extends Adaptive {
  type: 'rate';
  /** Units per second; when absent the usual rate is learned. */
  maxRate?: number;
  window?: Duration;
  threshold?: number;
}

/** Runs several detectors and reports the most alarming (max) or the average (mean). */
export interface EnsembleConfig extends Common {
  type: 'ensemble';
  members: DetectorConfig[];
  combine?: 'max' | 'mean';
}

/**
 * Judges how improbable the recent deviations of another detector are,
 * against that series' own long-run behaviour, and alarms on that.
 */
export interface LikelihoodConfig extends Common {
  type: 'likelihood';
  /** The detector whose deviations are judged; the standard ensemble when absent. */
  detector?: DetectorConfig;
  /** Readings averaged into "recent behaviour". */
  short?: number;
  /** Half-life in readings of the long-run distribution the recent behaviour is compared with. */
  long?: number;
  /** Alarm when recent behaviour this unusual is expected less often than this (0..1). */
  probability?: number;
  /** Readings after an alarm during which the same episode does not alarm again. */
  quiet?: number;
  /** Readings of inner verdicts learned before this layer judges; until then the inner detector's alarms are held back. */
  learn?: number;
  /**
   * Also judge large deviations by how often deviations that large came
   * before, so spikes that recur on a series are not alarms (default true).
   */
  recurrence?: boolean;
  /**
   * How long a new series is watched before it gives verdicts (e.g. "1d", at most 2,016 readings;
   * default 0 = none). With "1d", a daily cycle's first rise and fall are not anomalies, and nothing
   * is flagged in a new series' first day either.
   */
  settle?: Duration | 0;
}

export type DetectorConfig =
  | LimitsConfig
  | ZScoreConfig
  | EwmaConfig
  | HoltWintersConfig
  | IsolationForestConfig
  | FlatlineConfig
  | RateConfig
  | NoveltyConfig
  | EnsembleConfig
  | LikelihoodConfig;

export type DetectorType = DetectorConfig['type'];

/** What a reading's field is judged to be. */
export interface Verdict {
  /** 0 = perfectly normal, 0.5 = at the alarm level, 1 = far beyond it. */
  score: number;
  isAnomaly: boolean;
  /** The detector that explains the score. */
  detector: DetectorType;
  expected: number;
  band: [number, number];
  /** A sentence for people: what is unusual and compared with what. */
  reason: string;
  /**
   * The field judged. A reading's verdicts are also given one at a time (the anomaly node puts only the worst on a
   * reading it watches one field of, whatever other numbers it carries), and the rules read this to tell which.
   */
  field: string;
}

/** Naming of the value in a reason. */
export interface FieldContext {
  field: string;
  unit?: string;
}

/** One detector's view of a reading; the engine turns it into a Verdict. */
export interface Outcome {
  score: number;
  expected: number;
  low: number;
  high: number;
  reason: string;
  /** Set by an ensemble: the member whose reason this is. */
  detector?: DetectorType;
  /**
   * How far the value is from normal in units of the detector's configured
   * alarm level (1 = at it), before the memory of past swings raises the
   * bar. The likelihood layer reads it; when absent it is derived from score.
   */
  deviation?: number;
}

export interface Detector {
  readonly type: DetectorType;
  /** Judges a value, then learns from it. Null while warming up. */
  update(ts: number, value: number, ctx: FieldContext): Outcome | null;
  /** Everything needed to continue exactly where this detector is. */
  toJSON(): unknown;
  /**
   * Its alarms are rare by construction (not a deviation whose usual size
   * depends on the series), so a likelihood layer lets them stand instead of
   * judging them against their own history.
   */
  readonly selfCalibrated?: boolean;
}
