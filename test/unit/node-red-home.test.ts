/**
 * The package brings no Node-RED of its own: the commands that need one find it beside the package (a
 * checkout, the image) or as the `node-red` command on PATH (a user's own Node-RED), and say in one line
 * what to install when there is none.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NodeRedMissingError, nodeRedPackage } from '../../scripts/node-red-home';
import { tempDir } from '../helpers/temp';

test('Node-RED\'s packages beside the package are found first', () => {
  const root = join(__dirname, '..', '..', '..');
  assert.equal(realpathSync(nodeRedPackage('@node-red/nodes', 'checking node types', { PATH: '' })), realpathSync(join(root, 'node_modules', '@node-red', 'nodes')));
});

test('otherwise the node-red command on PATH is followed to its package (npm links it to red.js)', () => {
  const dir = tempDir('us-nr-home-');
  // A global install: <prefix>/lib/node_modules/node-red with its own node_modules, <prefix>/bin/node-red a link.
  const pkg = join(dir, 'lib', 'node_modules', 'node-red');
  const own = join(pkg, 'node_modules', '@node-red', 'upperstack-probe');
  mkdirSync(own, { recursive: true });
  writeFileSync(join(pkg, 'package.json'), '{"name":"node-red","version":"4.1.15"}');
  writeFileSync(join(pkg, 'red.js'), '');
  writeFileSync(join(own, 'package.json'), '{"name":"@node-red/upperstack-probe","version":"1.0.0"}');
  mkdirSync(join(dir, 'bin'));
  symlinkSync(join(pkg, 'red.js'), join(dir, 'bin', 'node-red'));
  assert.equal(realpathSync(nodeRedPackage('@node-red/upperstack-probe', 'checking node types', { PATH: join(dir, 'bin') })), realpathSync(own));
});

test('with no Node-RED at all, one line says what needs it and what to install', () => {
  assert.throws(
    () => nodeRedPackage('@node-red/upperstack-probe', 'checking node types', { PATH: '' }),
    (err: Error) => {
      assert.ok(err instanceof NodeRedMissingError);
      assert.equal(err.message.split('\n').length, 1);
      assert.match(err.message, /^checking node types needs Node-RED, .*install Node-RED \(npm install -g node-red\)/);
      return true;
    },
  );
});
