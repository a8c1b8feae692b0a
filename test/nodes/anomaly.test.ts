/** The anomaly node in a Node-RED test runtime: outputs, batches, saved state and heartbeats. */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import helper from 'node-red-node-test-helper';
import { migrate } from '../../nodes/shared/config';
import { anomalyMigrations, engineOptionsOf, type AnomalyOptions } from '../../nodes/anomaly/options';
import { catalogTranslator, collect as tap, input, translating, until, useTestRuntime } from '../helpers/node-red';
import { anomalyFlow, steadyReading, T0 } from '../helpers/anomaly-flow';
import { WorkerEngineHost, type SavedEngineState } from '../../nodes/lib/anomaly/remote/host';
import { readStateFile, stateFileOf } from '../../nodes/lib/anomaly/state-file';

/* eslint-disable @typescript-eslint/no-require-imports */
const anomalyRegister = require('../../nodes/anomaly/anomaly');
// The helper initialises Node-RED's context module on every load() but never loads the stores of
// settings.contextStorage. Loaded as one more "node module" (called after that init and awaited
// before the flows start), this sets up the real `file` store (localfilesystem) in a temp folder.
const contextModule = require(join(dirname(require.resolve('@node-red/runtime')), 'nodes', 'context')) as { load(): Promise<void>; clean(c: unknown): Promise<void> };
const loadContextStores = () => contextModule.load();
// helper.unload() cleans every node's context (without waiting) before it closes the nodes, which races
// with the node saving its state on close. A real redeploy cleans only removed nodes; here nothing is
// removed (each test uses its own node id, so no state leaks between tests).
const realClean = contextModule.clean;
contextModule.clean = () => Promise.resolve();
const anomalyNode = [loadContextStores, anomalyRegister];

helper.init(require.resolve('node-red'));

const translated = translating(catalogTranslator(['anomaly']));

interface Verdict {
  score: number;
  isAnomaly: boolean;
  detector: string;
  expected: number;
  band: [number, number];
  reason: string;
}
interface Out {
  payload: { device: string; ts: number; fields: Record<string, number>; anomaly: Verdict | null; anomalies?: Record<string, Verdict | null> } & Array<{ anomaly: Verdict | null; fields: Record<string, number> }>;
  upperstack?: unknown;
  device?: string;
}

/** Normal readings with a little deterministic noise, one a minute. */
const normal = (i: number, device = 'dev1') => steadyReading(device, i);

function flow(id: string, extra: Record<string, unknown> = {}) {
  return anomalyFlow(id, { fields: '', units: 'temperature=°C, humidity=%', heartbeatInterval: '', advanced: '', configVersion: 1, ...extra });
}

const collect = (id: string) => tap<Out>(id);

