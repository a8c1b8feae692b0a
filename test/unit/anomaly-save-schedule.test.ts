/**
 * When the anomaly node saves: only after a change, one save at a time, a
 * large state less often, and again after a save that failed.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SaveSchedule } from '../../nodes/lib/anomaly/save-schedule';

const MB = 1 << 20;

function scheduleAt(start: number): { schedule: SaveSchedule; clock: { now: number } } {
  const clock = { now: start };
  return { schedule: new SaveSchedule(() => clock.now), clock };
}

describe('anomaly save schedule', () => {
  it('saves nothing until the state changes, then once per change', () => {
    const { schedule, clock } = scheduleAt(1_000_000);
    assert.equal(schedule.begin(), undefined, 'nothing learned yet');
    schedule.change();
    const at = schedule.begin();
    assert.equal(at, 1_000_000);
    schedule.done(at!, 20_000);
    clock.now += 3_600_000;
    assert.equal(schedule.begin(), undefined, 'no change since the last save: no save, however long after');
  });

  it('never starts a second save while one runs', () => {
    const { schedule, clock } = scheduleAt(0);
    schedule.change();
    const at = schedule.begin()!;
    schedule.change();
    clock.now += 3_600_000;
    assert.equal(schedule.begin(), undefined, 'the first save has not ended');
    schedule.done(at, 20_000);
    assert.equal(schedule.begin(), 3_600_000, 'the change made meanwhile is saved next');
  });

  it('waits after a save as long as its size asks: a small state every 30 s, 90 MB about every 48 minutes', () => {
    const { schedule, clock } = scheduleAt(0);
    schedule.change();
    schedule.done(schedule.begin()!, 20_000);
    schedule.change();
    clock.now = 28_000;
    assert.equal(schedule.begin(), undefined, '28 s after a small save');
    // The node looks every 30 s from its own start, so the wait is a second short of the interval.
    clock.now = 29_000;
    assert.equal(schedule.begin(), 29_000);
    schedule.done(29_000, 90 * MB);
    schedule.change();
    clock.now = 29_000 + 40 * 60_000;
    assert.equal(schedule.begin(), undefined, '40 minutes after a 90 MB save');
    clock.now = 29_000 + 2_880_000 - 1000;
    assert.equal(schedule.begin(), clock.now, '48 minutes after it');
  });

  it('a save with nothing to write sets no wait; a failed save is tried again at the next look', () => {
    const { schedule, clock } = scheduleAt(0);
    schedule.change();
    schedule.done(schedule.begin()!, undefined);
    schedule.change();
    assert.equal(schedule.begin(), 0, 'no wait after a save that wrote nothing');
    schedule.failed();
    clock.now = 30_000;
    assert.equal(schedule.begin(), 30_000, 'what the failed save held is still unsaved, with no new change');
  });
});
