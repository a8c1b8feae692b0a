import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RuleEngine } from '../../nodes/lib/rules/engine';
import type { AlertEvent, Rule } from '../../nodes/lib/rules/types';
import type { Reading } from '../../nodes/lib/reading';

const S = 1000;
const MIN = 60_000;
const T0 = Date.UTC(2026, 0, 5, 12, 0, 0);

/** An engine on a fake clock that moves with the readings fed to it. */
function harness(rules: Rule[]) {
  let now = T0;
  const engine = new RuleEngine(rules, { clock: () => now });
  const events: AlertEvent[] = [];
  return {
    engine,
    events,
    get now() {
      return now;
    },
    at(ts: number) {
      now = ts;
      events.push(...engine.tick());
    },
    send(device: string, fields: Reading['fields'], ts = now, tags: Record<string, string> = {}) {
      if (ts > now) now = ts;
      const out = engine.process({ device, ts, fields, tags });
      events.push(...out);
      return out;
    },
    kinds: () => events.map((e) => e.event),
  };
}

const HOT: Rule = {
  id: 'hot',
  name: 'Too hot',
  devices: { all: true },
  when: { field: 'temperature', op: 'above', value: 30, for: '5s' },
  clear: { op: 'below', value: 28, for: '0s' },
  severity: 'warning',
  message: '{device}: {field} is {value} (above 30 since {since})',
};

describe('rule engine: durations and hysteresis', () => {
  it('the issue\'s example: 31 °C for 8 s fires once after 5 s; 29 keeps it firing; 27 clears it', () => {
    const h = harness([HOT]);
    for (let i = 0; i <= 8; i++) h.send('dev1', { temperature: 31 }, T0 + i * S);
    assert.deepEqual(h.kinds(), ['pending', 'firing']);
    const firing = h.events[1];
    assert.equal(firing.ts, T0 + 5 * S, 'fires with the reading that completes 5 s');
    assert.equal(firing.since, T0);
    assert.equal(firing.severity, 'warning');
    assert.equal(firing.message, 'dev1: temperature is 31 (above 30 since 2026-01-05 12:00:00 UTC)');
    assert.equal(firing.notify, true);
    h.send('dev1', { temperature: 29 }, T0 + 9 * S);
    h.at(T0 + 20 * S);
    assert.deepEqual(h.kinds(), ['pending', 'firing'], '29 is inside the hysteresis band: still firing');
    assert.equal(h.engine.alert('hot:dev1')?.state, 'firing');
    h.send('dev1', { temperature: 27 }, T0 + 21 * S);
    assert.deepEqual(h.kinds(), ['pending', 'firing', 'cleared']);
    const rec = h.engine.alert('hot:dev1')!;
    assert.equal(rec.state, 'cleared');
    assert.equal(rec.occurrences, 1);
    assert.equal(rec.firstSeen, T0 + 5 * S);
  });

  it('a pending condition that stops holding goes back to inactive and never fires', () => {
    const h = harness([HOT]);
    h.send('dev1', { temperature: 31 }, T0);
    h.send('dev1', { temperature: 31 }, T0 + 3 * S);
    h.send('dev1', { temperature: 29.5 }, T0 + 4 * S);
    h.send('dev1', { temperature: 31 }, T0 + 6 * S);
    h.send('dev1', { temperature: 31 }, T0 + 10 * S);
    assert.deepEqual(h.kinds(), ['pending', 'inactive', 'pending']);
    h.send('dev1', { temperature: 31 }, T0 + 11 * S);
    assert.deepEqual(h.kinds(), ['pending', 'inactive', 'pending', 'firing']);
    assert.equal(h.events[3].since, T0 + 6 * S);
  });

  it('a duration completes on the timer when no further reading comes', () => {
    const h = harness([HOT]);
    h.send('dev1', { temperature: 35 }, T0);
    h.at(T0 + 4 * S);
    assert.deepEqual(h.kinds(), ['pending']);
    h.at(T0 + 5 * S);
    assert.deepEqual(h.kinds(), ['pending', 'firing']);
  });

  it('hysteresis: a noisy signal around the threshold raises one alert, not one per crossing', () => {
    const noisy = Array.from({ length: 200 }, (_, i) => 30 + Math.sin(i * 1.3) * 0.8 + (i % 7 === 0 ? 0.6 : 0));
    const withBand = harness([{ ...HOT, when: { field: 'temperature', op: 'above', value: 30 } }]);
    const without = harness([{ ...HOT, when: { field: 'temperature', op: 'above', value: 30 }, clear: undefined }]);
    noisy.forEach((v, i) => {
      withBand.send('d', { temperature: v }, T0 + i * S);
      without.send('d', { temperature: v }, T0 + i * S);
    });
    assert.deepEqual(withBand.kinds(), ['firing'], 'the recovery threshold of 28 is never reached');
    const flips = without.kinds().length;
    assert.ok(flips > 40, `without a band it flips on every crossing (${flips} transitions)`);
  });

  it('"back to normal for" and "keep firing for" hold the alert until normal long enough', () => {
    const h = harness([{ ...HOT, when: { field: 'temperature', op: 'above', value: 30 }, clear: { op: 'below', value: 28, for: '1m' } }]);
    h.send('d', { temperature: 31 }, T0);
    h.send('d', { temperature: 27 }, T0 + 10 * S);
    h.send('d', { temperature: 27 }, T0 + 50 * S);
    h.send('d', { temperature: 29 }, T0 + 60 * S); // in the band: not normal, the minute starts again
    h.send('d', { temperature: 27 }, T0 + 70 * S);
    h.send('d', { temperature: 27 }, T0 + 120 * S);
    assert.deepEqual(h.kinds(), ['firing']);
    h.send('d', { temperature: 27 }, T0 + 130 * S);
    assert.deepEqual(h.kinds(), ['firing', 'cleared']);
    assert.equal(h.events[1].ts, T0 + 130 * S);

    const k = harness([{ ...HOT, when: { field: 'temperature', op: 'above', value: 30 }, clear: undefined, keepFiringFor: '5m' }]);
    k.send('d', { temperature: 31 }, T0);
    k.send('d', { temperature: 20 }, T0 + MIN);
    k.at(T0 + 4 * MIN);
    assert.deepEqual(k.kinds(), ['firing']);
    k.at(T0 + 5 * MIN);
    assert.deepEqual(k.kinds(), ['firing', 'cleared'], 'cleared 5 minutes after the condition last held');
  });
});

