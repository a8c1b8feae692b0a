/** upperstack-decode: bytes in any supported format → Readings (output 1) or a reasoned failure (output 2). */
import type { Node, NodeAPI } from 'node-red';
import { decodeReadings } from '../lib/codec/readings';
import { FORMATS as CODEC_FORMATS, type Format } from '../lib/codec';
import { DepthExceededError, describeError, UpperstackError } from '../lib/errors';
import { resolveLimits } from '../lib/limits';
import { previewJson } from '../lib/preview';
import { rejectedBody, withRejectedBody } from '../lib/deadletter-replay';
import { onInput, type Done, type Send, type UpperstackMessage } from '../shared/input';
import { isWired, routeResult, type Failure } from '../shared/batch';
import { isBatchMessage, type BatchMessage } from '../shared/mqtt-batch';
import { consume, fail, weigh } from '../shared/receipts';
import { deviceAuth, isRegisteredDevice } from '../shared/devices';
import type { DeviceMismatchError } from '../lib/inputs/errors';
import { decodeBatch, impostor } from './batch';
import { decoded, invalid } from '../lib/metrics';
import { migrate, registerNode } from '../shared/config';
import { throttledStatus } from '../shared/status';
import { decodeMigrations, LIMITS_ORIGIN, type DecodeNodeDef, type DecodeOptions } from './options';

const FORMATS = new Set<string>(CODEC_FORMATS);

/**
 * An already parsed payload nested too deeply leaves as bounded JSON text: Node-RED
 * copies messages with a recursive deep clone, which such a value would overflow.
 */
function safePayload(payload: unknown, err: unknown): unknown {
  if (err instanceof DepthExceededError && typeof payload === 'object' && payload !== null && !(payload instanceof Uint8Array)) return previewJson(payload, 4096);
  return payload;
}

/** What of a received message names its sender: an MQTT message's topic, device, address and login, and whether it is sent again. */
interface Sent {
  source?: unknown;
  topic?: unknown;
  device?: unknown;
  remote?: unknown;
  actor?: unknown;
  meta?: unknown;
  replayed?: unknown;
}

/** `dead letter <id>` for a dead-letter replay, `journal` for a message the journal sent again after a restart. */
function replayOf(m: Sent): string | undefined {
  const of = typeof m.meta === 'object' && m.meta !== null ? (m.meta as { replayOf?: unknown }).replayOf : undefined;
  if (typeof of === 'string') return `dead letter ${of.slice(0, 20)}`;
  return m.replayed === true ? 'journal' : undefined;
}

/**
 * An MQTT message naming a registered device other than its topic's goes to the audit log, as the HTTP and
 * CoAP inputs record theirs before they answer. A message sent again (a dead-letter replay, the journal after a
 * restart) is recorded marked as a replay: its first arrival may not have been refused so, or not recorded.
 */
function auditImpostor(m: Sent, err: DeviceMismatchError): void {
  if (typeof m.source !== 'string' || !m.source.startsWith('mqtt:') || typeof m.device !== 'string') return;
  const claimed = typeof err.details.claimed === 'string' ? err.details.claimed : undefined;
  const topic = typeof m.topic === 'string' ? m.topic : m.source.slice('mqtt:'.length);
  deviceAuth().messageNamesOther(typeof m.actor === 'string' ? m.actor : undefined, m.device, claimed, topic, typeof m.remote === 'string' ? hostOf(m.remote) : undefined, replayOf(m));
}

/** `host:port` → host, as the audit log names addresses. */
function hostOf(remote: string): string {
  const cut = remote.lastIndexOf(':');
  return cut > 0 && /^\d+$/.test(remote.slice(cut + 1)) ? remote.slice(0, cut) : remote;
}

