/**
 * upperstack-mqtt-in: receives device messages from the embedded broker (in
 * process) or an external one, journals each before it is acknowledged, and
 * replays what the last run left unsettled.
 *
 * Messages of one event-loop turn are journaled with one write and, when output
 * 1 leads only to decode nodes, leave as one batch message. Acknowledgements
 * wait while the journal's unsettled backlog is above the high-water mark.
 */
import { join } from 'node:path';
import type { Node, NodeAPI } from 'node-red';
import { Journal } from '../lib/journal/journal';
import { AckGate } from '../lib/journal/gate';
import { registerJournal, settleReceipts, unregisterJournal, type Receipt } from '../lib/journal/receipts';
import { decodeRecord, RECORD_ENCODER, type ReceivedMessage } from '../lib/mqtt/record';
import { parseTopicTemplate, type TopicTemplate } from '../lib/mqtt/topic';
import { describeError } from '../lib/errors';
import { nodeTallies, received as receivedTotal } from '../lib/metrics';
import { formatFromContentType } from '../lib/codec';
import { setStatus, throttledStatus } from '../shared/status';
import { onClose, type UpperstackMessage } from '../shared/input';
import { migrate, registerNode } from '../shared/config';
import { dataDir, whenBroker, type EmbeddedBroker } from '../shared/runtime';
import { isWired } from '../shared/batch';
import type { BatchItem, BatchMessage } from '../shared/mqtt-batch';
import { mqttInMigrations, type MqttInNodeDef, type MqttInOptions } from './options';
import type { MqttConnectionNode } from '../mqtt-connection/options';

/** Node types that take a batch message from this node. */
const BATCH_READERS = new Set(['upperstack-decode']);
const REPLAY_CHUNK = 1000;
/**
 * Most MQTT messages in one batch message. A message settles only when all of it
 * is stored, so a turn's messages leave in parts: the first parts are stored (and
 * the backlog falls below the resume mark) while later parts are still on their way.
 */
const BATCH_CHUNK = 500;

interface Accepted {
  m: ReceivedMessage;
  seq: number;
}