describe('rule engine: flapping, escalation, reminders, acknowledgement', () => {
  it('an alert that changes state more than N times in T is held as flapping with one notification, until it settles', () => {
    const h = harness([{ ...HOT, when: { field: 'temperature', op: 'above', value: 30 }, clear: undefined, flap: { changes: 4, within: '1m' } }]);
    for (let i = 0; i < 20; i++) h.send('d', { temperature: i % 2 ? 25 : 35 }, T0 + i * 2 * S);
    assert.deepEqual(h.kinds(), ['firing', 'cleared', 'firing', 'cleared', 'flapping']);
    assert.equal(h.events.filter((e) => e.notify).length, 5);
    assert.equal(h.engine.alert('hot:d')?.state, 'flapping');
    // Steady above for a minute: it settles as firing.
    for (let i = 0; i <= 60; i += 10) h.send('d', { temperature: 35 }, T0 + 40 * S + i * S);
    h.at(T0 + 40 * S + MIN + S);
    assert.deepEqual(h.kinds().slice(5), ['firing']);
    assert.match(h.events[5].reason, /stopped flapping/);
    assert.equal(h.engine.alert('hot:d')?.state, 'firing');
  });

  it('escalates after T unacknowledged and reminds every T until acknowledged', () => {
    const h = harness([{ ...HOT, when: { field: 'temperature', op: 'above', value: 30 }, escalate: { severity: 'critical', after: '10m' }, remindEvery: '4m' }]);
    h.send('d', { temperature: 33 }, T0);
    for (let m = 1; m <= 11; m++) h.at(T0 + m * MIN);
    assert.deepEqual(h.kinds(), ['firing', 'reminder', 'reminder', 'escalated']);
    assert.equal(h.events[3].severity, 'critical');
    assert.deepEqual(h.engine.alert('hot:d')!.severityHistory.map((x) => x.severity), ['warning', 'critical']);
    const ack = h.engine.acknowledge('hot:d', 'ann', 'fan replaced');
    assert.equal(ack.event, 'acknowledged');
    assert.equal(ack.state, 'acknowledged');
    assert.equal(ack.by, 'ann');
    for (let m = 12; m <= 30; m++) h.at(T0 + m * MIN);
    assert.deepEqual(h.kinds(), ['firing', 'reminder', 'reminder', 'escalated'], 'no reminder after the acknowledgement');
    assert.throws(() => h.engine.acknowledge('hot:d', 'bob'), /already acknowledged by ann/);
    h.send('d', { temperature: 20 }, T0 + 31 * MIN);
    assert.equal(h.engine.alert('hot:d')?.state, 'cleared');
    assert.throws(() => h.engine.acknowledge('hot:d', 'bob'), /only a firing alert/);
    assert.throws(() => h.engine.acknowledge('nope:d', 'bob'), /no alert "nope:d"/);
  });

  it('escalates when the value passes a second threshold, within the same alert', () => {
    const h = harness([{ ...HOT, when: { field: 'temperature', op: 'above', value: 30 }, escalate: { severity: 'critical', op: 'above', value: 40 } }]);
    h.send('d', { temperature: 33 }, T0);
    h.send('d', { temperature: 41 }, T0 + S);
    h.send('d', { temperature: 35 }, T0 + 2 * S);
    assert.deepEqual(h.events.map((e) => [e.event, e.severity]), [['firing', 'warning'], ['escalated', 'critical']]);
    assert.equal(h.engine.alert('hot:d')?.occurrences, 1);
  });
});