export = function register(RED: NodeAPI): void {
  function UpperstackDecodeNode(this: Node, def: DecodeNodeDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const config = migrate<DecodeOptions>(def as unknown as Record<string, unknown>, decodeMigrations);
    const status = throttledStatus(node);
    let ok = 0;
    let failed = 0;
    const invalidTally = invalid.child('decode');

    // Out-of-range settings (the editor flags them) fall back to the defaults rather than stop the node.
    const limits = resolveLimits(
      { maxBytes: config.maxBytes, maxDepth: config.maxDepth, maxFields: config.maxFields, maxStringLength: config.maxStringLength, maxReadings: config.maxReadings },
      (err) => node.warn(RED._('upperstack-decode.errors.limit', { message: err.message })),
    );
    limits.origin = LIMITS_ORIGIN;
    const batchOptions = { format: config.format as Format | 'auto', protoType: config.protoType || undefined, protoDir: config.protoDir || undefined, limits };

    /** A batch from upperstack-mqtt-in: one message of Readings on, each failed MQTT message alone. */
    const onBatch = (msg: BatchMessage, send: Send, done: Done) => {
      const { outs, failures } = decodeBatch(msg, batchOptions, () => RED.util.generateId(), isRegisteredDevice, auditImpostor);
      ok += outs.length;
      failed += failures.length;
      for (const out of outs) decoded.inc((out.payload as unknown[]).length);
      const out = outs.length > 1 ? outs : (outs[0] ?? null);
      invalidTally.inc(failures.length);
      status(failed ? 'warning' : 'connected', () => RED._('upperstack-decode.status.counts', { ok, failed }));
      if (failures.length && !isWired(node as unknown as { wires?: string[][] }, 1)) {
        // Catch nodes see each failed MQTT message on its own; its share of the journal entry is
        // settled here so a Catch → dead-letter path cannot settle it twice.
        for (const f of failures) {
          fail(node, f.msg);
          node.error(f.error, f.msg);
        }
        if (out) send([out, null]);
        return done();
      }
      send([out, failures.length ? failures.map((f) => f.msg) : null]);
      done();
    };

    onInput(node, (msg, send, done) => {
      if (isBatchMessage(msg)) return onBatch(msg, send, done);
      const requested = config.format === 'auto' && typeof msg.format === 'string' && FORMATS.has(msg.format) ? (msg.format as Format) : config.format;
      const copies: UpperstackMessage[] = [];
      const failures: Failure[] = [];
      try {
        const result = decodeReadings(msg.payload, {
          format: requested as Format | 'auto',
          device: typeof msg.device === 'string' ? msg.device : undefined,
          receivedAt: typeof msg.receivedAt === 'number' ? msg.receivedAt : Date.now(),
          protoType: config.protoType || undefined,
          protoDir: config.protoDir || undefined,
          contentType: typeof msg.contentType === 'string' ? msg.contentType : undefined,
          limits,
        });
        // A message of one device's topic (msg.device) may not carry a registered device's readings.
        const refused = impostor(result.readings, typeof msg.device === 'string' ? msg.device : undefined, isRegisteredDevice);
        if (refused) {
          auditImpostor(msg, refused);
          throw refused;
        }
        weigh(msg, result.readings.length);
        if (result.readings.length) {
          const single = !Array.isArray(msg.payload) && result.readings.length === 1 && result.rejected.length === 0;
          copies.push({ ...msg, format: result.format, payload: single ? result.readings[0] : result.readings });
        }
        for (const r of result.rejected) {
          const body = rejectedBody(r.item, { bytes: msg.payload, readings: result.readings.length, rejected: result.rejected.length, format: result.format });
          body.payload = safePayload(body.payload, r.error);
          failures.push({ msg: withRejectedBody({ ...msg, _msgid: RED.util.generateId(), error: { ...r.error.toJSON(), index: r.index } }, body), error: r.error });
        }
      } catch (err) {
        if (!(err instanceof UpperstackError)) throw err;
        failures.push({ msg: { ...msg, payload: safePayload(msg.payload, err), error: describeError(err) }, error: err });
      }
      ok += copies.length;
      failed += failures.length;
      if (copies.length) decoded.inc(Array.isArray(copies[0].payload) ? copies[0].payload.length : 1);
      invalidTally.inc(failures.length);
      status(failed ? 'warning' : 'connected', () => RED._('upperstack-decode.status.counts', { ok, failed }));
      // A payload with no readings at all (e.g. "[]") has nothing to store and nothing wrong with it:
      // its journal entry is done here, or it would be replayed at every start.
      if (!copies.length && !failures.length) consume(msg);
      routeResult(node as unknown as { wires?: string[][] }, msg, send, done, copies[0] ?? null, failures);
    });
  }

  registerNode(RED, 'upperstack-decode', UpperstackDecodeNode);
};
