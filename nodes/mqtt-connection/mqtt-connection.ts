/**
 * upperstack-mqtt-connection: owns one MQTT.js client to an external broker.
 * Input nodes register their subscription and intake; a message is
 * acknowledged (PUBACK, or PUBREC for QoS 2) only after every matching input's
 * intake has journaled it and let it through its gate.
 *
 * MQTT.js hands over one message at a time and parses the next only after the
 * handler's callback, which also writes the acknowledgement. So that the
 * messages of one event-loop turn can still be journaled with one write, the
 * intakes let the acknowledgements through their gates before the write
 * (`early`), and the client's stream is corked for the turn: acknowledgements
 * queue in it (the PUBACKs as one buffer, nodes/lib/mqtt/acks.ts) and reach the
 * broker only after the intakes have journaled the turn (and never, if that
 * failed: the connection is dropped and the broker resends, and an
 * acknowledgement still held by backpressure is never sent).
 */
import type { Node, NodeAPI } from 'node-red';
import type { IPublishPacket, MqttClient, Packet } from 'mqtt';
import { topicMatches } from '../lib/mqtt/topic';
import { mqttReceived } from '../lib/mqtt/received';
import { retainedClear } from '../lib/mqtt/retained-clear';
import { liveSubscribeOptions, retainedCopy } from '../lib/mqtt/retained-copy';
import { AckBatch, collectAcks, installAckHook, stopCollecting } from '../lib/mqtt/acks';
import { describeError } from '../lib/errors';
import { shownUrl } from '../lib/security/url-login';
import { onClose } from '../shared/input';
import { registerHealth } from '../shared/runtime';
import { migrate, registerNode } from '../shared/config';
import { unsetEnvName } from '../lib/env-ref';
import type { StatusState } from '../shared/status';
import { mqttConnectionMigrations, turnMaximum, type MqttConnectionNode, type Subscriber, type MqttConnectionNodeDef, type MqttConnectionOptions } from './options';
import { endClient } from '../lib/mqtt/end';
import { connectRetrying, versionRefused } from '../lib/mqtt/refused';
import { SharedProbe } from './share-probe';
import { clientOptions, login } from './client-options';

/**
 * MQTT.js retries every reconnectPeriod and reports each failed attempt; the same
 * error is logged again only this much later (a new one, or getting connected
 * again, at once), so a broker that is down for an hour does not flood the log.
 */
const REPEAT_WARNING_MS = 5 * 60_000;

/**
 * How long a message waits, unacknowledged, for the input that kept its subscription
 * through a redeploy to be back. MQTT.js hands over nothing else meanwhile; after
 * this, the input is taken as gone and the message is acknowledged and dropped.
 */
const KEPT_WAIT_MS = 15_000;

/** How long the probe message of a shared subscription may take to come back before the broker is taken to have none. */
const SHARE_PROBE_MS = 10_000;

/** One corked turn: the intakes it fed and whether one of their writes failed. */
interface Turn {
  stream: MqttClient['stream'];
  intakes: Set<Subscriber['intake']>;
  count: number;
  failed: boolean;
  ended: boolean;
  /** One for the turn: a write failure of any of its intakes fails it all. */
  fail: (err: Error) => void;
}

