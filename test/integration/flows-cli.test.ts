/**
 * `upperstack flows import` and `flows export` against the real runtime (npm
 * start's settings, editor login): a pack lands on a new tab with fresh ids and
 * runs; config nodes of the same name are reused; a pack that would break the
 * deployed flows is refused with the reason and nothing changes; the login
 * comes from the environment, never the command line; export strips credentials.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AdminClient } from '../../scripts/flows';
import type { FlowNode } from '../../nodes/lib/flows/validate';
import { startRuntime, type Runtime } from '../helpers/runtime';
import { readBack } from '../helpers/read-back';
import { tempDir } from '../helpers/temp';

const ROOT = join(__dirname, '..', '..', '..');
const CLI = join(__dirname, '..', '..', 'scripts', 'cli.js');
const PASSWORD = 'test-admin-password';

let rt: Runtime;
let admin: AdminClient;
const dir = tempDir('us-flows-cli-');

function cli(args: string[], env: Record<string, string | undefined> = { UPPERSTACK_PASSWORD: PASSWORD }): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const e = { ...process.env, ...env };
    for (const [k, v] of Object.entries(env)) if (v === undefined) delete e[k];
    const p = spawn(process.execPath, [CLI, 'flows', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: e });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

function pack(name: string, nodes: unknown[]): string {
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(nodes));
  return file;
}

before(async () => {
  rt = await startRuntime();
  admin = await AdminClient.connect(rt.url, 'admin', async () => PASSWORD);
});
after(async () => {
  await rt?.stop();
});

test('the login comes from UPPERSTACK_PASSWORD; a wrong one or none at all is a clear error (exit 2)', async () => {
  const wrong = await cli(['export', '--url', rt.url], { UPPERSTACK_PASSWORD: 'not-it' });
  assert.equal(wrong.code, 2);
  assert.match(wrong.stderr, /did not accept the login of "admin" \(HTTP 401\): wrong user name or password/);
  const none = await cli(['export', '--url', rt.url], { UPPERSTACK_PASSWORD: undefined });
  assert.equal(none.code, 2);
  assert.match(none.stderr, /set UPPERSTACK_PASSWORD/);
  // Without --url: $UPPERSTACK_URL, as devices and keys do.
  const noUrl = await cli(['export'], { UPPERSTACK_PASSWORD: PASSWORD, UPPERSTACK_URL: rt.url });
  assert.equal(noUrl.code, 0, noUrl.stderr);
  assert.ok((JSON.parse(noUrl.stdout) as FlowNode[]).some((n) => n.type === 'tab'));
});

test('import adds the simulator pack on a new tab with fresh ids, and its devices\' readings reach the deployed store', { timeout: 120_000 }, async () => {
  const before = await admin.flows();
  const dry = await cli(['import', join(ROOT, 'flows', 'simulator.json'), '--url', rt.url, '--dry-run']);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /would add 6 nodes on a new tab \("Simulator"\)/);
  assert.equal((await admin.flows()).rev, before.rev, 'a dry run deploys nothing');

  const r = await cli(['import', join(ROOT, 'flows', 'simulator.json'), '--url', rt.url]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /simulator\.json imported: 6 nodes on a new tab \("Simulator"\)/);
  const now = await admin.flows();
  assert.equal(now.flows.length, before.flows.length + 6, 'the deployed flows are all still there');
  for (const n of before.flows) assert.ok(now.flows.some((m) => m.id === n.id), `${n.id} kept`);
  const tab = now.flows.find((n) => n.type === 'tab' && n.label === 'Simulator')!;
  const sim = now.flows.find((n) => n.type === 'upperstack-simulate')!;
  assert.equal(sim.z, tab.id);
  assert.notEqual(sim.id, 'us_sim', 'fresh ids');
  assert.deepEqual((sim.wires as string[][])[1].map((id) => now.flows.find((n) => n.id === id)?.type), ['debug'], 'wires follow the new ids');
  // The pack runs: its simulated devices publish to the deployed broker and reach the store.
  await readBack(rt, ['sim-01'], { atLeast: 1 }, 'sim-01 readings in the store', { limit: 5, ms: 60_000 });
});

test('import names the variables the influx-grafana pack needs that are unset, on stderr; the exit status stays 0', async () => {
  const file = join(ROOT, 'flows', 'influx-grafana.json');
  const unset = await cli(['import', file, '--url', rt.url, '--dry-run'], { UPPERSTACK_PASSWORD: PASSWORD, UPPERSTACK_MQTT_URL: undefined, UPPERSTACK_INFLUX_URL: undefined });
  assert.equal(unset.code, 0, unset.stderr);
  assert.match(unset.stdout, /influx-grafana\.json would add/);
  assert.match(unset.stderr, /warning: influx-grafana\.json needs environment variables not set here/);
  assert.match(unset.stderr, /UPPERSTACK_MQTT_URL: the external broker/);
  assert.match(unset.stderr, /UPPERSTACK_INFLUX_URL: the InfluxDB/);
  const set = await cli(['import', file, '--url', rt.url, '--dry-run'], { UPPERSTACK_PASSWORD: PASSWORD, UPPERSTACK_MQTT_URL: 'mqtt://127.0.0.1:1883', UPPERSTACK_INFLUX_URL: 'http://127.0.0.1:8086' });
  assert.equal(set.code, 0, set.stderr);
  assert.doesNotMatch(set.stderr, /warning/);
});

test('import of the alerts pack without UPPERSTACK_API_KEY here warns of nothing: npm start sets the key itself, so it is named for a Node-RED of your own only', async () => {
  const r = await cli(['import', join(ROOT, 'flows', 'alerts.json'), '--url', rt.url, '--dry-run'], { UPPERSTACK_PASSWORD: PASSWORD, UPPERSTACK_API_KEY: undefined });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /alerts\.json would add/);
  assert.doesNotMatch(r.stderr, /warning/);
  assert.match(r.stderr, /note: alerts\.json needs a variable not set here that npm start sets in its runtime itself; only a Node-RED of your own needs it in its environment:\n {2}UPPERSTACK_API_KEY: /);
});

test('config nodes of the same type and name are reused: a pack\'s "embedded DuckDB" is the deployed store, no second one', async () => {
  const file = pack('query', [
    { id: 't1', type: 'tab', label: 'Query pack' },
    { id: 'c1', type: 'upperstack-store-config', name: 'embedded DuckDB', sinks: [{ id: 'main', kind: 'duckdb', path: '', memoryLimit: 128 }], batchSize: 1000, flushMs: 100, configVersion: 3 },
    { id: 'q1', type: 'upperstack-query', z: 't1', name: 'latest', store: 'c1', configVersion: 1, wires: [[]] },
  ]);
  const r = await cli(['import', file, '--url', rt.url]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /reusing upperstack-store-config "embedded DuckDB"/);
  const { flows } = await admin.flows();
  const stores = flows.filter((n) => n.type === 'upperstack-store-config');
  assert.equal(stores.length, 1);
  assert.equal(flows.find((n) => n.type === 'upperstack-query' && n.name === 'latest')!.store, stores[0].id);
});

test('a pack that would break the deployed flows is refused with the reason, and nothing is deployed', async () => {
  const file = pack('clash', [
    { id: 't1', type: 'tab', label: 'Clash' },
    { id: 'c2', type: 'upperstack-store-config', name: 'my DuckDB', sinks: [{ id: 'main', kind: 'duckdb', path: '', memoryLimit: 64 }], configVersion: 3 },
    { id: 'b2', type: 'upperstack-broker', z: 't1', name: 'another broker', port: '${UPPERSTACK_MQTT_PORT}', bind: '127.0.0.1', configVersion: 1, wires: [[]] },
    { id: 's2', type: 'upperstack-store', z: 't1', store: 'c2', configVersion: 1, wires: [['gone']] },
    { id: 'x2', type: 'lamp-controller', z: 't1', wires: [] },
  ]);
  const before = await admin.flows();
  // The command runs in the runtime's environment: the port it names is the one the runtime resolves.
  const r = await cli(['import', file, '--url', rt.url], { UPPERSTACK_PASSWORD: PASSWORD, UPPERSTACK_MQTT_PORT: String(rt.mqttPort) });
  assert.equal(r.code, 1);
  assert.match(r.stdout, /clash\.json was not imported; the deployed flows are unchanged/);
  assert.match(r.stdout, /node c2 \(upperstack-store-config\): a second store on the DuckDB file <data>\/upperstack\.duckdb.*"embedded DuckDB"/);
  assert.match(r.stdout, new RegExp(`node b2 \\(upperstack-broker\\): a second embedded broker on port ${rt.mqttPort} \\(\\$\\{UPPERSTACK_MQTT_PORT\\}\\), which the deployed one listens on`));
  assert.match(r.stdout, /node s2 \(upperstack-store\) wires: wires names gone, which is neither in the pack nor deployed/);
  assert.match(r.stdout, /node x2 \(lamp-controller\): unknown node type "lamp-controller"/);
  assert.equal((await admin.flows()).rev, before.rev);
});

test('export prints the deployed flows without credentials; --tab keeps one tab and the config nodes it uses', async () => {
  const all = await cli(['export', '--url', rt.url]);
  assert.equal(all.code, 0, all.stderr);
  const flows = JSON.parse(all.stdout) as FlowNode[];
  assert.ok(flows.some((n) => n.type === 'tab' && n.label === 'Upperstack pipeline'));
  assert.ok(flows.every((n) => !('credentials' in n)));
  const out = join(dir, 'query-tab.json');
  const one = await cli(['export', '--url', rt.url, '--tab', 'Query pack', '--out', out]);
  assert.equal(one.code, 0, one.stderr);
  const tab = JSON.parse(readFileSync(out, 'utf8')) as FlowNode[];
  assert.deepEqual(tab.map((n) => n.type).sort(), ['tab', 'upperstack-query', 'upperstack-store-config']);
  const missing = await cli(['export', '--url', rt.url, '--tab', 'Nope']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /no tab "Nope"; the tabs are: .*"Upperstack pipeline"/);
  // A file stands where --out's folder would be: one line naming it, not a stack trace.
  writeFileSync(join(dir, 'a-file'), '');
  const blocked = await cli(['export', '--url', rt.url, '--out', join(dir, 'a-file', 'flows.json')]);
  assert.equal(blocked.code, 2, blocked.stderr);
  assert.equal(blocked.stderr.trim().split('\n').length, 1, blocked.stderr);
  assert.match(blocked.stderr, /^upperstack flows: --out .*a-file\/flows\.json cannot be written: ENOTDIR/);
});
