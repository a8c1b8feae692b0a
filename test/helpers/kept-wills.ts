/** The wills an embedded broker keeps in its data folder, and registries to judge them by, for the will tests. */
import { randomBytes } from 'node:crypto';
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
