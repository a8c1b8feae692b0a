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
