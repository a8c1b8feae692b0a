/**
 * upperstack-mqtt-in: receives device messages from the embedded broker (in
 * process) or an external one, journals each before it is acknowledged, and
 * replays what the last run left unsettled.
 */
import { join } from 'node:path';
import type { Node, NodeAPI } from 'node-red';
import { Journal } from '../lib/journal/journal';
import { registerJournal, unregisterJournal } from '../lib/journal/receipts';
import { decodeRecord, encodeRecord, type ReceivedMessage } from '../lib/mqtt/record';
import { parseTopicTemplate, type TopicTemplate } from '../lib/mqtt/topic';
import { describeError } from '../lib/errors';
import { formatFromContentType } from '../lib/codec';
import { setStatus, throttledStatus } from '../shared/status';
import { onClose, type UpperstackMessage } from '../shared/input';
import { migrate, registerNode } from '../shared/config';
import { dataDir, whenBroker, type InProcessPacket } from '../shared/runtime';
import { settleReceipts } from '../lib/journal/receipts';
import { isWired } from '../shared/batch';
import { mqttInMigrations, type MqttInNodeDef, type MqttInOptions } from './options';
import type { MqttConnectionNode } from '../mqtt-connection/options';

export = function register(RED: NodeAPI): void {
  function UpperstackMqttInNode(this: Node, def: MqttInNodeDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const config = migrate<MqttInOptions>(def as unknown as Record<string, unknown>, mqttInMigrations);
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
    let received = 0;
    let lastCount = 0;
    // The rate replaces the status only while the input is healthy, so failures stay visible.
    let healthy = false;
    const rateTimer = setInterval(() => {
      if (!healthy) return;
      const rate = received - lastCount;
      lastCount = received;
      status('connected', RED._('upperstack-mqtt-in.status.rate', { rate, pending: journal.stats().pending }));
    }, 1000);

    const emit = (m: ReceivedMessage, seq: number) => {
      const msg: UpperstackMessage = {
        _msgid: RED.util.generateId(),
        topic: m.topic,
        payload: m.payload,
        qos: m.qos,
        receivedAt: m.receivedAt,
        upperstack: { receipts: [{ j: node.id, s: seq }] },
      };
      const fixed = config.format !== 'auto' ? config.format : m.contentType ? formatFromContentType(m.contentType) : undefined;
      if (fixed) msg.format = fixed;
      if (m.contentType) msg.contentType = m.contentType;
      try {
        msg.device = template.deviceOf(m.topic);
        node.send([msg, null]);
      } catch (err) {
        msg.error = describeError(err);
        if (isWired(node as unknown as { wires?: string[][] }, 1)) node.send([null, msg]);
        else {
          // Nowhere to route it: the log records it, and the entry must not replay forever.
          settleReceipts([{ j: node.id, s: seq }]);
          node.warn(RED._('upperstack-mqtt-in.errors.rejected', { topic: m.topic, message: describeError(err).message }));
        }
      }
    };

    /** Journals, then acknowledges: nothing is acknowledged before it is durable. */
    const receive = (m: ReceivedMessage, ack: () => void) => {
      let seq: number;
      try {
        seq = journal.append(encodeRecord(m));
      } catch (err) {
        // Not acknowledging makes the broker redeliver once the disk recovers.
        healthy = false;
        setStatus(node, 'failed', describeError(err).message);
        node.error(describeError(err).message);
        return;
      }
      ack();
      received++;
      emit(m, seq);
    };

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
          emit: (m, seq) => {
            received++;
            emit(m, seq);
          },
          status: (state, text) => {
            healthy = state === 'connected';
            setStatus(node, state, text);
          },
        });
      }
    } else {
      setStatus(node, 'connecting', RED._('upperstack-mqtt-in.status.waiting'));
      const attach = (broker: { subscribe: (f: string, d: (p: InProcessPacket, ack: () => void) => void) => () => void }) => {
        unsubscribe = broker.subscribe(template.filter, (p, ack) =>
          receive({ topic: p.topic, payload: p.payload, qos: p.qos, contentType: p.contentType, receivedAt: Date.now() }, ack),
        );
        setStatus(node, 'connected', RED._('upperstack-mqtt-in.status.subscribed', { topic: template.filter }));
        healthy = true;
      };
      stopWaiting = whenBroker(config.broker, attach);
    }

    // Downstream nodes must exist before the replay is sent.
    let replayed = false;
    const doReplay = () => {
      if (replayed) return;
      replayed = true;
      if (replay.length) node.log(RED._('upperstack-mqtt-in.log.replay', { count: replay.length }));
      for (const e of replay) emit(decodeRecord(e.data), e.seq);
      replay = [];
    };
    const onStarted = () => doReplay();
    RED.events.once('flows:started', onStarted);
    const replayTimer = setTimeout(doReplay, 1000);

    onClose(node, () => {
      clearInterval(rateTimer);
      clearTimeout(replayTimer);
      RED.events.removeListener('flows:started', onStarted);
      stopWaiting?.();
      unsubscribe?.();
      unregisterJournal(node.id, journal);
      journal.close();
    });
  }

  registerNode(RED, 'upperstack-mqtt-in', UpperstackMqttInNode);
};
