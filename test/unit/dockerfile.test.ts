/**
 * The image cannot be built on every machine that runs the tests, so this pins
 * what a build would get wrong silently: a folder the package ships (package.json
 * "files") that the runtime stage does not copy is missing at run time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { buildSteps, imageModules } from '../helpers/image-modules';

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
  // The user README names (the node image's `node`, uid 1000) is the one the image runs as.
  assert.match(runtime, /^USER node$/m);
  assert.match(readme, /The image binds to `0\.0\.0\.0`, runs as a non-root user \(`node`, uid 1000: [^)]*\), keeps everything in `\/data` and checks `\/health`/);
  assert.match(runtime, /UPPERSTACK_BIND=0\.0\.0\.0/);
  assert.match(runtime, /^USER node$/m);
  assert.equal(volume, '/data');
  assert.match(runtime, /^HEALTHCHECK [\s\S]*\/health/m);
  // Bound off loopback the broker takes only registered devices or the shared login the command sets.
  assert.match(run, /-e UPPERSTACK_MQTT_USERNAME=\S+ -e UPPERSTACK_MQTT_PASSWORD=\S+/);
});

test('the image leaves out the compiled tests and benchmarks: nothing in it needs them', () => {
  const [build, runtime] = stages;
  // dist/ is copied whole into the runtime stage, so the build stage removes them after compiling.
  assert.match(runtime, /^COPY --from=build \/app\/dist \.\/dist\s*$/m);
  assert.equal(buildSteps(dockerfile).at(-1), 'rm -rf dist/test dist/bench');
  assert.ok(build.includes('rm -rf dist/test dist/bench'));
  assert.doesNotMatch(runtime, /test|bench/);
  // What the image runs (start, health check) is under dist/scripts, nodes and settings, none of which loads them.
  for (const file of ['scripts/start.js', 'scripts/healthcheck.js', 'settings.js']) {
    assert.doesNotMatch(readFileSync(join(root, 'dist', file), 'utf8'), /require\("\.\.?\/(test|bench)\//, file);
  }
});

/** Runs the image's health check against a server; its exit code. */
async function healthCheck(server: Server, env: Record<string, string>, host = '127.0.0.1'): Promise<number> {
  await new Promise<void>((ok) => server.listen(0, host, ok));
  const port = (server.address() as AddressInfo).port;
  try {
    return await new Promise<number>((ok) => {
      execFile(process.execPath, [join(root, 'dist', 'scripts', 'healthcheck.js')], { env: { PATH: process.env.PATH, UPPERSTACK_HTTP_PORT: String(port), ...env } }, (err) =>
        ok(err ? Number((err as { code?: number }).code ?? 1) : 0),
      );
    });
  } finally {
    server.closeAllConnections?.();
    await new Promise((ok) => server.close(ok));
  }
}

test('the health check asks https when UPPERSTACK_HTTPS_KEY is set (self-signed certificate on loopback), http otherwise', async () => {
  const tls = join(root, 'test', 'fixtures', 'tls');
  const key = join(tls, 'selfsigned-key.pem');
  const cert = join(tls, 'selfsigned-cert.pem');
  const health = (status: number) => (req: { url?: string }, res: { statusCode: number; end(b: string): void }) => {
    res.statusCode = req.url === '/health' ? status : 404;
    res.end('{}');
  };
  const https = () => createHttpsServer({ key: readFileSync(key), cert: readFileSync(cert) }, health(200));
  assert.equal(await healthCheck(https(), { UPPERSTACK_HTTPS_KEY: key, UPPERSTACK_HTTPS_CERT: cert }), 0);
  assert.equal(await healthCheck(createHttpServer(health(200)), {}), 0);
  assert.equal(await healthCheck(createHttpServer(health(503)), {}), 1, 'an unhealthy answer');
  // The old check's mistake: plain http against the HTTPS server fails.
  assert.equal(await healthCheck(https(), {}), 1);
  const runtime = stages[1];
  assert.match(runtime, /^\s+CMD \["node", "dist\/scripts\/healthcheck\.js"\]$/m);
});

test('the health check asks the address UPPERSTACK_BIND names, loopback for a wildcard bind', async () => {
  const health = (req: { url?: string }, res: { statusCode: number; end(b: string): void }) => {
    res.statusCode = req.url === '/health' ? 200 : 404;
    res.end('{}');
  };
  // A server bound to one address (here 127.0.0.2, on loopback on Linux) does not answer on 127.0.0.1.
  assert.equal(await healthCheck(createHttpServer(health), { UPPERSTACK_BIND: '127.0.0.2' }, '127.0.0.2'), 0);
  assert.equal(await healthCheck(createHttpServer(health), { UPPERSTACK_BIND: '0.0.0.0' }, '0.0.0.0'), 0);
  assert.equal(await healthCheck(createHttpServer(health), { UPPERSTACK_BIND: '127.0.0.1' }), 0);
});

test('the image keeps node-red, a devDependency the image runs, at the version and with the dependencies package-lock.json gives it', () => {
  // Worked out from the Dockerfile's text and the lock (image-modules.ts), not by running npm: that needs the
  // registry. A build stage whose prune drops node-red and does not put it back fails here.
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
  const lock = (JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version: string; dev?: boolean; dependencies?: Record<string, string> }> }).packages;
  assert.match(readFileSync(join(root, 'dist', 'scripts', 'start.js'), 'utf8'), /require\('node-red'\)/, 'what the image runs loads node-red');
  assert.ok(pkg.devDependencies['node-red'] && !pkg.dependencies['node-red']);
  assert.equal(lock['node_modules/node-red'].dev, true, 'npm prune --omit=dev removes it');
  const { paths, reinstalled } = imageModules(root);
  assert.deepEqual(reinstalled, [`node-red@${lock['node_modules/node-red'].version}`]);
  assert.ok(paths.has('node_modules/node-red'));
  for (const dep of Object.keys(lock['node_modules/node-red'].dependencies ?? {})) {
    assert.ok(paths.has(`node_modules/${dep}`) || paths.has(`node_modules/node-red/node_modules/${dep}`), dep);
  }
  // Nothing else of the development packages comes back (the TypeScript compiler's tools, the test helpers).
  for (const dev of ['eslint', 'node-red-node-test-helper', 'fast-check', 'playwright-core']) assert.ok(!paths.has(`node_modules/${dev}`), dev);
  // The check itself: the build stage as it was, npm ci and a prune alone, has no node-red.
  const pruneOnly = dockerfile.replace(/^RUN npm ci[^\n]*(\\\n[^\n]*)*/m, 'RUN npm ci --no-audit --no-fund && npm prune --omit=dev && rm -rf dist/test dist/bench');
  assert.notEqual(pruneOnly, dockerfile);
  assert.deepEqual(buildSteps(pruneOnly).filter((s) => s.startsWith('npm')), ['npm ci --no-audit --no-fund', 'npm prune --omit=dev']);
  assert.ok(!imageModules(root, pruneOnly).paths.has('node_modules/node-red'));
});

test('the image has the font package report and invoice PDFs embed', () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  assert.ok(pkg.dependencies['dejavu-fonts-ttf'], 'a dependency, not a development one: npm prune keeps it');
  assert.ok(imageModules(root).paths.has('node_modules/dejavu-fonts-ttf'));
});
