/**
 * upperstack-anomaly: judges every numeric field of each Reading against its
 * series' history (device × field) and says why in words. Output 1: every
 * message, each reading annotated. Output 2: only the anomalous readings, and
 * devices that went silent. The engine's state is kept in the node's context
 * (the `file` store when configured), so learning survives restarts and redeploys.
 * The editor's Backtest button is served by ./backtest-route.
 */
import type { Node, NodeAPI } from 'node-red';
import { AnomalyEngine, HeartbeatTimer, type EngineState, type HeartbeatEvent, type ReadingResult } from '../lib/anomaly';
import type { Verdict } from '../lib/anomaly/types';
import type { Reading } from '../lib/reading';
import { describeError, InvalidReadingError } from '../lib/errors';
import { onClose, onInput, type UpperstackMessage } from '../shared/input';
import { readingsOf } from '../shared/batch';
import { migrate, registerNode } from '../shared/config';
import { setStatus, throttledStatus } from '../shared/status';
import { anomalyMigrations, engineOptionsOf, type AnomalyNodeDef, type AnomalyOptions } from './options';
import { registerBacktestRoute } from './backtest-route';
import { deviceStates } from '../shared/device-state';

const SAVE_EVERY_MS = 30_000;
const HOUR_MS = 3_600_000;

/** A reading on output 1 or 2: the verdict of its most anomalous field, and all of them when there are several. */
interface AnnotatedReading extends Reading {
  anomaly: Verdict | null;
  anomalies?: Record<string, Verdict | null>;
  heartbeat?: HeartbeatEvent;
}

/** The verdict with the highest score (anomalies first); null while every field warms up. */
function worstVerdict(anomaly: Record<string, Verdict | null>): Verdict | null {
  let worst: Verdict | null = null;
  for (const v of Object.values(anomaly)) {
    if (!v) continue;
    if (!worst || (v.isAnomaly && !worst.isAnomaly) || (v.isAnomaly === worst.isAnomaly && v.score > worst.score)) worst = v;
  }
  return worst;
}

function annotate(reading: Reading, result: ReadingResult): AnnotatedReading {
  const out = reading as AnnotatedReading;
  out.anomaly = worstVerdict(result.anomaly);
  if (Object.keys(result.anomaly).length > 1) out.anomalies = result.anomaly;
  if (result.heartbeat) out.heartbeat = result.heartbeat;
  return out;
}

