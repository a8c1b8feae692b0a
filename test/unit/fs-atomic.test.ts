/**
 * Whole-file writes (rules, alert state, notification outbox, InfluxDB field
 * types, the anomaly state): the old file or the new one, and nothing written
 * beside it left behind when a write fails.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic, writeFileAtomicParts } from '../../nodes/lib/fs-atomic';
import { tempDir } from '../helpers/temp';

describe('writeFileAtomic', () => {
  it('replaces the file and counts the bytes it wrote', () => {
    const dir = tempDir('fs-atomic-');
    const file = join(dir, 'rules.json');
    writeFileSync(file, 'old');
    writeFileAtomic(file, 'new');
    assert.equal(readFileSync(file, 'utf8'), 'new');
    assert.equal(writeFileAtomicParts(file, ['ä', 'b'.repeat(3 << 20)]), 2 + (3 << 20), 'bytes, not characters, across several writes');
    assert.deepEqual(readdirSync(dir), ['rules.json']);
  });

  it('a write that fails part-way keeps the old file and leaves nothing beside it', () => {
    const dir = tempDir('fs-atomic-');
    const file = join(dir, 'state.jsonl');
    writeFileSync(file, 'whole');
    function* parts(): Generator<string> {
      yield 'x'.repeat(2 << 20);
      throw new Error('the engine stopped');
    }
    assert.throws(() => writeFileAtomicParts(file, parts()), /the engine stopped/);
    assert.equal(readFileSync(file, 'utf8'), 'whole');
    assert.deepEqual(readdirSync(dir), ['state.jsonl']);
  });

  it('a rename that fails (a folder in the way) throws and leaves nothing beside it', () => {
    const dir = tempDir('fs-atomic-');
    const file = join(dir, 'state.jsonl');
    mkdirSync(join(file, 'in-the-way'), { recursive: true });
    assert.throws(() => writeFileAtomic(file, 'new'), /EISDIR|ENOTEMPTY|EEXIST/);
    assert.deepEqual(readdirSync(dir), ['state.jsonl']);
    assert.deepEqual(readdirSync(file), ['in-the-way']);
  });
});
