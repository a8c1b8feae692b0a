/**
 * The report schedule under fake time (node:test mock timers drive node-cron's
 * timers and Date): time zones, DST changes, month ends, missed runs after a
 * restart, and no period produced twice.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { checkCron, cronOf, Marks, ReportSchedule, slotsBetween } from '../../nodes/lib/report/schedule';
import type { Period, PeriodKind } from '../../nodes/lib/report/period';
import { tempDir } from '../helpers/temp';

const HOUR = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString();
const settle = () => new Promise<void>((r) => setImmediate(r));

interface Run {
  key: string;
  slot: string;
  hours: number;
}

function harness(t: TestContext, startIso: string) {
  const dir = tempDir('us-sched-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: Date.parse(startIso) });
  const runs: Run[] = [];
  const schedules: ReportSchedule[] = [];
  t.after(async () => {
    for (const s of schedules) await s.stop();
  });
  return {
    runs,
    marksPath: join(dir, 'marks.json'),
    start(expression: string, timezone: string, period: PeriodKind, fail?: (p: Period) => boolean) {
      const s = new ReportSchedule({
        expression,
        timezone,
        period,
        marks: new Marks(join(dir, 'marks.json')),
        produce: async (p, slot) => {
          if (fail?.(p)) throw new Error(`store down for ${p.key}`);
          runs.push({ key: p.key, slot: iso(slot), hours: (p.to - p.from) / HOUR });
          return `r-${p.key}`;
        },
      });
      s.start();
      schedules.push(s);
      return s;
    },
    /**
     * Moves fake time forward from run time to run time, letting each run
     * finish. Mock timers run a timer with the clock at the end of the tick, so
     * each tick ends exactly at a run time, as a real clock would be then.
     */
    async advanceTo(toIso: string) {
      const to = Date.parse(toIso);
      while (Date.now() < to) {
        const next = Math.min(to, ...schedules.map((s) => s.next() ?? Infinity));
        t.mock.timers.tick(Math.max(1, next - Date.now()));
        await settle();
        for (const s of schedules) await s.idle();
      }
    },
    track(s: ReportSchedule) {
      schedules.push(s);
    },
    async stopAll() {
      while (schedules.length) await schedules.pop()!.stop();
    },
  };
}

test('daily at 06:00 in Europe/Berlin across the autumn DST change: the right instants, a 25-hour day', async (t) => {
  const h = harness(t, '2026-10-23T12:00:00Z');
  const s = h.start(cronOf('daily', '06:00', ''), 'Europe/Berlin', 'previous-day');
  await settle();
  await s.idle();
  assert.deepEqual(h.runs, [], 'a new schedule waits for its first run time');
  await h.advanceTo('2026-10-26T12:00:00Z');
  assert.deepEqual(h.runs, [
    { key: '2026-10-23', slot: '2026-10-24T04:00:00.000Z', hours: 24 },
    { key: '2026-10-24', slot: '2026-10-25T05:00:00.000Z', hours: 24 },
    { key: '2026-10-25', slot: '2026-10-26T05:00:00.000Z', hours: 25 },
  ]);
});

test('missed runs: down over three 06:00s, each missed day is produced once at start, oldest first; never twice', async (t) => {
  const h = harness(t, '2026-11-01T12:00:00Z');
  h.start('0 6 * * *', 'UTC', 'previous-day');
  await h.advanceTo('2026-11-02T07:00:00Z');
  assert.deepEqual(h.runs.map((r) => r.key), ['2026-11-01']);
  await h.stopAll();
  // The runtime is down from 2 Nov 07:00 until 5 Nov 09:30.
  t.mock.timers.setTime(Date.parse('2026-11-05T09:30:00Z'));
  const again = h.start('0 6 * * *', 'UTC', 'previous-day');
  await settle();
  await again.idle();
  assert.deepEqual(h.runs.map((r) => r.key), ['2026-11-01', '2026-11-02', '2026-11-03', '2026-11-04']);
  // A redeploy the same morning, and a second instance on the same marks: nothing again.
  await h.stopAll();
  const third = h.start('0 6 * * *', 'UTC', 'previous-day');
  await settle();
  await third.idle();
  await h.advanceTo('2026-11-05T23:00:00Z');
  assert.equal(h.runs.length, 4);
  await h.advanceTo('2026-11-06T07:00:00Z');
  assert.deepEqual(h.runs.map((r) => r.key).slice(-2), ['2026-11-04', '2026-11-05']);
  assert.equal(new Set(h.runs.map((r) => r.key)).size, h.runs.length, 'no period twice');
});

