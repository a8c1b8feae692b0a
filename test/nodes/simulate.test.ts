/**
 * upperstack-simulate in a Node-RED test runtime: simulated devices connect to
 * the real embedded broker over loopback MQTT and their readings end in a real
 * DuckDB file through the pipeline nodes; the other targets, the anomaly
 * output, start/stop messages and the editor's button.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NodeAPI } from 'node-red';
import helper from 'node-red-node-test-helper';
import { decode } from '../../nodes/lib/codec';
import { describeError, type UpperstackError } from '../../nodes/lib/errors';
import { statusOfError } from '../../nodes/lib/api/http-errors';
import type { StoreConfigNode } from '../../nodes/store-config/options';
import { eventually } from '../helpers/runtime';
import { nodeModulesFor as nodesFor, onFreePorts, readPack } from '../helpers/packs';
import { useTestRuntime } from '../helpers/node-red';
import { pipelineNodes, simulatePipeline } from '../helpers/simulate-flow';

const pipeline = [...pipelineNodes, (r: NodeAPI) => void (red = r)];
let red: NodeAPI | undefined;

helper.init(require.resolve('node-red'));

type Listener = NodeJS.EventEmitter & { status?: unknown };
interface Msg {
  payload: unknown;
  topic?: string;
  device?: string;
  contentType?: string;
}

const pipelineFlow = (sim: Record<string, unknown>) => simulatePipeline(sim, { taps: true });

describe('upperstack-simulate', () => {
  useTestRuntime('us-sim-');

  test('devices on the embedded broker: their readings go through the input, journal and store, and nothing is dead-lettered', async () => {
    await helper.load(pipeline, pipelineFlow({ devices: 6, rate: '5/s', plugRate: '5/s', anomalies: 0, codec: 'cbor' }));
    const dead: Msg[] = [];
    (helper.getNode('deadOut') as unknown as Listener).on('input', (m: Msg) => dead.push(m));
    const cfg = helper.getNode('cfg') as unknown as StoreConfigNode;
    const devices = ['sim-1', 'sim-2', 'sim-3', 'sim-4', 'sim-5', 'sim-6'];
    const counts = await eventually(async () => {
      const c = await Promise.all(devices.map(async (device) => (await cfg.store.readings({ device, limit: 100 })).readings.length));
      return c.every((n) => n >= 5) ? c : undefined;
    }, 30_000, 'five readings of every simulated device in the store');
    assert.equal(counts.length, 6);
    const page = await cfg.store.readings({ device: 'sim-1', limit: 1 });
    assert.equal(typeof page.readings[0].fields.temperature, 'number', 'sim-1 is an environment sensor');
    assert.deepEqual(dead, []);
  });

  test('target output: encoded messages leave output 1, injected anomalies output 2; "stop" stops it', async () => {
    await helper.load(pipeline, pipelineFlow({ target: 'output', devices: 4, rate: '20/s', plugRate: '20/s', anomalies: 100000, anomalyKinds: 'spike,shift', codec: 'msgpack', topic: 'site/{device}/up', prefix: 'lab-' }));
    const out: Msg[] = [];
    const truth: Msg[] = [];
    (helper.getNode('simOut') as unknown as Listener).on('input', (m: Msg) => out.push(m));
    (helper.getNode('truth') as unknown as Listener).on('input', (m: Msg) => truth.push(m));
    await eventually(async () => (out.length >= 20 && truth.length >= 1 ? true : undefined), 20_000, 'messages and an anomaly');
    const m = out[0];
    assert.match(m.topic ?? '', /^site\/lab-\d\/up$/);
    assert.equal(m.contentType, 'application/msgpack');
    const decoded = decode('msgpack', m.payload as Buffer) as { device: string; fields: Record<string, unknown> } | Array<{ device: string }>;
    const first = Array.isArray(decoded) ? decoded[0] : decoded;
    assert.equal(first.device, m.device);
    const a = truth[0].payload as { device: string; kind: string; field: string; from: number; magnitude: number };
    assert.match(a.kind, /^(spike|shift)$/);
    assert.match(a.device, /^lab-\d$/);
    assert.equal(typeof a.from, 'number');
    assert.ok(Math.abs(a.magnitude) > 0);

    const sim = helper.getNode('sim') as unknown as NodeJS.EventEmitter & { receive(m: object): void };
    // The stop drains what is in flight first (up to 2 s): its status says when it is over.
    const stopped = new Promise<void>((resolve) =>
      sim.on('call:status', (call: { args: Array<{ text?: string }> }) => {
        if (/status\.stopped|stopped:/.test(call.args[0]?.text ?? '')) resolve();
      }),
    );
    sim.receive({ payload: 'stop' });
    await stopped;
    // Messages already handed to Node-RED arrive on its next turns.
    await new Promise((r) => setTimeout(r, 300));
    const n = out.length;
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(out.length, n, 'nothing more after stop');
    sim.receive({ payload: 'start' });
    await eventually(async () => (out.length > n ? true : undefined), 30_000, 'messages again after start');
  });

  test('one simulated device: the status says "1 device", not "1 devices"; several say "devices"', async () => {
    const catalog = (JSON.parse(readFileSync(join(__dirname, '..', '..', 'nodes', 'simulate', 'locales', 'en-US', 'simulate.json'), 'utf8')) as Record<string, { status: Record<string, string> }>)['upperstack-simulate'].status;
    for (const key of ['runningOne', 'errorsOne', 'registeringOne']) assert.match(catalog[key], /\b1 device\b(?!s)/, key);
    for (const [devices, key] of [
      [1, 'upperstack-simulate.status.runningOne'],
      [3, 'upperstack-simulate.status.running'],
    ] as const) {
      await helper.load(pipeline, pipelineFlow({ target: 'output', devices, rate: '20/s', plugRate: '20/s', anomalies: 0 }));
      const sim = helper.getNode('sim') as unknown as NodeJS.EventEmitter;
      const texts: string[] = [];
      sim.on('call:status', (call: { args: Array<{ text?: string }> }) => texts.push(String(call.args[0]?.text ?? '')));
      // The test runtime answers RED._ with the key, which tells the form chosen.
      const running = await eventually(async () => texts.find((t) => t.startsWith('upperstack-simulate.status.running')), 20_000, `the running status of ${devices}`);
      assert.equal(running, key);
      await helper.unload();
    }
  });

  test('an unknown command ends in an error Catch nodes see; a bad setting leaves the node red with the reason', async () => {
    await helper.load(pipeline, pipelineFlow({ target: 'output', autoStart: false }));
    const sim = helper.getNode('sim') as unknown as NodeJS.EventEmitter & { receive(m: object): void };
    const errored = new Promise<unknown>((resolve) => sim.on('call:error', (call: { args: unknown[] }) => resolve(call.args[0])));
    sim.receive({ payload: 'jump' });
    const err = await errored;
    assert.match(String(err), /upperstack-simulate\.errors\.command|send "start" or "stop"/);
    // A bad message, not a bad setting: Catch nodes and msg.error tell them apart by the code.
    assert.deepEqual(describeError(err), { ...describeError(err), name: 'BadMessageError', code: 'BAD_MESSAGE', property: 'payload', allowed: ['start', 'stop'] });
    await helper.unload();

    await helper.load(pipeline, pipelineFlow({ target: 'output', rate: 'often' }));
    const bad = helper.getNode('sim') as unknown as NodeJS.EventEmitter & { receive(m: object): void };
    // Settings that cannot run refuse a start as settings (CONFIG_INVALID), an unknown command as a bad message.
    const refused = new Promise<unknown>((resolve) => bad.on('call:error', (call: { args: unknown[] }) => { if (describeError(call.args[0]).code === 'BAD_MESSAGE') resolve(call.args[0]); }));
    bad.receive({ payload: { go: true } });
    assert.equal(statusOfError((await refused) as UpperstackError), 400);
    const status = await new Promise<{ fill: string; text: string }>((resolve) => {
      const s = (bad as unknown as { status: { lastCall?: { args: Array<{ fill: string; text: string }> } } }).status;
      if (s.lastCall) resolve(s.lastCall.args[0]);
      else bad.on('call:status', (call: { args: Array<{ fill: string; text: string }> }) => resolve(call.args[0]));
    });
    assert.equal(status.fill, 'red');
    assert.match(status.text, /rate must look like 1\/s/);
  });

  test('a prefix or topic that cannot form a device topic turns the node red with the reason, as the CLI refuses it', async () => {
    type Spied = { error: { lastCall?: { args: unknown[] } }; status: { lastCall?: { args: Array<{ fill: string; text: string }> } } };
    // Ids under "site/" would land on devices/site/sim-1/telemetry, a topic the MQTT input never reads a device from.
    await helper.load(pipeline, pipelineFlow({ target: 'embedded', devices: 2, prefix: 'site/' }));
    const sim = helper.getNode('sim') as unknown as Spied;
    assert.match(String(sim.error.lastCall?.args[0]), /upperstack-simulate\.errors\.config|cannot start the simulation/);
    assert.equal(sim.status.lastCall?.args[0].fill, 'red');
    assert.match(sim.status.lastCall?.args[0].text ?? '', /prefix "site\/" cannot start a device id: ids hold only letters/);
    await helper.unload();

    await helper.load(pipeline, pipelineFlow({ target: 'output', devices: 2, topic: 'devices/+/{device}' }));
    const bad = helper.getNode('sim') as unknown as Spied;
    assert.equal(bad.status.lastCall?.args[0].fill, 'red');
    assert.match(bad.status.lastCall?.args[0].text ?? '', /topic "devices\/\+\/\{device\}" holds "\+": a device cannot publish to a topic with a wildcard/);
  });

  test('the editor button starts and stops a deployed simulation', async () => {
    await helper.load(pipeline, pipelineFlow({ target: 'output', autoStart: false, devices: 2, rate: '20/s', plugRate: '20/s' }));
    const out: Msg[] = [];
    (helper.getNode('simOut') as unknown as Listener).on('input', (m: Msg) => out.push(m));
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(out.length, 0, 'not started on deploy');
    const server = createServer(red!.httpAdmin as never);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const on = await fetch(`${url}/upperstack-simulate/sim/toggle`, { method: 'POST' });
      assert.equal(on.status, 200);
      assert.deepEqual(await on.json(), { running: true });
      await eventually(async () => (out.length > 0 ? true : undefined), 10_000, 'messages');
      const off = await fetch(`${url}/upperstack-simulate/sim/toggle`, { method: 'POST' });
      assert.deepEqual(await off.json(), { running: false });
      const missing = await fetch(`${url}/upperstack-simulate/nope/toggle`, { method: 'POST' });
      assert.equal(missing.status, 404);
      assert.equal(((await missing.json()) as { error: { code: string } }).error.code, 'NOT_DEPLOYED');
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
  test('deployed with settings that cannot run, a "start" message ends in the reason and the button answers 409 with it', async () => {
    await helper.load(pipeline, pipelineFlow({ target: 'output', autoStart: false, rate: 'often' }));
    const sim = helper.getNode('sim') as unknown as NodeJS.EventEmitter & { receive(m: object): void };
    // The error that ends the message comes with it (the deploy's log line does not).
    const errored = new Promise<unknown>((resolve) => sim.on('call:error', (call: { args: unknown[] }) => call.args[1] && resolve(call.args[0])));
    sim.receive({ payload: 'start' });
    const err = await errored;
    // The test runtime has no locale loaded: the reason reads as its message key there.
    assert.match(String(err), /upperstack-simulate\.errors\.config|cannot start the simulation/);
    // The lib's code for settings, so a catch node (and the button) can tell it from a failure.
    assert.equal((err as { code?: string }).code, 'CONFIG_INVALID');
    const server = createServer(red!.httpAdmin as never);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const res = await fetch(`${url}/upperstack-simulate/sim/toggle`, { method: 'POST' });
      assert.equal(res.status, 409);
      const body = (await res.json()) as { error: { code: string; message: string } };
      assert.equal(body.error.code, 'BAD_SETTINGS');
      assert.match(body.error.message, /upperstack-simulate\.errors\.config|cannot start the simulation/);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});

describe('the simulator pack', () => {
  useTestRuntime('us-simpack-');

  test('deployed next to the pipeline pack, its devices\' readings are stored and its anomalies leave output 2', async () => {
    const sim = readPack('simulator');
    const node = sim.find((n) => n.type === 'upperstack-simulate')!;
    // Many anomalies, so one shows within the test.
    Object.assign(node, { devices: 5, rate: '5/s', plugRate: '5/s', anomalies: 20000 });
    sim.push({ id: 'truthOut', type: 'helper', z: node.z as string });
    (node.wires as string[][])[1].push('truthOut');
    const flows = [...onFreePorts(readPack('pipeline')), ...sim];
    await helper.load(nodesFor(flows), flows);
    const truth: Msg[] = [];
    (helper.getNode('truthOut') as unknown as Listener).on('input', (m: Msg) => truth.push(m));
    const cfg = helper.getNode('us_store_cfg') as unknown as StoreConfigNode;
    // Generous waits: the whole pipeline pack starts in this process, and on a loaded machine its first
    // stored readings have taken over 30 s (the waits bound a hang; they measure nothing).
    // Counted over the fleet, not one device: when a dropout (2 to 15 minutes without a report) starts on a device
    // before it has sent three readings, that device alone would hold the wait until it times out.
    const stored = async () => {
      let n = 0;
      for (let i = 1; i <= 5; i++) n += (await cfg.store.readings({ device: `sim-${i}`, limit: 10 })).readings.length;
      return n;
    };
    await eventually(async () => ((await stored()) >= 3 ? true : undefined), 60_000, 'readings of the simulated devices stored');
    await eventually(async () => (truth.length > 0 ? true : undefined), 45_000, 'an injected anomaly');
    assert.match((truth[0].payload as { kind: string }).kind, /^(spike|shift|drift|stuck|dropout)$/);
  });
});
