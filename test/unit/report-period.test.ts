import { test } from 'node:test';
import assert from 'node:assert/strict';
import { explicitPeriod, localIso, monthPeriod, periodAt, periodTime } from '../../nodes/lib/report/period';
import { BadParameterError, ConfigError } from '../../nodes/lib/errors';

const iso = (ms: number) => new Date(ms).toISOString();

test('previous day in a zone, including the DST days (23 and 25 hours)', () => {
  const p = periodAt('previous-day', Date.parse('2026-10-05T04:00:00Z'), 'Europe/Berlin');
  assert.equal(iso(p.from), '2026-10-03T22:00:00.000Z');
  assert.equal(iso(p.to), '2026-10-04T22:00:00.000Z');
  assert.equal(p.key, '2026-10-04');
  // Berlin springs forward on 29 March 2026 and falls back on 25 October 2026.
  const spring = periodAt('previous-day', Date.parse('2026-03-30T06:00:00Z'), 'Europe/Berlin');
  assert.equal(spring.key, '2026-03-29');
  assert.equal((spring.to - spring.from) / 3_600_000, 23);
  const autumn = periodAt('previous-day', Date.parse('2026-10-26T06:00:00Z'), 'Europe/Berlin');
  assert.equal((autumn.to - autumn.from) / 3_600_000, 25);
});

test('previous week is the ISO week (Monday to Monday); previous month ends where the month ends', () => {
  const w = periodAt('previous-week', Date.parse('2026-10-05T05:00:00Z'), 'America/New_York');
  assert.equal(w.key, '2026-W40');
  assert.equal(iso(w.from), '2026-09-28T04:00:00.000Z');
  assert.equal(iso(w.to), '2026-10-05T04:00:00.000Z');
  const feb = periodAt('previous-month', Date.parse('2028-03-01T06:00:00Z'), 'UTC');
  assert.equal(feb.key, '2028-02');
  assert.equal((feb.to - feb.from) / 86_400_000, 29);
  // Just after midnight on the 1st in Tokyo is still the previous month's last day in UTC.
  const tokyo = periodAt('previous-month', Date.parse('2026-10-31T15:30:00Z'), 'Asia/Tokyo');
  assert.equal(tokyo.key, '2026-10');
  assert.equal(iso(tokyo.from), '2026-09-30T15:00:00.000Z');
});

test('rolling periods end at the minute of the run; month periods and explicit ranges', () => {
  const r = periodAt('last-24h', Date.parse('2026-10-05T06:00:30Z'), 'UTC');
  assert.equal(iso(r.to), '2026-10-05T06:00:00.000Z');
  assert.equal(r.to - r.from, 86_400_000);
  assert.equal(r.key, 'last-24h-20261005T0600');
  const m = monthPeriod('2026-10', 'Europe/Berlin');
  assert.equal(iso(m.from), '2026-09-30T22:00:00.000Z');
  assert.equal(iso(m.to), '2026-10-31T23:00:00.000Z');
  assert.throws(() => monthPeriod('2026-13', 'UTC'), BadParameterError);
  assert.throws(() => monthPeriod('Oct 2026', 'UTC'), /YYYY-MM/);
  assert.throws(() => periodAt('previous-day', 0, 'Mars/Olympus'), ConfigError);
  assert.equal(explicitPeriod(0, 3_600_000, 'UTC').key, '19700101T0000-19700101T0100');
  assert.throws(() => explicitPeriod(10, 10, 'UTC'), /after/);
});

test('a run\'s from and to without an offset are wall-clock times of the report\'s zone; with one, or in epoch ms, instants', () => {
  // Berlin's 1 October 2026 (summer time) starts at 22:00 UTC the day before; the DST day of 25 October has 25 hours.
  assert.equal(iso(periodTime('from', '2026-10-01', 'Europe/Berlin')), '2026-09-30T22:00:00.000Z');
  assert.equal(iso(periodTime('from', '2026-10-01T06:00', 'Europe/Berlin')), '2026-10-01T04:00:00.000Z');
  assert.equal(iso(periodTime('from', '2026-11-01 00:00:00', 'America/New_York')), '2026-11-01T04:00:00.000Z');
  const p = explicitPeriod(periodTime('from', '2026-10-25', 'Europe/Berlin'), periodTime('to', '2026-10-26', 'Europe/Berlin'), 'Europe/Berlin');
  assert.equal((p.to - p.from) / 3_600_000, 25);
  assert.equal(p.label, '25 Oct 2026 00:00 – 26 Oct 2026 00:00');
  assert.equal(iso(periodTime('from', '2026-10-01T00:00:00Z', 'Europe/Berlin')), '2026-10-01T00:00:00.000Z');
  assert.equal(iso(periodTime('from', '2026-10-01T00:00:00+02:00', 'UTC')), '2026-09-30T22:00:00.000Z');
  assert.equal(periodTime('from', '1790000000000', 'Europe/Berlin'), 1790000000000);
  assert.throws(() => periodTime('from', '2026-02-30', 'Europe/Berlin'), (e: Error) => e instanceof BadParameterError && /"from" must be ISO 8601/.test(e.message));
  assert.throws(() => periodTime('to', 'yesterday', 'UTC'), BadParameterError);
});

