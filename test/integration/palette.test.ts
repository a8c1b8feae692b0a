/**
 * The palette of a checkout's `npm start`: Upperstack's nodes and Dashboard 2
 * are there, and node-red-contrib-influxdb (a devDependency, for the bench's
 * stock flow) is not, though it sits in the checkout's node_modules where
 * Node-RED looks for modules.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { startRuntimeAsAdmin, type Runtime } from '../helpers/runtime';
import { tempDir } from '../helpers/temp';

const ROOT = join(__dirname, '..', '..', '..');

let rt: Runtime;
let token = '';
before(async () => {
  ({ rt, token } = await startRuntimeAsAdmin());
});
after(async () => {
  await rt?.stop();
});

test('the palette lists the runtime\'s nodes and not the bench\'s node-red-contrib-influxdb', async () => {
  assert.ok(existsSync(join(ROOT, 'node_modules', 'node-red-contrib-influxdb', 'package.json')), 'the devDependency is installed in this checkout');
  const res = await fetch(`${rt.url}/nodes`, { headers: { authorization: `Bearer ${token}`, accept: 'application/json' } });
  assert.equal(res.status, 200, await res.clone().text());
  const sets = (await res.json()) as Array<{ id: string; module: string; types: string[] }>;
  const modules = new Set(sets.map((s) => s.module));
  assert.ok(modules.has('node-red-contrib-upperstack'), [...modules].join(', '));
  assert.ok(modules.has('@flowfuse/node-red-dashboard'), [...modules].join(', '));
  assert.ok(!modules.has('node-red-contrib-influxdb'), 'node-red-contrib-influxdb is in the palette');
  assert.ok(!sets.some((s) => s.types.includes('influxdb out')));
});

test('a Node-RED module installed in the data folder (how the README adds an e-mail node) is in the palette after a start', async () => {
  // node_modules/<name> in the data folder, as `npm install --prefix <data>` leaves it; a link, so its own dependencies resolve.
  const dataDir = tempDir('us-palette-');
  mkdirSync(join(dataDir, 'node_modules'), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules', 'node-red-contrib-influxdb'), join(dataDir, 'node_modules', 'node-red-contrib-influxdb'), 'dir');
  const { rt: withModule, token: admin } = await startRuntimeAsAdmin({ dataDir });
  try {
    const res = await fetch(`${withModule.url}/nodes`, { headers: { authorization: `Bearer ${admin}`, accept: 'application/json' } });
    const sets = (await res.json()) as Array<{ module: string; types: string[]; enabled: boolean; err?: string }>;
    const added = sets.find((s) => s.module === 'node-red-contrib-influxdb' && s.types.includes('influxdb out'));
    assert.ok(added, sets.map((s) => s.module).join(', '));
    assert.equal(added.err, undefined);
    assert.equal(added.enabled, true);
  } finally {
    await withModule.stop();
  }
});
