/**
 * /health in a runtime: samples the registered components (brokers, stores)
 * and the inputs' journals, and runs them through one HealthMonitor per
 * runtime, with thresholds from the `upperstack.health` setting. While an API
 * node is deployed the monitor also runs on a timer, so a problem is logged
 * when it starts and when it ends even if nobody asks /health.
 */
import type { NodeAPI } from 'node-red';
import { HealthMonitor, healthThresholds, type HealthReport, type HealthThresholds } from '../lib/api/health';
import { intakeStats } from '../lib/ingest';
import { checkHealth, upperstackSettings } from './runtime';

interface Watch {
  monitor: HealthMonitor;
  thresholds: HealthThresholds;
  users: Set<object>;
  timer?: NodeJS.Timeout;
  running?: Promise<HealthReport>;
}

const watches = new WeakMap<object, Watch>();

function watchOf(RED: NodeAPI): Watch {
  let w = watches.get(RED.httpNode);
  if (!w) {
    const settings = (upperstackSettings(RED) as { health?: Record<string, unknown> }).health;
    const thresholds = healthThresholds(settings, (name, value) => RED.log.warn(`upperstack.health.${name} must be a number of seconds; ${JSON.stringify(value)} is ignored`));
    w = { monitor: new HealthMonitor(thresholds, { warn: (t) => RED.log.warn(t), info: (t) => RED.log.info(t) }), thresholds, users: new Set() };
    watches.set(RED.httpNode, w);
  }
  return w;
}

/** How long a store's healthy probe answer serves /health (`upperstack.health.probeReuseSeconds`). */
export function probeReuseMs(RED: NodeAPI): number {
  return watchOf(RED).thresholds.probeReuseMs;
}

/** How long /health waits for a store's probe (`upperstack.health.probeWaitSeconds`). */
export function probeWaitMs(RED: NodeAPI): number {
  return watchOf(RED).thresholds.probeWaitMs;
}

/** The current report; concurrent callers share one evaluation. */
export function healthReport(RED: NodeAPI): Promise<HealthReport> {
  const w = watchOf(RED);
  if (!w.running) {
    w.running = checkHealth()
      .then((components) => w.monitor.evaluate({ components, journals: intakeStats() }))
      .finally(() => {
        w.running = undefined;
      });
  }
  return w.running;
}

/** Keeps the monitor running while `owner` (an API node) is deployed; the returned function stops it. */
export function watchHealth(RED: NodeAPI, owner: object): () => void {
  const w = watchOf(RED);
  w.users.add(owner);
  if (!w.timer) {
    const { storeFailingMs, unsettledMs, backpressureMs, connectionFailingMs } = w.thresholds;
    const every = Math.min(5000, Math.max(200, Math.min(storeFailingMs, unsettledMs, backpressureMs, connectionFailingMs) / 4));
    w.timer = setInterval(() => {
      healthReport(RED).catch((err: unknown) => RED.log.warn(`health check failed: ${err instanceof Error ? err.message : String(err)}`));
    }, every);
    w.timer.unref();
  }
  return () => {
    w.users.delete(owner);
    if (w.users.size === 0 && w.timer) {
      clearInterval(w.timer);
      w.timer = undefined;
    }
  };
}
