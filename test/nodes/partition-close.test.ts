/**
 * upperstack-partition closing while the cluster broker has stopped answering
 * on connections still open (a half-open TCP connection, an overloaded
 * broker): the close stops waiting and drops the connections, so a redeploy
 * is not held until Node-RED gives up on the close (15 s), leaving them open.
 *
 * Between the node and Debian's mosquitto sits a small TCP relay. Once told to
 * mute a client (by its MQTT client id), it passes nothing more either way and
 * never closes its side: no PUBACK, no answer to DISCONNECT.
 */
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import helper from 'node-red-node-test-helper';
import * as mqttPacket from 'mqtt-packet';
import type { Node } from 'node-red';
import { partitionOf } from '../../nodes/lib/cluster/partitions';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto';
import { eventually } from '../helpers/runtime';
import { removeTempDir, tempDir } from '../helpers/temp';

/* eslint-disable @typescript-eslint/no-require-imports */
const partitionNode = require('../../nodes/partition/partition');
helper.init(require.resolve('node-red'));

interface Link {
  clientId?: string;
  client: Socket;
  broker: Socket;
}

const dataDir = tempDir('us-partition-close-');
let mosq: Mosquitto;
let relay: Server;
let port = 0;
const links = new Set<Link>();
/** Client ids the broker no longer answers. */
let mute: (clientId: string) => boolean = () => false;
const muted = (l: Link) => l.clientId !== undefined && mute(l.clientId);

before(async () => {
  mosq = await startMosquitto();
  // Half-open allowed: a DISCONNECT and FIN from a muted client get no FIN back, as from a broker that stopped answering.
  relay = createServer({ allowHalfOpen: true }, (client) => {
    const link: Link = { client, broker: connect(mosq.port, '127.0.0.1') };
    links.add(link);
    const parser = mqttPacket.parser({ protocolVersion: 5 });
    parser.on('packet', (p) => {
      if (p.cmd === 'connect') link.clientId = p.clientId;
    });
    client.on('data', (d: Buffer) => {
      if (link.clientId === undefined) parser.parse(d);
      if (!muted(link)) link.broker.write(d);
    });
    link.broker.on('data', (d: Buffer) => {
      if (!muted(link)) client.write(d);
    });
    client.on('end', () => {
      if (!muted(link)) link.broker.end();
    });
    link.broker.on('close', () => {
      if (!muted(link)) client.destroy();
    });
    // A client dropping a half-closed connection sends nothing more: the relay's side stays until afterEach.
    client.on('close', () => {
      links.delete(link);
      link.broker.destroy();
    });
    client.on('error', () => undefined);
    link.broker.on('error', () => undefined);
  });
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', () => r()));
  port = (relay.address() as { port: number }).port;
  helper.settings({ upperstack: { dataDir } });
  await helper.startServer();
});
afterEach(async () => {
  await helper.unload();
  mute = () => false;
  for (const l of links) l.client.destroy();
});
after(async () => {
  await helper.stopServer();
  await new Promise<void>((r) => relay.close(() => r()));
  await mosq?.stop();
  removeTempDir(dataDir);
});

const PARTITIONS = 4;

/** A partition node of its own group, reading every partition (a reading of each comes out). */
async function loadMember(group: string): Promise<void> {
  await helper.load(partitionNode, [
    { id: 'p', type: 'upperstack-partition', broker: `mqtt://127.0.0.1:${port}`, group, member: 'm1', partitions: PARTITIONS, leaseSeconds: 30, prefix: `us/${group}`, checkpointSeconds: 60, connection: '', configVersion: 2, wires: [['h']] },
    { id: 'h', type: 'helper' },
  ]);
  const seen = new Set<number>();
  (helper.getNode('h') as Node).on('input', (msg: object) => seen.add((msg as { partition: number }).partition));
  const devices = Array.from({ length: PARTITIONS }, (_, p) => {
    for (let i = 0; ; i++) if (partitionOf(`d${i}`, PARTITIONS) === p) return `d${i}`;
  });
  const node = helper.getNode('p') as Node & { receive(msg: object): void };
  await eventually(async () => {
    node.receive({ payload: devices.map((device) => ({ device, ts: 1_767_225_600_000, fields: { v: 1 }, tags: {} })) });
    await new Promise((r) => setTimeout(r, 300));
    return seen.size === PARTITIONS ? true : undefined;
  }, 20_000, 'every partition read');
}

