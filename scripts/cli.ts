#!/usr/bin/env node
/**
 * `upperstack <command> [options]`. Commands are looked up by their first
 * word, so a new one is one more entry in COMMANDS. Exit codes, the same for
 * every command: 0 done, 1 failure (a runtime or broker that cannot be
 * reached, or anything unexpected), 2 bad usage or bad input, a missing
 * command or action included (the message says which; usage on stderr).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { parseArgs } from 'node:util';
import { UpperstackError } from '../nodes/lib/errors';
import {
  backtest,
  bestThreshold,
  formatScoresCsv,
  NAB_PROFILES,
  parseLabels,
  parseSeriesCsv,
  scoreNab,
  type DetectorConfig,
  type LabelWindow,
  type NabFile,
} from '../nodes/lib/anomaly';
import { runSimulate, SIMULATE_HELP, SimulateUsageError } from './simulate';
import { AdminUsageError, DEVICES_HELP, runDevices } from './devices';
import { AdminConnectionError } from './admin-cli';
import { KEYS_HELP, runKeys } from './keys';
import { FLOWS_HELP, FlowsUsageError, runFlows } from './flows';
import { NodeRedMissingError } from './node-red-home';
import { parseCandidates, runLoco, type Candidate, type LabelledSeries } from './loco';

/** Wrong use or wrong input: reported without a stack trace, exit code 2. */
class UsageError extends Error {}

interface Command {
  summary: string;
  help: string;
  /** A number is the exit code (0 when it returns nothing). */
  run(args: string[]): Promise<void | number> | void | number;
}

const BACKTEST_HELP = `upperstack backtest: run an anomaly detector over recorded series

Usage:
  upperstack backtest --input <series.csv|folder> [--config detector.json]
                      [--output <scores.csv|folder>] [--labels windows.json]
                      [--threshold 0.5]

  --input      CSV with a "timestamp,value" header (NAB format), or a folder
               searched recursively for .csv files.
  --config     JSON detector config; the default ensemble when absent.
               Either a detector ({"type": "zscore", ...}) or engine options
               ({"detector": {...}, "threshold": 0.6, "warmup": 100}).
  --output     Where to write "timestamp,value,anomaly_score", one row per
               input row. A folder when --input is a folder. Stdout when absent
               (a folder input then needs --output).
  --labels     NAB windows.json: prints NAB scores per file and in total for
               the standard, reward_low_FP_rate and reward_low_FN_rate
               profiles, at the alarm threshold and at NAB's best threshold.
  --threshold  Alarm threshold for the scores (default: the config's, else 0.5).

Leave one category out (needs a folder --input and --labels):
  upperstack backtest --loco --input <folder> --labels windows.json
                      [--candidates candidates.json] [--cache <folder>]

  --loco       The files' first folders are categories (kinds of series). For
               each category, the candidate that scores best (NAB standard
               profile, one threshold for all files) on the other categories
               is scored on the one held out; prints every candidate's score
               per category, the held-out scores and their mean, and the
               candidate chosen on all categories.
  --candidates JSON list of detector configs or of {"name", "detector",
               "threshold", "warmup"}; listed first wins a tie. Default: the
               --config (or the default detector) alone.
  --cache      Folder for scores already computed (reused while the detector
               code, the config and the file are unchanged).
`;

const HELP = (commands: Record<string, Command>) => `upperstack: tools for the Upperstack IoT pipeline

Usage: upperstack <command> [options]

Commands:
${Object.entries(commands)
  .map(([name, c]) => `  ${name.padEnd(12)}${c.summary}`)
  .join('\n')}

Run "upperstack <command> --help" for a command's options.
`;

function readJson(path: string, what: string): unknown {
  if (!existsSync(path)) throw new UsageError(`${what} file not found: ${path}`);
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new UsageError(`${what} file ${path} is not valid JSON: ${(err as Error).message}`);
  }
}

/** A config file may hold a detector or engine options around one. */
function loadConfig(path: string | undefined): { detector?: DetectorConfig; threshold?: number; warmup?: number } {
  if (!path) return {};
  const json = readJson(path, 'config');
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new UsageError(`config ${path} must be a JSON object`);
  const o = json as Record<string, unknown>;
  if ('type' in o) return { detector: o as unknown as DetectorConfig };
  return { detector: o.detector as DetectorConfig | undefined, threshold: o.threshold as number | undefined, warmup: o.warmup as number | undefined };
}

function csvFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...csvFiles(p));
    else if (entry.name.toLowerCase().endsWith('.csv')) out.push(p);
  }
  return out.sort();
}

