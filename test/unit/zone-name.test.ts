import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RuleEngine } from '../../nodes/lib/rules/engine';
import { timeText } from '../../nodes/lib/rules/template';
import { zoneAbbreviation } from '../../nodes/lib/zone-name';

const WINTER = Date.UTC(2026, 0, 15, 12, 0, 0);
const SUMMER = Date.UTC(2026, 6, 15, 12, 0, 0);

describe('time zone names in alert texts', () => {
  it('the abbreviation people use where there is one, in America as in Europe', () => {
    const cases: Array<[string, number, string]> = [
      ['America/New_York', WINTER, '2026-01-15 07:00:00 EST'],
      ['America/New_York', SUMMER, '2026-07-15 08:00:00 EDT'],
      ['America/Los_Angeles', WINTER, '2026-01-15 04:00:00 PST'],
      ['America/Los_Angeles', SUMMER, '2026-07-15 05:00:00 PDT'],
      ['Europe/London', WINTER, '2026-01-15 12:00:00 GMT'],
      ['Europe/London', SUMMER, '2026-07-15 13:00:00 BST'],
      ['Europe/Berlin', WINTER, '2026-01-15 13:00:00 CET'],
      ['Europe/Berlin', SUMMER, '2026-07-15 14:00:00 CEST'],
      ['Australia/Sydney', WINTER, '2026-01-15 23:00:00 AEDT'],
      ['UTC', SUMMER, '2026-07-15 12:00:00 UTC'],
    ];
    for (const [zone, ts, text] of cases) assert.equal(timeText(ts, zone), text, zone);
  });

  it('the offset where no abbreviation is common', () => {
    assert.equal(timeText(WINTER, 'Asia/Kolkata'), '2026-01-15 17:30:00 GMT+5:30');
    assert.equal(timeText(SUMMER, 'America/Sao_Paulo'), '2026-07-15 09:00:00 GMT-3');
    assert.equal(zoneAbbreviation(SUMMER, 'Etc/GMT+5'), 'GMT-5');
  });

  it('the name changes with the clocks: New York springs forward at 02:00 EST on 8 March 2026', () => {
    const change = Date.UTC(2026, 2, 8, 7);
    assert.equal(timeText(change - 1000, 'America/New_York'), '2026-03-08 01:59:59 EST');
    assert.equal(timeText(change, 'America/New_York'), '2026-03-08 03:00:00 EDT');
  });

  it('an alert message of a rule in New York says EST and EDT in {since}', () => {
    for (const [t0, since] of [[WINTER, '2026-01-15 07:00:00 EST'], [SUMMER, '2026-07-15 08:00:00 EDT']] as const) {
      let now = t0;
      const engine = new RuleEngine(
        [{ id: 'hot', name: 'Too hot', devices: { all: true }, when: { field: 'temperature', op: 'above', value: 30, for: '5s' }, severity: 'warning', timezone: 'America/New_York', message: '{device} hot since {since}' }],
        { clock: () => now },
      );
      const events = [0, 5000].flatMap((dt) => {
        now = t0 + dt;
        return engine.process({ device: 'dev1', ts: now, fields: { temperature: 31 }, tags: {} });
      });
      const firing = events.find((e) => e.event === 'firing');
      assert.equal(firing?.message, `dev1 hot since ${since}`);
    }
  });

  it('a reminder\'s reason gives the time it has been firing since on the rule\'s clock too, not in UTC', () => {
    let now = WINTER;
    const engine = new RuleEngine(
      [{ id: 'hot', name: 'Too hot', devices: { all: true }, when: { field: 'temperature', op: 'above', value: 30 }, severity: 'warning', timezone: 'America/New_York', remindEvery: '4m' }],
      { clock: () => now },
    );
    engine.process({ device: 'dev1', ts: now, fields: { temperature: 31 }, tags: {} });
    now += 5 * 60_000;
    const reminder = engine.tick(now).find((e) => e.event === 'reminder');
    assert.equal(reminder?.reason, 'still firing since 2026-01-15 07:00:00 EST, not acknowledged');
  });
});