export = function register(RED: NodeAPI): void {
  function UpperstackAnomalyNode(this: Node, def: AnomalyNodeDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const config = migrate<AnomalyOptions>(def as unknown as Record<string, unknown>, anomalyMigrations);
    let options: ReturnType<typeof engineOptionsOf>;
    let engine: AnomalyEngine;
    try {
      options = engineOptionsOf(config);
      engine = new AnomalyEngine(options);
    } catch (err) {
      setStatus(node, 'failed', describeError(err).message);
      node.error(RED._('upperstack-anomaly.errors.config', { message: describeError(err).message }));
      return;
    }

    // The file store when settings.js has one (settings.ts does), else the default store.
    const storage = (RED.settings as unknown as { contextStorage?: Record<string, unknown> }).contextStorage;
    const store: string | undefined = storage && Object.prototype.hasOwnProperty.call(storage, 'file') ? 'file' : undefined;
    const ctx = node.context();
    const getState = (cb: (err: Error | null, v: unknown) => void) => (store ? ctx.get('state', store, cb) : ctx.get('state', cb));
    const setState = (v: unknown, cb: (err?: Error | null) => void) => (store ? ctx.set('state', v, store, cb) : ctx.set('state', v, cb));

    const status = throttledStatus(node);
    const recent: number[] = [];
    let warm = false;
    let dirty = false;
    let closed = false;

    function showStatus(force = false): void {
      const now = Date.now();
      while (recent.length && now - recent[0] > HOUR_MS) recent.shift();
      const s = engine.stats();
      let state: 'connected' | 'warning' | 'idle' = warm ? 'connected' : 'idle';
      let text = warm
        ? RED._('upperstack-anomaly.status.watching', { series: s.series, anomalies: recent.length })
        : RED._('upperstack-anomaly.status.warming', { series: s.series });
      if (s.offline) text += RED._('upperstack-anomaly.status.offline', { offline: s.offline });
      if (s.evicted) {
        state = 'warning';
        text += RED._('upperstack-anomaly.status.evicted', { evicted: s.evicted });
      }
      if (force) setStatus(node, state, text);
      else status(state, text);
    }

    function save(cb: () => void = () => undefined): void {
      let json: EngineState;
      try {
        json = engine.toJSON();
      } catch (err) {
        node.warn(RED._('upperstack-anomaly.errors.save', { message: describeError(err).message }));
        return cb();
      }
      setState(json, (err) => {
        if (err) node.warn(RED._('upperstack-anomaly.errors.save', { message: err.message }));
        cb();
      });
    }

    function sendOffline(events: HeartbeatEvent[]): void {
      const out: UpperstackMessage[] = [];
      for (const e of events) {
        if (e.status !== 'offline') continue;
        const now = Date.now();
        out.push({
          _msgid: RED.util.generateId(),
          topic: `upperstack/anomaly/${e.device}`,
          device: e.device,
          payload: {
            device: e.device,
            ts: now,
            fields: {},
            tags: {},
            anomaly: { score: 1, isAnomaly: true, detector: 'heartbeat', expected: e.expectedEvery, band: [0, e.expectedEvery], reason: e.reason },
            heartbeat: e,
          },
        } as UpperstackMessage);
        recent.push(now);
      }
      if (out.length) {
        dirty = true;
        node.send([null, out]);
        showStatus(true);
      }
    }

    // Messages wait for the saved state, so none is judged by a cold engine that is then replaced.
    const ready = new Promise<void>((resolve) => {
      getState((err, saved) => {
        if (err) node.warn(RED._('upperstack-anomaly.errors.restore', { message: err.message }));
        else if (saved && !closed) {
          try {
            engine = AnomalyEngine.fromJSON(saved as EngineState, options);
            warm = engine.stats().series > 0;
          } catch (e) {
            node.warn(RED._('upperstack-anomaly.errors.restore', { message: describeError(e).message }));
          }
        }
        resolve();
      });
    });

    let heartbeat: HeartbeatTimer | null = null;
    void ready.then(() => {
      if (closed) return;
      showStatus(true);
      if (options.heartbeat !== false) {
        const iv = options.heartbeat?.interval;
        const ms = typeof iv === 'number' ? iv : undefined;
        // Check often enough for short configured intervals; once a second otherwise.
        const every = ms === undefined ? 1000 : Math.max(50, Math.min(1000, Math.floor(ms / 2)));
        heartbeat = new HeartbeatTimer(engine, sendOffline, every).start();
      }
    });

    // On a cluster member, a partition's series move with it to the member that takes it over (docs/scaling.md).
    const unregisterState = deviceStates(RED).register({
      key: `upperstack-anomaly:${node.id}`,
      exportDevices: async (keep) => {
        await ready;
        return engine.exportDevices(keep);
      },
      importDevices: async (state) => {
        await ready;
        engine.importDevices(state as EngineState);
        if (engine.stats().series > 0) warm = true;
        dirty = true;
      },
      forgetDevices: async (drop) => {
        await ready;
        if (engine.forgetDevices(drop)) dirty = true;
      },
    });

    const saver = setInterval(() => {
      showStatus(true);
      if (dirty) {
        dirty = false;
        save();
      }
    }, SAVE_EVERY_MS);
    saver.unref?.();

    onInput(node, async (msg, send, done) => {
      await ready;
      const readings = readingsOf(msg);
      if (!readings) return done(new InvalidReadingError('msg.payload must be a Reading {device, ts, fields, tags} or an array of them; put a decode node before anomaly'));
      const results = engine.process(readings);
      dirty = true;
      const flagged: AnnotatedReading[] = [];
      const now = Date.now();
      for (let i = 0; i < readings.length; i++) {
        const a = annotate(readings[i], results[i]);
        if (!warm && Object.values(results[i].anomaly).some((v) => v !== null)) warm = true;
        if (results[i].isAnomaly) {
          flagged.push(a);
          recent.push(now);
        }
      }
      let alert: UpperstackMessage | null = null;
      if (flagged.length) {
        alert = { ...msg, _msgid: RED.util.generateId(), payload: Array.isArray(msg.payload) ? flagged : flagged[0] };
        if (flagged.length === 1 && !Array.isArray(msg.payload)) alert.device = flagged[0].device;
        // Only the original carries the journal receipts: the store settles it, the alert copy must not.
        delete alert.upperstack;
      }
      send([msg, alert]);
      showStatus(results.some((r) => r.isAnomaly || r.evicted.length > 0));
      done();
    });

    onClose(node, async (removed) => {
      closed = true;
      unregisterState();
      clearInterval(saver);
      heartbeat?.stop();
      await ready;
      if (removed) {
        await new Promise<void>((resolve) => setState(undefined, () => resolve()));
      } else {
        await new Promise<void>((resolve) => save(resolve));
      }
    });
  }

  registerNode(RED, 'upperstack-anomaly', UpperstackAnomalyNode);
  registerBacktestRoute(RED);
};
