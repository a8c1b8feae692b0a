/**
 * upperstack-market: offers a device's data on the embedded broker. Each
 * reading goes out at once on `market/{device}/live` (only clients holding a
 * grant receive it: the access rules check every delivery), and the mean of
 * each minute on `market/{device}/1m` (anyone may read it, anonymous clients
 * included; the latest is retained, so a new subscriber has a value at once).
 * The means also leave on the output as Readings, to store or chart them.
 */
import type { Node, NodeAPI } from 'node-red';
import { ConfigError, InvalidReadingError } from '../lib/errors';
import { MinuteAverager, marketTopics, type WindowMean } from '../lib/market/average';
import type { Reading } from '../lib/reading';
import { onClose, onInput } from '../shared/input';
import { consume } from '../shared/receipts';
import { migrate, registerNode } from '../shared/config';
import { throttledStatus } from '../shared/status';
import { findBroker, type EmbeddedBroker } from '../shared/runtime';
import { marketMigrations, topicLevelProblem, type MarketNodeDef, type MarketOptions } from './options';

const WINDOW_MS = 60_000;
/** How often windows of devices that fell silent are looked at. */
const SWEEP_MS = 5_000;

function isReading(v: unknown): v is Reading {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Partial<Reading>;
  return typeof r.device === 'string' && typeof r.ts === 'number' && Number.isFinite(r.ts) && typeof r.fields === 'object' && r.fields !== null;
}

function asReading(m: WindowMean): Reading {
  return { device: m.device, ts: m.ts, fields: m.fields, tags: { window: '1m' } };
}

export = function register(RED: NodeAPI): void {
  function UpperstackMarketNode(this: Node, def: MarketNodeDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const config = migrate<MarketOptions>(def as unknown as Record<string, unknown>, marketMigrations);
    const averager = new MinuteAverager({ windowMs: WINDOW_MS });
    const status = throttledStatus(node);
    let live = 0;
    let means = 0;
    let skipped = 0;
    const show = () =>
      status('connected', () => RED._('upperstack-market.status.counts', { live, means, device: config.device || RED._('upperstack-market.label.everyDevice') }));
    status('idle', RED._('upperstack-market.status.waiting'));
    const deviceProblem = topicLevelProblem(config.device);
    if (deviceProblem) {
      status('failed', deviceProblem);
      node.error(RED._('upperstack-market.errors.device', { message: deviceProblem }));
    }

    const broker = (): EmbeddedBroker => {
      const b = findBroker(config.broker || undefined);
      if (!b) throw new ConfigError(RED._('upperstack-market.errors.noBroker'));
      return b;
    };

    const publishMeans = (b: EmbeddedBroker, list: WindowMean[]): Promise<void>[] =>
      list.map((m) => {
        means++;
        const body = { device: m.device, ts: m.ts, end: m.end, fields: m.fields, n: m.n };
        return b.publish(marketTopics(m.device).averages, Buffer.from(JSON.stringify(body)), 1, true);
      });

    onInput(node, async (msg, send, done) => {
      if (deviceProblem) return done(new ConfigError(deviceProblem));
      const items = Array.isArray(msg.payload) ? (msg.payload as unknown[]) : [msg.payload];
      if (!items.every(isReading)) return done(new InvalidReadingError('msg.payload must be a Reading {device, ts, fields} or an array of them (put a decode node before this one)', { path: 'payload' }));
      const b = broker();
      const now = Date.now();
      const closed: WindowMean[] = [];
      const sent: Promise<void>[] = [];
      for (const r of items) {
        if (config.device ? r.device !== config.device : topicLevelProblem(r.device) !== undefined || r.device === '') {
          if (!config.device) skipped++;
          continue;
        }
        // Tags stay home (customer, site...): a buyer pays for the measurements.
        sent.push(b.publish(marketTopics(r.device).live, Buffer.from(JSON.stringify({ device: r.device, ts: r.ts, fields: r.fields })), 1));
        live++;
        closed.push(...averager.add(r, now));
      }
      sent.push(...publishMeans(b, closed));
      await Promise.all(sent);
      // Published is as far as this data goes: the input's journal entry is done.
      consume(msg);
      show();
      if (closed.length > 0) {
        const readings = closed.map(asReading);
        send({ _msgid: msg._msgid, topic: closed.length === 1 ? marketTopics(closed[0].device).averages : 'market/1m', payload: readings.length === 1 ? readings[0] : readings });
      }
      done();
    });

    // A device that falls silent still gets its last minute's mean.
    const sweep = setInterval(() => {
      const closed = averager.closeSilent(Date.now() - WINDOW_MS);
      if (closed.length === 0) return;
      let b: EmbeddedBroker;
      try {
        b = broker();
      } catch (err) {
        status('failed', (err as Error).message);
        return;
      }
      Promise.all(publishMeans(b, closed)).then(
        () => {
          show();
          const readings = closed.map(asReading);
          node.send({ topic: closed.length === 1 ? marketTopics(closed[0].device).averages : 'market/1m', payload: readings.length === 1 ? readings[0] : readings });
        },
        (err: unknown) => node.warn(RED._('upperstack-market.errors.publish', { message: err instanceof Error ? err.message : String(err) })),
      );
    }, SWEEP_MS);
    sweep.unref();

    onClose(node, () => {
      clearInterval(sweep);
      if (skipped > 0) node.log(RED._('upperstack-market.log.skipped', { count: skipped }));
    });
  }

  registerNode(RED, 'upperstack-market', UpperstackMarketNode);
};
