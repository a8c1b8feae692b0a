/**
 * The anomaly worker thread: holds one AnomalyEngine, judges the batches the
 * main thread posts, in the order they come, and checks heartbeats on its own
 * timer. Started by WorkerEngineHost (./host.ts); never imported elsewhere.
 */
import { parentPort } from 'node:worker_threads';
import { AnomalyEngine } from '../engine';
import { writeStateFile } from '../state-file';
import { savedEngine } from './host-types';
import { judgeBatch, transferables, type FromWorker, type ToWorker } from './protocol';

const port = parentPort;
if (!port) throw new Error('the anomaly worker runs only as a worker thread');

let engine: AnomalyEngine | null = null;
let stateFile: string | undefined;
// Heartbeats are judged against arrival times: a batch carries the time its readings reached the node.
let now = Date.now();

function post(m: FromWorker, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(m, transfer);
}

port.on('message', (m: ToWorker) => {
  switch (m.type) {
    case 'init': {
      const options = { ...m.options, clock: () => now };
      let restoreError: string | undefined;
      stateFile = m.stateFile;
      engine = new AnomalyEngine(options);
      try {
        engine = savedEngine(stateFile, m.state, options) ?? engine;
      } catch (err) {
        restoreError = err instanceof Error ? err.message : String(err);
      }
      if (m.heartbeatEveryMs !== null) {
        setInterval(() => {
          now = Date.now();
          const events = engine!.checkHeartbeats(now);
          if (events.length) post({ type: 'heartbeats', events, stats: engine!.stats() });
        }, m.heartbeatEveryMs);
      }
      post({ type: 'ready', stats: engine.stats(), ...(restoreError ? { restoreError } : {}) });
      return;
    }
    case 'batch': {
      now = m.now;
      try {
        const results = judgeBatch(engine!, m.batch, m.flaggedOnly);
        post({ type: 'results', id: m.id, results, stats: engine!.stats() }, transferables(results));
      } catch (err) {
        // The engine throws on nothing it is given; should it, this batch fails and the worker carries on.
        post({ type: 'failed', id: m.id, message: err instanceof Error ? err.message : String(err) });
      }
      return;
    }
    case 'save':
      // Written here, a part at a time: the main thread never holds the state or its text.
      try {
        if (!stateFile) throw new Error('no state file was given');
        post({ type: 'saved', id: m.id, saved: writeStateFile(stateFile, engine!) });
      } catch (err) {
        post({ type: 'saveFailed', id: m.id, message: err instanceof Error ? err.message : String(err) });
      }
      return;
    case 'call':
      try {
        const e = engine!;
        let value: unknown;
        if (m.op === 'devices') value = e.deviceNames();
        else if (m.op === 'import') e.importDevices(m.state);
        else {
          const chosen = new Set(m.devices);
          value = m.op === 'export' ? e.exportDevices((d) => chosen.has(d)) : e.forgetDevices((d) => chosen.has(d));
        }
        post({ type: 'reply', id: m.id, value, stats: e.stats() });
      } catch (err) {
        post({ type: 'replyError', id: m.id, message: err instanceof Error ? err.message : String(err) });
      }
      return;
  }
});
