/** The anomaly engine's state file: written a part at a time, read a line at a time, replaced whole or not at all. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { AnomalyEngine, type AnomalyEngineOptions } from '../../nodes/lib/anomaly/engine';
import { readStateFile, removeStateFile, saveIntervalMs, stateFileHead, stateFileOf, writeStateFile } from '../../nodes/lib/anomaly/state-file';
import { Prng } from '../../nodes/lib/anomaly/stats';
import { DetectorConfigError } from '../../nodes/lib/errors';
import type { Reading } from '../../nodes/lib/reading';
import { tempDir } from '../helpers/temp';

const T0 = Date.UTC(2024, 0, 1);
const STEP = 5 * 60_000;
const clock = () => T0;

/** `devices` devices with names outside ASCII (so a character can straddle two reads), one reading each per step. */
function stream(devices: number, steps: number, seed = 3): Reading[] {
  const rng = new Prng(seed);
  const out: Reading[] = [];
  for (let i = 0; i < steps; i++) {
    for (let d = 0; d < devices; d++) {
      const spike = i === steps - 5 && d === 1 ? 30 : 0;
      out.push({ device: `köln-ofen-${d}-🔥`, ts: T0 + i * STEP, fields: { temperature: 60 + 5 * Math.sin(i / 20) + rng.next() + spike, pressure: 2 + 0.1 * rng.next() }, tags: {} });
    }
  }
  return out;
}