test('an hourly schedule of a daily report produces each day once', async (t) => {
  const h = harness(t, '2026-12-30T20:30:00Z');
  h.start(cronOf('hourly', '00:05', ''), 'America/New_York', 'previous-day');
  await h.advanceTo('2027-01-02T12:00:00Z');
  // The first run (16:05 in New York) produces the day before; after that, each day's first
  // run after New York's midnight (05:00Z) produces the day that just ended, and the other runs nothing.
  assert.deepEqual(h.runs.map((r) => [r.key, r.slot]), [
    ['2026-12-29', '2026-12-30T21:05:00.000Z'],
    ['2026-12-30', '2026-12-31T05:05:00.000Z'],
    ['2026-12-31', '2027-01-01T05:05:00.000Z'],
    ['2027-01-01', '2027-01-02T05:05:00.000Z'],
  ]);
});

test('monthly on the 1st in Asia/Tokyo: months end where they end (29 days in February 2028)', async (t) => {
  const h = harness(t, '2028-01-15T00:00:00Z');
  h.start(cronOf('monthly', '00:30', ''), 'Asia/Tokyo', 'previous-month');
  await h.advanceTo('2028-03-02T00:00:00Z');
  assert.deepEqual(h.runs, [
    { key: '2028-01', slot: '2028-01-31T15:30:00.000Z', hours: 31 * 24 },
    { key: '2028-02', slot: '2028-02-29T15:30:00.000Z', hours: 29 * 24 },
  ]);
});

test('a run time the clocks skip runs once, at the first moment after the change (03:00 CEST), as cron does', async (t) => {
  const h = harness(t, '2026-03-26T12:00:00Z');
  h.start('30 2 * * *', 'Europe/Berlin', 'previous-day');
  await h.advanceTo('2026-03-31T12:00:00Z');
  // Berlin goes from 02:00 to 03:00 on 29 March: 02:30 does not exist that day, and the 28th is reported at 03:00 CEST.
  assert.deepEqual(h.runs, [
    { key: '2026-03-26', slot: '2026-03-27T01:30:00.000Z', hours: 24 },
    { key: '2026-03-27', slot: '2026-03-28T01:30:00.000Z', hours: 24 },
    { key: '2026-03-28', slot: '2026-03-29T01:00:00.000Z', hours: 24 },
    { key: '2026-03-29', slot: '2026-03-30T00:30:00.000Z', hours: 23 },
    { key: '2026-03-30', slot: '2026-03-31T00:30:00.000Z', hours: 24 },
  ]);
});

test('a rolling report at a time the clocks skip is produced that day too, not lost', async (t) => {
  const h = harness(t, '2026-03-27T12:00:00Z');
  h.start('30 2 * * *', 'Europe/Berlin', 'last-24h');
  await h.advanceTo('2026-03-31T12:00:00Z');
  assert.deepEqual(h.runs.filter((r) => r.key.startsWith('last-24h')).map((r) => [r.key, r.slot]), [
    ['last-24h-20260328T0230', '2026-03-28T01:30:00.000Z'],
    ['last-24h-20260329T0300', '2026-03-29T01:00:00.000Z'],
    ['last-24h-20260330T0230', '2026-03-30T00:30:00.000Z'],
    ['last-24h-20260331T0230', '2026-03-31T00:30:00.000Z'],
  ]);
});

test('midnight skipped in Santiago: a daily run at 00:00 runs at 01:00 that morning', async (t) => {
  const h = harness(t, '2026-09-04T12:00:00Z');
  h.start('0 0 * * *', 'America/Santiago', 'previous-day');
  await h.advanceTo('2026-09-07T12:00:00Z');
  // Santiago goes from 00:00 to 01:00 on 6 September: the 5th (a whole 24 hours) is reported at 01:00 that morning.
  assert.deepEqual(h.runs, [
    { key: '2026-09-04', slot: '2026-09-05T04:00:00.000Z', hours: 24 },
    { key: '2026-09-05', slot: '2026-09-06T04:00:00.000Z', hours: 24 },
    { key: '2026-09-06', slot: '2026-09-07T03:00:00.000Z', hours: 23 },
  ]);
});

test('a job whose hour is "*" runs by the clock: its times the clocks skip are not made up', () => {
  const berlin = slotsBetween('30 * * * *', 'Europe/Berlin', Date.parse('2026-03-29T00:00:00Z'), Date.parse('2026-03-29T02:00:00Z'));
  assert.deepEqual(berlin.map(iso), ['2026-03-29T00:30:00.000Z', '2026-03-29T01:30:00.000Z'], '01:30 CET, then 03:30 CEST');
  const fixed = slotsBetween('30 2 * * *', 'Europe/Berlin', Date.parse('2026-03-28T12:00:00Z'), Date.parse('2026-03-30T12:00:00Z'));
  assert.deepEqual(fixed.map(iso), ['2026-03-29T01:00:00.000Z', '2026-03-30T00:30:00.000Z'], 'a restart catches up the skipped run too');
});