export = function register(RED: NodeAPI): void {
  function UpperstackMqttInNode(this: Node, def: MqttInNodeDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const config = migrate<MqttInOptions>(def as unknown as Record<string, unknown>, mqttInMigrations);
    const wires = (node as unknown as { wires?: string[][] }).wires;
    let template: TopicTemplate;
    try {
      template = parseTopicTemplate(config.topic);
    } catch (err) {
      setStatus(node, 'failed', describeError(err).message);
      node.error(RED._('upperstack-mqtt-in.errors.topic', { message: describeError(err).message }));
      return;
    }
    const journal = new Journal({ dir: join(dataDir(RED), 'journal', node.id) });
    let replay: ReturnType<Journal['open']>;
    try {
      replay = journal.open();
    } catch (err) {
      setStatus(node, 'failed', describeError(err).message);
      node.error(describeError(err).message);
      return;
    }
    registerJournal(node.id, journal);
    const status = throttledStatus(node);
    const gate = new AckGate(journal, {
      highWater: config.highWater,
      lowWater: config.lowWater,
      onChange: (paused) => {
        if (paused && healthy) status('warning', () => RED._('upperstack-mqtt-in.status.paused', { pending: journal.backlog(), high: config.highWater }));
      },
    });
    let received = 0;
    const receivedTally = receivedTotal.child('mqtt');
    const tallies = nodeTallies(node as Node & { name?: string });
    let lastCount = 0;
    // The rate replaces the status only while the input is healthy, so failures stay visible.
    let healthy = false;
    const rateTimer = setInterval(() => {
      if (!healthy) return;
      const rate = received - lastCount;
      lastCount = received;
      const pending = journal.backlog();
      if (gate.isPaused()) status('warning', RED._('upperstack-mqtt-in.status.paused', { pending, high: config.highWater }));
      else status('connected', RED._('upperstack-mqtt-in.status.rate', { rate, pending }));
    }, 1000);

    // Decided on first use: by then every node of the flow exists.
    let batching: boolean | undefined;
    const batchable = () => {
      if (batching === undefined) {
        const targets = wires?.[0] ?? [];
        batching = config.coalesce && targets.length > 0 && targets.every((id) => BATCH_READERS.has((RED.nodes.getNode(id) as Node | null)?.type ?? ''));
      }
      return batching;
    };

    const formatOf = (m: ReceivedMessage) => (config.format !== 'auto' ? config.format : m.contentType ? formatFromContentType(m.contentType) : undefined);

    const single = (m: ReceivedMessage, device: string | undefined, seq: number): UpperstackMessage => {
      const msg: UpperstackMessage = {
        _msgid: RED.util.generateId(),
        topic: m.topic,
        payload: m.payload,
        qos: m.qos,
        receivedAt: m.receivedAt,
        upperstack: { receipts: [{ j: node.id, s: seq }] },
      };
      const fixed = formatOf(m);
      if (fixed) msg.format = fixed;
      if (m.contentType) msg.contentType = m.contentType;
      if (device !== undefined) msg.device = device;
      return msg;
    };

    const rejected = (a: Accepted, err: unknown) => {
      const msg = single(a.m, undefined, a.seq);
      msg.error = describeError(err);
      if (isWired(node as unknown as { wires?: string[][] }, 1)) return node.send([null, msg]);
      // Nowhere to route it: the log records it, and the entry must not replay forever.
      settleReceipts([{ j: node.id, s: a.seq }]);
      node.warn(RED._('upperstack-mqtt-in.errors.rejected', { topic: a.m.topic, message: describeError(err).message }));
    };

    /** Sends journaled messages into the flow: one batch message, or one message each. */
    const emit = (group: readonly Accepted[]) => {
      const good: Array<{ a: Accepted; device: string | undefined }> = [];
      for (const a of group) {
        try {
          good.push({ a, device: template.deviceOf(a.m.topic) });
        } catch (err) {
          rejected(a, err);
        }
      }
      if (good.length === 0) return;
      for (let i = 0; i < good.length; i += BATCH_CHUNK) sendGood(good.length > BATCH_CHUNK ? good.slice(i, i + BATCH_CHUNK) : good);
    };

    const sendGood = (good: Array<{ a: Accepted; device: string | undefined }>) => {
      if (good.length === 1 || !batchable()) {
        node.send([good.map(({ a, device }) => single(a.m, device, a.seq)), null]);
        return;
      }
      const payload: Buffer[] = new Array(good.length);
      const batch: BatchItem[] = new Array(good.length);
      const receipts: Receipt[] = new Array(good.length);
      let device: string | undefined = good[0].device;
      for (let i = 0; i < good.length; i++) {
        const { a, device: d } = good[i];
        payload[i] = a.m.payload;
        const item: BatchItem = { topic: a.m.topic, device: d, qos: a.m.qos, receivedAt: a.m.receivedAt };
        const fixed = formatOf(a.m);
        if (fixed) item.format = fixed;
        if (a.m.contentType) item.contentType = a.m.contentType;
        batch[i] = item;
        receipts[i] = { j: node.id, s: a.seq };
        if (d !== device) device = undefined;
      }
      const msg: BatchMessage = {
        _msgid: RED.util.generateId(),
        topic: template.filter,
        payload,
        batch,
        qos: config.qos,
        receivedAt: good[0].a.m.receivedAt,
        upperstack: { receipts },
      };
      if (device !== undefined) msg.device = device;
      node.send([msg, null]);
    };

    // Collected during one event-loop turn, handled together at its end (setImmediate runs after
    // every socket read of the turn, so all clients' messages of the turn form one group).
    let toJournal: ReceivedMessage[] = [];
    let toAck: Array<() => void> = [];
    let journaled: Accepted[] = [];
    let scheduled = false;
    let closed = false;
    const schedule = () => {
      if (scheduled) return;
      scheduled = true;
      setImmediate(flush);
    };

    /** Journals the turn's messages with one write, then acknowledges them (through the gate) and emits. */
    function flush() {
      scheduled = false;
      if (closed) return;
      const ms = toJournal;
      const acks = toAck;
      const group = journaled;
      toJournal = [];
      toAck = [];
      journaled = [];
      if (ms.length) {
        let first: number;
        try {
          first = journal.appendGroup(ms, RECORD_ENCODER);
        } catch (err) {
          // Not acknowledging makes the broker redeliver once the disk recovers.
          healthy = false;
          setStatus(node, 'failed', describeError(err).message);
          node.error(describeError(err).message);
          if (group.length) emit(group);
          return;
        }
        for (const ack of acks) gate.admit(ack);
        for (let i = 0; i < ms.length; i++) group.push({ m: ms[i], seq: first + i });
      }
      received += group.length;
      receivedTally.inc(group.length);
      tallies.messages.inc(group.length);
      if (group.length) emit(group);
    }

    let unsubscribe: (() => void) | undefined;
    let stopWaiting: (() => void) | undefined;
    if (config.source === 'external') {
      const conn = RED.nodes.getNode(config.connection) as MqttConnectionNode | null;
      if (!conn) {
        setStatus(node, 'failed', RED._('upperstack-mqtt-in.errors.noConnection'));
        node.error(RED._('upperstack-mqtt-in.errors.noConnection'));
      } else {
        const filter = config.group ? `$share/${config.group}/${template.filter}` : template.filter;
        unsubscribe = conn.register(node, {
          filter,
          qos: config.qos,
          journal,
          accept: (m, seq) => {
            journaled.push({ m, seq });
            schedule();
          },
          admit: (ack) => gate.admit(ack),
          status: (state, text) => {
            healthy = state === 'connected';
            setStatus(node, state, text);
          },
        });
      }
    } else {
      setStatus(node, 'connecting', RED._('upperstack-mqtt-in.status.waiting'));
      const attach = (broker: EmbeddedBroker) => {
        unsubscribe = broker.subscribe(template.filter, (p, ack) => {
          toJournal.push({ topic: p.topic, payload: p.payload, qos: p.qos, contentType: p.contentType, receivedAt: Date.now() });
          toAck.push(ack);
          schedule();
        });
        setStatus(node, 'connected', RED._('upperstack-mqtt-in.status.subscribed', { topic: template.filter }));
        healthy = true;
      };
      stopWaiting = whenBroker(config.broker, attach);
    }

    // Downstream nodes must exist before the replay is sent. What a crash left unsettled is
    // bounded by the high-water mark, so it is sent at once, in batch-sized groups.
    let replayed = false;
    const doReplay = () => {
      if (replayed) return;
      replayed = true;
      if (replay.length) node.log(RED._('upperstack-mqtt-in.log.replay', { count: replay.length }));
      for (let i = 0; i < replay.length; i += REPLAY_CHUNK) {
        emit(replay.slice(i, i + REPLAY_CHUNK).map((e) => ({ m: decodeRecord(e.data), seq: e.seq })));
      }
      replay = [];
    };
    const onStarted = () => doReplay();
    RED.events.once('flows:started', onStarted);
    const replayTimer = setTimeout(doReplay, 1000);

    onClose(node, () => {
      closed = true;
      // Messages not journaled yet are journaled and acknowledged now; the next start replays them.
      if (toJournal.length) {
        try {
          journal.appendGroup(toJournal, RECORD_ENCODER);
          for (const ack of toAck) ack();
        } catch (err) {
          node.warn(describeError(err).message);
        }
      }
      clearInterval(rateTimer);
      tallies.forget();
      clearTimeout(replayTimer);
      RED.events.removeListener('flows:started', onStarted);
      stopWaiting?.();
      unsubscribe?.();
      gate.close();
      unregisterJournal(node.id, journal);
      journal.close();
    });
  }

  registerNode(RED, 'upperstack-mqtt-in', UpperstackMqttInNode);
};
