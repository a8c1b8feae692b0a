/**
 * Who may use upperstack-coap-in, with libcoap's coap-client-notls and a raw UDP socket: a device
 * login where one is configured (in the query, read as the options carry it), 4.01 before a device
 * id is checked, and answers to anonymous requests (4.01, 4.04, discovery) no more than 3x the
 * request, so the input cannot be used to amplify traffic.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import helper from 'node-red-node-test-helper';
import { generate, parse } from 'coap-packet';
import { coapClient, coapRun as client, coapInLoader, waitFor } from '../helpers/coap-node';
import { useTestRuntime } from '../helpers/node-red';

/* eslint-disable @typescript-eslint/no-require-imports */
const coapNode = require('../../nodes/coap-in/coap-in');
const commandNode = require('../../nodes/command/command');

helper.init(require.resolve('node-red'));

const load = coapInLoader([coapNode, commandNode], 'c', [
  { id: 'cmd', type: 'upperstack-command', topic: '', configVersion: 1, wires: [[]] },
]);

useTestRuntime('us-coap-access-');

/** Runs `fn` with a device login configured (user `dev`, this password), as the runtime's environment sets one; none after it. */
async function withLogin(password: string, fn: () => Promise<void>): Promise<void> {
  process.env.UPPERSTACK_MQTT_USERNAME = 'dev';
  process.env.UPPERSTACK_MQTT_PASSWORD = password;
  try {
    await fn();
  } finally {
    delete process.env.UPPERSTACK_MQTT_USERNAME;
    delete process.env.UPPERSTACK_MQTT_PASSWORD;
  }
}

test('a device login is required when configured; 4.01 answers stay within 3x the request', () =>
  withLogin('pw', async () => {
    const { port } = await load();
    const sock = createSocket('udp4');
    try {
      const answer = new Promise<Buffer>((r) => sock.once('message', r));
      const req = generate({ code: 'POST', messageId: 1, confirmable: true, payload: Buffer.from('{}'), options: [{ name: 'Uri-Path', value: Buffer.from('telemetry') }, { name: 'Uri-Path', value: Buffer.from('k7') }] });
      sock.send(req, port, '127.0.0.1');
      const a = await answer;
      assert.equal(parse(a).code, '4.01');
      assert.ok(a.length <= 3 * req.length, `${a.length} > 3 x ${req.length}`);
    } finally {
      sock.close();
    }
    const ok = await client(['-m', 'post', '-t', '50', '-e', '{"t":1}', `coap://127.0.0.1:${port}/telemetry/k7?u=dev&p=pw`]);
    assert.match(ok.stdout, /"accepted":1/);
  }),
);

test('a login in the query is read as the options carry it: a password with +, & and % logs in as over MQTT and HTTP', () =>
  // A base64 password holds "+"; libcoap sends "%26" and "%25" as "&" and "%" inside the one Uri-Query option.
  withLogin('pa+ss&w%41rd=', async () => {
    const { port, stored } = await load();
    const url = `coap://127.0.0.1:${port}/telemetry/kq1`;
    assert.match(await coapClient(['-m', 'post', '-t', '50', '-e', '{"t":1}', `${url}?u=dev&p=pa+ss%26w%2541rd=`]), /"accepted":1,"deadLettered":0/);
    // The same characters percent-encoded once more are another password, not this one read twice.
    assert.match(await coapClient(['-m', 'post', '-t', '50', '-e', '{"t":2}', `${url}?u=dev&p=pa%252Bss%2526w%252541rd=`]), /4\.01 UNAUTHORIZED: wrong device login/);
    assert.match(await coapClient(['-m', 'post', '-t', '50', '-e', '{"t":3}', `${url}?u=dev&p=pa ss%26wArd=`]), /4\.01 UNAUTHORIZED: wrong device login/);
    await waitFor(() => (stored.length ? true : undefined), 'the reading');
    assert.deepEqual(stored.map((r) => [r.device, r.fields.t]), [['kq1', 1]]);
  }),
);

test('where a login is required, an anonymous request is 4.01 before its device id is checked, as HTTP answers 401 before 400', () =>
  withLogin('pw', async () => {
    const { port, stored, failed } = await load();
    const bad = `coap://127.0.0.1:${port}/telemetry/temp%20sensor`;
    const anonymous = await coapClient(['-m', 'post', '-t', '50', '-e', '{"t":1}', bad]);
    assert.match(anonymous, /4\.01 UNAUTHORIZED: /);
    assert.doesNotMatch(anonymous, /BAD_DEVICE_ID/);
    assert.match(await coapClient(['-m', 'post', '-t', '50', '-e', '{"t":1}', `${bad}?u=dev&p=wrong`]), /4\.01 UNAUTHORIZED: wrong device login/);
    assert.match(await coapClient(['-m', 'get', `coap://127.0.0.1:${port}/commands/temp%20sensor`]), /4\.01/);
    // Logged in, the id is checked and refused in the rule's words.
    assert.match(await coapClient(['-m', 'post', '-t', '50', '-e', '{"t":1}', `${bad}?u=dev&p=pw`]), /4\.00 BAD_DEVICE_ID: "temp sensor" is not a device id/);
    assert.deepEqual([stored, failed], [[], []]);
  }),
);

test('anonymous discovery and 4.04 answers stay within 3x the datagram; libcoap still reads the whole list block-wise', async () => {
  const { port } = await load();
  const sock = createSocket('udp4');
  try {
    const ask = async (req: Buffer) => {
      const answer = new Promise<Buffer>((r) => sock.once('message', r));
      sock.send(req, port, '127.0.0.1');
      const a = await answer;
      assert.ok(a.length <= 3 * req.length, `${a.length} > 3 x ${req.length} bytes`);
      return parse(a);
    };
    const path = (...segments: string[]) => segments.map((s) => ({ name: 'Uri-Path' as const, value: Buffer.from(s) }));
    // 21 bytes: the smallest discovery request there is (no token).
    const core = await ask(generate({ code: 'GET', messageId: 11, confirmable: true, options: path('.well-known', 'core') }));
    assert.equal(core.code, '2.05');
    assert.ok(core.options.some((o) => o.name === 'Block2'), 'a list longer than 3x the request goes block-wise');
    assert.match(core.payload.toString(), /^<\/telemetry>/);
    const missing = await ask(generate({ code: 'GET', messageId: 12, confirmable: true, options: path('x') }));
    assert.equal(missing.code, '4.04');
  } finally {
    sock.close();
  }
  const whole = await client(['-m', 'get', `coap://127.0.0.1:${port}/.well-known/core`]);
  assert.match(whole.stdout, /<\/telemetry>;rt="upperstack.telemetry";if="core.p";ct="50 60 110 112 42 41 0";title="POST or PUT \/telemetry\/\{device\}",<\/commands>;rt="upperstack.commands";if="core.s";obs;ct=50;title="GET \/commands\/\{device\} with Observe"/);
});