test('a run whose timer comes seconds late (a busy or suspended process) still runs at once, not a day later', async (t) => {
  const h = harness(t, '2026-05-01T00:00:00Z');
  const s = h.start(cronOf('daily', '06:00', ''), 'UTC', 'previous-day');
  for (const day of ['2026-05-01', '2026-05-02']) {
    // The process wakes 5 seconds after the run time.
    t.mock.timers.tick(s.next()! - Date.now() + 5000);
    await settle();
    await s.idle();
    assert.equal(h.runs.at(-1)?.slot, `${day}T06:00:00.000Z`);
  }
  assert.deepEqual(h.runs.map((r) => r.key), ['2026-04-30', '2026-05-01']);
});

test('a failed run is reported and tried again at every run until produced', async (t) => {
  const h = harness(t, '2026-06-01T22:30:00Z');
  let down = true;
  const errors: string[] = [];
  const s = new ReportSchedule({
    expression: '0 * * * *',
    timezone: 'UTC',
    period: 'previous-day',
    marks: new Marks(h.marksPath),
    produce: async (p) => {
      if (down) throw new Error('store down');
      h.runs.push({ key: p.key, slot: '', hours: 0 });
      return p.key;
    },
    onError: (err, p) => errors.push(`${p.key}: ${err.message}`),
  });
  s.start();
  h.track(s);
  await h.advanceTo('2026-06-02T00:30:00Z');
  assert.deepEqual(errors, ['2026-05-31: store down', '2026-05-31: store down', '2026-06-01: store down']);
  down = false;
  await h.advanceTo('2026-06-02T03:30:00Z');
  assert.deepEqual(h.runs.map((r) => r.key), ['2026-05-31', '2026-06-01']);
  const marks = new Marks(h.marksPath);
  assert.equal(marks.produced('2026-06-01')?.id, '2026-06-01');
  assert.deepEqual(marks.pending(), []);
});

test('slots in zones with 30 and 45 minute offsets; cron expressions are checked', () => {
  const kathmandu = slotsBetween('0 6 * * *', 'Asia/Kathmandu', Date.parse('2026-05-01T00:00:00Z'), Date.parse('2026-05-03T00:00:00Z'));
  assert.deepEqual(kathmandu.map(iso), ['2026-05-01T00:15:00.000Z', '2026-05-02T00:15:00.000Z']);
  const adelaide = slotsBetween('0 6 * * 1', 'Australia/Adelaide', Date.parse('2026-05-01T00:00:00Z'), Date.parse('2026-05-12T00:00:00Z'));
  assert.deepEqual(adelaide.map(iso), ['2026-05-03T20:30:00.000Z', '2026-05-10T20:30:00.000Z']);
  assert.equal(checkCron(' 0  6 * * 1-5 '), '0 6 * * 1-5');
  assert.throws(() => checkCron('0 0 6 * * *'), /five fields/);
  assert.throws(() => checkCron('0 25 * * *'), /hour/);
  assert.throws(() => cronOf('daily', '6am', ''), /HH:MM/);
});

test('an hourly report in Europe/Berlin where the clocks go back: the hour that comes twice is reported twice, each its own period', async (t) => {
  const h = harness(t, '2026-10-24T22:30:00Z');
  h.start(cronOf('hourly', '00:00', ''), 'Europe/Berlin', 'previous-hour');
  await h.advanceTo('2026-10-25T03:30:00Z');
  // Each at the end of its hour: an hourly schedule runs in both passes of the hour that comes twice, as cron does.
  assert.deepEqual(
    h.runs.map((r) => [r.key, r.hours, r.slot]),
    [
      ['2026-10-25T00', 1, '2026-10-24T23:00:00.000Z'],
      ['2026-10-25T01', 1, '2026-10-25T00:00:00.000Z'],
      ['2026-10-25T02+0200', 1, '2026-10-25T01:00:00.000Z'],
      ['2026-10-25T02+0100', 1, '2026-10-25T02:00:00.000Z'],
      ['2026-10-25T03', 1, '2026-10-25T03:00:00.000Z'],
    ],
  );
});

test('an hourly rolling report in America/New_York where the clocks go back runs in both passes of 01:00', async (t) => {
  const h = harness(t, '2026-11-01T03:30:00Z');
  h.start(cronOf('hourly', '00:00', ''), 'America/New_York', 'last-24h');
  await h.advanceTo('2026-11-01T07:30:00Z');
  // 00:00 EDT, 01:00 EDT, 01:00 EST, 02:00 EST, 03:00 EST.
  assert.deepEqual(h.runs.map((r) => [r.key, r.slot]), [
    ['last-24h-20261101T0000', '2026-11-01T04:00:00.000Z'],
    ['last-24h-20261101T0100', '2026-11-01T05:00:00.000Z'],
    ['last-24h-20261101T0100-0500', '2026-11-01T06:00:00.000Z'],
    ['last-24h-20261101T0200', '2026-11-01T07:00:00.000Z'],
  ]);
});