/** The labels of a file: by its path relative to the input folder, else by a unique file name. */
function windowsFor(labels: Map<string, LabelWindow[]>, rel: string): LabelWindow[] | undefined {
  const key = rel.split(sep).join('/');
  if (labels.has(key)) return labels.get(key);
  const byName = [...labels.keys()].filter((k) => basename(k) === basename(key));
  return byName.length === 1 ? labels.get(byName[0]) : undefined;
}

function nabTable(files: NabFile[], threshold: number): string {
  const lines: string[] = [];
  const fmt = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '-').padStart(9);
  const width = Math.max(5, ...files.map((f) => f.name.length));
  const section = (title: string, thresholds: number[]) => {
    const results = NAB_PROFILES.map((p, i) => scoreNab(files, thresholds[i], p));
    lines.push(title);
    lines.push(`${'file'.padEnd(width)} ${'standard'.padStart(9)} ${'low_FP'.padStart(9)} ${'low_FN'.padStart(9)}  detected  false_pos`);
    results[0].files.forEach((f, i) => {
      lines.push(`${f.name.padEnd(width)} ${results.map((r) => fmt(r.files[i].normalized)).join(' ')}  ${`${f.detected}/${f.windows}`.padStart(8)}  ${String(f.falsePositives).padStart(9)}`);
    });
    const t = results[0].total;
    lines.push(`${'TOTAL'.padEnd(width)} ${results.map((r) => fmt(r.total.normalized)).join(' ')}  ${`${t.detected}/${t.windows}`.padStart(8)}  ${String(t.falsePositives).padStart(9)}`);
  };
  section(`NAB scores at the alarm threshold ${threshold} (detected / false positives: standard profile)`, NAB_PROFILES.map(() => threshold));
  const best = NAB_PROFILES.map((p) => bestThreshold(files, p));
  lines.push('');
  section(`NAB scores at NAB's best single threshold per profile (${best.map((t) => t.toFixed(3)).join(', ')}), chosen with the labels`, best);
  return lines.join('\n') + '\n';
}