describe('rule engine: schedules, silences and mute windows', () => {
  const office = (tz: string): Rule => ({
    id: 'office',
    name: 'Office hours',
    devices: { all: true },
    when: { field: 't', op: 'above', value: 30 },
    severity: 'warning',
    timezone: tz,
    schedule: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], from: '08:00', to: '18:00' }],
  });

  it('follows local time across the spring DST change (Europe/Berlin, 29 March 2026)', () => {
    // Saturday 28 March (CET, UTC+1): 08:00 local is 07:00 UTC.
    const sat = harness([office('Europe/Berlin')]);
    sat.send('a', { t: 35 }, Date.UTC(2026, 2, 28, 6, 59));
    sat.send('b', { t: 35 }, Date.UTC(2026, 2, 28, 7, 0));
    assert.deepEqual(sat.events.map((e) => e.device), ['b']);
    // Sunday 29 March (CEST from 02:00, UTC+2): 08:00 local is 06:00 UTC.
    const sun = harness([office('Europe/Berlin')]);
    sun.send('a', { t: 35 }, Date.UTC(2026, 2, 29, 5, 59));
    sun.send('b', { t: 35 }, Date.UTC(2026, 2, 29, 6, 0));
    sun.send('c', { t: 35 }, Date.UTC(2026, 2, 29, 15, 59)); // 17:59 local
    sun.send('d', { t: 35 }, Date.UTC(2026, 2, 29, 16, 0)); // 18:00 local
    assert.deepEqual(sun.events.map((e) => e.device), ['b', 'c']);
  });

  it('follows local time across the autumn DST change and through the repeated hour (America/New_York)', () => {
    const night: Rule = { ...office('America/New_York'), schedule: [{ days: ['sun'], from: '01:00', to: '02:00' }] };
    // 1 November 2026: 01:00-02:00 EDT happens, then 01:00-02:00 EST again.
    const h = harness([night]);
    h.send('edt', { t: 35 }, Date.UTC(2026, 10, 1, 5, 30)); // 01:30 EDT
    h.send('est', { t: 35 }, Date.UTC(2026, 10, 1, 6, 30)); // 01:30 EST
    h.send('late', { t: 35 }, Date.UTC(2026, 10, 1, 7, 30)); // 02:30 EST
    assert.deepEqual(h.events.map((e) => e.device), ['edt', 'est']);
  });

  it('a window that crosses midnight, and a pending duration cut by the end of the schedule', () => {
    const r: Rule = { ...office('UTC'), when: { field: 't', op: 'above', value: 30, for: '10m' }, schedule: [{ days: ['mon'], from: '22:00', to: '06:00' }] };
    const h = harness([r]);
    // Monday 5 Jan 2026 23:00, and Tuesday 05:55 (still Monday's window), Tuesday 22:30 (not a window day).
    h.send('a', { t: 35 }, Date.UTC(2026, 0, 5, 23, 0));
    h.send('b', { t: 35 }, Date.UTC(2026, 0, 6, 5, 55));
    h.send('c', { t: 35 }, Date.UTC(2026, 0, 6, 22, 30));
    assert.deepEqual(h.events.map((e) => `${e.device}:${e.event}`), ['a:pending', 'b:pending']);
    h.at(Date.UTC(2026, 0, 5, 23, 10));
    h.at(Date.UTC(2026, 0, 6, 6, 5));
    assert.deepEqual(h.events.map((e) => `${e.device}:${e.event}`).slice(2), ['a:firing', 'b:inactive'], 'b was due at 06:05, after the window closed');
  });

  it('silences and mute windows keep state and records but hold notifications back', () => {
    const r: Rule = {
      ...HOT,
      when: { field: 'temperature', op: 'above', value: 30 },
      silences: [{ from: new Date(T0).toISOString(), to: new Date(T0 + 10 * MIN).toISOString(), devices: ['quiet'] }],
      mute: [{ days: ['mon'], from: '00:00', to: '06:00' }],
    };
    const h = harness([r]);
    h.send('quiet', { temperature: 35 }, T0 + MIN);
    h.send('loud', { temperature: 35 }, T0 + MIN);
    h.send('night', { temperature: 35 }, Date.UTC(2026, 0, 12, 3, 0)); // Monday 03:00 UTC
    assert.deepEqual(h.events.map((e) => [e.device, e.event, e.notify, e.silenced ?? '']), [
      ['quiet', 'firing', false, 'silence'],
      ['loud', 'firing', true, ''],
      ['night', 'firing', false, 'mute'],
    ]);
    assert.equal(h.engine.alert('hot:quiet')?.state, 'firing');
  });
});

