/**
 * upperstack-mqtt-connection: owns one MQTT.js client to an external broker.
 * Input nodes register their subscription; a message is acknowledged (PUBACK, or
 * PUBREC for QoS 2) only after every matching input has journaled it.
 *
 * MQTT.js hands over one message at a time and parses the next only after the
 * handler's callback, which also writes the PUBACK. So that the messages of one
 * event-loop turn can still be journaled with one write, the client's stream is
 * corked for the turn: PUBACKs queue in it and reach the broker only after the
 * journal write at the end of the turn (and never, if that write fails).
 */
import { readFileSync } from 'node:fs';
import type { Node, NodeAPI } from 'node-red';
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient, type Packet } from 'mqtt';
import { topicMatches } from '../lib/mqtt/topic';
import { RECORD_ENCODER, type ReceivedMessage } from '../lib/mqtt/record';
import { describeError } from '../lib/errors';
import { onClose } from '../shared/input';
import { migrate, registerNode } from '../shared/config';
import type { StatusState } from '../shared/status';
import { mqttConnectionMigrations, type MqttConnectionNode, type Subscriber, type MqttConnectionNodeDef, type MqttConnectionOptions } from './options';

function toReceived(packet: IPublishPacket): ReceivedMessage {
  const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
  return {
    topic: packet.topic,
    payload,
    qos: packet.qos,
    contentType: packet.properties?.contentType,
    receivedAt: Date.now(),
  };
}

/**
 * A turn ends early after this many messages. The broker sends only a window of
 * unacknowledged messages (mosquitto's max_inflight_messages, 20 by default), and
 * PUBACKs held for a whole turn would leave it waiting for them.
 */
const TURN_MAX = 16;

