/**
 * The runtime as the image (and the npm package) installs it: the folders the Dockerfile's runtime stage
 * copies, without the TypeScript sources (no nodes/, scripts/, test/). A check that found this package's
 * node types by reading the sources passed in a checkout and refused every pack once installed, so a
 * container started with UPPERSTACK_PACKS exited at once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, symlinkSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { tempDir } from '../helpers/temp';
import { imageModules } from '../helpers/image-modules';

const root = join(__dirname, '..', '..', '..');
const run = promisify(execFile);

/**
 * A copy of what the Dockerfile's runtime stage copies from the build stage, node_modules linked: the
 * checkout's whole, or (`pruned`) only the packages the build stage keeps (image-modules.ts, from the
 * Dockerfile's text and the lock), each linked on its own.
 */
function installed(pruned = false): string {
  const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
  const runtime = dockerfile.split(/^FROM /m)[2];
  const dir = tempDir('us-installed-');
  for (const m of runtime.matchAll(/^COPY --from=build \/app\/(\S+) \.\/(\S*)\s*$/gm)) {
    const what = m[1];
    if (what === 'node_modules') continue;
    cpSync(join(root, what), join(dir, what), { recursive: true, filter: (src) => !/[/\\]dist[/\\](test|bench)([/\\]|$)/.test(src) });
  }
  if (!pruned) {
    symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir');
    return dir;
  }
  for (const path of imageModules(root).paths) {
    if (path.split('node_modules/').length !== 2) continue;
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    symlinkSync(join(root, path), join(dir, path), 'dir');
  }
  return dir;
}

test('installed without its sources, every shipped pack validates and the packs that go beside the default one are taken at first start', async () => {
  const dir = installed();
  assert.ok(!existsSync(join(dir, 'nodes')) && existsSync(join(dir, 'dist', 'nodes')), 'the layout of the image');
  const packs = readdirSync(join(dir, 'examples')).filter((f) => f.endsWith('.json'));
  assert.ok(packs.length >= 8, packs.join(', '));
  for (const f of packs) {
    const r = await run(process.execPath, [join(dir, 'dist', 'scripts', 'cli.js'), 'flows', 'validate', join(dir, 'examples', f)], { cwd: dir }).catch((err: { stdout: string; stderr: string; code: number }) => err);
    assert.equal('code' in r ? r.code : 0, 0, `${f}: ${r.stdout}${r.stderr}`);
  }
  // What npm start does at a first start with UPPERSTACK_PACKS (the compose file's default names influx-grafana).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { startingFlows } = require(join(dir, 'dist', 'scripts', 'flows.js')) as typeof import('../../scripts/flows');
  const flows = startingFlows(dir, 'influx-grafana,alerts');
  const types = new Set(flows.map((n) => n.type));
  for (const t of ['upperstack-mqtt-in', 'upperstack-store', 'upperstack-alert']) assert.ok(types.has(t), t);
});

test('the image\'s pruned node_modules still holds the Node-RED it runs, and its CLI checks packs with no node-red command on PATH', async () => {
  // node-red is a devDependency: a build stage that prunes it and does not put it back gives an image whose
  // start fails. Worked out from the Dockerfile and the lock, not by running npm (that needs the registry).
  const dir = installed(true);
  assert.ok(!existsSync(join(dir, 'node_modules', 'eslint')), 'development packages are pruned');
  const resolved = (await run(process.execPath, ['-p', "require.resolve('node-red')"], { cwd: join(dir, 'dist', 'scripts') }).catch((err: { stderr: string }) => ({ stdout: err.stderr }))).stdout.trim();
  assert.equal(resolved, join(realpathSync(join(root, 'node_modules', 'node-red')), 'lib', 'red.js'), 'dist/scripts/start.js finds node-red in the image');
  assert.ok(existsSync(join(dir, 'node_modules', 'node-red')));
  // The image's PATH has no node-red command: the CLI finds Node-RED's core nodes beside the package.
  const path = (process.env.PATH ?? '').split(delimiter).filter((d) => !existsSync(join(d, 'node-red'))).join(delimiter);
  const r = await run(process.execPath, [join(dir, 'dist', 'scripts', 'cli.js'), 'flows', 'validate', join(dir, 'examples', 'pipeline.json')], { cwd: dir, env: { PATH: path } }).catch((err: { stdout: string; stderr: string; code: number }) => err);
  assert.equal('code' in r ? r.code : 0, 0, `${r.stdout}${r.stderr}`);
});
