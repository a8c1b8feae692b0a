import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { tempDir } from '../helpers/temp';

const run = promisify(execFile);
// Compiled to dist/test/unit: the CLI is dist/scripts/cli.js, the fixture stays in the source tree.
const CLI = join(__dirname, '..', '..', 'scripts', 'cli.js');
const FIXTURE = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'anomaly', 'spike.csv');

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args]);
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('upperstack backtest', () => {
  let dir: string;
  before(() => {
    dir = tempDir('upperstack-cli-');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('writes one scored row per input row, and the spike row scores highest', async () => {
    const { code, stdout } = await cli('backtest', '--input', FIXTURE);
    assert.equal(code, 0);
    const input = readFileSync(FIXTURE, 'utf8').trim().split('\n');
    const output = stdout.trim().split('\n');
    assert.equal(output[0], 'timestamp,value,anomaly_score');
    assert.equal(output.length, input.length);
    const rows = output.slice(1).map((l) => l.split(','));
    rows.forEach((r, i) => assert.equal(`${r[0]},${r[1]}`, input[i + 1]));
    const scores = rows.map((r) => Number(r[2]));
    assert.ok(scores.every((s) => s >= 0 && s <= 1));
    const top = scores.indexOf(Math.max(...scores));
    // The fixture's spike: the only value far from its neighbours.
    const values = rows.map((r) => Number(r[1]));
    assert.ok(values[top] - values[top - 1] > 5 && values[top] - values[top + 1] > 5, `top row ${top}: ${rows[top]}`);
    assert.ok(scores[top] >= 0.5);
  });

  it('takes a detector config and writes to --output', async () => {
    const config = join(dir, 'detector.json');
    writeFileSync(config, JSON.stringify({ type: 'zscore', robust: false, window: '1h' }));
    const out = join(dir, 'scores.csv');
    const { code, stdout } = await cli('backtest', '--config', config, '--input', FIXTURE, '--output', out);
    assert.equal(code, 0);
    assert.equal(stdout, `backtest: 1 file, 400 rows scored, 1 anomaly at threshold 0.5; scores in ${out}\n`);
    const lines = readFileSync(out, 'utf8').trim().split('\n');
    assert.equal(lines.length, 401);
    assert.equal(lines[301].split(',')[0], '2024-01-02 01:00:00');
  });

  it('scores a folder into a folder and prints NAB scores with --labels', async () => {
    const input = join(dir, 'in', 'sub');
    mkdirSync(input, { recursive: true });
    writeFileSync(join(input, 'a.csv'), readFileSync(FIXTURE));
    const labels = join(dir, 'windows.json');
    writeFileSync(labels, JSON.stringify({ 'sub/a.csv': [['2024-01-02 00:30:00', '2024-01-02 02:00:00']] }));
    const { code, stdout } = await cli('backtest', '--input', join(dir, 'in'), '--output', join(dir, 'out'), '--labels', labels);
    assert.equal(code, 0, stdout);
    assert.equal(readFileSync(join(dir, 'out', 'sub', 'a.csv'), 'utf8').trim().split('\n').length, 401);
    assert.match(stdout, /NAB scores at the alarm threshold 0\.5/);
    assert.match(stdout, /sub\/a\.csv\s+\d+\.\d\s+\d+\.\d\s+\d+\.\d\s+1\/1/);
    assert.match(stdout, /TOTAL/);
  });

  it('chooses a configuration leaving one category out, with a cache', async () => {
    const input = join(dir, 'loco');
    for (const cat of ['alpha', 'beta']) {
      mkdirSync(join(input, cat), { recursive: true });
      writeFileSync(join(input, cat, 'a.csv'), readFileSync(FIXTURE));
    }
    const labels = join(dir, 'loco-windows.json');
    const win = [['2024-01-02 00:30:00', '2024-01-02 02:00:00']];
    writeFileSync(labels, JSON.stringify({ 'alpha/a.csv': win, 'beta/a.csv': win }));
    const candidates = join(dir, 'candidates.json');
    // A detector that never fires (threshold out of reach) against one that finds the spike.
    writeFileSync(candidates, JSON.stringify([{ name: 'deaf', detector: { type: 'zscore' }, threshold: 1 }, { name: 'zscore', detector: { type: 'zscore' } }]));
    const cache = join(dir, 'cache');
    const args = ['backtest', '--loco', '--input', input, '--labels', labels, '--candidates', candidates, '--cache', cache];
    const first = await cli(...args);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /^alpha\s+zscore\s+\d+\.\d\s+\d+\.\d\s+1\/1/m);
    assert.match(first.stdout, /^beta\s+zscore\s+\d+\.\d\s+\d+\.\d\s+1\/1/m);
    assert.match(first.stdout, /^MEAN\s+\d+\.\d$/m);
    assert.match(first.stdout, /Chosen on all categories: zscore/);
    assert.match(first.stderr, /candidate 2\/2 \(zscore\) scored in/);
    // Scores depend on the detector and the file, not on the threshold: both candidates on both (equal) files share one entry.
    const cached = readdirSync(cache);
    assert.equal(cached.length, 1);
    // The second run reads the cached scores and prints the same report.
    const second = await cli(...args);
    assert.equal(second.stdout, first.stdout);
    assert.deepEqual(readdirSync(cache), cached);
    const noLabels = await cli('backtest', '--loco', '--input', input);
    assert.equal(noLabels.code, 2);
    assert.match(noLabels.stderr, /--loco needs a folder --input and --labels/);
  });

  it('fails with exit code 2 and a clear message on a missing file or a bad line', async () => {
    const missing = await cli('backtest', '--input', join(dir, 'nope.csv'));
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /input not found: .*nope\.csv/);
    const bad = join(dir, 'bad.csv');
    writeFileSync(bad, 'timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 00:05:00,warm\n');
    const r = await cli('backtest', '--input', bad);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /bad\.csv: line 3: "warm" is not a number/);
    const cfg = join(dir, 'bad.json');
    writeFileSync(cfg, JSON.stringify({ type: 'zscore', window: 'forever' }));
    const c = await cli('backtest', '--input', FIXTURE, '--config', cfg);
    assert.equal(c.code, 2);
    assert.match(c.stderr, /zscore\.window "forever" is not a duration/);
  });

  it('dispatches on the first word and explains itself', async () => {
    const help = await cli('--help');
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Commands:\n\s+backtest/);
    const sub = await cli('backtest', '--help');
    assert.match(sub.stdout, /--labels/);
    const unknown = await cli('frobnicate');
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command "frobnicate"/);
  });
});
