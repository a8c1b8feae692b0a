/**
 * A CoAP input whose journal cannot be opened at deploy (its data folder on a read-only disk) still binds its
 * port and answers a telemetry request 5.03 with a diagnostic naming the journal's folder and why, and a Max-Age,
 * instead of leaving the device without an answer (nothing listening on the port); /health fails under
 * `journal:<input>`. Once the disk takes writes the input opens its journal by itself (no deploy) and the request
 * is 2.04 and sent on. The read-only disk is a tmpfs the test mounts, as root.
 */
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import helper from 'node-red-node-test-helper';
import { checkHealth } from '../../nodes/shared/runtime';
import { coapClient, loadCoapIn } from '../helpers/coap-node';
import { mountTmpfs, remount, unmount } from '../helpers/full-disk';
import { eventually } from '../helpers/runtime';

helper.init(require.resolve('node-red'));

/* eslint-disable @typescript-eslint/no-require-imports */
const modules = [require('../../nodes/coap-in/coap-in')];

let mountPoint = '';

before(async () => {
  mountPoint = mountTmpfs('us-coap-journal-health-mnt-', '8m');
  helper.settings({ uiHost: '127.0.0.1', upperstack: { dataDir: mountPoint } });
  await helper.startServer();
});
after(async () => {
  await helper.stopServer();
  unmount(mountPoint);
});
afterEach(async () => {
  // A failed assertion leaves the input deployed and the disk read-only: neither may hold the file open.
  await helper.unload();
  remount(mountPoint, 'rw');
});

/**
 * coap-client-notls's verbose print of the answer (its code, options and payload). `note` pads the request: an
 * answer to a client that did not log in is cut to the request's size (no amplification), and the whole
 * diagnostic is wanted here.
 */
const post = (port: number, note = 'n'.repeat(400)) =>
  coapClient(['-v', '6', '-m', 'post', '-t', 'application/json', '-e', JSON.stringify({ temp: 20, note }), `coap://127.0.0.1:${port}/telemetry/d1`]);

test('a CoAP input that cannot open its journal answers 5.03 with why and a Max-Age until the disk takes writes, then takes requests without a deploy', async () => {
  remount(mountPoint, 'ro');
  const input = await loadCoapIn(modules, { id: 'cin', name: 'coap devices' });
  const failing = await eventually(async () => {
    const h = await checkHealth();
    return h['journal:coap devices']?.ok === false ? h['journal:coap devices'] : undefined;
  }, 30_000, '/health failing');
  assert.match(failing.detail, /^the input cannot open its journal, so it takes nothing from devices until it can \(it is tried again every 5 s\): cannot create journal folder .*journal\/cin/);

  const refused = await post(input.port);
  assert.match(refused, /\b5\.03\b/, refused);
  assert.match(refused, /Max-Age:5\b/, refused);
  assert.match(refused, /coap devices takes nothing: its journal cannot be opened \(cannot create journal folder .*journal\/cin: E[A-Z]+: .+\); retry in 5 s/, refused);
  assert.ok(refused.includes(join(mountPoint, 'journal', 'cin')), refused);
  // A small request gets the start of it: the code and why.
  assert.match(await post(input.port, ''), /c:5\.03 .*Max-Age:5 \] :: 'BACKPRESSURE: coap devices takes nothing: its journal cannot be opened/);
  assert.equal(input.stored.length, 0, 'nothing sent on');

  remount(mountPoint, 'rw');
  const accepted = await eventually(async () => {
    const r = await post(input.port);
    return /\b5\.03\b/.test(r) ? undefined : r;
  }, 30_000, 'a request taken once the disk takes writes');
  assert.match(accepted, /c:2\.04 /, accepted);
  await eventually(async () => (input.stored.length ? true : undefined), 30_000, 'the reading sent on');
  assert.equal(input.stored[0].device, 'd1');
  assert.equal(input.stored[0].fields.temp, 20);
  assert.equal((await checkHealth())['journal:coap devices'], undefined, 'the failing component is gone once the journal opened');
});
