/**
 * upperstack-coap-in and its UDP port: a port another program holds fails the input and /health
 * (saying so once, trying again until the port comes free) while the runtime keeps running; a
 * redeploy stops the old input trying; two inputs on one port do not share it; two inputs of one
 * name are told apart in /health.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import helper from 'node-red-node-test-helper';
import { coapRun as client, loadCoapIn, waitFor } from '../helpers/coap-node';
import { freeUdpPort } from '../helpers/ports';
import { checkHealth } from '../../nodes/shared/runtime';
import { catalogTranslator, translating, useTestRuntime } from '../helpers/node-red';

/* eslint-disable @typescript-eslint/no-require-imports */
const coapNode = require('../../nodes/coap-in/coap-in');

helper.init(require.resolve('node-red'));

type Health = Awaited<ReturnType<typeof checkHealth>>;

/** /health's components once `ready` holds of them, or as they are after 30 s (the assertions then say what is wrong). */
async function healthWhen(ready: (h: Health) => boolean): Promise<Health> {
  for (let i = 0; i < 600; i++) {
    const h = await checkHealth();
    if (ready(h)) return h;
    await new Promise((r) => setTimeout(r, 50));
  }
  return checkHealth();
}

useTestRuntime('us-coap-port-');

test('a CoAP port already in use fails the input and /health, and the runtime keeps running', async () => {
  // Held by a plain socket, as by any other program on the machine.
  const taken = createSocket('udp4');
  await new Promise<void>((r) => taken.bind(0, '127.0.0.1', () => r()));
  const busy = taken.address().port;
  try {
    // Before, the library's socket error had no listener: an uncaught exception ended this process.
    await helper.load([coapNode], [{ id: 'busy', type: 'upperstack-coap-in', name: 'busy port', port: String(busy), bind: '127.0.0.1', wires: [[], []] }]);
    const shown: Array<{ fill?: string; text?: string }> = [];
    (helper.getNode('busy') as unknown as { on(e: 'call:status', f: (c: { args: [{ fill?: string; text?: string }] }) => void): void }).on('call:status', (c) => shown.push(c.args[0]));
    const health = await healthWhen((h) => h['coap:busy port']?.ok === false);
    assert.equal(health['coap:busy port']?.ok, false);
    assert.equal(health['coap:busy port'].detail, `not listening on udp 127.0.0.1:${busy}: port ${busy} on 127.0.0.1 is already in use by another program: stop it, or give this CoAP input another port; trying again`);
    // The status keeps the failure: before, the request rate (green, "0 req/s") replaced it within a second.
    await new Promise((r) => setTimeout(r, 2500));
    assert.deepEqual(shown.filter((s) => s.fill !== 'red'), [], JSON.stringify(shown));
    // The rest of the runtime still answers: a second input on a free port takes a reading.
    await helper.unload();
    const { port } = await loadCoapIn([coapNode], { id: 'c1' });
    const ok = await client(['-m', 'post', '-t', '50', '-e', '{"t":3}', `coap://127.0.0.1:${port}/telemetry/k8`]);
    assert.match(ok.stdout, /"accepted":1/);
    assert.equal((await checkHealth())['coap:busy port'], undefined);
  } finally {
    taken.close();
  }
});

interface Call {
  thisValue: unknown;
  args: unknown[];
}

/** The helper spies on Node-RED's Node prototype: what node `id` alone logged or showed. */
function callsOn(id: string, method: 'error' | 'status' | 'log'): unknown[][] {
  const node = helper.getNode(id) as unknown as Record<string, { getCalls(): Call[] }>;
  return node[method].getCalls().filter((c) => c.thisValue === node).map((c) => c.args);
}

/** A UDP socket on a free loopback port, as any other program on the machine holds one. */
async function holdUdpPort(): Promise<{ port: number; release(): Promise<void> }> {
  const taken = createSocket('udp4');
  await new Promise<void>((r) => taken.bind(0, '127.0.0.1', () => r()));
  return { port: taken.address().port, release: () => new Promise<void>((r) => taken.close(() => r())) };
}

/** With the node's English texts, as the log and the editor show them. */
const translated = [translating(catalogTranslator(['coap-in'])), coapNode];

const inputOn = (id: string, on: number) => [
  { id, type: 'upperstack-coap-in', name: 'waiting', port: String(on), bind: '127.0.0.1', wires: [['ok'], ['bad']] },
  { id: 'ok', type: 'helper' },
  { id: 'bad', type: 'helper' },
];

