/** HealthMonitor: thresholds, one log line when a problem starts and one when it ends, the report's shape. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_HEALTH_THRESHOLDS, HealthMonitor, healthThresholds, type HealthSnapshot, type JournalSample } from '../../nodes/lib/api/health';
import { healthJson } from '../../nodes/lib/api/health-json';

const T = Date.UTC(2026, 0, 1);
const thresholds = { storeFailingMs: 10_000, unsettledMs: 60_000, backpressureMs: 5_000, connectionFailingMs: 8_000 };

function monitor() {
  const log: string[] = [];
  const m = new HealthMonitor(thresholds, { warn: (t) => log.push(`warn ${t}`), info: (t) => log.push(`info ${t}`) });
  return { m, log };
}

const journal = (extra: Partial<JournalSample> = {}): JournalSample => ({ id: 'in1', name: 'telemetry', bytes: 1000, budgetBytes: 1 << 30, pending: 0, paused: false, ...extra });
const snap = (components: HealthSnapshot['components'] = {}, journals: JournalSample[] = []): HealthSnapshot => ({ components, journals });

describe('HealthMonitor', () => {
  test('a store failing counts only after its threshold, from when it started failing', () => {
    const { m, log } = monitor();
    const store = { ok: true, detail: 'writable', kind: 'store', failingSince: T, lastError: 'IO Error: disk full', disk: { bytes: 10, budget: 100 } };
    assert.equal(m.evaluate(snap({ 'store:db': store }), T + 9_999).status, 'ok');
    const r = m.evaluate(snap({ 'store:db': store }), T + 10_000);
    assert.deepEqual([r.status, r.failing], ['failing', ['store:db']]);
    assert.deepEqual(r.problems[0], { component: 'store:db', code: 'STORE_FAILING', message: 'the store has failed for 10 s: IO Error: disk full', since: T, lastError: 'IO Error: disk full' });
    assert.deepEqual(r.disk.spools, [{ name: 'store:db', bytes: 10, budget: 100, full: false }]);
    m.evaluate(snap({ 'store:db': store }), T + 20_000);
    assert.equal(log.length, 1);
    assert.match(log[0], /^warn health: store:db is failing \(STORE_FAILING\): the store has failed for 10 s: IO Error: disk full$/);
    const back = m.evaluate(snap({ 'store:db': { ...store, failingSince: undefined } }), T + 25_000);
    assert.equal(back.status, 'ok');
    m.evaluate(snap({ 'store:db': { ...store, failingSince: undefined } }), T + 26_000);
    assert.deepEqual(log.slice(1), ['info health: store:db is healthy again (STORE_FAILING ended after 25 s)']);
  });

  test('a failing probe without a since of its own is counted from the first sample that saw it', () => {
    const { m } = monitor();
    const probe = { ok: false, detail: 'cannot open', kind: 'store' };
    assert.equal(m.evaluate(snap({ 'store:db': probe }), T).status, 'ok');
    assert.equal(m.evaluate(snap({ 'store:db': probe }), T + 9_000).status, 'ok');
    const r = m.evaluate(snap({ 'store:db': probe }), T + 10_000);
    assert.equal(r.status, 'failing');
    assert.equal(r.problems[0].lastError, 'cannot open');
    // Recovered in between: the count starts again.
    m.evaluate(snap({ 'store:db': { ok: true, detail: 'ok', kind: 'store' } }), T + 11_000);
    assert.equal(m.evaluate(snap({ 'store:db': probe }), T + 12_000).status, 'ok');
  });

  test('a connection to an external broker fails the check only once it has been down for its threshold', () => {
    const { m, log } = monitor();
    const down = { ok: false, detail: 'mqtt://127.0.0.1:1883: disconnected, reconnecting', kind: 'connection', failingSince: T, lastError: 'connect ECONNREFUSED 127.0.0.1:1883' };
    assert.equal(m.evaluate(snap({ 'mqtt:mosquitto': down }), T + 7_999).status, 'ok');
    const r = m.evaluate(snap({ 'mqtt:mosquitto': down }), T + 8_000);
    assert.deepEqual([r.status, r.failing], ['failing', ['mqtt:mosquitto']]);
    assert.deepEqual(r.problems[0], { component: 'mqtt:mosquitto', code: 'DISCONNECTED', message: 'the connection has been down for 8.0 s: connect ECONNREFUSED 127.0.0.1:1883', since: T, lastError: 'connect ECONNREFUSED 127.0.0.1:1883' });
    assert.equal(m.evaluate(snap({ 'mqtt:mosquitto': { ok: true, detail: 'connected', kind: 'connection' } }), T + 9_000).status, 'ok');
    assert.deepEqual(log, ['warn health: mqtt:mosquitto is failing (DISCONNECTED): the connection has been down for 8.0 s: connect ECONNREFUSED 127.0.0.1:1883', 'info health: mqtt:mosquitto is healthy again (DISCONNECTED ended after 9.0 s)']);
  });

  test('other components fail at once; a full spool fails at once', () => {
    const { m } = monitor();
    const r = m.evaluate(snap({ 'broker:b': { ok: false, detail: 'not listening' }, 'store:db': { ok: true, detail: 'ok', kind: 'store', disk: { bytes: 100, budget: 100, full: true } } }), T);
    assert.deepEqual(r.failing.sort(), ['broker:b', 'store:db']);
    assert.deepEqual(r.problems.map((p) => p.code).sort(), ['FAILING', 'SPOOL_FULL']);
  });

  test('the oldest unsettled message and backpressure, each after its threshold', () => {
    const { m, log } = monitor();
    const stuck = journal({ pending: 3, oldestUnsettledAt: T });
    assert.equal(m.evaluate(snap({}, [stuck]), T + 59_000).status, 'ok');
    const r = m.evaluate(snap({}, [stuck]), T + 60_000);
    assert.deepEqual(r.failing, ['journal:telemetry']);
    assert.equal(r.problems[0].code, 'UNSETTLED');
    assert.match(r.problems[0].message, /oldest of 3 unsettled messages was received 60 s ago/);

    const paused = journal({ pending: 5000, paused: true, pausedSince: T + 60_000, pauseReason: 'disk', bytes: 1 << 30 });
    assert.deepEqual(m.evaluate(snap({}, [paused]), T + 64_000).problems, []);
    const held = m.evaluate(snap({}, [paused]), T + 65_000);
    assert.equal(held.problems[0].code, 'BACKPRESSURE');
    assert.match(held.problems[0].message, /disk budget \(1073741824 of 1073741824 bytes\)/);
    assert.deepEqual(held.journal, { pending: 5000, bytes: 1 << 30, budget: 1 << 30 });
    m.evaluate(snap({}, [journal()]), T + 70_000);
    assert.deepEqual(
      log.map((l) => l.replace(/:.*$/, '')),
      ['warn health', 'info health', 'warn health', 'info health'],
      log.join('\n'),
    );
    assert.match(log[1], /UNSETTLED ended/);
    assert.match(log[3], /BACKPRESSURE ended after 10 s/);
  });

  test('a journal that cannot be written fails at once, with the error, and is healthy once a write goes through', () => {
    const { m, log } = monitor();
    const full = journal({ pending: 2, oldestUnsettledAt: T + 1_000, lastError: 'cannot write the journal of telemetry: ENOSPC: no space left on device, write', lastErrorSince: T });
    const r = m.evaluate(snap({}, [full]), T + 1_500);
    assert.equal(r.status, 'failing');
    assert.deepEqual(r.problems, [
      {
        component: 'journal:telemetry',
        code: 'JOURNAL_FAILING',
        message: 'the input cannot write its journal, so it refuses or holds back what devices send: cannot write the journal of telemetry: ENOSPC: no space left on device, write',
        since: T,
        lastError: 'cannot write the journal of telemetry: ENOSPC: no space left on device, write',
      },
    ]);
    assert.equal(m.evaluate(snap({}, [journal({ pending: 2, oldestUnsettledAt: T + 1_000 })]), T + 2_000).status, 'ok');
    assert.match(log.join('\n'), /JOURNAL_FAILING ended after 2\.0 s/);
  });

  test('the JSON body: ISO times and ages', () => {
    const { m } = monitor();
    const r = m.evaluate(snap({}, [journal({ pending: 1, oldestUnsettledAt: T })]), T + 60_000);
    const body = healthJson(r, T + 61_000) as { problems: Array<{ since: string; forMs: number }>; journals: Array<{ oldestUnsettledAt: string; oldestUnsettledMs: number }> };
    assert.deepEqual([body.problems[0].since, body.problems[0].forMs], ['2026-01-01T00:00:00.000Z', 61_000]);
    assert.deepEqual([body.journals[0].oldestUnsettledAt, body.journals[0].oldestUnsettledMs], ['2026-01-01T00:00:00.000Z', 61_000]);
  });
});

describe('healthThresholds', () => {
  test('seconds from settings; absent or invalid keep the default and say so', () => {
    const bad: string[] = [];
    assert.deepEqual(healthThresholds(undefined), DEFAULT_HEALTH_THRESHOLDS);
    assert.deepEqual(healthThresholds({ storeFailingSeconds: '0.5', unsettledSeconds: 120, backpressureSeconds: 'soon', connectionFailingSeconds: '5', probeWaitSeconds: '0.25' }, (name) => bad.push(name)), {
      storeFailingMs: 500,
      unsettledMs: 120_000,
      backpressureMs: DEFAULT_HEALTH_THRESHOLDS.backpressureMs,
      connectionFailingMs: 5_000,
      probeReuseMs: DEFAULT_HEALTH_THRESHOLDS.probeReuseMs,
      probeWaitMs: 250,
    });
    assert.deepEqual(bad, ['backpressureSeconds']);
  });
});
