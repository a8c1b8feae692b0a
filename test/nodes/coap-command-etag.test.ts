/**
 * The ETag of each command on /commands/{device}, as a device sees it: the same on every notification of one command
 * (the daily check's repeat included) and on a plain GET of it, different for a new command with the same payload;
 * a plain GET naming the latest command's ETag answers 2.03 Valid without the payload (coap-client-notls -O 4,etag).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import helper from 'node-red-node-test-helper';
import { defaultTiming, updateTiming } from 'coap';
import { generate, parse, type ParsedPacket } from 'coap-packet';
import { commandBoard } from '../../nodes/lib/inputs/commands';
import { defaultObserveCheck, updateObserveCheck } from '../../nodes/lib/inputs/observations';
import { coapClient, coapInLoader, coapRun, waitFor } from '../helpers/coap-node';
import { useTestRuntime } from '../helpers/node-red';

/* eslint-disable @typescript-eslint/no-require-imports */
const coapNode = require('../../nodes/coap-in/coap-in');
const commandNode = require('../../nodes/command/command');

helper.init(require.resolve('node-red'));

const commandFlow = [{ id: 'cmd', type: 'upperstack-command', topic: '', configVersion: 1, wires: [[]] }];
const load = coapInLoader([coapNode, commandNode], 'ce', commandFlow);

useTestRuntime('us-coap-etag-');

function etagOf(p: ParsedPacket): string | undefined {
  return p.options.find((o) => o.name === 'ETag')?.value.toString('latin1');
}

/** The ETags coap-client-notls -v 7 prints with the answers it got (libcoap writes them in hex, `ETag:0x31413331`). */
function printedEtags(out: string): string[] {
  return [...out.matchAll(/c:2\.\d\d [^\n]*ETag:0x([0-9a-f]+)/gi)].map((m) => Buffer.from(m[1], 'hex').toString('latin1'));
}

function printedEtag(out: string): string | undefined {
  return printedEtags(out)[0];
}

test('every notification of one command has its ETag, the daily check repeat too; a new command with the same payload has another', async () => {
  // The check every 300 ms (a day by default), so that the observer below gets the latest command again.
  updateObserveCheck({ everyMs: 300, sweepMs: 100 });
  const sock = createSocket('udp4');
  try {
    const { port } = await load();
    updateTiming({ ackTimeout: 0.2, maxRetransmit: 1, maxLatency: 0.1 });
    const got: ParsedPacket[] = [];
    sock.on('message', (m) => {
      const p = parse(m);
      got.push(p);
      // Acknowledged, so the observation stays and is checked again.
      if (p.confirmable) sock.send(generate({ code: '0.00', messageId: p.messageId, token: Buffer.alloc(0), ack: true, confirmable: false }), port, '127.0.0.1');
    });
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
    sock.send(generate({ code: 'GET', messageId: 71, token: Buffer.from([9, 1]), confirmable: false, options: [{ name: 'Observe', value: Buffer.alloc(0) }, { name: 'Uri-Path', value: Buffer.from('commands') }, { name: 'Uri-Path', value: Buffer.from('etag-1') }] }), port, '127.0.0.1');
    await waitFor(() => (got.length ? true : undefined), 'the registration answered');
    // No command yet: the empty notification names none.
    assert.equal(etagOf(got[0]), undefined);
    const cmd = helper.getNode('cmd')!;
    cmd.receive({ device: 'etag-1', payload: 'open the valve' });
    await waitFor(() => (got.length >= 2 ? true : undefined), 'the first command');
    const first = etagOf(got[1]);
    assert.ok(first, 'the notification has an ETag');
    assert.ok(first.length >= 1 && first.length <= 8, `ETag "${first}" is 1 to 8 bytes`);
    // The daily check sends the same command again, confirmable: the device can tell it has done it.
    await waitFor(() => (got.slice(2).some((p) => p.confirmable) ? true : undefined), 'the check repeat');
    const repeat = got.slice(2).find((p) => p.confirmable)!;
    assert.deepEqual([repeat.payload.toString(), etagOf(repeat)], ['open the valve', first]);
    // Sent again on purpose: same payload, a new command.
    const before = got.length;
    cmd.receive({ device: 'etag-1', payload: 'open the valve' });
    await waitFor(() => (got.slice(before).some((p) => etagOf(p) !== first) ? true : undefined), 'the second command');
    const second = got.slice(before).find((p) => etagOf(p) !== first)!;
    assert.equal(second.payload.toString(), 'open the valve');
    assert.notEqual(etagOf(second), first);
  } finally {
    sock.close();
    defaultObserveCheck();
    defaultTiming();
  }
});

test('a plain GET has the ETag of the latest command; with it (-O 4,etag) it answers 2.03 Valid without the payload, until a new command', async () => {
  const { port } = await load();
  const uri = `coap://127.0.0.1:${port}/commands/etag-2`;
  commandBoard.set('etag-2', 'open the valve');
  const out = await coapClient(['-m', 'get', '-v', '7', uri]);
  assert.match(out, /open the valve/);
  const etag = printedEtag(out);
  assert.equal(etag, commandBoard.get('etag-2')?.etag);
  // The same command: asked again, the same ETag.
  assert.equal(printedEtag(await coapClient(['-m', 'get', '-v', '7', uri])), etag);

  const valid = await coapClient(['-m', 'get', '-v', '7', '-O', `4,${etag}`, uri]);
  assert.match(valid, /2\.03/);
  assert.doesNotMatch(valid, /open the valve/);
  assert.equal(printedEtag(valid), etag);
  // Another ETag (of no command here) gets the command.
  assert.match(await coapClient(['-m', 'get', '-O', '4,nope', uri]), /open the valve/);

  // The valve opened again on purpose: the device's ETag no longer matches, and the command comes with a new one.
  commandBoard.set('etag-2', 'open the valve');
  const again = await coapClient(['-m', 'get', '-v', '7', '-O', `4,${etag}`, uri]);
  assert.match(again, /2\.05/);
  assert.match(again, /open the valve/);
  assert.notEqual(printedEtag(again), etag);
});

test('a command over 1 KiB, sent block-wise on a plain GET, keeps its ETag on every block, not one of its payload', async () => {
  const { port } = await load();
  const big = 'x'.repeat(3000);
  commandBoard.set('etag-3', big);
  const first = commandBoard.get('etag-3')!.etag;
  const uri = `coap://127.0.0.1:${port}/commands/etag-3`;
  assert.equal((await coapRun(['-m', 'get', uri])).stdout.trim(), big);
  const printed = printedEtags(await coapClient(['-m', 'get', '-v', '7', uri]));
  assert.ok(printed.length >= 3, `an ETag on each block: ${printed.join(' ')}`);
  assert.deepEqual(new Set(printed), new Set([first]));
  commandBoard.set('etag-3', big);
  assert.notEqual(commandBoard.get('etag-3')!.etag, first);
});
