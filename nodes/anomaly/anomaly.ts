/**
 * upperstack-anomaly: judges every numeric field of each Reading against its
 * series' history (device × field) and says why in words. Output 1: every
 * message, each reading annotated. Output 2: only the anomalous readings, and
 * devices that went silent. The engine saves its state to a file in the data
 * folder (<data>/anomaly/<node id>.jsonl, nodes/lib/anomaly/state-file.ts)
 * every 30 s, less often when it is large, and when the node closes, so
 * learning survives restarts and redeploys; state that earlier versions kept
 * in the node's context is read once and moved there. The engine runs in a
 * worker thread unless the node says otherwise or worker threads cannot start
 * (nodes/lib/anomaly/remote); messages leave in the order they came either
 * way. The editor's Backtest button is served by ./backtest-route.
 */
import type { Node, NodeAPI } from 'node-red';
import type { EngineState, HeartbeatEvent, ReadingResult } from '../lib/anomaly';
import { InProcessEngineHost, WorkerEngineHost, type EngineHost, type HostOptions, type SavedEngineState } from '../lib/anomaly/remote/host';
import { BackpressureError, describeError, InvalidReadingError } from '../lib/errors';
import { onClose, onInput, type UpperstackMessage } from '../shared/input';
import { isWired, readingsOf } from '../shared/batch';
import { migrate, registerNode } from '../shared/config';
import { setStatus, type StatusState } from '../shared/status';
import { anomalyMigrations, engineOptionsOf, type AnomalyNodeDef, type AnomalyOptions } from './options';
import { registerBacktestRoute } from './backtest-route';
import { registerAnomaly } from '../lib/metrics';
import { deviceStates } from '../shared/device-state';
import { dataDir, registerHealth } from '../shared/runtime';
import { removeStateFile, stateFileHead, stateFileOf } from '../lib/anomaly/state-file';
import { SaveSchedule } from '../lib/anomaly/save-schedule';
import { annotate, copyOf, type AnnotatedReading } from './annotate';
import { heartbeatEvery, offlineMessage } from './heartbeat';

/** How often the node looks whether to save; a large state waits longer (SaveSchedule). */
const SAVE_EVERY_MS = 30_000;
const HOUR_MS = 3_600_000;
/**
 * The status is drawn at most this often. Its text (translated, with the
 * engine's figures) cost more on the main thread than the rest of the node's
 * work on a message; a call in between is caught up once the interval ends,
 * so the status always ends on the latest figures.
 */
const STATUS_EVERY_MS = 500;

/** State an earlier version saved in context with no series and no device (or none saved): nothing for an engine to watch yet. */
function isEmpty(state: SavedEngineState | undefined): boolean {
  if (state === undefined || state === null) return true;
  // The worker's text ends with its two lists (JSON.stringify of EngineState); other text starts the engine at once.
  if (typeof state === 'string') return state.endsWith('"series":[],"devices":[]}');
  return Array.isArray(state.series) && state.series.length === 0 && Array.isArray(state.devices) && state.devices.length === 0;
}

