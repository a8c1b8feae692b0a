/**
 * upperstack-partition: per-device analytics on exactly one cluster member.
 * Readings that come in (the store node's output) are republished on the
 * shared broker to `<prefix>/<partition>/readings` (partition = stable hash of
 * the device, nodes/lib/cluster/partitions.ts); the member that owns a
 * partition reads them through the partition's own persistent MQTT session and
 * sends them on (to anomaly and alert nodes). Who owns what is settled through
 * the broker with leases; the anomaly and alert state of a partition's devices
 * is checkpointed on the broker and moves with the partition
 * (nodes/lib/cluster/analytics.ts, docs/scaling.md).
 */
import type { Node, NodeAPI } from 'node-red';
import type { IClientOptions } from 'mqtt';
import type { MqttConnectionNode } from '../mqtt-connection/options';
import { PartitionAnalytics } from '../lib/cluster/analytics';
import { ConfigError, InvalidReadingError, describeError } from '../lib/errors';
import { RepeatedWarnings } from '../lib/log/repeats';
import type { Reading } from '../lib/reading';
import { onInput, onClose } from '../shared/input';
import { migrate, registerNode } from '../shared/config';
import { setStatus } from '../shared/status';
import { deviceStates } from '../shared/device-state';
import { registerHealth } from '../shared/runtime';
import { shareWithCluster } from '../shared/cluster-share';
import { versionRefused } from '../lib/mqtt/refused';
import { END_WAIT_MS, bounded, within } from '../lib/mqtt/end';
import { shownUrl, shownValue } from '../lib/security/url-login';
import { partitionMigrations, type PartitionNodeDef, type PartitionOptions } from './options';

/** A broker failure repeated by every client of the member at each reconnect is logged again only this much later. */
const REPEAT_WARNING_MS = 5 * 60_000;
/** How long a message waits for the member's start (the broker let in, the cluster's rules read) before it fails. */
const READY_WAIT_MS = 10_000;

