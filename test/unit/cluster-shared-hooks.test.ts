/**
 * The hooks that let a cluster member apply rules and device records decided
 * on another member (nodes/lib/cluster/shared.ts): the rule store and the
 * device registry take them like local changes (saved, told to listeners,
 * sessions of a revoked device ended), and refuse what is not a rule or a
 * device record.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RuleStore, type RuleChange } from '../../nodes/lib/rules/store';
import { DeviceRegistry, checkDeviceRecord, type DeviceChange } from '../../nodes/lib/devices/registry';
import { MemoryBackend } from '../../nodes/lib/devices/types';
import { docHash } from '../../nodes/lib/cluster/shared';
import { tempDir } from '../helpers/temp';

const who = { actor: 'cluster member b', via: 'cluster' };
const HOT = { id: 'hot', name: 'Too hot', devices: { all: true }, when: { field: 'temperature', op: 'above', value: 50 }, severity: 'warning' };

test('a rule decided elsewhere is saved, audited and told to listeners; a delete too; a wrong one is refused', () => {
  const dir = tempDir('us-shared-rules-');
  const store = new RuleStore(dir);
  const seen: RuleChange[] = [];
  store.onChange((c) => seen.push(c));
  store.applyShared('hot', HOT, who);
  assert.equal(store.get('hot').name, 'Too hot');
  assert.equal(new RuleStore(dir).get('hot').name, 'Too hot', 'on disk');
  assert.deepEqual(seen.map((c) => c.type), ['upsert']);
  assert.throws(() => store.applyShared('other', HOT, who), /differs/);
  assert.throws(() => store.applyShared('hot', { ...HOT, severity: 'apocalyptic' }, who), { name: 'RuleInvalidError' });
  store.applyShared('hot', undefined, who);
  assert.equal(store.has('hot'), false);
  store.applyShared('hot', undefined, who);
  assert.deepEqual(seen.map((c) => c.type), ['upsert', 'delete'], 'deleting what is gone tells nobody');
  const audit = readFileSync(join(dir, 'audit.jsonl'), 'utf8');
  assert.match(audit, /"via":"cluster".*"action":"rule.create"|"action":"rule.create".*"via":"cluster"/);
});

test('a device record decided elsewhere: added, disabled, rotated, removed, each told as such; a bad one refused', async () => {
  const origin = new DeviceRegistry(new MemoryBackend(), { sealKey: randomBytes(32) });
  const other = new DeviceRegistry(new MemoryBackend(), { sealKey: randomBytes(32) });
  const changes: DeviceChange[] = [];
  other.onChange((_id, c) => changes.push(c));
  const { secret } = await origin.add({ id: 'meter-1', tags: { site: 'north' } });
  const rec = () => checkDeviceRecord('meter-1', JSON.parse(JSON.stringify(origin.get('meter-1'))));
  await other.applyShared('meter-1', rec());
  assert.equal(await other.check('meter-1', secret), 'ok');
  assert.equal(docHash(other.get('meter-1')), docHash(origin.get('meter-1')));
  await origin.update('meter-1', { enabled: false });
  await other.applyShared('meter-1', rec());
  assert.equal(await other.check('meter-1', secret), 'disabled');
  await origin.update('meter-1', { enabled: true });
  await other.applyShared('meter-1', rec());
  const rotated = await origin.rotate('meter-1');
  await other.applyShared('meter-1', rec());
  assert.equal(await other.check('meter-1', secret), 'wrong', 'a remembered success lapses with the change');
  assert.equal(await other.check('meter-1', rotated.secret), 'ok');
  await other.applyShared('meter-1', undefined);
  assert.equal(await other.check('meter-1', rotated.secret), 'unknown');
  assert.deepEqual(changes, ['added', 'disabled', 'enabled', 'rotated', 'removed']);
  assert.throws(() => checkDeviceRecord('meter-2', JSON.parse(JSON.stringify(origin.get('meter-1')))), { name: 'BadDeviceIdError' });
  assert.throws(() => checkDeviceRecord('meter-1', { ...JSON.parse(JSON.stringify(origin.get('meter-1'))), secretHash: 'plain-secret' }), /scrypt/);
});
