/**
 * upperstack-simulate with "register": next to a devices node that requires a
 * login of every client, the simulated devices are added to the registry
 * (tag simulated=true, audited) and log in to the real embedded broker with
 * their own secrets, so their readings are stored; without the option the
 * same fleet is turned away, and without a devices node the node says why.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import helper from 'node-red-node-test-helper';
import mqtt from 'mqtt';
import type { StoreConfigNode } from '../../nodes/store-config/options';
import { deployedDevices } from '../../nodes/shared/devices';
import { findBroker } from '../../nodes/shared/runtime';
import { simulateMigrations } from '../../nodes/simulate/options';
import { migrate } from '../../nodes/shared/config';
import { eventually } from '../helpers/runtime';
import { useTestRuntime } from '../helpers/node-red';
import { pipelineNodes, simulatePipeline } from '../helpers/simulate-flow';

/* eslint-disable-next-line @typescript-eslint/no-require-imports */
const nodes = [...pipelineNodes, require('../../nodes/devices/devices')];

helper.init(require.resolve('node-red'));

type Status = { fill?: string; text?: string };

const flow = (sim: Record<string, unknown>, withDevices = true) =>
  simulatePipeline({ devices: 3, rate: '5/s', plugRate: '5/s', mix: 'env:1', anomalies: 0, prefix: 'reg-', ...sim }, { devicesNode: withDevices });

/** The node's last status, as the editor shows it (the helper spies on status() of every node at once). */
const lastStatus = (id: string): Status => {
  const node = helper.getNode(id) as unknown as { status: { getCalls(): Array<{ thisValue: unknown; args: Status[] }> } };
  const own = node.status.getCalls().filter((c) => c.thisValue === node);
  return own[own.length - 1]?.args[0] ?? {};
};

describe('upperstack-simulate registering its devices', () => {
  useTestRuntime('us-sim-reg-');

  test('with "register", each device is registered and logs in as itself where every client must log in', async () => {
    await helper.load(nodes, flow({ register: true }));
    const cfg = helper.getNode('cfg') as unknown as StoreConfigNode;
    const ids = ['reg-1', 'reg-2', 'reg-3'];
    await eventually(async () => {
      const c = await Promise.all(ids.map(async (device) => (await cfg.store.readings({ device, limit: 100 })).readings.length));
      return c.every((n) => n >= 3) ? c : undefined;
    }, 30_000, 'readings of every registered device in the store');
    const registry = deployedDevices()!.registry;
    assert.deepEqual(
      registry.list().filter((d) => d.id.startsWith('reg-')).map((d) => [d.id, d.tags]),
      ids.map((id) => [id, { simulated: 'true' }]),
    );
    // The broker really asks for a login: a client without one is turned away.
    const port = findBroker('broker')!.addresses().tcp;
    await assert.rejects(mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, connectTimeout: 5000 }));
    const audit = deployedDevices()!.audit!.query({ actor: 'node:sim', limit: 100 });
    assert.deepEqual(
      audit.map((e) => [e.action, e.target, e.outcome]).sort(),
      ids.map((id) => ['device.add', id, 'ok']),
    );

    // Stopped and started again: the devices are there already, so they get new secrets and send again.
    const sim = helper.getNode('sim') as unknown as { receive(m: object): void };
    sim.receive({ payload: 'stop' });
    await eventually(async () => (/stopped/.test(lastStatus('sim').text ?? '') ? true : undefined), 10_000, 'stopped').catch((e) => { throw new Error(`${e.message}: ${JSON.stringify(lastStatus('sim'))}`); });
    const before = (await cfg.store.readings({ device: 'reg-1', limit: 10_000 })).readings.length;
    sim.receive({ payload: 'start' });
    await eventually(async () => ((await cfg.store.readings({ device: 'reg-1', limit: 10_000 })).readings.length > before + 2 ? true : undefined), 30_000, 'readings after the restart');
    const rotated = deployedDevices()!.audit!.query({ actor: 'node:sim', action: 'device.rotate', limit: 100 });
    assert.deepEqual(rotated.map((e) => e.target).sort(), ids);
  });

  test('without "register" the same fleet is turned away; without a devices node "register" says why', async () => {
    await helper.load(nodes, flow({ register: false, prefix: 'anon-' }));
    await eventually(async () => (lastStatus('sim').fill === 'red' ? true : undefined), 30_000, 'a red status').catch((e) => { throw new Error(`${e.message}: ${JSON.stringify(lastStatus('sim'))}`); });
    const cfg = helper.getNode('cfg') as unknown as StoreConfigNode;
    assert.equal((await cfg.store.readings({ device: 'anon-1', limit: 10 })).readings.length, 0);
    await helper.unload();

    await helper.load(nodes, flow({ register: true, prefix: 'none-' }, false));
    const status = await eventually(async () => (lastStatus('sim').fill === 'red' ? lastStatus('sim') : undefined), 30_000, 'a red status');
    assert.match(status.text ?? '', /upperstack-simulate\.errors\.noRegistry|no upperstack-devices node is deployed/);
  });
});

test('simulate v1 → v2 adds "register", off; v0 goes through both steps', () => {
  const v1 = { devices: 5, rate: '1/s', target: 'embedded', autoStart: true, configVersion: 1 };
  assert.deepEqual(migrate<Record<string, unknown>>(v1, simulateMigrations), { ...v1, register: false, maxBytes: 1048576, configVersion: 3 });
  assert.equal(migrate<{ register: boolean }>({ register: 'true', configVersion: 1 }, simulateMigrations).register, true);
  const v0 = migrate<{ register: boolean; devices: number; configVersion: number }>({ devices: '7' }, simulateMigrations);
  assert.deepEqual([v0.register, v0.devices, v0.configVersion], [false, 7, 3]);
});
