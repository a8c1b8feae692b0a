/**
 * upperstack-stats: the pipeline's figures for a dashboard, every few seconds
 * and without a request: ingest rates as chart points (output 1), the running
 * totals (output 2: received, stored, dead letters, invalid, queued, spooled,
 * journal backlog, and the rates) and, with a store, its latest dead letters as
 * table rows (output 3, when they changed). The same counters as GET /metrics.
 */
import type { Node, NodeAPI } from 'node-red';
import { pipelineTotals, RateMeter } from '../lib/dashboard';
import { ConfigError, describeError } from '../lib/errors';
import { migrate, registerNode } from '../shared/config';
import { onClose, onInput, type UpperstackMessage } from '../shared/input';
import { setStatus } from '../shared/status';
import type { StoreConfigNode } from '../store-config/options';
import { statsMigrations, type StatsNodeDef, type StatsOptions } from './options';

export = function register(RED: NodeAPI): void {
  function UpperstackStatsNode(this: Node, def: StatsNodeDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const config = migrate<StatsOptions>(def as unknown as Record<string, unknown>, statsMigrations);
    if (!(config.interval >= 1 && config.interval <= 3600) || !(Number.isInteger(config.deadLetters) && config.deadLetters >= 0 && config.deadLetters <= 1000)) {
      const err = new ConfigError(RED._('upperstack-stats.errors.config'));
      setStatus(node, 'failed', err.message);
      node.error(err.message);
      return;
    }
    const storeNode = config.store ? (RED.nodes.getNode(config.store) as StoreConfigNode | null) : null;
    if (config.store && !storeNode) setStatus(node, 'failed', RED._('upperstack-stats.errors.noStore'));
    const meter = new RateMeter();
    let lastLetters = -1;
    let listing = false;
    let closed = false;

    const msg = (topic: string, payload: unknown) => ({ _msgid: RED.util.generateId(), topic, payload }) as UpperstackMessage;

    /** The newest dead letters, when their count moved since the last list. */
    const listLetters = async (count: number): Promise<UpperstackMessage | null> => {
      if (!storeNode || config.deadLetters === 0 || count === lastLetters || listing) return null;
      listing = true;
      try {
        await storeNode.ready;
        const letters = await storeNode.store.deadLetters({ limit: config.deadLetters, order: 'desc' });
        lastLetters = count;
        return msg('deadletters', letters.map((l) => ({ time: new Date(l.ts).toISOString(), device: l.device, code: l.code, reason: l.reason.slice(0, 200), source: l.source })));
      } finally {
        listing = false;
      }
    };

    const tick = async () => {
      const now = Date.now();
      const totals = pipelineTotals();
      const rates = meter.next(totals, now);
      const points = [
        { series: RED._('upperstack-stats.series.received'), ts: now, value: rates.receivedPerSecond },
        { series: RED._('upperstack-stats.series.stored'), ts: now, value: rates.storedPerSecond },
        { series: RED._('upperstack-stats.series.deadLetters'), ts: now, value: rates.deadLettersPerSecond },
      ];
      let letters: UpperstackMessage | null = null;
      try {
        letters = await listLetters(totals.deadLetters);
      } catch (err) {
        setStatus(node, 'failed', describeError(err).message);
      }
      if (closed) return;
      node.send([msg('rates', points), msg('totals', { ...totals, ...rates, at: new Date(now).toISOString() }), letters]);
      setStatus(node, 'connected', RED._('upperstack-stats.status.rates', { received: rates.receivedPerSecond, stored: rates.storedPerSecond, deadLetters: totals.deadLetters }));
    };
    const run = () => void tick().catch((err: unknown) => setStatus(node, 'failed', describeError(err).message));
    const timer = setInterval(run, config.interval * 1000);
    // A first figure at once: a dashboard opened right after deploy is not blank for an interval.
    const first = setTimeout(run, 500);

    onInput(node, async (_msg, _send, done) => {
      // Any message asks for the figures now (e.g. an inject on a button).
      lastLetters = -1;
      await tick();
      done();
    });

    onClose(node, () => {
      closed = true;
      clearInterval(timer);
      clearTimeout(first);
    });
  }

  registerNode(RED, 'upperstack-stats', UpperstackStatsNode);
};
