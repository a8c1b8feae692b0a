/**
 * upperstack-mqtt-in: receives device messages from the embedded broker (in
 * process) or an external one, through the shared intake (nodes/lib/ingest):
 * journaled before they are acknowledged, the messages of one event-loop turn
 * with one write and as one batch message towards decode, acknowledgements
 * withheld while the flow is behind or the journal is at its disk budget, and
 * what the last run left unsettled replayed on start. This node only names the
 * device from the topic and connects the transport.
 */
import type { Node, NodeAPI } from 'node-red';
import { isTopicFilter, parseTopicTemplate, type TopicTemplate } from '../lib/mqtt/topic';
import { mqttReceived, mqttTopic } from '../lib/mqtt/received';
import { retainedClear } from '../lib/mqtt/retained-clear';
import { publishFormat } from '../lib/mqtt/format';
import { BadDeviceIdError, BadTopicError, describeError } from '../lib/errors';
import { deviceIdProblem } from '../lib/devices/record';
import { formatFromContentType } from '../lib/codec';
import type { Received } from '../lib/ingest/record';
import { setStatus } from '../shared/status';
import { onClose } from '../shared/input';
import { migrate, registerNode } from '../shared/config';
import { findBroker, registerHealth, whenBroker, type EmbeddedBroker } from '../shared/runtime';
import { openInputIntake } from '../shared/intake';
import { journalBudget, mqttInMigrations, type MqttInNodeDef, type MqttInOptions } from './options';
import type { MqttConnectionNode } from '../mqtt-connection/options';

const MIB = 1024 * 1024;

/**
 * The topic's device, held to the rule HTTP and the registry use: a name like "m q" could never be
 * registered and given a secret, so it is refused (output 2, a dead letter) rather than stored.
 */
function deviceOfTopic(template: TopicTemplate, topic: string): string | undefined {
  const device = template.deviceOf(topic);
  if (device === undefined) return undefined;
  const problem = deviceIdProblem(device);
  if (problem !== undefined) throw new BadDeviceIdError(problem, { topic: topic.slice(0, 200) });
  return device;
}

/** Journal meta of a publish the broker handed over because no input takes its topic: the filters it missed. */
const UNROUTED = 'unrouted';

/**
 * A publish no input's topic takes (a typo, a level too many): refused with the topic and the patterns it
 * missed, under the device its topic names where it names one as this input's pattern would read it.
 */
function unroutedTopic(template: TopicTemplate, topic: string, filters: string): BadTopicError {
  let device: string | undefined;
  try {
    device = template.deviceOf(topic);
    if (device !== undefined && deviceIdProblem(device) !== undefined) device = undefined;
  } catch {
    device = undefined;
  }
  const inputs = filters.split(' ').filter(Boolean);
  const message = `no input subscribes to topic "${topic.slice(0, 200)}": the inputs here take ${inputs.join(', ')}; the message was not stored (fix the device's topic; replaying this letter stores it${device !== undefined ? ` as ${device}'s` : ''})`;
  return new BadTopicError(message, { topic: topic.slice(0, 200), inputs, ...(device !== undefined ? { device } : {}) });
}

/**
 * A replayed dead letter goes in under the device the letter names (for a reading refused after decoding, the
 * reading's own). A letter that names none is read from its topic as the message was, so a topic refused then is
 * refused again; but the letter of messages of several devices merged in one turn keeps the subscription
 * (devices/+/telemetry) as its source, which names no device: its readings name theirs.
 */