export = function register(RED: NodeAPI): void {
  function UpperstackAnomalyNode(this: Node, def: AnomalyNodeDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const config = migrate<AnomalyOptions>(def as unknown as Record<string, unknown>, anomalyMigrations);
    let options: ReturnType<typeof engineOptionsOf>;
    let host: EngineHost;
    let hostOptions: HostOptions;
    const stateFile = stateFileOf(dataDir(RED), node.id);
    try {
      options = engineOptionsOf(config);
      hostOptions = {
        engine: options,
        stateFile,
        heartbeatEveryMs: heartbeatEvery(options.heartbeat),
        events: {
          onHeartbeats: (events) => sendOffline(events),
          onCrash: (err, inMs) => {
            node.error(RED._('upperstack-anomaly.errors.worker', { message: err.message, seconds: Math.round(inMs / 1000) }));
            shown = '';
            setStatus(node, 'failed', RED._('upperstack-anomaly.status.restarting'));
          },
          onRestart: () => showStatus(),
        },
      };
      // Built here so a bad config is reported at once; the worker starts once the saved state is read.
      host = config.worker === false ? new InProcessEngineHost(hostOptions) : new WorkerEngineHost(hostOptions);
    } catch (err) {
      setStatus(node, 'failed', describeError(err).message);
      node.error(RED._('upperstack-anomaly.errors.config', { message: describeError(err).message }));
      return;
    }

    // Where earlier versions saved the state: the file store when settings.js has one, else the default store.
    const storage = (RED.settings as unknown as { contextStorage?: Record<string, unknown> }).contextStorage;
    const store: string | undefined = storage && Object.prototype.hasOwnProperty.call(storage, 'file') ? 'file' : undefined;
    const ctx = node.context();
    const getState = (cb: (err: Error | null, v: unknown) => void) => (store ? ctx.get('state', store, cb) : ctx.get('state', cb));
    const setState = (v: unknown, cb: (err?: Error | null) => void) => (store ? ctx.set('state', v, store, cb) : ctx.set('state', v, cb));

    const recent: number[] = [];
    /** Messages refused because the engine was too far behind, since deploy. */
    let refused = 0;
    let warm = false;
    const schedule = new SaveSchedule();
    /**
     * Why the last periodic save failed, until one succeeds: the status says so meanwhile, and the log
     * hears it once, not every 30 s while the disk stays full (again only when the reason changes).
     */
    let unsaved: string | undefined;
    let closed = false;

    let statusAt = 0;
    let statusTimer: ReturnType<typeof setTimeout> | null = null;
    let shown = '';

    function showStatus(): void {
      if (statusTimer || closed) return;
      const wait = statusAt + STATUS_EVERY_MS - Date.now();
      if (wait <= 0) return drawStatus();
      statusTimer = setTimeout(() => {
        statusTimer = null;
        if (!closed) drawStatus();
      }, wait);
    }

    function drawStatus(): void {
      const now = Date.now();
      statusAt = now;
      while (recent.length && now - recent[0] > HOUR_MS) recent.shift();
      const s = host.stats();
      let state: StatusState = warm ? 'connected' : 'idle';
      let text = warm
        ? RED._('upperstack-anomaly.status.watching', { series: s.series, anomalies: recent.length })
        : RED._('upperstack-anomaly.status.warming', { series: s.series });
      if (s.offline) text += RED._('upperstack-anomaly.status.offline', { offline: s.offline });
      if (s.evicted) {
        state = 'warning';
        text += RED._('upperstack-anomaly.status.evicted', { evicted: s.evicted });
      }
      if (refused) {
        state = 'warning';
        text += RED._('upperstack-anomaly.status.behind', { refused });
      }
      if (unsaved !== undefined) {
        state = 'warning';
        text += RED._('upperstack-anomaly.status.unsaved');
      }
      if (state + text === shown) return;
      shown = state + text;
      setStatus(node, state, text);
    }

    /** The context still holds state an earlier version saved there: removed once the file has a save. */
    let inContext = false;

    function moved(): Promise<void> {
      if (!inContext) return Promise.resolve();
      inContext = false;
      return new Promise((resolve) => {
        setState(undefined, (err) => {
          if (err) node.warn(RED._('upperstack-anomaly.errors.save', { message: err.message }));
          resolve();
        });
      });
    }

    /** A periodic save when one is due; the engine writes its state file where it runs, this thread sees only how large it was. */
    function saveIfDue(): void {
      const at = schedule.begin();
      if (at === undefined) return;
      host.save().then(
        (saved) => {
          schedule.done(at, saved?.bytes);
          // Nothing written (the worker is restarting): not a save that succeeded.
          if (!saved) return;
          void moved();
          if (unsaved !== undefined) {
            unsaved = undefined;
            node.log(RED._('upperstack-anomaly.log.saved'));
            showStatus();
          }
        },
        (err: unknown) => {
          schedule.failed();
          const message = describeError(err).message;
          if (message !== unsaved) node.warn(RED._('upperstack-anomaly.errors.save', { message }));
          unsaved = message;
          showStatus();
        },
      );
    }

    function sendOffline(events: HeartbeatEvent[]): void {
      const out: UpperstackMessage[] = [];
      for (const e of events) {
        if (e.status !== 'offline') continue;
        const now = Date.now();
        out.push(offlineMessage(e, RED.util.generateId(), now));
        recent.push(now);
      }
      if (out.length) {
        schedule.change();
        node.send([null, out]);
        showStatus();
      }
    }

    async function startHost(saved: SavedEngineState | undefined): Promise<void> {
      let r: { restoreError?: string };
      try {
        r = await host.start(saved);
      } catch (err) {
        // Worker threads unavailable (or the worker cannot load): the same engine on this thread.
        node.warn(RED._('upperstack-anomaly.errors.workerUnavailable', { message: describeError(err).message }));
        host = new InProcessEngineHost(hostOptions);
        r = await host.start(saved);
      }
      if (r.restoreError) node.warn(RED._('upperstack-anomaly.errors.restore', { message: r.restoreError }));
      warm = host.stats().series > 0;
    }

    // State an earlier version saved in context, until the engine has started from it.
    let saved: SavedEngineState | undefined;
    let started: Promise<void> | null = null;
    /** The saved state was read and the engine has started from it: messages need not wait for either. */
    let live = false;
    /** Starts the engine (once) from the saved state. */
    function running(): Promise<void> {
      started ??= startHost(saved).then(() => {
        saved = undefined;
      });
      return started;
    }
    // Messages wait for the saved state, so none is judged by a cold engine that is then replaced.
    // An engine with devices to watch starts at once (heartbeats must run even if no reading comes);
    // one with none starts with the first message: an idle worker thread holds ~10 MB of memory.
    const ready = new Promise<void>((resolve) => {
      getState((err, state) => {
        if (err) node.warn(RED._('upperstack-anomaly.errors.restore', { message: err.message }));
        const legacy = err || closed ? undefined : ((state ?? undefined) as SavedEngineState | undefined);
        inContext = legacy !== undefined;
        // Moved to the file by the first save.
        if (inContext) schedule.change();
        // Only the file's head line is read here; the engine reads the rest where it runs.
        let head: { devices: number; series: number } | undefined;
        let unreadable = false;
        try {
          head = stateFileHead(stateFile);
        } catch {
          // Reported by the engine, which cannot use it either (restoreError), then replaced by its first save.
          unreadable = true;
        }
        // The file is newer than anything in context. Context state goes to the engine as it was saved: text is
        // parsed where the engine runs, and state it cannot use is reported from there, so this thread neither
        // parses nor copies its objects.
        saved = head || unreadable ? undefined : legacy;
        const empty = unreadable ? false : head ? head.devices + head.series === 0 : isEmpty(saved);
        if (empty) return resolve();
        running().then(resolve, (e: unknown) => {
          node.error(RED._('upperstack-anomaly.errors.config', { message: describeError(e).message }));
          resolve();
        });
      });
    });
    void ready.then(() => {
      if (!closed) showStatus();
    });
    // For diagnostics and tests: where the engine runs now.
    Object.defineProperty(node, 'anomalyHost', { get: () => host, configurable: true });
    const unregisterMetrics = registerAnomaly(node.id, {
      name: (def as { name?: string }).name ?? '',
      stats: () => {
        const s = host.stats();
        return { series: s.series, maxSeries: options.maxSeries ?? 10_000, evicted: s.evicted, queued: host.queued, refused, restarts: host.restarts };
      },
    });

    // A worker that died is restarted by the host; /health says so while it is down or crash-looping.
    const stopHealth = registerHealth(`anomaly:${(def as { name?: string }).name || node.id}`, node.id, () => {
      const c = host.condition();
      const subs = { message: c.lastError ?? '', restarts: c.restarts, crashes: c.crashesInARow };
      if (c.state !== 'running') return { ok: false, detail: RED._(`upperstack-anomaly.health.${c.state}`, subs), lastError: c.lastError, failingSince: c.since };
      return { ok: true, detail: RED._(host.mode === 'worker' ? 'upperstack-anomaly.health.worker' : 'upperstack-anomaly.health.inProcess', subs) };
    });

    // On a cluster member, a partition's series move with it to the member that takes it over (docs/scaling.md).
    const unregisterState = deviceStates(RED).register({
      key: `upperstack-anomaly:${node.id}`,
      exportDevices: async (keep) => {
        await ready;
        await running();
        return host.exportDevices(keep);
      },
      importDevices: async (state) => {
        await ready;
        await running();
        await host.importDevices(state as EngineState);
        if (host.stats().series > 0) warm = true;
        schedule.change();
      },
      forgetDevices: async (drop) => {
        await ready;
        // Not started: it has judged nothing, so it holds no device.
        if (!started) return;
        await started;
        if (await host.forgetDevices(drop)) schedule.change();
      },
    });

    const saver = setInterval(() => {
      showStatus();
      saveIfDue();
    }, SAVE_EVERY_MS);
    saver.unref?.();

    onInput(node, async (msg, send, done) => {
      if (!live) {
        await ready;
        await running();
        live = true;
      }
      const readings = readingsOf(msg);
      if (!readings) return done(new InvalidReadingError('msg.payload must be a Reading {device, ts, fields, tags} or an array of them; put a decode node before anomaly'));
      // With output 1 unwired no node sees these readings again: they are left as they came and the
      // flagged ones leave on output 2 as annotated copies. So this node only reads what it is given,
      // and after a store it shares one payload with the other readers (nodes/lib/reading-readers.ts);
      // and only the flagged readings' verdicts are worded and rebuilt.
      const passOn = isWired(node as unknown as { wires?: string[][] }, 0);
      let results: ReadingResult[];
      let index: number[] | null = null;
      try {
        if (passOn) results = await host.process(readings);
        else {
          const f = await host.processFlagged(readings);
          if (f.judged) warm = true;
          results = f.results;
          index = f.index;
        }
      } catch (err) {
        if (err instanceof BackpressureError && err.details.reason === 'backlog') {
          refused++;
          showStatus();
        }
        throw err;
      }
      schedule.change();
      const flagged: AnnotatedReading[] = [];
      const now = Date.now();
      for (let k = 0; k < results.length; k++) {
        const res = results[k];
        const a = annotate(index ? copyOf(readings[index[k]]) : readings[k], res);
        if (!warm && a.anomaly) warm = true;
        if (res.isAnomaly) {
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
      showStatus();
      done();
    });

    onClose(node, async (removed) => {
      closed = true;
      unregisterState();
      clearInterval(saver);
      if (statusTimer) clearTimeout(statusTimer);
      unregisterMetrics();
      stopHealth();
      await ready;
      const ran = started !== null && (await started.then(
        () => true,
        () => false,
      ));
      try {
        // An engine that never started has learned nothing: the file, if any, stays as it is.
        const saved = await host.close(ran && !removed);
        if (saved) await moved();
      } catch (err) {
        node.warn(RED._('upperstack-anomaly.errors.save', { message: describeError(err).message }));
      }
      if (removed) {
        try {
          removeStateFile(stateFile);
        } catch (err) {
          node.warn(RED._('upperstack-anomaly.errors.save', { message: describeError(err).message }));
        }
        await new Promise<void>((resolve) => setState(undefined, () => resolve()));
      }
    });
  }

  registerNode(RED, 'upperstack-anomaly', UpperstackAnomalyNode);
  registerBacktestRoute(RED);
};
