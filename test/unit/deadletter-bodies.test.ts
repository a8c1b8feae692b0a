/**
 * The body files of dead letters (nodes/lib/store/deadletter-bodies.ts):
 * durable appends in segments, reads that notice a lost or cut file, which
 * segments are deleted, and a temporary folder for an in-memory database.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, truncateSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DeadLetterBodies } from '../../nodes/lib/store/deadletter-bodies';
import { tempDir } from '../helpers/temp';

const bytes = (n: number, fill: number) => Buffer.alloc(n, fill);
const files = (dir: string) => readdirSync(dir).sort((a, b) => parseInt(a, 10) - parseInt(b, 10));

test('bodies come back byte for byte; a segment takes appends up to its size, then the next one starts', async () => {
  const dir = join(tempDir('upperstack-bodies-'), 'x.duckdb.bodies');
  const b = new DeadLetterBodies(dir, 1000);
  const refs = await b.append([bytes(600, 1), bytes(300, 2), bytes(200, 3)]);
  assert.deepEqual(refs, [
    { seg: 1, off: 0, len: 600 },
    { seg: 1, off: 600, len: 300 },
    { seg: 2, off: 0, len: 200 },
  ]);
  const [more] = await b.append([bytes(5000, 4)]);
  // A body larger than a segment still goes whole into one.
  assert.deepEqual(more, { seg: 3, off: 0, len: 5000 });
  for (const [i, r] of [...refs, more].entries()) assert.deepEqual(await b.read(r), bytes(r.len, i + 1));
  assert.deepEqual(files(dir), ['1.bin', '2.bin', '3.bin']);
  assert.equal(b.diskBytes(), 6100);
  await b.close();
});

test('a segment nothing points into is deleted, never the one appends go to', async () => {
  const dir = tempDir('upperstack-bodies-');
  const b = new DeadLetterBodies(dir, 100);
  await b.append([bytes(100, 1), bytes(100, 2), bytes(100, 3)]);
  await b.keepOnly(new Set([2]));
  assert.deepEqual(files(dir), ['2.bin', '3.bin']);
  assert.equal(b.diskBytes(), 200);
  await b.keepOnly(new Set());
  assert.deepEqual(files(dir), ['3.bin']);
  await b.close();
});

test('after a reopen appends go to a new segment (never after a tail a crash may have cut), and old ones can go', async () => {
  const dir = tempDir('upperstack-bodies-');
  const first = new DeadLetterBodies(dir);
  const [kept] = await first.append([bytes(10, 7)]);
  await first.append([bytes(10, 8)]);
  await first.close();
  const again = new DeadLetterBodies(dir);
  assert.deepEqual(await again.load(), [1]);
  const [next] = await again.append([bytes(5, 9)]);
  assert.equal(next.seg, 2);
  assert.deepEqual(await again.read(kept), bytes(10, 7));
  await again.keepOnly(new Set());
  assert.deepEqual(files(dir), ['2.bin']);
  await again.close();
});

test('a body whose file is cut short or gone reads as missing, not as other bytes', async () => {
  const dir = tempDir('upperstack-bodies-');
  const b = new DeadLetterBodies(dir);
  const [r1, r2] = await b.append([bytes(50, 1), bytes(50, 2)]);
  truncateSync(join(dir, '1.bin'), 70);
  assert.deepEqual(await b.read(r1), bytes(50, 1));
  assert.equal(await b.read(r2), undefined);
  rmSync(join(dir, '1.bin'));
  assert.equal(await b.read(r1), undefined);
  await b.close();
});

test('without a folder (an in-memory database) the bodies live in a temporary one, removed at close', async () => {
  const b = new DeadLetterBodies(undefined);
  // Nothing is made until a body comes.
  assert.deepEqual(await b.load(), []);
  const [r] = await b.append([bytes(20, 5)]);
  assert.deepEqual(await b.read(r), bytes(20, 5));
  const folder = (b as unknown as { dir: string }).dir;
  assert.ok(existsSync(join(folder, '1.bin')));
  await b.close();
  assert.equal(existsSync(folder), false);
});