describe('anomaly node', () => {
  // As settings.ts, with the file store writing through (no cache), so a new store sees what the old one wrote.
  const { dataDir: dir } = useTestRuntime('us-anomaly-', {
    settings: (d) => ({ contextStorage: { default: { module: 'memory' }, file: { module: 'localfilesystem', config: { dir: d, cache: false } } } }),
  });
  after(() => {
    contextModule.clean = realClean;
  });
  const stateFile = (id: string) => stateFileOf(dir, id);
  /** Where the file context store keeps the node's context (the flow in anomalyFlow is "tab"). */
  const contextFile = (id: string) => join(dir, 'context', 'tab', `${id}.json`);
  const contextState = (id: string): unknown => (existsSync(contextFile(id)) ? (JSON.parse(readFileSync(contextFile(id), 'utf8')) as { state?: unknown }).state : undefined);
  /** What a node's own warn() or status() is called with from now on (the helper stops spying on the log before it closes the nodes). */
  const calls = <T>(id: string, method: 'warn' | 'status'): T[] => {
    const node = helper.getNode(id) as unknown as Record<string, (arg: unknown) => void>;
    const seen: T[] = [];
    const original = node[method].bind(node);
    node[method] = (arg: unknown) => {
      seen.push(arg as T);
      original(arg);
    };
    return seen;
  };
  const warnings = (id: string) => {
    // The test helper's spy on the runtime's log (not in its types); level 30 is a warning.
    const log = (helper as unknown as { log(): { args: Array<[{ level: number; msg: unknown; id?: string }]> } }).log();
    return log.args.map((a) => a[0]).filter((e) => e.id === id && e.level === 30).map((e) => String(e.msg));
  };

  test('normal readings pass on output 1 only; the spike also leaves output 2, with a reason, without receipts', async () => {
    await helper.load(anomalyNode, flow('spike'));
    const out1 = collect('spike-out1');
    const out2 = collect('spike-out2');
    for (let i = 0; i < 40; i++) input('spike', { payload: normal(i) });
    const spike = { device: 'dev1', ts: T0 + 40 * 60_000, fields: { temperature: 45, humidity: 40 }, tags: {} };
    input('spike', { payload: spike, upperstack: { receipts: [{ j: 'nojournal', s: 1 }] } });
    await until(() => out1.length === 41);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(out2.length, 1, 'only the spike is on output 2');
    const alert = out2[0];
    assert.equal(alert.payload.fields.temperature, 45);
    assert.equal(alert.upperstack, undefined, 'the alert copy carries no journal receipts');
    assert.equal(alert.device, 'dev1');
    const v = alert.payload.anomaly!;
    assert.equal(v.isAnomaly, true);
    assert.equal(v.detector, 'zscore');
    assert.ok(v.score >= 0.5 && v.score <= 1);
    assert.equal(v.band.length, 2);
    assert.match(v.reason, /temperature 45(\.0)? °C/);
    assert.ok(alert.payload.anomalies?.temperature && 'humidity' in alert.payload.anomalies, 'all per-field verdicts');
    // Output 1 carries everything, the original keeps its receipts.
    assert.deepEqual(out1[40].upperstack, { receipts: [{ j: 'nojournal', s: 1 }] });
    assert.equal(out1[40].payload.anomaly?.isAnomaly, true);
    assert.equal(out1[0].payload.anomaly, null, 'warming up: no verdict yet');
    assert.equal(out1[39].payload.anomaly?.isAnomaly, false);
  });

  test('a batch stays one message on each output', async () => {
    await helper.load(anomalyNode, flow('batch'));
    const out1 = collect('batch-out1');
    const out2 = collect('batch-out2');
    const batch = Array.from({ length: 40 }, (_, i) => normal(i));
    batch.push({ device: 'dev1', ts: T0 + 40 * 60_000, fields: { temperature: 45, humidity: 40 }, tags: {} });
    input('batch', { payload: batch });
    await until(() => out1.length === 1 && out2.length === 1);
    assert.equal(out1[0].payload.length, 41);
    assert.ok(out1[0].payload.every((r) => 'anomaly' in r));
    assert.equal(out2[0].payload.length, 1);
    assert.equal(out2[0].payload[0].fields.temperature, 45);
    assert.equal(out2[0].payload[0].anomaly?.isAnomaly, true);
  });

  test('with output 1 unwired the readings given are left as they came; the flagged ones leave output 2 annotated, as with it wired', async () => {
    const batch = Array.from({ length: 40 }, (_, i) => normal(i));
    batch.push({ device: 'dev1', ts: T0 + 40 * 60_000, fields: { temperature: 45, humidity: 40 }, tags: {} });
    const given = structuredClone(batch);
    const flows = flow('unwired').map((n) => (n.id === 'unwired' ? { ...n, wires: [[], ['unwired-out2']] } : n));
    await helper.load(anomalyNode, flows);
    const out2 = collect('unwired-out2');
    input('unwired', { payload: given });
    await until(() => out2.length === 1);
    // The node only read them (other branches after a store may share these very objects).
    assert.deepEqual(given, batch);
    assert.equal(out2[0].payload.length, 1);
    const flagged = out2[0].payload[0] as Out['payload'][number] & { anomalies?: Record<string, Verdict | null> };
    assert.notEqual(flagged, given[40]);
    assert.equal(flagged.fields.temperature, 45);
    assert.equal(flagged.anomaly?.isAnomaly, true);
    assert.ok(flagged.anomalies?.temperature && 'humidity' in flagged.anomalies, 'all per-field verdicts');
  });

  // A redeploy is unload() (closes the node, which saves its state file) then load() with the same node id.
  test('learned state survives a redeploy: no new warm-up; it is saved in the data folder, not in context', async () => {
    // With the engine in its worker thread (the default) and on the main thread: both save alike.
    for (const [id, worker] of [['redeploy', true], ['redeploy-main', false]] as const) {
      await helper.load(anomalyNode, flow(id, { worker }));
      let out1 = collect(`${id}-out1`);
      for (let i = 0; i < 30; i++) input(id, { payload: normal(i) });
      await until(() => out1.length === 30);
      await helper.unload(); // closes the node, which saves its state
      const lines = readFileSync(stateFile(id), 'utf8').trimEnd().split('\n');
      const head = JSON.parse(lines[0]) as { format: string; devices: number; series: number };
      assert.equal(head.format, 'upperstack-anomaly-state');
      assert.deepEqual([head.devices, head.series, lines.length], [1, 2, 4], `${id}: a head line, one line for the device and one per series`);
      assert.equal(contextState(id), undefined, `${id}: nothing in the context store`);

      await helper.load(anomalyNode, flow(id, { worker }));
      out1 = collect(`${id}-out1`);
      const out2 = collect(`${id}-out2`);
      input(id, { payload: normal(30) });
      input(id, { payload: { device: 'dev1', ts: T0 + 31 * 60_000, fields: { temperature: 45, humidity: 40 }, tags: {} } });
      await until(() => out1.length === 2 && out2.length === 1);
      assert.equal((helper.getNode(id) as unknown as { anomalyHost: { mode: string } }).anomalyHost.mode, worker ? 'worker' : 'in-process');
      assert.notEqual(out1[0].payload.anomaly, null, `${id}: the first reading after the redeploy has a verdict`);
      assert.equal(out1[0].payload.anomaly?.isAnomaly, false);
      assert.equal(out2[0].payload.fields.temperature, 45);
      await helper.unload();
    }
  });

  test('state an earlier version saved in context (as text or as an object) is read, then moved to the state file', async () => {
    for (const [id, asObject] of [['astext', false], ['asobject', true]] as const) {
      await helper.load(anomalyNode, flow(id));
      let out1 = collect(`${id}-out1`);
      for (let i = 0; i < 30; i++) input(id, { payload: normal(i) });
      await until(() => out1.length === 30);
      await helper.unload();
      // What earlier versions left: no state file, the state in the file context store, as the worker's
      // JSON text or (before that) the state's objects, indented by the store.
      const state = readStateFile(stateFile(id))!.toJSON();
      rmSync(stateFile(id));
      mkdirSync(dirname(contextFile(id)), { recursive: true });
      writeFileSync(contextFile(id), asObject ? JSON.stringify({ state }, null, 4) : JSON.stringify({ state: JSON.stringify(state) }));

      const proto = WorkerEngineHost.prototype;
      const start = proto.start;
      const given: unknown[] = [];
      proto.start = function (this: WorkerEngineHost, saved?: SavedEngineState) {
        given.push(saved);
        return start.call(this, saved);
      };
      try {
        await helper.load(anomalyNode, flow(id));
        out1 = collect(`${id}-out1`);
        input(id, { payload: normal(30) });
        await until(() => out1.length === 1);
      } finally {
        proto.start = start;
      }
      assert.equal(typeof given[0], asObject ? 'object' : 'string', 'saved text goes to the engine as it is, not parsed on this thread');
      assert.notEqual(out1[0].payload.anomaly, null, `${id}: the first reading after the upgrade has a verdict`);
      await helper.unload();
      assert.equal(readStateFile(stateFile(id))?.stats().series, 2, `${id}: the state is in the state file now`);
      assert.equal(contextState(id), undefined, `${id}: and no longer in context`);
    }
  });

  test('saved state that cannot be used (torn context text, a broken state file) is reported and the node judges afresh, then saves whole', async () => {
    mkdirSync(dirname(contextFile('torn')), { recursive: true });
    writeFileSync(contextFile('torn'), JSON.stringify({ state: '{"version":1,"series":[' }));
    const lines = (n: number) => [JSON.stringify({ format: 'upperstack-anomaly-state', version: 1, options: {}, devices: 1, series: 2 }), JSON.stringify({ device: 'dev1', lastSeen: 0, lastTs: null, gaps: [], offline: false })].slice(0, n).join('\n');
    mkdirSync(dirname(stateFile('broken')), { recursive: true });
    writeFileSync(stateFile('broken'), lines(2)); // announces two series, holds none

    for (const id of ['torn', 'broken']) {
      await helper.load(anomalyNode, flow(id));
      const out1 = collect(`${id}-out1`);
      input(id, { payload: normal(31) });
      await until(() => out1.length === 1);
      assert.equal(out1[0].payload.anomaly, null, `${id}: a fresh engine, warming up`);
      assert.ok(
        warnings(id).some((m) => /errors\.restore|saved (anomaly )?state/i.test(m)),
        `${id}: a warning that the saved state could not be restored: ${JSON.stringify(warnings(id))}`,
      );
      await helper.unload();
      assert.equal(readStateFile(stateFile(id))?.stats().series, 2, `${id}: the node's own save replaced it`);
    }
  });

  test('a save that cannot be written is a warning naming the file, and leaves no part-written file', async () => {
    for (const [id, worker] of [['unsaved', true], ['unsaved-main', false]] as const) {
      // A folder where the state file goes: no file can be renamed over it.
      mkdirSync(join(stateFile(id), 'in-the-way'), { recursive: true });
      await helper.load([...anomalyNode, translated], flow(id, { worker }));
      const out1 = collect(`${id}-out1`);
      for (let i = 0; i < 3; i++) input(id, { payload: normal(i) });
      await until(() => out1.length === 3);
      const warned = calls<string>(id, 'warn');
      await helper.unload(); // closes the node, which saves its state
      const saveWarnings = warned.filter((m) => m.startsWith('could not save the anomaly state'));
      assert.equal(saveWarnings.length, 1, `${id}: ${JSON.stringify(warned)}`);
      assert.match(saveWarnings[0], new RegExp(`^could not save the anomaly state: cannot write .*${id}\\.jsonl: `));
      assert.ok(existsSync(join(stateFile(id), 'in-the-way')), `${id}: what was in the way is left alone`);
      const left = readdirSync(dirname(stateFile(id))).filter((f) => f.startsWith(`${id}.jsonl.`));
      assert.deepEqual(left, [], `${id}: the file written beside it is removed`);
    }
  });

  test('a periodic save that fails turns the status yellow, and the next look saves and clears it', async (t) => {
    // The node looks every 30 s: its interval timer is driven here (only setInterval is mocked).
    t.mock.timers.enable({ apis: ['setInterval'] });
    for (const [id, worker] of [['unsaved-later', true], ['unsaved-later-main', false]] as const) {
      const inTheWay = join(stateFile(id), 'in-the-way');
      mkdirSync(inTheWay, { recursive: true });
      await helper.load([...anomalyNode, translated], flow(id, { worker }));
      const statuses = calls<{ fill?: string; text?: string }>(id, 'status');
      const warned = calls<string>(id, 'warn');
      const out1 = collect(`${id}-out1`);
      for (let i = 0; i < 3; i++) input(id, { payload: normal(i) });
      await until(() => out1.length === 3);
      // Saves that ended, failed or not (the engine's host, as the node exposes it for diagnostics).
      const saves = { ended: 0 };
      const host = (helper.getNode(id) as unknown as { anomalyHost: { save(): Promise<unknown> } }).anomalyHost;
      const save = host.save.bind(host);
      host.save = () => save().finally(() => saves.ended++);
      const last = () => statuses[statuses.length - 1];
      t.mock.timers.tick(30_000);
      await until(() => last()?.text?.includes('learned state not saved') === true);
      assert.equal(last().fill, 'yellow', `${id}: yellow while the state is not saved`);
      assert.match(warned.find((m) => m.startsWith('could not save')) ?? '', new RegExp(`cannot write .*${id}\\.jsonl`));
      // Tried again at every look; the log hears the same reason once.
      t.mock.timers.tick(30_000);
      await until(() => saves.ended === 2);
      assert.equal(warned.filter((m) => m.startsWith('could not save')).length, 1, `${id}: one warning for the same reason: ${JSON.stringify(warned)}`);
      assert.equal(last().fill, 'yellow');
      rmSync(stateFile(id), { recursive: true });
      // No reading since: the failed save is tried again at the next look.
      t.mock.timers.tick(30_000);
      await until(() => existsSync(stateFile(id)) && last()?.text?.includes('not saved') === false);
      assert.equal(readStateFile(stateFile(id))?.stats().series, 2, `${id}: saved whole`);
      assert.notEqual(last().fill, 'yellow', `${id}: the status clears once a save succeeds`);
      await helper.unload();
    }
  });

  test('a node removed from the flows deletes its state file', async () => {
    await helper.load(anomalyNode, flow('removed'));
    const out1 = collect('removed-out1');
    for (let i = 0; i < 3; i++) input('removed', { payload: normal(i) });
    await until(() => out1.length === 3);
    await helper.unload();
    assert.ok(existsSync(stateFile('removed')));
    await helper.load(anomalyNode, flow('removed'));
    // What a deploy does with a node deleted from the flows.
    await (helper.getNode('removed') as unknown as { close(removed: boolean): Promise<void> }).close(true);
    assert.equal(existsSync(stateFile('removed')), false);
  });

  test('a silent device leaves output 2 as a heartbeat anomaly', async () => {
    await helper.load(anomalyNode, flow('silent', { heartbeatInterval: '100', heartbeatMissed: '2' }));
    const out2 = collect('silent-out2');
    for (let i = 0; i < 3; i++) input('silent', { payload: normal(i, 'pump-7') });
    await until(() => out2.length === 1, 'the heartbeat anomaly');
    const p = out2[0].payload as unknown as { device: string; ts: number; anomaly: Verdict };
    assert.equal(p.device, 'pump-7');
    assert.equal(p.anomaly.detector, 'heartbeat');
    assert.equal(p.anomaly.isAnomaly, true);
    assert.equal(p.anomaly.score, 1);
    assert.match(p.anomaly.reason, /pump-7 has sent nothing/);
  });

  // The engine's worker thread starts with the first message when there is nothing saved to watch
  // (an idle thread holds ~10 MB), and at once when there are devices: their silence must be reported
  // even if none of them ever sends again.
  test('the worker starts with the first message, or at once for saved devices that then stay silent', async () => {
    const workerOf = (id: string) => (helper.getNode(id) as unknown as { anomalyHost: { mode: string; worker: unknown } }).anomalyHost;
    const slow = { heartbeatInterval: '2000', heartbeatMissed: '2' };
    await helper.load(anomalyNode, flow('lazy', slow));
    let out1 = collect('lazy-out1');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(workerOf('lazy').mode, 'worker');
    assert.equal(workerOf('lazy').worker, null, 'no thread before the first message');
    for (let i = 0; i < 3; i++) input('lazy', { payload: normal(i, 'pump-9') });
    await until(() => out1.length === 3, 'the three readings judged');
    assert.notEqual(workerOf('lazy').worker, null);
    await helper.unload(); // saves pump-9, not yet overdue

    await helper.load(anomalyNode, flow('lazy', slow));
    out1 = collect('lazy-out1');
    const out2 = collect('lazy-out2');
    await until(() => out2.length === 1, 'the silent device reported');
    const p = out2[0].payload as unknown as { device: string; anomaly: Verdict };
    assert.equal(p.device, 'pump-9');
    assert.equal(p.anomaly.detector, 'heartbeat');
    assert.equal(out1.length, 0, 'reported with no new message');
  });

  test('a burst of anomalies draws the status a few times, not once per message, and it ends on the latest count', async () => {
    await helper.load([...anomalyNode, translated], flow('burst', { detector: 'limits', max: '50', warmup: '0' }));
    const node = helper.getNode('burst') as unknown as { status(s: { text?: string }): void };
    const texts: string[] = [];
    const status = node.status.bind(node);
    node.status = (s) => {
      texts.push(s.text ?? '');
      status(s);
    };
    const out2 = collect('burst-out2');
    const started = Date.now();
    const n = 300;
    for (let i = 0; i < n; i++) input('burst', { payload: { device: 'dev1', ts: T0 + i * 60_000, fields: { temperature: 60 }, tags: {} } });
    await until(() => out2.length === n, 'every anomaly on output 2');
    const busy = Date.now() - started;
    // Every message is an anomaly; the status is drawn at most every 500 ms plus the catch-up after the last.
    assert.ok(texts.length <= 2 + Math.ceil(busy / 500), `${texts.length} status updates for ${n} messages in ${busy} ms`);
    await until(() => texts.at(-1) === `watching 1 series, ${n} anomalies in the last hour`, 'the latest count in the status');
  });

  test('the dialog\'s per-device series cap: a device\'s fields beyond it are not judged', async () => {
    const limits = { detector: 'limits', max: '50', warmup: '0', units: '', configVersion: 4 };
    await helper.load(anomalyNode, [...flow('capped', { ...limits, maxSeriesPerDevice: '2' }), ...flow('uncapped', { ...limits, maxSeriesPerDevice: '100' })]);
    const capped = collect('capped-out1');
    const uncapped = collect('uncapped-out1');
    const reading = () => ({ device: 'dev1', ts: T0, fields: { a: 60, b: 60, c: 60 }, tags: {} });
    input('capped', { payload: reading() });
    input('uncapped', { payload: reading() });
    await until(() => capped.length === 1 && uncapped.length === 1);
    const judged = (o: Out) => Object.entries(o.payload.anomalies ?? {}).filter(([, v]) => v).map(([k]) => k);
    assert.deepEqual(judged(capped[0]), ['a', 'b']);
    assert.deepEqual(judged(uncapped[0]), ['a', 'b', 'c']);
  });

  test('options: a bad advanced config gives a clear error; v0 configs get defaults', () => {
    assert.throws(() => engineOptionsOf({ ...migrate<AnomalyOptions>({}, anomalyMigrations), advanced: '{"window": ' }), /advanced config is not valid JSON/);
    assert.throws(() => engineOptionsOf({ ...migrate<AnomalyOptions>({}, anomalyMigrations), detector: 'limits' }), /limits detector needs/);
    const v1 = migrate<AnomalyOptions>({ id: 'x', threshold: 0.7 }, anomalyMigrations);
    assert.equal(v1.configVersion, 4);
    assert.equal(v1.store, '', 'no store chosen for an old node');
    assert.equal(v1.detector, 'default');
    assert.equal(v1.threshold, '0.7');
    const o = engineOptionsOf({ ...v1, detector: 'zscore', advanced: '{"window": "1d"}', units: 'temperature=°C', heartbeatMissed: '0' });
    assert.deepEqual(o.detector, { type: 'zscore', robust: false, window: '1d' });
    assert.deepEqual(o.units, { temperature: '°C' });
    assert.equal(o.heartbeat, false);
    assert.deepEqual(engineOptionsOf({ ...v1, detector: 'novelty', advanced: '{"horizon": 10000}' }).detector, { type: 'novelty', horizon: 10000 });
    assert.equal(engineOptionsOf(v1).maxSeriesPerDevice, 100);
    assert.equal(engineOptionsOf({ ...v1, maxSeriesPerDevice: ' 3 ' }).maxSeriesPerDevice, 3);
    assert.equal(engineOptionsOf({ ...v1, maxSeriesPerDevice: '' }).maxSeriesPerDevice, undefined, 'blank: the engine default');
    assert.throws(() => engineOptionsOf({ ...v1, maxSeriesPerDevice: '0' }), /maxSeriesPerDevice must be a whole number of at least 1/);
  });
});
