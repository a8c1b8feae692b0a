/**
 * What the request inputs (HTTP, CoAP) send once their intake has journaled a
 * run of requests: the readings of every request in one message on output 1
 * (batches are never split per reading) and one message per rejected item on
 * output 2, each carrying its share of the request's journal receipt. Should
 * the requests of a run hold more readings together than one message may
 * (the readings limit, which each request kept on its own), they leave as
 * several messages of whole requests, so a validate node wired after the
 * input passes what the input accepted. These inputs decode and validate
 * requests themselves, so they count for /metrics what decode and validate
 * nodes count for MQTT (readings decoded, invalid by stage), once per run,
 * for every journaled request sent on (replays too, as a decode node counts
 * them).
 */
import type { Node } from 'node-red';
import type { IntakeItem } from '../lib/ingest/intake';
import type { Received } from '../lib/ingest/record';
import { consumeReceipts, splitReceipts, weighReceipt, type Receipt } from '../lib/ingest/receipts';
import { outcomeWeight, type InputOutcome } from '../lib/inputs/request';
import { describeError } from '../lib/errors';
import { formatFromContentType } from '../lib/codec';
import { DEFAULT_LIMITS } from '../lib/limits';
import { withRejectedBody } from '../lib/deadletter-replay';
import { decoded, invalid } from '../lib/metrics/pipeline';
import type { Reading } from '../lib/reading';
import { isWired } from './batch';
import type { UpperstackMessage } from './input';

/** Most journaled requests whose readings leave in one message. */
const EMIT_CHUNK = 500;

/** Where an input keeps the outcome of a request it answered until the journaled request is sent. */
export interface OutcomeKeeper {
  get(rec: Received): InputOutcome | undefined;
  delete(rec: Received): unknown;
}

export interface RequestEmitOptions {
  node: Node;
  /** The node's wires: rejected items go to output 2 only when it is wired. */
  wires: string[][] | undefined;
  /** `topic` of the readings message (`http`, `coap`). */
  topic: string;
  /** Outcomes worked out when the request was answered, dropped once sent (a WeakMap, or the record itself). */
  outcomes: OutcomeKeeper;
  /** Decodes a journaled request again (after a restart, or when no outcome is kept). */
  decode: (rec: Received) => InputOutcome;
  newId: () => string;
}

export function requestEmitter(o: RequestEmitOptions): (items: IntakeItem[], replayed: boolean) => void {
  const { node, outcomes } = o;
  const prefixLength = o.topic.length + 1;
  const invalidDecode = invalid.child('decode');
  const invalidValidate = invalid.child('validate');
  const emitPart = (items: IntakeItem[], replayed: boolean): void => {
    let readings: Reading[] = [];
    let receipts: Receipt[] = [];
    let first: IntakeItem | undefined;
    const outs: UpperstackMessage[] = [];
    const failed: UpperstackMessage[] = [];
    let device: string | undefined;
    let sameDevice = true;
    let sent = 0;
    const flush = () => {
      const out: UpperstackMessage = { _msgid: o.newId(), topic: o.topic, payload: readings.length === 1 ? readings[0] : readings, receivedAt: first!.rec.receivedAt, upperstack: { receipts } };
      if (sameDevice && device !== undefined) out.device = device;
      outs.push(out);
      readings = [];
      receipts = [];
      first = undefined;
      device = undefined;
      sameDevice = true;
    };
    let schemaRefused = 0;
    let failures = 0;
    for (const item of items) {
      const rec = item.rec;
      const own = replayed ? undefined : outcomes.get(rec);
      const outcome = own ?? o.decode(rec);
      schemaRefused += outcome.schemaRefused ?? 0;
      failures += outcome.failures.length;
      const receipt: Receipt = { j: node.id, s: item.seq };
      // The input weighed a request it answered when it was journaled; one replayed or sent back in is weighed now.
      if (own) outcomes.delete(rec);
      else weighReceipt(receipt, outcomeWeight(outcome));
      const shares = (outcome.readings.length ? 1 : 0) + outcome.failures.length;
      if (shares === 0) {
        consumeReceipts([receipt]);
        continue;
      }
      splitReceipts([receipt], shares);
      if (outcome.readings.length) {
        if (readings.length && readings.length + outcome.readings.length > DEFAULT_LIMITS.maxReadings) flush();
        first ??= item;
        sent += outcome.readings.length;
        for (const r of outcome.readings) {
          readings.push(r);
          if (device === undefined) device = r.device;
          else if (r.device !== device) sameDevice = false;
        }
        receipts.push(receipt);
      }
      for (const f of outcome.failures) {
        const error: Record<string, unknown> = { ...describeError(f.error) };
        if (f.index !== undefined) error.index = f.index;
        if (f.line !== undefined) error.line = f.line;
        const came: UpperstackMessage = { _msgid: o.newId(), topic: rec.source.slice(prefixLength), source: rec.source, receivedAt: rec.receivedAt, error, upperstack: { receipts: [receipt] } };
        // How it came, so a dead letter of it can be replayed through this input; an item written anew says how.
        if (rec.contentType) {
          came.contentType = rec.contentType;
          // As an MQTT 5 letter: the format the sender named, so the letter says what its bytes were meant to be.
          const format = formatFromContentType(rec.contentType);
          if (format) came.format = format;
        }
        if (rec.meta) came.meta = { ...rec.meta };
        const msg = withRejectedBody(came, f);
        const d = f.device ?? rec.device;
        if (d !== undefined) msg.device = d;
        failed.push(msg);
      }
    }
    if (readings.length) flush();
    // Decoded: the readings sent on and the ones the schema refused, as a decode node before validate sees them.
    decoded.inc(sent + schemaRefused);
    invalidDecode.inc(failures - schemaRefused);
    invalidValidate.inc(schemaRefused);
    const out = outs.length > 1 ? outs : (outs[0] ?? null);
    if (failed.length && !isWired({ wires: o.wires }, 1)) {
      // Nowhere to route them: the log and Catch nodes see them, and they must not replay forever.
      for (const m of failed) {
        consumeReceipts(m.upperstack?.receipts);
        delete m.upperstack;
        node.error(String((m.error as { message?: string }).message), m);
      }
      if (out) node.send([out, null]);
      return;
    }
    node.send([out, failed.length ? failed : null]);
  };
  return (items, replayed) => {
    for (let i = 0; i < items.length; i += EMIT_CHUNK) emitPart(items.length > EMIT_CHUNK ? items.slice(i, i + EMIT_CHUNK) : items, replayed);
  };
}
