/**
 * `upperstack backtest --loco`: runs every candidate configuration over every
 * labelled file (scores cached on disk when asked, keyed by the detector code,
 * the config and the file), then chooses leave-one-category-out and prints the
 * report. Progress goes to stderr, so the report on stdout stays clean.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { backtest, leaveOneCategoryOut, NAB_PROFILES, scoreNab, type DetectorConfig, type LabelWindow, type LocoCandidate, type NabFile, type Point } from '../nodes/lib/anomaly';

export interface Candidate extends LocoCandidate {
  detector?: DetectorConfig;
  warmup?: number;
}

export interface LabelledSeries {
  name: string;
  text: string;
  points: Point[];
  windows: LabelWindow[];
}

/** The compiled detector code: cached scores are reused only while it is unchanged. */
function codeVersion(): string {
  const h = createHash('sha256');
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.js')) h.update(e.name).update(readFileSync(p));
    }
  };
  walk(join(__dirname, '..', 'nodes', 'lib', 'anomaly'));
  return h.digest('hex');
}

function scoresOf(s: LabelledSeries, c: Candidate, cache: string | undefined, version: string): number[] {
  const key = cache && createHash('sha256').update(version).update(JSON.stringify([c.detector ?? null, c.warmup ?? null])).update(s.text).digest('hex');
  const file = cache && join(cache, `${key}.f64`);
  if (file && existsSync(file)) {
    const buf = readFileSync(file);
    const arr = new Float64Array(buf.buffer, buf.byteOffset, buf.byteLength / 8);
    if (arr.length === s.points.length) return Array.from(arr);
  }
  const { scores } = backtest(s.points, c.detector, { threshold: c.threshold, warmup: c.warmup });
  if (file) writeFileSync(file, Buffer.from(Float64Array.from(scores).buffer));
  return scores;
}

const fmt = (n: number, w = 8) => (Number.isFinite(n) ? n.toFixed(1) : '-').padStart(w);

export function runLoco(series: LabelledSeries[], candidates: Candidate[], opts: { cache?: string; progress: NodeJS.WriteStream }): string {
  if (opts.cache) mkdirSync(opts.cache, { recursive: true });
  const version = codeVersion();
  const tty = opts.progress.isTTY;
  const scored: NabFile[][] = [];
  const started = Date.now();
  candidates.forEach((c, ci) => {
    const t0 = Date.now();
    scored.push(
      series.map((s, fi) => {
        if (tty) opts.progress.write(`\rcandidate ${ci + 1}/${candidates.length}, file ${fi + 1}/${series.length} ${s.name.slice(0, 50).padEnd(50)}`);
        return { name: s.name, timestamps: s.points.map((p) => p.ts), scores: scoresOf(s, c, opts.cache, version), windows: s.windows };
      }),
    );
    const line = `candidate ${ci + 1}/${candidates.length} (${c.name}) scored in ${((Date.now() - t0) / 1000).toFixed(1)} s, ${((Date.now() - started) / 1000).toFixed(0)} s so far`;
    opts.progress.write(tty ? `\r${line.padEnd(80)}\n` : `${line}\n`);
  });
  const r = leaveOneCategoryOut(scored, candidates);
  const out: string[] = [];
  const nameW = Math.max(9, ...candidates.map((c) => c.name.length));
  const catW = Math.max(8, ...r.categories.map((c) => c.length));
  out.push('NAB standard profile; each candidate has one threshold for all files.');
  out.push('');
  out.push(`${'candidate'.padEnd(nameW)} ${r.categories.map((c) => c.slice(0, 12).padStart(12)).join(' ')} ${'whole set'.padStart(9)}`);
  r.table.forEach((row, i) => out.push(`${candidates[i].name.padEnd(nameW)} ${row.perCategory.map((s) => fmt(s.normalized, 12)).join(' ')} ${fmt(row.whole, 9)}`));
  out.push('');
  out.push('Leave one category out: chosen on the other categories, scored on the one held out');
  out.push(`${'held out'.padEnd(catW)} ${'chosen'.padEnd(nameW)} ${'tuning'.padStart(8)} ${'held-out'.padStart(8)}  detected  false_pos`);
  for (const f of r.folds) {
    out.push(`${f.heldOut.padEnd(catW)} ${candidates[f.chosen].name.padEnd(nameW)} ${fmt(f.tuning)} ${fmt(f.score.normalized)}  ${`${f.score.detected}/${f.score.windows}`.padStart(8)}  ${String(f.score.falsePositives).padStart(9)}`);
  }
  out.push(`${'MEAN'.padEnd(catW)} ${''.padEnd(nameW)} ${''.padStart(8)} ${fmt(r.mean)}`);
  out.push('');
  const chosen = candidates[r.final.chosen];
  const profiles = NAB_PROFILES.map((p) => scoreNab(scored[r.final.chosen], chosen.threshold, p).total.normalized);
  out.push(`Chosen on all categories: ${chosen.name}`);
  out.push(`  whole set: ${profiles.map((s, i) => `${NAB_PROFILES[i].name} ${s.toFixed(1)}`).join(', ')}`);
  out.push(`  per category: ${r.final.perCategory.map((s) => `${s.category} ${s.normalized.toFixed(1)} (${s.detected}/${s.windows}, ${s.falsePositives} FP)`).join('; ')}`);
  return out.join('\n') + '\n';
}

/** A candidates file: a JSON list of detector configs or of {name, detector, threshold, warmup}. */
export function parseCandidates(json: unknown, fallback: Candidate, where: string): Candidate[] {
  if (!Array.isArray(json) || json.length === 0) throw new Error(`${where} must be a non-empty JSON list of candidate configs`);
  return json.map((c, i) => {
    if (typeof c !== 'object' || c === null || Array.isArray(c)) throw new Error(`${where}: candidate ${i + 1} must be an object`);
    const o = c as Record<string, unknown>;
    if ('type' in o) return { name: `#${i + 1}`, detector: o as unknown as DetectorConfig, threshold: fallback.threshold };
    const threshold = o.threshold ?? fallback.threshold;
    if (typeof threshold !== 'number' || !(threshold > 0 && threshold <= 1)) throw new Error(`${where}: candidate ${i + 1} has a threshold outside (0, 1]`);
    return {
      name: typeof o.name === 'string' ? o.name : `#${i + 1}`,
      detector: o.detector as DetectorConfig | undefined,
      threshold,
      warmup: o.warmup as number | undefined,
    };
  });
}
