/**
 * upperstack-store-config: owns the store connection and its durable writer
 * (batching, spool on outage). Store, dead-letter, query and API nodes share it.
 */
import { join } from 'node:path';
import type { NodeAPI } from 'node-red';
import { DuckDbStore } from '../lib/store/duckdb';
import { DurableWriter } from '../lib/store/writer';
import { writerEventText } from './events';
import { Journal } from '../lib/journal/journal';
import { describeError } from '../lib/errors';
import { onClose } from '../shared/input';
import { migrate, registerNode } from '../shared/config';
import { dataDir, registerHealth } from '../shared/runtime';
import { registerSink } from '../lib/metrics';
import { DEFAULT_MEMORY_LIMIT_MB, storeConfigMigrations, type StoreConfigNode, type StoreConfigNodeDef, type StoreConfigOptions } from './options';

export = function register(RED: NodeAPI): void {
  function UpperstackStoreConfigNode(this: StoreConfigNode, def: StoreConfigNodeDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const config = migrate<StoreConfigOptions>(def as unknown as Record<string, unknown>, storeConfigMigrations);
    const path = config.path || join(dataDir(RED), 'upperstack.duckdb');
    node.label = `duckdb:${path}`;
    let memoryLimitMb = config.memoryLimit;
    if (!Number.isInteger(memoryLimitMb) || memoryLimitMb < 0) {
      node.warn(RED._('upperstack-store-config.errors.memoryLimit'));
      memoryLimitMb = DEFAULT_MEMORY_LIMIT_MB;
    }
    node.store = new DuckDbStore({ path, memoryLimitMb });
    node.writer = new DurableWriter(node.store, new Journal({ dir: join(dataDir(RED), 'spool', node.id) }), {
      batchSize: config.batchSize,
      flushMs: config.flushMs,
      // Each change is logged once: an outage when it starts and when it ends, refused readings as they happen.
      onEvent: (e) => node.warn(writerEventText(RED, e)),
    });
    node.ready = node.store.open().then(
      () => node.writer.start(),
      (err: unknown) => {
        // The writer still starts: readings spool until the store can be opened.
        node.error(RED._('upperstack-store-config.errors.open', { path, message: describeError(err).message }));
        node.writer.start();
        throw err;
      },
    );
    node.ready.catch(() => undefined);
    const stopHealth = registerHealth(`store:${config.name || node.id}`, async () => {
      const h = await node.store.health();
      const s = node.writer.stats();
      const backlog = s.queued + s.spooled;
      return { ok: h.ok, detail: `${h.detail}; backlog ${backlog}${s.lastError ? `; last error: ${s.lastError}` : ''}` };
    });

    const stopMetrics = registerSink(node.id, { name: config.name || node.id, kind: 'duckdb', stats: () => node.writer.stats() });

    onClose(node, async () => {
      stopHealth();
      stopMetrics();
      await node.writer.close();
      await node.store.close();
    });
  }

  registerNode(RED, 'upperstack-store-config', UpperstackStoreConfigNode);
};
