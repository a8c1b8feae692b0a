/**
 * UPPERSTACK_INTAKE_TRACE: the gate's pauses and resumptions, with the backlog
 * at each, land in the file named (one JSON line each), so a trace of the
 * store's writes can be read against them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { open, rec, tmp, turn } from '../helpers/intake';

test('with UPPERSTACK_INTAKE_TRACE set to a file, each pause and resume of an input is a line there with its backlog', async () => {
  const file = join(tmp(), 'trace.log');
  const before = process.env.UPPERSTACK_INTAKE_TRACE;
  process.env.UPPERSTACK_INTAKE_TRACE = file;
  let intake: ReturnType<typeof open>['intake'] | undefined;
  try {
    const o = open({ id: 'traced', highWater: 2, lowWater: 0 });
    intake = o.intake;
    for (const n of ['a', 'b', 'c']) intake.receive(rec(n), () => undefined);
    await turn();
    o.settle(o.all());
    const events = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => {
        assert.match(l, /^intake \{/);
        return JSON.parse(l.slice('intake '.length)) as Record<string, unknown>;
      });
    assert.deepEqual(
      events.map((e) => [e.input, e.paused, e.reason, e.messages]),
      [
        ['traced', true, 'backlog', 3],
        ['traced', false, undefined, 0],
      ],
    );
    for (const e of events) assert.equal(typeof e.at, 'number');
  } finally {
    intake?.close();
    if (before === undefined) delete process.env.UPPERSTACK_INTAKE_TRACE;
    else process.env.UPPERSTACK_INTAKE_TRACE = before;
  }
});
