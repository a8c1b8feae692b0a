/**
 * What /health says, and when it changes its mind. A component is failing
 * only once a problem has lasted longer than its threshold, so a blip does not
 * flap a load balancer, and a wedged pipeline cannot hide behind a store that
 * still answers its probe:
 *
 * - a store that has failed (writes spooled, or its probe failing) for longer
 *   than `storeFailingMs`;
 * - a journal whose oldest unsettled message is older than `unsettledMs`;
 * - a journal that cannot be written (a full disk) at once: every message its
 *   input receives meanwhile is refused, so waiting would hide lost time;
 * - backpressure (an input withholding acknowledgements or refusing requests)
 *   held for longer than `backpressureMs`;
 * - a connection to an external broker down for longer than
 *   `connectionFailingMs` (a client reconnects by itself after a blip);
 * - any other component (a broker not listening) at once.
 *
 * Each problem is logged once when it starts failing the check and once when it
 * ends. No timers and no Node-RED here: the caller samples the components and
 * calls evaluate() (on each request and periodically).
 */

export interface HealthThresholds {
  storeFailingMs: number;
  unsettledMs: number;
  backpressureMs: number;
  connectionFailingMs: number;
  /** How long a store's healthy probe answer serves later /health calls (nodes/lib/api/health-probe.ts). */
  probeReuseMs: number;
  /**
   * How long /health waits for a store's probe before it answers without it, the store reported as not
   * answering since the probe began (the probe goes on, and later calls join it).
   */
  probeWaitMs: number;
}

export const DEFAULT_HEALTH_THRESHOLDS: HealthThresholds = {
  storeFailingMs: 30_000,
  unsettledMs: 300_000,
  backpressureMs: 60_000,
  connectionFailingMs: 30_000,
  probeReuseMs: 1_000,
  probeWaitMs: 1_500,
};

/** A registered component's check (broker, store sink...) as nodes/shared/runtime.ts collects it. */
export interface ComponentSample {
  ok: boolean;
  detail: string;
  /** 'store' problems count only after storeFailingMs, 'connection' ones after connectionFailingMs; anything else at once. */
  kind?: string;
  /** Since when it has been failing (epoch ms), when the component knows; else counted from the first failed sample. */
  failingSince?: number;
  lastError?: string;
  /** Disk the component uses against its budget (a store's spool). */
  disk?: { bytes: number; budget: number; full?: boolean };
  /** A store sink's writer figures: readings (lines) waiting in memory and in the spool, how long the oldest has waited, throughput, retries, dead letters. */
  sink?: { kind: string; queued: number; spooled: number; oldestAgeMs: number; writtenPerSec: number; written: number; retries: number; deadLettered: number };
}

/** An input's journal (nodes/lib/ingest IntakeStats). */
export interface JournalSample {
  id: string;
  name?: string;
  bytes: number;
  budgetBytes: number;
  pending: number;
  oldestUnsettledAt?: number;
  paused: boolean;
  pausedSince?: number;
  pauseReason?: string;
  /** The last journal write failure, while writes fail, and since when. */
  lastError?: string;
  lastErrorSince?: number;
}

export interface HealthSnapshot {
  components: Record<string, ComponentSample>;
  journals: JournalSample[];
}

export interface Problem {
  component: string;
  /** STORE_FAILING, DISCONNECTED, JOURNAL_FAILING, UNSETTLED, BACKPRESSURE, SPOOL_FULL or FAILING. */
  code: string;
  message: string;
  /** Epoch ms the problem started (not when it crossed the threshold). */
  since: number;
  lastError?: string;
}

export interface HealthReport {
  status: 'ok' | 'failing';
  /** Names of failing components. */
  failing: string[];
  problems: Problem[];
  components: Record<string, ComponentSample & { failing: boolean }>;
  journals: Array<{ name: string; bytes: number; budget: number; pending: number; oldestUnsettledAt?: number; paused: boolean; pausedSince?: number; pauseReason?: string }>;
  /** Totals of the journals, as /health always showed them. */
  journal: { pending: number; bytes: number; budget: number };
  /** Disk use against budget: every journal and every store spool. */
  disk: { journals: Array<{ name: string; bytes: number; budget: number }>; spools: Array<{ name: string; bytes: number; budget: number; full: boolean }> };
}

export interface HealthLog {
  warn(text: string): void;
  info(text: string): void;
}

function seconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}

export class HealthMonitor {
  /** Problems failing the check now, by component and code. */
  private active = new Map<string, Problem>();
  /** When a component without a since of its own was first seen failing. */
  private firstSeen = new Map<string, number>();

  constructor(
    private readonly thresholds: Omit<HealthThresholds, 'probeReuseMs' | 'probeWaitMs'>,
    private readonly log: HealthLog,
  ) {}