describe('rule engine: dead-man, groups, changes, tags, anomalies', () => {
  it('not reported for T: decided by the timer, for devices that went silent and listed devices that never reported', () => {
    const r: Rule = { id: 'silent', name: 'Silent', devices: { list: ['a', 'b'] }, when: { op: 'not-reported', for: '10m' }, severity: 'critical', message: '{device} silent since {since}' };
    const h = harness([r]);
    h.send('a', { t: 1 }, T0 + MIN);
    h.at(T0 + 9 * MIN);
    assert.equal(h.events.length, 0);
    h.at(T0 + 10 * MIN);
    assert.deepEqual(h.events.map((e) => `${e.device}:${e.event}`), ['b:firing'], 'b never reported since the rule started');
    h.at(T0 + 11 * MIN);
    assert.deepEqual(h.events.map((e) => `${e.device}:${e.event}`), ['b:firing', 'a:firing']);
    assert.equal(h.events[1].since, T0 + MIN);
    assert.equal(h.events[1].message, 'a silent since 2026-01-05 12:01:00 UTC');
    h.send('a', { t: 1 }, T0 + 12 * MIN);
    assert.deepEqual(h.events.map((e) => `${e.device}:${e.event}`).slice(2), ['a:cleared']);
    h.send('c', { t: 1 }, T0 + 12 * MIN);
    h.at(T0 + 40 * MIN);
    assert.ok(!h.events.some((e) => e.device === 'c'), 'c is not on the list');
  });

  it('not reported for T without a message of its own: the message says what happened, not a value the device did not send', () => {
    const r: Rule = { id: 'silent', name: 'Silent', devices: { list: ['a', 'ghost'] }, when: { field: 'temperature', op: 'not-reported', for: '10m' }, severity: 'critical', unit: '°C' };
    const h = harness([r]);
    h.send('a', { temperature: 5 }, T0 + MIN);
    h.at(T0 + 11 * MIN);
    const firing = new Map(h.events.map((e) => [e.device, e.message]));
    assert.equal(firing.get('ghost'), 'Silent: ghost: no temperature from ghost for 10 minutes');
    assert.equal(firing.get('a'), 'Silent: a: no temperature from a for 10 minutes');
    h.send('a', { temperature: 6 }, T0 + 12 * MIN);
    assert.equal(h.events.at(-1)?.event, 'cleared');
    assert.equal(h.events.at(-1)?.message, 'Silent: a: device a reported again');
    // Any other rule without a message keeps the reading's value in it.
    const hot = harness([{ id: 'hot', name: 'Hot', devices: { all: true }, when: { field: 'temperature', op: 'above', value: 30 }, severity: 'warning', unit: '°C' }]);
    hot.send('a', { temperature: 31 }, T0);
    assert.equal(hot.events.at(-1)?.message, 'Hot: a temperature is 31 °C');
  });

  it('AND and OR groups, with a duration on the group', () => {
    const and: Rule = { id: 'muggy', name: 'Muggy', devices: { all: true }, when: { all: [{ field: 't', op: 'above', value: 30 }, { field: 'h', op: 'above', value: 80 }], for: '1m' }, severity: 'warning' };
    const or: Rule = { id: 'either', name: 'Either', devices: { all: true }, when: { any: [{ field: 't', op: 'above', value: 30 }, { all: [{ field: 'h', op: 'above', value: 80 }, { field: 'door', op: 'equal', value: 'open' }] }] }, severity: 'info' };
    const h = harness([and, or]);
    h.send('d', { t: 35, h: 50, door: 'shut' }, T0);
    h.send('d', { h: 85 }, T0 + 10 * S);
    h.send('d', { t: 34 }, T0 + 50 * S);
    h.send('d', { t: 34 }, T0 + 71 * S);
    assert.deepEqual(h.events.map((e) => `${e.rule}:${e.event}`), ['either:firing', 'muggy:pending', 'muggy:firing']);
    assert.equal(h.events[2].ts, T0 + 71 * S);
    h.send('d', { t: 20 }, T0 + 80 * S);
    assert.deepEqual(h.events.map((e) => `${e.rule}:${e.event}`).slice(3), ['muggy:cleared', 'either:cleared']);
    h.send('d', { door: 'open' }, T0 + 90 * S);
    assert.deepEqual(h.events.map((e) => `${e.rule}:${e.event}`).slice(5), ['either:firing'], 'humidity 85 and the door open');
  });

  it('changed by more than X within T', () => {
    const r: Rule = { id: 'jump', name: 'Jump', devices: { all: true }, when: { field: 'p', op: 'changed-by', value: 5, within: '1m' }, severity: 'warning' };
    const h = harness([r]);
    h.send('d', { p: 100 }, T0);
    h.send('d', { p: 103 }, T0 + 30 * S);
    h.send('d', { p: 104 }, T0 + 50 * S);
    assert.deepEqual(h.kinds(), []);
    h.send('d', { p: 106 }, T0 + 55 * S);
    assert.deepEqual(h.kinds(), ['firing'], '106 is 6 more than 100, 55 s earlier');
    h.send('d', { p: 106 }, T0 + 100 * S);
    assert.deepEqual(h.kinds(), ['firing', 'cleared'], '100 has left the window');
  });

  it('per-device thresholds from a tag, and devices chosen by tag', () => {
    const r: Rule = { id: 'hot', name: 'Hot', devices: { tags: { site: 'lab' } }, when: { field: 't', op: 'above', value: 30, valueTag: 't_max' }, severity: 'warning', message: '{device} above {threshold}' };
    const h = harness([r]);
    h.send('plain', { t: 32 }, T0, { site: 'lab' });
    h.send('tuned', { t: 32 }, T0, { site: 'lab', t_max: '35' });
    h.send('elsewhere', { t: 50 }, T0, { site: 'home' });
    h.send('tuned', { t: 36 }, T0 + S, { site: 'lab', t_max: '35' });
    assert.deepEqual(h.events.map((e) => e.message), ['plain above 30', 'tuned above 35']);
  });

  it('anomalous: a verdict from the anomaly node at or above the score', () => {
    const r: Rule = { id: 'odd', name: 'Odd', devices: { all: true }, when: { field: 't', op: 'anomalous', score: 0.7 }, clear: { for: '5m' }, severity: 'info' };
    const h = harness([r]);
    h.send('d', { t: 20 }, T0);
    h.engine.process({ device: 'd', ts: T0, fields: { t: 20 }, tags: {}, anomaly: { score: 0.6 } } as Reading);
    h.events.push(...h.engine.process({ device: 'd', ts: T0 + S, fields: { t: 45 }, tags: {}, anomaly: { score: 0.9 } } as Reading));
    assert.deepEqual(h.kinds(), ['firing']);
    h.send('d', { t: 20 }, T0 + 2 * S);
    h.at(T0 + 4 * MIN);
    assert.deepEqual(h.kinds(), ['firing']);
    h.at(T0 + 6 * MIN);
    assert.deepEqual(h.kinds(), ['firing', 'cleared']);
  });
});

