/**
 * Node-RED glue for an input node on the shared intake (nodes/lib/ingest):
 * the journal in the data folder, status (rate, backlog, pause), replay of what
 * the last run left unsettled once the flows have started, and the messages it
 * sends: one batch message per turn towards decode nodes, else one message per
 * received message; a message the input cannot name a device for goes to
 * output 2.
 *
 * The MQTT input creates one with openInputIntake(), feeds it with
 * intake.receive() or intake.submit(), and on close stops its transport
 * first, then calls close(). The request inputs (HTTP, CoAP) answer from the
 * outcome themselves: they start a bare intake (startIntake(), intake-start.ts,
 * which all three share) and send through request-emit.ts. Status, log and error texts come from the node's
 * own catalogue: `<type>.status.rate|paused|full`, `<type>.log.replay`,
 * `<type>.errors.rejected|unreadable`.
 */
import type { Node, NodeAPI } from 'node-red';
import type { Intake, IntakeItem, SubmitResult } from '../lib/ingest/intake';
import { BATCH_CHUNK, batchBody, singleBody, type Described } from '../lib/ingest/batch';
import type { Received } from '../lib/ingest/record';
import { describeError, UpperstackError } from '../lib/errors';
import { setStatus, throttledStatus, type StatusState } from './status';
import { startIntake } from './intake-start';
import { isWired } from './batch';
import { consume } from './receipts';
import { installSettlement } from './settlement';
import type { UpperstackMessage } from './input';

/** Node types that read the batch shape (nodes/lib/ingest/batch.ts). */
export const BATCH_READERS = new Set(['upperstack-decode']);

export interface InputIntakeOptions {
  budgetBytes: number;
  highWater: number;
  lowWater: number;
  /** Unsettled readings at which the input pauses (resumes at half); absent: the intake's default. */
  highWaterReadings?: number;
  /** Send the messages of one turn as one batch message (only towards BATCH_READERS). */
  coalesce: boolean;
  /** What a batch as a whole came in on (the topic filter, the route). */
  batchTopic: string;
  /**
   * Device and format of a journaled message; throws (an UpperstackError) for
   * one that cannot go on, which then leaves on output 2 with msg.error.
   */
  describe(rec: Received): Described;
}

export interface InputIntake {
  readonly intake: Intake;
  /** The rate and backlog replace the status only while the transport is healthy. */
  setHealthy(healthy: boolean): void;
  receive: Intake['receive'];
  submit(recs: readonly Received[]): Promise<SubmitResult>;
  /** Journals and acknowledges what is pending and closes the journal; stop the transport first. */
  close(): void;
}

