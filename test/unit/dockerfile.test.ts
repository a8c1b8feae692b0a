/**
 * The image cannot be built on every machine that runs the tests, so this pins
 * what a build would get wrong silently: a folder the package ships (package.json
 * "files") that the runtime stage does not copy is missing at run time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(__dirname, '..', '..', '..');
const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
const stages = dockerfile.split(/^FROM /m).slice(1);
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { files: string[] };
// Entries with "!" leave files out (the compiled tests and benchmarks), they ship no folder.
const shippedDirs = pkg.files.filter((f) => f.endsWith('/') && !f.startsWith('!')).map((f) => f.slice(0, -1));

test('the runtime stage copies every folder the package ships', () => {
  assert.equal(stages.length, 2, 'a build stage and a runtime stage');
  const runtime = stages[1];
  const missing = shippedDirs.filter((d) => !new RegExp(`^COPY --from=build /app/${d} \\./${d}\\s*$`, 'm').test(runtime));
  assert.deepEqual(missing, []);
});

test('the build stage has the source of every shipped folder that is not built', () => {
  const build = stages[0];
  // dist/ is compiled and examples/ is generated from flows/ by the build.
  const sources = shippedDirs.filter((d) => d !== 'dist' && d !== 'examples');
  assert.ok(sources.length > 0);
  const missing = sources.filter((d) => existsSync(join(root, d)) && !new RegExp(`^COPY ${d} \\./${d}\\s*$`, 'm').test(build));
  assert.deepEqual(missing, []);
});
