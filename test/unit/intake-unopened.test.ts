/**
 * An intake whose journal cannot be opened (a file where its folder should be, as a read-only or full data folder
 * would refuse it) refuses what it is handed with why, keeps nothing, and can be opened again once the folder
 * can be made: it then takes submissions, and replays nothing of the refused ones.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Intake, type IntakeItem } from '../../nodes/lib/ingest/intake';
import { JournalError } from '../../nodes/lib/errors';
import { rec, tmp } from '../helpers/intake';

test('an intake that cannot open its journal refuses submissions naming the folder and why, and takes them once opened again', async () => {
  const dir = join(tmp(), 'journal');
  writeFileSync(dir, 'not a folder');
  const emitted: IntakeItem[] = [];
  const intake = new Intake({ id: 'unopened-1', name: 'devices', dir, highWater: 0, emit: (items) => emitted.push(...items) });
  assert.throws(() => intake.open(), (err: unknown) => err instanceof JournalError && err.message.startsWith(`cannot create journal folder ${dir}: EEXIST`));

  const refused = await intake.submit([rec('a')]);
  assert.ok('refused' in refused);
  assert.equal(refused.refused, 'journal');
  assert.equal(refused.retryAfterMs, 5000);
  assert.equal(refused.error.code, 'BACKPRESSURE');
  assert.match(refused.error.message, new RegExp(`^devices takes nothing: its journal cannot be opened \\(cannot create journal folder ${dir}: EEXIST.*\\); retry in 5 s$`));
  assert.equal(intake.stats().lastError?.startsWith(`cannot create journal folder ${dir}`), true);
  let failed: Error | undefined;
  intake.receive(rec('b'), () => assert.fail('acknowledged without a journal'), (err) => (failed = err));
  assert.match(failed?.message ?? '', /^cannot create journal folder/);

  rmSync(dir);
  assert.equal(intake.open(), 0, 'nothing of the refused ones to replay');
  const accepted = await intake.submit([rec('c')]);
  assert.ok('accepted' in accepted, JSON.stringify(accepted));
  assert.equal(intake.stats().lastError, undefined);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(emitted.map((i) => i.rec.payload.toString()), ['c']);
  intake.close();
});
