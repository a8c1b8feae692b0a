/**
 * What-if preload (BENCH_WHATIF=status, never on by default): makes Node-RED's
 * RED._() return the bare key for the per-message status texts of the decode and
 * validate nodes (`*.status.counts`), as if those nodes translated only when the
 * throttled status is actually shown. It estimates what that fix would gain; it
 * changes no file of the product. Loaded with --require before Node-RED starts,
 * so every copy of RED._ is the patched one.
 */
import { join } from 'node:path';

const i18n = (require(join(__dirname, '..', '..', 'node_modules', '@node-red', 'util')) as { i18n: Record<string, unknown> }).i18n;
const original = i18n._ as (...args: unknown[]) => string;
i18n._ = function translate(this: unknown, ...args: unknown[]): string {
  const key = args[0];
  if (typeof key === 'string' && key.endsWith('.status.counts')) return key;
  return original.apply(this, args);
};
