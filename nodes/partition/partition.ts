/**
 * upperstack-partition: per-device analytics on exactly one cluster member.
 * Readings that come in (the store node's output) are republished on the
 * shared broker to `<prefix>/<partition>/readings` (partition = stable hash of
 * the device, nodes/lib/cluster/partitions.ts); the member that owns a
 * partition receives them and sends them on (to anomaly and alert nodes). Who
 * owns what is settled through the broker with leases, so a member's partitions
 * move to the others when it fails.
 *
 * Not yet: detector and alert state does not move with a partition (the new
 * owner starts from its own state), and readings republished while a partition
 * is between owners (at most one lease) reach no one. See docs/scaling.md.
 */
import type { Node, NodeAPI } from 'node-red';
import mqtt, { type MqttClient } from 'mqtt';
import { Ownership, partitionOf } from '../lib/cluster/partitions';
import { ConfigError, InvalidReadingError, describeError } from '../lib/errors';
import type { Reading } from '../lib/reading';
import { onInput, onClose } from '../shared/input';
import { migrate, registerNode } from '../shared/config';
import { setStatus } from '../shared/status';
import { partitionMigrations, type PartitionNodeDef, type PartitionOptions } from './options';

export = function register(RED: NodeAPI): void {
  function UpperstackPartitionNode(this: Node, def: PartitionNodeDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const config = migrate<PartitionOptions>(def as unknown as Record<string, unknown>, partitionMigrations);
    const member = config.member || node.id.replace(/[^A-Za-z0-9_-]/g, '');
    if (!/^(mqtts?|wss?|tcp|ssl):\/\//i.test(config.broker) || !Number.isInteger(config.partitions) || config.partitions < 1 || config.partitions > 4096) {
      const err = new ConfigError(RED._('upperstack-partition.errors.config', { broker: config.broker, partitions: config.partitions }));
      node.error(err.message);
      setStatus(node, 'failed', err.message);
      return;
    }
    const P = config.partitions;
    const own = new Ownership({ broker: config.broker, group: config.group, member, partitions: P, leaseMs: config.leaseSeconds * 1000 });
    let data: MqttClient | undefined;
    let forwarded = 0;
    const status = () => setStatus(node, 'connected', RED._('upperstack-partition.status.owned', { owned: own.ownedPartitions().length, partitions: P, members: own.liveMembers().length, forwarded }));
    const topicOf = (p: number) => `${config.prefix}/${p}/readings`;

    own.on('error', (err: Error) => node.warn(RED._('upperstack-partition.errors.broker', { message: err.message })));
    own.on('acquired', (p: number) => {
      data?.subscribe(topicOf(p), { qos: 1 });
      status();
    });
    own.on('released', (p: number) => {
      data?.unsubscribe(topicOf(p));
      status();
    });

    setStatus(node, 'connecting', RED._('upperstack-partition.status.connecting'));
    const ready = (async () => {
      data = await mqtt.connectAsync(config.broker, { clientId: `upperstack-${config.group}-${member}-part`, protocolVersion: 5, clean: true, reconnectPeriod: 1000 });
      data.on('message', (topic, payload) => {
        const p = Number(topic.slice(config.prefix.length + 1).split('/')[0]);
        // A message for a partition handed over since it was sent is the new owner's.
        if (!own.owns(p)) return;
        let readings: Reading[];
        try {
          readings = JSON.parse(payload.toString('utf8')) as Reading[];
        } catch {
          return;
        }
        forwarded += readings.length;
        node.send({ payload: readings, partition: p, topic });
      });
      data.on('connect', () => {
        for (const p of own.ownedPartitions()) data?.subscribe(topicOf(p), { qos: 1 });
      });
      await own.start();
      status();
    })();
    ready.catch((err: unknown) => {
      node.error(RED._('upperstack-partition.errors.broker', { message: describeError(err).message }));
      setStatus(node, 'failed', describeError(err).message);
    });
    const timer = setInterval(status, 5000);

    onInput(node, async (msg, _send, done) => {
      const list = (Array.isArray(msg.payload) ? msg.payload : [msg.payload]) as Reading[];
      const groups = new Map<number, Reading[]>();
      for (const r of list) {
        if (!r || typeof r !== 'object' || typeof r.device !== 'string') return done(new InvalidReadingError('the partition node takes Readings {device, ts, fields, tags}', { path: 'device' }));
        const p = partitionOf(r.device, P);
        const g = groups.get(p);
        if (g) g.push(r);
        else groups.set(p, [r]);
      }
      await ready;
      const c = data!;
      await Promise.all([...groups].map(([p, rs]) => c.publishAsync(topicOf(p), JSON.stringify(rs), { qos: 1 })));
      done();
    });

    onClose(node, async () => {
      clearInterval(timer);
      await ready.catch(() => undefined);
      await own.stop().catch(() => undefined);
      await data?.endAsync().catch(() => undefined);
    });
  }

  registerNode(RED, 'upperstack-partition', UpperstackPartitionNode);
};
