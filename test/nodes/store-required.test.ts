/**
 * The nodes that cannot work without a store (api, query, report, invoice),
 * deployed naming a store config node that is not there: each shows a red
 * status and logs an error in its own words, and the flow still deploys.
 */
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { NodeAPI } from 'node-red';
import helper from 'node-red-node-test-helper';
import { tempDir } from '../helpers/temp';
import { catalogTranslator } from '../helpers/node-red';

const TYPES = ['api', 'query', 'report', 'invoice'];

/* eslint-disable @typescript-eslint/no-require-imports */
const translate = catalogTranslator(TYPES);
const nodes = [...TYPES.map((n) => require(`../../nodes/${n}/${n}`)), (r: NodeAPI) => ((r as unknown as { _: typeof translate })._ = translate)];

helper.init(require.resolve('node-red'));

before(async () => {
  await helper.startServer();
});
after(async () => {
  await helper.stopServer();
});
afterEach(async () => {
  await helper.unload();
});

test('a store config node that is not deployed: a red status and an error naming it on each node', async () => {
  helper.settings({ upperstack: { dataDir: tempDir('us-store-required-') } });
  await helper.load(nodes, TYPES.map((n) => ({ id: n, type: `upperstack-${n}`, store: 'gone', configVersion: 1, wires: [[], []] })));
  const spy = (helper as unknown as { log(): { args: Array<[{ level: number; id?: string; msg: unknown }]>; ERROR: number } }).log();
  for (const n of TYPES) {
    const node = helper.getNode(n)!;
    assert.ok(node, `${n} is deployed`);
    const statuses = (node.status as unknown as { getCalls(): Array<{ thisValue: unknown; args: [{ fill?: string; text?: string }] }> })
      .getCalls()
      .filter((c) => c.thisValue === node)
      .map((c) => c.args[0]);
    assert.deepEqual(statuses.at(-1), { fill: 'red', shape: 'ring', text: 'no store configured: choose a store configuration' }, n);
    const errors = spy.args.map((a) => a[0]).filter((e) => e.level === spy.ERROR && e.id === n).map((e) => String(e.msg));
    assert.deepEqual(errors, ['no store configured: choose a store configuration'], n);
  }
});