  evaluate(snapshot: HealthSnapshot, now = Date.now()): HealthReport {
    const problems: Problem[] = [];
    const components: HealthReport['components'] = {};
    const seen = new Set<string>();

    for (const [name, c] of Object.entries(snapshot.components)) {
      const bad = !c.ok || c.failingSince !== undefined;
      let since: number | undefined;
      if (bad) {
        since = c.failingSince ?? this.firstSeen.get(name) ?? now;
        if (c.failingSince === undefined) this.firstSeen.set(name, since);
      } else {
        this.firstSeen.delete(name);
      }
      const isStore = c.kind === 'store';
      const isConnection = c.kind === 'connection';
      let failing = false;
      if (bad && since !== undefined) {
        const limit = isStore ? this.thresholds.storeFailingMs : isConnection ? this.thresholds.connectionFailingMs : 0;
        if (now - since >= limit) {
          failing = true;
          const error = c.lastError ?? (c.ok ? undefined : c.detail);
          problems.push({
            component: name,
            code: isStore ? 'STORE_FAILING' : isConnection ? 'DISCONNECTED' : 'FAILING',
            message: isStore
              ? `the store has failed for ${seconds(now - since)}${error ? `: ${error}` : ''}`
              : isConnection
                ? `the connection has been down for ${seconds(now - since)}${error ? `: ${error}` : ''}`
                : c.detail,
            since,
            ...(error ? { lastError: error } : {}),
          });
        }
      }
      if (c.disk?.full) {
        failing = true;
        problems.push({ component: name, code: 'SPOOL_FULL', message: `the spool is at its budget of ${c.disk.budget} bytes: new writes wait`, since: c.failingSince ?? now });
      }
      seen.add(name);
      components[name] = { ...c, failing };
    }

    const journals: HealthReport['journals'] = [];
    for (const j of snapshot.journals) {
      const name = `journal:${j.name || j.id}`;
      journals.push({ name, bytes: j.bytes, budget: j.budgetBytes, pending: j.pending, oldestUnsettledAt: j.oldestUnsettledAt, paused: j.paused, pausedSince: j.pausedSince, pauseReason: j.pauseReason });
      if (j.lastError !== undefined) {
        problems.push({
          component: name,
          code: 'JOURNAL_FAILING',
          message: `the input cannot write its journal, so it refuses or holds back what devices send: ${j.lastError}`,
          since: j.lastErrorSince ?? now,
          lastError: j.lastError,
        });
      }
      if (j.oldestUnsettledAt !== undefined && now - j.oldestUnsettledAt >= this.thresholds.unsettledMs) {
        problems.push({
          component: name,
          code: 'UNSETTLED',
          message: `the oldest of ${j.pending} unsettled messages was received ${seconds(now - j.oldestUnsettledAt)} ago and is neither stored nor dead-lettered`,
          since: j.oldestUnsettledAt,
        });
      }
      if (j.paused && j.pausedSince !== undefined && now - j.pausedSince >= this.thresholds.backpressureMs) {
        const why = j.pauseReason === 'disk' ? `the journal is at its disk budget (${j.bytes} of ${j.budgetBytes} bytes)` : `${j.pending} messages are unsettled`;
        problems.push({
          component: name,
          code: 'BACKPRESSURE',
          message: `the input has held back acknowledgements for ${seconds(now - j.pausedSince)}: ${why}`,
          since: j.pausedSince,
          ...(j.lastError ? { lastError: j.lastError } : {}),
        });
      }
    }
    for (const name of this.firstSeen.keys()) if (!seen.has(name)) this.firstSeen.delete(name);

    this.transitions(problems, now);
    const failing = [...new Set(problems.map((p) => p.component))];
    const spools = Object.entries(snapshot.components)
      .filter(([, c]) => c.disk)
      .map(([name, c]) => ({ name, bytes: c.disk!.bytes, budget: c.disk!.budget, full: c.disk!.full === true }));
    return {
      status: failing.length ? 'failing' : 'ok',
      failing,
      problems,
      components,
      journals,
      journal: {
        pending: snapshot.journals.reduce((n, j) => n + j.pending, 0),
        bytes: snapshot.journals.reduce((n, j) => n + j.bytes, 0),
        budget: snapshot.journals.reduce((n, j) => n + j.budgetBytes, 0),
      },
      disk: { journals: journals.map(({ name, bytes, budget }) => ({ name, bytes, budget })), spools },
    };
  }

  /** Logs each problem once as it starts failing the check, and once as it ends. */
  private transitions(problems: Problem[], now: number): void {
    const current = new Map(problems.map((p) => [`${p.component}\u0000${p.code}`, p]));
    for (const [key, p] of current) {
      if (!this.active.has(key)) this.log.warn(`health: ${p.component} is failing (${p.code}): ${p.message}`);
    }
    for (const [key, p] of this.active) {
      if (!current.has(key)) this.log.info(`health: ${p.component} is healthy again (${p.code} ended after ${seconds(now - p.since)})`);
    }
    this.active = current;
  }
}

/** Thresholds from settings in seconds (`{storeFailingSeconds, unsettledSeconds, backpressureSeconds, connectionFailingSeconds, probeReuseSeconds, probeWaitSeconds}`); bad values keep the default. */
export function healthThresholds(settings: Record<string, unknown> | undefined, onInvalid?: (name: string, value: unknown) => void): HealthThresholds {
  const out = { ...DEFAULT_HEALTH_THRESHOLDS };
  const names: Array<[keyof HealthThresholds, string]> = [
    ['storeFailingMs', 'storeFailingSeconds'],
    ['unsettledMs', 'unsettledSeconds'],
    ['backpressureMs', 'backpressureSeconds'],
    ['connectionFailingMs', 'connectionFailingSeconds'],
    ['probeReuseMs', 'probeReuseSeconds'],
    ['probeWaitMs', 'probeWaitSeconds'],
  ];
  for (const [key, name] of names) {
    const v = settings?.[name];
    if (v === undefined || v === '') continue;
    const n = Number(v);
    if (Number.isFinite(n) && n >= 0 && n <= 86_400 * 7) out[key] = Math.round(n * 1000);
    else onInvalid?.(name, v);
  }
  return out;
}
