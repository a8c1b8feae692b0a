/**
 * upperstack-partition on a cluster broker that speaks only MQTT 3.1.1 (nats-server's MQTT listener answers an
 * MQTT 5 CONNECT with a 3.1.1 CONNACK, return code 1): the log, the status and /health say in one sentence that
 * the broker lacks MQTT 5, which a member needs, instead of the CONNACK's "unacceptable protocol version", and the
 * member does not try again.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import helper from 'node-red-node-test-helper';
import { eventually } from '../helpers/runtime';
import { removeTempDir, tempDir } from '../helpers/temp';
import { startBeside, stopBeside } from '../helpers/node-tcp';
import { checkHealth } from '../../nodes/shared/runtime';

/* eslint-disable @typescript-eslint/no-require-imports */
const partitionNode = require('../../nodes/partition/partition');
helper.init(require.resolve('node-red'));

const dataDir = tempDir('us-partition-mqtt5-');
let broker: Server;
let port = 0;
let connections = 0;
const sockets = new Set<Socket>();

before(async () => {
  broker = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.once('data', () => socket.end(Buffer.from([0x20, 0x02, 0x00, 0x01])));
  });
  port = await startBeside(broker, { upperstack: { dataDir } });
});
after(async () => {
  await stopBeside(broker, sockets);
  removeTempDir(dataDir);
});

test('a cluster broker without MQTT 5 is named as such in the log, the status and /health', async () => {
  await helper.load(partitionNode, [
    { id: 'p', type: 'upperstack-partition', broker: `mqtt://127.0.0.1:${port}`, group: 'n5', member: 'm1', partitions: 4, leaseSeconds: 30, prefix: 'us/n5', checkpointSeconds: 60, connection: '', configVersion: 2, wires: [] },
  ]);
  const node = helper.getNode('p') as unknown as { status: { args: Array<[{ fill?: string; text?: string }]> } };
  // The test runtime has no message catalogue: the text is the key.
  const said = () => {
    const log = (helper as unknown as { log(): { args: [{ level: number; id?: string; msg?: unknown }][] } }).log();
    return log.args.map(([m]) => m).filter((m) => m.id === 'p').map((m) => String(m.msg));
  };
  await eventually(async () => (said().includes('upperstack-partition.errors.mqtt5') ? true : undefined), 20_000, 'the missing MQTT 5 in the log');
  await eventually(async () => (node.status.args.at(-1)?.[0].text === 'upperstack-partition.errors.mqtt5' ? true : undefined), 20_000, 'the status to name it');
  // Said once, though each of the member's clients is refused.
  assert.deepEqual(said(), ['upperstack-partition.errors.mqtt5']);
  assert.equal(node.status.args.at(-1)?.[0].fill, 'red');
  const health = (await checkHealth())['cluster-broker:m1'];
  assert.equal(health?.ok, false);
  assert.equal(health?.detail, 'upperstack-partition.errors.mqtt5');
  // Refused for good: unlike a refused login, no client tries again (each would get the same answer).
  const tried = connections;
  await new Promise((r) => setTimeout(r, 2500));
  assert.equal(connections, tried, 'no retry after the version refusal');
});
