/** Anomaly detection: the engine the node holds, detectors, backtest and NAB scoring. */
export { AnomalyEngine, type AnomalyEngineOptions, type ReadingResult, type SeriesRef, type EngineStats, type EngineState } from './engine';
export { HeartbeatTimer, type HeartbeatEvent, type HeartbeatOptions } from './heartbeat';
export { compileDetector, DEFAULT_DETECTOR, DETECTOR_TYPES } from './config';
export { backtest, type Point, type BacktestOptions, type BacktestResult } from './backtest';
export { scoreNab, bestThreshold, parseLabels, NAB_PROFILES, type NabFile, type NabResult, type NabProfile, type LabelWindow } from './nab';
export { parseSeriesCsv, formatScoresCsv } from './csv';
export type * from './types';
export { backtestHistory, MAX_BACKTEST_POINTS, MAX_LISTED, DEFAULT_LISTED, type HistoryBacktestQuery, type HistoryBacktestResult, type FlaggedReading } from './history';
export { leaveOneCategoryOut, categoryOf, type LocoCandidate, type LocoReport, type LocoFold, type CategoryScore } from './loco';
export { writeStateFile, readStateFile, stateFileHead, stateFileOf, removeStateFile, type SavedStateFile } from './state-file';
