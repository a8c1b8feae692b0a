/**
 * upperstack-partition closed while its start waits on a broker that let it in and then stopped answering:
 * the member's record, the first thing its ownership client publishes, never gets its PUBACK. The close does
 * not wait for that start (MQTT.js never settles the publish once the client is ended), so a redeploy is not
 * held until Node-RED gives up on the close (15 s, "Close timed out").
 *
 * Between the node and Debian's mosquitto sits a relay that passes every packet but that one.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import helper from 'node-red-node-test-helper';
import * as mqttPacket from 'mqtt-packet';
import type { Node } from 'node-red';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto';
import { eventually } from '../helpers/runtime';
import { removeTempDir, tempDir } from '../helpers/temp';
import { startBeside, stopBeside } from '../helpers/node-tcp';

/* eslint-disable @typescript-eslint/no-require-imports */
const partitionNode = require('../../nodes/partition/partition');
helper.init(require.resolve('node-red'));

const dataDir = tempDir('us-partition-close-start-');
let mosq: Mosquitto;
let relay: Server;
let port = 0;
const sockets = new Set<Socket>();
/** The member records the broker never got. */
let held = 0;

before(async () => {
  mosq = await startMosquitto();
  relay = createServer((client) => {
    const broker = connect(mosq.port, '127.0.0.1');
    sockets.add(client);
    sockets.add(broker);
    const parser = mqttPacket.parser({ protocolVersion: 5 });
    let clientId = '';
    parser.on('packet', (p) => {
      if (p.cmd === 'connect') clientId = p.clientId;
      if (p.cmd === 'publish' && clientId.endsWith('-own') && p.topic.includes('/members/')) {
        held++;
        return;
      }
      broker.write(mqttPacket.generate(p, { protocolVersion: 5 }));
    });
    client.on('data', (d: Buffer) => parser.parse(d));
    broker.on('data', (d: Buffer) => client.write(d));
    client.on('close', () => broker.destroy());
    broker.on('close', () => client.destroy());
    client.on('error', () => undefined);
    broker.on('error', () => undefined);
  });
  port = await startBeside(relay, { upperstack: { dataDir } });
});
after(async () => {
  await stopBeside(relay, sockets);
  await mosq?.stop();
  removeTempDir(dataDir);
});

test('a member whose start waits on an unanswered publish closes without timing out', async () => {
  await helper.load(partitionNode, [
    { id: 'p', type: 'upperstack-partition', broker: `mqtt://127.0.0.1:${port}`, group: 'cs', member: 'm1', partitions: 4, leaseSeconds: 30, prefix: 'us/cs', checkpointSeconds: 60, connection: '', configVersion: 2, wires: [] },
  ]);
  await eventually(async () => (held > 0 ? true : undefined), 20_000, 'the member record held back');
  const node = helper.getNode('p') as Node;
  const errors: string[] = [];
  node.error = (m: unknown) => void errors.push(String(m));
  // Node-RED reports a close that has not called done after 15 s (nodeCloseTimeout) as "Close timed out".
  await helper.unload();
  assert.deepEqual(errors, []);
});
