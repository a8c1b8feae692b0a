/** Detector configs: defaults, validation, and building detectors from them. */
import { DetectorConfigError } from '../errors';
import { EnsembleDetector } from './detectors/ensemble';
import { EwmaDetector, ewmaSettings, type EwmaState } from './detectors/ewma';
import { FlatlineDetector, flatlineSettings, type FlatlineState } from './detectors/flatline';
import { HoltWintersDetector, holtWintersSettings, type HoltWintersState } from './detectors/holtwinters';
import { IsolationForestDetector, isolationForestSettings, type IsolationForestState } from './detectors/iforest';
import { LikelihoodDetector, likelihoodSettings, type LikelihoodState } from './detectors/likelihood';
import { LimitsDetector, limitsSettings, type LimitsState } from './detectors/limits';
import { NoveltyDetector, noveltySettings, type NoveltyState } from './detectors/novelty';
import { RateDetector, rateSettings, type RateState } from './detectors/rate';
import { ZScoreDetector, zscoreSettings, type ZScoreState } from './detectors/zscore';
import type { Detector, DetectorConfig, DetectorType, EnsembleConfig } from './types';

/** The members the default judges; also what a likelihood layer without a `detector` wraps. */
export const STANDARD_ENSEMBLE: EnsembleConfig = {
  type: 'ensemble',
  combine: 'max',
  members: [{ type: 'zscore' }, { type: 'holtwinters' }, { type: 'flatline' }, { type: 'novelty' }],
};
/**
 * What runs when nothing is configured: the standard members under the
 * likelihood layer. Novelty reports single values at new levels, so the layer
 * only has spells left to report and alarms at a stricter probability than
 * its own default. See docs/anomaly.md for how both were chosen.
 */
export const DEFAULT_DETECTOR: DetectorConfig = { type: 'likelihood', probability: 1e-7, detector: STANDARD_ENSEMBLE };

export const DETECTOR_TYPES: readonly DetectorType[] = ['limits', 'zscore', 'ewma', 'holtwinters', 'iforest', 'flatline', 'rate', 'novelty', 'ensemble', 'likelihood'];

/**
 * A factory per validated config: settings are worked out once, at deploy
 * time, and each new series only pays for its own state.
 */
export type DetectorFactory = (state?: unknown) => Detector;

/** Applies a warm-up set for the whole engine to every detector that has none of its own. */
function withWarmup(c: DetectorConfig, warmup: number | undefined): DetectorConfig {
  return warmup === undefined || c.warmup !== undefined ? c : { ...c, warmup };
}

function compileMembers(c: EnsembleConfig, warmup: number | undefined, reuse: boolean): DetectorFactory[] {
  if (!Array.isArray(c.members) || c.members.length === 0) {
    throw new DetectorConfigError('ensemble needs a non-empty "members" list of detector configs', { parameter: 'ensemble.members' });
  }
  const combine = c.combine ?? 'max';
  if (combine !== 'max' && combine !== 'mean') {
    throw new DetectorConfigError(`ensemble.combine must be "max" or "mean", got ${JSON.stringify(combine)}`, { parameter: 'ensemble.combine' });
  }
  const own = withWarmup(c, warmup).warmup;
  return c.members.map((m) => compileDetector(m, own, reuse));
}

/**
 * The factory for a detector config. With `reuse`, each detector keeps one
 * outcome and sets it again on every reading, so an outcome holds only until
 * that detector's next update (what the engine needs, without an object per
 * member per reading); without it every update gives a fresh outcome.
 */
export function compileDetector(config: DetectorConfig, warmup?: number, reuse = false): DetectorFactory {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new DetectorConfigError('a detector config must be an object with a "type"', { parameter: 'type' });
  }
  const c = withWarmup(config, warmup);
  // The casts hand a state back to the class that wrote it with toJSON().
  switch (c.type) {
    case 'limits': {
      const s = limitsSettings(c);
      return (st) => new LimitsDetector(s, st as LimitsState | undefined);
    }
    case 'zscore': {
      const s = zscoreSettings(c);
      return (st) => new ZScoreDetector(s, st as ZScoreState | undefined, reuse);
    }
    case 'ewma': {
      const s = ewmaSettings(c);
      return (st) => new EwmaDetector(s, st as EwmaState | undefined);
    }
    case 'holtwinters': {
      const s = holtWintersSettings(c);
      return (st) => new HoltWintersDetector(s, st as HoltWintersState | undefined, reuse);
    }
    case 'iforest': {
      const s = isolationForestSettings(c);
      return (st) => new IsolationForestDetector(s, st as IsolationForestState | undefined);
    }
    case 'flatline': {
      const s = flatlineSettings(c);
      return (st) => new FlatlineDetector(s, st as FlatlineState | undefined, reuse);
    }
    case 'rate': {
      const s = rateSettings(c);
      return (st) => new RateDetector(s, st as RateState | undefined);
    }
    case 'novelty': {
      const s = noveltySettings(c);
      return (st) => new NoveltyDetector(s, st as NoveltyState | undefined, reuse);
    }
    case 'ensemble': {
      const combine = c.combine ?? 'max';
      const members = compileMembers(c, warmup, reuse);
      return (st) => {
        const states = Array.isArray(st) ? st : [];
        return new EnsembleDetector(members.map((make, i) => make(states[i])), combine);
      };
    }
    case 'likelihood': {
      const s = likelihoodSettings(c);
      const inner = c.detector ?? STANDARD_ENSEMBLE;
      // An ensemble's members are judged one by one: each has its own usual deviations.
      const members = inner.type === 'ensemble' ? compileMembers(inner, c.warmup, reuse) : [compileDetector(inner, c.warmup, reuse)];
      return (st) => {
        // A plain ensemble's saved members (the default before this layer) carry on under it.
        const states = Array.isArray(st) ? st : Array.isArray((st as LikelihoodState | undefined)?.inner) ? (st as LikelihoodState).inner : [];
        const own = Array.isArray(st) ? undefined : (st as LikelihoodState | undefined);
        return new LikelihoodDetector(s, members.map((make, i) => make(states[i])), own, st !== undefined);
      };
    }
    default: {
      const type = (c as { type?: unknown }).type;
      throw new DetectorConfigError(`unknown detector type ${JSON.stringify(type)}; choose one of ${DETECTOR_TYPES.join(', ')}`, { parameter: 'type' });
    }
  }
}