export = function register(RED: NodeAPI): void {
  function UpperstackMqttConnectionNode(this: MqttConnectionNode, def: MqttConnectionNodeDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const config = migrate<MqttConnectionOptions>(def as unknown as Record<string, unknown>, mqttConnectionMigrations);
    const subs = new Map<Node, Subscriber>();
    let client: MqttClient | undefined;
    let lastStatus: [StatusState, string] = ['connecting', RED._('upperstack-mqtt-connection.status.connecting')];
    const broadcast = (state: StatusState, text: string) => {
      lastStatus = [state, text];
      for (const s of subs.values()) s.status(state, text);
    };

    const matching = (topic: string) => [...subs.values()].filter((s) => topicMatches(s.filter, topic));

    /** Journals m for every matching input; throws when any journal cannot take it. */
    const journal = (m: ReceivedMessage) => matching(m.topic).map((sub) => ({ sub, seq: sub.journal.appendGroup([m], RECORD_ENCODER) }));

    // The turn's QoS 0/1 messages, with the inputs each goes to, and the stream holding their PUBACKs.
    // `dropped`: the journal write failed, so an ack still held by backpressure must never be sent.
    let turn: Array<{ m: ReceivedMessage; subs: Subscriber[]; dropped: boolean }> = [];
    let corked: MqttClient['stream'] | undefined;

    const endTurn = () => {
      const items = turn;
      const stream = corked;
      turn = [];
      corked = undefined;
      const bySub = new Map<Subscriber, ReceivedMessage[]>();
      for (const { m, subs: to } of items) {
        for (const sub of to) {
          const list = bySub.get(sub);
          if (list) list.push(m);
          else bySub.set(sub, [m]);
        }
      }
      const journaled: Array<{ sub: Subscriber; list: ReceivedMessage[]; first: number }> = [];
      let failure: unknown;
      for (const [sub, list] of bySub) {
        try {
          journaled.push({ sub, list, first: sub.journal.appendGroup(list, RECORD_ENCODER) });
        } catch (err) {
          failure = err;
          break;
        }
      }
      if (failure === undefined) stream?.uncork();
      else {
        // The queued PUBACKs must not go out: dropping the connection discards them, and the
        // broker resends the messages once MQTT.js has reconnected.
        stream?.destroy();
        for (const item of items) item.dropped = true;
        broadcast('failed', describeError(failure).message);
        node.error(describeError(failure).message);
      }
      // What is journaled is in the flow's hands either way (and replays after a restart).
      for (const { sub, list, first } of journaled) for (let i = 0; i < list.length; i++) sub.accept(list[i], first + i);
    };

    /** ack once every input that took the message lets it through. */
    const admitAll = (to: readonly Subscriber[], ack: () => void) => {
      if (to.length <= 1) return to.length ? to[0].admit(ack) : ack();
      let waiting = to.length;
      for (const sub of to) sub.admit(() => --waiting === 0 && ack());
    };

    const connect = () => {
      const opts: IClientOptions = {
        clientId: config.clientId || `upperstack_${node.id.replace(/[^a-zA-Z0-9]/g, '').slice(0, 12)}`,
        protocolVersion: config.protocolVersion,
        clean: !config.persistent,
        keepalive: config.keepalive,
        reconnectPeriod: 2000,
        username: node.credentials?.username || undefined,
        password: node.credentials?.password || undefined,
        rejectUnauthorized: config.rejectUnauthorized,
        ca: config.ca ? readFileSync(config.ca) : undefined,
        cert: config.cert ? readFileSync(config.cert) : undefined,
        key: config.key ? readFileSync(config.key) : undefined,
        // Connect after the incoming store and handleMessage are replaced below.
        manualConnect: true,
      };
      const c = mqtt.connect(config.url, opts);
      // QoS 2: MQTT.js sends PUBREC once the incoming store has the packet, so the
      // store journals it first and remembers the sequence numbers per message id.
      const qos2Seqs = new Map<number, Array<{ sub: Subscriber; seq: number }>>();
      const store = c.incomingStore;
      const put = store.put.bind(store);
      store.put = (packet: Packet, cb: (err?: Error) => void) => {
        if (packet.cmd === 'publish' && packet.qos === 2 && packet.messageId !== undefined) {
          let journaled: Array<{ sub: Subscriber; seq: number }>;
          try {
            journaled = journal(toReceived(packet));
          } catch (err) {
            // No PUBREC without a durable copy; the broker will resend.
            node.error(describeError(err).message);
            return store;
          }
          qos2Seqs.set(packet.messageId, journaled);
          // Backpressure for QoS 2 holds the PUBREC; the message enters the flow after PUBREL.
          admitAll(
            journaled.map((j) => j.sub),
            () => put(packet, cb),
          );
          return store;
        }
        return put(packet, cb);
      };
      c.handleMessage = (packet, callback) => {
        const m = toReceived(packet);
        const qos2 = packet.qos === 2 && packet.messageId !== undefined ? qos2Seqs.get(packet.messageId) : undefined;
        if (qos2) {
          // Journaled when the incoming store took it, before PUBREC.
          qos2Seqs.delete(packet.messageId!);
          for (const { sub, seq } of qos2) sub.accept(m, seq);
          return callback();
        }
        const to = matching(m.topic);
        if (!corked) {
          corked = c.stream;
          corked.cork();
          setImmediate(endTurn);
        }
        const item = { m, subs: to, dropped: false };
        turn.push(item);
        admitAll(to, () => item.dropped || callback());
        if (turn.length >= TURN_MAX) endTurn();
      };
      c.on('connect', () => {
        broadcast('connected', RED._('upperstack-mqtt-connection.status.connected', { url: config.url }));
        for (const s of subs.values()) c.subscribe(s.filter, { qos: s.qos }, (err) => err && node.error(RED._('upperstack-mqtt-connection.errors.subscribe', { filter: s.filter, message: err.message })));
      });
      c.on('reconnect', () => broadcast('connecting', RED._('upperstack-mqtt-connection.status.connecting')));
      c.on('close', () => broadcast('connecting', RED._('upperstack-mqtt-connection.status.disconnected')));
      c.on('error', (err) => {
        broadcast('failed', err.message);
        node.warn(RED._('upperstack-mqtt-connection.errors.connection', { url: config.url, message: err.message }));
      });
      c.connect();
      return c;
    };

    node.register = (owner, sub) => {
      subs.set(owner, sub);
      sub.status(...lastStatus);
      if (!client) {
        try {
          client = connect();
        } catch (err) {
          broadcast('failed', describeError(err).message);
          node.error(describeError(err).message);
        }
      } else if (client.connected) {
        client.subscribe(sub.filter, { qos: sub.qos });
      }
      return () => {
        // Journal the turn while the input's journal is still open.
        if (turn.length) endTurn();
        subs.delete(owner);
        // Another input may still use the same filter on this connection.
        if (![...subs.values()].some((s) => s.filter === sub.filter)) client?.unsubscribe(sub.filter);
      };
    };

    onClose(node, async () => {
      const c = client;
      client = undefined;
      // Ending the client flushes the stream, so the queued PUBACKs need their journal write first.
      if (turn.length) endTurn();
      if (c) await c.endAsync();
    });
  }

  registerNode(RED, 'upperstack-mqtt-connection', UpperstackMqttConnectionNode, {
    credentials: { username: { type: 'text' }, password: { type: 'password' } },
  });
};
