/**
 * Once the flows have started, the runtime drops the package manifests
 * Node-RED's registry left in the module cache (scripts/package-manifests.ts);
 * a later require of one must read the file again, and modules must stay.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { forgetPackageManifests } from '../../scripts/package-manifests';

test('manifests leave the module cache and their parents\' children; modules stay; a new require reads the file', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'manifests-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const manifest = join(dir, 'package.json');
  const reader = join(dir, 'reader.js');
  writeFileSync(manifest, JSON.stringify({ name: 'probe', version: '1.0.0' }));
  writeFileSync(reader, "module.exports = () => require('./package.json').version;");
  const version = createRequire(__filename)(reader) as () => string;
  assert.equal(version(), '1.0.0');
  assert.ok(require.cache[manifest], 'the manifest is cached once required');
  assert.ok(require.cache[reader]?.children.some((c) => c.id === manifest));

  const forgotten = forgetPackageManifests();
  assert.ok(forgotten >= 1, `${forgotten} forgotten`);
  assert.equal(require.cache[manifest], undefined);
  assert.ok(require.cache[reader], 'the module that read it stays cached');
  assert.equal(require.cache[reader]?.children.some((c) => c.id === manifest), false);

  writeFileSync(manifest, JSON.stringify({ name: 'probe', version: '2.0.0' }));
  assert.equal(version(), '2.0.0', 'read again after being forgotten');
  assert.equal(forgetPackageManifests(), 1, 'only the one read since');
  assert.equal(forgetPackageManifests(), 0);
});

test('only files named package.json go', () => {
  const mod = (id: string, children: NodeJS.Module[] = []): NodeJS.Module => ({ id, children } as unknown as NodeJS.Module);
  const pkg = mod('/x/node_modules/a/package.json');
  const lookalike = mod('/x/node_modules/a/my-package.json');
  const parent = mod('/x/registry.js', [pkg, lookalike]);
  const cache: NodeJS.Dict<NodeJS.Module> = { [pkg.id]: pkg, [lookalike.id]: lookalike, [parent.id]: parent };
  assert.equal(forgetPackageManifests(cache), 1);
  assert.deepEqual(Object.keys(cache).sort(), [lookalike.id, parent.id].sort());
  assert.deepEqual(parent.children, [lookalike]);
});
