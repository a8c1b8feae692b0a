/**
 * upperstack-store-config: owns the sinks readings are written to (embedded
 * DuckDB by default; more kinds plug into nodes/lib/store/sinks.ts), each with
 * its durable writer and spool. Store, dead-letter, query and API nodes share
 * it; the first queryable sink answers queries and keeps dead letters.
 */
import type { NodeAPI } from 'node-red';
import { SinkSet, normalizeSinks, querySource, type SinkConfig } from '../lib/store/sinks';
import { writerEventText } from './events';
import { describeError } from '../lib/errors';
import { onClose } from '../shared/input';
import { migrate, registerNode } from '../shared/config';
import { dataDir, registerHealth } from '../shared/runtime';
import { probeReuseMs, probeWaitMs } from '../shared/health';
import { SharedProbe } from '../lib/api/health-probe';
import { registerSink } from '../lib/metrics';
import { DEFAULT_MEMORY_LIMIT_MB, DEFAULT_SPOOL_BUDGET_MB, storeConfigCredentials, storeConfigMigrations, type StoreConfigNode, type StoreConfigNodeDef, type StoreConfigOptions } from './options';
import { onFlowsStarted } from '../shared/deploy-events';

export = function register(RED: NodeAPI): void {
  function UpperstackStoreConfigNode(this: StoreConfigNode, def: StoreConfigNodeDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const config = migrate<StoreConfigOptions>(def as unknown as Record<string, unknown>, storeConfigMigrations);
    const dir = dataDir(RED);
    // A store config that cannot start says why in the log, in /health (failing at once: waiting will not fix it)
    // and to every node that uses it, through `failure`.
    const fail = (err: unknown) => {
      const text = RED._('upperstack-store-config.errors.sinks', { message: describeError(err).message });
      node.error(text);
      node.failure = text;
      node.ready = Promise.reject(err instanceof Error ? err : new Error(String(err)));
      node.ready.catch(() => undefined);
      const stop = registerHealth(`store:${config.name || node.id}`, node.id, () => ({ ok: false, detail: text, lastError: text }));
      onClose(node, stop);
    };
    const withSecrets = secretsInto(config.sinks, node.credentials ?? {});
    let sinks: SinkConfig[];
    try {
      sinks = normalizeSinks(withSecrets, dir);
    } catch (err) {
      // A memory limit from a hand-written flow that cannot be used: the default, with a warning (as before sinks).
      const fixed = Array.isArray(withSecrets) ? withSecrets.map((s) => (s && s.kind === 'duckdb' && !validLimit(s.memoryLimit) ? { ...s, memoryLimit: DEFAULT_MEMORY_LIMIT_MB } : s)) : config.sinks;
      try {
        sinks = normalizeSinks(fixed, dir);
        node.warn(RED._('upperstack-store-config.errors.memoryLimit'));
      } catch {
        fail(err);
        return;
      }
    }
    // Missing is the default, as the v3 → v4 migration makes it: the default pack saved some v5 store configs
    // without it, and a flows file deployed from one would otherwise warn at every start.
    const given: unknown = config.spoolBudget;
    let spoolBudget = given === undefined || given === null || given === '' ? DEFAULT_SPOOL_BUDGET_MB : config.spoolBudget;
    if (!Number.isInteger(spoolBudget) || spoolBudget < 1 || spoolBudget > 1048576) {
      node.warn(RED._('upperstack-store-config.errors.spoolBudget'));
      spoolBudget = DEFAULT_SPOOL_BUDGET_MB;
    }
    // Readings for the query API from a server sink the instances of a cluster share; an optional sink that is
    // switched off (its URL an unset environment variable) leaves queries on the embedded store.
    let querySink = typeof config.querySink === 'string' ? config.querySink.trim() : '';
    if (querySink && !sinks.some((s) => s.id === querySink) && Array.isArray(config.sinks) && config.sinks.some((s) => s?.id === querySink)) querySink = '';
    try {
      querySource(sinks, { dataDir: dir, siblings: sinks }, querySink);
    } catch (err) {
      fail(err);
      return;
    }
    let writer: SinkSet;
    try {
      writer = SinkSet.create(sinks, {
        querySink,
        dataDir: dir,
        configId: node.id,
        writer: { batchSize: config.batchSize, flushMs: config.flushMs, spoolBudgetBytes: spoolBudget * 1024 * 1024 },
        // Each change is logged once: an outage when it starts and when it ends, refused readings as they happen.
        onEvent: (sinkId, e) => node.warn(sinks.length > 1 ? `${sinkId}: ${writerEventText(RED, e)}` : writerEventText(RED, e)),
        // A server sink's news (database created, cannot be created, version found): logged, once each.
        notice: (sinkId, text) => node.log(`${sinkId}: ${text}`),
        owner: `store config "${config.name || node.id}" (${node.id})`,
      });
    } catch (err) {
      // A sink that cannot be built here (DuckDB without its native part for this platform): this store config
      // fails and says why, while the nodes that do not use it, and every other flow, start.
      fail(err);
      return;
    }
    node.writer = writer;
    node.store = node.writer.primary;
    node.label = node.writer.entries.map((e) => e.label).join(' + ');
    node.ready = node.writer.open((entry, err) => {
      // The writer still starts: readings spool until the sink can be opened.
      node.error(RED._('upperstack-store-config.errors.open', { path: entry.label, message: describeError(err).message }));
    });
    node.ready.catch(() => undefined);
    // Report and invoice nodes hold raw rows from their constructors: DuckDB retention's first pass waits for
    // them, so it does not delete what they still need. Node-RED emits flows:started after every deploy type
    // ("full", "flows", "nodes": test/integration/retention-partial-deploy.test.ts) once the nodes it restarted
    // are constructed; the retention timer's first tick is left as a fallback only.
    const holdsRegistered = () => node.writer.holdsRegistered();
    const stopHolds = onFlowsStarted(RED, holdsRegistered, true);
    // Two store configs of one name (an editor import copies a pack's "embedded DuckDB") are told apart by id.
    const name = config.name || node.id;
    const reuseMs = probeReuseMs(RED);
    const waitMs = probeWaitMs(RED);
    const stopHealth = node.writer.entries.map((entry) => {
      // The sink's probe (DuckDB's committed write, a server's ping) is most of what /health costs: a healthy
      // answer serves the calls of the next moment. A failing one is not reused, so a recovery shows at once.
      const probe = new SharedProbe(
        async () => {
          const h = await entry.sink.health();
          // A sink answering again is retried now, and this report already tells how that went.
          await entry.writer.probed(h.ok);
          return h;
        },
        { maxAgeMs: reuseMs, reusable: (h) => h.ok },
      );
      // Since when the sink's probe has not answered healthy: a probe left unanswered and the failures after it
      // are one outage, not a new one with each probe.
      let troubleSince: number | undefined;
      return registerHealth(entry.id === 'main' || node.writer.entries.length === 1 ? `store:${name}` : `store:${name}/${entry.id}`, node.id, async () => {
        // Trouble the writer met since (a failed write, readings in the spool) asks the sink again now: the
        // report then names the sink's own answer, and a sink answering again is retried without delay.
        const seen = entry.writer.stats();
        const outcome = await probe.within(waitMs, seen.failingSince !== undefined || seen.lastError !== undefined || seen.spooled > 0);
        let h: { ok: boolean; detail: string };
        if ('answer' in outcome) {
          h = outcome.answer;
          troubleSince = h.ok ? undefined : (troubleSince ?? Date.now());
        } else {
          // /health is answered within its caller's timeout, not the sink's: the probe goes on, and a later
          // call gets its answer.
          const waited = Date.now() - outcome.waitingSince;
          h = { ok: false, detail: `${entry.label} has not answered its health check for ${(waited / 1000).toFixed(1)} s (asked at ${new Date(outcome.waitingSince).toISOString()})` };
          troubleSince = Math.min(troubleSince ?? outcome.waitingSince, outcome.waitingSince);
        }
        const s = entry.writer.stats();
        const backlog = s.queued + s.spooled;
        const now = Date.now();
        return {
          ok: h.ok,
          detail: `${h.detail}; backlog ${backlog}${s.lastError ? `; last error: ${s.lastError}` : ''}`,
          sink: {
            kind: entry.kind,
            queued: s.queued,
            spooled: s.spooled,
            oldestAgeMs: s.oldestAt === undefined ? 0 : Math.max(0, now - s.oldestAt),
            writtenPerSec: s.writtenPerSec,
            written: s.written,
            retries: s.retries,
            deadLettered: s.rejected,
          },
          // For /health's thresholds (nodes/lib/api/health.ts).
          kind: 'store',
          failingSince: s.failingSince === undefined || troubleSince === undefined ? (s.failingSince ?? troubleSince) : Math.min(s.failingSince, troubleSince),
          lastError: s.lastError ?? (h.ok ? undefined : h.detail),
          disk: { bytes: s.spoolBytes, budget: s.spoolBudget, full: s.overBudget },
        };
      });
    });

    const stopMetrics = node.writer.entries.map((entry) =>
      registerSink(entry.id === 'main' || node.writer.entries.length === 1 ? node.id : `${node.id}.${entry.id}`, {
        name: node.writer.entries.length === 1 ? name : `${name}/${entry.id}`,
        kind: entry.kind,
        stats: () => entry.writer.stats(),
      }),
    );

    onClose(node, async () => {
      stopHolds();
      for (const stop of stopHealth) stop();
      for (const stop of stopMetrics) stop();
      await node.writer.close();
    });
  }

  registerNode(RED, 'upperstack-store-config', UpperstackStoreConfigNode, { credentials: storeConfigCredentials() });
};

/**
 * A server sink's user, password and token live in the node's credentials, in
 * the slot the sink names (credentials are a fixed list per node type, a store
 * may have several such sinks); here they join the sink's settings.
 */
function secretsInto(sinks: unknown, creds: Record<string, string | undefined>): unknown {
  if (!Array.isArray(sinks)) return sinks;
  return sinks.map((s: SinkConfig | null) => {
    if (!s || typeof s !== 'object' || (s.kind !== 'influxdb' && s.kind !== 'victoriametrics')) return s;
    const slot = Number(s.slot ?? 1);
    const pick = (name: string) => {
      const v = creds[`${name}${slot}`];
      return typeof v === 'string' && v !== '' ? v : undefined;
    };
    return { ...s, user: pick('user'), password: pick('password'), token: pick('token') };
  });
}

function validLimit(v: unknown): boolean {
  const n = v === '' || v === undefined ? DEFAULT_MEMORY_LIMIT_MB : Number(v);
  return Number.isInteger(n) && n >= 0 && n <= 1048576;
}
