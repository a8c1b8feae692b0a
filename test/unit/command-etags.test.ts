import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CommandBoard, CommandEtags, etagMatches } from '../../nodes/lib/inputs/commands';

test('a command keeps its ETag; each one set has another, the same payload too, and commands of other devices count on', () => {
  const b = new CommandBoard();
  const first = b.set('valve-1', 'open').etag;
  assert.equal(b.get('valve-1')?.etag, first);
  const second = b.set('valve-1', 'open').etag;
  assert.notEqual(second, first);
  // Another device's commands count on: no two commands of the board share an ETag.
  const other = b.set('valve-2', 'open').etag;
  assert.equal(new Set([first, second, other]).size, 3);
  for (const e of [first, second, other]) assert.match(e, /^[0-9A-Za-z_-]{1,8}$/);
});

test('a board of a restarted process, counting from 1 again, gives other ETags than the one before', () => {
  // Both count from 1: only the random prefix tells them apart (the same one time in 262,144).
  const before = new CommandBoard().set('valve-1', 'open').etag;
  const after = new CommandBoard().set('valve-1', 'open').etag;
  assert.notEqual(after, before);
});

test('ETags stay within 8 bytes: past 64^5 commands the count starts over under a new prefix', () => {
  const etags = new CommandEtags();
  const start = etags.next();
  assert.equal(start.length, 4);
  (etags as unknown as { count: number }).count = 64 ** 5 - 2;
  const last = etags.next();
  assert.equal(last.length, 8);
  assert.equal(last.slice(0, 3), start.slice(0, 3));
  const wrapped = etags.next();
  assert.equal(wrapped.length, 4);
  assert.notEqual(wrapped, start);
});

test('a request ETag matches as the library gives it (text) or as bytes, and not otherwise', () => {
  assert.equal(etagMatches(['x1', 'A1b2'], 'A1b2'), true);
  assert.equal(etagMatches([Buffer.from('A1b2')], 'A1b2'), true);
  assert.equal(etagMatches(['a1b2', Buffer.from([0xc1, 0x31])], 'A1b2'), false);
  assert.equal(etagMatches([], 'A1b2'), false);
});
