/**
 * upperstack-partition on a cluster broker that refuses it: each of the member's
 * clients retries every second, and the refusal is logged once, not at every
 * attempt of every client (a broker down for an hour used to flood the log). Never reached since the start,
 * the member's status and /health say the broker is unreachable.
 * The broker is a TCP server that resets each connection once its CONNECT arrives.
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

const dataDir = tempDir('us-partition-warnings-');
let refusing: Server;
let port = 0;
let attempts = 0;
const sockets = new Set<Socket>();

before(async () => {
  // A broker that is there but fails every connection: reset as soon as the CONNECT arrives.
  refusing = createServer((socket) => {
    attempts++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.once('data', () => socket.resetAndDestroy());
  });
  port = await startBeside(refusing, { upperstack: { dataDir } });
});
after(async () => {
  await stopBeside(refusing, sockets);
  removeTempDir(dataDir);
});

test('a refused connection is logged once however often the clients retry', async () => {
  await helper.load(partitionNode, [
    { id: 'p', type: 'upperstack-partition', broker: `mqtt://127.0.0.1:${port}`, group: 'pw', member: 'm1', partitions: 4, leaseSeconds: 30, prefix: 'us/pw', checkpointSeconds: 60, connection: '', configVersion: 2, wires: [] },
  ]);
  // Every client has been refused several times over.
  await eventually(async () => (attempts >= 12 ? true : undefined), 30_000, 'the clients retried');
  // Node-RED's log as the helper records it from the load on, so a warning at the first attempt counts too.
  const log = (helper as unknown as { log(): { WARN: number; args: [{ level: number; id?: string; msg?: unknown }][] } }).log();
  const warnings = log.args.map(([m]) => m).filter((m) => m.id === 'p' && m.level === log.WARN).map((m) => String(m.msg));
  assert.equal(warnings.length, 1, `${attempts} attempts: ${warnings.join(' | ')}`);
  // The test runtime has no message catalogue: the text is the key.
  assert.equal(warnings[0], 'upperstack-partition.errors.broker');
  // Never in since the start, the member is unreachable (not "starting"): its status and /health say so.
  const node = helper.getNode('p') as unknown as { status: { args: Array<[{ fill?: string; text?: string }]> } };
  await eventually(async () => (node.status.args.at(-1)?.[0].text === 'upperstack-partition.status.unreachable' ? true : undefined), 10_000, 'the status to say unreachable');
  const health = (await checkHealth())['cluster-broker:m1'];
  assert.equal(health?.ok, false);
  assert.equal(health?.detail, 'upperstack-partition.status.unreachable');
});
