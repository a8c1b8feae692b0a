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

/** The README's `docker run` under "## Docker", joined across its continuation lines. */
function readmeDockerRun(): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('\n## Docker\n'));
  const block = /```sh\n([\s\S]*?)```/.exec(section)![1];
  const lines = block.split('\n');
  let i = lines.findIndex((l) => l.startsWith('docker run'));
  let run = lines[i];
  while (run.endsWith('\\')) run = `${run.slice(0, -1).trimEnd()} ${lines[++i].trim()}`;
  return run;
}

test('the README\'s docker run publishes every port the image exposes, mounts its data volume, and says what the image does', () => {
  const run = readmeDockerRun();
  const runtime = stages[1];
  const exposed = /^EXPOSE (.+)$/m.exec(runtime)![1].split(/\s+/).sort();
  // "-p HOST:CONTAINER[/udp]": CoAP devices reach the default pack's CoAP input only if its UDP port is published.
  const published = [...run.matchAll(/-p (\S+)/g)].map((m) => m[1].split(':').pop()!).sort();
  assert.deepEqual(published, exposed);
  const volume = /^VOLUME (\S+)$/m.exec(runtime)![1];
  assert.match(run, new RegExp(`-v \\S+:${volume}(\\s|$)`));
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  assert.match(readme, /The image binds to `0\.0\.0\.0`, runs as a non-root user, keeps everything in `\/data` and checks `\/health`/);
  assert.match(runtime, /UPPERSTACK_BIND=0\.0\.0\.0/);
  assert.match(runtime, /^USER node$/m);
  assert.equal(volume, '/data');
  assert.match(runtime, /^HEALTHCHECK [\s\S]*\/health/m);
  // Bound off loopback the broker takes only registered devices or the shared login the command sets.
  assert.match(run, /-e UPPERSTACK_MQTT_USERNAME=\S+ -e UPPERSTACK_MQTT_PASSWORD=\S+/);
});
