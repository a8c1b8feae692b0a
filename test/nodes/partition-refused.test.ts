/**
 * upperstack-partition on a cluster broker that refuses the member's login (Debian's mosquitto, its password
 * file holding another password): the member says so (a red status and a warning naming the refusal, /health
 * failing) and keeps trying. Once the broker's admin fixes the password file and reloads mosquitto (SIGHUP), the
 * member gets in by itself, without a redeploy: it claims the partitions and reads what is published for them.
 */
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import helper from 'node-red-node-test-helper';
import type { Node } from 'node-red';
import { partitionOf } from '../../nodes/lib/cluster/partitions';
import { checkHealth } from '../../nodes/shared/runtime';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto';
import { eventually } from '../helpers/runtime';
import { removeTempDir, tempDir } from '../helpers/temp';

/* eslint-disable @typescript-eslint/no-require-imports */
const partitionNode = require('../../nodes/partition/partition');
helper.init(require.resolve('node-red'));

const PARTITIONS = 4;
const PASSWORD = 'member-new-Pw';
const dataDir = tempDir('us-partition-refused-');
let mosq: Mosquitto;

before(async () => {
  // The broker still has the member's old password.
  mosq = await startMosquitto({ users: { member: 'member-old-Pw' } });
  helper.settings({ upperstack: { dataDir } });
  await helper.startServer();
});
afterEach(async () => {
  await helper.unload();
});
after(async () => {
  await helper.stopServer();
  await mosq?.stop();
  removeTempDir(dataDir);
});

type LogEntry = { level: number; id?: string; msg?: unknown };
const logged = () => {
  const log = (helper as unknown as { log(): { WARN: number; args: [LogEntry][] } }).log();
  return { WARN: log.WARN, entries: log.args.map(([m]) => m).filter((m) => m.id === 'p') };
};

test('a member whose login the broker refuses gets in once the password file is fixed, without a redeploy', async () => {
  await helper.load(partitionNode, [
    { id: 'p', type: 'upperstack-partition', broker: `mqtt://member:${PASSWORD}@127.0.0.1:${mosq.port}`, group: 'rf', member: 'm1', partitions: PARTITIONS, leaseSeconds: 30, prefix: 'us/rf', checkpointSeconds: 60, connection: '', configVersion: 2, wires: [['h']] },
    { id: 'h', type: 'helper' },
  ]);
  const node = helper.getNode('p') as Node & { receive(msg: object): void; status: { args: Array<[{ fill?: string; text?: string }]> } };
  const lastStatus = () => node.status.args.at(-1)?.[0];
  // The test runtime has no message catalogue: texts are the message keys.
  await eventually(async () => (lastStatus()?.text === 'upperstack-partition.errors.refused' ? true : undefined), 20_000, 'the status to name the refusal');
  assert.equal(lastStatus()?.fill, 'red');
  const health = (await checkHealth())['cluster-broker:m1'];
  assert.equal(health?.ok, false);
  assert.equal(health?.detail, 'upperstack-partition.errors.refused');
  // Every client is refused at every attempt; the warning is given once.
  await new Promise((r) => setTimeout(r, 2500));
  const { WARN, entries } = logged();
  assert.deepEqual(
    entries.filter((m) => m.level === WARN).map((m) => String(m.msg)),
    ['upperstack-partition.errors.refused'],
  );

  // The broker's admin sets the member's password and reloads mosquitto.
  await mosq.setPassword('member', PASSWORD);

  await eventually(async () => (lastStatus()?.text === 'upperstack-partition.status.owned' ? true : undefined), 30_000, 'the member in, owning partitions');
  assert.equal(lastStatus()?.fill, 'green');
  assert.equal((await checkHealth())['cluster-broker:m1']?.ok, true);
  // Readings of every partition go through the broker and come back to this member, their owner.
  const seen = new Set<number>();
  (helper.getNode('h') as Node).on('input', (msg: object) => seen.add((msg as { partition: number }).partition));
  const devices = Array.from({ length: PARTITIONS }, (_, p) => {
    for (let i = 0; ; i++) if (partitionOf(`d${i}`, PARTITIONS) === p) return `d${i}`;
  });
  await eventually(async () => {
    node.receive({ payload: devices.map((device) => ({ device, ts: 1_767_225_600_000, fields: { v: 1 }, tags: {} })) });
    await new Promise((r) => setTimeout(r, 300));
    return seen.size === PARTITIONS ? true : undefined;
  }, 30_000, 'every partition read');
});

test('a member closed while the broker refuses it closes at once and reports nothing', async () => {
  await mosq.setPassword('member', 'member-other-Pw');
  await helper.load(partitionNode, [
    { id: 'p', type: 'upperstack-partition', broker: `mqtt://member:${PASSWORD}@127.0.0.1:${mosq.port}`, group: 'rf2', member: 'm1', partitions: PARTITIONS, leaseSeconds: 30, prefix: 'us/rf2', checkpointSeconds: 60, connection: '', configVersion: 2, wires: [] },
  ]);
  const node = helper.getNode('p') as Node & { status: { args: Array<[{ text?: string }]> } };
  await eventually(async () => (node.status.args.at(-1)?.[0].text === 'upperstack-partition.errors.refused' ? true : undefined), 20_000, 'the refusal');
  const errors: string[] = [];
  node.error = (m: unknown) => void errors.push(String(m));
  await helper.unload();
  assert.deepEqual(errors, []);
  assert.equal((await checkHealth())['cluster-broker:m1'], undefined, 'its /health check gone with it');
});