describe('rule engine: why a group fired', () => {
  const WHY = 'value 68.7 is 36.8σ above its 10-hour median of 20.0';
  const verdict = (ts: number, score: number, reason?: string) => ({ device: 'd', ts, fields: { temperature: 68.7 }, tags: {}, anomaly: { score, reason } }) as Reading;

  it('an AND group names the conditions that held, the anomaly node\'s explanation among them, in the reason and {reason}', () => {
    const r: Rule = {
      id: 'odd-hot',
      name: 'Odd and hot',
      devices: { all: true },
      when: { all: [{ field: 'temperature', op: 'above', value: 30 }, { field: 'temperature', op: 'anomalous', score: 0.7 }], for: '1m' },
      severity: 'warning',
      message: '{device}: {reason}',
    };
    const h = harness([r]);
    h.send('d', { temperature: 68.7 }, T0);
    h.events.push(...h.engine.process(verdict(T0, 0.9, WHY)));
    h.at(T0 + MIN);
    assert.deepEqual(h.kinds(), ['pending', 'firing']);
    const held = `temperature 68.7 is above 30 and temperature is anomalous (score 0.7 or more): ${WHY}`;
    assert.equal(h.events[0].reason, `${held}; it fires if this holds for 1 minute`);
    assert.equal(h.events[1].reason, `${held}, holding for 1 minute (no reading since said otherwise)`);
    assert.equal(h.events[1].message, `d: ${h.events[1].reason}`);
  });

  it('an OR group names only the conditions that held, in a subgroup only when the subgroup held', () => {
    const r: Rule = {
      id: 'either',
      name: 'Either',
      devices: { all: true },
      when: { any: [{ field: 'temperature', op: 'anomalous', score: 0.7 }, { all: [{ field: 'h', op: 'above', value: 80 }, { field: 'door', op: 'equal', value: 'open' }] }, { field: 'p', op: 'below', value: 1 }] },
      severity: 'info',
    };
    const h = harness([r]);
    h.send('d', { h: 90, door: 'shut', p: 5 }, T0);
    h.events.push(...h.engine.process(verdict(T0 + S, 0.9, WHY)));
    assert.deepEqual(h.kinds(), ['firing']);
    assert.equal(h.events[0].reason, `temperature is anomalous (score 0.7 or more): ${WHY}`, 'humidity held, but not its subgroup');
    h.events.push(...h.engine.process(verdict(T0 + 2 * S, 0.1)));
    h.send('d', { door: 'open', p: 0.5 }, T0 + 3 * S);
    assert.deepEqual(h.kinds(), ['firing', 'cleared', 'firing']);
    assert.equal(h.events[2].reason, 'h is above 80 and door is open and p is below 1');
  });
});