export = function register(RED: NodeAPI): void {
  function UpperstackPartitionNode(this: Node, def: PartitionNodeDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const config = migrate<PartitionOptions>(def as unknown as Record<string, unknown>, partitionMigrations);
    const member = config.member || node.id.replace(/[^A-Za-z0-9_-]/g, '');
    // The broker's login and TLS from a connection node (the cluster member's), never from this node's config.
    let connect: IClientOptions | undefined;
    let broker = config.broker;
    if (config.connection) {
      const conn = RED.nodes.getNode(config.connection) as MqttConnectionNode | null;
      try {
        if (!conn || typeof conn.brokerSettings !== 'function') throw new ConfigError(RED._('upperstack-partition.errors.connection', { id: config.connection }));
        const settings = conn.brokerSettings();
        connect = settings.options;
        broker ||= settings.url;
      } catch (err) {
        node.error(describeError(err).message);
        setStatus(node, 'failed', describeError(err).message);
        return;
      }
    }
    if (!/^(mqtts?|wss?|tcp|ssl):\/\//i.test(broker) || !Number.isInteger(config.partitions) || config.partitions < 1 || config.partitions > 4096) {
      const err = new ConfigError(RED._('upperstack-partition.errors.config', { broker: shownValue(broker), partitions: config.partitions }));
      node.error(err.message);
      setStatus(node, 'failed', err.message);
      return;
    }
    const P = config.partitions;
    const cluster = new PartitionAnalytics({
      broker,
      connect,
      group: config.group,
      member,
      partitions: P,
      leaseMs: config.leaseSeconds * 1000,
      prefix: config.prefix,
      checkpointMs: config.checkpointSeconds * 1000,
      registry: deviceStates(RED),
      deliver: (partition, readings, topic) => node.send({ payload: readings, partition, topic }),
    });
    let keyProblem: Error | undefined;
    /**
     * The broker refused MQTT 5 (nats-server's MQTT listener speaks only 3.1.1): a member cannot work there at
     * all (shared subscriptions, session expiry), so that is what the log, the status and /health say, not
     * the CONNACK's "unacceptable protocol version".
     */
    let noMqtt5: string | undefined;
    /**
     * The broker refused the member's connection for another reason (a wrong login, "server unavailable"): the
     * clients try again until it lets them in, and the status and /health name the refusal meanwhile.
     */
    let refusal: string | undefined;
    let started = false;
    /** A client of the member has failed to reach the broker: before the start too, the member is then unreachable, not starting. */
    let failed = false;
    let closing = false;
    const unreachable = () => (started || failed) && !cluster.brokerConnected();
    const refused = () => (refusal !== undefined && !cluster.brokerConnected() ? refusal : undefined);
    const status = () =>
      keyProblem
        ? setStatus(node, 'failed', keyProblem.message)
        : noMqtt5 !== undefined
          ? setStatus(node, 'failed', noMqtt5)
          : refused() !== undefined
            ? setStatus(node, 'failed', refusal ?? '')
            : unreachable()
            ? setStatus(node, 'failed', RED._('upperstack-partition.status.unreachable'))
            : setStatus(node, 'connected', RED._('upperstack-partition.status.owned', { owned: cluster.fed().length, partitions: P, members: cluster.own.liveMembers().length, forwarded: cluster.forwarded }));
    /** The text for a broker failure; undefined for a missing MQTT 5 logged already (every client meets it). */
    const brokerText = (err: unknown) => {
      if (!versionRefused(err)) {
        // Connection failures carry a code (a socket's, a CONNACK's, a step the broker did not answer); a shared
        // document that was ignored does not say anything about the broker.
        if ((err as { code?: unknown } | null)?.code !== undefined) failed = true;
        const message = describeError(err).message;
        if (!/^Connection refused\b/.test(message)) return RED._('upperstack-partition.errors.broker', { message });
        const first = refusal === undefined;
        refusal = RED._('upperstack-partition.errors.refused', { url: shownUrl(broker), message });
        if (first) status();
        return refusal;
      }
      if (noMqtt5 !== undefined) return undefined;
      noMqtt5 = RED._('upperstack-partition.errors.mqtt5', { url: shownUrl(broker) });
      node.error(noMqtt5);
      status();
      return undefined;
    };
    // Each of the member's clients (partition feeds, readings, shared documents) retries every second while the broker is down
    // (and later and later, up to every 30 s, while it refuses the member: nodes/lib/mqtt/refused.ts).
    const warnings = new RepeatedWarnings(REPEAT_WARNING_MS);
    const warnBroker = (err: Error) => {
      const text = brokerText(err);
      const shown = text === undefined ? undefined : warnings.pass(text, Date.now());
      if (shown) node.warn(shown.held ? `${shown.text} ${RED._('upperstack-partition.errors.repeated', { count: String(shown.held) })}` : shown.text);
    };
    const connectedAgain = () => {
      if (!cluster.brokerConnected()) return;
      refusal = undefined;
      if (warnings.reset()) node.log(RED._('upperstack-partition.status.reachable'));
    };
    cluster.on('error', warnBroker);
    cluster.on('change', status);
    cluster.on('change', connectedAgain);

    // The cluster's alert rules and device records (nodes/shared/cluster-share.ts) are in before this member takes a partition.
    // A registry key that is not the group's stops the member: red status, /health failing, partitions left to the others.
    let stopHealth: (() => void) | undefined;
    const sharing = shareWithCluster(
      RED,
      { broker, connect, group: config.group, member },
      warnBroker,
      (err) => {
        if (keyProblem) return;
        keyProblem = err;
        node.error(err.message);
        setStatus(node, 'failed', err.message);
        stopHealth = registerHealth(`cluster:${member}`, node.id, () => ({ ok: false, detail: err.message }));
        // Found after the start (another member's key won a race): its partitions go to the members that can serve them.
        void cluster.stop().catch(() => undefined);
      },
    );

    setStatus(node, 'connecting', RED._('upperstack-partition.status.connecting'));
    // Cut off, the member reads nothing: /health says so until the broker is back (its partitions go to others meanwhile).
    const stopBrokerHealth = registerHealth(`cluster-broker:${member}`, node.id, () =>
      noMqtt5 !== undefined
        ? { ok: false, detail: noMqtt5, kind: 'connection' }
        : refused() !== undefined
          ? { ok: false, detail: refusal ?? '', kind: 'connection' }
          : unreachable()
          ? { ok: false, detail: RED._('upperstack-partition.status.unreachable'), kind: 'connection' }
          : { ok: true, detail: RED._('upperstack-partition.status.reachable'), kind: 'connection' },
    );
    const ready = sharing.ready
      .then(() => cluster.start())
      .then(() => {
        started = true;
        connectedAgain();
        status();
      });
    ready.catch((err: unknown) => {
      if (closing || err === sharing.problem()) return; // told already, or closed before the broker let the member in
      const text = brokerText(err);
      if (text !== undefined) node.error(text);
      setStatus(node, 'failed', noMqtt5 ?? describeError(err).message);
    });
    const timer = setInterval(() => {
      status();
      connectedAgain();
    }, 5000);

    onInput(node, async (msg, _send, done) => {
      const list = (Array.isArray(msg.payload) ? msg.payload : [msg.payload]) as Reading[];
      for (const r of list) {
        if (!r || typeof r !== 'object' || typeof r.device !== 'string') return done(new InvalidReadingError('the partition node takes Readings {device, ts, fields, tags}', { path: 'device' }));
      }
      // Bounded: while the broker is down or refuses the member, the message fails (to a Catch node) rather than waiting.
      await bounded(ready, READY_WAIT_MS, 'connect');
      await cluster.publish(list);
      done();
    });

    onClose(node, async () => {
      closing = true;
      clearInterval(timer);
      stopHealth?.();
      stopBrokerHealth();
      // Stopped without waiting for the start: one still waiting for a broker that is down or refuses the
      // member ends on the stop. Side by side: each waits at most its bound for a broker that stopped
      // answering, and one after the other they would come near Node-RED's 15 s for a close.
      await Promise.all([cluster.stop().catch(() => undefined), sharing.stop().catch(() => undefined)]);
      // A start that was waiting on the broker ends on the stop, but not every step sees it at once: a publish
      // the broker never acknowledged is never settled by MQTT.js. Bounded, so the close is not held for it.
      await within(ready, END_WAIT_MS);
    });
  }

  registerNode(RED, 'upperstack-partition', UpperstackPartitionNode);
};
