/**
 * What `npm install node-red-contrib-upperstack` puts in a user's Node-RED folder (npm pack's file
 * list): every file package.json names for Node-RED (nodes, plugins, their editor HTML), the flow packs
 * under examples/, and not the compiled tests and benchmarks, which only a checkout runs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../nodes/lib/paths';

const root = packageRoot();

test('the published package holds what Node-RED loads and the packs, and no compiled tests or benchmarks', () => {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const out = execFileSync(npm, ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const files = new Set((JSON.parse(out) as Array<{ files: Array<{ path: string }> }>)[0].files.map((f) => f.path));
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { main: string; bin: Record<string, string>; 'node-red': { nodes: Record<string, string>; plugins: Record<string, string> } };
  const loaded = [...Object.values(pkg['node-red'].nodes), ...Object.values(pkg['node-red'].plugins), pkg.main, ...Object.values(pkg.bin)];
  for (const file of loaded) {
    assert.ok(existsSync(join(root, file)), `package.json names ${file}, which the build did not make`);
    assert.ok(files.has(file), `${file} is not in the package`);
  }
  for (const file of Object.values(pkg['node-red'].nodes)) {
    const html = file.replace(/\.js$/, '.html');
    if (existsSync(join(root, html))) assert.ok(files.has(html), `${html} is not in the package`);
  }
  assert.ok(files.has('examples/pipeline.json'));
  const extra = [...files].filter((f) => f.startsWith('dist/test/') || f.startsWith('dist/bench/'));
  assert.deepEqual(extra.slice(0, 5), [], `${extra.length} compiled test/bench files in the package`);
});

test('every path in the package that README and docs name is in the published package', () => {
  // "in a package install the packs are in node_modules/node-red-contrib-upperstack/<folder>/": a folder only a
  // checkout has (flows/) sends users looking for files npm never installed.
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const out = execFileSync(npm, ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const files = [...(JSON.parse(out) as Array<{ files: Array<{ path: string }> }>)[0].files.map((f) => f.path)];
  const docs = [join(root, 'README.md'), ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => join(root, 'docs', f))];
  const named = docs.flatMap((d) => [...readFileSync(d, 'utf8').matchAll(/node_modules\/node-red-contrib-upperstack\/([\w./-]+)/g)].map((m) => m[1].replace(/\.$/, '')));
  assert.ok(named.length > 0);
  for (const path of named) {
    const found = path.endsWith('/') ? files.some((f) => f.startsWith(path)) : files.includes(path);
    assert.ok(found, `node_modules/node-red-contrib-upperstack/${path} is named in the docs but not in the package`);
  }
});

test('npm\'s prepare keeps a built dist/ (npx upperstack beside a running runtime); only packing builds it afresh', () => {
  // npx runs the checkout's prepare the first time `npx upperstack ...` is used in it: it must not delete
  // the dist/ that `npm start` is running from, nor rebuild what is already built.
  const { scripts } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  assert.equal(scripts.prepare, 'node scripts/build.mjs --if-stale');
  assert.equal(scripts.prepack, 'node scripts/build.mjs --clean');
});

test('node-red is no dependency of the package: a user\'s Node-RED is the one it runs in, a checkout gets it for npm start and the tests', () => {
  // As a dependency, `npm install node-red-contrib-upperstack` in a user directory installed a second, whole
  // Node-RED (4.1, ~280 packages, its node-red command in node_modules/.bin) into the user's Node-RED.
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
    devDependencies: Record<string, string>;
    peerDependencies?: Record<string, string>;
    peerDependenciesMeta?: Record<string, { optional?: boolean }>;
    'node-red': { version: string };
  };
  assert.equal(pkg.dependencies['node-red'], undefined, 'node-red in dependencies');
  assert.ok(pkg.devDependencies['node-red'], 'npm ci in a checkout installs node-red (npm start, the tests)');
  // An optional peer: npm neither installs it nor warns when the user's Node-RED is not in the same folder.
  assert.equal(pkg.peerDependenciesMeta?.['node-red']?.optional, true);
  const peer = pkg.peerDependencies?.['node-red'];
  assert.ok(peer, 'node-red is a peer');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const semver = require('semver') as { satisfies(v: string, r: string): boolean; minVersion(r: string): { version: string } | null };
  for (const v of ['4.1.0', '4.1.15', '5.0.0', '5.9.9']) assert.ok(semver.satisfies(v, peer), `${v} in ${peer}`);
  assert.ok(!semver.satisfies('4.0.9', peer) && !semver.satisfies('6.0.0', peer), peer);
  assert.equal(semver.minVersion(peer)?.version, semver.minVersion(pkg['node-red'].version)?.version, 'the peer range starts where "node-red".version does');
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dependencies?: Record<string, string>; devDependencies?: Record<string, string>; dev?: boolean }> };
  assert.equal(lock.packages[''].dependencies?.['node-red'], undefined, 'package-lock.json agrees with package.json');
  assert.equal(lock.packages['node_modules/node-red'].dev, true);
});