export = function register(RED: NodeAPI): void {
  installAckHook();
  function UpperstackMqttConnectionNode(this: MqttConnectionNode, def: MqttConnectionNodeDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const config = migrate<MqttConnectionOptions>(def as unknown as Record<string, unknown>, mqttConnectionMigrations);
    const subs = new Map<Node, Subscriber>();
    /** Filters a persistent session kept subscribed for inputs that were closed but not removed, by node id. */
    const kept = new Map<string, string>();
    /** A message for a kept filter, waiting for its input to be back (at most one: MQTT.js waits for its acknowledgement). */
    let held: { packet: IPublishPacket; c: MqttClient; ack: () => void; timer: NodeJS.Timeout } | undefined;
    let client: MqttClient | undefined;
    let lastStatus: [StatusState, string] = ['connecting', RED._('upperstack-mqtt-connection.status.connecting')];
    // For /health: since when the client has not been connected (from the start until the first
    // connect), and the last error; what was last logged, so repeats are not.
    let downSince: number | undefined = Date.now();
    let lastError: string | undefined;
    let warned: { text: string; at: number; repeats: number } | undefined;
    /** The broker refused the MQTT version: said once, and not tried again until the connection is deployed anew. */
    let refused: string | undefined;
    /** The broker took a shared subscription and delivered nothing to it (nats-server): until a probe comes back. */
    let noShared: { text: string; since: number } | undefined;
    /** Filters the broker refused to subscribe (its SUBACK), with what the inputs and /health say. */
    const refusedFilters = new Map<string, { text: string; since: number }>();
    const clientId = config.clientId || `upperstack_${node.id.replace(/[^a-zA-Z0-9]/g, '').slice(0, 12)}`;
    const sharedFilter = () => [...subs.values()].find((s) => s.filter.startsWith('$share/'))?.filter;
    const probe = new SharedProbe(clientId, SHARE_PROBE_MS, (delivered, shared, topic) => {
      if (delivered) {
        if (noShared !== undefined) broadcast('connected', RED._('upperstack-mqtt-connection.status.connected', { url: shownUrl(config.url) }));
        noShared = undefined;
        return;
      }
      noShared = { text: RED._('upperstack-mqtt-connection.errors.noSharedSubscriptions', { url: shownUrl(config.url), filter: shared, topic, seconds: String(SHARE_PROBE_MS / 1000) }), since: Date.now() };
      for (const s of subs.values()) if (s.filter.startsWith('$share/')) s.status('failed', noShared.text);
      node.error(noShared.text);
    });
    const broadcast = (state: StatusState, text: string) => {
      lastStatus = [state, text];
      for (const s of subs.values()) s.status(state, text);
    };

    /** The inputs whose filter matches: one, several, or none; no array per message for the usual single input. */
    const matching = (topic: string): Subscriber | Subscriber[] | undefined => {
      let one: Subscriber | undefined;
      let several: Subscriber[] | undefined;
      for (const s of subs.values()) {
        if (!topicMatches(s.filter, topic)) continue;
        if (one === undefined) one = s;
        else (several ??= [one]).push(s);
      }
      return several ?? one;
    };

    let turn: Turn | undefined;
    /**
     * A turn ends early after this many messages. The broker sends only a window of
     * unacknowledged messages (the receive maximum), and acknowledgements held for a
     * whole turn would leave it waiting for them. The intake still sends the
     * event-loop turn's messages on together, as one batch.
     */
    const turnMax = turnMaximum(config);
    /** The PUBACKs of the open turn (see lib/mqtt/acks.ts); one batch reused turn after turn. */
    const acks = new AckBatch(Math.min(turnMax, 256));

    /** The turn's intakes journal what they took; then the acknowledgements go out, or the connection is dropped. */
    const endTurn = () => {
      const t = turn;
      if (!t) return;
      turn = undefined;
      for (const intake of t.intakes) intake.flush();
      t.ended = true;
      // The turn's PUBACKs, one write; a failed turn's are dropped with the connection.
      stopCollecting(t.stream, !t.failed);
      if (!t.failed) t.stream.uncork();
    };

    const failTurn = (t: Turn, err: Error) => {
      if (t.failed) return;
      t.failed = true;
      stopCollecting(t.stream, false);
      // The queued acknowledgements must not go out: dropping the connection discards them, and the
      // broker resends the messages once MQTT.js has reconnected.
      t.stream.destroy();
      broadcast('failed', describeError(err).message);
      node.error(describeError(err).message);
    };

    /**
     * Hands a message to every matching input's intake; `ack` (the PUBACK, or for
     * QoS 2 storing the packet and the PUBREC) runs once all of them let it through.
     */
    const deliver = (packet: IPublishPacket, c: MqttClient, ack: () => void) => {
      // A retained message the broker sent again for the subscription: taken when it was published.
      if (retainedCopy(config.protocolVersion, packet.retain)) return ack();
      const to = matching(packet.topic);
      if (to === undefined) return [...kept.values()].some((f) => topicMatches(f, packet.topic)) ? hold(packet, c, ack) : ack();
      // Clearing a retained message: nothing to journal. Told apart only over MQTT 5 (subscribed with Retain As
      // Published); MQTT 3.1.1 brokers forward a live publish without its retain flag.
      if (retainedClear(packet.retain, packet.payload)) return ack();
      let t = turn;
      if (!t) {
        const stream = c.stream;
        stream.cork();
        collectAcks(stream, acks);
        const started: Turn = { stream, intakes: new Set(), count: 0, failed: false, ended: false, fail: (err) => failTurn(started, err) };
        turn = t = started;
        setImmediate(() => turn === started && endTurn());
      }
      const current = t;
      const rec = mqttReceived(packet.topic, packet.payload, packet.qos, packet.properties?.contentType);
      let waiting = Array.isArray(to) ? to.length : 1;
      const admitted = () => --waiting === 0 && !current.failed && ack();
      const failed = current.fail;
      // Early: MQTT.js parses the next packet only once this one is acknowledged, and the
      // acknowledgement waits in the corked stream until endTurn() has the turn journaled.
      if (!Array.isArray(to)) {
        to.intake.receive(rec, admitted, failed, true);
        current.intakes.add(to.intake);
      } else {
        for (const sub of to) {
          sub.intake.receive(rec, admitted, failed, true);
          current.intakes.add(sub.intake);
        }
      }
      if (++current.count >= turnMax) endTurn();
    };

    const unsubscribeUnused = (filter: string) => {
      if (![...subs.values()].some((s) => s.filter === filter) && ![...kept.values()].includes(filter)) client?.unsubscribe(filter);
    };

    const hold = (packet: IPublishPacket, c: MqttClient, ack: () => void) => {
      const timer = setTimeout(() => {
        if (held?.timer !== timer) return;
        held = undefined;
        for (const [id, f] of kept) {
          if (!topicMatches(f, packet.topic)) continue;
          kept.delete(id);
          unsubscribeUnused(f);
          node.warn(RED._('upperstack-mqtt-connection.errors.keptGone', { filter: f, seconds: String(KEPT_WAIT_MS / 1000) }));
        }
        ack();
      }, KEPT_WAIT_MS);
      held = { packet, c, ack, timer };
    };

    /** A held message goes to the input that is back for it. */
    const release = () => {
      const h = held;
      if (!h || matching(h.packet.topic) === undefined) return;
      clearTimeout(h.timer);
      held = undefined;
      deliver(h.packet, h.c, h.ack);
    };

    /**
     * MQTT 5: no retained copies when subscribing, and Retain As Published, so a live publish keeps its retain flag
     * and an empty retained one (a retained message cleared) is told from an empty message.
     */
    const subscribeOptions = (qos: Subscriber['qos']) => liveSubscribeOptions(config.protocolVersion, qos);

    /**
     * Subscribes one input. A SUBACK that refuses the filter (0x80 and up: the broker's access rules, a filter it
     * does not take) leaves the input receiving nothing while the connection is up, so the input turns red and
     * /health fails until a SUBACK grants it (a reconnect or redeploy after the rules changed).
     */
    const subscribe = (c: MqttClient, s: Subscriber) =>
      c.subscribe(s.filter, subscribeOptions(s.qos), (err) => {
        if (!err) return void refusedFilters.delete(s.filter);
        // MQTT.js's ErrorWithSubackPacket carries the SUBACK; any other error (the connection lost before it) is no refusal.
        const granted = (err as Error & { packet?: { granted?: unknown } }).packet?.granted;
        if (!Array.isArray(granted) || !granted.some((g) => typeof g === 'number' && g >= 0x80)) return node.error(RED._('upperstack-mqtt-connection.errors.subscribe', { filter: s.filter, message: err.message }));
        const inputs = [...subs].filter(([, x]) => x.filter === s.filter).map(([owner]) => `"${owner.name || owner.id}"`);
        const text = RED._('upperstack-mqtt-connection.errors.subscribeRefused', { url: shownUrl(config.url), filter: s.filter, inputs: inputs.join(', '), message: err.message });
        if (!refusedFilters.has(s.filter)) node.error(text);
        refusedFilters.set(s.filter, { text, since: refusedFilters.get(s.filter)?.since ?? Date.now() });
        for (const x of subs.values()) if (x.filter === s.filter) x.status('failed', text);
      });

    node.brokerSettings = () => ({ url: config.url, options: login(config, node.credentials) });

    const connect = () => {
      // Connected only after the incoming store and handleMessage are replaced below.
      const c = connectRetrying(config.url, clientOptions(config, clientId, node.credentials));
      // QoS 2: MQTT.js stores the packet, then sends PUBREC. The message goes through the intake
      // first, so PUBREC waits for the journal write and the gate; it enters the flow then, and the
      // handleMessage that follows PUBREL has nothing left to do.
      const store = c.incomingStore;
      const put = store.put.bind(store);
      store.put = (packet: Packet, cb: (err?: Error) => void) => {
        if (packet.cmd !== 'publish' || packet.qos !== 2) put(packet, cb);
        // A packet id the store still holds awaits its PUBREL: this is a copy the broker resent
        // (DUP, or after a reconnect to the session) of a message already journaled. MQTT.js puts it
        // again; it gets its PUBREC, not a second journal entry. MQTT.js drops the
        // ids when a session is not resumed, so a new session's reused id is a new message.
        else store.get(packet, (missing) => (missing ? deliver(packet, c, () => put(packet, cb)) : cb()));
        return store;
      };
      c.handleMessage = (packet, callback) => {
        if (probe.take(packet.topic)) return callback();
        if (packet.qos === 2) return callback();
        // MQTT.js's callback writes the PUBACK; called without an error.
        deliver(packet, c, callback);
      };
      c.on('connect', () => {
        if (warned && downSince !== undefined) node.log(RED._('upperstack-mqtt-connection.errors.reconnected', { url: shownUrl(config.url), seconds: String(Math.round((Date.now() - downSince) / 1000)) }));
        downSince = undefined;
        lastError = undefined;
        warned = undefined;
        broadcast('connected', RED._('upperstack-mqtt-connection.status.connected', { url: shownUrl(config.url) }));
        for (const s of subs.values()) subscribe(c, s);
        const shared = sharedFilter();
        if (shared !== undefined) probe.start(c, shared);
      });
      c.on('reconnect', () => broadcast('connecting', RED._('upperstack-mqtt-connection.status.connecting')));
      c.on('close', () => {
        downSince ??= Date.now();
        probe.stop();
        if (refused !== undefined) return;
        broadcast('connecting', RED._('upperstack-mqtt-connection.status.disconnected'));
      });
      c.on('error', (err) => {
        // Every retry would get the same answer (and each is an error in the broker's log): connectRetrying stops them.
        if (versionRefused(err)) {
          // Setting 3.1.1 would not help a shared subscription (a cluster member's): that needs another broker.
          const shared = sharedFilter();
          refused =
            shared !== undefined && config.protocolVersion === 5
              ? RED._('upperstack-mqtt-connection.errors.versionRefusedShared', { url: shownUrl(config.url), filter: shared })
              : RED._(`upperstack-mqtt-connection.errors.versionRefused${config.protocolVersion}`, { url: shownUrl(config.url) });
          lastError = refused;
          broadcast('failed', refused);
          node.error(refused);
          return;
        }
        lastError = err.message;
        broadcast('failed', err.message);
        const text = RED._('upperstack-mqtt-connection.errors.connection', { url: shownUrl(config.url), message: err.message });
        const now = Date.now();
        if (warned?.text === text && now - warned.at < REPEAT_WARNING_MS) {
          warned.repeats++;
          return;
        }
        node.warn(warned?.text === text ? `${text} ${RED._('upperstack-mqtt-connection.errors.repeated', { count: String(warned.repeats) })}` : text);
        warned = { text, at: now, repeats: 0 };
      });
      c.connect();
      return c;
    };

    node.register = (owner, sub) => {
      subs.set(owner, sub);
      // Back after a redeploy: the filter it had kept is given up if it changed.
      const before = kept.get(owner.id);
      kept.delete(owner.id);
      if (before !== undefined && before !== sub.filter) unsubscribeUnused(before);
      sub.status(...lastStatus);
      if (!client) {
        try {
          // An empty URL, or an ${ENV} reference to an unset variable (Node-RED leaves it as it is), which
          // MQTT.js would only call a "Missing protocol".
          if (!config.url.trim()) throw new Error(RED._('upperstack-mqtt-connection.errors.urlEmpty'));
          const unset = unsetEnvName(config.url);
          if (unset) throw new Error(RED._('upperstack-mqtt-connection.errors.urlUnset', { name: unset }));
          client = connect();
        } catch (err) {
          lastError = describeError(err).message;
          broadcast('failed', lastError);
          node.error(lastError);
        }
      } else if (client.connected) {
        subscribe(client, sub);
        if (sub.filter.startsWith('$share/')) probe.start(client, sub.filter);
      }
      release();
      return (removed = true) => {
        // The turn's messages are journaled while the input's intake is still open.
        endTurn();
        subs.delete(owner);
        // A persistent session keeps the subscription through a restart or a redeploy, so the broker
        // queues what devices send meanwhile; unsubscribed, it would acknowledge and drop it.
        if (config.persistent && !removed) return void kept.set(owner.id, sub.filter);
        // Another input may still use the same filter on this connection.
        unsubscribeUnused(sub.filter);
        if (![...subs.values()].some((s) => s.filter === sub.filter)) refusedFilters.delete(sub.filter);
      };
    };

    const stopHealth = registerHealth(`mqtt:${config.name || node.id}`, node.id, () => {
      const url = shownUrl(config.url) || RED._('upperstack-mqtt-connection.errors.noUrl');
      // Nothing subscribed yet (or no input uses it): no connection to judge.
      if (!client && lastError === undefined) return { ok: true, detail: `${url}: ${RED._('upperstack-mqtt-connection.status.unused')}`, kind: 'connection' };
      // A refused subscription does not heal by waiting: failing at once, as a broker not listening does.
      if (client?.connected && refusedFilters.size > 0) {
        const refusals = [...refusedFilters.values()];
        const text = refusals.map((r) => r.text).join('; ');
        return { ok: false, detail: text, failingSince: Math.min(...refusals.map((r) => r.since)), lastError: text };
      }
      if (client?.connected && noShared !== undefined) return { ok: false, detail: noShared.text, kind: 'connection', failingSince: noShared.since, lastError: noShared.text };
      if (client?.connected) return { ok: true, detail: RED._('upperstack-mqtt-connection.status.connected', { url }), kind: 'connection' };
      return {
        ok: false,
        detail: refused ?? `${url}: ${client ? RED._('upperstack-mqtt-connection.status.disconnected') : lastError}`,
        kind: 'connection',
        failingSince: downSince,
        ...(lastError !== undefined ? { lastError } : {}),
      };
    });

    onClose(node, async () => {
      stopHealth();
      probe.stop();
      // Unacknowledged, a held message is sent again by the broker to the session.
      if (held) clearTimeout(held.timer);
      held = undefined;
      const c = client;
      client = undefined;
      // Ending the client flushes the stream, so the queued acknowledgements need their journal write first.
      endTurn();
      if (c) await endClient(c);
    });
  }

  registerNode(RED, 'upperstack-mqtt-connection', UpperstackMqttConnectionNode, {
    credentials: { username: { type: 'text' }, password: { type: 'password' } },
  });
};
