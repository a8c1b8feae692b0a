/**
 * Every Upperstack node of every shipped pack (flows/, copied to examples/ by the build) is saved as the
 * editor would save it today: at its node's current config version, with nothing its migrations would
 * still fill in or change, with every option of its template, and with its (empty) credentials. A pack
 * behind that makes the editor fill the gaps when a node is only opened and closed: the node is marked
 * changed, and an option the dialog shows empty could even be saved invalid.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { migrate, type Migration } from '../../nodes/shared/config';
import { clusterOptionsFromEnv } from '../../nodes/lib/cluster/config';
import { clusterPack } from '../../nodes/lib/cluster/pack';
import { DEFAULT_RECEIVE_MAXIMUM } from '../../nodes/mqtt-connection/options';
import { defs, root } from '../helpers/editor-templates';

type FlowNode = Record<string, unknown> & { id: string; type: string };

/** Each node type's migrations, from the `*Migrations` export of its options.ts. */
function migrationsByType(): Map<string, ReadonlyArray<Migration<unknown>>> {
  const out = new Map<string, ReadonlyArray<Migration<unknown>>>();
  for (const dir of readdirSync(join(root, 'nodes'))) {
    const file = join(root, 'dist', 'nodes', dir, 'options.js');
    if (!existsSync(file)) continue;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require(file) as Record<string, unknown>;
    for (const [name, value] of Object.entries(mod)) {
      if (name.endsWith('Migrations') && Array.isArray(value)) out.set(`upperstack-${dir}`, value as ReadonlyArray<Migration<unknown>>);
    }
  }
  return out;
}

const migrations = migrationsByType();
const packs = readdirSync(join(root, 'flows')).filter((f) => f.endsWith('.json'));

test('every node type has migrations, and its template saves new nodes at the version they lead to', () => {
  for (const [type, def] of defs) {
    const steps = migrations.get(type);
    assert.ok(steps, `${type} has migrations in its options.ts`);
    assert.equal((def.defaults.configVersion as { value?: unknown } | undefined)?.value, steps.length, `${type}: the template's configVersion`);
  }
});

for (const file of packs) {
  test(`${file}: every Upperstack node is current, as opening it in the editor and pressing Done would leave it`, () => {
    const pack = JSON.parse(readFileSync(join(root, 'flows', file), 'utf8')) as FlowNode[];
    const ours = pack.filter((n) => n.type.startsWith('upperstack-'));
    for (const n of ours) {
      const what = `${file} ${n.type} "${String(n.name ?? n.id)}"`;
      const steps = migrations.get(n.type)!;
      assert.equal(n.configVersion, steps.length, `${what}: configVersion`);
      assert.deepEqual(migrate<Record<string, unknown>>(n, steps), n, `${what}: its migrations change nothing`);
      const def = defs.get(n.type)!;
      const missing = Object.keys(def.defaults).filter((prop) => !(prop in n));
      assert.deepEqual(missing, [], `${what}: options of its template it lacks`);
      if ((def as { credentials?: object }).credentials) {
        assert.equal(typeof n.credentials, 'object', `${what}: carries its credentials (empty), so the editor knows it has none`);
      }
    }
  });
}

// A cluster member's first start rewrites the pack (nodes/lib/cluster/pack.ts): the nodes it adds or changes are
// opened in the editor like the rest, so they too are saved as the editor would save them.
test('a cluster member\'s pack: every Upperstack node it adds or changes is current', () => {
  const pack = JSON.parse(readFileSync(join(root, 'flows', 'pipeline.json'), 'utf8')) as FlowNode[];
  const env = { UPPERSTACK_CLUSTER_BROKER: 'mqtt://b:1883', UPPERSTACK_CLUSTER_SINK: 'http://vm:8428', UPPERSTACK_CLUSTER_MEMBER: 'm1' };
  for (const o of [clusterOptionsFromEnv(env)!, clusterOptionsFromEnv({ ...env, UPPERSTACK_CLUSTER_BROKER_USERNAME: 'u', UPPERSTACK_CLUSTER_BROKER_PASSWORD: 'p' })!]) {
    const before = new Map(pack.map((n) => [n.id, JSON.stringify(n)]));
    const changed = (clusterPack(pack, o) as FlowNode[]).filter((n) => n.type.startsWith('upperstack-') && before.get(n.id) !== JSON.stringify(n));
    assert.deepEqual([...new Set(changed.map((n) => n.type))].sort(), ['upperstack-live', 'upperstack-mqtt-connection', 'upperstack-mqtt-in', 'upperstack-partition', 'upperstack-store', 'upperstack-store-config']);
    for (const n of changed) {
      const what = `member pack ${n.type} "${String(n.name ?? n.id)}"`;
      const steps = migrations.get(n.type)!;
      assert.equal(n.configVersion, steps.length, `${what}: configVersion`);
      const { credentials: _kept, ...options } = n;
      const { credentials: _alsoKept, ...migrated } = migrate<Record<string, unknown>>(n, steps);
      assert.deepEqual(migrated, options, `${what}: its migrations change nothing`);
      const missing = Object.keys(defs.get(n.type)!.defaults).filter((prop) => !(prop in n));
      assert.deepEqual(missing, [], `${what}: options of its template it lacks`);
      // The pack cannot import the connection's options (nodes/lib): its copy of the default is checked here.
      if (n.type === 'upperstack-mqtt-connection') assert.equal(n.receiveMaximum, DEFAULT_RECEIVE_MAXIMUM, `${what}: receive maximum`);
    }
  }
});