/**
 * Closes the flow; what Node-RED reported about the partition node's close. It gives up on a close
 * after 15 s (nodeCloseTimeout) and reports "Close timed out", leaving the node's connections open.
 */
async function closeErrors(): Promise<string[]> {
  const node = helper.getNode('p') as Node;
  const errors: string[] = [];
  node.error = (m: unknown) => void errors.push(String(m));
  await helper.unload();
  return errors;
}

test('the analytics clients (partition feeds, readings and checkpoints) are dropped when the broker stops answering', async () => {
  await loadMember('pc1');
  mute = (id) => /^upperstack-pc1-(p\d+|m1-part)$/.test(id);
  assert.ok([...links].filter(muted).length >= PARTITIONS + 1, 'the feeds and the readings client are connected');
  assert.deepEqual(await closeErrors(), []);
});

test('the shared rules, devices and registry key clients are dropped when the broker stops answering', async () => {
  await loadMember('pc2');
  mute = (id) => /^upperstack-pc2-m1-(rules|devices|registry-key)$/.test(id);
  assert.equal([...links].filter(muted).length, 3, 'the three shared-document clients are connected');
  assert.deepEqual(await closeErrors(), []);
});

test('every client of the member is dropped when the broker stops answering them all, within one close', async () => {
  await loadMember('pc3');
  mute = (id) => id.startsWith('upperstack-pc3-');
  assert.ok([...links].filter(muted).length >= PARTITIONS + 5, 'the member is connected');
  assert.deepEqual(await closeErrors(), []);
});

test('with the broker stopped the member says it is unreachable, closes promptly, and reads again once the broker is back', async () => {
  await loadMember('pc4');
  const node = helper.getNode('p') as Node & { receive(msg: object): void };
  const texts: string[] = [];
  const status = node.status.bind(node);
  node.status = ((s: { text?: string }) => {
    texts.push(String(s.text ?? ''));
    return status(s);
  }) as typeof node.status;
  const said = (re: RegExp) => async () => (texts.length && re.test(texts[texts.length - 1]) ? true : undefined);
  await mosq.down();
  await eventually(said(/unreachable/), 30_000, 'the status says the broker is unreachable');
  await mosq.up();
  // The status's text is a message key here (no locale in the test runtime): unreachable, then owned again.
  await eventually(said(/owned/), 60_000, 'the status no longer says the broker is unreachable');
  // Readings flow again through the partitions' sessions (loadMember's check, on the node already running).
  const seen = new Set<number>();
  (helper.getNode('h') as Node).on('input', (msg: object) => seen.add((msg as { partition: number }).partition));
  const devices = Array.from({ length: PARTITIONS }, (_, p) => {
    for (let i = 0; ; i++) if (partitionOf(`d${i}`, PARTITIONS) === p) return `d${i}`;
  });
  await eventually(async () => {
    node.receive({ payload: devices.map((device) => ({ device, ts: 1_767_225_600_001, fields: { v: 2 }, tags: {} })) });
    await new Promise((r) => setTimeout(r, 300));
    return seen.size === PARTITIONS ? true : undefined;
  }, 60_000, 'every partition read after the broker came back');
  // Down again, and a reading waiting on it: the close neither times out nor reports anything.
  await mosq.down();
  node.receive({ payload: { device: devices[0], ts: 1_767_225_600_002, fields: { v: 3 }, tags: {} } });
  assert.deepEqual(await closeErrors(), []);
  await mosq.up();
});
