/**
 * Nodes dropped from the palette reach what the shipped packs reach: a new broker listens on the runtime's MQTT
 * port as the default pack's does (not on 1883 whatever the runtime was started with), and a new partition node
 * talks to the cluster broker a member's pack uses (not to 127.0.0.1:1883, this runtime's own broker), through the
 * pack's connection (its login and TLS files) when the flows hold it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { clusterOptionsFromEnv } from '../../nodes/lib/cluster/config';
import { CLUSTER_CONNECTION_ID, clusterPack, type FlowNode } from '../../nodes/lib/cluster/pack';
import { added, fresh, root } from '../helpers/editor-templates';

const pipeline = JSON.parse(readFileSync(join(root, 'flows', 'pipeline.json'), 'utf8')) as FlowNode[];

/** A `${NAME}` property as Node-RED resolves it when the flows start. */
function resolved(v: unknown, env: Record<string, string>): unknown {
  const m = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(String(v));
  return m && env[m[1]] !== undefined ? env[m[1]] : v;
}

test('a new broker listens where the default pack\'s broker does', () => {
  const packBroker = pipeline.find((n) => n.type === 'upperstack-broker')!;
  const env = { UPPERSTACK_MQTT_PORT: '24883' };
  assert.equal(resolved(fresh('upperstack-broker', {}).port, env), '24883');
  assert.equal(resolved(fresh('upperstack-broker', {}).port, env), resolved(packBroker.port, env));
});

test('a new partition node uses the cluster broker a member\'s pack uses', () => {
  const env = { UPPERSTACK_CLUSTER_BROKER: 'mqtt://cluster-broker:1883', UPPERSTACK_CLUSTER_SINK: 'http://vm:8428', UPPERSTACK_CLUSTER_MEMBER: 'm1' };
  const packPartition = clusterPack(pipeline, clusterOptionsFromEnv(env)!).find((n) => n.type === 'upperstack-partition')!;
  assert.equal(resolved(fresh('upperstack-partition', {}).broker, env), packPartition.broker);
});

test('a new partition node on a member takes the pack\'s connection to the cluster broker, elsewhere none', () => {
  const env = { UPPERSTACK_CLUSTER_BROKER: 'mqtt://cluster-broker:1883', UPPERSTACK_CLUSTER_SINK: 'http://vm:8428', UPPERSTACK_CLUSTER_MEMBER: 'm1' };
  const member = clusterPack(pipeline, clusterOptionsFromEnv(env)!);
  const packPartition = member.find((n) => n.type === 'upperstack-partition')!;
  const configs = member.filter((n) => n.type === 'upperstack-mqtt-connection').map((n) => ({ id: n.id, type: n.type }));
  assert.equal(added('upperstack-partition', 'tab1', configs).connection, packPartition.connection);
  assert.equal(packPartition.connection, CLUSTER_CONNECTION_ID);
  assert.equal(added('upperstack-partition', 'tab1', [{ id: 'other', type: 'upperstack-mqtt-connection' }]).connection, '');
});
