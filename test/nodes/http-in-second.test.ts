/**
 * Two upperstack-http-in nodes deployed at once (a second one dropped from the
 * palette beside the pack's): one serves the routes, the one deployed last.
 * The other used to stay green, showing a request rate of 0 while it received
 * nothing; now the log names both and its status says it is not serving.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import helper from 'node-red-node-test-helper';
import { tempDir } from '../helpers/temp';

/* eslint-disable @typescript-eslint/no-require-imports */
const httpIn = require('../../nodes/http-in/http-in');

helper.init(require.resolve('node-red'));

before(async () => {
  helper.settings({ uiHost: '127.0.0.1', upperstack: { dataDir: tempDir('us-http-second-') } });
  await helper.startServer();
});
after(async () => {
  await helper.unload();
  await helper.stopServer();
});

interface Shown {
  fill?: string;
  text?: string;
}
type Spied = (...args: unknown[]) => unknown;
interface Spy {
  getCalls(): Array<{ thisValue: unknown; args: unknown[] }>;
}

test('a second http in takes the routes, says so in the log, and the first one shows red that it is not serving', async () => {
  await helper.load([httpIn], [
    { id: 'first', type: 'upperstack-http-in', configVersion: 2, wires: [['ok'], ['bad']] },
    { id: 'second', type: 'upperstack-http-in', configVersion: 2, wires: [['ok'], ['bad']] },
    { id: 'ok', type: 'helper' },
    { id: 'bad', type: 'helper' },
  ]);
  const first = helper.getNode('first') as unknown as { status: Spied };
  const second = helper.getNode('second') as unknown as { status: Spied };
  // Node-RED's log and the nodes' status calls as the helper records them from the load on.
  const log = (helper as unknown as { log(): { WARN: number; args: [{ level: number; id?: string; msg?: unknown }][] } }).log();
  const warnings = log.args.map(([m]) => m).filter((m) => m.level === log.WARN && (m.id === 'first' || m.id === 'second'));
  assert.deepEqual(
    warnings.map((m) => m.id),
    ['second'],
  );
  assert.equal(String(warnings[0].msg), 'upperstack-http-in.errors.another');
  const statuses = (n: unknown) => (first.status as unknown as Spy).getCalls().filter((c) => c.thisValue === n).map((c) => c.args[0] as Shown);
  // The request rate is shown every second: the first node's status stays red through a couple of those.
  await new Promise((r) => setTimeout(r, 2500));
  const shown = statuses(first);
  assert.deepEqual(shown.at(-1), { fill: 'red', shape: 'ring', text: 'upperstack-http-in.status.replaced' });
  assert.equal(statuses(second).at(-1)?.fill, 'green');
});

test('when the http in that took the routes is removed (a deploy of modified nodes), the one deployed before serves again and says so', async () => {
  const flows = [
    { id: 'tab1', type: 'tab', label: 'inputs' },
    { id: 'older', type: 'upperstack-http-in', z: 'tab1', configVersion: 2, wires: [['seen'], []] },
    { id: 'newer', type: 'upperstack-http-in', z: 'tab1', configVersion: 2, wires: [['seen'], []] },
    { id: 'seen', type: 'helper', z: 'tab1' },
  ];
  await helper.unload();
  await helper.load([httpIn], flows);
  const older = helper.getNode('older') as unknown as { status: Spied };
  const statuses = (n: unknown) => (older.status as unknown as Spy).getCalls().filter((c) => c.thisValue === n).map((c) => c.args[0] as Shown);
  // Node-RED's "modified nodes" deploy: only the removed node stops; the older one keeps running untouched.
  await (helper as unknown as { setFlows(f: unknown[], type: string): Promise<void> }).setFlows(flows.filter((n) => n.id !== 'newer'), 'nodes');
  assert.equal(helper.getNode('older'), older, 'the older node was not restarted');
  const got: unknown[] = [];
  (helper.getNode('seen') as unknown as { on(e: 'input', f: (m: { payload: unknown }) => void): void }).on('input', (m) => got.push(m.payload));
  const res = await fetch(`${(helper as unknown as { url(): string }).url()}/ingest/again1`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"t":1}' });
  assert.equal(res.status, 202, await res.text());
  for (let i = 0; i < 50 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
  assert.equal(got.length, 1, 'the older node took the request');
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(statuses(older).at(-1)?.fill, 'green', JSON.stringify(statuses(older)));
  const log = (helper as unknown as { log(): { args: [{ id?: string; msg?: unknown }][] } }).log();
  assert.ok(log.args.some(([m]) => m.id === 'older' && String(m.msg) === 'upperstack-http-in.log.servingAgain'));
});