/** Opens the node's intake; on failure sets a red status, logs and returns undefined. */
export function openInputIntake(RED: NodeAPI, node: Node, opts: InputIntakeOptions): InputIntake | undefined {
  // Receipts from this input are shared out among the destinations of each send (fan-out).
  installSettlement(RED);
  const type = node.type;
  const wires = (node as unknown as { wires?: string[][] }).wires;
  const status = throttledStatus(node);
  const t = (key: string, vars?: Record<string, string | number>) => RED._(`${type}.${key}`, vars);
  let healthy = false;
  let journalFailed = false;

  // Decided on first use: by then every node of the flow exists.
  let batching: boolean | undefined;
  const batchable = () => {
    if (batching === undefined) {
      const targets = wires?.[0] ?? [];
      batching = opts.coalesce && targets.length > 0 && targets.every((id) => BATCH_READERS.has((RED.nodes.getNode(id) as Node | null)?.type ?? ''));
    }
    return batching;
  };

  const newId = () => RED.util.generateId();
  const single = (item: IntakeItem, d: Described): UpperstackMessage => {
    const msg = singleBody(node.id, item, d) as unknown as UpperstackMessage;
    msg._msgid = newId();
    return msg;
  };

  const rejected = (item: IntakeItem, err: unknown) => {
    // A refusal that knows the device (a content type no decoder reads) is listed under it, not as "unknown".
    const device = err instanceof UpperstackError && typeof err.details.device === 'string' ? err.details.device : undefined;
    const msg = single(item, device !== undefined ? { device } : {});
    msg.error = describeError(err);
    if (isWired(node as unknown as { wires?: string[][] }, 1)) return node.send([null, msg]);
    // Nowhere to route it (a warning reaches no Catch node): the log records it, and the entry must not replay forever.
    consume(msg);
    node.warn(t('errors.rejected', { topic: String(msg.topic), message: describeError(err).message }));
  };

  const emit = (items: IntakeItem[], replayed: boolean) => {
    // Two arrays side by side (no pair object per message); `good` is `items` itself when none is rejected.
    const described = new Array<Described>(items.length);
    let good = items;
    for (let i = 0; i < items.length; i++) {
      try {
        described[i] = opts.describe(items[i].rec);
        // Told downstream (the decode node's audit entries), as the sender's login is not journaled.
        if (replayed) described[i] = { ...described[i], replayed: true };
      } catch (err) {
        rejected(items[i], err);
        if (good === items) good = items.slice(0, i);
        continue;
      }
      if (good !== items) {
        described[good.length] = described[i];
        good.push(items[i]);
      }
    }
    const n = good.length;
    if (n === 0) return;
    if (n === 1 || !batchable()) {
      const msgs = new Array<UpperstackMessage>(n);
      for (let i = 0; i < n; i++) msgs[i] = single(good[i], described[i]);
      node.send([msgs, null]);
      return;
    }
    for (let i = 0; i < n; i += BATCH_CHUNK) {
      const count = Math.min(BATCH_CHUNK, n - i);
      if (count === 1) node.send([single(good[i], described[i]), null]);
      else {
        const msg = batchBody(node.id, good, described, i, count, opts.batchTopic) as unknown as UpperstackMessage;
        msg._msgid = newId();
        node.send([msg, null]);
      }
    }
  };

  const started = startIntake(RED, node, {
    name: (node as Node & { name?: string }).name || `${type} ${node.id}`,
    budgetBytes: opts.budgetBytes,
    highWater: opts.highWater,
    lowWater: opts.lowWater,
    highWaterReadings: opts.highWaterReadings,
    emit,
    unreadable: (seq, _data, err) => {
      node.warn(t('errors.unreadable', { seq, message: err.message }));
      consume({ _msgid: '', upperstack: { receipts: [{ j: node.id, s: seq }] } } as UpperstackMessage);
    },
    onPause: (paused) => {
      if (paused && healthy) showPaused();
    },
    onWriteError: (err) => {
      // Nothing of the turn is acknowledged; the transport drops or closes the connection, so the sender resends.
      journalFailed = true;
      setStatus(node, 'failed', err.message);
      node.error(err.message);
    },
    onRecovered: () => {
      journalFailed = false;
    },
    onEmitError: (err) => node.error(describeError(err).message),
  });
  if (!started) return undefined;
  const intake = started.intake;

  const showPaused = () => {
    const s = intake.stats();
    if (s.pauseReason === 'disk') status('warning', () => t('status.full', { bytes: mib(s.bytes), budget: mib(s.budgetBytes) }));
    // Messages holding several readings each: the readings mark is the one that paused it.
    else if (opts.highWaterReadings && s.pendingReadings > s.pending && !(opts.highWater > 0 && s.pending >= opts.highWater)) status('warning', () => t('status.pausedReadings', { readings: s.pendingReadings, high: opts.highWaterReadings ?? 0 }));
    else status('warning', () => t('status.paused', { pending: s.pending, high: opts.highWater }));
  };

  let lastCount = 0;
  const rateTimer = setInterval(() => {
    if (!healthy || journalFailed) return;
    const s = intake.stats();
    const rate = s.received - lastCount;
    lastCount = s.received;
    if (s.paused) showPaused();
    else status('connected', t('status.rate', { rate, pending: s.pending }));
  }, 1000);

  return {
    intake,
    setHealthy: (h) => {
      healthy = h;
    },
    receive: intake.receive.bind(intake),
    submit: (recs) => intake.submit(recs),
    close: () => {
      clearInterval(rateTimer);
      started.close();
    },
  };
}

function mib(n: number): string {
  return (n / (1024 * 1024)).toFixed(n < 10 * 1024 * 1024 ? 1 : 0);
}

export type { StatusState };