describe('anomaly state file', () => {
  const dir = tempDir('us-anomaly-state-');

  it('gives back the same engine: state equal, a line per device and per series, larger files read across many buffers', () => {
    const options: AnomalyEngineOptions = { detector: { type: 'zscore' }, maxSeries: 5_000, clock };
    const engine = new AnomalyEngine(options);
    engine.process(stream(1_500, 60));
    const file = stateFileOf(dir, 'big');
    const saved = writeStateFile(file, engine);
    assert.deepEqual({ devices: saved.devices, series: saved.series }, { devices: 1_500, series: 3_000 });
    assert.equal(saved.bytes, statSync(file).size);
    assert.ok(saved.bytes > 4 << 20, `${saved.bytes} bytes: several of the reader's 1 MB buffers`);
    assert.equal(readFileSync(file, 'utf8').trimEnd().split('\n').length, 1 + 1_500 + 3_000);
    assert.deepEqual(stateFileHead(file), { devices: 1_500, series: 3_000 });
    const back = readStateFile(file, options);
    assert.ok(back);
    assert.deepEqual(back.toJSON(), engine.toJSON());
    assert.deepEqual(back.stats(), engine.stats());
  });

  it('continues with the same verdicts as an engine that never stopped', () => {
    const readings = stream(2, 700);
    const options: AnomalyEngineOptions = { detector: { type: 'ensemble', members: [{ type: 'zscore' }, { type: 'holtwinters', warmup: 300 }, { type: 'ewma' }, { type: 'rate' }, { type: 'flatline' }, { type: 'iforest', trees: 20, retrainEvery: 50 }] }, clock };
    const straight = new AnomalyEngine(options);
    const expected = readings.map((r) => straight.process(r));
    const cut = 1_200;
    const first = new AnomalyEngine(options);
    readings.slice(0, cut).forEach((r) => first.process(r));
    const file = stateFileOf(dir, 'resume');
    writeStateFile(file, first);
    const resumed = readStateFile(file, options)!;
    const after = readings.slice(cut).map((r) => resumed.process(r));
    assert.deepEqual(after, expected.slice(cut));
    assert.ok(after.some((r) => r.isAnomaly), 'the compared stretch holds an anomaly');
  });

  it('keeps devices but starts series afresh when the detector settings changed', () => {
    const engine = new AnomalyEngine({ detector: { type: 'zscore' }, clock });
    engine.process(stream(3, 20));
    const file = stateFileOf(dir, 'changed');
    writeStateFile(file, engine);
    assert.equal(readStateFile(file, { detector: { type: 'zscore' } })!.stats().series, 6);
    const other = readStateFile(file, { detector: { type: 'ewma' } })!;
    assert.deepEqual([other.stats().series, other.stats().devices], [0, 3]);
  });

  it('says what is wrong with a file that is not a whole state, and gives nothing for a missing one', () => {
    const engine = new AnomalyEngine({ detector: { type: 'zscore' }, clock });
    engine.process(stream(2, 20));
    const file = stateFileOf(dir, 'whole');
    writeStateFile(file, engine);
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    const broken = (name: string, text: string) => {
      const f = stateFileOf(dir, name);
      writeFileSync(f, text);
      return f;
    };
    assert.equal(readStateFile(stateFileOf(dir, 'never-saved')), undefined);
    assert.equal(stateFileHead(stateFileOf(dir, 'never-saved')), undefined);
    assert.throws(() => readStateFile(broken('short', lines.slice(0, -1).join('\n'))), (e: Error) => e instanceof DetectorConfigError && /holds 2 of 2 devices and 3 of 4 series/.test(e.message));
    assert.throws(() => readStateFile(broken('long', [...lines, lines.at(-1)].join('\n'))), /more lines than the 2 devices and 4 series it announces/);
    assert.throws(() => readStateFile(broken('headless', lines.slice(1).join('\n'))), /does not start with a version 1 head line/);
    assert.throws(() => stateFileHead(broken('empty', '')), /does not start with a version 1 head line/);
    assert.throws(() => readStateFile(broken('torn', `${lines.slice(0, 3).join('\n')}\n{"device":"köln`)), /series 1 is not JSON/);
  });

  it('a save that fails part-way leaves the last whole save and no partial file', () => {
    const engine = new AnomalyEngine({ detector: { type: 'zscore' }, clock });
    engine.process(stream(2, 20));
    const file = stateFileOf(dir, 'failing');
    writeStateFile(file, engine);
    const before = readFileSync(file, 'utf8');
    engine.process(stream(2, 40).slice(40));
    const real = engine.seriesStates.bind(engine);
    engine.seriesStates = function* () {
      const it = real();
      yield it.next().value!;
      throw new Error('disk gone');
    };
    assert.throws(() => writeStateFile(file, engine), /disk gone/);
    assert.equal(readFileSync(file, 'utf8'), before);
    assert.deepEqual(readdirSync(dirname(file)).filter((n) => n.startsWith('failing')), ['failing.jsonl']);
  });

  it('names a file per node inside the folder whatever the id, and removes it with what a crash left', () => {
    const a = stateFileOf(dir, '../../etc/x y');
    assert.equal(dirname(a), join(dir, 'anomaly'));
    const engine = new AnomalyEngine({ clock });
    writeStateFile(a, engine);
    const other = stateFileOf(dir, 'other');
    writeStateFile(other, engine);
    writeFileSync(`${a}.tmp-12345`, 'half a save');
    removeStateFile(a);
    assert.deepEqual(readdirSync(dirname(a)).filter((n) => n.includes('x_y') || n.startsWith('other')), ['other.jsonl']);
    removeStateFile(stateFileOf(dir, 'never-saved'));
  });

  it('saves a large state less often: about 32 kB a second on average, every 30 s at most, every hour at least', () => {
    const MB = 1 << 20;
    assert.equal(saveIntervalMs(20_000), 30_000, 'a few series: every 30 s');
    assert.equal(saveIntervalMs(3.4 * MB), 109_000);
    assert.equal(saveIntervalMs(90 * MB), 2_880_000, '90 MB: every 48 minutes');
    assert.equal(saveIntervalMs(500 * MB), 3_600_000, 'never less often than hourly');
    // Written per hour at the interval a state of that size gets: about 113 MB, whatever the size past 1 MB.
    for (const bytes of [MB, 10 * MB, 90 * MB]) assert.ok((bytes * 3_600_000) / saveIntervalMs(bytes) <= 32 * 1024 * 3600);
  });
});
