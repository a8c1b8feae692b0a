/**
 * Alert rule engine throughput and memory: readings through 100 rules over
 * 10,000 devices. Each reading carries the five fields the rules watch, so
 * every reading meets all 100 rules; about 0.2% of the values cross a threshold,
 * so alerts go pending, fire and clear during the run. Memory: heap per
 * (rule, device) pair once every device has reported.
 * Run alone: node dist/bench/alerts.js
 */
import { collectGarbage } from './common';
import { RuleEngine } from '../nodes/lib/rules/engine';
import type { Rule } from '../nodes/lib/rules/types';
import type { Reading } from '../nodes/lib/reading';

export interface AlertsBenchRow {
  what: string;
  readingsPerSec: number;
  bytesPerPair: number;
  transitions: number;
}

const DEVICES = 10_000;
const RULES = 100;
const FIELDS = ['temperature', 'humidity', 'pressure', 'vibration', 'power'];
const MEAN: Record<string, number> = { temperature: 22, humidity: 50, pressure: 1013, vibration: 2, power: 400 };
const SPREAD: Record<string, number> = { temperature: 4, humidity: 10, pressure: 8, vibration: 0.5, power: 60 };

/** 100 rules of every kind the form offers, spread over the five fields. */
export function benchRules(): Rule[] {
  const rules: Rule[] = [];
  for (let i = 0; i < RULES; i++) {
    const field = FIELDS[i % FIELDS.length];
    const m = MEAN[field];
    const sd = SPREAD[field];
    const base = { id: `r${i}`, name: `rule ${i}`, severity: 'warning' as const, devices: { all: true } as Rule['devices'] };
    const kind = Math.floor(i / FIELDS.length) % 10;
    let rule: Rule;
    switch (kind) {
      case 0:
        rule = { ...base, when: { field, op: 'above', value: m + 2 * sd, for: '30s' }, clear: { op: 'below', value: m + 1.5 * sd } };
        break;
      case 1:
        rule = { ...base, when: { field, op: 'below', value: m - 2 * sd, for: '1m' }, clear: { for: '2m' } };
        break;
      case 2:
        rule = { ...base, when: { field, op: 'outside', low: m - 2.2 * sd, high: m + 2.2 * sd }, escalate: { severity: 'critical', after: '10m' }, remindEvery: '5m' };
        break;
      case 3:
        rule = { ...base, when: { field, op: 'inside', low: m + 1.9 * sd, high: m + 2.5 * sd, for: '10s' } };
        break;
      case 4:
        rule = { ...base, devices: { tags: { site: `site-${i % 4}` } }, when: { field, op: 'above', value: m + 2 * sd, valueTag: `${field}_max` } };
        break;
      case 5:
        rule = { ...base, when: { field, op: 'above', value: m + 2.1 * sd }, flap: { changes: 5, within: '10m' }, keepFiringFor: '1m' };
        break;
      case 6:
        rule = { ...base, when: { all: [{ field, op: 'above', value: m + 1.5 * sd }, { field: FIELDS[(i + 1) % FIELDS.length], op: 'above', value: MEAN[FIELDS[(i + 1) % FIELDS.length]] + sd }], for: '20s' } };
        break;
      case 7:
        rule = { ...base, timezone: 'Europe/Berlin', schedule: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '08:00', to: '18:00' }], when: { field, op: 'above', value: m + 2 * sd } };
        break;
      case 8:
        rule = { ...base, when: { field, op: 'above', value: m + 2 * sd }, escalate: { severity: 'critical', op: 'above', value: m + 3 * sd } };
        break;
      default:
        rule = { ...base, devices: { list: Array.from({ length: 500 }, (_, k) => `dev-${(k * 20 + i) % DEVICES}`) }, when: { field, op: 'below', value: m - 2 * sd, for: '5s' } };
    }
    rules.push(rule);
  }
  return rules;
}

/** Deterministic noise in [-1, 1). */
function noise(a: number, b: number): number {
  const x = Math.sin(a * 12.9898 + b * 78.233) * 43758.5453;
  return (x - Math.floor(x)) * 2 - 1;
}

function readingsFor(round: number, t0: number): Reading[] {
  const out: Reading[] = new Array(DEVICES);
  for (let d = 0; d < DEVICES; d++) {
    const fields: Record<string, number> = {};
    for (let f = 0; f < FIELDS.length; f++) {
      const name = FIELDS[f];
      // Mostly within ±1.5 σ; about 0.2% of values further out.
      const n = noise(d * 7 + f, round);
      fields[name] = MEAN[name] + SPREAD[name] * (Math.abs(n) > 0.998 ? n * 3 : n * 1.5);
    }
    out[d] = { device: `dev-${d}`, ts: t0 + round * 10_000, fields, tags: { site: `site-${d % 4}` } };
  }
  return out;
}

export async function benchAlerts(): Promise<AlertsBenchRow[]> {
  const gc = collectGarbage();
  // A Monday at noon in Berlin, so the scheduled rules are active.
  const t0 = Date.UTC(2026, 0, 5, 11, 0, 0);
  let now = t0;
  const rounds = 40;
  // Readings are built before the clock starts, so the figure is the engine's alone.
  const batches: Reading[][] = [];
  for (let r = 0; r < rounds + 2; r++) batches.push(readingsFor(r, t0));

  gc();
  const before = process.memoryUsage().heapUsed;
  const engine = new RuleEngine(benchRules(), { clock: () => now });
  // Two rounds first: every device known, first alerts under way.
  let transitions = 0;
  for (let r = 0; r < 2; r++) {
    now = t0 + r * 10_000;
    transitions += engine.process(batches[r]).length;
  }
  gc();
  const after = process.memoryUsage().heapUsed;
  const bytesPerPair = Math.max(0, after - before) / (DEVICES * RULES);

  const t = process.hrtime.bigint();
  for (let r = 2; r < rounds + 2; r++) {
    now = t0 + r * 10_000;
    const batch = batches[r];
    // Messages of 100 readings, as the pipeline delivers them, and the timers once a round.
    for (let i = 0; i < batch.length; i += 100) transitions += engine.process(batch.slice(i, i + 100)).length;
    transitions += engine.tick().length;
  }
  const seconds = Number(process.hrtime.bigint() - t) / 1e9;
  const readings = rounds * DEVICES;
  return [{ what: `${RULES} rules × ${DEVICES.toLocaleString('en-US')} devices, 5 fields/reading`, readingsPerSec: Math.round(readings / seconds), bytesPerPair: Math.round(bytesPerPair), transitions }];
}

export function alertsTable(rows: AlertsBenchRow[]): string {
  const lines = [['rule engine', 'readings/s', 'bytes/(rule, device)', 'transitions'], ...rows.map((r) => [r.what, r.readingsPerSec.toLocaleString('en-US'), r.bytesPerPair.toLocaleString('en-US'), r.transitions.toLocaleString('en-US')])];
  const widths = [0, 1, 2, 3].map((i) => Math.max(...lines.map((l) => l[i].length)));
  const fmt = (l: string[]) => `| ${l[0].padEnd(widths[0])} | ${l.slice(1).map((c, i) => c.padStart(widths[i + 1])).join(' | ')} |`;
  return [fmt(lines[0]), `|${'-'.repeat(widths[0] + 2)}|${widths.slice(1).map((w) => `${'-'.repeat(w + 1)}:`).join('|')}|`, ...lines.slice(1).map(fmt)].join('\n');
}

if (require.main === module) {
  benchAlerts().then((rows) => console.log(alertsTable(rows)));
}
