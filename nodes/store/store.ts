/**
 * upperstack-store: writes Readings through the store config's durable writer.
 * A message is done (and its journal entry settled) once its readings are in the
 * store or in the spool; it then leaves the output for whatever comes next.
 */
import type { Node, NodeAPI } from 'node-red';
import { consume, taken } from '../shared/receipts';
import { installSettlement } from '../shared/settlement';
import { InvalidReadingError } from '../lib/errors';
import { onInput } from '../shared/input';
import { applyRegistryTags } from '../shared/devices';
import { readingsOf } from '../shared/batch';
import { migrate, registerNode } from '../shared/config';
import { setStatus, throttledStatus } from '../shared/status';
import type { StoreConfigNode } from '../store-config/options';
import { storeMigrations, type StoreNodeDef, type StoreOptions } from './options';

export = function register(RED: NodeAPI): void {
  // A store settles journal entries: when one output feeds several stores, each must get its share.
  installSettlement(RED);
  function UpperstackStoreNode(this: Node, def: StoreNodeDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const config = migrate<StoreOptions>(def as unknown as Record<string, unknown>, storeMigrations);
    const storeNode = RED.nodes.getNode(config.store) as StoreConfigNode | null;
    if (!storeNode || !storeNode.writer) {
      const text = RED._(storeNode ? 'upperstack-store.errors.badStore' : 'upperstack-store.errors.noStore');
      setStatus(node, 'failed', text);
      node.error(text);
      // Readings still arriving fail visibly; their journal entries stay unsettled and replay once the store is fixed.
      onInput(node, (_msg, _send, done) => done(new Error(text)));
      return;
    }
    const status = throttledStatus(node);
    // Spooling, or not even that: on a full disk the readings wait in memory with nothing spooled, and the store is failing all the same.
    const down = (k: { spooled: number; failingSince?: number }) => k.spooled > 0 || k.failingSince !== undefined;
    let last = 0;
    let lastAt = Date.now();
    const timer = setInterval(() => {
      const s = storeNode.writer.stats();
      const now = Date.now();
      const rate = Math.round(((s.written - last) * 1000) / (now - lastAt));
      last = s.written;
      lastAt = now;
      const backlog = s.queued + s.spooled;
      // With several sinks and one of them down, each sink is named with how it stands: "main ok · influx 1,204 queued".
      if (s.sinks?.length > 1 && s.sinks.some(down)) {
        const parts = s.sinks.map((k) =>
          down(k)
            ? RED._('upperstack-store.status.sinkQueued', { sink: k.id, backlog: (k.queued + k.spooled).toLocaleString('en-US') })
            : RED._('upperstack-store.status.sinkOk', { sink: k.id }),
        );
        status('failed', parts.join(' · '));
      } else if (down(s)) {
        status('failed', RED._('upperstack-store.status.spooling', { backlog, error: s.lastError ?? '' }));
      } else {
        const letters = s.rejected ? RED._('upperstack-store.status.rejected', { count: String(s.rejected) }) : '';
        status('connected', RED._('upperstack-store.status.rate', { rate, backlog }) + letters);
      }
    }, 1000);
    storeNode.ready.then(
      () => setStatus(node, 'connected', RED._('upperstack-store.status.ready')),
      (err: Error) => setStatus(node, 'failed', err.message),
    );

    onInput(node, (msg, send, done) => {
      const readings = readingsOf(msg);
      if (!readings) {
        return done(new InvalidReadingError('msg.payload must be a Reading {device, ts, fields, tags} or an array of them; put a decode node before the store'));
      }
      applyRegistryTags(readings);
      storeNode.writer.write(
        readings,
        (err) => {
          if (err) return done(err);
          // Terminal for the journal: what comes after the store gets the message without receipts.
          consume(msg);
          send(msg);
          done();
        },
        // In a write now: the input may take the next readings while it commits (nodes/lib/journal/gate.ts).
        () => taken(msg),
      );
    });

    node.on('close', () => clearInterval(timer));
  }

  registerNode(RED, 'upperstack-store', UpperstackStoreNode);
};
