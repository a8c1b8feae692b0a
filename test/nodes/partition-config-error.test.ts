/**
 * upperstack-partition with a broker URL it cannot use: the error it logs (and shows as its status) quotes the
 * value so the user can find it, but not a password written into it (a login belongs in the MQTT connection).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import helper from 'node-red-node-test-helper';
import { catalogTranslator, translating, useTestRuntime } from '../helpers/node-red';

/* eslint-disable @typescript-eslint/no-require-imports */
const partitionNode = require('../../nodes/partition/partition');
helper.init(require.resolve('node-red'));

useTestRuntime('us-partition-config-error-');

test('a broker URL with a wrong scheme and a login is refused naming the host, without the password', async () => {
  await helper.load([translating(catalogTranslator(['partition'])), partitionNode], [
    { id: 'p', type: 'upperstack-partition', broker: 'mqt://member:S3cret-pw@broker.example:1883', group: 'g', member: 'm1', partitions: 4, leaseSeconds: 30, prefix: 'us/g', checkpointSeconds: 60, connection: '', configVersion: 2, wires: [] },
  ]);
  const log = (helper as unknown as { log(): { args: [{ level: number; id?: string; msg?: unknown }][] } }).log();
  const errors = log.args.map(([m]) => m).filter((m) => m.id === 'p' && m.level === 20).map((m) => String(m.msg));
  assert.equal(errors.length, 1, 'one error logged');
  assert.match(errors[0]!, /needs a broker URL \(got "[^"]*@broker\.example:1883"\)/);
  assert.doesNotMatch(errors[0]!, /S3cret-pw/);
});
