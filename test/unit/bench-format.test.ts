/**
 * The bench's verdicts print a figure beside a limit (bench/pipeline-format.ts): a figure just over
 * the limit must not read as the limit itself next to its FAIL.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fmtMbAgainst } from '../../bench/pipeline-format';

const MB = 1024 * 1024;

test('a figure that rounds to the limit shows its decimal; others stay whole MB', () => {
  assert.equal(fmtMbAgainst(150.4 * MB, 150), '150.4');
  assert.equal(fmtMbAgainst(149.6 * MB, 150), '149.6');
  assert.equal(fmtMbAgainst(150 * MB, 150), '150');
  assert.equal(fmtMbAgainst(273.4 * MB, 300), '273');
  assert.equal(fmtMbAgainst(0, 150), '-');
});