test('a daily run of an hourly report produces the hour before each run, and the hours of missed runs only', async (t) => {
  const h = harness(t, '2026-07-01T12:00:00Z');
  h.start('30 6 * * *', 'UTC', 'previous-hour');
  await h.advanceTo('2026-07-03T07:00:00Z');
  assert.deepEqual(h.runs.map((r) => r.key), ['2026-07-02T05', '2026-07-03T05']);
  await h.stopAll();
  t.mock.timers.setTime(Date.parse('2026-07-06T12:00:00Z'));
  const s = h.start('30 6 * * *', 'UTC', 'previous-hour');
  await settle();
  await s.idle();
  assert.deepEqual(h.runs.map((r) => r.key).slice(2), ['2026-07-04T05', '2026-07-05T05', '2026-07-06T05']);
});

test('runs missed while the process was suspended are reported to the schedule, not to the console, and their periods produced', async (t) => {
  const h = harness(t, '2026-07-01T00:30:00Z');
  const warn = t.mock.method(console, 'warn', () => undefined);
  const missed: string[] = [];
  const s = new ReportSchedule({
    expression: '0 * * * *',
    timezone: 'UTC',
    period: 'previous-hour',
    marks: new Marks(h.marksPath),
    produce: async (p, slot) => {
      h.runs.push({ key: p.key, slot: iso(slot), hours: 1 });
      return p.key;
    },
    onMissed: (slot) => missed.push(iso(slot)),
  });
  s.start();
  h.track(s);
  // Suspended from 00:30 to 04:30: the timer of the 01:00 run fires three and a half hours late.
  t.mock.timers.setTime(Date.parse('2026-07-01T04:30:00Z'));
  t.mock.timers.tick(1);
  await settle();
  await s.idle();
  assert.deepEqual(missed, ['2026-07-01T01:00:00.000Z', '2026-07-01T02:00:00.000Z', '2026-07-01T03:00:00.000Z']);
  assert.equal(warn.mock.callCount(), 0, 'nothing written to the console');
  assert.deepEqual(h.runs.map((r) => r.key), ['2026-07-01T00', '2026-07-01T01', '2026-07-01T02', '2026-07-01T03']);
});

/** The run times of a daily schedule at `at` in `zone` from 24 October to 2 November 2026, with no period twice. */
async function dailySlots(t: TestContext, at: string, zone: string): Promise<string[]> {
  const h = harness(t, '2026-10-24T12:00:00Z');
  h.start(cronOf('daily', at, ''), zone, 'previous-day');
  await h.advanceTo('2026-11-02T12:00:00Z');
  assert.equal(new Set(h.runs.map((r) => r.key)).size, h.runs.length, 'no period twice');
  return h.runs.map((r) => r.slot);
}

test('a daily run in the hour that comes twice runs once, in its first pass, in Europe/Berlin (east of UTC), as cron does', async (t) => {
  const slots = await dailySlots(t, '02:30', 'Europe/Berlin');
  assert.ok(slots.includes('2026-10-25T00:30:00.000Z'), 'at 02:30 CEST');
  assert.ok(!slots.includes('2026-10-25T01:30:00.000Z'), 'not at 02:30 CET');
  assert.equal(slots.length, 9);
  // A restart's catch-up counts the same run times.
  const restart = slotsBetween('30 2 * * *', 'Europe/Berlin', Date.parse('2026-10-24T12:00:00Z'), Date.parse('2026-10-26T12:00:00Z'));
  assert.deepEqual(restart.map(iso), ['2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z']);
});

test('a daily run in the hour that comes twice runs once, in its first pass, in America/New_York (west of UTC), as cron does', async (t) => {
  const slots = await dailySlots(t, '01:30', 'America/New_York');
  assert.ok(slots.includes('2026-11-01T05:30:00.000Z'), 'at 01:30 EDT');
  assert.ok(!slots.includes('2026-11-01T06:30:00.000Z'), 'not at 01:30 EST');
  assert.equal(slots.length, 9);
  const restart = slotsBetween('30 1 * * *', 'America/New_York', Date.parse('2026-10-31T12:00:00Z'), Date.parse('2026-11-02T12:00:00Z'));
  assert.deepEqual(restart.map(iso), ['2026-11-01T05:30:00.000Z', '2026-11-02T06:30:00.000Z']);
});
