/**
 * An HTTP or CoAP input whose journal cannot be written (a full disk; here the journal's group write made to
 * fail, as a full disk is a tmpfs only root can mount, see test/integration/disk-full-http-coap.test.ts):
 * the request is refused and the node's status shows the failure in red until a write succeeds again. The
 * request rate shown every second used to turn it green within a second while nothing could be kept; and once
 * the failure was shown, the same rate text as before it was taken for unchanged and the red stayed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import helper from 'node-red-node-test-helper';
import { Journal } from '../../nodes/lib/journal/journal';
import { tempDir } from '../helpers/temp';
import { freeUdpPort } from '../helpers/ports';

/* eslint-disable @typescript-eslint/no-require-imports */
const httpIn = require('../../nodes/http-in/http-in');
const coapIn = require('../../nodes/coap-in/coap-in');

const run = promisify(execFile);
const url = () => (helper as unknown as { url(): string }).url();
const post = (device: string, body: unknown) => fetch(`${url()}/ingest/${device}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
helper.init(require.resolve('node-red'));

before(async () => {
  helper.settings({ uiHost: '127.0.0.1', upperstack: { dataDir: tempDir('us-journal-fail-') } });
  await helper.startServer();
});
after(async () => {
  await helper.stopServer();
});

interface Shown {
  fill?: string;
  text?: string;
}

/** The node's status calls from now on. */
function watchStatus(id: string): Shown[] {
  const shown: Shown[] = [];
  (helper.getNode(id) as unknown as { on(e: 'call:status', f: (c: { args: [Shown] }) => void): void }).on('call:status', (c) => shown.push(c.args[0]));
  return shown;
}

/** Makes the journal's writes fail (ENOSPC) until the returned function is called. */
function failWrites(): () => void {
  const proto = Journal.prototype as unknown as { appendGroup: (...args: unknown[]) => number };
  const real = proto.appendGroup;
  proto.appendGroup = () => {
    throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  };
  return () => {
    proto.appendGroup = real;
  };
}

const seconds = (n: number) => new Promise((r) => setTimeout(r, n * 1000));

async function coapPost(port: number, device: string): Promise<string> {
  try {
    const { stdout, stderr } = await run('coap-client-notls', ['-m', 'post', '-t', 'application/json', '-e', JSON.stringify({ temp: 20 }), `coap://127.0.0.1:${port}/telemetry/${device}`], { timeout: 20_000 });
    return `${stdout}${stderr}`;
  } catch (e) {
    const x = e as { stdout?: string; stderr?: string };
    return `${x.stdout ?? ''}${x.stderr ?? ''}`;
  }
}

/**
 * Loads `node` (its outputs to helper nodes), makes the journal's writes fail while `refused` is sent, checks the
 * status turns red and stays red over the rate updates meanwhile, then that it shows the rate in green again once
 * `accepted` has been written.
 */
async function redUntilWritten(module: unknown, node: Record<string, unknown> & { id: string }, refused: () => Promise<void>, accepted: () => Promise<void>): Promise<void> {
  await helper.load([module], [
    { ...node, wires: [['ok'], ['bad']] },
    { id: 'ok', type: 'helper' },
    { id: 'bad', type: 'helper' },
  ]);
  try {
    const shown = watchStatus(node.id);
    const restore = failWrites();
    try {
      await refused();
      // The rate is shown every second: the failure must outlast a couple of those.
      await seconds(2.5);
      const since = shown.findIndex((s) => s.fill === 'red');
      assert.ok(since >= 0, JSON.stringify(shown));
      assert.deepEqual(shown.slice(since).filter((s) => s.fill !== 'red'), [], JSON.stringify(shown));
    } finally {
      restore();
    }
    await accepted();
    await seconds(2.5);
    assert.equal(shown.at(-1)?.fill, 'green', JSON.stringify(shown));
  } finally {
    await helper.unload();
  }
}

test('http in: while the journal cannot be written the status stays red; after a write succeeds the rate is shown again', async () => {
  await redUntilWritten(
    httpIn,
    { id: 'hfail', type: 'upperstack-http-in', configVersion: 2 },
    async () => {
      const res = await post('jf1', { temp: 20 });
      const text = await res.text();
      assert.equal(res.status, 503, text);
      assert.match(text, /ENOSPC/);
    },
    async () => {
      const ok = await post('jf1', { temp: 21 });
      assert.equal(ok.status, 202, await ok.text());
    },
  );
});

test('coap in: while the journal cannot be written the status stays red; after a write succeeds the rate is shown again', async () => {
  const port = await freeUdpPort();
  await redUntilWritten(
    coapIn,
    { id: 'cfail', type: 'upperstack-coap-in', port: String(port), bind: '127.0.0.1' },
    async () => {
      // The first requests may come before the socket is bound: until one is answered 5.03.
      let out = '';
      for (let i = 0; i < 20 && !/5\.03/.test(out); i++) out = await coapPost(port, 'jf2');
      assert.match(out, /5\.03/);
    },
    async () => assert.doesNotMatch(await coapPost(port, 'jf2'), /[45]\.\d\d/),
  );
});
