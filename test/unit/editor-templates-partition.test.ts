/**
 * The partition dialog's broker URL: the node has no credentials of its own (its login is its MQTT
 * connection's), so a login typed into the URL, which the flows file keeps in clear, is refused with where
 * the login goes instead.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { clusterOptionsFromEnv } from '../../nodes/lib/cluster/config';
import { clusterPack, type FlowNode } from '../../nodes/lib/cluster/pack';
import { fresh, problems, root } from '../helpers/editor-templates';

const catalogue = JSON.parse(readFileSync(join(root, 'nodes', 'partition', 'locales', 'en-US', 'partition.json'), 'utf8')) as {
  'upperstack-partition': { errors: Record<string, string> };
};
const LOGIN = catalogue['upperstack-partition'].errors.broker_login;

test('a broker URL with a login is flagged, saying the login goes to the connection; the same URL without it, as a member\'s pack writes it, is not', () => {
  for (const broker of ['mqtt://member:s3cret@broker:1883', 'mqtts://member:p%40ss@broker:8883', 'ws://member@broker/mqtt']) {
    assert.deepEqual(problems('upperstack-partition', fresh('upperstack-partition', { broker })), { broker: LOGIN }, broker);
  }
  assert.match(LOGIN, /in the MQTT connection chosen under Connection/);
  for (const broker of ['mqtt://broker:1883', 'mqtts://broker:8883', '${UPPERSTACK_CLUSTER_BROKER}']) {
    assert.deepEqual(problems('upperstack-partition', fresh('upperstack-partition', { broker })), {}, broker);
  }
  // A member's pack made from a broker URL with a login: the login is in its connection, the partition node accepted.
  const pipeline = JSON.parse(readFileSync(join(root, 'flows', 'pipeline.json'), 'utf8')) as FlowNode[];
  const env = { UPPERSTACK_CLUSTER_BROKER: 'mqtt://member:s3cret@cluster-broker:1883', UPPERSTACK_CLUSTER_SINK: 'http://vm:8428', UPPERSTACK_CLUSTER_MEMBER: 'm1' };
  const partition = clusterPack(pipeline, clusterOptionsFromEnv(env)!).find((n) => n.type === 'upperstack-partition')!;
  assert.deepEqual(problems('upperstack-partition', { ...fresh('upperstack-partition', {}), ...partition }), {});
});
