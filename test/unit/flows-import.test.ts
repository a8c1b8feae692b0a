/** Planning `upperstack flows import` (nodes/lib/flows/import.ts): fresh ids, reuse by name, refusals. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ImportRefusedError, planImport, selectTab, stripCredentials } from '../../nodes/lib/flows/import';
import { parsePack, validatePack, type FlowNode } from '../../nodes/lib/flows/validate';
import { ConfigError } from '../../nodes/lib/errors';
import { knownTypes, startingFlows } from '../../scripts/flows';

const root = join(__dirname, '..', '..', '..');
const types = knownTypes();
const pipeline = parsePack(readFileSync(join(root, 'flows', 'pipeline.json'), 'utf8'));
const simulator = parsePack(readFileSync(join(root, 'flows', 'simulator.json'), 'utf8'));
const reportsInvoices = parsePack(readFileSync(join(root, 'flows', 'reports-invoices.json'), 'utf8'));

function refused(pack: FlowNode[], deployed: FlowNode[] = pipeline): string[] {
  try {
    planImport(pack, deployed, { knownTypes: types });
  } catch (err) {
    assert.ok(err instanceof ImportRefusedError);
    return err.problems.map((p) => `${p.node}: ${p.message}`);
  }
  assert.fail('the import was not refused');
}

test('a pack gets fresh ids, its wires follow them, and the deployed flows stay as they are', () => {
  const plan = planImport(simulator, pipeline, { knownTypes: types });
  assert.equal(plan.flows.length, pipeline.length + simulator.length);
  assert.deepEqual(plan.flows.slice(0, pipeline.length), pipeline);
  assert.deepEqual(plan.tabs, ['Simulator']);
  const ids = new Set(plan.added.map((n) => n.id));
  for (const n of simulator) assert.ok(!ids.has(n.id), `${n.id} got a new id`);
  const sim = plan.added.find((n) => n.type === 'upperstack-simulate')!;
  const tab = plan.added.find((n) => n.type === 'tab')!;
  assert.equal(sim.z, tab.id);
  assert.ok(ids.has((sim.wires as string[][])[1][0]));
  // Twice is fine: each import is a new tab.
  const again = planImport(simulator, plan.flows, { knownTypes: types });
  assert.equal(again.added.length, simulator.length);
});

test('config nodes of the same type and name are reused, with every reference pointed at the deployed one', () => {
  const pack: FlowNode[] = [
    { id: 't', type: 'tab', label: 'x' },
    { id: 'cfg', type: 'upperstack-store-config', name: 'embedded DuckDB', sinks: [{ id: 'main', kind: 'duckdb', path: '' }] },
    { id: 'q', type: 'upperstack-query', z: 't', store: 'cfg', wires: [[]] },
  ];
  const plan = planImport(pack, pipeline, { knownTypes: types });
  assert.deepEqual(plan.reused, [{ type: 'upperstack-store-config', name: 'embedded DuckDB', id: 'us_store_cfg' }]);
  assert.equal(plan.added.length, 2);
  assert.equal(plan.added.find((n) => n.type === 'upperstack-query')!.store, 'us_store_cfg');
});

test('refused: a second DuckDB store on the same file, a second broker or CoAP input on the port, a second http-in / api / alert node, a dashboard path or HTTP route taken', () => {
  const said = refused([
    { id: 't', type: 'tab', label: 'x' },
    { id: 'db2', type: 'upperstack-store-config', name: 'other', sinks: [{ id: 'main', kind: 'duckdb', path: '' }] },
    { id: 'b2', type: 'upperstack-broker', z: 't', port: '${UPPERSTACK_MQTT_PORT}', wires: [[]] },
    { id: 'c2', type: 'upperstack-coap-in', z: 't', port: '${UPPERSTACK_COAP_PORT}', wires: [[], []] },
    { id: 'h2', type: 'upperstack-http-in', z: 't', wires: [[], []] },
    { id: 'a2', type: 'upperstack-api', z: 't', store: 'db2' },
    { id: 'al2', type: 'upperstack-alert', z: 't', wires: [[], []] },
    { id: 'ui2', type: 'ui-base', name: 'mine', path: '/dashboard' },
  ]);
  assert.ok(said.some((s) => /^db2: a second store on the DuckDB file <data>\/upperstack.duckdb/.test(s)), said.join('\n'));
  assert.ok(said.some((s) => /^b2: a second embedded broker on port 1883 \(\$\{UPPERSTACK_MQTT_PORT\}\)/.test(s)), said.join('\n'));
  assert.ok(said.some((s) => /^c2: a second CoAP input on port/.test(s)));
  assert.ok(said.some((s) => /^h2: a second upperstack-http-in node/.test(s)));
  assert.ok(said.some((s) => /^a2: a second upperstack-api node/.test(s)));
  assert.ok(said.some((s) => /^al2: a second upperstack-alert node/.test(s)));
  assert.ok(said.some((s) => /^ui2: a second Dashboard 2 base at \/dashboard/.test(s)));
  const routes = refused([{ id: 'h', type: 'http in', z: 'tt', method: 'get', url: '/hello', wires: [[]] }, { id: 'tt', type: 'tab' }], [...pipeline, { id: 'old', type: 'http in', z: 'us_tab_pipeline', method: 'get', url: '/hello', wires: [[]] }]);
  assert.deepEqual(routes, ['h: the HTTP route GET /hello is served by a deployed http in node already']);
});

test('not refused: a store on another DuckDB file, a broker on another port, anything next to disabled nodes', () => {
  const plan = planImport(
    [
      { id: 't', type: 'tab', label: 'x' },
      { id: 'db2', type: 'upperstack-store-config', name: 'archive', sinks: [{ id: 'main', kind: 'duckdb', path: '/srv/archive.duckdb' }] },
      { id: 'b2', type: 'upperstack-broker', z: 't', port: '1999', wires: [[]] },
      { id: 's', type: 'upperstack-store', z: 't', store: 'db2', wires: [[]] },
      { id: 'al', type: 'upperstack-alert', z: 't', wires: [[], []] },
    ],
    pipeline.map((n) => (n.type === 'upperstack-alert' ? { ...n, d: true } : n)),
    { knownTypes: types },
  );
  assert.equal(plan.added.length, 5);
});

test('refused: unknown types and references that resolve neither in the pack nor deployed; a link to a deployed node is fine', () => {
  const said = refused([
    { id: 't', type: 'tab' },
    { id: 'n', type: 'lamp', z: 't', wires: [['ghost']] },
    { id: 'l', type: 'link out', z: 't', links: ['us_dash_readings'], wires: [] },
  ]);
  assert.deepEqual(said.sort(), ['n: unknown node type "lamp": install the module that provides it', 'n: wires names ghost, which is neither in the pack nor deployed']);
});

test('nodes exported without a tab go on a new tab; export helpers strip credentials and pick one tab with its config nodes', () => {
  const plan = planImport([{ id: 'i', type: 'inject', z: 'elsewhere', wires: [['d']] }, { id: 'd', type: 'debug', wires: [] }].map((n) => (n.id === 'i' ? { ...n, z: undefined } : n)) as FlowNode[], pipeline, { knownTypes: types });
  assert.deepEqual(plan.tabs, ['Imported']);
  assert.ok(plan.added.filter((n) => n.type !== 'tab').every((n) => n.z === plan.added[0].id));
  assert.deepEqual(stripCredentials([{ id: 'a', type: 'x', credentials: { password: 'p' } }]), [{ id: 'a', type: 'x' }]);
  const tab = selectTab(pipeline, 'Dashboard');
  assert.ok(tab.some((n) => n.id === 'us_store_cfg'), 'the stats node\'s store config comes along');
  assert.ok(tab.some((n) => n.type === 'ui-base') && tab.some((n) => n.type === 'ui-theme'), 'the dashboard\'s config nodes, through its groups and page');
  assert.ok(!tab.some((n) => n.z === 'us_tab_pipeline'));
  assert.throws(() => selectTab(pipeline, 'nope'), /no tab "nope"; the tabs are: "Upperstack pipeline", "Dashboard"/);
});

test('a first start with UPPERSTACK_PACKS: the default pack plus the named packs beside it, on its store; an unknown name is refused', () => {
  assert.deepEqual(startingFlows(root, undefined), pipeline);
  const flows = startingFlows(root, 'alerts, reports-invoices');
  const tabs = flows.filter((n) => n.type === 'tab').map((n) => n.label);
  assert.deepEqual(tabs, [...pipeline.filter((n) => n.type === 'tab').map((n) => n.label), 'Alert routing', 'Reports and invoices']);
  assert.equal(flows.filter((n) => n.type === 'upperstack-store-config').length, 1, 'the report pack writes to the default store');
  assert.equal(flows.filter((n) => n.type === 'ui-base').length, 1, 'the alert pack uses the default dashboard');
  assert.deepEqual(validatePack(flows, { knownTypes: types }), []);
  assert.throws(() => startingFlows(root, 'alerts,nope'), /UPPERSTACK_PACKS names "nope", which is not a pack to add \(.*alerts.*\)/);
  assert.throws(() => startingFlows(root, 'pipeline'), /not a pack to add/);
  // The packs that run instead of the default one are not offered as packs to add.
  assert.throws(() => startingFlows(root, 'nope'), (err: Error) => err instanceof ConfigError && /\(alerts, influx-grafana, reports-invoices, simulator\)$/.test(err.message));
});

test('UPPERSTACK_PACKS naming a pack that runs instead of the default one is a ConfigError saying to copy it as the flows file', () => {
  for (const name of ['http-gateway', 'coap-devices', 'data-market']) {
    assert.throws(() => startingFlows(root, name, '/data/flows.json'), (err: Error) => {
      assert.ok(err instanceof ConfigError, `${name}: ${err.name}`);
      assert.equal(err.message, `UPPERSTACK_PACKS names "${name}", a pack that runs instead of the default one, not beside it (its ${name === 'http-gateway' ? 'upperstack-http-in' : name === 'coap-devices' ? 'upperstack-coap-in' : 'upperstack-broker'}, upperstack-api would be second ones): to start with it, unset UPPERSTACK_PACKS and copy ${join(root, 'flows', `${name}.json`)} to /data/flows.json before the first start`);
      return true;
    });
  }
});

test('refusals name the port a ${ENV} property runs with (the environment, else the node\'s default), and the imported flow keeps the reference', () => {
  const coap = (port: string): FlowNode[] => [
    { id: 't', type: 'tab', label: 'x' },
    { id: 'c2', type: 'upperstack-coap-in', z: 't', port, wires: [[], []] },
  ];
  const said = (pack: FlowNode[], env: Record<string, string>) => {
    try {
      planImport(pack, pipeline, { knownTypes: types, env });
    } catch (err) {
      assert.ok(err instanceof ImportRefusedError);
      return err.problems.map((p) => `${p.node}: ${p.message}`);
    }
    return [];
  };
  assert.deepEqual(said(coap('${UPPERSTACK_COAP_PORT}'), {}), ['c2: a second CoAP input on port 5683 (${UPPERSTACK_COAP_PORT}), which the deployed one listens on']);
  assert.deepEqual(said(coap('${UPPERSTACK_COAP_PORT}'), { UPPERSTACK_COAP_PORT: '5999' }), ['c2: a second CoAP input on port 5999 (${UPPERSTACK_COAP_PORT}), which the deployed one listens on']);
  // The number the deployed placeholder stands for clashes too; another one does not.
  assert.deepEqual(said(coap('5999'), { UPPERSTACK_COAP_PORT: '5999' }), ['c2: a second CoAP input on port 5999, which the deployed one listens on']);
  assert.deepEqual(said(coap('5700'), { UPPERSTACK_COAP_PORT: '5999' }), []);
  // A tab's own environment comes first, as in Node-RED.
  const onTab = coap('${UPPERSTACK_COAP_PORT}');
  onTab[0].env = [{ name: 'UPPERSTACK_COAP_PORT', value: '5700', type: 'str' }];
  assert.deepEqual(said(onTab, { UPPERSTACK_COAP_PORT: '5999' }), []);
  const plan = planImport(coap('${UPPERSTACK_COAP_PORT}'), pipeline.filter((n) => n.type !== 'upperstack-coap-in'), { knownTypes: types, env: { UPPERSTACK_COAP_PORT: '5999' } });
  assert.equal(plan.added.find((n) => n.type === 'upperstack-coap-in')!.port, '${UPPERSTACK_COAP_PORT}');
});

test('refused: the reports-invoices pack imported a second time (a second invoice node of the series INV); another series is fine', () => {
  const once = planImport(reportsInvoices, pipeline, { knownTypes: types });
  assert.deepEqual(refused(reportsInvoices, once.flows), [
    'us_rep_invoice: a second invoice node of the series INV, which the deployed one ("monthly invoices") numbers: both would bill the same customers and months from one gap-free series. Give the pack\'s invoice node a series of its own, or keep the deployed one',
  ]);
  const own = reportsInvoices.map((n) => (n.type === 'upperstack-invoice' ? { ...n, series: 'INV2' } : n));
  assert.equal(planImport(own, once.flows, { knownTypes: types }).added.filter((n) => n.type === 'upperstack-invoice').length, 1);
});

