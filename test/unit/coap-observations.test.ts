import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { ObserverCheck, Observations, type Observation } from '../../nodes/lib/inputs/observations';
import { TooManyObservationsError } from '../../nodes/lib/errors';

const HOUR = 60 * 60 * 1000;
const DAILY = { maxNonInRow: 5, everyMs: 24 * HOUR, sweepMs: HOUR };

/** An observation that records the sweeps it was given and whether it was ended. */
function observation(device: string, recheck: (now: number) => void = () => undefined): Observation & { ended: boolean } {
  const o = { device, ended: false, end: () => void (o.ended = true), recheck };
  return o;
}

describe('the periodic check of observers', () => {
  test('an observer is due once a day has passed since its last confirmable exchange, whichever way that came', () => {
    const non = new ObserverCheck(0, false, DAILY);
    assert.equal(non.due(24 * HOUR - 1), false);
    assert.equal(non.due(24 * HOUR), true);
    // The sweep's re-notification goes confirmable, and the next is due a day after it.
    assert.equal(non.confirmable(25 * HOUR), true);
    assert.equal(non.due(48 * HOUR), false);
    assert.equal(non.due(49 * HOUR), true);
    // A confirmable registration: every notification is confirmable, and each one counts as the check.
    const con = new ObserverCheck(0, true, DAILY);
    assert.equal(con.confirmable(HOUR), true);
    assert.equal(con.confirmable(2 * HOUR), true);
    assert.equal(con.due(25 * HOUR), false);
    assert.equal(con.due(26 * HOUR), true);
  });

  test('a sweep gives every observation its check, also when one ends during it', () => {
    const obs = new Observations();
    const seen: Array<[string, number]> = [];
    let forgetFirst = (): void => undefined;
    forgetFirst = obs.add('a:1/01', observation('d1', (now) => {
      seen.push(['d1', now]);
      forgetFirst();
    }));
    obs.add('a:2/01', observation('d2', (now) => seen.push(['d2', now])));
    obs.sweep(5);
    assert.deepEqual(seen, [['d1', 5], ['d2', 5]]);
    assert.equal(obs.size, 1);
    obs.sweep(6);
    assert.deepEqual(seen.slice(2), [['d2', 6]]);
  });
});

describe('the bound on observations', () => {
  test('a device at its limit keeps its new registration and loses its oldest; an input at its total refuses with TOO_MANY_OBSERVATIONS before anything is kept', () => {
    const obs = new Observations({ perDevice: 2, total: 3 });
    const oldest = observation('d1');
    obs.add('a:1/01', oldest);
    const second = observation('d1');
    obs.add('a:2/01', second);
    // A device that rebooted onto a new port cannot cancel what it left: its new registration is kept.
    assert.equal(obs.refusal('a:3/01', 'd1'), undefined);
    const newest = observation('d1');
    obs.add('a:3/01', newest);
    assert.equal(oldest.ended, true, 'the oldest observation of the device ends');
    assert.equal(second.ended, false);
    assert.equal(obs.of('d1'), 2);
    assert.equal(obs.size, 2);
    // Registering again under a key it holds replaces that one: not refused.
    assert.equal(obs.refusal('a:2/01', 'd1'), undefined);
    obs.add('a:4/01', observation('d2'));
    const total = obs.refusal('a:5/01', 'd3');
    assert.ok(total instanceof TooManyObservationsError);
    assert.equal(total.code, 'TOO_MANY_OBSERVATIONS');
    assert.match(total.message, /this CoAP input has 3 observations, the most it may have/);
    // At the total, a device at its own limit still makes room by ending its oldest.
    assert.equal(obs.refusal('a:6/01', 'd1'), undefined);
    // One that ends makes room again.
    assert.equal(obs.cancel('a:4/01'), true);
    assert.equal(obs.refusal('a:5/01', 'd3'), undefined);
  });

  test('an observation that ends by itself, or is replaced, no longer counts for its device', () => {
    const obs = new Observations({ perDevice: 1, total: 10 });
    const first = observation('d1');
    const forget = obs.add('a:1/01', first);
    const again = observation('d1');
    obs.add('a:1/01', again);
    assert.equal(first.ended, true);
    assert.equal(obs.of('d1'), 1);
    // The replaced one's late end leaves the new one counted.
    forget();
    assert.equal(obs.of('d1'), 1);
    obs.endAll();
    assert.equal(again.ended, true);
    assert.equal(obs.of('d1'), 0);
    assert.equal(obs.size, 0);
  });
});
