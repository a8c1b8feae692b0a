/**
 * Wills restored from the data folder are never published unchecked by aedes' own will timer (every four
 * heartbeats, 4 min by default; 100 ms here): while the device registry has not loaded to judge them they are held
 * (logged once) and kept in the data folder for the next start; once it loads they are judged, and the timer
 * publishes only those that still hold.
 */
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { EmbeddedMqttBroker } from '../../nodes/lib/broker/embedded';
import { BrokerPersistence } from '../../nodes/lib/broker/persistence';
import { DeviceRegistry } from '../../nodes/lib/devices/registry';
import { MemoryBackend } from '../../nodes/lib/devices/types';
import { DeviceAuth } from '../../nodes/lib/security/device-auth';
import { willsKeptIn } from '../helpers/kept-wills';
import { until } from '../helpers/mqtt5-kit';
import { tempDir } from '../helpers/temp';

/** A data folder holding, as an earlier run of the broker left them, the wills of these devices' logins. */
async function keptBy(devices: string[]): Promise<string> {
  const dir = tempDir('us-heldwills-');
  const earlier = new BrokerPersistence({ dir });
  await earlier.setup({ id: 'earlier-broker' } as Parameters<BrokerPersistence['setup']>[0]);
  for (const d of devices) {
    await earlier.putWill({ id: `c-${d}` }, { topic: `devices/${d}/status`, payload: Buffer.from('offline'), qos: 1, retain: false, login: `device:${d}` } as Parameters<BrokerPersistence['putWill']>[1]);
  }
  await earlier.destroy();
  return dir;
}

/** Access rules over a registry of these devices that loads only once `load()` is called (never, unless it is). */
async function loadingLate(ids: string[]): Promise<{ auth: DeviceAuth; load(): void }> {
  const backend = new MemoryBackend();
  const filled = new DeviceRegistry(backend, { sealKey: randomBytes(32) });
  await filled.open();
  for (const id of ids) await filled.add({ id });
  let load!: () => void;
  const loaded = new Promise<void>((resolve) => (load = resolve));
  const read = backend.load.bind(backend);
  backend.load = () => loaded.then(read);
  return { auth: new DeviceAuth({ registry: new DeviceRegistry(backend, { sealKey: randomBytes(32) }) }), load };
}

let cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f();
  cleanup = [];
});

async function started(dir: string, auth: DeviceAuth) {
  const refused: string[] = [];
  const held: number[] = [];
  const seen: string[] = [];
  const broker = new EmbeddedMqttBroker(
    { port: 0, bind: '127.0.0.1', auth, dataDir: dir, heartbeatIntervalMs: 25 },
    { onRefused: (id, what) => refused.push(`${id} ${what}`), onWillsHeld: (n) => held.push(n) },
  );
  broker.subscribe('devices/+/status', (p, ack) => {
    seen.push(p.topic);
    ack();
  });
  await broker.start();
  // The deploy that started the broker is over: judged once the registry has loaded.
  void broker.judgeWills();
  return { broker, refused, held, seen };
}

describe('restored wills and aedes will timer', () => {
  test('a registry that never loads: the will timer publishes no restored will; they stay in the data folder', async () => {
    const dir = await keptBy(['gone']);
    const { auth } = await loadingLate([]);
    const { broker, held, seen } = await started(dir, auth);
    try {
      await until(() => held.length > 0 || seen.length > 0 || undefined, 'the will timer to run');
      assert.deepEqual(seen, [], 'no will published unchecked');
      assert.deepEqual(held, [1], 'held, and said once');
    } finally {
      await broker.stop();
    }
    assert.deepEqual(await willsKeptIn(dir), ['c-gone'], 'kept for the next start to judge');
  });

  test('a registry that loads after the will timer ran: judged then, and only the wills that hold are published', async () => {
    const dir = await keptBy(['gone', 'kept']);
    const late = await loadingLate(['kept']);
    const { broker, held, seen, refused } = await started(dir, late.auth);
    cleanup.push(() => broker.stop());
    await until(() => held.length > 0 || seen.length > 0 || undefined, 'the will timer to run');
    assert.deepEqual(seen, []);
    late.load();
    await until(() => seen.length > 0 || undefined, 'the kept will published by the timer');
    assert.deepEqual(refused, ['c-gone will'], 'the removed device its will dropped');
    assert.deepEqual(seen, ['devices/kept/status']);
  });
});