/** A reading posted until the input answers 2.04 (coap-client prints the answer's body, which says what it took). */
async function posted(on: number): Promise<void> {
  for (let i = 0; i < 120; i++) {
    const res = await client(['-m', 'post', '-B', '1', '-t', '50', '-e', '{"t":3}', `coap://127.0.0.1:${on}/telemetry/k8`]).catch(() => ({ stdout: '' }));
    if (/"accepted":1/.test(res.stdout)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`no 2.04 from udp 127.0.0.1:${on}`);
}

test('a CoAP port another program holds: the input says so once, keeps trying, and answers 2.04 once the port comes free', async () => {
  const held = await holdUdpPort();
  let released = false;
  try {
    await helper.load(translated, inputOn('wait1', held.port));
    const failing = await healthWhen((h) => h['coap:waiting']?.ok === false);
    assert.match(failing['coap:waiting']?.detail ?? '', new RegExp(`^not listening on udp 127\\.0\\.0\\.1:${held.port}: port ${held.port} on 127\\.0\\.0\\.1 is already in use by another program: .*; trying again$`));
    const errors = await waitFor(() => (callsOn('wait1', 'error').length ? callsOn('wait1', 'error') : undefined), 'the refusal logged');
    assert.match(String(errors[0]?.[0]), /^cannot listen on udp 127\.0\.0\.1:\d+: port \d+ on 127\.0\.0\.1 is already in use by another program: .*; trying again$/);
    const shown = callsOn('wait1', 'status').at(-1)?.[0] as { fill?: string; text?: string } | undefined;
    assert.equal(shown?.fill, 'red');
    assert.match(shown?.text ?? '', /already in use by another program.*; trying again$/);

    await held.release();
    released = true;
    await posted(held.port);
    assert.deepEqual((await checkHealth())['coap:waiting'], { ok: true, detail: `listening on udp 127.0.0.1:${held.port}` });
    assert.equal(callsOn('wait1', 'error').length, 1, 'the refusal is logged once, however often it was tried');
    assert.ok(callsOn('wait1', 'log').some((a) => String(a[0]) === `listening on udp 127.0.0.1:${held.port} after the port came free`), JSON.stringify(callsOn('wait1', 'log')));
  } finally {
    if (!released) await held.release();
  }
});

test('a redeploy while the CoAP port is in use stops the old input trying; the new one answers once the port comes free', async () => {
  const held = await holdUdpPort();
  let released = false;
  try {
    await helper.load(translated, inputOn('wait2', held.port));
    await healthWhen((h) => h['coap:waiting']?.ok === false);
    await helper.unload();
    await helper.load(translated, inputOn('wait3', held.port));
    const failing = await healthWhen((h) => h['coap:waiting']?.ok === false);
    assert.equal(failing['coap:waiting']?.ok, false);
    await held.release();
    released = true;
    await posted(held.port);
    assert.equal((await checkHealth())['coap:waiting']?.ok, true);
  } finally {
    if (!released) await held.release();
  }
});

test('a second CoAP input on a port one already listens on fails with EADDRINUSE instead of sharing it', async () => {
  // Before, the library's SO_REUSEADDR let both bind: both said they listened, and the kernel gave
  // every datagram to only one of them.
  const shared = await freeUdpPort();
  await helper.load([coapNode], [
    { id: 'shareA', type: 'upperstack-coap-in', name: 'one', port: String(shared), bind: '127.0.0.1', wires: [[], []] },
    { id: 'shareB', type: 'upperstack-coap-in', name: 'other', port: String(shared), bind: '127.0.0.1', wires: [[], []] },
  ]);
  const settled = (h: Health) => h['coap:one']?.detail !== 'starting' && h['coap:other']?.detail !== 'starting' && (h['coap:one']?.ok === false || h['coap:other']?.ok === false);
  const health = await healthWhen(settled);
  const states = [health['coap:one'], health['coap:other']];
  const failing = states.filter((c) => c?.ok === false);
  const listening = states.filter((c) => c?.ok === true);
  assert.equal(failing.length, 1, JSON.stringify(health));
  assert.equal(listening.length, 1, JSON.stringify(health));
  assert.match(failing[0]!.detail, new RegExp(`^not listening on udp 127\\.0\\.0\\.1:${shared}: port ${shared} on 127\\.0\\.0\\.1 is already in use by `));
  assert.equal(listening[0]!.detail, `listening on udp 127.0.0.1:${shared}`);
  // The one refused names the input that has the port, so the user knows which of the two to change.
  const holder = listening[0] === health['coap:one'] ? 'CoAP input "one" (shareA)' : 'CoAP input "other" (shareB)';
  assert.ok(failing[0]!.detail.endsWith(` is already in use by ${holder} in this Node-RED: give one of them another port; trying again`), failing[0]!.detail);
});

test('two CoAP inputs of one name are both in /health, told apart by id: a failing one is not hidden by the other', async () => {
  const taken = createSocket('udp4');
  await new Promise<void>((r) => taken.bind(0, '127.0.0.1', () => r()));
  const busy = taken.address().port;
  const free = await freeUdpPort();
  try {
    await helper.load([coapNode], [
      { id: 'twinBusy', type: 'upperstack-coap-in', name: 'field', port: String(busy), bind: '127.0.0.1', wires: [[], []] },
      { id: 'twinFree', type: 'upperstack-coap-in', name: 'field', port: String(free), bind: '127.0.0.1', wires: [[], []] },
    ]);
    const health = await healthWhen((h) => h['coap:field (twinBusy)']?.ok === false && /^listening/.test(h['coap:field (twinFree)']?.detail ?? ''));
    assert.equal(health['coap:field (twinBusy)']?.ok, false, 'the input on the taken port is listed, failing');
    assert.match(health['coap:field (twinBusy)'].detail, /is already in use by another program/);
    assert.equal(health['coap:field (twinFree)']?.ok, true, 'the other is listed, healthy');
    assert.equal(health['coap:field (twinFree)'].detail, `listening on udp 127.0.0.1:${free}`);
    assert.equal(health['coap:field'], undefined);
    // With one of them gone, the other is under its name alone again.
    await helper.unload();
    await helper.load([coapNode], [{ id: 'twinFree', type: 'upperstack-coap-in', name: 'field', port: String(free), bind: '127.0.0.1', wires: [[], []] }]);
    const alone = await healthWhen((h) => h['coap:field']?.ok === true);
    assert.equal(alone['coap:field']?.ok, true);
    assert.equal(alone['coap:field (twinFree)'], undefined);
  } finally {
    taken.close();
  }
});
