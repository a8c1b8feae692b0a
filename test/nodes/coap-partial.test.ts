/**
 * A CoAP batch partly refused, posted with libcoap's coap-client-notls: the 2.04 lists the refusals
 * (code, short message, index) so the device sees what was wrong, and stays whole JSON within 3× the request.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import helper from 'node-red-node-test-helper';
import { tempDir } from '../helpers/temp';
import { freeUdpPort } from '../helpers/ports';
import { eventually } from '../helpers/runtime';
import { useTestRuntime } from '../helpers/node-red';

/* eslint-disable @typescript-eslint/no-require-imports */
const coapNode = require('../../nodes/coap-in/coap-in');

const run = promisify(execFile);
helper.init(require.resolve('node-red'));
const scratch = tempDir('us-coap-answers-');

useTestRuntime('us-coap-partial-');

type Answer = { accepted: number; deadLettered: number; errors?: Array<{ code: string; message: string; index?: number }> };

test('a batch with a far-future time and an empty item: 2.04 listing each refusal with its code, message and index, within 3x the request', async () => {
  const port = await freeUdpPort();
  await helper.load([coapNode], [
    { id: 'c', type: 'upperstack-coap-in', port: String(port), bind: '127.0.0.1', wires: [['ok'], ['bad']] },
    { id: 'ok', type: 'helper' },
    { id: 'bad', type: 'helper' },
  ]);
  const url = `coap://127.0.0.1:${port}/telemetry/p1`;
  // The socket is bound once discovery answers.
  await eventually(async () => ((await run('coap-client-notls', ['-m', 'get', '-B', '1', `coap://127.0.0.1:${port}/.well-known/core`]).catch(() => ({ stdout: '' }))).stdout.includes('telemetry') ? true : undefined), 30_000, 'the input listening');
  let posts = 0;
  const post = async (body: string) => {
    // At -v 8 libcoap logs the size of each datagram it sends and receives; -o keeps the payload apart from the log.
    const file = join(scratch, `answer-${++posts}`);
    const out = await run('coap-client-notls', ['-v', '8', '-o', file, '-m', 'post', '-t', '50', '-e', body, url], { timeout: 20_000 });
    const log = `${out.stdout}\n${out.stderr}`;
    const sent = Number(/sent (\d+) bytes/.exec(log)?.[1]);
    const received = Number(/received (\d+) bytes/.exec(log)?.[1]);
    assert.ok(sent > 0 && received > 0, log);
    // An anonymous device gets no answer of more than 3x its request.
    assert.ok(received <= 3 * sent, `${received} > 3 x ${sent}`);
    return JSON.parse(readFileSync(file, 'utf8')) as Answer;
  };
  const refused = '{"ts":"9999-01-01T00:00:00Z","t":2},{"t":3},{}';
  // A request with room for both.
  const answer = await post(`[{"t":1,"note":"${'n'.repeat(120)}"},${refused}]`);
  assert.equal(answer.accepted, 2);
  assert.equal(answer.deadLettered, 2);
  assert.deepEqual(answer.errors?.map((e) => [e.code, e.index]), [['TS_OUT_OF_RANGE', 1], ['INVALID_READING', 3]]);
  assert.match(answer.errors![0].message, /^\[1\]\.ts 9999-01-01T00:00:00\.000Z is too far in the future/);
  assert.match(answer.errors![1].message, /^\[3\] has no fields/);
  for (const e of answer.errors!) assert.ok(e.message.length <= 100, e.message);
  // A small request: what fits within the bound, still whole JSON with both counts.
  const small = await post(`[{"t":1},${refused}]`);
  assert.deepEqual([small.accepted, small.deadLettered], [2, 2]);
  assert.deepEqual(small.errors?.map((e) => [e.code, e.index]), [['TS_OUT_OF_RANGE', 1]]);
});
