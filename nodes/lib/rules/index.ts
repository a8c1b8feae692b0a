/** Alert rules: the model, validation, the engine and its persistence. */
export * from './types';
export { validateRule, validatePack, ruleSchema, RULE_SCHEMA_PATH } from './validate';
export { RuleEngine, type EngineOptions, type EngineState, type EngineChanges, type AlertFilter } from './engine';
export { durationMs, durationText, durationWords } from './duration';
