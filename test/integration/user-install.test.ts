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
import { existsSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { tempDir } from '../helpers/temp';
import { declaredNodeTypes, startUserNodeRed, upperstackNodeSets, type UserNodeRed } from '../helpers/user-node-red';

let nodeRed: UserNodeRed;
let url = '';
let probe = '';
const out = () => nodeRed.output();

before(async () => {
  const userDir = tempDir('us-userdir-');
  probe = join(userDir, 'debug-probe.jsonl');
  nodeRed = await startUserNodeRed({ userDir, preload: 'debug-probe.js', env: { UPPERSTACK_DEBUG_PROBE: probe }, started: /Started flows/ });
  url = nodeRed.url;
});

after(async () => {
  await nodeRed?.stop();
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
  const { status, ours } = await upperstackNodeSets(url);
  assert.equal(status, 200);
  assert.deepEqual(ours.flatMap((s) => s.types).sort(), declaredNodeTypes().sort());
  assert.deepEqual(ours.filter((s) => s.err || !s.enabled).map((s) => `${s.types.join(',')}: ${s.err}`), []);
  assert.doesNotMatch(out(), /\[(error|warn)\].*upperstack/i, out());
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
  assert.ok(existsSync(probe), `no MQTT library required debug:\n${out()}`);
  const loads = readFileSync(probe, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { from: string; lean: boolean });
  const libs = new Set(loads.map((l) => /[\\/]node_modules[\\/](mqtt-packet|mqtt|aedes)[\\/]/.exec(l.from)?.[1]));
  assert.ok(libs.has('mqtt') && libs.has('mqtt-packet'), [...libs].join(', '));
  assert.deepEqual(loads.filter((l) => !l.lean).map((l) => l.from), []);
});