function deviceOfReplay(template: TopicTemplate, rec: Received): string | undefined {
  if (rec.device !== undefined) return rec.device;
  const topic = mqttTopic(rec.source);
  return isTopicFilter(topic) ? undefined : deviceOfTopic(template, topic);
}

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
    const fixedFormat = config.format !== 'auto' ? config.format : undefined;
    const input = openInputIntake(RED, node, {
      budgetBytes: journalBudget(config.journalBudgetMb) * MIB,
      highWater: config.highWater,
      lowWater: config.lowWater,
      highWaterReadings: config.highWaterReadings,
      coalesce: config.coalesce,
      batchTopic: template.filter,
      describe: (rec) => {
        // A replay of such a letter is the user's choice to keep the message: it goes in under the letter's device.
        const unrouted = rec.meta?.[UNROUTED];
        if (unrouted !== undefined && (rec.meta?.replayOf === undefined || rec.device === undefined)) throw unroutedTopic(template, mqttTopic(rec.source), unrouted);
        const device = rec.meta?.replayOf !== undefined ? deviceOfReplay(template, rec) : deviceOfTopic(template, mqttTopic(rec.source));
        // A replayed dead letter says what its bytes are now: a message that failed after decoding was kept as
        // the JSON of its readings, which this input's fixed format (protobuf, say) could never read.
        const named = rec.meta?.replayOf !== undefined && rec.contentType ? formatFromContentType(rec.contentType) : undefined;
        // With auto, held to the content type rule a publish meets (a charset other than UTF-8 is refused), so the
        // replay of a publish refused for its charset is refused again, not read as UTF-8 JSON.
        const replayed = named !== undefined && fixedFormat === undefined ? publishFormat(rec.contentType, device) : named;
        // A fixed format is what the topic carries whatever the publisher labels it; with auto the content type
        // decides, and one no decoder reads is refused here (output 2) rather than guessed past.
        return { device, format: replayed ?? fixedFormat ?? publishFormat(rec.contentType, device) };
      },
    });
    if (!input) return;

    let unsubscribe: ((removed: boolean) => void) | undefined;
    let stopWaiting: (() => void) | undefined;
    // For /health: a deployed input is listed, ok while subscribed. Not subscribed (its broker or connection not
    // there, down or refusing it) it fails once that has lasted the connection threshold, so a start or a
    // reconnect does not flap it; with no connection configured at once.
    let serving: () => boolean = () => false;
    let notServing = RED._('upperstack-mqtt-in.status.waiting');
    let notServingSince: number | undefined = Date.now();
    let misconfigured: string | undefined;
    const filter = config.source === 'external' && config.group ? `$share/${config.group}/${template.filter}` : template.filter;
    const stopHealth = registerHealth(`mqtt-in:${node.name || node.id}`, node.id, () => {
      if (misconfigured !== undefined) return { ok: false, detail: misconfigured };
      if (serving()) {
        notServingSince = undefined;
        return { ok: true, detail: RED._('upperstack-mqtt-in.status.subscribed', { topic: filter }) };
      }
      notServingSince ??= Date.now();
      return { ok: false, detail: notServing, kind: 'connection', failingSince: notServingSince };
    });
    if (config.source === 'external') {
      const conn = RED.nodes.getNode(config.connection) as MqttConnectionNode | null;
      if (!conn) {
        misconfigured = RED._('upperstack-mqtt-in.errors.noConnection');
        setStatus(node, 'failed', misconfigured);
        node.error(misconfigured);
      } else {
        let connected = false;
        serving = () => connected;
        unsubscribe = conn.register(node, {
          filter,
          qos: config.qos,
          intake: input.intake,
          status: (state, text) => {
            connected = state === 'connected';
            if (!connected) notServing = text;
            input.setHealthy(connected);
            setStatus(node, state, text);
          },
        });
      }
    } else {
      notServing = RED._('upperstack-mqtt-in.errors.brokerNotRunning');
      setStatus(node, 'connecting', RED._('upperstack-mqtt-in.status.waiting'));
      // aedes reads a client's next packets only once the ones it has are acknowledged, and the
      // intake's own end-of-turn write runs behind the flow's queued work (Node-RED delivers each hop
      // with setImmediate). So what one read of a socket brought is journaled, and acknowledged, as
      // soon as the broker has handed it all over; it still leaves towards decode with the rest of
      // the event-loop turn, as one batch message.
      let flushQueued = false;
      const flushRead = () => {
        flushQueued = false;
        input.intake.flush();
      };
      const attach = (broker: EmbeddedBroker) => {
        unsubscribe = broker.subscribe(template.filter, (p, ack, fail) => {
          // Clearing a retained message (the broker drops it once this acks): no data, nothing to journal.
          if (retainedClear(p.retain, p.payload)) return ack();
          const rec = mqttReceived(p.topic, p.payload, p.qos, p.contentType);
          if (p.remote) rec.remote = p.remote;
          if (p.actor) rec.actor = p.actor;
          // Journaled with the message, so its refusal still names the patterns after a restart.
          if (p.unrouted) rec.meta = { [UNROUTED]: p.unrouted.join(' ') };
          input.receive(rec, ack, fail);
          if (!flushQueued) {
            flushQueued = true;
            process.nextTick(flushRead);
          }
        });
        setStatus(node, 'connected', RED._('upperstack-mqtt-in.status.subscribed', { topic: template.filter }));
        input.setHealthy(true);
        // Only while that broker runs: one stopped by a deploy that left this input as it was delivers nothing.
        serving = () => findBroker(broker.id) === broker;
      };
      stopWaiting = whenBroker(config.broker, attach);
    }

    onClose(node, (removed) => {
      stopHealth();
      // The transport first, so nothing arrives once the intake has journaled and acknowledged the rest.
      stopWaiting?.();
      unsubscribe?.(removed);
      input.close();
    });
  }

  registerNode(RED, 'upperstack-mqtt-in', UpperstackMqttInNode);
};
