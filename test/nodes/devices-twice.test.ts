/**
 * Two upperstack-devices nodes in one runtime (an import that brings a second registry beside the default
 * pack's): a runtime has one device registry, so one is not used, and its error names the one in use by name
 * and id, as a port taken names the node holding it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import helper from 'node-red-node-test-helper';
import { deployedDevices } from '../../nodes/shared/devices';
import { eventually } from '../helpers/runtime';
import { catalogTranslator, translating, useTestRuntime } from '../helpers/node-red';

/* eslint-disable @typescript-eslint/no-require-imports */
const nodes = [translating(catalogTranslator(['devices'])), require('../../nodes/store-config/store-config'), require('../../nodes/devices/devices')];

helper.init(require.resolve('node-red'));
useTestRuntime('us-devices-twice-');

interface Call {
  thisValue: unknown;
  args: unknown[];
}

/** The helper spies on Node-RED's Node prototype: the errors said by node `id` alone. */
function errorsOf(id: string): string[] {
  const node = helper.getNode(id) as unknown as { error: { getCalls(): Call[] } };
  return node.error.getCalls().filter((c) => c.thisValue === node).map((c) => String(c.args[0]));
}

const devices = (id: string, name: string) => ({ id, type: 'upperstack-devices', name, store: 'cfg', checkDigits: false, requireAuth: false, perDevice: 0, perAddress: 0, configVersion: 2 });

/** Loads a store config and two devices nodes (`[id, name]` each); resolves the ids of those that said an error, once one has. */
async function loadTwo(first: [id: string, name: string], second: [id: string, name: string]): Promise<string[]> {
  const nodesOf = [first, second];
  await helper.load(nodes, [
    { id: 'cfg', type: 'upperstack-store-config', name: 'db', kind: 'duckdb', path: '', batchSize: 100, flushMs: 10, memoryLimit: 128, configVersion: 2 },
    ...nodesOf.map(([id, name]) => devices(id, name)),
  ]);
  return eventually(async () => {
    const ids = nodesOf.map(([id]) => id).filter((id) => errorsOf(id).length > 0);
    return ids.length ? ids : undefined;
  }, 20_000, 'one devices node refused');
}

test('a second devices node is not used, and its error names the one in use by name and id', async () => {
  const refused = await loadTwo(['us_devices', 'device registry'], ['lab_devices', 'lab registry']);
  assert.equal(refused.length, 1, JSON.stringify(refused.map(errorsOf)));
  const loser = refused[0];
  const winner = loser === 'us_devices' ? 'lab_devices' : 'us_devices';
  const winnerName = winner === 'us_devices' ? 'device registry' : 'lab registry';
  assert.deepEqual(errorsOf(loser), [
    `the device registry is already in use by devices node "${winnerName}" (${winner}) in this Node-RED, which has one: this one is not used; delete one of them`,
  ]);
  assert.equal((deployedDevices()?.owner as { id?: string } | undefined)?.id, winner);
});

test('a devices node without a name is named by its type and id', async () => {
  const said = (await loadTwo(['first', ''], ['second', ''])).flatMap(errorsOf);
  assert.equal(said.length, 1);
  assert.match(said[0], /^the device registry is already in use by devices node "upperstack-devices" \((first|second)\) in this Node-RED/);
});
