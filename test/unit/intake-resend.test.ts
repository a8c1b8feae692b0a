/**
 * Intake.resend(): a deploy stopped nodes on an input's way while the input ran on. What is unsettled goes
 * again, marked replayed, without a new share: the copy that is stored settles the entry.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { open, rec, turn } from '../helpers/intake';

test('resend sends what is unsettled again, and one store of either copy settles it', async () => {
  const { intake, emitted, settle, all } = open();
  try {
    for (const body of ['a', 'b', 'c']) intake.receive(rec(body));
    await turn();
    await turn();
    const first = all();
    assert.equal(first.length, 3);
    // a is stored; b and c were in a store node the deploy restarted.
    settle(first.slice(0, 1));
    emitted.length = 0;
    assert.equal(await intake.resend(), 2);
    assert.deepEqual(emitted.map((e) => e.replayed), [true]);
    assert.deepEqual(all().map((i) => [i.seq, i.rec.payload.toString()]), [
      [first[1].seq, 'b'],
      [first[2].seq, 'c'],
    ]);
    settle(all());
    assert.equal(intake.stats().pending, 0);
    // Nothing is left to send again.
    assert.equal(await intake.resend(), 0);
  } finally {
    intake.close();
  }
});
