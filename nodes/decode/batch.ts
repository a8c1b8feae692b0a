/**
 * Decoding a batch message of upperstack-mqtt-in: every MQTT message in it is
 * decoded on its own, the Readings of all leave together as one message, and
 * each message that fails leaves alone with its own topic, device, reason and
 * journal receipt.
 *
 * The readings limit is per device message, and the messages of one turn may
 * hold more together (two publishes of 6,000 under a limit of 10,000): those
 * leave as several messages of whole device messages, each within the limit,
 * so the validate node after decode, which checks its limit per message, never
 * refuses readings the decode passed.
 *
 * A payload's device wins over the topic's (a gateway publishes for the devices
 * behind it), except a registered device: only that device may send its
 * readings, so a message naming one under another device's topic is refused
 * whole (DEVICE_MISMATCH), as the HTTP and CoAP inputs refuse it.
 */
import { decodeReadings, type DecodeReadingsOptions } from '../lib/codec/readings';
import { FORMATS as CODEC_FORMATS, type Format } from '../lib/codec';
import { describeError, UpperstackError } from '../lib/errors';
import { DeviceMismatchError } from '../lib/inputs/errors';
import { DEFAULT_LIMITS } from '../lib/limits';
import { rejectedBody, withRejectedBody, type RejectedBody } from '../lib/deadletter-replay';
import { consumeReceipts, decodedReceipts, splitReceipts, weighReceipt, type Receipt } from '../lib/ingest/receipts';
import type { Reading } from '../lib/reading';
import type { Failure } from '../shared/batch';
import type { UpperstackMessage } from '../shared/input';
import type { BatchMessage } from '../shared/mqtt-batch';
import type { BatchItem } from '../lib/ingest/batch';

const FORMATS = new Set<string>(CODEC_FORMATS);

export interface BatchResult {
  /** The readings: one message, or several when together they pass the readings limit. */
  outs: UpperstackMessage[];
  failures: Failure[];
}

/** Devices whose readings only they may send (nodes/shared/devices.ts isRegisteredDevice). */
export type Registered = (device: string) => boolean;

/** The first reading naming a registered device other than the topic's, as the refusal of the whole message. */
export function impostor(readings: readonly Reading[], topicDevice: string | undefined, registered: Registered): DeviceMismatchError | undefined {
  if (topicDevice === undefined) return undefined;
  let checked: string | undefined;
  for (let i = 0; i < readings.length; i++) {
    const d = readings[i].device;
    if (d === topicDevice || d === checked) continue;
    if (registered(d)) {
      // Said as it happened: a registered topic device is the sender (only its login may publish there), else the
      // sender is anonymous or shares a login and the payload names another's readings.
      const named = d.slice(0, 60);
      const why = registered(topicDevice)
        ? `device "${topicDevice}" may send only its own readings, not those of device "${named}"`
        : `"${named}" is a registered device: only it may send its readings, under its own topic`;
      return new DeviceMismatchError(`the payload names device "${named}" but the topic names "${topicDevice}": ${why}`, {
        path: readings.length > 1 ? `[${i}].device` : 'device',
        claimed: d,
      });
    }
    checked = d;
  }
  return undefined;
}

/** Told of each message refused as an impostor's (for the audit log). */
export type OnImpostor = (item: BatchItem, err: DeviceMismatchError) => void;

export function decodeBatch(msg: BatchMessage, opts: Omit<DecodeReadingsOptions, 'device' | 'receivedAt'>, newId: () => string, registered: Registered = () => false, onImpostor?: OnImpostor): BatchResult {
  const { batch, payload, upperstack, ...common } = msg;
  const max = opts.limits?.maxReadings ?? DEFAULT_LIMITS.maxReadings;
  const outs: UpperstackMessage[] = [];
  let readings: Reading[] = [];
  let good: Receipt[] = [];
  const failures: Failure[] = [];
  const empty: Receipt[] = [];
  let total = 0;
  let format: string | undefined;
  let mixed = false;
  const flush = () => {
    const out: UpperstackMessage = { ...common, payload: readings, upperstack: { receipts: good } };
    if (outs.length) out._msgid = newId();
    if (format !== undefined && !mixed) out.format = format;
    else delete out.format;
    outs.push(out);
    readings = [];
    good = [];
    format = undefined;
    mixed = false;
  };
  // One options object for all items: decodeReadings reads it synchronously.
  const itemOpts: DecodeReadingsOptions = { ...opts, device: undefined, receivedAt: 0 };
  const failed = (i: number, error: UpperstackError, body: RejectedBody, extra?: object) => {
    const item = batch[i];
    failures.push({
      error,
      msg: withRejectedBody({
        ...common,
        _msgid: newId(),
        topic: item.topic,
        // Where it came from and how, for the dead letter (and its replay).
        source: item.source,
        contentType: item.contentType,
        format: item.format,
        meta: item.meta,
        device: item.device,
        qos: item.qos,
        receivedAt: item.receivedAt,
        error: { ...describeError(error), ...extra },
        upperstack: { receipts: [upperstack.receipts[i]] },
      }, body),
    });
  };
  for (let i = 0; i < batch.length; i++) {
    const item = batch[i];
    const receipt = upperstack.receipts[i];
    itemOpts.format = opts.format === 'auto' && item.format && FORMATS.has(item.format) ? (item.format as Format) : opts.format;
    itemOpts.device = item.device;
    itemOpts.contentType = item.contentType;
    itemOpts.receivedAt = item.receivedAt;
    let shares = 0;
    try {
      const result = decodeReadings(payload[i], itemOpts);
      const rs = result.readings;
      const refused = impostor(rs, item.device, registered);
      if (refused) {
        onImpostor?.(item, refused);
        throw refused;
      }
      if (rs.length) {
        if (readings.length && readings.length + rs.length > max) flush();
        for (let k = 0; k < rs.length; k++) readings.push(rs[k]);
        total += rs.length;
        // The input's backpressure counts the readings in flight, not the messages.
        if (rs.length > 1) weighReceipt(receipt, rs.length);
        good.push(receipt);
        shares++;
        if (format === undefined) format = result.format;
        else if (format !== result.format) mixed = true;
      }
      for (const r of result.rejected) {
        failed(i, r.error, rejectedBody(r.item, { bytes: payload[i], readings: rs.length, rejected: result.rejected.length, format: result.format }), { index: r.index });
        shares++;
      }
    } catch (err) {
      if (!(err instanceof UpperstackError)) throw err;
      failed(i, err, { payload: payload[i] });
      shares++;
    }
    if (shares > 1) splitReceipts([receipt], shares);
    else if (shares === 0) empty.push(receipt);
  }
  decodedReceipts(upperstack.receipts, total);
  // A message with no readings at all (e.g. "[]") has nothing to store and nothing wrong with it.
  consumeReceipts(empty);
  if (readings.length) flush();
  return { outs, failures };
}