test('a wall-clock time the zone skips is refused naming the gap; a day starts at its first moment; 24:00 ends a day', () => {
  const refused = (value: string, zone: string, words: string) =>
    assert.throws(() => periodTime('to', value, zone), (e: Error) => e instanceof BadParameterError && e.message === `"to" ${value.replace('T', ' ')} is not a time in ${zone}: ${words}; give a time outside that gap, or one with an offset`);
  refused('2026-03-08T02:30', 'America/New_York', 'its clocks go forward from 02:00 to 03:00 that day (EST to EDT)');
  // Lord Howe moves by half an hour; Santiago's day of the change has no midnight.
  refused('2026-10-04T02:15', 'Australia/Lord_Howe', 'its clocks go forward from 02:00 to 02:30 that day (LHST to LHDT)');
  refused('2026-09-06T00:30', 'America/Santiago', 'its clocks go forward from 00:00 to 01:00 that day (GMT-4 to GMT-3)');
  assert.equal(iso(periodTime('from', '2026-09-06', 'America/Santiago')), '2026-09-06T04:00:00.000Z');
  assert.equal(iso(periodTime('from', '2026-09-06T00:00', 'America/Santiago')), '2026-09-06T04:00:00.000Z');
  assert.equal(iso(periodTime('to', '2026-03-28T24:00', 'Europe/Berlin')), '2026-03-28T23:00:00.000Z');
  // Either side of the gap is taken as it was.
  assert.equal(iso(periodTime('from', '2026-03-29T01:59', 'Europe/Berlin')), '2026-03-29T00:59:00.000Z');
  assert.equal(iso(periodTime('from', '2026-03-29T03:00', 'Europe/Berlin')), '2026-03-29T01:00:00.000Z');
});

test('previous hour where the clocks go back: the hour that comes twice has its offset in the key, the zone\'s abbreviation in the label', () => {
  const at = (iso: string) => periodAt('previous-hour', Date.parse(iso), 'Europe/Berlin');
  const first = at('2026-10-25T01:00:00Z');
  const second = at('2026-10-25T02:00:00Z');
  // The keys are those of the reports already archived and of the schedule's marks: they stay as they were.
  assert.deepEqual([first.key, first.label], ['2026-10-25T02+0200', 'Sun 25 Oct 2026 02:00 CEST – 02:00 CET']);
  assert.deepEqual([second.key, second.label], ['2026-10-25T02+0100', 'Sun 25 Oct 2026 02:00 CET – 03:00 CET']);
  const ny = periodAt('previous-hour', Date.parse('2026-11-01T06:00:00Z'), 'America/New_York');
  assert.deepEqual([ny.key, ny.label], ['2026-11-01T01-0400', 'Sun 1 Nov 2026 01:00 EDT – 01:00 EST']);
  // A zone without a common abbreviation is named by its offset: Santiago's clocks go back from 00:00 to 23:00.
  const santiago = periodAt('previous-hour', Date.parse('2026-04-05T03:00:00Z'), 'America/Santiago');
  assert.deepEqual([santiago.key, santiago.label], ['2026-04-04T23-0300', 'Sat 4 Apr 2026 23:00 GMT-3 – 23:00 GMT-4']);
  assert.equal(first.to, second.from);
  // Every other hour keeps its plain key, the spring change (an hour that never comes) included.
  assert.equal(at('2026-10-25T03:00:00Z').key, '2026-10-25T03');
  assert.equal(at('2026-10-25T00:00:00Z').key, '2026-10-25T01');
  assert.deepEqual([at('2027-03-28T01:00:00Z').key, at('2027-03-28T01:00:00Z').label], ['2027-03-28T01', 'Sun 28 Mar 2027 01:00 – 03:00']);
  assert.equal(periodAt('previous-hour', Date.parse('2026-10-25T02:00:00Z'), 'UTC').key, '2026-10-25T01');
});

test('explicit and rolling periods: an end the clock shows twice carries the zone\'s abbreviation in the label, one in its second pass the offset in the key', () => {
  // 00:00 – 01:00 UTC on 25 October 2026 is Berlin's 02:00 CEST – 02:00 CET.
  const hour = explicitPeriod(Date.parse('2026-10-25T00:00:00Z'), Date.parse('2026-10-25T01:00:00Z'), 'Europe/Berlin');
  assert.deepEqual([hour.key, hour.label], ['20261025T0200-20261025T0200+0100', '25 Oct 2026 02:00 CEST – 25 Oct 2026 02:00 CET']);
  const rolling = periodAt('last-24h', Date.parse('2026-10-25T01:30:20Z'), 'Europe/Berlin');
  assert.deepEqual([rolling.key, rolling.label], ['last-24h-20261025T0230+0100', '24 Oct 2026 03:30 – 25 Oct 2026 02:30 CET']);
  assert.equal(explicitPeriod(Date.parse('2026-10-24T22:00:00Z'), Date.parse('2026-10-25T23:00:00Z'), 'Europe/Berlin').label, '25 Oct 2026 00:00 – 26 Oct 2026 00:00');
});

