/**
 * The package in a user's own Node-RED, not under `npm start`: the user's
 * `node-red` (this checkout's node_modules/node-red/red.js) with a fresh user
 * directory holding the package in its node_modules (a link to this checkout,
 * as `npm install <folder>` makes it) and Node-RED's own default settings.
 * The upperstack-runtime plugin must give that runtime what `npm start` gives
 * its own: JSON answers to requests Node's HTTP parser refuses, and lean
 * `debug` loggers handed to MQTT.js, mqtt-packet and aedes before they load.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { killBeforeCleanup, tempDir } from '../helpers/temp';
import { freePort } from '../helpers/runtime';

const ROOT = join(__dirname, '..', '..', '..');

let proc: ChildProcess;
let url = '';
let out = '';
let probe = '';

before(async () => {
  const userDir = tempDir('us-userdir-');
  writeFileSync(join(userDir, 'package.json'), JSON.stringify({ name: 'node-red-project', version: '0.0.1', private: true }));
  mkdirSync(join(userDir, 'node_modules'));
  symlinkSync(ROOT, join(userDir, 'node_modules', 'node-red-contrib-upperstack'), 'dir');
  probe = join(userDir, 'debug-probe.jsonl');
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  const red = join(ROOT, 'node_modules', 'node-red', 'red.js');
  proc = spawn(process.execPath, ['-r', join(ROOT, 'dist', 'test', 'helpers', 'debug-probe.js'), red, '--userDir', userDir, '--port', String(port), '-D', 'uiHost=127.0.0.1'], {
    cwd: userDir,
    // Nothing of npm start's environment: a user's shell.
    env: { PATH: process.env.PATH, HOME: userDir, UPPERSTACK_DEBUG_PROBE: probe },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  killBeforeCleanup(proc);
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const deadline = performance.now() + 90_000;
  while (!/Started flows/.test(out)) {
    if (proc.exitCode !== null) throw new Error(`node-red exited with ${proc.exitCode}:\n${out}`);
    if (performance.now() > deadline) throw new Error(`node-red did not start in 90 s:\n${out}`);
    await new Promise((r) => setTimeout(r, 200));
  }
});

after(async () => {
  if (proc && proc.exitCode === null && proc.signalCode === null) {
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGINT');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
});

function raw(text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const s = connect(Number(u.port), u.hostname, () => s.write(text));
    let got = '';
    s.on('data', (c: Buffer) => (got += c.toString('latin1')));
    s.on('end', () => resolve(got));
    s.on('error', reject);
  });
}

test('every Upperstack node loads in a plain Node-RED, and the palette lists them without an error', async () => {
  const res = await fetch(`${url}/nodes`, { headers: { accept: 'application/json' } });
  assert.equal(res.status, 200);
  const sets = (await res.json()) as Array<{ module: string; types: string[]; enabled: boolean; err?: string }>;
  const ours = sets.filter((s) => s.module === 'node-red-contrib-upperstack');
  const declared = Object.keys((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { 'node-red': { nodes: Record<string, string> } })['node-red'].nodes);
  assert.deepEqual(ours.flatMap((s) => s.types).sort(), [...declared].sort());
  assert.deepEqual(ours.filter((s) => s.err || !s.enabled).map((s) => `${s.types.join(',')}: ${s.err}`), []);
  assert.doesNotMatch(out, /\[(error|warn)\].*upperstack/i, out);
});

test('requests the HTTP parser refuses get a JSON error naming the problem, as under npm start', async () => {
  const body = (answer: string) => JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as { error: { code: string; message: string } };
  const badLength = await raw('POST /ingest/dev1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: abc\r\n\r\n{"t":1}');
  assert.match(badLength, /^HTTP\/1\.1 400 /);
  assert.match(badLength, /Content-Type: application\/json/i);
  assert.deepEqual(body(badLength).error, { code: 'MALFORMED_REQUEST', message: 'the Content-Length header is not a single number' });
  const big = await raw(`GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ${'a'.repeat(20_000)}\r\n\r\n`);
  assert.match(big, /^HTTP\/1\.1 431 /);
  assert.equal(body(big).error.code, 'HEADERS_TOO_LARGE');
  // One answer per refused request: a second handler would write a second response on the socket.
  assert.equal(badLength.split('HTTP/1.1 ').length, 2, badLength);
  const ok = await fetch(`${url}/nodes`, { headers: { accept: 'application/json' } });
  assert.equal(ok.status, 200);
});

test('MQTT.js, mqtt-packet and aedes get lean debug loggers, installed before they were loaded', () => {
  assert.ok(existsSync(probe), `no MQTT library required debug:\n${out}`);
  const loads = readFileSync(probe, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { from: string; lean: boolean });
  const libs = new Set(loads.map((l) => /[\\/]node_modules[\\/](mqtt-packet|mqtt|aedes)[\\/]/.exec(l.from)?.[1]));
  assert.ok(libs.has('mqtt') && libs.has('mqtt-packet'), [...libs].join(', '));
  assert.deepEqual(loads.filter((l) => !l.lean).map((l) => l.from), []);
});
