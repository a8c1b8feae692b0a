/**
 * upperstack-simulate sending to a real upperstack-http-in that takes at most
 * 200 bytes a request: a device whose single reading is larger is refused
 * (413) for good and stopped, the others keep sending, and the node's status
 * shows the split ("8 running, 2 stopped"); one device is "1 device".
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { NodeAPI } from 'node-red';
import helper from 'node-red-node-test-helper';
import { eventually } from '../helpers/runtime';
import { catalogTranslator, useTestRuntime } from '../helpers/node-red';

/* eslint-disable @typescript-eslint/no-require-imports */
const translate = catalogTranslator(['simulate']);

const nodes = [
  require('../../nodes/http-in/http-in'),
  require('../../nodes/simulate/simulate'),
  (r: NodeAPI) => void ((r as unknown as { _: typeof translate })._ = translate),
];

helper.init(require.resolve('node-red'));

type Status = { fill?: string; text?: string };

/** The node's last status (the helper spies on status() of every node at once). */
const lastStatus = (id: string): Status => {
  const node = helper.getNode(id) as unknown as { status: { getCalls(): Array<{ thisValue: unknown; args: Status[] }> } };
  const own = node.status.getCalls().filter((c) => c.thisValue === node);
  return own[own.length - 1]?.args[0] ?? {};
};

// Ids of 88 characters: an environment sensor's JSON reading is then over 200 bytes (about 206), a plug's under (about 186).
const PREFIX = `${'p'.repeat(85)}-`;

describe('upperstack-simulate with devices refused for good', () => {
  // Bound to loopback, so the input takes the simulated devices without a login.
  useTestRuntime('us-sim-split-', { settings: () => ({ uiHost: '127.0.0.1' }) });

  test('devices whose readings the input refuses as too large are stopped; the status says how many run and how many stopped', async () => {
    const url = (helper as unknown as { url(): string }).url();
    const sim = { type: 'upperstack-simulate', z: 'tab', target: 'http', url, rate: '5/s', plugRate: '5/s', anomalies: 0, codec: 'json', autoStart: true, wires: [[], []] };
    await helper.load(nodes, [
      { id: 'tab', type: 'tab', label: 'test' },
      { id: 'in', type: 'upperstack-http-in', z: 'tab', maxBytes: 200, highWater: 100000, highWaterReadings: 0, configVersion: 2, wires: [['ok'], ['bad']] },
      { id: 'ok', type: 'helper', z: 'tab' },
      { id: 'bad', type: 'helper', z: 'tab' },
      { id: 'fleet', ...sim, devices: 10, mix: 'env:2,plug:8', prefix: PREFIX },
      { id: 'one', ...sim, devices: 1, mix: 'plug:1', prefix: 'single-' },
    ]);
    const taken: string[] = [];
    (helper.getNode('ok') as unknown as NodeJS.EventEmitter).on('input', (m: { device?: string; payload?: { device?: string } }) => taken.push(String(m.payload?.device ?? m.device)));

    const split = await eventually(async () => {
      const s = lastStatus('fleet');
      return /^8 running, 2 stopped · /.test(s.text ?? '') ? s : undefined;
    }, 30_000, 'the split in the status').catch((e: Error) => {
      throw new Error(`${e.message}: ${JSON.stringify(lastStatus('fleet'))}`);
    });
    assert.match(split.text!, /^8 running, 2 stopped · acked \d+ · 2 failed: HTTP 413/);
    assert.equal(split.fill, 'red');

    const single = await eventually(async () => {
      const s = lastStatus('one');
      return /sent [1-9]/.test(s.text ?? '') ? s : undefined;
    }, 30_000, 'the single device sending').catch((e: Error) => {
      throw new Error(`${e.message}: ${JSON.stringify(lastStatus('one'))}`);
    });
    assert.match(single.text!, /^1 device · sent \d+ · acked \d+ · anomalies 0$/);

    // The plugs keep sending: their readings reach the input's output; the stopped sensors' never do.
    await eventually(async () => (new Set(taken.filter((d) => d.startsWith(PREFIX))).size === 8 ? true : undefined), 30_000, 'readings of all eight plugs');
    assert.deepEqual(
      [...new Set(taken.filter((d) => d.startsWith(PREFIX)))].map((d) => d.slice(PREFIX.length)).sort(),
      ['03', '04', '05', '06', '07', '08', '09', '10'],
    );
  });
});
