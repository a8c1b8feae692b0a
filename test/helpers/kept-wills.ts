/**
 * The wills an embedded broker keeps in its data folder, registries to judge them by, clients whose link drops,
 * and the cleanups run after each test, for the will tests.
 */
import { randomBytes } from 'node:crypto';
import { afterEach } from 'node:test';
import type mqtt from 'mqtt';
import { BrokerPersistence } from '../../nodes/lib/broker/persistence';
import { DeviceRegistry } from '../../nodes/lib/devices/registry';
import { MemoryBackend } from '../../nodes/lib/devices/types';
import { DeviceAuth } from '../../nodes/lib/security/device-auth';

/** The client ids of the wills a broker started again on `dir` (its data folder) would publish, sorted. */
export async function willsKeptIn(dir: string): Promise<string[]> {
  const restarted = new BrokerPersistence({ dir });
  await restarted.setup({ id: 'after-restart' } as Parameters<BrokerPersistence['setup']>[0]);
  try {
    const left: string[] = [];
    for await (const w of restarted.streamWill()) left.push(String((w as { clientId?: string }).clientId));
    return left.sort();
  } finally {
    await restarted.destroy();
  }
}

/** A registry in memory with these devices, its access rules, and each device's secret. */
export async function registryWith(ids: string[], opts: { requireAuth?: boolean } = {}): Promise<{ registry: DeviceRegistry; auth: DeviceAuth; secrets: Record<string, string> }> {
  const registry = new DeviceRegistry(new MemoryBackend(), { sealKey: randomBytes(32) });
  const auth = new DeviceAuth({ registry, requireAuth: opts.requireAuth });
  await auth.ready;
  const secrets: Record<string, string> = {};
  for (const id of ids) secrets[id] = (await registry.add({ id })).secret;
  return { registry, auth, secrets };
}

/** Resolves once the client's connection is closed. */
export const closed = (c: mqtt.MqttClient) => new Promise<void>((resolve) => c.once('close', () => resolve()));

/** The link drops (no DISCONNECT): the will is the broker's to publish. */
export async function dropLink(c: mqtt.MqttClient): Promise<void> {
  const gone = closed(c);
  c.stream.destroy();
  await gone;
}

/** A list to push cleanups on: after each test of the file that calls this, they run, the last pushed first. */
export function cleanupAfterEach(): Array<() => unknown> {
  const cleanup: Array<() => unknown> = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });
  return cleanup;
}