test('the hour the clock shows twice: ranges and rolling runs in its first and second pass get keys of their own; every other key is as it was', () => {
  const range = (from: string, to: string, zone = 'Europe/Berlin') => explicitPeriod(Date.parse(from), Date.parse(to), zone).key;
  // 02:10 – 02:40 in CEST, then again in CET: the first keeps the key it always had.
  assert.equal(range('2026-10-25T00:10:00Z', '2026-10-25T00:40:00Z'), '20261025T0210-20261025T0240');
  assert.equal(range('2026-10-25T01:10:00Z', '2026-10-25T01:40:00Z'), '20261025T0210+0100-20261025T0240+0100');
  // Ranges outside it, the spring change and other zones: unchanged.
  assert.equal(range('2026-10-25T02:10:00Z', '2026-10-25T02:40:00Z'), '20261025T0310-20261025T0340');
  assert.equal(range('2027-03-28T00:30:00Z', '2027-03-28T01:30:00Z'), '20270328T0130-20270328T0330');
  assert.equal(range('2026-10-25T01:10:00Z', '2026-10-25T01:40:00Z', 'UTC'), '20261025T0110-20261025T0140');
  const rolling = (at: string, zone = 'Europe/Berlin') => periodAt('last-24h', Date.parse(at), zone).key;
  assert.deepEqual([rolling('2026-10-25T00:10:00Z'), rolling('2026-10-25T01:10:00Z')], ['last-24h-20261025T0210', 'last-24h-20261025T0210+0100']);
  assert.equal(rolling('2026-10-25T02:10:00Z'), 'last-24h-20261025T0310');
  // New York goes back from 02:00 EDT to 01:00 EST; Lord Howe by half an hour, from 02:00 to 01:30.
  assert.deepEqual([rolling('2026-11-01T05:15:00Z', 'America/New_York'), rolling('2026-11-01T06:15:00Z', 'America/New_York')], ['last-24h-20261101T0115', 'last-24h-20261101T0115-0500']);
  assert.deepEqual([rolling('2026-04-04T14:40:00Z', 'Australia/Lord_Howe'), rolling('2026-04-04T15:10:00Z', 'Australia/Lord_Howe')], ['last-24h-20260405T0140', 'last-24h-20260405T0140+1030']);
  assert.equal(rolling('2026-04-04T14:20:00Z', 'Australia/Lord_Howe'), 'last-24h-20260405T0120');
});

test('where the clocks go forward at midnight, the day, week and month before such a day start at their own midnight', () => {
  const local = (ms: number, zone: string) => localIso(ms, zone);
  // Cairo goes from 00:00 to 01:00 on Friday 24 April 2026: Thursday the 23rd is a whole day of 24 hours, the 24th has 23.
  const thursday = periodAt('previous-day', Date.parse('2026-04-24T12:00:00Z'), 'Africa/Cairo');
  assert.equal(thursday.key, '2026-04-23');
  assert.deepEqual([local(thursday.from, 'Africa/Cairo'), local(thursday.to, 'Africa/Cairo')], ['2026-04-23T00:00:00+02:00', '2026-04-24T01:00:00+03:00']);
  assert.equal((thursday.to - thursday.from) / 3_600_000, 24);
  const friday = periodAt('previous-day', Date.parse('2026-04-25T12:00:00Z'), 'Africa/Cairo');
  assert.equal(friday.from, thursday.to, 'days follow each other without a gap');
  assert.equal((friday.to - friday.from) / 3_600_000, 23);
  // Asunción went from 00:00 to 01:00 on Sunday 1 October 2023: September ends, and October starts, at that moment.
  const september = periodAt('previous-month', Date.parse('2023-10-02T12:00:00Z'), 'America/Asuncion');
  assert.deepEqual([local(september.from, 'America/Asuncion'), local(september.to, 'America/Asuncion')], ['2023-09-01T00:00:00-04:00', '2023-10-01T01:00:00-03:00']);
  const october = monthPeriod('2023-10', 'America/Asuncion');
  assert.equal(october.from, september.to);
  assert.equal(local(october.to, 'America/Asuncion'), '2023-11-01T00:00:00-03:00');
  assert.equal((october.to - october.from) / 3_600_000, 31 * 24 - 1);
  // Santiago goes from 00:00 to 01:00 on Sunday 6 September 2026; the week before Monday the 7th starts on Monday the 31st.
  const week = periodAt('previous-week', Date.parse('2026-09-08T12:00:00Z'), 'America/Santiago');
  assert.equal(local(week.from, 'America/Santiago'), '2026-08-31T00:00:00-04:00');
  assert.equal((week.to - week.from) / 3_600_000, 167);
});
