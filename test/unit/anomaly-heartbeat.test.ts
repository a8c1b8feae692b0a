import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { AnomalyEngine } from '../../nodes/lib/anomaly/engine';
import { HeartbeatTimer, type HeartbeatEvent } from '../../nodes/lib/anomaly/heartbeat';

const MIN = 60_000;

describe('missing heartbeat', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setInterval', 'Date'], now: Date.UTC(2024, 0, 1) }));
  afterEach(() => mock.timers.reset());

  function send(engine: AnomalyEngine, device: string) {
    return engine.process({ device, ts: Date.now(), fields: { t: 20 }, tags: {} });
  }

  it('reports a silent device offline from the timer after N missed intervals, once, and back online with its next reading', () => {
    const engine = new AnomalyEngine({ heartbeat: { missed: 3 } });
    const events: HeartbeatEvent[] = [];
    const timer = new HeartbeatTimer(engine, (e) => events.push(...e), 1000).start();
    // A learned cadence of one reading a minute, then silence.
    for (let i = 0; i < 5; i++) {
      send(engine, 'pump-7');
      send(engine, 'pump-8');
      mock.timers.tick(MIN);
    }
    send(engine, 'pump-8');
    mock.timers.tick(MIN); // pump-7 silent for 2 minutes
    assert.equal(events.length, 0);
    mock.timers.tick(MIN - 1000); // 2 minutes 59 s
    assert.equal(events.length, 0);
    mock.timers.tick(1000); // 3 minutes: no message arrived, the timer decides
    assert.equal(events.length, 1);
    assert.equal(events[0].device, 'pump-7');
    assert.equal(events[0].status, 'offline');
    assert.equal(events[0].expectedEvery, MIN);
    assert.equal(events[0].reason, 'device pump-7 has sent nothing for 3 minutes; it usually reports every 1 minute');
    mock.timers.tick(10 * MIN);
    assert.deepEqual(events.map((e) => e.device), ['pump-7', 'pump-8'], 'each device is reported once');
    assert.equal(engine.stats().offline, 2);

    const back = send(engine, 'pump-7');
    assert.equal(back.heartbeat?.status, 'online');
    assert.match(back.heartbeat!.reason, /^device pump-7 is sending again after 13 minutes of silence$/);
    assert.equal(engine.stats().offline, 1);
    timer.stop();
    assert.equal(timer.running, false);
  });

  it('uses a configured interval without waiting to learn one', () => {
    const engine = new AnomalyEngine({ heartbeat: { interval: '30s', missed: 2 } });
    send(engine, 'door');
    mock.timers.tick(59_000);
    assert.deepEqual(engine.checkHeartbeats(), []);
    mock.timers.tick(1000);
    assert.deepEqual(engine.checkHeartbeats().map((e) => e.device), ['door']);
  });

  it('stays silent when heartbeats are off or the cadence is not known yet', () => {
    const off = new AnomalyEngine({ heartbeat: false });
    const fresh = new AnomalyEngine();
    send(off, 'a');
    send(fresh, 'a');
    mock.timers.tick(24 * 60 * MIN);
    assert.deepEqual(off.checkHeartbeats(), []);
    assert.deepEqual(fresh.checkHeartbeats(), []);
  });

  it('keeps offline state and cadence across a restore', () => {
    const engine = new AnomalyEngine({ heartbeat: { missed: 3 } });
    for (let i = 0; i < 4; i++) {
      send(engine, 'fan');
      mock.timers.tick(MIN);
    }
    const resumed = AnomalyEngine.fromJSON(JSON.parse(JSON.stringify(engine.toJSON())));
    mock.timers.tick(2 * MIN);
    assert.deepEqual(resumed.checkHeartbeats().map((e) => e.silentFor), [3 * MIN]);
  });
});

describe('offline count', () => {
  it('stats().offline is the number of devices saved as offline, through readings, silences, evictions, hand-overs and restores (property)', async () => {
    const fc = (await import('fast-check')).default;
    const device = fc.constantFrom('a', 'b', 'c', 'd', 'e');
    const op = fc.oneof(
      fc.record({ k: fc.constant('read' as const), device, field: fc.constantFrom('t', 'h') }),
      fc.record({ k: fc.constant('silence' as const), minutes: fc.integer({ min: 1, max: 30 }) }),
      fc.record({ k: fc.constant('move' as const), device }),
      fc.record({ k: fc.constant('forget' as const), device }),
      fc.record({ k: fc.constant('restore' as const) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), fc.integer({ min: 1, max: 6 }), (ops, maxSeries) => {
        let now = 0;
        const options = { detector: { type: 'limits' as const, max: 100 }, maxSeries, heartbeat: { interval: MIN, missed: 2 }, clock: () => now };
        let engine = new AnomalyEngine(options);
        const other = new AnomalyEngine(options);
        const offline = (e: AnomalyEngine) => e.toJSON().devices.filter((d) => d.offline).length;
        for (const o of ops) {
          if (o.k === 'read') {
            now += 1000;
            engine.process({ device: o.device, ts: now, fields: { [o.field]: 1 }, tags: {} });
          } else if (o.k === 'silence') {
            now += o.minutes * MIN;
            engine.checkHeartbeats();
          } else if (o.k === 'move') {
            other.importDevices(engine.exportDevices((d) => d === o.device));
            engine.forgetDevices((d) => d === o.device);
            engine.importDevices(other.exportDevices((d) => d === o.device));
          } else if (o.k === 'forget') {
            engine.forgetDevices((d) => d === o.device);
          } else {
            engine = AnomalyEngine.fromJSON(JSON.parse(JSON.stringify(engine.toJSON())), options);
          }
          assert.equal(engine.stats().offline, offline(engine));
          assert.equal(other.stats().offline, offline(other));
        }
      }),
      { numRuns: 300 },
    );
  });
});
