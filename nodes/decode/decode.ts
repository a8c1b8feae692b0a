/** upperstack-decode: bytes in any supported format → Readings (output 1) or a reasoned failure (output 2). */
import type { Node, NodeAPI } from 'node-red';
import { decodeReadings } from '../lib/codec/readings';
import type { Format } from '../lib/codec';
import { describeError, UpperstackError } from '../lib/errors';
import { onInput, type UpperstackMessage } from '../shared/input';
import { isWired, splitReceipts } from '../shared/batch';
import { settleReceipts } from '../lib/journal/receipts';
import { migrate, registerNode } from '../shared/config';
import { throttledStatus } from '../shared/status';
import { decodeMigrations, type DecodeNodeDef, type DecodeOptions } from './options';

const FORMATS = new Set(['json', 'cbor', 'msgpack', 'protobuf', 'lineprotocol']);

export = function register(RED: NodeAPI): void {
  function UpperstackDecodeNode(this: Node, def: DecodeNodeDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const config = migrate<DecodeOptions>(def as unknown as Record<string, unknown>, decodeMigrations);
    const status = throttledStatus(node);
    let ok = 0;
    let failed = 0;

    onInput(node, (msg, send, done) => {
      const requested = config.format === 'auto' && typeof msg.format === 'string' && FORMATS.has(msg.format) ? (msg.format as Format) : config.format;
      const copies: UpperstackMessage[] = [];
      const failures: UpperstackMessage[] = [];
      try {
        const result = decodeReadings(msg.payload, {
          format: requested as Format | 'auto',
          device: typeof msg.device === 'string' ? msg.device : undefined,
          receivedAt: typeof msg.receivedAt === 'number' ? msg.receivedAt : Date.now(),
          protoType: config.protoType || undefined,
          protoDir: config.protoDir || undefined,
          maxBytes: config.maxBytes,
        });
        if (result.readings.length) {
          const single = !Array.isArray(msg.payload) && result.readings.length === 1 && result.rejected.length === 0;
          copies.push({ ...msg, format: result.format, payload: single ? result.readings[0] : result.readings });
        }
        for (const r of result.rejected) {
          failures.push({ ...msg, _msgid: RED.util.generateId(), payload: r.item, error: { ...r.error.toJSON(), index: r.index } });
        }
      } catch (err) {
        if (!(err instanceof UpperstackError)) throw err;
        failures.push({ ...msg, error: describeError(err) });
      }
      ok += copies.length;
      failed += failures.length;
      status(failed ? 'warning' : 'connected', () => RED._('upperstack-decode.status.counts', { ok, failed }));
      if (failures.length && !isWired(node as unknown as { wires?: string[][] }, 1)) {
        // Nowhere to route failures: they go to Catch nodes and the log, which records them,
        // so their journal entries settle rather than replay at every restart.
        splitReceipts(msg, copies.length + 1);
        settleReceipts(msg.upperstack?.receipts);
        if (copies.length) send([copies[0], null]);
        return done(new Error((failures[0].error as { message: string }).message));
      }
      splitReceipts(msg, copies.length + failures.length);
      send([copies[0] ?? null, failures.length ? failures : null]);
      done();
    });
  }

  registerNode(RED, 'upperstack-decode', UpperstackDecodeNode);
};
