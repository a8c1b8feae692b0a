/**
 * upperstack-live: what a dashboard shows of the readings flowing past. Wire
 * the store's output into it; every few seconds it sends the latest value of
 * each field per device as table rows (output 1) and, per charted field, the
 * points since the last update (outputs 2...), shaped for Dashboard 2's table
 * and chart widgets, so the dashboard needs no code.
 */
import type { Node, NodeAPI } from 'node-red';
import { ChartPoints, LatestValues } from '../lib/dashboard';
import { ConfigError, describeError, InvalidReadingError } from '../lib/errors';
import type { Reading } from '../lib/reading';
import { migrate, registerNode } from '../shared/config';
import { sensitiveMasks } from '../shared/keys';
import { maskValue } from '../lib/security/masking';
import { onClose, onInput, type UpperstackMessage } from '../shared/input';
import { setStatus } from '../shared/status';
import type { StoreConfigNode } from '../store-config/options';
import { fieldList, liveMigrations, type LiveNodeDef, type LiveOptions } from './options';

function readingsOf(payload: unknown): Reading[] | undefined {
  const list = Array.isArray(payload) ? payload : [payload];
  for (const r of list) {
    if (typeof r !== 'object' || r === null || typeof (r as Reading).device !== 'string' || typeof (r as Reading).fields !== 'object' || (r as Reading).fields === null) return undefined;
  }
  return list as Reading[];
}

/**
 * Chart points per field per update: a chart drawn for people needs no more, and
 * Dashboard 2's chart node copies every point it is given (at 5,000 a field per
 * update it took a fifth of the runtime's CPU on a stream of batches). Beyond it
 * the latest points are sent; every reading stays in the store.
 */
const CHART_POINTS_PER_UPDATE = 500;

/** How far back the charts are filled from the store at start: the window the default pack's charts show. */
const CHART_SEED_WINDOW_MS = 15 * 60_000;

export = function register(RED: NodeAPI): void {
  function UpperstackLiveNode(this: Node, def: LiveNodeDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const config = migrate<LiveOptions>(def as unknown as Record<string, unknown>, liveMigrations);
    const fields = fieldList(config.fields);
    if (!(config.interval >= 0.5 && config.interval <= 3600) || !(Number.isInteger(config.maxDevices) && config.maxDevices >= 1 && config.maxDevices <= 100_000)) {
      const err = new ConfigError(RED._('upperstack-live.errors.config'));
      setStatus(node, 'failed', err.message);
      node.error(err.message);
      return;
    }
    const latest = new LatestValues({ maxDevices: config.maxDevices, columns: fieldList(config.columns) });
    const points = new ChartPoints(fields, CHART_POINTS_PER_UPDATE);

    const flush = () => {
      if (!latest.takeChanged()) return;
      const now = Date.now();
      // Dashboard sockets are not told apart per user: every one is served as a reader without read:sensitive.
      const masks = sensitiveMasks();
      const out: Array<UpperstackMessage | null> = [{ _msgid: RED.util.generateId(), topic: 'latest', payload: latest.rows(masks) } as UpperstackMessage];
      points.take().forEach((list, i) => {
        const mask = masks.get(fields[i]);
        const shown = mask ? list.flatMap((p) => (mask.kind === 'round' ? [{ ...p, value: maskValue(p.value, mask) as number }] : [])) : list;
        out.push(shown.length ? ({ _msgid: RED.util.generateId(), topic: fields[i], payload: shown } as UpperstackMessage) : null);
      });
      node.send(out);
      setStatus(node, 'connected', RED._('upperstack-live.status.devices', { devices: latest.size, time: new Date(now).toLocaleTimeString() }));
    };
    const timer = setInterval(flush, config.interval * 1000);
    setStatus(node, 'idle', RED._('upperstack-live.status.waiting'));

    // After a restart or deploy the table starts from the store, so a device gone quiet is still listed; readings
    // arriving meanwhile are newer and win over what the store answers (LatestValues keeps the newest per field).
    const storeNode = config.store ? (RED.nodes.getNode(config.store) as StoreConfigNode | null) : null;
    if (config.store && !storeNode) setStatus(node, 'failed', RED._('upperstack-live.errors.noStore'));
    // Saved before *Start from* existed (a data folder whose flows came from an earlier first start): nobody chose
    // "none", but which store feeds this node is a guess the flow does not answer, so it is said, not set.
    if (!('store' in def)) {
      const stores: string[] = [];
      RED.nodes.eachNode((n) => {
        if (n.type === 'upperstack-store-config') stores.push(`"${(n as { name?: string }).name || n.id}"`);
      });
      if (stores.length) node.warn(RED._('upperstack-live.warnings.noStartFrom', { stores: stores.join(', ') }));
    }
    let closed = false;
    if (storeNode) {
      void (async () => {
        await storeNode.ready;
        const store = storeNode.store;
        if (closed) return;
        if (!store.latest) {
          // A store read from a time-series server has no "latest" query: said, or an empty dashboard after a restart looks like lost data.
          node.warn(RED._('upperstack-live.warnings.noLatest', { store: storeNode.name || storeNode.id }));
          return;
        }
        const seed = await store.latest({ devices: config.maxDevices, chartFields: fields, since: Date.now() - CHART_SEED_WINDOW_MS, points: CHART_POINTS_PER_UPDATE });
        if (closed) return;
        latest.add(seed.latest);
        points.add(seed.points);
        flush();
      })().catch((err: unknown) => {
        if (!closed) setStatus(node, 'failed', RED._('upperstack-live.errors.seed', { reason: describeError(err).message }));
      });
    }

    onInput(node, (msg, _send, done) => {
      const readings = readingsOf(msg.payload);
      if (!readings) return done(new InvalidReadingError(RED._('upperstack-live.errors.payload')));
      latest.add(readings);
      points.add(readings);
      // After the store: the message is settled already, this node only looks.
      done();
    });

    onClose(node, () => {
      closed = true;
      clearInterval(timer);
    });
  }

  registerNode(RED, 'upperstack-live', UpperstackLiveNode);
};
