/**
 * upperstack-mqtt-connection: owns one MQTT.js client to an external broker.
 * Input nodes register their subscription; a message is acknowledged (PUBACK, or
 * PUBREC for QoS 2) only after every matching input has journaled it.
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

    /** ack once every input that took the message lets it through. */
    const admitAll = (journaled: Array<{ sub: Subscriber }>, ack: () => void) => {
      if (journaled.length <= 1) return journaled.length ? journaled[0].sub.admit(ack) : ack();
      let waiting = journaled.length;
      for (const { sub } of journaled) sub.admit(() => --waiting === 0 && ack());
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
          admitAll(journaled, () => put(packet, cb));
          return store;
        }
        return put(packet, cb);
      };
      // MQTT.js hands over one message at a time and parses the next only after callback(); the
      // journal write therefore happens here, per message, while the flow gets them coalesced.
      c.handleMessage = (packet, callback) => {
        const m = toReceived(packet);
        const qos2 = packet.qos === 2 && packet.messageId !== undefined ? qos2Seqs.get(packet.messageId) : undefined;
        let journaled = qos2;
        if (qos2) qos2Seqs.delete(packet.messageId!);
        else {
          try {
            journaled = journal(m);
          } catch (err) {
            // Without a durable copy there is no PUBACK; holding the callback stops intake until redeploy.
            broadcast('failed', describeError(err).message);
            node.error(describeError(err).message);
            return;
          }
        }
        for (const { sub, seq } of journaled!) sub.accept(m, seq);
        if (qos2) callback();
        else admitAll(journaled!, () => callback());
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
        subs.delete(owner);
        // Another input may still use the same filter on this connection.
        if (![...subs.values()].some((s) => s.filter === sub.filter)) client?.unsubscribe(sub.filter);
      };
    };

    onClose(node, async () => {
      const c = client;
      client = undefined;
      if (c) await c.endAsync();
    });
  }

  registerNode(RED, 'upperstack-mqtt-connection', UpperstackMqttConnectionNode, {
    credentials: { username: { type: 'text' }, password: { type: 'password' } },
  });
};