describe('rule engine: rule changes and restarts', () => {
  it('a rule change that does not touch the condition leaves running alerts alone; a new threshold restarts pending ones', () => {
    const h = harness([HOT]);
    h.send('a', { temperature: 31 }, T0);
    h.send('a', { temperature: 31 }, T0 + 6 * S);
    h.send('b', { temperature: 31 }, T0 + 6 * S);
    assert.deepEqual(h.events.map((e) => `${e.device}:${e.event}`), ['a:pending', 'a:firing', 'b:pending']);
    assert.deepEqual(h.engine.upsertRule({ ...HOT, message: 'new words', severity: 'critical' }), []);
    assert.equal(h.engine.alert('hot:a')?.state, 'firing');
    h.send('b', { temperature: 31 }, T0 + 11 * S);
    assert.equal(h.events.at(-1)?.event, 'firing', 'b kept its pending time');
    assert.equal(h.events.at(-1)?.message, 'new words');
    const changed = h.engine.upsertRule({ ...HOT, when: { field: 'temperature', op: 'above', value: 25, for: '5s' } });
    assert.deepEqual(changed, []);
    assert.equal(h.engine.alert('hot:a')?.state, 'firing', 'firing alerts stay');
    const removed = h.engine.removeRule('hot');
    assert.deepEqual(removed.map((e) => `${e.device}:${e.event}`), ['a:cleared', 'b:cleared']);
    assert.equal(h.engine.alerts().length, 0);
  });

  it('restart in the middle of a pending duration: it continues with the time left, the downtime does not count', () => {
    const h = harness([HOT]);
    for (let i = 0; i <= 3; i++) h.send('dev1', { temperature: 31 }, T0 + i * S);
    const saved = JSON.parse(JSON.stringify(h.engine.exportState()));
    // Down for a minute; a new engine from the saved state.
    let now = T0 + 60 * S;
    const again = new RuleEngine([HOT], { clock: () => now });
    again.importState(saved);
    const events: AlertEvent[] = [];
    for (let i = 0; i <= 5; i++) {
      now = T0 + 60 * S + i * S;
      events.push(...again.tick(), ...again.process({ device: 'dev1', ts: now, fields: { temperature: 31 }, tags: {} }));
    }
    assert.deepEqual(events.map((e) => e.event), ['firing']);
    assert.equal(events[0].ts, T0 + 62 * S, '2 s after the first reading after the restart, not 5 and not at once');
    assert.equal(events[0].since, T0, 'the alert says when the condition began');
  });

  it('restart: what each condition of an AND group last saw is kept', () => {
    const and: Rule = { id: 'muggy', name: 'Muggy', devices: { all: true }, when: { all: [{ field: 't', op: 'above', value: 30 }, { field: 'h', op: 'above', value: 80 }] }, severity: 'warning' };
    const h = harness([and]);
    h.send('d', { t: 35 }, T0);
    const saved = JSON.parse(JSON.stringify(h.engine.exportState()));
    const again = new RuleEngine([and], { clock: () => T0 + MIN });
    again.importState(saved);
    assert.deepEqual(again.process({ device: 'd', ts: T0 + MIN, fields: { h: 90 }, tags: {} }).map((e) => e.event), ['firing'], 'temperature 35 from before the restart still counts');
  });

  it('restart: firing alerts, escalation deadlines and dead-man timers carry on, counting the downtime', () => {
    const rules: Rule[] = [
      { ...HOT, when: { field: 'temperature', op: 'above', value: 30 }, escalate: { severity: 'critical', after: '10m' } },
      { id: 'silent', name: 'Silent', devices: { all: true }, when: { op: 'not-reported', for: '15m' }, severity: 'critical' },
    ];
    const h = harness(rules);
    h.send('dev1', { temperature: 35 }, T0);
    const saved = JSON.parse(JSON.stringify(h.engine.exportState()));
    let now = T0 + 12 * MIN;
    const again = new RuleEngine(rules, { clock: () => now });
    again.importState(saved);
    assert.equal(again.alert('hot:dev1')?.state, 'firing');
    assert.deepEqual(again.tick().map((e) => e.event), ['escalated']);
    now = T0 + 15 * MIN;
    assert.deepEqual(again.tick().map((e) => `${e.rule}:${e.event}`), ['silent:firing'], 'silent for 15 minutes, 12 of them while down');
  });
});