async function runBacktest(argv: string[]): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        input: { type: 'string', short: 'i' },
        config: { type: 'string', short: 'c' },
        output: { type: 'string', short: 'o' },
        labels: { type: 'string', short: 'l' },
        threshold: { type: 'string', short: 't' },
        loco: { type: 'boolean' },
        candidates: { type: 'string' },
        cache: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n\n${BACKTEST_HELP}`);
  }
  if (values.help) {
    process.stdout.write(BACKTEST_HELP);
    return;
  }
  if (!values.input) throw new UsageError(`backtest needs --input\n\n${BACKTEST_HELP}`);
  const input = resolve(values.input);
  if (!existsSync(input)) throw new UsageError(`input not found: ${values.input}`);
  const config = loadConfig(values.config);
  let threshold = config.threshold ?? 0.5;
  if (values.threshold !== undefined) {
    threshold = Number(values.threshold);
    if (!(threshold > 0 && threshold <= 1)) throw new UsageError(`--threshold must be a number above 0 and at most 1, got "${values.threshold}"`);
  }
  const labels = values.labels ? parseLabels(readJson(resolve(values.labels), 'labels')) : undefined;

  const isDir = statSync(input).isDirectory();
  const files = isDir ? csvFiles(input) : [input];
  if (files.length === 0) throw new UsageError(`no .csv files in ${values.input}`);
  if (values.loco) {
    if (!isDir || !labels) throw new UsageError('--loco needs a folder --input and --labels');
    const fallback: Candidate = { name: values.config ? basename(values.config) : 'default', detector: config.detector, threshold, warmup: config.warmup };
    let candidates = [fallback];
    if (values.candidates) {
      try {
        candidates = parseCandidates(readJson(resolve(values.candidates), 'candidates'), fallback, values.candidates);
      } catch (err) {
        throw err instanceof UsageError ? err : new UsageError((err as Error).message);
      }
    }
    const series: LabelledSeries[] = [];
    for (const file of files) {
      const rel = relative(input, file);
      const text = readFileSync(file, 'utf8');
      const windows = windowsFor(labels, rel);
      if (!windows) {
        process.stderr.write(`note: no labels for ${rel}; it is left out\n`);
        continue;
      }
      series.push({ name: rel.split(sep).join('/'), text, points: parseSeriesCsv(text, rel).points, windows });
    }
    if (new Set(series.map((s) => s.name.split('/')[0])).size < 2) throw new UsageError('--loco needs labelled files in at least two category folders');
    process.stdout.write(runLoco(series, candidates, { cache: values.cache, progress: process.stderr }));
    return;
  }
  if (isDir && !values.output && !labels) throw new UsageError('a folder --input needs --output (a folder) or --labels');
  if (isDir && values.output && existsSync(values.output) && !statSync(values.output).isDirectory()) {
    throw new UsageError(`--output ${values.output} must be a folder when --input is a folder`);
  }

  const nabFiles: NabFile[] = [];
  const started = Date.now();
  let rows = 0;
  let anomalies = 0;
  for (const [k, file] of files.entries()) {
    // A progress line for folders: the whole NAB corpus takes a while on a busy machine.
    if (isDir && process.stderr.isTTY) process.stderr.write(`\rfile ${k + 1}/${files.length}, ${((Date.now() - started) / 1000).toFixed(0)} s`);
    const rel = isDir ? relative(input, file) : basename(file);
    const series = parseSeriesCsv(readFileSync(file, 'utf8'), rel);
    const { scores, verdicts } = backtest(series.points, config.detector, { threshold, warmup: config.warmup });
    rows += scores.length;
    for (const v of verdicts) if (v?.isAnomaly) anomalies++;
    const csv = formatScoresCsv(series.raw, scores);
    if (values.output) {
      const target = isDir ? join(values.output, rel) : values.output;
      try {
        mkdirSync(dirname(resolve(target)), { recursive: true });
        writeFileSync(target, csv);
      } catch (err) {
        // A path given on the command line that cannot be written is the user's to fix, not a crash to report.
        throw new UsageError(`--output ${target} cannot be written: ${(err as Error).message}`);
      }
    } else if (!isDir) {
      process.stdout.write(csv);
    }
    if (labels) {
      const windows = windowsFor(labels, rel);
      if (!windows) process.stderr.write(`note: no labels for ${rel}; it is left out of the NAB scores\n`);
      else nabFiles.push({ name: rel.split(sep).join('/'), timestamps: series.points.map((p) => p.ts), scores, windows });
    }
  }
  if (isDir && process.stderr.isTTY) process.stderr.write('\r'.padEnd(40) + '\r');
  // With the scores on stdout the table and the summary go to stderr, so the CSV stays clean.
  const report = values.output || isDir ? process.stdout : process.stderr;
  if (labels && nabFiles.length) report.write(nabTable(nabFiles, threshold));
  const where = values.output ? `; scores in ${values.output}` : isDir ? '' : '; scores on stdout';
  report.write(`backtest: ${files.length} file${files.length === 1 ? '' : 's'}, ${rows} row${rows === 1 ? '' : 's'} scored, ${anomalies} anomal${anomalies === 1 ? 'y' : 'ies'} at threshold ${threshold}${where}\n`);
}

const COMMANDS: Record<string, Command> = {
  backtest: { summary: 'run an anomaly detector over recorded series; NAB scores with --labels', help: BACKTEST_HELP, run: runBacktest },
  flows: { summary: 'flow packs: validate, import into a running editor, export without credentials', help: FLOWS_HELP, run: (args) => runFlows(args) },
  simulate: { summary: 'simulated devices sending telemetry over MQTT, HTTP or CoAP, with labelled anomalies', help: SIMULATE_HELP, run: (args) => runSimulate(args) },
  devices: { summary: 'add, list, disable, enable, rotate or remove devices of a running runtime', help: DEVICES_HELP, run: (args) => runDevices(args) },
  keys: { summary: 'add, list or revoke API keys (scopes admin, read, read:tag=..., read:sensitive) of a running runtime', help: KEYS_HELP, run: (args) => runKeys(args) },
};

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name) {
    process.stderr.write(`upperstack: a command is needed\n\n${HELP(COMMANDS)}`);
    return 2;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    const topic = name === 'help' ? COMMANDS[rest[0]] : undefined;
    process.stdout.write(topic ? topic.help : HELP(COMMANDS));
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`upperstack: unknown command "${name}"\n\n${HELP(COMMANDS)}`);
    return 2;
  }
  try {
    const code = await command.run(rest);
    return typeof code === 'number' ? code : 0;
  } catch (err) {
    if (err instanceof UsageError || err instanceof SimulateUsageError || err instanceof FlowsUsageError || err instanceof AdminUsageError || err instanceof UpperstackError) {
      process.stderr.write(`upperstack ${name}: ${err.message}\n`);
      return 2;
    }
    if (err instanceof AdminConnectionError || err instanceof NodeRedMissingError) {
      process.stderr.write(`upperstack ${name}: ${err.message}\n`);
      return 1;
    }
    process.stderr.write(`upperstack ${name}: ${(err as Error)?.stack ?? String(err)}\n`);
    return 1;
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
